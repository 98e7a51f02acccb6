// What an execution report says, over real sockets: three replica processes, the gateway (REST
// and gRPC), and the events side as child processes (embedded broker, publisher, query
// service). Checked end to end:
//   - a canceled unfilled order keeps order_qty (cum_qty 0, leaves_qty 0) in the gateway's
//     report, in its Kafka ExecutionReportEvent and in the query API (REST and gRPC);
//   - avg_px (exact decimal string) and last_liquidity_ind on fills: the taker's over REST and
//     gRPC (REMOVED_LIQUIDITY), the maker's pushed to its gRPC session (ADDED_LIQUIDITY), and the
//     same on Kafka and in the query API's orders and fills;
//   - GetOrder of a GTC order says GTC over REST and gRPC, live and after it is canceled;
//   - `npx matchbook verify-reports` accepts the reports as received with the gateway's signed
//     heads and public key, and rejects the file with one byte changed, naming the report.
// Every wait polls with a generous bound; nothing depends on timing.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { EventsCodec, type ExecRecord } from '../../events/codec.js';
import { kafkaClient } from '../../events/kafka.js';
import type { LocalEvents } from '../../events/local-events.js';
import { QueryGrpcClient, QueryRestClient } from '../../events/query/client.js';
import { TOPIC_FILLS, TOPIC_ORDERS } from '../../events/topics.js';
import { OrderEntryGrpcClient, type OrderSessionHandle } from '../../gateway/client/grpc-client.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { NO_LOG } from '../../ops/log.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { startEventsOn, waitFor } from '../events/helpers.js';
import { until } from '../feed/harness.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
/** Bound on every wait (ms): generous for a loaded 2-core machine. */
const WAIT_MS = 90_000;
const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

let ex: LocalExchange;
let events: LocalEvents;
let dir: string;
let rest1: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
let grpc1: OrderEntryGrpcClient;
let grpc2: OrderEntryGrpcClient;
let session1: OrderSessionHandle;
/** Every report received, from every reply and push (the gateway chains exactly these). */
const received: ExecutionReportOut[] = [];
const kafka: { topic: string; rec: ExecRecord }[] = [];
let stopKafka: (() => Promise<void>) | undefined;

type Reply = { result: { reports: ExecutionReportOut[] } };
const reportsOf = (body: unknown): ExecutionReportOut[] => (body as Reply).result.reports;
const keep = (rs: ExecutionReportOut[]): ExecutionReportOut[] => {
  received.push(...rs);
  return rs;
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-report-fields-'));
  ex = await startLocalExchange({ gatewayOverrides: { chainHeadEveryMs: 100 } });
  events = await startEventsOn(ex.cluster.configPath, ex.gatewayConfigPath, dir);
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
  grpc1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K1 });
  grpc2 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K2 });
  session1 = grpc1.openSession({});
  session1.onReports((rs) => keep(rs));
  await session1.ready;
  stopKafka = await consumeKafka(events.brokers);
}, 180_000);

afterAll(async () => {
  await stopKafka?.();
  await session1?.close().catch(() => undefined);
  grpc1?.close();
  grpc2?.close();
  await events?.stop();
  await ex?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 90_000);

/** Reads exchange.orders.v1 and exchange.fills.v1 from the beginning into `kafka`. */
async function consumeKafka(brokers: string): Promise<() => Promise<void>> {
  const codec = EventsCodec.get();
  const consumer = kafkaClient([brokers], 'report-fields-test', NO_LOG).consumer({
    groupId: `report-fields-${process.pid}-${Date.now()}`,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC_ORDERS, TOPIC_FILLS], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      if (message.value !== null) kafka.push({ topic, rec: codec.decodeExec(message.value) });
    },
  });
  return () => consumer.disconnect();
}

const limit = (side: string, price: number, quantity: number, extra: Record<string, unknown> = {}) => ({
  client_order_id: `rf-${side}-${price}-${quantity}-${received.length}`,
  symbol: 'BTC-USD',
  side,
  order_type: 'LIMIT',
  price,
  quantity,
  ...extra,
});

let canceledId = 0;
let takerGrpcId = 0;

describe('execution report fields over real sockets', () => {
  it('a canceled unfilled order keeps order_qty; GetOrder of a GTC order says GTC over REST and gRPC, live and canceled', async () => {
    const placed = await rest1.placeOrder(limit('BUY', 4_990_000, 10, { time_in_force: 'GTC' }));
    expect(placed.status).toBe(201);
    const [ack] = keep(reportsOf(placed.body));
    expect(ack).toMatchObject({ exec_type: 'NEW', order_qty: 10, time_in_force: 'GTC', avg_px: '0.00000000' });
    canceledId = ack!.order_id;
    // A limit order sent without a time in force is GTC too (the engine's default).
    const dflt = await rest1.placeOrder(limit('BUY', 4_980_000, 5));
    expect(keep(reportsOf(dflt.body))[0]).toMatchObject({ time_in_force: 'GTC' });
    const dfltId = reportsOf(dflt.body)[0]!.order_id;

    for (const id of [canceledId, dfltId]) {
      const viaRest = await rest1.getOrder(id);
      expect(viaRest.status).toBe(200);
      expect((viaRest.body as unknown as { order: Record<string, unknown> }).order).toMatchObject({
        order_id: id,
        order_status: 'NEW',
        time_in_force: 'GTC',
      });
      const viaGrpc = await grpc1.getOrder({ order_id: id });
      expect(viaGrpc.order).toMatchObject({ order_id: id, time_in_force: 'GTC' });
    }

    const canceled = await rest1.cancelOrder(canceledId);
    expect(canceled.status).toBe(200);
    expect(keep(reportsOf(canceled.body))[0]).toMatchObject({
      exec_type: 'CANCELED',
      order_status: 'CANCELED',
      order_qty: 10,
      cum_qty: 0,
      leaves_qty: 0,
      time_in_force: 'GTC',
      last_liquidity_ind: '',
    });
    // Not live any more: GetOrder answers from the last report the gateway saw.
    const after = await rest1.getOrder(canceledId);
    expect((after.body as unknown as { order: Record<string, unknown> }).order).toMatchObject({
      order_status: 'CANCELED',
      order_qty: 10,
      time_in_force: 'GTC',
    });
    expect((await grpc1.getOrder({ order_id: canceledId })).order).toMatchObject({
      order_status: 'CANCELED',
      time_in_force: 'GTC',
    });
    const gone = await rest1.cancelOrder(dfltId);
    keep(reportsOf(gone.body));
  });

  it('fills carry avg_px (exact) and last_liquidity_ind: taker over gRPC and REST, maker pushed to its session', async () => {
    // Account 1 rests 2 @ 5_000_000 and 1 @ 5_000_100 (REST); account 2 takes 3 over gRPC.
    keep(reportsOf((await rest1.placeOrder(limit('SELL', 5_000_000, 2))).body));
    keep(reportsOf((await rest1.placeOrder(limit('SELL', 5_000_100, 1))).body));
    const pushedBefore = received.filter((r) => r.account === 1 && r.exec_type === 'TRADE').length;
    const taken = await grpc2.placeOrder(limit('BUY', 5_000_100, 3, { time_in_force: 'IOC' }));
    const takerReports = keep(taken.result.reports);
    takerGrpcId = takerReports[0]!.order_id;
    const fills = takerReports.filter((r) => r.exec_type === 'TRADE');
    expect(fills.map((r) => [r.last_px, r.cum_qty, r.avg_px, r.last_liquidity_ind])).toEqual([
      [5_000_000, 2, '5000000.00000000', 'REMOVED_LIQUIDITY'],
      [5_000_100, 3, '5000033.33333333', 'REMOVED_LIQUIDITY'],
    ]);
    expect(takerReports.at(-1)).toMatchObject({ order_status: 'FILLED', time_in_force: 'IOC' });
    // Not a fill: the zero value (gRPC leaves it out; this client decodes it as UNSPECIFIED).
    for (const r of takerReports.filter((x) => x.exec_type !== 'TRADE'))
      expect(['', 'UNSPECIFIED']).toContain(r.last_liquidity_ind);

    await until(
      'the maker fills pushed to account 1',
      () => received.filter((r) => r.account === 1 && r.exec_type === 'TRADE').length >= pushedBefore + 2,
      WAIT_MS,
    );
    const makerFills = received.filter((r) => r.account === 1 && r.exec_type === 'TRADE');
    expect(makerFills.map((r) => [r.last_px, r.avg_px, r.last_liquidity_ind])).toEqual([
      [5_000_000, '5000000.00000000', 'ADDED_LIQUIDITY'],
      [5_000_100, '5000100.00000000', 'ADDED_LIQUIDITY'],
    ]);

    // A taker over REST: account 2 takes 1 of account 1's 4 @ 5_000_200.
    keep(reportsOf((await rest1.placeOrder(limit('SELL', 5_000_200, 4))).body));
    const restTaker = keep(reportsOf((await rest2.placeOrder(limit('BUY', 5_000_200, 1))).body));
    expect(restTaker.find((r) => r.exec_type === 'TRADE')).toMatchObject({
      last_liquidity_ind: 'REMOVED_LIQUIDITY',
      avg_px: '5000200.00000000',
      order_status: 'FILLED',
    });
    await until(
      'the third maker fill pushed to account 1',
      () => received.filter((r) => r.account === 1 && r.exec_type === 'TRADE').length >= pushedBefore + 3,
      WAIT_MS,
    );
  });

  it('Kafka carries order_qty on the cancel, avg_px and last_liquidity_ind on fills', async () => {
    await until(
      'the cancel and the fills on Kafka',
      () =>
        kafka.some((k) => k.topic === TOPIC_ORDERS && k.rec.order_id === canceledId && k.rec.exec_type === 3) &&
        kafka.filter((k) => k.topic === TOPIC_FILLS).length >= 6,
      WAIT_MS,
    );
    const cancel = kafka.find((k) => k.rec.order_id === canceledId && k.rec.exec_type === 3)!.rec;
    expect(cancel).toMatchObject({ order_qty: 10, cum_qty: 0, leaves_qty: 0, time_in_force: 1, avg_px: '0.00000000' });
    const fills = kafka.filter((k) => k.topic === TOPIC_FILLS).map((k) => k.rec);
    const taker = fills.filter((f) => f.order_id === takerGrpcId);
    expect(taker.map((f) => [f.avg_px, f.last_liquidity_ind])).toEqual([
      ['5000000.00000000', 2],
      ['5000033.33333333', 2],
    ]);
    const maker = fills.filter((f) => f.account === 1);
    expect(maker.map((f) => f.last_liquidity_ind)).toEqual([1, 1, 1]);
  });

  it('the query API (REST and gRPC) shows order_qty, time_in_force, avg_px and last_liquidity_ind', async () => {
    const qRest1 = new QueryRestClient(`http://${events.queryRest}`, K1);
    const qGrpc1 = new QueryGrpcClient(events.queryGrpc, K1);
    const qRest2 = new QueryRestClient(`http://${events.queryRest}`, K2);
    try {
      let row: Record<string, unknown> | undefined;
      await waitFor(
        async () => {
          const r = await qRest1.get(`/v1/orders/${canceledId}`);
          row = (r.body as { order?: Record<string, unknown> }).order;
          return row?.order_status === 'CANCELED';
        },
        'the canceled order in the read models',
        WAIT_MS,
        100,
      );
      expect(row).toMatchObject({
        order_qty: 10,
        cum_qty: 0,
        leaves_qty: 0,
        time_in_force: 'GTC',
        avg_px: '0.00000000',
      });
      const g = await qGrpc1.call('GetOrder', { order_id: canceledId });
      const gOrder = (g as { order: Record<string, unknown> }).order;
      expect(gOrder).toMatchObject({
        order_qty: 10,
        time_in_force: 'GTC',
        order_status: 'CANCELED',
      });

      let taker: Record<string, unknown> | undefined;
      await waitFor(
        async () => {
          taker = ((await qRest2.get(`/v1/orders/${takerGrpcId}`)).body as { order?: Record<string, unknown> }).order;
          return taker?.order_status === 'FILLED';
        },
        'the gRPC taker order filled in the read models',
        WAIT_MS,
        100,
      );
      expect(taker).toMatchObject({ avg_px: '5000033.33333333', time_in_force: 'IOC', cum_qty: 3 });

      await waitFor(
        async () => {
          const f1 = (await qRest1.get('/v1/accounts/1/fills')).body as { fills?: unknown[] };
          const f2 = (await qRest2.get('/v1/accounts/2/fills')).body as { fills?: unknown[] };
          return (f1.fills?.length ?? 0) >= 3 && (f2.fills?.length ?? 0) >= 3;
        },
        'the fills of both accounts in the read models',
        WAIT_MS,
        100,
      );
      const f1 = ((await qRest1.get('/v1/accounts/1/fills')).body as { fills: Record<string, unknown>[] }).fills;
      const f2 = ((await qRest2.get('/v1/accounts/2/fills')).body as { fills: Record<string, unknown>[] }).fills;
      expect(f1.map((f) => f.last_liquidity_ind)).toEqual(['ADDED_LIQUIDITY', 'ADDED_LIQUIDITY', 'ADDED_LIQUIDITY']);
      expect(f2.map((f) => f.last_liquidity_ind)).toEqual([
        'REMOVED_LIQUIDITY',
        'REMOVED_LIQUIDITY',
        'REMOVED_LIQUIDITY',
      ]);
      const gf = (await qGrpc1.call('GetFills', { account: 1 })) as { fills: Record<string, unknown>[] };
      expect(gf.fills.map((f) => f.last_liquidity_ind)).toEqual(Array(3).fill('ADDED_LIQUIDITY'));
    } finally {
      qGrpc1.close();
    }
  });

  it('npx matchbook verify-reports accepts the reports as received and names the one with a changed byte', async () => {
    const last = Math.max(...received.map((r) => r.chain_seq));
    const headsFile = path.join(ex.config.dataDir, 'chain-heads.jsonl');
    await until(
      `a signed head at chain_seq ${last}`,
      () =>
        existsSync(headsFile) &&
        readFileSync(headsFile, 'utf8')
          .split('\n')
          .some((l) => l !== '' && (JSON.parse(l) as { chain_seq: number }).chain_seq >= last),
      WAIT_MS,
    );
    // Every report this gateway sent is here (no other client): the whole run links from genesis.
    const all = [...received].sort((a, b) => a.chain_seq - b.chain_seq);
    expect(all.map((r) => r.chain_seq)).toEqual(all.map((_, k) => k + 1));
    const file = path.join(dir, 'received.jsonl');
    writeFileSync(file, `${all.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const key = `${ex.config.signingKeyPath}.pub`;
    const run = (args: string[]) =>
      spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/matchbook.mjs'), 'verify-reports', ...args], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
    const ok = run([file, '--heads', headsFile, '--public-key', key]);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`OK: ${all.length} reports, .*${all.length} chain links checked`));
    expect(ok.stdout).toMatch(/[1-9]\d* head signatures verified/);

    // Account 1's reports alone (gaps where account 2's were sent), with its API secret.
    const mine = path.join(dir, 'account-1.jsonl');
    writeFileSync(
      mine,
      `${all
        .filter((r) => r.account === 1)
        .map((r) => JSON.stringify(r))
        .join('\n')}\n`,
    );
    const withSecret = run([mine, '--heads', headsFile, '--public-key', key, '--secret', K1.hmacSecret]);
    expect(withSecret.status, withSecret.stdout + withSecret.stderr).toBe(0);
    expect(withSecret.stdout).toContain(`${all.filter((r) => r.account === 1).length} HMAC signatures checked`);

    // One byte changed: the canceled order's order_qty 10 → 11.
    const k = all.findIndex((r) => r.order_id === canceledId && r.exec_type === 'CANCELED');
    const lines = readFileSync(file, 'utf8').split('\n');
    const flipped = lines[k]!.replace('"order_qty":10,', '"order_qty":11,');
    expect(flipped).not.toBe(lines[k]);
    lines[k] = flipped;
    const badFile = path.join(dir, 'received-flipped.jsonl');
    writeFileSync(badFile, lines.join('\n'));
    const bad = run([badFile, '--heads', headsFile, '--public-key', key]);
    expect(bad.status, bad.stdout + bad.stderr).toBe(1);
    expect(bad.stderr).toContain(`${badFile}:${k + 1} (exec_id ${all[k]!.exec_id})`);
  });
});
