// The query process against a broker that is not the one its read models were built from
// (issue 18: `rm -rf data` left the query service on the previous exchange's read models).
// Real processes over loopback: replica processes, the embedded broker, the publisher process
// and the query process, whose --data-dir is kept across exchanges and brokers:
//   1. exchange A + broker A: many fills; the query process consumes them and writes its snapshot;
//   2. a fresh exchange B and a fresh broker B (fewer records: the old offsets are past the new
//      topics' ends): the query process restarted on the old data dir must discard its models
//      and rebuild; once /readyz says ready, the new fill is there, the old ones are gone,
//      as_of is B's, and /v1/lag's offsets are within the broker's;
//   3. the same exchange B republished into a fresh broker C (the same records at the same
//      offsets: only the cluster id tells): rebuilt again, and a new fill appears;
//   4. a broker replaced under a running query process (down until its consumer crashes, then
//      an empty one on the same address): not ready while down, then it notices, rebuilds and
//      shows the new exchange.
// Every wait is bounded and polls; nothing asserts on timing.

import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../events/broker/server.js';
import { QueryRestClient } from '../../events/query/client.js';
import { ReadModelConsumer, staleReason } from '../../events/read-models/consumer.js';
import { NO_LOG } from '../../ops/log.js';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import { terminate } from '../../ops/child-process.js';
import { kill, orderFlow, removeTmpDirs, spawnReady, tmpDir, waitFor, type Child } from './helpers.js';
import { freePort } from '../../replicator/process-cluster.js';

/** Bound on every wait for the processes to catch up (ms): generous for a loaded 2-core machine. */
const CATCH_UP_MS = 120_000;
/** A whole scenario: a handful of such waits. */
const TEST_MS = 6 * CATCH_UP_MS;
const STOP_GRACE_MS = 15_000;
const ACCOUNTS = [1, 2, 3, 4, 5, 6];
const keyOf = (account: number) => ({ key: `key-${account}`, hmacSecret: `secret-${account}` });

interface Exchange {
  cluster: ProcessCluster;
  client: ReplicaClient;
}

const dir = tmpDir('mb-rebuild-');
const queryDataDir = path.join(dir, 'query');
const running: { brokers: RunningBroker[]; exchanges: Exchange[]; children: Child[] } = {
  brokers: [],
  exchanges: [],
  children: [],
};

async function startExchange(): Promise<Exchange> {
  const cluster = await ProcessCluster.create({ fsync: true });
  await cluster.startAll();
  await cluster.waitForLeader();
  const ex = { cluster, client: new ReplicaClient({ endpoints: cluster.endpoints }) };
  running.exchanges.push(ex);
  return ex;
}

async function startEventsBroker(name: string, port = 0): Promise<string> {
  const b = await startBroker({ dataDir: path.join(dir, name), port, host: '127.0.0.1' });
  running.brokers.push(b);
  return `127.0.0.1:${b.port}`;
}

async function startPublisher(ex: Exchange, brokers: string, name: string): Promise<Child> {
  const p = await spawnReady('events/publisher/main.ts', [
    '--cluster',
    ex.cluster.configPath,
    '--brokers',
    brokers,
    '--data-dir',
    path.join(dir, name),
    '--status-every-ms',
    '200',
  ]);
  running.children.push(p);
  return p;
}

/** Waits until the publisher's status lines say everything through `seq` is in Kafka. */
async function published(p: Child, seq: number): Promise<void> {
  const publishedSeq = () => {
    for (let k = p.lines.length - 1; k >= 0; k--)
      if (p.lines[k]!.startsWith('{"event":"status"'))
        return Number((JSON.parse(p.lines[k]!) as { publishedSeq: number }).publishedSeq);
    return 0;
  };
  await waitFor(() => publishedSeq() >= seq, `the publisher to publish seq ${seq}`, CATCH_UP_MS, 100);
}

/** The query process on a data dir kept across brokers (default the first scenario's), answering for `ex`'s shard. */
async function startQuery(
  ex: Exchange,
  brokers: string,
  dataDir = queryDataDir,
): Promise<Child & { ready: Record<string, unknown> }> {
  const configPath = path.join(dir, `gateway-${running.children.length}.json`);
  writeFileSync(
    configPath,
    JSON.stringify({
      receiveWindowMs: 5_000,
      shards: [{ id: 0, clusterConfig: ex.cluster.configPath }],
      accounts: ACCOUNTS.map((account) => ({ account, apiKeys: [keyOf(account)] })),
      dataDir: path.join(dir, 'gateway'),
    }),
  );
  const q = await spawnReady('events/query/main.ts', [
    '--config',
    configPath,
    '--brokers',
    brokers,
    '--data-dir',
    dataDir,
    '--rest',
    '127.0.0.1:0',
    '--grpc',
    '127.0.0.1:0',
  ]);
  running.children.push(q);
  return q;
}

/** One trade between accounts 1 (buyer) and 2 (seller); returns the last seq. */
async function oneTrade(ex: Exchange, tag: string, qty: number): Promise<number> {
  const order = (account: number, side: string) => ({
    type: 'new',
    account,
    clOrdId: `${tag}-${account}`,
    symbol: 'BTC-USD',
    side,
    ordType: 'LIMIT',
    price: 5_000_000,
    qty,
  });
  await ex.client.submit(order(1, 'BUY'));
  return (await ex.client.submit(order(2, 'SELL'))).seq;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * Polls /readyz until ready; the moment it says so, the read models must already hold the
 * fresh exchange (the records were in Kafka before the process started): account 1's fills
 * are exactly `fills` (quantities), as_of is at least `seq` (the last order; time ticks may
 * follow it) and at most what `pub` has published, and no offset is past a high watermark.
 */
async function readyMeansFresh(base: string, fills: number[], seq: number, pub: Child): Promise<void> {
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, '/readyz to say ready', CATCH_UP_MS, 100);
  const rest = new QueryRestClient(base, keyOf(1));
  const r = await rest.get('/v1/accounts/1/fills?limit=10000');
  expect(r.status).toBe(200);
  expect((r.body.fills as { last_qty: number }[]).map((f) => f.last_qty).sort()).toEqual(fills);
  expect(r.body.total).toBe(fills.length);
  const asOf = r.body.as_of as { shard: number; seq: number }[];
  expect(asOf.map((a) => a.shard)).toEqual([0]);
  expect(asOf[0]!.seq).toBeGreaterThanOrEqual(seq);
  const status = await pub.nextEvent('status', CATCH_UP_MS);
  expect(asOf[0]!.seq).toBeLessThanOrEqual(status.publishedSeq as number);
  const lag = await rest.get('/v1/lag');
  for (const m of lag.body.read_models as { partitions: { next_offset: number; high_watermark: number }[] }[])
    for (const p of m.partitions) expect(p.next_offset).toBeLessThanOrEqual(p.high_watermark);
}

afterAll(async () => {
  for (const c of running.children) await terminate(c, STOP_GRACE_MS);
  for (const ex of running.exchanges) {
    ex.client.close();
    await ex.cluster.stop();
  }
  for (const b of running.brokers) await b.close().catch(() => undefined);
  removeTmpDirs();
});

describe('read models built from another broker', () => {
  it('staleReason: the rebuild rule', () => {
    const next = new Map([['t/0', 5]]);
    expect(staleReason('a', 'a', next, new Map([['t/0', 5]]))).toBeUndefined();
    expect(staleReason(undefined, 'b', next, new Map([['t/0', 9]]))).toBeUndefined();
    expect(staleReason('a', 'b', next, new Map([['t/0', 9]]))).toMatch(/^the broker's cluster id b is not a[^;]*$/);
    expect(staleReason('a', 'b', next, new Map([['t/0', 1]]))).toMatch(/cluster id b is not a.*; t\/0: .*past/);
    expect(staleReason('a', 'a', next, new Map([['t/0', 4]]))).toMatch(/next offset 5 is past .* high watermark 4/);
    expect(staleReason('a', 'a', next, new Map())).toMatch(/no such partition/);
    expect(staleReason('a', 'a', new Map([['t/1', 0]]), new Map())).toBeUndefined();
    expect(staleReason(undefined, 'a', next, new Map([['t/0', 0]]))).toMatch(/past/);
  });

  it(
    'a fresh broker and exchange: the query process rebuilds, is not ready before, then shows the new fill',
    async () => {
      // 1. Exchange A, broker A: a flow with many trades, consumed and snapshotted by the query process.
      const a = await startExchange();
      const brokersA = await startEventsBroker('kafka-a');
      const pubA = await startPublisher(a, brokersA, 'publisher-a');
      let lastA = 0;
      for (const c of orderFlow(300, 7)) lastA = Math.max(lastA, (await a.client.submit(c)).seq);
      await published(pubA, lastA);
      const q1 = await startQuery(a, brokersA);
      const base1 = `http://127.0.0.1:${String(q1.ready.rest)}`;
      await waitFor(
        async () => ((await getJson(`${base1}/healthz`)).body.as_of as { seq: number }[])[0]!.seq >= lastA,
        'the first query process to hold exchange A',
        CATCH_UP_MS,
        100,
      );
      const oldFills = await new QueryRestClient(base1, keyOf(1)).get('/v1/accounts/1/fills?limit=10000');
      expect(oldFills.body.total as number).toBeGreaterThan(1);
      await kill(q1, 'SIGTERM'); // writes the snapshot
      await kill(pubA, 'SIGTERM');

      // 2. `rm -rf` everything but the query's data dir: a new exchange and broker, one trade.
      const b = await startExchange();
      const brokersB = await startEventsBroker('kafka-b');
      const pubB = await startPublisher(b, brokersB, 'publisher-b');
      const seqB = await oneTrade(b, 'b', 3);
      await published(pubB, seqB);
      const q2 = await startQuery(b, brokersB);
      const base2 = `http://127.0.0.1:${String(q2.ready.rest)}`;
      await readyMeansFresh(base2, [3], seqB, pubB);
      expect(await metric(base2, 'matchbook_query_read_model_rebuilds_total')).toBe(1);
      expect(await metric(base2, 'matchbook_query_read_model_rebuilding')).toBe(0);
      expect(q2.lines.some((l) => l.includes('rebuilding from offset zero') && l.includes('past the broker'))).toBe(
        true,
      );
      await kill(q2, 'SIGTERM');
      await kill(pubB, 'SIGTERM');

      // 3. Exchange B republished into a fresh broker C: same offsets, another cluster id.
      const brokersC = await startEventsBroker('kafka-c');
      const pubC = await startPublisher(b, brokersC, 'publisher-c');
      await published(pubC, seqB);
      const q3 = await startQuery(b, brokersC);
      const base3 = `http://127.0.0.1:${String(q3.ready.rest)}`;
      await readyMeansFresh(base3, [3], seqB, pubC);
      expect(await metric(base3, 'matchbook_query_read_model_rebuilds_total')).toBe(1);
      expect(q3.lines.some((l) => l.includes('rebuilding from offset zero') && l.includes('cluster id'))).toBe(true);
      const seqC = await oneTrade(b, 'c', 5);
      const fresh = await new QueryRestClient(base3, keyOf(1)).get(
        `/v1/accounts/1/fills?limit=10000&min_seq=${seqC}&wait_ms=10000`,
      );
      expect(fresh.status).toBe(200);
      expect((fresh.body.fills as { last_qty: number }[]).map((f) => f.last_qty).sort()).toEqual([3, 5]);
    },
    TEST_MS,
  );

  it(
    'a broker wiped under a running query process: it notices, rebuilds, and shows the new exchange',
    async () => {
      const port = await freePort();
      const a = await startExchange();
      const brokers = await startEventsBroker('kafka-live-a', port);
      const pubA = await startPublisher(a, brokers, 'publisher-live-a');
      let lastA = 0;
      for (const c of orderFlow(200, 8)) lastA = Math.max(lastA, (await a.client.submit(c)).seq);
      await published(pubA, lastA);
      const q = await startQuery(a, brokers, path.join(dir, 'query-live'));
      const base = `http://127.0.0.1:${String(q.ready.rest)}`;
      await waitFor(
        async () => ((await getJson(`${base}/healthz`)).body.as_of as { seq: number }[])[0]!.seq >= lastA,
        'the query process to hold exchange A',
        CATCH_UP_MS,
        100,
      );
      await kill(pubA, 'SIGTERM');
      // The broker is replaced on the same address by an empty one; the query process keeps running.
      await running.brokers.find((b) => b.port === port)!.close();
      // Down long enough for the consumer to crash (kafkajs restarts it, or it restarts itself):
      // not ready from then until it has joined its group again.
      await waitFor(
        () => q.lines.some((l) => l.includes('Kafka consumer crashed')),
        'the consumer to crash',
        CATCH_UP_MS,
        100,
      );
      expect((await getJson(`${base}/readyz`)).body).toMatchObject({ ready: false, consuming: false });
      const b = await startExchange();
      await startEventsBroker('kafka-live-b', port);
      const pubB = await startPublisher(b, brokers, 'publisher-live-b');
      const seqB = await oneTrade(b, 'live', 2);
      await published(pubB, seqB);
      await waitFor(
        async () => (await metric(base, 'matchbook_query_read_model_rebuilds_total')) >= 1,
        'the query process to notice the new broker',
        CATCH_UP_MS,
        100,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${q.lines.slice(-400).join('\n')}`);
      });
      await readyMeansFresh(base, [2], seqB, pubB).catch(async (err: unknown) => {
        const r = await getJson(`${base}/readyz`);
        const lag = await new QueryRestClient(base, keyOf(1)).get('/v1/lag');
        throw new Error(
          `${String(err)}\n${JSON.stringify(r)}\n${JSON.stringify(lag.body)}\n${q.lines.slice(-400).join('\n')}`,
        );
      });
    },
    TEST_MS,
  );

  it('a crash kafkajs does not restart from: the consumer restarts itself, not running meanwhile', async () => {
    const brokers = await startEventsBroker('kafka-crash');
    const c = new ReadModelConsumer({ brokers: [brokers], groupId: 'rebuild-test-crash', log: NO_LOG });
    try {
      await c.start();
      await waitFor(() => c.running(), 'the consumer to join its group', CATCH_UP_MS, 50);
      const kafkajs = (c as unknown as { consumer: unknown }).consumer;
      // kafkajs's CRASH event with restart false (what it emits when it gives up).
      (c as unknown as { onCrash(k: unknown, p: { error: Error; restart: boolean }): void }).onCrash(kafkajs, {
        error: new Error('planted'),
        restart: false,
      });
      expect(c.running()).toBe(false);
      await waitFor(() => c.running() && c.stats.restarts === 1, 'the consumer to restart', CATCH_UP_MS, 50);
      expect((c as unknown as { consumer: unknown }).consumer).not.toBe(kafkajs);
      expect(c.stats.joins).toBeGreaterThanOrEqual(2);
    } finally {
      await c.stop();
    }
  });
});
