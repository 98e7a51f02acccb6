// Decimal strings beside the integers on the events side, over real sockets: three replica
// processes and the gateway (startLocalExchange), and the events side as child processes
// (embedded broker, publisher, query service: startLocalEvents). After orders that trade on
// BTC-USD (2 price / 4 quantity decimals) and ETH-USD (2 / 3), every `<name>_decimal` string
//   - of the Kafka records (ExecutionReportEvent on exchange.orders.v1 / fills.v1, TradeEvent on
//     exchange.trades.v1, decoded with protobufjs),
//   - of the query API over REST and gRPC (orders, fills, positions, candles),
//   - of the public market routes (trades, candles, ticker)
// is present and converts back exactly to its integer at the instrument's scale (checked here
// with a converter of its own, not api/decimal.ts), and a few are checked as literals.
// Every wait polls with a generous bound; nothing depends on timing.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventsCodec, type ExecRecord, type TradeRecord } from '../../events/codec.js';
import { kafkaClient } from '../../events/kafka.js';
import type { LocalEvents } from '../../events/local-events.js';
import { QueryGrpcClient, QueryRestClient } from '../../events/query/client.js';
import { TOPIC_FILLS, TOPIC_ORDERS, TOPIC_TRADES } from '../../events/topics.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { NO_LOG } from '../../ops/log.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { startEventsOn, waitFor } from './helpers.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
/** Bound on every wait (ms): generous for a loaded 2-core machine. */
const WAIT_MS = 90_000;
/** engine/examples/instruments.json, the local exchange's instruments. */
const DECIMALS: Record<string, { p: number; q: number }> = { 'BTC-USD': { p: 2, q: 4 }, 'ETH-USD': { p: 2, q: 3 } };

/** Scale of a field: price, quantity, notional (price + quantity decimals) or avg_px (price + 8). */
type Scale = 'p' | 'q' | 'n' | 'avg';
const EXEC_FIELDS: Record<string, Scale> = {
  price: 'p',
  stop_price: 'p',
  order_qty: 'q',
  cum_qty: 'q',
  leaves_qty: 'q',
  last_qty: 'q',
  last_px: 'p',
  cum_notional: 'n',
  avg_px: 'avg',
  display_qty: 'q',
};
const TRADE_FIELDS: Record<string, Scale> = { price: 'p', qty: 'q' };
const ORDER_FIELDS: Record<string, Scale> = { ...EXEC_FIELDS };
delete ORDER_FIELDS.last_qty;
delete ORDER_FIELDS.last_px;
const FILL_FIELDS: Record<string, Scale> = { last_qty: 'q', last_px: 'p' };
const POSITION_FIELDS: Record<string, Scale> = {
  position_qty: 'q',
  bought_qty: 'q',
  sold_qty: 'q',
  buy_notional: 'n',
  sell_notional: 'n',
  cash: 'n',
};
const CANDLE_FIELDS: Record<string, Scale> = {
  open: 'p',
  high: 'p',
  low: 'p',
  close: 'p',
  volume: 'q',
  quote_volume: 'n',
};
const PUBLIC_TRADE_FIELDS: Record<string, Scale> = { price: 'p', qty: 'q', quote_qty: 'n' };
const TICKER_FIELDS: Record<string, Scale> = { ...CANDLE_FIELDS, last: 'p', price_change: 'p' };
delete TICKER_FIELDS.close;

/** A decimal string with exactly `decimals` digits after the point → its units (test's own converter). */
function unitsOf(text: unknown, decimals: number): bigint {
  expect(typeof text).toBe('string');
  const re = decimals === 0 ? /^-?[0-9]+$/ : new RegExp(`^-?[0-9]+\\.[0-9]{${decimals}}$`);
  expect(text as string).toMatch(re);
  return BigInt((text as string).replace('.', ''));
}

/** Every field of `fields` of `o` has its `_decimal` string, and it is the integer exactly. */
function expectDecimals(o: Record<string, unknown>, fields: Record<string, Scale>, what: string): number {
  const d = DECIMALS[o.symbol as string]!;
  let checked = 0;
  for (const [f, scale] of Object.entries(fields)) {
    const text = o[`${f}_decimal`];
    if (o[f] === null) {
      expect(text, `${what}.${f}_decimal`).toBeNull();
      continue;
    }
    const decimals = scale === 'p' ? d.p : scale === 'q' ? d.q : scale === 'n' ? d.p + d.q : d.p + 8;
    // avg_px is itself a decimal string with 8 decimals: its digits are the units. gRPC replies
    // are decoded without defaults, so a zero integer is absent there (its string is not).
    const integer = String(o[f] ?? 0);
    const units = scale === 'avg' ? BigInt(integer.replace('.', '')) : BigInt(integer);
    expect(unitsOf(text, decimals), `${what}.${f}_decimal = ${String(text)} vs ${String(o[f])}`).toBe(units);
    checked++;
  }
  return checked;
}
/** expectDecimals of each item; `symbol` for items that carry none (candles, public trades). */
function expectAll(items: unknown, fields: Record<string, Scale>, what: string, symbol?: string): void {
  expect(Array.isArray(items) && items.length > 0, `${what} non-empty`).toBe(true);
  for (const [i, o] of (items as Record<string, unknown>[]).entries()) {
    expectDecimals(symbol === undefined ? o : { symbol, ...o }, fields, `${what}[${i}]`);
  }
}

let ex: LocalExchange;
let events: LocalEvents;
let dir: string;
let queryRest: QueryRestClient;
let queryGrpc: QueryGrpcClient;
const execs: { topic: string; rec: ExecRecord }[] = [];
const trades: TradeRecord[] = [];
let stopKafka: (() => Promise<void>) | undefined;
let lastSeq = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-decimal-strings-'));
  ex = await startLocalExchange({});
  events = await startEventsOn(ex.cluster.configPath, ex.gatewayConfigPath, dir);
  queryRest = new QueryRestClient(`http://${events.queryRest}`, K1);
  queryGrpc = new QueryGrpcClient(events.queryGrpc, K1);
  stopKafka = await consumeKafka(events.brokers);
}, 180_000);

afterAll(async () => {
  await stopKafka?.();
  queryGrpc?.close();
  await events?.stop();
  await ex?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 90_000);

/** Reads the orders, fills and trades topics from the beginning. */
async function consumeKafka(brokers: string): Promise<() => Promise<void>> {
  const codec = EventsCodec.get();
  const consumer = kafkaClient([brokers], 'decimal-strings-test', NO_LOG).consumer({
    groupId: `decimal-strings-${process.pid}-${Date.now()}`,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC_ORDERS, TOPIC_FILLS, TOPIC_TRADES], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      if (message.value === null) return;
      if (topic === TOPIC_TRADES) trades.push(codec.decodeTrade(message.value));
      else execs.push({ topic, rec: codec.decodeExec(message.value) });
    },
  });
  return () => consumer.disconnect();
}

async function place(key: typeof K1, symbol: string, side: string, price: number, quantity: number): Promise<void> {
  const client = new OrderEntryRestClient({ baseUrl: ex.restUrl, key });
  const r = await client.placeOrder({
    client_order_id: `ds-${symbol}-${side}-${price}-${quantity}`,
    symbol,
    side,
    order_type: 'LIMIT',
    price,
    quantity,
  });
  expect(r.status).toBe(201);
  lastSeq = Math.max(lastSeq, (r.body as unknown as { result: { seq: number } }).result.seq);
}

describe('decimal strings on the events side, over real processes', () => {
  it('Kafka records, the query API (REST and gRPC) and the market routes carry exact decimal strings', async () => {
    await place(K1, 'BTC-USD', 'SELL', 5_000_000, 2); // 50000.00 × 0.0002
    await place(K2, 'BTC-USD', 'BUY', 5_000_150, 3); // takes 2 @ 50000.00, rests 1 @ 50001.50
    await place(K1, 'ETH-USD', 'SELL', 300_000, 20); // 3000.00 × 0.020
    await place(K2, 'ETH-USD', 'BUY', 300_005, 30); // takes 20 @ 3000.00, rests 10 @ 3000.05

    // Kafka: 4 NEW + 2 × 2 TRADE reports on the orders topic, their 4 fills, 2 trades.
    await waitFor(
      () => trades.length >= 2 && execs.filter((e) => e.topic === TOPIC_ORDERS).length >= 8,
      'the records on Kafka',
      WAIT_MS,
      200,
    );
    for (const [i, e] of execs.entries())
      expect(expectDecimals(e.rec as unknown as Record<string, unknown>, EXEC_FIELDS, `kafka exec ${i}`)).toBe(10);
    for (const [i, t] of trades.entries())
      expectDecimals(t as unknown as Record<string, unknown>, TRADE_FIELDS, `kafka trade ${i}`);
    // Trades are keyed by symbol, so the two land on different partitions and arrive in
    // either order: compare them in symbol order.
    const bySymbol = [...trades].sort((a, b) => a.symbol.localeCompare(b.symbol));
    expect(bySymbol.map((t) => [t.symbol, t.price_decimal, t.qty_decimal])).toEqual([
      ['BTC-USD', '50000.00', '0.0002'],
      ['ETH-USD', '3000.00', '0.020'],
    ]);
    const btcTaker = execs.find((e) => e.rec.symbol === 'BTC-USD' && e.rec.side === 1 && e.rec.last_qty > 0)!.rec;
    expect(btcTaker).toMatchObject({ cum_notional_decimal: '10.000000', avg_px_decimal: '50000.0000000000' });

    // The query API over REST.
    const q = await queryRest.get(`/v1/accounts/1/orders?state=all&min_seq=${lastSeq}&wait_ms=5000`);
    expect(q.status).toBe(200);
    expectAll(q.body.orders, ORDER_FIELDS, 'REST orders');
    const fills = await queryRest.get('/v1/accounts/1/fills');
    expectAll(fills.body.fills, FILL_FIELDS, 'REST fills');
    const pos = await queryRest.get('/v1/accounts/1/positions');
    expectAll(pos.body.positions, POSITION_FIELDS, 'REST positions');
    // Account 1 sold 0.0002 BTC at 50000.00 and 0.020 ETH at 3000.00: 10 + 60 USD, in each
    // instrument's own scale (6 and 5 decimals) added exactly.
    expect(pos.body.balances).toEqual([{ currency: 'USD', cash: '16000000', cash_decimal: '70.000000' }]);
    for (const symbol of Object.keys(DECIMALS)) {
      const c = await queryRest.get(`/v1/candles/${symbol}?interval=1m`);
      expectAll(c.body.candles, CANDLE_FIELDS, `REST candles ${symbol}`, symbol);
    }

    // The same over gRPC.
    const g = await queryGrpc.call('GetOrders', { account: 1, filter: 'ORDER_FILTER_ALL' });
    expectAll(g.orders, ORDER_FIELDS, 'gRPC orders');
    expectAll((await queryGrpc.call('GetFills', { account: 1 })).fills, FILL_FIELDS, 'gRPC fills');
    const gp = await queryGrpc.call('GetPositions', { account: 1 });
    expectAll(gp.positions, POSITION_FIELDS, 'gRPC positions');
    expect(gp.balances).toEqual([{ currency: 'USD', cash: '16000000', cash_decimal: '70.000000' }]);
    for (const symbol of Object.keys(DECIMALS)) {
      const c = await queryGrpc.call('GetCandles', { symbol, interval: '1m' });
      expectAll(c.candles, CANDLE_FIELDS, `gRPC candles ${symbol}`, symbol);
    }

    // The public market routes (unsigned).
    for (const symbol of Object.keys(DECIMALS)) {
      const base = `http://${events.queryRest}/v1/market`;
      const t = (await (await fetch(`${base}/trades/${symbol}`)).json()) as Record<string, unknown>;
      expectAll(t.trades, PUBLIC_TRADE_FIELDS, `market trades ${symbol}`, symbol);
      const c = (await (await fetch(`${base}/candles/${symbol}?interval=1s`)).json()) as Record<string, unknown>;
      expectAll(c.candles, CANDLE_FIELDS, `market candles ${symbol}`, symbol);
      const tk = (await (await fetch(`${base}/ticker/${symbol}`)).json()) as Record<string, unknown>;
      expectDecimals(tk, TICKER_FIELDS, `market ticker ${symbol}`);
    }
    const eth = (await (await fetch(`http://${events.queryRest}/v1/market/trades/ETH-USD`)).json()) as {
      trades: Record<string, unknown>[];
    };
    expect(eth.trades[0]).toMatchObject({
      price_decimal: '3000.00',
      qty_decimal: '0.020',
      quote_qty_decimal: '60.00000',
    });
  }, 240_000);
});
