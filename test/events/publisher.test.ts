// The publisher process against trouble, with real processes over loopback (3 replicas with a
// small snapshot interval, no time ticks; the embedded broker in this process, so it can be
// absent, closed and reopened on the same port and directory):
//   - no broker at all: orders are acknowledged anyway; once the broker appears, everything is
//     published and the read models hold exactly the engine's events;
//   - the broker restarted mid-flow: the publisher resumes, nothing lost, nothing applied twice;
//   - the replicas compact past the publisher's resume point while it is down: restarted from
//     its checkpoint it continues without a gap (a publisher without one would have to skip).
// The reference is built from the commands' own results (each APPLIED result carries its
// engine events), independently of the publisher.

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../events/broker/server.js';
import {
  decimalsOfConfig,
  execRecordOf,
  tradeRecordOf,
  type ExecRecord,
  type TradeRecord,
} from '../../events/codec.js';
import { EntrySource } from '../../events/publisher/entry-source.js';
import { ReadModelConsumer } from '../../events/read-models/consumer.js';
import type { ReadModels } from '../../events/read-models/model.js';
import { decodeEvents } from '../../engine/event-codec.js';
import { ReplicaClient, type SubmitResult } from '../../replicator/client/client.js';
import { ProcessCluster, freePort } from '../../replicator/process-cluster.js';
import {
  kill,
  orderFlow,
  projection,
  removeTmpDirs,
  shardConfig,
  spawnReady,
  tmpDir,
  waitFor,
  type Child,
} from './helpers.js';

import { NO_LOG } from '../../ops/log.js';

const CATCH_UP_MS = 60_000;

let dir: string;
let port: number;
let broker: RunningBroker | undefined;
let cluster: ProcessCluster;
let client: ReplicaClient;
let publisher: Child | undefined;
let consumer: ReadModelConsumer | undefined;
const results: SubmitResult[] = [];
let flows = 0;

const brokers = () => `127.0.0.1:${port}`;
const lastSeq = () => Math.max(0, ...results.map((r) => r.seq));

async function openBroker(): Promise<void> {
  broker = await startBroker({ dataDir: path.join(dir, 'kafka'), port, host: '127.0.0.1' });
}

async function startPublisher(): Promise<Child> {
  return spawnReady('events/publisher/main.ts', [
    '--cluster',
    cluster.configPath,
    '--brokers',
    brokers(),
    '--data-dir',
    path.join(dir, 'publisher'),
    '--status-every-ms',
    '100',
    '--checkpoint-every-entries',
    '1',
  ]);
}

/** Submits a flow, pipelined or one command at a time; every result must be APPLIED (the reference needs its events). */
async function submit(n: number, oneByOne = false): Promise<void> {
  const flow = orderFlow(n, 2_000 + flows++, lastSeq() + 1);
  const out = oneByOne ? [] : await Promise.all(flow.map((c) => client.submit(c)));
  if (oneByOne) for (const c of flow) out.push(await client.submit(c));
  for (const r of out) expect(r.outcome).toBe('APPLIED');
  results.push(...out);
}

/** The read models the engine's events call for, from the commands' results. */
function reference(): ReadModels {
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
  return projection({ orders, fills, trades });
}

async function caughtUp(c: ReadModelConsumer): Promise<void> {
  const seq = lastSeq();
  await waitFor(() => c.model.visibleOf(0).seq >= seq, `read models to reach seq ${seq}`, CATCH_UP_MS, 50);
  await waitFor(() => c.caughtUp(), 'read models to reach the end of every partition', CATCH_UP_MS, 50);
}

function status(
  c: Child,
):
  | { publishedIndex: number; publishedSeq: number; checkpointIndex: number; gapCount: number; sessions: number }
  | undefined {
  for (let k = c.lines.length - 1; k >= 0; k--)
    if (c.lines[k]!.startsWith('{"event":"status"')) return JSON.parse(c.lines[k]!);
  return undefined;
}

/** The child's pino log records (its stderr lines, kept with the prefix "! "): `level` is pino's number (30 info, 50 error). */
function logRecords(c: Child): ({ level: number; msg: string } & Record<string, unknown>)[] {
  return c.lines
    .filter((l) => l.startsWith('! {'))
    .map((l) => JSON.parse(l.slice(2)) as { level: number; msg: string } & Record<string, unknown>);
}

beforeAll(async () => {
  dir = tmpDir();
  port = await freePort();
  cluster = await ProcessCluster.create({ fsync: true, snapshotIntervalEntries: 20, timeTickMs: 0 });
  await cluster.startAll();
  await cluster.waitForLeader();
  client = new ReplicaClient({ endpoints: cluster.endpoints });
});

afterAll(async () => {
  client?.close();
  await kill(publisher, 'SIGTERM');
  await consumer?.stop();
  await cluster?.stop();
  await broker?.close();
  removeTmpDirs();
});

describe('publisher under trouble', () => {
  it('without a broker orders are still acknowledged; when it appears, everything is published exactly once', async () => {
    publisher = await startPublisher();
    await submit(300);
    expect(results.length).toBe(300); // acknowledged with no broker anywhere
    await openBroker();
    consumer = new ReadModelConsumer({ brokers: [brokers()], groupId: 'publisher-test', log: NO_LOG });
    await consumer.start();
    await caughtUp(consumer);
    expect(consumer.model.views()).toEqual(reference().views());
  });

  it('a broker restarted mid-flow: the publisher resumes, nothing lost, nothing applied twice', async () => {
    const flow = submit(400);
    await broker!.close();
    broker = undefined;
    await flow;
    await openBroker();
    await submit(200);
    await caughtUp(consumer!);
    const ref = reference();
    expect(consumer!.model.views()).toEqual(ref.views());
    expect(consumer!.model.stats.applied).toBe(ref.stats.applied);
  });

  it('restarted from its checkpoint, it continues without a gap although the replicas compacted past its resume point', async () => {
    // A log long enough to hold a snapshot (one entry per command: snapshots come every 20 entries).
    await submit(25, true);
    // Idle, with everything published and the checkpoint at the published index: stop it hard.
    const seq = lastSeq();
    await waitFor(
      () => {
        const s = status(publisher!);
        return s !== undefined && s.publishedSeq >= seq && s.checkpointIndex === s.publishedIndex;
      },
      'the publisher to publish everything and checkpoint it',
      CATCH_UP_MS,
      50,
    );
    const resumeAt = status(publisher!)!.publishedIndex;
    await kill(publisher, 'SIGKILL');

    // One command per entry until every replica has a snapshot past the resume point.
    await waitFor(
      async () => {
        await submit(3, true);
        const st = await Promise.all(cluster.ids.map((id) => cluster.status(id)));
        return st.every((s) => s !== undefined && s.snapshotIndex > resumeAt && s.firstIndex > 1);
      },
      'every replica to snapshot past the resume point',
      CATCH_UP_MS,
      10,
    );
    // Without a checkpoint there would be no way but a gap: from index 1 a replica answers its snapshot.
    const probe = new EntrySource(cluster.endpoints);
    try {
      const r = await probe.read(1, 1 << 20, 0);
      expect(r.kind).toBe('snapshot');
      if (r.kind === 'snapshot') expect(r.index).toBeGreaterThan(resumeAt);
      const next = await probe.read(resumeAt + 1, 1 << 20, 0);
      expect(next.kind).toBe('entries'); // …but the entries after the checkpoint are still there
    } finally {
      probe.close();
    }

    publisher = await startPublisher();
    await submit(100);
    await caughtUp(consumer!);
    expect(
      logRecords(publisher).some(
        (r) =>
          r.msg.startsWith('publisher session started') && r.publishedIndex === resumeAt && r.appliedIndex === resumeAt,
      ),
    ).toBe(true);
    expect(logRecords(publisher).some((r) => r.msg.startsWith('GAP'))).toBe(false);
    const ref = reference();
    expect(consumer!.model.views()).toEqual(ref.views());
    expect(consumer!.model.stats.applied).toBe(ref.stats.applied);
  });

  it("a publisher that finds its entries compacted says GAP loudly and goes on from the replicas' snapshot", async () => {
    // A fresh publisher (no checkpoint) against an empty Kafka: it must start at index 1,
    // which the replicas compacted long ago.
    const otherPort = await freePort();
    const other = await startBroker({ dataDir: path.join(dir, 'kafka-2'), port: otherPort, host: '127.0.0.1' });
    const fresh = await spawnReady('events/publisher/main.ts', [
      '--cluster',
      cluster.configPath,
      '--brokers',
      `127.0.0.1:${otherPort}`,
      '--data-dir',
      path.join(dir, 'publisher-fresh'),
      '--status-every-ms',
      '100',
    ]);
    const c = new ReadModelConsumer({
      brokers: [`127.0.0.1:${otherPort}`],
      groupId: 'publisher-test-gap',
      log: NO_LOG,
    });
    try {
      await submit(50);
      await c.start();
      await caughtUp(c);
      expect(
        logRecords(fresh).some(
          (r) =>
            r.level === 50 &&
            r.msg.startsWith('GAP: the events of these log entries cannot be published') &&
            r.fromIndex === 1,
        ),
      ).toBe(true);
      // Status lines come every 100 ms: wait for one printed after the GAP.
      await waitFor(
        () => status(fresh)?.gapCount !== undefined && status(fresh)!.gapCount >= 1,
        'a status line after the GAP',
        CATCH_UP_MS,
        50,
      );
      expect(status(fresh)!.gapCount).toBe(1);
      // What came after the snapshot is there: the last flow's orders.
      const last = results[results.length - 1]!;
      expect(c.model.visibleOf(0).seq).toBeGreaterThanOrEqual(last.seq);
      expect(c.model.stats.applied).toBeGreaterThan(0);
      expect(c.model.stats.applied).toBeLessThan(reference().stats.applied);
    } finally {
      await c.stop();
      await kill(fresh, 'SIGTERM');
      await other.close();
    }
  });
});
