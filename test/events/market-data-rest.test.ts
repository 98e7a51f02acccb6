// The public market-data routes of the query REST server (/v1/market/*) over real HTTP, on read
// models fed with known trades: answered without any auth header, with the trades, candles and
// 24-hour ticker the reference computes from those trades (events/read-models/reference.ts);
// bounded parameters refused with the documented errors; and the public budget (a token
// bucket per client IP and in total, on a fake clock: no timing) refused with 429 RATE_LIMITED.

import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TradeRecord } from '../../events/codec.js';
import { PUBLIC_TRADES_LIMIT_MAX } from '../../events/query/limits.js';
import { PublicRateLimiter } from '../../events/query/public-rate-limit.js';
import { QueryGrpcClient } from '../../events/query/client.js';
import { QueryGrpcServer } from '../../events/query/grpc-server.js';
import { QueryRestServer } from '../../events/query/rest-server.js';
import { QueryService, type QueryServiceOptions } from '../../events/query/service.js';
import type { ReadModelLag, ReadModelName } from '../../events/read-models/consumer.js';
import { CANDLE_INTERVALS, ReadModels } from '../../events/read-models/model.js';
import { referenceCandles, referenceTicker, referenceTrades } from '../../events/read-models/reference.js';
import { TOPIC_TRADES } from '../../events/topics.js';
import { NO_LOG } from '../../ops/log.js';

const T0_US = 1_700_000_040_000_000; // a whole minute
const HOUR_US = 3_600_000_000;
const trades: TradeRecord[] = [];
let nowMs = 1_000_000;
const servers: QueryRestServer[] = [];
let openUrl: string;
let limitedUrl: string;
let grpcServer: QueryGrpcServer;
let grpcClient: QueryGrpcClient;

function trade(k: number, tsUs: number, price: number, qty: number, side: number): TradeRecord {
  return {
    shard: 0,
    log_index: k,
    position: 0,
    seq: k,
    ts_us: tsUs,
    trade_id: k,
    symbol: 'BTC-USD',
    price,
    qty,
    aggressor_side: side,
    taker_order_id: 10 + k,
    taker_account: 1,
    maker_order_id: 20 + k,
    maker_account: 2,
  };
}

beforeAll(async () => {
  // 30 h of trades, one every 20 min, wide (price × qty past 2^53), then three close together.
  for (let k = 1; k <= 90; k++)
    trades.push(trade(k, T0_US + (k - 1) * 20 * 60_000_000, 5_000_000_000 + k, 1e8 + k, 1 + (k % 2)));
  const last = trades[trades.length - 1]!.ts_us;
  trades.push(trade(91, last + 1_000_000, 5_100_000_000, 7, 1), trade(92, last + 1_500_000, 4_900_000_000, 3, 2));
  trades.push(trade(93, last + 61_000_000, 5_050_000_000, 11, 1));
  const model = new ReadModels();
  for (const [offset, value] of trades.entries())
    model.apply({ topic: TOPIC_TRADES, partition: 0, offset, type: 'trade', value });
  const config = {
    accounts: [{ account: 1, apiKeys: [{ key: 'k', hmacSecret: 's' }] }],
    adminKeys: [],
    receiveWindowMs: 5_000,
    shards: [{ id: 0, instruments: [] }], // no instrument: no `_decimal` strings (decimal-strings-e2e.test.ts)
  } as unknown as QueryServiceOptions['config'];
  const service = new QueryService({
    config,
    source: { model, lag: () => ({}) as Record<ReadModelName, ReadModelLag> },
  });
  const open = new QueryRestServer({ service, host: '127.0.0.1', port: 0, log: NO_LOG });
  const limited = new QueryRestServer({
    service,
    host: '127.0.0.1',
    port: 0,
    log: NO_LOG,
    publicRate: { perIpPerSec: 1, perIpBurst: 3, totalPerSec: 2, totalBurst: 5, ipsMax: 2 },
    nowMs: () => nowMs,
  });
  servers.push(open, limited);
  openUrl = `http://127.0.0.1:${await open.start()}`;
  limitedUrl = `http://127.0.0.1:${await limited.start()}`;
  grpcServer = new QueryGrpcServer({ service, host: '127.0.0.1', port: 0, log: NO_LOG });
  grpcClient = new QueryGrpcClient(`127.0.0.1:${await grpcServer.start()}`, { key: 'k', hmacSecret: 's' });
});

afterAll(async () => {
  grpcClient?.close();
  await grpcServer?.stop();
  for (const s of servers) await s.stop();
});

async function get(base: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** GET from a given local address (another client IP on the loopback), with node:http. */
function getFrom(
  localAddress: string,
  url: string,
): Promise<{ status: number; body: Record<string, unknown>; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          retryAfter: res.headers['retry-after'] as string | undefined,
        }),
      );
    });
    req.on('error', reject);
  });
}

const publicTrade = (t: ReturnType<typeof referenceTrades>[number]) => ({
  ...t,
  quote_qty: (BigInt(t.price) * BigInt(t.qty)).toString(),
  aggressor_side: t.aggressor_side === 1 ? 'BUY' : 'SELL',
});

describe('public market data over REST (no signature)', () => {
  it('recent trades: the last N, oldest first, without accounts or order ids', async () => {
    const r = await get(openUrl, '/v1/market/trades/BTC-USD?limit=5');
    expect(r.status).toBe(200);
    expect(r.body.trades).toEqual(referenceTrades(trades, 'BTC-USD', 5).map(publicTrade));
    expect(JSON.stringify(r.body)).not.toMatch(/account|order_id/);
    const dflt = await get(openUrl, '/v1/market/trades/BTC-USD');
    expect((dflt.body.trades as unknown[]).length).toBe(93); // default 100, 93 known
    expect((await get(openUrl, '/v1/market/trades/ETH-USD')).body.trades).toEqual([]);
  });

  it('klines at every interval, with start_us / end_us / limit', async () => {
    for (const iv of CANDLE_INTERVALS) {
      const r = await get(openUrl, `/v1/market/candles/BTC-USD?interval=${iv.name}&limit=3600`);
      expect(r.status, iv.name).toBe(200);
      expect(r.body.candles, iv.name).toEqual(referenceCandles(trades, 'BTC-USD', iv));
    }
    const hourly = referenceCandles(trades, 'BTC-USD', CANDLE_INTERVALS.find((iv) => iv.name === '1h')!);
    const from = hourly[3]!.start_us;
    const to = hourly[8]!.start_us;
    const page = await get(openUrl, `/v1/market/candles/BTC-USD?interval=1h&start_us=${from}&end_us=${to}&limit=2`);
    expect(page.body.candles).toEqual(hourly.slice(3, 5)); // from the start, forward
    const recent = await get(openUrl, `/v1/market/candles/BTC-USD?interval=1h&end_us=${to}&limit=2`);
    expect(recent.body.candles).toEqual(hourly.slice(7, 9)); // the most recent up to end_us
    expect(BigInt((hourly[0] as { quote_volume: string }).quote_volume) > 2n ** 53n).toBe(true);
  });

  it('signed GetCandles (gRPC) has the 1d interval and the exact quote volume too', async () => {
    const r = (await grpcClient.call('GetCandles', { symbol: 'BTC-USD', interval: '1d', limit: 10 })) as {
      candles: Record<string, unknown>[];
    };
    const expected = referenceCandles(trades, 'BTC-USD', CANDLE_INTERVALS.find((iv) => iv.name === '1d')!);
    expect(r.candles.map((c) => ({ start_us: Number(c.start_us), quote_volume: c.quote_volume }))).toEqual(
      expected.map((c) => ({ start_us: c.start_us, quote_volume: c.quote_volume })),
    );
  });

  it('24-hour ticker: the window ends at the latest log time known, not the wall clock', async () => {
    const now = trades[trades.length - 1]!.ts_us;
    const r = await get(openUrl, '/v1/market/ticker/BTC-USD');
    expect(r.status).toBe(200);
    const { as_of: _asOf, ...ticker } = r.body;
    expect(ticker).toEqual(referenceTicker(trades, 'BTC-USD', now));
    expect(ticker.trade_count).toBeLessThan(trades.length); // 30 h of trades: some are out of the window
    expect(ticker).toMatchObject({ last: 5_050_000_000, now_us: now, last_trade_ts_us: now });
    expect(now - (ticker.window_start_us as number)).toBeLessThanOrEqual(24 * HOUR_US);
    const none = await get(openUrl, '/v1/market/ticker/ETH-USD');
    expect(none.body).toMatchObject({ open: null, high: null, low: null, last: null, trade_count: 0, volume: 0 });
  });

  it('bounded parameters are refused with the documented errors; signed routes still need a signature', async () => {
    const over = await get(openUrl, `/v1/market/trades/BTC-USD?limit=${PUBLIC_TRADES_LIMIT_MAX + 1}`);
    expect(over).toMatchObject({
      status: 400,
      body: { code: 'INVALID_ARGUMENT', reason: 'INVALID_INTEGER', field: 'limit' },
    });
    expect(await get(openUrl, '/v1/market/candles/BTC-USD?limit=3601')).toMatchObject({
      status: 400,
      body: { reason: 'INVALID_INTEGER', field: 'limit' },
    });
    expect(await get(openUrl, '/v1/market/candles/BTC-USD?interval=5m')).toMatchObject({
      status: 400,
      body: { reason: 'INVALID_ENUM_VALUE', field: 'interval' },
    });
    expect(await get(openUrl, '/v1/market/candles/BTC-USD?start_us=10&end_us=9')).toMatchObject({
      status: 400,
      body: { code: 'INVALID_ARGUMENT', reason: 'CONFLICTING_FIELDS', field: 'end_us' },
    });
    expect(await get(openUrl, '/v1/market/candles/BTC-USD?start_us=-1')).toMatchObject({
      status: 400,
      body: { reason: 'INVALID_INTEGER', field: 'start_us' },
    });
    expect((await get(openUrl, '/v1/market/orders/BTC-USD')).status).toBe(404);
    expect((await get(openUrl, '/v1/market/ticker/')).status).toBe(404);
    expect((await get(openUrl, '/v1/market/constructor/BTC-USD')).status).toBe(404);
    expect((await get(openUrl, '/v1/market/__proto__/BTC-USD')).status).toBe(404);
    expect(await get(openUrl, '/v1/candles/BTC-USD')).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHENTICATED', reason: 'AUTH_HEADERS_MISSING' },
    });
  });

  it('the public budget: per client IP, then in total; 429 RATE_LIMITED with Retry-After, back after the refill', async () => {
    const url = `${limitedUrl}/v1/market/ticker/BTC-USD`;
    for (let k = 0; k < 3; k++) expect((await getFrom('127.0.0.1', url)).status).toBe(200);
    const perIp = await getFrom('127.0.0.1', url);
    expect(perIp).toMatchObject({
      status: 429,
      body: { code: 'RATE_LIMITED', reason: 'PUBLIC_RATE_PER_IP', retry_after_ms: 1_000 },
    });
    expect(perIp.retryAfter).toBe('1');
    // Another client IP has its own bucket, but the total (burst 5) runs out after 2 more.
    for (let k = 0; k < 2; k++) expect((await getFrom('127.0.0.2', url)).status).toBe(200);
    expect(await getFrom('127.0.0.2', url)).toMatchObject({
      status: 429,
      body: { reason: 'PUBLIC_RATE_TOTAL', retry_after_ms: 500 },
    });
    // Signed and ops routes are outside the budget.
    expect((await getFrom('127.0.0.1', `${limitedUrl}/healthz`)).status).toBe(200);
    expect((await getFrom('127.0.0.1', `${limitedUrl}/v1/candles/BTC-USD`)).status).toBe(401);
    // One second later (fake clock): one token per IP, two in total.
    nowMs += 1_000;
    expect((await getFrom('127.0.0.1', url)).status).toBe(200);
    expect((await getFrom('127.0.0.1', url)).body).toMatchObject({ reason: 'PUBLIC_RATE_PER_IP' });
    expect((await getFrom('127.0.0.2', url)).status).toBe(200);
    expect((await getFrom('127.0.0.2', url)).body).toMatchObject({ reason: 'PUBLIC_RATE_TOTAL' });
  });

  it('the IP table is bounded: beyond ipsMax the least recently seen IP is forgotten and starts full', () => {
    const l = new PublicRateLimiter({ perIpPerSec: 1, perIpBurst: 1, totalPerSec: 100, totalBurst: 100, ipsMax: 2 }, 0);
    expect(l.take('a', 0).ok).toBe(true);
    expect(l.take('b', 0).ok).toBe(true);
    expect(l.take('a', 0)).toMatchObject({ ok: false, which: 'ip' }); // a is now the most recently seen
    expect(l.take('c', 0).ok).toBe(true); // evicts b
    expect(l.trackedIps).toBe(2);
    expect(l.take('a', 0)).toMatchObject({ ok: false, which: 'ip' }); // a was kept
    expect(l.take('b', 0).ok).toBe(true); // b was forgotten: full again (evicts c)
  });
});
