// Public market data end to end over real sockets: three replica processes with feeds, the
// gateway, and the events side as child processes (embedded broker, publisher, query service).
// After orders that trade, the query process's /v1/market/* routes answer WITHOUT any auth
// header, with exactly the trades, candles and 24-hour ticker the fills imply (computed here
// from the takers' execution reports with the naive reference, events/read-models/reference.ts),
// and bounded parameters are refused; the book snapshot at depth is the feed's GET /v1/book,
// unsigned too. Every wait polls with a generous bound; nothing depends on timing.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import type { TradeRecord } from '../../events/codec.js';
import type { LocalEvents } from '../../events/local-events.js';
import { CANDLE_INTERVALS } from '../../events/read-models/model.js';
import { referenceCandles, referenceTicker, referenceTrades } from '../../events/read-models/reference.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { integersOnly, startEventsOn, waitFor } from './helpers.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
/** Bound on every wait (ms): generous for a loaded 2-core machine. */
const WAIT_MS = 90_000;

let ex: LocalExchange;
let events: LocalEvents;
let dir: string;
let rest1: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
const reports: ExecutionReportOut[] = [];
let lastSeq = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-market-data-'));
  ex = await startLocalExchange({ feed: true });
  events = await startEventsOn(ex.cluster.configPath, ex.gatewayConfigPath, dir);
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
}, 180_000);

afterAll(async () => {
  await events?.stop();
  await ex?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 90_000);

type Reply = { result: { seq: number; reports: ExecutionReportOut[] } };

async function place(client: OrderEntryRestClient, side: string, price: number, quantity: number): Promise<void> {
  const r = await client.placeOrder({
    client_order_id: `md-${side}-${price}-${quantity}-${reports.length}`,
    symbol: 'BTC-USD',
    side,
    order_type: 'LIMIT',
    price,
    quantity,
  });
  expect(r.status).toBe(201);
  const result = (r.body as unknown as Reply).result;
  reports.push(...result.reports);
  lastSeq = Math.max(lastSeq, result.seq);
}

/** An unsigned GET (no x-mb-* header at all). */
async function getPublic(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The trades the fills imply, from the takers' TRADE reports (one per trade; the taker's side is the aggressor). */
function tradesFromReports(): TradeRecord[] {
  return reports
    .filter((r) => r.exec_type === 'TRADE' && r.last_liquidity_ind === 'REMOVED_LIQUIDITY')
    .map((r) => ({
      shard: 0,
      log_index: 0,
      position: 0,
      seq: r.seq,
      ts_us: r.ts_us,
      trade_id: r.trade_id,
      symbol: r.symbol,
      price: r.last_px,
      qty: r.last_qty,
      aggressor_side: r.side === 'BUY' ? 1 : 2,
      taker_order_id: r.order_id,
      taker_account: r.account,
      maker_order_id: 0,
      maker_account: 0,
    }))
    .sort((a, b) => a.trade_id - b.trade_id);
}

describe('public market data over real processes', () => {
  it('after orders and fills: trades, candles and 24-hour ticker without auth, exactly as the fills imply', async () => {
    await place(rest1, 'SELL', 5_000_000, 2);
    await place(rest1, 'SELL', 5_000_100, 3);
    await place(rest2, 'BUY', 5_000_100, 4); // takes 2 @ 5_000_000 and 2 @ 5_000_100
    await place(rest2, 'BUY', 4_999_900, 1);
    await place(rest1, 'SELL', 4_999_900, 1); // a SELL aggressor
    const trades = tradesFromReports();
    expect(trades.map((t) => [t.price, t.qty, t.aggressor_side])).toEqual([
      [5_000_000, 2, 1],
      [5_000_100, 2, 1],
      [4_999_900, 1, 2],
    ]);

    const q = `http://${events.queryRest}`;
    // Read-your-writes works on the public routes too: min_seq = the last command's seq.
    let got: { status: number; body: Record<string, unknown> } | undefined;
    await waitFor(
      async () => {
        got = await getPublic(`${q}/v1/market/trades/BTC-USD?min_seq=${lastSeq}&wait_ms=5000`);
        return got.status === 200;
      },
      'the read models to hold the trades',
      WAIT_MS,
      200,
    );
    expect((got!.body.trades as Record<string, unknown>[])[0]).toMatchObject({
      price_decimal: '50000.00',
      qty_decimal: '0.0002',
      quote_qty_decimal: '10.000000',
    });
    expect(integersOnly(got!.body.trades)).toEqual(
      referenceTrades(trades, 'BTC-USD', 100).map((t) => ({
        ...t,
        quote_qty: String(t.price * t.qty),
        aggressor_side: t.aggressor_side === 1 ? 'BUY' : 'SELL',
      })),
    );
    const two = await getPublic(`${q}/v1/market/trades/BTC-USD?limit=2`);
    expect((two.body.trades as { trade_id: number }[]).map((t) => t.trade_id)).toEqual(
      trades.slice(1).map((t) => t.trade_id),
    );

    for (const iv of CANDLE_INTERVALS) {
      const c = await getPublic(`${q}/v1/market/candles/BTC-USD?interval=${iv.name}`);
      expect(c.status, iv.name).toBe(200);
      expect(integersOnly(c.body.candles), iv.name).toEqual(referenceCandles(trades, 'BTC-USD', iv));
    }

    // "now" is the latest log time the read models know: the last command's reports.
    const now = Math.max(...reports.map((r) => r.ts_us));
    const t = await getPublic(`${q}/v1/market/ticker/BTC-USD`);
    expect(t.status).toBe(200);
    const { as_of: _asOf, ...ticker } = t.body;
    expect(integersOnly(ticker)).toEqual(referenceTicker(trades, 'BTC-USD', now));
    expect(ticker).toMatchObject({ last_decimal: '49999.00', price_change_decimal: '-1.00' });
    expect(ticker).toMatchObject({
      open: 5_000_000,
      high: 5_000_100,
      low: 4_999_900,
      last: 4_999_900,
      price_change: -100,
      volume: 5,
      quote_volume: String(2 * 5_000_000 + 2 * 5_000_100 + 4_999_900),
      trade_count: 3,
    });
  }, 180_000);

  it('limits are refused with the documented errors; the signed routes still need a signature', async () => {
    const q = `http://${events.queryRest}`;
    expect(await getPublic(`${q}/v1/market/trades/BTC-USD?limit=1001`)).toMatchObject({
      status: 400,
      body: { code: 'INVALID_ARGUMENT', reason: 'INVALID_INTEGER', field: 'limit' },
    });
    expect(await getPublic(`${q}/v1/market/candles/BTC-USD?interval=1w`)).toMatchObject({
      status: 400,
      body: { code: 'INVALID_ARGUMENT', reason: 'INVALID_ENUM_VALUE', field: 'interval' },
    });
    expect(await getPublic(`${q}/v1/candles/BTC-USD`)).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHENTICATED', reason: 'AUTH_HEADERS_MISSING' },
    });
  });

  it("the book snapshot at depth is the feed's GET /v1/book, unsigned", async () => {
    const ws = [...ex.feedUrls.values()][0]!;
    const base = ws.replace(/^ws:/, 'http:').replace(/\/v1\/ws$/, '');
    let book: { status: number; body: Record<string, unknown> } | undefined;
    await waitFor(
      async () => {
        book = await getPublic(`${base}/v1/book/BTC-USD?depth=5`);
        return book.status === 200 && (book.body.asks as unknown[]).length > 0;
      },
      'the feed to show the resting ask',
      WAIT_MS,
      200,
    );
    expect((book!.body.asks as number[][])[0]!.slice(0, 2)).toEqual([5_000_100, 1]);
  }, 120_000);
});
