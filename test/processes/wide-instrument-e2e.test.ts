// Issue 19's wide-instrument scenario end to end: BTC-USD with 2 price decimals and 8 quantity
// decimals up to 1,000,000.00 USD × 1,000 BTC (maxPrice × maxQty = 1e19 units > 2^53), run as
// `npm start` runs it — three replica processes (fsync on), the gateway, the broker, the event
// publisher process and the query service — with orders in decimal strings over REST:
//   - account 1 offers 600 BTC at 999,999.97 and 400 BTC at 999,999.99; account 2 buys 1,000 BTC
//     at 1,000,000.00 and takes both (notional 9,999,999,780,000,000,000 units, 999,999,978 USD);
//   - then 3 satoshis against 1 at 999,999.99 and 2 at 999,999.98 (an AvgPx that is not a
//     finite decimal: rounded half to even at 8 decimals);
// and checks every figure against BigInt arithmetic: the reports (cum_notional above 2^53 as the
// exact JSON integer, its decimal string, AvgPx), the read models through the query API over
// REST and gRPC (orders, positions, balances), and, with everything stopped, that
// `matchbook replay --verify` reproduces every report the clients received byte for byte.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { jsonStringifyExact } from '../../api/json-exact.js';
import { runReplay } from '../../cli/audit-commands.js';
import type { LocalEvents } from '../../events/local-events.js';
import { QueryGrpcClient, QueryRestClient } from '../../events/query/client.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { REPO_ROOT, freePort } from '../../replicator/process-cluster.js';
import { runCli, tempDir } from '../audit/helpers.js';
import { startEventsOn, waitFor } from '../events/helpers.js';

const K1 = { key: 'wide-e2e-key-1', hmacSecret: 'wide-e2e-secret-1' };
const K2 = { key: 'wide-e2e-key-2', hmacSecret: 'wide-e2e-secret-2' };
/** 1,000 BTC in satoshis; 1,000,000.00 USD in cents. */
const MAX_QTY = 100_000_000_000;
const MAX_PRICE = 100_000_000;
const RISK = {
  maxOrderQty: MAX_QTY,
  maxNotional: '10000000000000000000', // 1e19 units: above 2^53, a digit string
  maxOpenOrders: 1_000,
  ratePerSec: 100_000,
  burst: 100_000,
};
/** Generous: a loaded 2-core machine. */
const WAIT_MS = 90_000;

/** The fills, as (price, qty) in units, of account 2's two buys. */
const BIG_FILLS: [bigint, bigint][] = [
  [99_999_997n, 60_000_000_000n],
  [99_999_999n, 40_000_000_000n],
];
const SMALL_FILLS: [bigint, bigint][] = [
  [99_999_998n, 2n],
  [99_999_999n, 1n],
];
const notionalOf = (fills: [bigint, bigint][]) => fills.reduce((s, [p, q]) => s + p * q, 0n);
const qtyOf = (fills: [bigint, bigint][]) => fills.reduce((s, [, q]) => s + q, 0n);

let root: string;
let data: string;
let gatewayConfig: string;
let ex: LocalExchange | undefined;
let events: LocalEvents | undefined;
const received: ExecutionReportOut[] = [];
/** The last report of each of account 2's buys. */
const buys: ExecutionReportOut[] = [];
let lastSeq = 0;

async function writeConfigs(): Promise<string> {
  const cfg = path.join(root, 'config');
  fs.mkdirSync(cfg, { recursive: true });
  const shard = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'engine/examples/instruments.json'), 'utf8'));
  // BTC-USD made wide; no price band (the prices here are far from the example's reference).
  Object.assign(shard.instruments[0], { maxQty: MAX_QTY, maxPrice: MAX_PRICE, qtyDecimals: 8, priceBandTicks: 0 });
  fs.writeFileSync(path.join(cfg, 'shard.json'), JSON.stringify(shard));
  const members = [];
  for (let id = 1; id <= 3; id++)
    members.push({ id, raft: `127.0.0.1:${await freePort()}`, client: `127.0.0.1:${await freePort()}` });
  fs.writeFileSync(
    path.join(cfg, 'cluster.json'),
    JSON.stringify({
      clusterId: 'wide-e2e',
      dataDir: '../data/cluster',
      shardConfig: 'shard.json',
      fsync: true,
      seed: 1,
      members,
      snapshotIntervalEntries: 4,
      timeTickMs: 0,
    }),
  );
  gatewayConfig = path.join(cfg, 'gateway.json');
  fs.writeFileSync(
    gatewayConfig,
    JSON.stringify({
      listen: { rest: `127.0.0.1:${await freePort()}`, grpc: `127.0.0.1:${await freePort()}` },
      shards: [{ id: 0, clusterConfig: 'cluster.json' }],
      accounts: [
        { account: 1, apiKeys: [K1], risk: RISK },
        { account: 2, apiKeys: [K2], risk: RISK },
      ],
      adminKeys: [],
      signingKey: '../data/gateway/exchange-ed25519.pem',
      dataDir: '../data/gateway',
      chainHeadEveryReports: 4,
      chainHeadEveryMs: 1000,
      workers: 1,
    }),
  );
  return path.join(cfg, 'cluster.json');
}

/** Places a limit order with decimal strings; keeps its reports (parsed exactly by the client). */
async function place(client: OrderEntryRestClient, side: string, price: string, quantity: string) {
  const r = await client.placeOrder({
    client_order_id: `w-${side}-${price}-${quantity}`,
    symbol: 'BTC-USD',
    side,
    order_type: 'LIMIT',
    price_decimal: price,
    quantity_decimal: quantity,
  });
  expect(
    r.status,
    JSON.stringify(r.body, (_, v) => (typeof v === 'bigint' ? String(v) : v)),
  ).toBe(201);
  const result = (r.body as unknown as { result: { seq: number; reports: ExecutionReportOut[] } }).result;
  received.push(...result.reports);
  lastSeq = Math.max(lastSeq, result.seq);
  return result.reports;
}

beforeAll(async () => {
  root = tempDir('wide-e2e');
  data = path.join(root, 'data');
  const clusterConfig = await writeConfigs();
  ex = await startLocalExchange({ clusterConfigPath: clusterConfig, gatewayConfigPath: gatewayConfig });
  events = await startEventsOn(clusterConfig, gatewayConfig, path.join(data, 'events'));
  const rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  const rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
  await place(rest1, 'SELL', '999999.97', '600.00000000');
  await place(rest1, 'SELL', '999999.99', '400');
  buys.push((await place(rest2, 'BUY', '1000000.00', '1000')).at(-1)!);
  await place(rest1, 'SELL', '999999.99', '0.00000001');
  await place(rest1, 'SELL', '999999.98', '0.00000002');
  buys.push((await place(rest2, 'BUY', '1000000', '0.00000003')).at(-1)!);
}, 240_000);

afterAll(async () => {
  await events?.stop();
  await ex?.stop();
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
}, 90_000);

describe('a wide instrument end to end (BTC-USD, 2 price and 8 quantity decimals, 1,000,000 USD × 1,000 BTC)', () => {
  it('the reports: cum_notional above 2^53 exact, its decimal string, AvgPx rounded half to even', () => {
    const [big, small] = buys;
    const bigNotional = notionalOf(BIG_FILLS); // 9,999,999,780,000,000,000
    expect(bigNotional).toBe(9_999_999_780_000_000_000n);
    expect(big).toMatchObject({
      exec_type: 'TRADE',
      order_status: 'FILLED',
      cum_qty: Number(qtyOf(BIG_FILLS)),
      cum_notional: bigNotional,
      cum_notional_decimal: '999999978.0000000000',
      avg_px: '99999997.80000000',
      avg_px_decimal: '999999.9780000000',
      cum_qty_decimal: '1000.00000000',
    });
    // 3 satoshis for 299,999,995 units: 99,999,998.333… → 8 decimals.
    expect(small).toMatchObject({
      order_status: 'FILLED',
      cum_notional: Number(notionalOf(SMALL_FILLS)),
      avg_px: '99999998.33333333',
      avg_px_decimal: '999999.9833333333',
    });
    // Every report with a notional above 2^53 carries it as a bigint (the exact JSON integer).
    for (const r of received)
      if (typeof r.cum_notional !== 'number') expect(r.cum_notional > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(received.some((r) => typeof r.cum_notional === 'bigint')).toBe(true);
  });

  it('the read models (query API over REST and gRPC): orders, positions and balances exact', async () => {
    const q2 = new QueryRestClient(`http://${events!.queryRest}`, K2);
    const g2 = new QueryGrpcClient(events!.queryGrpc, K2);
    const q1 = new QueryRestClient(`http://${events!.queryRest}`, K1);
    try {
      // The read models reach the last command (read-your-writes: min_seq), however long the
      // publisher takes on a loaded machine.
      let orders = await q2.get(`/v1/accounts/2/orders?state=all&min_seq=${lastSeq}&wait_ms=5000`);
      await waitFor(
        async () => {
          orders = await q2.get(`/v1/accounts/2/orders?state=all&min_seq=${lastSeq}&wait_ms=5000`);
          return orders.status === 200;
        },
        'the read models at the last command',
        WAIT_MS,
        200,
      );
      const bigOrder = (orders.body.orders as { order_id: number; cum_notional: unknown }[]).find(
        (o) => o.order_id === buys[0]!.order_id,
      );
      expect(bigOrder).toMatchObject({
        cum_notional: notionalOf(BIG_FILLS),
        cum_notional_decimal: '999999978.0000000000',
      });
      const grpcOrders = await g2.call('GetOrders', { account: 2, filter: 'ORDER_FILTER_ALL' });
      expect((grpcOrders.orders as { order_id: number }[]).find((o) => o.order_id === buys[0]!.order_id)).toMatchObject(
        {
          cum_notional: notionalOf(BIG_FILLS),
          avg_px: '99999997.80000000',
        },
      );

      const notional = notionalOf(BIG_FILLS) + notionalOf(SMALL_FILLS); // 9,999,999,780,299,999,995
      const qty = qtyOf(BIG_FILLS) + qtyOf(SMALL_FILLS);
      const pos2 = await q2.get('/v1/accounts/2/positions');
      expect(pos2.body.positions).toEqual([
        expect.objectContaining({
          symbol: 'BTC-USD',
          position_qty: Number(qty),
          buy_notional: String(notional),
          cash: String(-notional),
        }),
      ]);
      expect(pos2.body.balances).toEqual([
        { currency: 'USD', cash: String(-notional), cash_decimal: '-999999978.0299999995' },
      ]);
      const gpos2 = await g2.call('GetPositions', { account: 2 });
      expect(gpos2.balances).toEqual(pos2.body.balances);
      const pos1 = await q1.get(`/v1/accounts/1/positions?min_seq=${lastSeq}&wait_ms=5000`);
      expect(pos1.body.positions).toEqual([
        expect.objectContaining({
          position_qty: -Number(qty),
          sell_notional: String(notional),
          cash: String(notional),
        }),
      ]);
    } finally {
      g2.close();
    }
  }, 120_000);

  it('with everything stopped, replay --verify reproduces every received report byte for byte', async () => {
    await events?.stop();
    events = undefined;
    await ex?.stop();
    ex = undefined;
    const file = path.join(root, 'received.jsonl');
    fs.writeFileSync(file, received.map((r) => jsonStringifyExact(r)).join('\n'));
    await waitFor(() => fs.existsSync(path.join(data, 'gateway', 'chain-heads.jsonl')), 'chain heads', WAIT_MS, 200);
    const r = await runCli(runReplay, ['--data-dir', data, '--config', gatewayConfig, '--verify', '--reports', file]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toContain(`${received.length} client reports compared`);
    const chain = (r.last as { chain: { reportsCovered: number; reportsNotChecked: number } }).chain;
    expect(chain.reportsCovered).toBe(received.length);
    expect(chain.reportsNotChecked).toBe(0);
  }, 180_000);
});
