// The publisher's resume point against another log and another broker (issue 18), with real
// processes over loopback (3 replica processes, the publisher process, the embedded broker in
// this process so it can be replaced on the same port):
//   1. a wiped exchange publishing into a kept broker: exchange A's log is published; the
//      replicas' data is deleted and a new exchange B starts from the same cluster file with a
//      shorter log, and later with a longer one than A's published index. A publisher against
//      the kept broker must not skip B's first entries: it refuses (error logged, state
//      'refused', /readyz 503, matchbook_publisher_log_refused 1) and publishes nothing; the
//      documented way out (a fresh broker) publishes all of B;
//   2. a broker replaced (an empty one on the same address) under a running publisher whose
//      producer had not written in its session yet: every event of the log ends up in the new
//      broker, and the read models built from it hold each exactly once.
// The reference is built from the commands' own results (each APPLIED result carries its engine
// events), independently of the publisher. Every wait is bounded and polls.

import { rmSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../events/broker/server.js';
import {
  decimalsOfConfig,
  execRecordOf,
  tradeRecordOf,
  type ExecRecord,
  type TradeRecord,
} from '../../events/codec.js';
import { ensureTopics } from '../../events/kafka.js';
import { ReadModelConsumer } from '../../events/read-models/consumer.js';
import { decodeEvents } from '../../engine/event-codec.js';
import { NO_LOG } from '../../ops/log.js';
import { terminate } from '../../ops/child-process.js';
import { ReplicaClient, type SubmitResult } from '../../replicator/client/client.js';
import { ProcessCluster, freePort } from '../../replicator/process-cluster.js';
import {
  orderFlow,
  projection,
  removeTmpDirs,
  shardConfig,
  spawnReady,
  tmpDir,
  waitFor,
  type Child,
} from './helpers.js';

/** Bound on every wait for the processes (ms): generous for a loaded 2-core machine. */
const CATCH_UP_MS = 120_000;
const TEST_MS = 6 * CATCH_UP_MS;
const STOP_GRACE_MS = 15_000;

const dir = tmpDir('mb-pub-resume-');
const running: { brokers: RunningBroker[]; clusters: ProcessCluster[]; clients: ReplicaClient[]; children: Child[] } = {
  brokers: [],
  clusters: [],
  clients: [],
  children: [],
};

async function openBroker(name: string, port = 0): Promise<RunningBroker> {
  // Auto-created topics get the publisher's partition counts (a real cluster: created beforehand).
  const b = await startBroker({ dataDir: path.join(dir, name), port, host: '127.0.0.1', defaultPartitions: 4 });
  running.brokers.push(b);
  return b;
}

async function startCluster(
  opts: { timeTickMs?: number } = {},
): Promise<{ cluster: ProcessCluster; client: ReplicaClient }> {
  const cluster = await ProcessCluster.create({ fsync: true, ...opts });
  running.clusters.push(cluster);
  await cluster.startAll();
  await cluster.waitForLeader();
  const client = new ReplicaClient({ endpoints: cluster.endpoints });
  running.clients.push(client);
  return { cluster, client };
}

async function startPublisher(
  cluster: ProcessCluster,
  brokers: string,
  dataDir: string,
): Promise<Child & { ready: Record<string, unknown> }> {
  const p = await spawnReady('events/publisher/main.ts', [
    '--cluster',
    cluster.configPath,
    '--brokers',
    brokers,
    '--data-dir',
    path.join(dir, dataDir),
    '--status-every-ms',
    '250',
    '--checkpoint-every-entries',
    '1',
    '--ops',
    '127.0.0.1:0',
  ]);
  running.children.push(p);
  return p;
}

interface Status {
  state: string;
  publishedIndex: number;
  publishedSeq: number;
  recordsSent: number;
  progressRecordsSent: number;
  logCheck: string;
  logCheckReason?: string;
  brokerResets: number;
  sessions: number;
}

function status(c: Child): Status | undefined {
  for (let k = c.lines.length - 1; k >= 0; k--)
    if (c.lines[k]!.startsWith('{"event":"status"')) return JSON.parse(c.lines[k]!) as Status;
  return undefined;
}

async function publishedThrough(p: Child, seq: number): Promise<Status> {
  await waitFor(() => (status(p)?.publishedSeq ?? 0) >= seq, `the publisher to publish seq ${seq}`, CATCH_UP_MS, 100);
  return status(p)!;
}

/** The child's pino log records (stderr lines, kept with the prefix "! "). */
function logRecords(c: Child): ({ level: number; msg: string } & Record<string, unknown>)[] {
  return c.lines
    .filter((l) => l.startsWith('! {'))
    .map((l) => JSON.parse(l.slice(2)) as { level: number; msg: string } & Record<string, unknown>);
}

async function metric(opsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Submits a flow one command at a time (one log entry each); every result must be APPLIED (the reference needs its events). */
async function submit(client: ReplicaClient, n: number, seed: number, into: SubmitResult[]): Promise<void> {
  const firstOrderSeq = Math.max(0, ...into.map((r) => r.seq)) + 1;
  for (const c of orderFlow(n, seed, firstOrderSeq)) {
    const r = await client.submit(c);
    expect(r.outcome).toBe('APPLIED');
    into.push(r);
  }
}

/** The read models the engine's events call for, from the commands' results. */
function reference(results: SubmitResult[]) {
  const orders: ExecRecord[] = [];
  const fills: ExecRecord[] = [];
  const trades: TradeRecord[] = [];
  let position = 0;
  const decimalsOf = decimalsOfConfig(shardConfig);
  for (const r of [...results].sort((a, b) => a.seq - b.seq)) {
    for (const e of decodeEvents(r.eventBytes, 0, r.eventBytes.length)) {
      if (e.kind === 'exec') {
        const rec = execRecordOf(0, r.appliedIndex, position++, e, decimalsOf);
        orders.push(rec);
        if (rec.last_qty > 0) fills.push(rec);
      } else if (e.kind === 'trade') trades.push(tradeRecordOf(0, r.appliedIndex, position++, e, decimalsOf));
    }
  }
  return { orders, trades, model: projection({ orders, fills, trades }) };
}

/** Read models built from scratch from a broker, once they hold `seq` and every partition's end. */
async function readModelsOf(brokers: string, groupId: string, seq: number): Promise<ReadModelConsumer> {
  const c = new ReadModelConsumer({ brokers: [brokers], groupId, log: NO_LOG });
  await c.start();
  try {
    await waitFor(() => c.model.visibleOf(0).seq >= seq, `read models to reach seq ${seq}`, CATCH_UP_MS, 50);
    await waitFor(() => c.caughtUp(), 'read models to reach the end of every partition', CATCH_UP_MS, 50);
  } catch (err) {
    await c.stop();
    throw err;
  }
  return c;
}

afterAll(async () => {
  for (const c of running.children) await terminate(c, STOP_GRACE_MS);
  for (const c of running.clients) c.close();
  for (const c of running.clusters) await c.stop();
  for (const b of running.brokers) await b.close().catch(() => undefined);
  removeTmpDirs();
});

describe('publisher resume point: another log, another broker', () => {
  it(
    'a wiped exchange publishing into a kept broker is refused, never published with its first entries skipped',
    async () => {
      const broker = await openBroker('kafka-kept');
      const brokers = `127.0.0.1:${broker.port}`;
      const { cluster, client } = await startCluster();
      const a: SubmitResult[] = [];
      await submit(client, 120, 11, a);
      const first = await startPublisher(cluster, brokers, 'publisher');
      const atA = await publishedThrough(first, Math.max(...a.map((r) => r.seq)));
      await terminate(first, STOP_GRACE_MS);
      const published = atA.publishedIndex;
      expect(published).toBeGreaterThan(120);

      // Wipe the exchange: same cluster file (ports, ids), new data dirs, a new log.
      client.close();
      await cluster.stop(true);
      rmSync(path.join(cluster.dir, 'data'), { recursive: true, force: true });
      await cluster.startAll();
      await cluster.waitForLeader();
      const clientB = new ReplicaClient({ endpoints: cluster.endpoints });
      running.clients.push(clientB);
      const b: SubmitResult[] = [];
      await submit(clientB, 10, 12, b);
      expect(Math.max(...b.map((r) => r.appliedIndex))).toBeLessThan(published);

      // Fewer entries than the published index: refused (the kept data dir: its checkpoint is A's).
      const second = await startPublisher(cluster, brokers, 'publisher');
      const opsPort = second.ready.opsPort as number;
      await waitFor(
        () => status(second)?.state === 'refused',
        'the publisher to refuse B (shorter log)',
        CATCH_UP_MS,
        100,
      );
      expect(status(second)!.logCheck).toBe('mismatch');
      const refusal = logRecords(second).find((r) => r.msg.startsWith('REFUSED'));
      expect(refusal?.level).toBe(50);
      expect(String(refusal?.reason)).toMatch(/replicas' log/);
      expect((await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status).toBe(503);
      expect(await metric(opsPort, 'matchbook_publisher_log_refused')).toBe(1);

      // More entries than the published index (the entry there exists, and is B's): refused too
      // (the same data dir: its checkpoint at A's published index meets B's entry there).
      while (Math.max(...b.map((r) => r.appliedIndex)) <= published + 5) await submit(clientB, 20, 13 + b.length, b);
      const third = await startPublisher(cluster, brokers, 'publisher');
      await waitFor(
        () => status(third)?.state === 'refused',
        'the publisher to refuse B (longer log)',
        CATCH_UP_MS,
        100,
      );
      expect(status(third)!.logCheck).toBe('mismatch');
      // Nothing of B went into A's topics, from either publisher.
      for (const p of [second, third]) {
        expect(status(p)!.recordsSent).toBe(0);
        expect(status(p)!.progressRecordsSent).toBe(0);
        expect(status(p)!.publishedIndex).toBe(published);
      }
      await terminate(second, STOP_GRACE_MS);
      await terminate(third, STOP_GRACE_MS);

      // The way out: a fresh broker (or deleted topics) gets all of B, from its first entry.
      const fresh = await openBroker('kafka-fresh');
      const freshBrokers = `127.0.0.1:${fresh.port}`;
      const fourth = await startPublisher(cluster, freshBrokers, 'publisher');
      const lastB = Math.max(...b.map((r) => r.seq));
      await publishedThrough(fourth, lastB);
      const models = await readModelsOf(freshBrokers, 'resume-fresh', lastB);
      try {
        const ref = reference(b).model;
        expect(models.model.views()).toEqual(ref.views());
        expect(models.model.stats.applied).toBe(ref.stats.applied);
      } finally {
        await models.stop();
      }
    },
    TEST_MS,
  );

  it(
    'a broker replaced under a running publisher gets every event of the log, each exactly once in the read models',
    async () => {
      const port = await freePort();
      let broker = await openBroker('kafka-x', port);
      const brokers = `127.0.0.1:${port}`;
      // No time ticks: the publisher is idle (its producer writes nothing) until orders come.
      const { cluster, client } = await startCluster({ timeTickMs: 0 });
      const results: SubmitResult[] = [];
      await submit(client, 80, 21, results);
      const first = await startPublisher(cluster, brokers, 'publisher-x');
      await publishedThrough(first, Math.max(...results.map((r) => r.seq)));
      await terminate(first, STOP_GRACE_MS);
      // A new session on the same broker: resumes at the last progress record, sends nothing yet.
      const p = await startPublisher(cluster, brokers, 'publisher-x');
      await waitFor(() => status(p)?.state === 'publishing', 'the publisher to resume', CATCH_UP_MS, 100);
      const before = status(p)!;
      expect(before.recordsSent).toBe(0);

      // Replace the broker: an empty one on the same address, its topics created as an operator would.
      await broker.close();
      broker = await openBroker('kafka-y', port);
      const kafka = new Kafka({ clientId: 'resume-test', brokers: [brokers], logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, 4);
      } finally {
        await admin.disconnect();
      }

      await submit(client, 40, 22, results);
      const lastSeq = Math.max(...results.map((r) => r.seq));
      await publishedThrough(p, lastSeq);
      const models = await readModelsOf(brokers, 'resume-replaced', lastSeq);
      try {
        const ref = reference(results);
        // Every exec and trade of the whole log is in the new broker, applied once.
        expect(models.model.views()).toEqual(ref.model.views());
        expect(models.model.stats.applied).toBe(ref.model.stats.applied);
        expect(ref.trades.length).toBeGreaterThan(0); // the flow trades: fills and trades are part of it
      } finally {
        await models.stop();
      }
      expect(status(p)!.brokerResets).toBeGreaterThanOrEqual(1);
    },
    TEST_MS,
  );
});
