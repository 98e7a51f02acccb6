// Wide notionals exact through the gateway (issue 19, part "gw"), over real sockets: one replica
// and the real gateway with its REST, gRPC and user-stream servers (test/fuzz/harness.ts) on a
// wide BTC-USD — priceDecimals 2, qtyDecimals 8, up to 1,000 BTC (100_000_000_000) at up to
// 1,000,000.00 USD (100_000_000), so maxPrice × maxQty = 1e19 > 2^53 — where a fill's
// cum_notional is above 2^53:
//   - the gateway accepts the shard config (it refused it before);
//   - the REST reply, the gRPC unary reply and an OrderSession reply carry cum_notional exactly
//     (the REST text holds the integer literal; the gRPC uint64 decodes to the same bigint), with
//     cum_notional_decimal (10 decimals: price 2 + quantity 8) and avg_px exact;
//   - the maker's report on the private user stream is exact too; GetOrder answers on both edges;
//   - every report's HMAC verifies with verifyReportLines and `matchbook verify-reports`;
//   - decimal strings in (price_decimal, quantity_decimal) come back the same in the reports;
//   - a notional risk limit above 2^53, written as a digit string, is enforced exactly, and the
//     reject names the exact product;
//   - the gateway's order view reads the notional back exactly; `matchbook place` prints every digit.
// On the code before this part every test fails: the gateway refused the config at startup (and
// with only that refusal lifted, REST and gRPC answered INTERNAL, the user stream sent nothing).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { jsonParseExact, jsonStringifyExact } from '../../api/json-exact.js';
import { canonicalReport } from '../../api/report-canonical.js';
import { verifyReportLines } from '../../api/report-verify.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, hmacSign, signRequest } from '../../api/signing.js';
import { main } from '../../cli/matchbook.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { OrderEntryGrpcClient, OrderEntryError } from '../../gateway/client/grpc-client.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import type { OrderView } from '../../gateway/order-view.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import { KEY1, KEY2, startInProcessExchange, waitFor, type InProcessExchange } from '../fuzz/harness.js';

const KEY3 = { key: 'wide-key-3', hmacSecret: 'wide-secret-3' };
/** Account 3's notional limit: above 2^53, so written as a digit string in the config. */
const LIMIT3 = 9_999_999_899_900_000_000n;
/** Generous: a loaded 2-core machine with other suites running. */
const WAIT_MS = 60_000;
/** 1,000 BTC in satoshis; 1,000,000.00 and 999,999.99 USD in cents. */
const QTY_1000_BTC = 100_000_000_000;
const PX_1M = 100_000_000;
const PX_1M_LESS_1C = 99_999_999;
/** Every wide fill below passes 2^53 (so it is a bigint at the edges). */
const BIG = BigInt(Number.MAX_SAFE_INTEGER);

const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-wide-notional-'));
let ex: InProcessExchange;
let rest1: OrderEntryRestClient;
let grpc1: OrderEntryGrpcClient;
let grpc2: OrderEntryGrpcClient;
let n = 0;
const cid = (p: string) => `wide-${p}-${++n}`;
/** Every report account 2 received, in order, as JSON lines (for the signature checks). */
const lines2: string[] = [];

function writeWideShard(): string {
  const shard = JSON.parse(readFileSync(path.join(REPO_ROOT, 'engine/examples/instruments.json'), 'utf8'));
  // No price band: the prices here are far from the example's reference price.
  Object.assign(shard.instruments[0], {
    maxQty: QTY_1000_BTC,
    maxPrice: PX_1M,
    qtyDecimals: 8,
    priceBandTicks: 0,
  });
  shard.accounts.push({ id: 3, stp: 'EXPIRE_TAKER' });
  const file = path.join(dir, 'wide-shard.json');
  writeFileSync(file, JSON.stringify(shard));
  return file;
}

const risk = (maxNotional: string) => ({
  maxOrderQty: QTY_1000_BTC,
  maxNotional,
  maxOpenOrders: 1_000,
  ratePerSec: 1_000_000,
  burst: 1_000_000,
});

beforeAll(async () => {
  ex = await startInProcessExchange({
    shardConfigPath: writeWideShard(),
    userStream: true,
    accounts: [
      { account: 1, apiKeys: [KEY1], risk: risk('100000000000000000000') },
      { account: 2, apiKeys: [KEY2], risk: risk('100000000000000000000') },
      { account: 3, apiKeys: [KEY3], risk: risk(String(LIMIT3)) },
    ],
  });
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: KEY1 });
  grpc1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY1 });
  grpc2 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY2 });
}, 120_000);

afterAll(async () => {
  stream?.destroy();
  grpc1?.close();
  grpc2?.close();
  await ex?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A signed REST request: the status and the reply's text exactly as the gateway wrote it. */
async function restText(
  key: typeof KEY1,
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const bytes = body === undefined ? new Uint8Array(0) : Buffer.from(JSON.stringify(body), 'utf8');
  const a = signRequest(key, `${method} ${p}`, bytes);
  const res = await fetch(`${ex.restUrl}${p}`, {
    method,
    headers: {
      'content-type': 'application/json',
      [HEADER_API_KEY]: a.apiKey,
      [HEADER_TIMESTAMP]: a.timestamp,
      [HEADER_SIGNATURE]: a.signature,
    },
    ...(bytes.length > 0 ? { body: bytes } : {}),
  });
  return { status: res.status, text: await res.text() };
}

const order = (side: 'BUY' | 'SELL', price: number, quantity: number, extra: Record<string, unknown> = {}) => ({
  client_order_id: cid(side),
  symbol: 'BTC-USD',
  side,
  order_type: 'LIMIT',
  price,
  quantity,
  ...extra,
});

function tradeOf(reports: ExecutionReportOut[]): ExecutionReportOut {
  const t = reports.find((r) => r.exec_type === 'TRADE');
  expect(t, 'a TRADE report').toBeDefined();
  return t!;
}

function keep2(reports: ExecutionReportOut[]): void {
  for (const r of reports) lines2.push(jsonStringifyExact(r));
}

// The private user stream of account 1 (the maker of every fill), raw texts kept.
let stream: WsConnection | undefined;
const streamTexts: string[] = [];
const streamReports = (): ExecutionReportOut[] =>
  streamTexts
    .map((t) => jsonParseExact(t) as { type: string; report?: ExecutionReportOut })
    .filter((m) => m.type === 'report')
    .map((m) => m.report!);

describe('a wide instrument through the gateway', () => {
  it('the user stream of the maker is open (logged in)', async () => {
    stream = await WsConnection.connect(`${ex.restUrl.replace(/^http/, 'ws')}/v1/user-stream`, {
      onMessage: (d) => void streamTexts.push(d.toString('utf8')),
      onClose: () => undefined,
    });
    const a = signRequest(KEY1, 'GET /v1/user-stream', new Uint8Array(0));
    stream.send(JSON.stringify({ op: 'login', api_key: a.apiKey, timestamp: a.timestamp, signature: a.signature }));
    await waitFor('the login', () => streamTexts.some((t) => t.includes('"type":"login"')), WAIT_MS, 25);
  });

  it('REST: 1,000 BTC at 999,999.99 USD, cum_notional 9999999900000000000 exactly, decimals in and out', async () => {
    // The maker sells with decimal strings; they come back the same.
    const sell = await restText(KEY1, 'POST', '/v1/orders', {
      client_order_id: cid('rest-sell'),
      symbol: 'BTC-USD',
      side: 'SELL',
      order_type: 'LIMIT',
      price_decimal: '999999.99',
      quantity_decimal: '1000.00000000',
    });
    expect(sell.status, sell.text).toBe(201);
    const made = (jsonParseExact(sell.text) as { result: { reports: ExecutionReportOut[] } }).result.reports[0]!;
    expect(made).toMatchObject({
      exec_type: 'NEW',
      price: PX_1M_LESS_1C,
      order_qty: QTY_1000_BTC,
      price_decimal: '999999.99',
      order_qty_decimal: '1000.00000000',
      cum_notional: 0,
      cum_notional_decimal: '0.0000000000',
    });
    const buy = await restText(KEY2, 'POST', '/v1/orders', order('BUY', PX_1M, QTY_1000_BTC));
    expect(buy.status, buy.text).toBe(201);
    // The wire holds the exact integer literal (JSON.parse would read it as a double).
    expect(buy.text).toContain('"cum_notional":9999999900000000000,');
    const reports = (jsonParseExact(buy.text) as { result: { reports: ExecutionReportOut[] } }).result.reports;
    keep2(reports);
    const t = tradeOf(reports);
    expect(t).toMatchObject({
      order_status: 'FILLED',
      last_px: PX_1M_LESS_1C,
      last_qty: QTY_1000_BTC,
      cum_qty: QTY_1000_BTC,
      cum_notional: 9_999_999_900_000_000_000n,
      cum_notional_decimal: '999999990.0000000000',
      avg_px: '99999999.00000000',
      avg_px_decimal: '999999.9900000000',
      last_px_decimal: '999999.99',
      cum_qty_decimal: '1000.00000000',
    });
    // GetOrder of the filled maker order, on both edges.
    const viaRest = await rest1.getOrder(made.order_id);
    expect(viaRest.status).toBe(200);
    const viaGrpc = await grpc1.getOrder({ order_id: made.order_id } as never);
    for (const o of [(viaRest.body as unknown as { order: unknown }).order, viaGrpc.order as unknown])
      expect(o).toMatchObject({
        order_status: 'FILLED',
        order_qty: QTY_1000_BTC,
        cum_qty: QTY_1000_BTC,
        leaves_qty: 0,
        price_decimal: '999999.99',
        order_qty_decimal: '1000.00000000',
        cum_qty_decimal: '1000.00000000',
      });
  });

  it('gRPC unary: a notional that no double holds (9999999899900000001) comes back as that bigint', async () => {
    const qty = QTY_1000_BTC - 1; // 999.99999999 BTC
    await grpc1.placeOrder(order('SELL', PX_1M_LESS_1C, qty) as never);
    const r = await grpc2.placeOrder(order('BUY', PX_1M, qty) as never);
    keep2(r.result.reports);
    const t = tradeOf(r.result.reports);
    const expected = BigInt(qty) * BigInt(PX_1M_LESS_1C);
    expect(expected).toBe(9_999_999_899_900_000_001n);
    expect(BigInt(Number(expected))).not.toBe(expected); // no double holds it: a rounded value would show
    expect(t.cum_notional).toBe(expected);
    // The gateway's order view (GetOrder's memory, kept as JSON text) reads it back exactly too.
    const view = (ex.gateway as unknown as { view: OrderView }).view;
    expect(view.get(t.order_id)!.report.cum_notional).toBe(expected);
    expect(t).toMatchObject({
      cum_qty: qty,
      cum_notional_decimal: '999999989.9900000001',
      avg_px: '99999999.00000000',
      avg_px_decimal: '999999.9900000000',
    });
  });

  it('OrderSession: decimal strings in and out, 1,000 BTC at 1,000,000.00 USD, cum_notional 1e19', async () => {
    const s1 = grpc1.openSession({});
    const s2 = grpc2.openSession({});
    try {
      await s1.ready;
      await s2.ready;
      const dec = { price_decimal: '1000000.00', quantity_decimal: '1000.00000000' };
      const made = await s1.send({
        request_id: 1,
        commands: [
          { place: { client_order_id: cid('s'), symbol: 'BTC-USD', side: 'SELL', order_type: 'LIMIT', ...dec } },
        ],
      });
      expect(made.outcomes[0]!.result!.reports[0]).toMatchObject({
        price_decimal: '1000000.00',
        order_qty_decimal: '1000.00000000',
      });
      const took = await s2.send({
        request_id: 1,
        commands: [
          { place: { client_order_id: cid('b'), symbol: 'BTC-USD', side: 'BUY', order_type: 'LIMIT', ...dec } },
        ],
      });
      const reports = took.outcomes[0]!.result!.reports as ExecutionReportOut[];
      keep2(reports);
      expect(tradeOf(reports)).toMatchObject({
        price: PX_1M,
        price_decimal: '1000000.00',
        order_qty_decimal: '1000.00000000',
        cum_notional: 10_000_000_000_000_000_000n,
        cum_notional_decimal: '1000000000.0000000000',
        avg_px: '100000000.00000000',
        avg_px_decimal: '1000000.0000000000',
      });
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  it("the maker's user stream carries its three wide fills exactly, HMAC-signed", async () => {
    await waitFor(
      'three maker fills on the user stream',
      () => streamReports().filter((r) => r.exec_type === 'TRADE').length >= 3,
      WAIT_MS,
      25,
    );
    expect(streamTexts.some((t) => t.includes('"cum_notional":9999999900000000000,'))).toBe(true);
    const fills = streamReports().filter((r) => r.exec_type === 'TRADE');
    expect(fills.map((r) => r.cum_notional)).toEqual([
      9_999_999_900_000_000_000n,
      9_999_999_899_900_000_001n,
      10_000_000_000_000_000_000n,
    ]);
    for (const r of fills) expect(typeof r.cum_notional === 'bigint' && r.cum_notional > BIG).toBe(true);
    // The stream's reports are HMAC-signed like replies (not chained: chain_seq stays on the replies).
    for (const r of streamReports()) expect(r.signature).toBe(hmacSign(KEY1.hmacSecret, canonicalReport(r)));
  });

  it("account 2's reports from REST, gRPC and the session verify: verifyReportLines and `matchbook verify-reports`", async () => {
    expect(lines2.length).toBeGreaterThanOrEqual(6);
    const v = verifyReportLines(lines2, { hmacSecret: KEY2.hmacSecret });
    expect(v.failures).toEqual([]);
    expect(v).toMatchObject({ ok: true, reports: lines2.length, hmacChecked: lines2.length });
    // One digit off in a wide cum_notional fails the HMAC.
    const altered = lines2.map((l) =>
      l.replace('"cum_notional":9999999900000000000,', '"cum_notional":9999999900000000001,'),
    );
    expect(altered).not.toEqual(lines2);
    expect(verifyReportLines(altered, { hmacSecret: KEY2.hmacSecret }).ok).toBe(false);
    const file = path.join(dir, 'reports-2.jsonl');
    writeFileSync(file, `${lines2.join('\n')}\n`);
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((x: unknown) => void printed.push(String(x)));
    const err = vi.spyOn(console, 'error').mockImplementation((x: unknown) => void printed.push(String(x)));
    try {
      expect(await main(['verify-reports', file, '--secret', KEY2.hmacSecret]), printed.join('\n')).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });

  it('a maxNotional above 2^53 (a digit string) is enforced exactly; the reject names the exact product', async () => {
    // Account 3's limit is one below (1e11 − 1) × (1e8 − 1) = 9999999899900000001, the same
    // double as that product: only an exact comparison refuses this order.
    const qty = QTY_1000_BTC - 1;
    expect(qty * PX_1M_LESS_1C > Number(LIMIT3)).toBe(false); // what a double comparison would say
    const over = await restText(KEY3, 'POST', '/v1/orders', order('BUY', PX_1M_LESS_1C, qty));
    expect(over.status, over.text).toBe(403);
    expect(jsonParseExact(over.text)).toMatchObject({
      code: 'RISK_MAX_NOTIONAL',
      message: "notional 9999999899900000001 over the account's maximum 9999999899900000000",
    });
    const g3 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY3 });
    try {
      const rej = await g3.placeOrder(order('BUY', PX_1M_LESS_1C, qty) as never).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(rej).toBeInstanceOf(OrderEntryError);
      expect((rej as OrderEntryError).message).toContain(
        "notional 9999999899900000001 over the account's maximum 9999999899900000000",
      );
      // One cent lower is under the limit: it passes risk (IOC, nothing to match: it expires).
      const under = await g3.placeOrder(order('BUY', PX_1M_LESS_1C - 1, qty, { time_in_force: 'IOC' }) as never);
      expect(under.result.reports.at(-1)).toMatchObject({ order_status: 'EXPIRED', cum_notional: 0 });
    } finally {
      g3.close();
    }
  });

  it('`matchbook place` prints the wide fill with every digit of cum_notional', async () => {
    await rest1.placeOrder(order('SELL', PX_1M_LESS_1C, QTY_1000_BTC - 1));
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((x: unknown) => void printed.push(String(x)));
    const err = vi.spyOn(console, 'error').mockImplementation((x: unknown) => void printed.push(String(x)));
    let code: number;
    try {
      code = await main([
        'place',
        '--symbol',
        'BTC-USD',
        '--side',
        'BUY',
        '--type',
        'LIMIT',
        '--price',
        '1000000.00',
        '--qty',
        '999.99999999',
        '--url',
        ex.restUrl,
        '--key',
        KEY2.key,
        '--secret',
        KEY2.hmacSecret,
      ]);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const text = printed.join('\n');
    expect(code, text).toBe(0);
    expect(text).toContain('"cum_notional": 9999999899900000001,');
    expect(text).toContain('"cum_notional_decimal": "999999989.9900000001"');
  });
});
