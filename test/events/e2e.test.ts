// End to end, real processes over loopback: 3 replica processes, the embedded broker, the
// publisher process, the read models (in this process, persisted) and the query process.
// Orders go in with a ReplicaClient; then:
//   - the read models equal an independent projection of the engine events of the replayed log,
//     and every event is applied exactly once although the publisher was SIGKILLed mid-flow;
//   - a rebuild from offset zero equals the live read models;
//   - a read-model consumer restarted from its snapshot misses nothing and applies nothing twice;
//   - the query API (REST and gRPC) answers from them, per account, with read-your-writes;
//   - kcat, an independent Kafka client, reads fills that decode to what the engine emitted;
//   - the audit export of each account (matchbook audit, from the replicas' WALs alone) equals
//     what the read models hold: every order's last state, every fill.
// Assertions are on content, never on timing; every wait is bounded.

import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { startBroker, type RunningBroker } from '../../events/broker/server.js';
import { EventsCodec, type ExecRecord } from '../../events/codec.js';
import { QueryGrpcClient, QueryRestClient } from '../../events/query/client.js';
import { ReadModelConsumer } from '../../events/read-models/consumer.js';
import { TOPIC_FILLS } from '../../events/topics.js';
import { runAudit } from '../../cli/audit-commands.js';
import { ENUM_NAMES } from '../../engine/json-codec.js';
import { ReplicaClient, type SubmitResult } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import {
  integersOnly,
  kill,
  orderFlow,
  projection,
  readWholeLog,
  removeTmpDirs,
  replayEntries,
  spawnReady,
  tmpDir,
  waitFor,
  type Child,
} from './helpers.js';
import { NO_LOG } from '../../ops/log.js';

const KCAT = '/usr/bin/kcat';
const kcatInstalled = spawnSync(KCAT, ['-V'], { stdio: 'ignore' }).status === 0;
if (!kcatInstalled)
  console.warn(`${KCAT} is missing: the kcat check of the e2e test is skipped (apt-get install -y kcat)`);

const ACCOUNTS = [1, 2, 3, 4, 5, 6];
const keyOf = (account: number) => ({ key: `key-${account}`, hmacSecret: `secret-${account}` });
/** Bound on waiting for the read models to catch up (ms): generous for a loaded 2-core machine. */
const CATCH_UP_MS = 60_000;

let dir: string;
let broker: RunningBroker;
let brokers: string;
let cluster: ProcessCluster;
let client: ReplicaClient;
let publisher: Child | undefined;
let query: (Child & { ready: Record<string, unknown> }) | undefined;
let live: ReadModelConsumer;
let lastSeq = 0;
let flowCount = 0;

async function startPublisher(): Promise<Child> {
  return spawnReady('events/publisher/main.ts', [
    '--cluster',
    cluster.configPath,
    '--brokers',
    brokers,
    '--data-dir',
    path.join(dir, 'publisher'),
    '--status-every-ms',
    '1000',
  ]);
}

async function submitFlow(n: number, during?: (done: number) => Promise<void> | void): Promise<SubmitResult[]> {
  const flow = orderFlow(n, 1_000 + flowCount++, lastSeq + 1);
  let done = 0;
  let hook: Promise<void> | undefined;
  const results = await Promise.all(
    flow.map((c) =>
      client.submit(c).then((r) => {
        done++;
        if (during !== undefined && done === Math.floor(n / 2)) hook = Promise.resolve(during(done));
        return r;
      }),
    ),
  );
  await hook;
  for (const r of results) lastSeq = Math.max(lastSeq, r.seq);
  return results;
}

/** Waits until the consumer's models hold every event up to `seq` and every partition is read to its end. */
async function caughtUp(c: ReadModelConsumer, seq: number): Promise<void> {
  await waitFor(
    () => c.model.visibleOf(0).seq >= seq,
    `read models to reach seq ${seq} (at ${c.model.visibleOf(0).seq})`,
    CATCH_UP_MS,
    50,
  );
  await waitFor(() => c.caughtUp(), 'read models to reach the end of every partition', CATCH_UP_MS, 50);
}

async function replayNow(): Promise<ReturnType<typeof replayEntries>> {
  const applied = (await cluster.status(cluster.ids[0]!))?.applied ?? 0;
  return replayEntries(await readWholeLog(cluster.endpoints, applied));
}

beforeAll(async () => {
  dir = tmpDir();
  broker = await startBroker({ dataDir: path.join(dir, 'kafka'), port: 0, host: '127.0.0.1' });
  brokers = `127.0.0.1:${broker.port}`;
  cluster = await ProcessCluster.create({ fsync: true });
  await cluster.startAll();
  await cluster.waitForLeader();
  client = new ReplicaClient({ endpoints: cluster.endpoints });
  publisher = await startPublisher();
  live = new ReadModelConsumer({
    brokers: [brokers],
    dataDir: path.join(dir, 'read-models'),
    groupId: 'e2e-live',
    snapshotIntervalMs: 500,
    log: NO_LOG,
  });
  await live.start();
  const gatewayConfig = {
    receiveWindowMs: 5_000,
    shards: [{ id: 0, clusterConfig: cluster.configPath }],
    accounts: ACCOUNTS.map((account) => ({ account, apiKeys: [keyOf(account)] })),
    adminKeys: [{ key: 'admin', hmacSecret: 'admin-secret' }],
    dataDir: path.join(dir, 'gateway'),
  };
  const configPath = path.join(dir, 'gateway.json');
  writeFileSync(configPath, JSON.stringify(gatewayConfig));
  query = await spawnReady('events/query/main.ts', [
    '--config',
    configPath,
    '--brokers',
    brokers,
    '--data-dir',
    path.join(dir, 'query'),
    '--rest',
    '127.0.0.1:0',
    '--grpc',
    '127.0.0.1:0',
  ]);
});

afterAll(async () => {
  client?.close();
  await kill(publisher, 'SIGTERM');
  await kill(query, 'SIGTERM');
  await live?.stop();
  await cluster?.stop();
  await broker?.close();
  removeTmpDirs();
});

describe('events end to end', () => {
  it('read models equal a replay of the engine events, every event exactly once, across a publisher SIGKILL', async () => {
    await submitFlow(500);
    await caughtUp(live, lastSeq);
    const firstFlowEvents = live.model.stats.applied;
    expect(firstFlowEvents).toBeGreaterThan(500);
    // A second publisher (its own checkpoint directory) republishes the whole history from log
    // index 1 while the first still runs: every record of the first flow goes on the wire again
    // (certain copies, whatever the timing), and from there on the two race over the same
    // records — what a publisher that resends after a crash does.
    const second = await spawnReady('events/publisher/main.ts', [
      '--cluster',
      cluster.configPath,
      '--brokers',
      brokers,
      '--data-dir',
      path.join(dir, 'publisher-2'),
      '--status-every-ms',
      '1000',
      '--republish-from',
      '1',
    ]);
    const sessionStarted = (l: string) =>
      l.startsWith('! {') &&
      (JSON.parse(l.slice(2)) as { msg?: string; session?: number }).session === 1 &&
      l.includes('"msg":"publisher session started');
    await waitFor(() => second.lines.some(sessionStarted), 'the second publisher to read its resume point');
    // SIGKILL the first publisher halfway through the second flow, and start it again.
    await submitFlow(600, async () => {
      await kill(publisher, 'SIGKILL');
      publisher = await startPublisher();
    });
    await submitFlow(300);
    // Both publishers get through the whole flow; then the read models read everything.
    const publishedSeq = (c: Child) =>
      Math.max(
        0,
        ...c.lines
          .filter((l) => l.startsWith('{"event":"status"'))
          .map((l) => Number((JSON.parse(l) as { publishedSeq: number }).publishedSeq)),
      );
    await waitFor(
      () => publishedSeq(second) >= lastSeq && publishedSeq(publisher!) >= lastSeq,
      'both publishers to publish the whole flow',
      CATCH_UP_MS,
      100,
    );
    await kill(second, 'SIGTERM');
    await caughtUp(live, lastSeq);

    const replay = await replayNow();
    expect(replay.trades.length).toBeGreaterThan(50);
    expect(live.model.views()).toEqual(projection(replay).views());
    // Exactly once: as many events applied as the engine emitted, no fill or trade twice,
    // although copies arrived (dropped by (shard, log_index, position)): at least the
    // republished first flow.
    expect(live.model.stats.duplicates).toBeGreaterThanOrEqual(firstFlowEvents);
    expect(live.model.stats.applied).toBe(replay.orders.length + replay.fills.length + replay.trades.length);
    const execIds = ACCOUNTS.flatMap((a) => live.model.fillsOf(a).fills.map((f) => f.exec_id));
    expect(new Set(execIds).size).toBe(execIds.length);
    expect(execIds.length).toBe(replay.fills.length);
    const tradeCount = ['BTC-USD', 'ETH-USD'].reduce(
      (s, sym) => s + live.model.candlesOf(sym, '1h').reduce((n, c) => n + c.trade_count, 0),
      0,
    );
    expect(tradeCount).toBe(replay.trades.length);
  });

  it('a rebuild from offset zero equals the live read models', async () => {
    const rebuild = new ReadModelConsumer({
      brokers: [brokers],
      fromScratch: true,
      groupId: `e2e-rebuild-${randomInt(1, 2 ** 40)}`,
      log: NO_LOG,
    });
    try {
      await rebuild.start();
      await caughtUp(rebuild, lastSeq);
      expect(rebuild.model.views()).toEqual(live.model.views());
    } finally {
      await rebuild.stop();
    }
  });

  it('a read-model consumer restarted from its snapshot resumes: nothing lost, nothing applied twice', async () => {
    await live.stop();
    await submitFlow(200);
    live = new ReadModelConsumer({
      brokers: [brokers],
      dataDir: path.join(dir, 'read-models'),
      groupId: 'e2e-live',
      snapshotIntervalMs: 500,
      log: NO_LOG,
    });
    expect(live.model.stats.applied).toBeGreaterThan(0); // restored from the snapshot
    await live.start();
    await caughtUp(live, lastSeq);
    const replay = await replayNow();
    expect(live.model.views()).toEqual(projection(replay).views());
    expect(live.model.stats.applied).toBe(replay.orders.length + replay.fills.length + replay.trades.length);
  });

  it('query API: own account only, read-your-writes, REST and gRPC agree, lag exposed', async () => {
    const base = `http://127.0.0.1:${String(query!.ready.rest)}`;
    const rest = new QueryRestClient(base, keyOf(3));
    const health = await fetch(`${base}/healthz`).then((r) => r.json() as Promise<Record<string, unknown>>);
    expect(health.status).toBe('ok');
    expect(Object.keys(health.lag as object).sort()).toEqual([
      'candles',
      'consistency',
      'fills',
      'orders',
      'positions',
    ]);

    // Read your writes: a resting order is in the open orders as soon as its seq is visible.
    const placed = await client.submit({
      type: 'new',
      account: 3,
      clOrdId: 'ryw-1',
      symbol: 'BTC-USD',
      side: 'BUY',
      ordType: 'LIMIT',
      price: 4_600_000,
      qty: 7,
    });
    lastSeq = Math.max(lastSeq, placed.seq);
    const mine = await rest.get(`/v1/accounts/3/orders?min_seq=${placed.seq}&shard=0&wait_ms=10000`);
    expect(mine.status).toBe(200);
    const orders = mine.body.orders as Record<string, unknown>[];
    expect(orders.find((o) => o.order_id === placed.seq)).toMatchObject({
      client_order_id: 'ryw-1',
      side: 'BUY',
      order_type: 'LIMIT',
      order_status: 'NEW',
      leaves_qty: 7,
      price: 4_600_000,
    });
    const byClientId = await rest.get('/v1/accounts/3/orders?client_order_id=ryw-1');
    expect((byClientId.body.orders as Record<string, unknown>[])[0]?.order_id).toBe(placed.seq);
    const one = await rest.get(`/v1/orders/${placed.seq}`);
    expect(one.status).toBe(200);
    expect((one.body.order as Record<string, unknown>).account).toBe(3);

    // Another account's data: refused; a bad signature: refused.
    expect((await rest.get('/v1/accounts/4/orders')).status).toBe(403);
    expect((await rest.get(`/v1/orders/${placed.seq}`, keyOf(4))).status).toBe(403);
    expect((await rest.get('/v1/accounts/3/fills', { key: 'key-3', hmacSecret: 'wrong' })).status).toBe(401);
    // Not yet consistent: a bounded wait, then a clear error with a retry hint.
    const future = await rest.get(`/v1/accounts/3/orders?min_seq=${lastSeq + 1_000_000}&wait_ms=200`);
    expect(future.status).toBe(503);
    expect(future.body.code).toBe('NOT_YET_CONSISTENT');
    expect(future.headers.get('retry-after')).not.toBeNull();

    // Fills, positions, candles: what the live read models (same events) say.
    await caughtUp(live, lastSeq);
    const fills = await rest.get(`/v1/accounts/3/fills?limit=10000&min_seq=${lastSeq}`);
    expect(fills.status).toBe(200);
    expect(fills.body.total).toBe(live.model.fillsOf(3).total);
    expect((fills.body.fills as unknown[]).length).toBe(live.model.fillsOf(3).fills.length);
    const positions = await rest.get('/v1/accounts/3/positions');
    expect(integersOnly(positions.body.positions)).toEqual(
      live.model.positionsOf(3).map((p) => ({
        ...p,
        buy_notional: p.buy_notional.toString(),
        sell_notional: p.sell_notional.toString(),
        cash: p.cash.toString(),
      })),
    );
    const candles = await rest.get('/v1/candles/BTC-USD?interval=1s&limit=3600');
    expect(candles.status).toBe(200);
    expect(integersOnly(candles.body.candles)).toEqual(live.model.candlesOf('BTC-USD', '1s'));
    expect((await rest.get('/v1/candles/BTC-USD?interval=5m')).status).toBe(400);
    const lag = await rest.get('/v1/lag');
    expect(lag.status).toBe(200);
    expect((lag.body.read_models as unknown[]).length).toBe(5);

    // gRPC: the same answers, the same rules.
    const g = new QueryGrpcClient(`127.0.0.1:${String(query!.ready.grpc)}`, keyOf(3));
    try {
      const viaGrpc = await g.call('GetOrders', { account: 3, read_after: { min_seq: placed.seq, wait_ms: 10_000 } });
      expect((viaGrpc.orders as Record<string, unknown>[]).map((o) => o.order_id)).toEqual(
        orders.map((o) => o.order_id),
      );
      expect((viaGrpc.orders as Record<string, unknown>[]).find((o) => o.order_id === placed.seq)).toMatchObject({
        side: 'BUY',
        order_status: 'NEW',
      });
      const gpos = await g.call('GetPositions', { account: 3 });
      expect((gpos.positions as Record<string, unknown>[]).map((p) => p.cash)).toEqual(
        (positions.body.positions as Record<string, unknown>[]).map((p) => p.cash),
      );
      const denied = await g.call('GetFills', { account: 4 }).catch((e: grpc.ServiceError) => e);
      expect((denied as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);
      const notYet = await g
        .call('GetOrders', { account: 3, read_after: { min_seq: lastSeq + 1_000_000, wait_ms: 100 } })
        .catch((e: grpc.ServiceError) => e);
      expect((notYet as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
      expect((notYet as grpc.ServiceError).metadata.get('x-mb-error-code')).toEqual(['NOT_YET_CONSISTENT']);
      const glag = await g.call('GetLag', {});
      expect((glag.read_models as unknown[]).length).toBe(5);
    } finally {
      g.close();
    }
  });

  it.skipIf(!kcatInstalled)('kcat reads fills that decode (protobufjs) to what the engine emitted', async () => {
    const out = await new Promise<Buffer>((resolve, reject) => {
      execFile(
        KCAT,
        ['-C', '-b', brokers, '-t', TOPIC_FILLS, '-e', '-o', 'beginning', '-q', '-f', '%R%s'],
        { encoding: 'buffer', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) =>
          err !== null ? reject(new Error(`kcat failed: ${err.message}\n${stderr.toString()}`)) : resolve(stdout),
      );
    });
    // -f '%R%s': each payload preceded by its length (big-endian int32).
    const codec = EventsCodec.get();
    const seen = new Map<string, ExecRecord>();
    for (let at = 0; at < out.length; ) {
      const len = out.readInt32BE(at);
      const rec = codec.decodeExec(out.subarray(at + 4, at + 4 + len));
      at += 4 + len;
      // The publisher's restart may have put a fill on the wire twice: identical copies.
      const k = `${rec.shard}/${rec.log_index}/${rec.position}`;
      if (seen.has(k)) expect(rec).toEqual(seen.get(k));
      seen.set(k, rec);
    }
    const replay = await replayNow();
    const byKey = (a: ExecRecord, b: ExecRecord) => a.log_index - b.log_index || a.position - b.position;
    expect([...seen.values()].sort(byKey)).toEqual([...replay.fills].sort(byKey));
  });

  it('the audit export of every account, from the log alone, equals what the read models hold', async () => {
    await caughtUp(live, lastSeq);
    // The files at rest: replicas stopped (SIGTERM), so no WAL record is being written while read.
    await cluster.stop(true);
    const dataDir = path.join(cluster.dir, 'data');
    for (const account of ACCOUNTS) {
      const out = path.join(dir, `audit-${account}.jsonl`);
      const code = await runAudit([
        '--data-dir',
        dataDir,
        '--config',
        cluster.configPath,
        '--account',
        String(account),
        '--format',
        'jsonl',
        '--out',
        out,
      ]);
      expect(code).toBe(0);
      const rows = readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const reports = rows.filter((r) => r.row === 'report');
      // Orders: the last report of each order (in log order) is the read model's order state.
      const last = new Map<number, Record<string, unknown>>();
      for (const r of reports) last.set(r.order_id as number, r);
      const orders = live.model.ordersOf(account);
      expect(orders.length).toBeGreaterThan(0);
      expect(orders.map((o) => o.order_id)).toEqual([...last.keys()].sort((a, b) => a - b));
      for (const o of orders) {
        const r = last.get(o.order_id)!;
        expect({
          order_id: o.order_id,
          client_order_id: o.client_order_id,
          symbol: o.symbol,
          side: ENUM_NAMES.side.get(o.side as never),
          order_status: ENUM_NAMES.ordStatus.get(o.order_status as never),
          price: o.price,
          order_qty: o.order_qty,
          cum_qty: o.cum_qty,
          leaves_qty: o.leaves_qty,
          cum_notional: o.cum_notional,
          last_exec_id: o.last_exec_id,
        }).toEqual({
          order_id: r.order_id,
          client_order_id: r.client_order_id,
          symbol: r.symbol,
          side: r.side,
          order_status: r.order_status,
          price: r.price,
          order_qty: r.order_qty,
          cum_qty: r.cum_qty,
          leaves_qty: r.leaves_qty,
          cum_notional: r.cum_notional,
          last_exec_id: r.exec_id,
        });
      }
      // Fills: every TRADE report is a fill of the read model, with the same log index.
      const trades = reports
        .filter((r) => r.exec_type === 'TRADE')
        .map((r) => ({
          exec_id: r.exec_id,
          order_id: r.order_id,
          trade_id: r.trade_id,
          last_qty: r.last_qty,
          last_px: r.last_px,
          log_index: r.log_index,
        }));
      const fills = live.model.fillsOf(account).fills.map((f) => ({
        exec_id: f.exec_id,
        order_id: f.order_id,
        trade_id: f.trade_id,
        last_qty: f.last_qty,
        last_px: f.last_px,
        log_index: f.log_index,
      }));
      expect(fills).toEqual(trades);
    }
  });
});
