// Position updates on the private user stream, over real sockets: three replica processes and
// the gateway (startLocalExchange), and the events side as child processes (embedded broker,
// publisher, query service: startLocalEvents). Two accounts trade BTC-USD and ETH-USD with each
// other, each in turn maker and taker, some takers sweeping two levels (two fills in one command).
//   - each account's stream carries exactly one position_update per fill report, right after it,
//     with the report's epoch, stream_seq, shard and seq, and deltas the test computes from the
//     report itself (BigInt), decimal strings included; nothing else carries one;
//   - a reconnect with resume_from regenerates the same updates with their reports;
//   - property (the documented re-sync): positions read from the query API with the login's
//     min_seq, plus the updates whose seq is above that answer's as_of, equal the positions the
//     query API reports at the end — position_qty and cash per symbol, cash per quote currency.
// Every wait polls with a generous bound; nothing depends on timing.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../api/signing.js';
import type { LocalEvents } from '../../events/local-events.js';
import { startEventsOn } from '../events/helpers.js';
import { QueryRestClient } from '../../events/query/client.js';
import { OrderEntryRestClient, type RestClientKey } from '../../gateway/client/rest-client.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { Prng } from '../../replicator/prng.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
/** Bound on every wait (ms): generous for a loaded 2-core machine. */
const WAIT_MS = 90_000;
/** engine/examples/instruments.json: decimals, a price near the reference, tick and lot. */
const INSTRUMENTS = {
  'BTC-USD': { p: 2, q: 4, px: 5_000_000, tick: 1, lot: 1 },
  'ETH-USD': { p: 2, q: 3, px: 300_000, tick: 5, lot: 10 },
} as const;
type Symbol = keyof typeof INSTRUMENTS;

type Msg = Record<string, unknown> & { type: string };

/** JSON with integers beyond 2^53 as bigints (a wide instrument's quote delta), the rest as numbers. */
function parseExact(text: string): Msg {
  return parse(text, undefined, (s) => (Number.isSafeInteger(Number(s)) ? Number(s) : BigInt(s))) as Msg;
}

async function poll<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sockets: WsConnection[] = [];

/** A logged-in user stream recording every message. */
async function openStream(
  key: RestClientKey,
  extra: Record<string, unknown> = {},
): Promise<{ msgs: Msg[]; login: Msg }> {
  const msgs: Msg[] = [];
  const ws = await WsConnection.connect(`${ex.restUrl.replace(/^http/, 'ws')}/v1/user-stream`, {
    onMessage: (d) => msgs.push(parseExact(d.toString('utf8'))),
    onClose: () => {},
  });
  sockets.push(ws);
  const a = signRequest(key, 'GET /v1/user-stream', new Uint8Array(0));
  ws.send(JSON.stringify({ op: 'login', api_key: a.apiKey, timestamp: a.timestamp, signature: a.signature, ...extra }));
  const login = await poll('the login answer', () => msgs.find((m) => m.type === 'login' || m.type === 'error'));
  expect(login.type, JSON.stringify(login)).toBe('login');
  return { msgs, login };
}

/** Signed units → a decimal string with k digits after the point (the test's own, via BigInt). */
function dec(units: bigint, k: number): string {
  const neg = units < 0n;
  const digits = (neg ? -units : units).toString().padStart(k + 1, '0');
  const text = k === 0 ? digits : `${digits.slice(0, -k)}.${digits.slice(-k)}`;
  return neg ? `-${text}` : text;
}

interface Report {
  order_id: number;
  exec_id: number;
  symbol: Symbol;
  side: string;
  last_qty: number;
  last_px: number;
  last_liquidity_ind: string;
  seq: number;
}

/** The update a fill report must be followed by, computed here from the report. */
function expectedUpdate(epoch: unknown, streamSeq: unknown, r: Report): Record<string, unknown> {
  const d = INSTRUMENTS[r.symbol];
  const sign = r.side === 'BUY' ? 1n : -1n;
  const quote = -sign * BigInt(r.last_px) * BigInt(r.last_qty);
  return {
    type: 'position_update',
    epoch,
    stream_seq: streamSeq,
    shard: 0,
    seq: r.seq,
    exec_id: r.exec_id,
    symbol: r.symbol,
    base_currency: r.symbol.split('-')[0],
    quote_currency: 'USD',
    base_delta: Number(sign) * r.last_qty,
    quote_delta: Number(quote),
    base_delta_decimal: dec(sign * BigInt(r.last_qty), d.q),
    quote_delta_decimal: dec(quote, d.p + d.q),
  };
}

/** Each fill report is followed at once by its update, and no other message is an update; returns the updates. */
function checkUpdates(msgs: Msg[]): Msg[] {
  const updates: Msg[] = [];
  for (const [i, m] of msgs.entries()) {
    if (m.type === 'position_update') {
      const before = msgs[i - 1]!;
      expect(before.type).toBe('report');
      expect((before.report as Report).last_qty).toBeGreaterThan(0);
      updates.push(m);
    }
    if (m.type !== 'report') continue;
    const r = m.report as Report;
    if (r.last_qty === 0) continue;
    expect(msgs[i + 1], `the update after stream_seq ${String(m.stream_seq)}`).toEqual(
      expectedUpdate(m.epoch, m.stream_seq, r),
    );
  }
  return updates;
}

interface Positions {
  qty: Map<string, bigint>;
  cash: Map<string, bigint>;
  balances: Map<string, bigint>;
  fills: number;
  asOfSeq: number;
}

let ex: LocalExchange;
let events: LocalEvents;
let dir: string;
const rest: Record<number, OrderEntryRestClient> = {};
const query: Record<number, QueryRestClient> = {};
let lastSeq = 0;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-user-stream-positions-'));
  ex = await startLocalExchange({});
  events = await startEventsOn(ex.cluster.configPath, ex.gatewayConfigPath, dir);
  rest[1] = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  rest[2] = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
  query[1] = new QueryRestClient(`http://${events.queryRest}`, K1);
  query[2] = new QueryRestClient(`http://${events.queryRest}`, K2);
}, 180_000);

afterAll(async () => {
  for (const ws of sockets) ws.destroy();
  await events?.stop();
  await ex?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 90_000);

/** The account's positions from the query API, once it holds shard 0 up to seq `minSeq`. */
async function positions(account: number, minSeq: number): Promise<Positions> {
  const r = await poll('positions at min_seq', async () => {
    const got = await query[account]!.get(`/v1/accounts/${account}/positions?min_seq=${minSeq}&wait_ms=5000`);
    return got.status === 200 ? got.body : undefined;
  });
  const qty = new Map<string, bigint>();
  const cash = new Map<string, bigint>();
  let fills = 0;
  for (const p of r.positions as { symbol: string; position_qty: number; cash: string; fill_count: number }[]) {
    qty.set(p.symbol, BigInt(p.position_qty));
    cash.set(p.symbol, BigInt(p.cash));
    fills += p.fill_count;
  }
  const balances = new Map(
    (r.balances as { currency: string; cash: string }[]).map((b) => [b.currency, BigInt(b.cash)]),
  );
  const asOf = (r.as_of as { shard: number; seq: number }[]).find((a) => a.shard === 0)!;
  expect(asOf.seq).toBeGreaterThanOrEqual(minSeq);
  return { qty, cash, balances, fills, asOfSeq: asOf.seq };
}

async function place(account: number, symbol: Symbol, side: string, price: number, quantity: number, tif: string) {
  const r = await rest[account]!.placeOrder({
    client_order_id: `pu-${++n}`,
    symbol,
    side,
    order_type: 'LIMIT',
    time_in_force: tif,
    price,
    quantity,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  lastSeq = Math.max(lastSeq, (r.body as unknown as { result: { seq: number } }).result.seq);
}

/**
 * A round: the maker rests one or two levels, the other account takes them with one IOC (a
 * sweep of two levels is two fills in one command), then both cancel what is left.
 */
async function round(rng: Prng): Promise<void> {
  const symbol = rng.pick(Object.keys(INSTRUMENTS) as Symbol[]);
  const ins = INSTRUMENTS[symbol];
  const maker = rng.chance(0.5) ? 1 : 2;
  const makerSide = rng.chance(0.5) ? 'BUY' : 'SELL';
  const levels = rng.chance(0.4) ? 2 : 1;
  const step = makerSide === 'SELL' ? ins.tick : -ins.tick;
  const base = ins.px + ins.tick * (rng.int(200) - 100);
  let total = 0;
  for (let l = 0; l < levels; l++) {
    const q = ins.lot * (1 + rng.int(50));
    total += q;
    await place(maker, symbol, makerSide, base + l * step * (1 + rng.int(5)), q, 'GTC');
  }
  // Half to one and a half of what rests: some takers stop inside the second level, some take all.
  const takeQty = ins.lot * Math.max(1, Math.round((total / ins.lot) * (0.5 + rng.int(1001) / 1000)));
  await place(3 - maker, symbol, makerSide === 'SELL' ? 'BUY' : 'SELL', base + levels * step * 6, takeQty, 'IOC');
  for (const a of [1, 2]) expect((await rest[a]!.massCancel({ symbol })).status).toBe(200);
}

describe('position updates on the private user stream', () => {
  it('one exact update after each fill report, on both accounts; a resume regenerates them; they re-sync the query positions', async () => {
    const rng = new Prng(1919);
    // Positions from before any stream: the re-sync must take them from the query API.
    for (let i = 0; i < 4; i++) await round(rng);
    const s1 = await openStream(K1);
    const s2 = await openStream(K2);
    const start: Record<number, Positions> = {};
    for (const [a, s] of [
      [1, s1],
      [2, s2],
    ] as const) {
      const minSeq = (s.login.min_seq as Record<string, number>)['0']!;
      expect(minSeq).toBeGreaterThanOrEqual(lastSeq);
      start[a] = await positions(a, minSeq);
    }
    for (let i = 0; i < 16; i++) await round(rng);
    const takerFillSeqs: number[] = [];

    for (const [a, s] of [
      [1, s1],
      [2, s2],
    ] as const) {
      const end = await positions(a, lastSeq);
      const fillsOnStream = end.fills - start[a]!.fills;
      expect(fillsOnStream).toBeGreaterThan(0);
      await poll(`account ${a}'s ${fillsOnStream} updates`, () =>
        s.msgs.filter((m) => m.type === 'position_update').length >= fillsOnStream ? true : undefined,
      );
      // Nothing beyond: the last message is the last fill's update or a later report (cancels).
      const updates = checkUpdates(s.msgs);
      expect(updates).toHaveLength(fillsOnStream);
      // The account was maker and taker.
      const reports = s.msgs.filter((m) => m.type === 'report').map((m) => m.report as Report);
      const liquidity = new Set(reports.filter((r) => r.last_qty > 0).map((r) => r.last_liquidity_ind));
      expect(liquidity).toEqual(new Set(['ADDED_LIQUIDITY', 'REMOVED_LIQUIDITY']));
      for (const r of reports)
        if (r.last_qty > 0 && r.last_liquidity_ind === 'REMOVED_LIQUIDITY') takerFillSeqs.push(r.seq);
      // The re-sync: the start positions plus the updates above its as_of are the end positions.
      const qty = new Map(start[a]!.qty);
      const cash = new Map(start[a]!.cash);
      const balances = new Map(start[a]!.balances);
      for (const u of updates) {
        if ((u.seq as number) <= start[a]!.asOfSeq) continue;
        const sym = u.symbol as string;
        qty.set(sym, (qty.get(sym) ?? 0n) + BigInt(u.base_delta as number));
        cash.set(sym, (cash.get(sym) ?? 0n) + BigInt(u.quote_delta as number | bigint));
        const cur = u.quote_currency as string;
        balances.set(cur, (balances.get(cur) ?? 0n) + BigInt(u.quote_delta as number | bigint));
      }
      expect(qty).toEqual(end.qty);
      expect(cash).toEqual(end.cash);
      expect(balances).toEqual(end.balances);

      // A resume from the login's point gets the same reports, each fill's with the same update.
      const r = await openStream(a === 1 ? K1 : K2, { resume_from: s.login.stream_seq, epoch: s.login.epoch });
      const wanted = s.msgs.filter((m) => m.type === 'report' || m.type === 'position_update');
      await poll('the resumed messages', () => (r.msgs.length >= wanted.length + 1 ? true : undefined));
      const again = r.msgs.filter((m) => m.type === 'report' || m.type === 'position_update');
      expect(again.filter((m) => m.type === 'position_update')).toEqual(updates);
      expect(again.map((m) => [m.type, m.stream_seq])).toEqual(wanted.map((m) => [m.type, m.stream_seq]));
      checkUpdates(r.msgs);
    }
    // Some taker swept two levels: two fills (two updates) of one command.
    expect(new Set(takerFillSeqs).size).toBeLessThan(takerFillSeqs.length);
  });
});
