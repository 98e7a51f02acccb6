// The feed's decimal numbers option over real sockets (uWS on loopback, raw WebSockets and the
// project's FeedClient), fed by an in-process engine running the random flow, on a narrow
// configuration (flowConfig: BTC-USD 2/4 decimals, ETH-USD 2/0) and a wide one (BTC-USD with
// maxPrice 100,000,000 and maxQty 100,000,000,000, priceDecimals 2, qtyDecimals 8; orders of up to
// 999.9999999 BTC placed on the engine directly, below the gateway).
//
// A units connection and two decimal ones (one by ?numbers=decimal, one by the subscribe option)
// subscribe to every channel of both symbols; after the flow each decimal message must be, field
// by field, its units twin with every price / quantity / volume written as the exact decimal
// string (checked with a formatter written here, digit arithmetic on BigInt, not the code under
// test) and every other field unchanged: same messages, same seqs. The REST book likewise. A
// decimal FeedClient keeps books equal to the engine's with every checksum verified. Refusals:
// NUMBERS_LOCKED, protobuf + decimal, bad values, each leaving the connection as it was.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { formatUnits, parseDecimal } from '../../api/decimal.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import { EventKind, Side } from '../../engine/types.js';
import { FeedClient } from '../../feed/client/feed-client.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { decimalUnitsText, l2ChecksumOfDecimal } from '../../feed/decimal-form.js';
import { CHANNELS, type Channel, type Level } from '../../feed/types.js';
import { SYM_A, SYM_B, flowConfig, toEngineCommand, wideFlowConfig, type FlowCommand } from './flow.js';
import { caughtUp, expectClientBook, startFeedHarness, until, type FeedHarness } from './harness.js';

type Json = Record<string, unknown>;
let h: FeedHarness | undefined;
const clients: FeedClient[] = [];
const raws: WsConnection[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  for (const r of raws.splice(0)) r.destroy();
  await h?.stop();
  h = undefined;
});

/** A raw WebSocket recording every JSON message. */
async function raw(url: string): Promise<{ ws: WsConnection; got: Json[]; status: () => number }> {
  const got: Json[] = [];
  const ws = await WsConnection.connect(url, {
    onMessage: (d) => got.push(JSON.parse(d.toString('utf8')) as Json),
    onClose: () => undefined,
  });
  raws.push(ws);
  return { ws, got, status: () => got.length };
}

/** The decimal string of `units` with `decimals` digits after the point, by BigInt digit arithmetic (independent of api/decimal.ts). */
function expectedDecimal(units: number, decimals: number): string {
  if (decimals === 0) return String(units);
  const scale = 10n ** BigInt(decimals);
  const u = BigInt(units);
  return `${u / scale}.${(u % scale).toString().padStart(decimals, '0')}`;
}

/** Which numbers of a data message are prices or quantities: by channel and path (array indexes as '#'). */
function kindOf(channel: string, path: string[]): 'price' | 'qty' | undefined {
  const lists = ['bids', 'asks', 'events', 'trades', 'candles'];
  const p = path.map((k, i) => (i > 0 && lists.includes(path[i - 1]!) && /^\d+$/.test(k) ? '#' : k)).join('/');
  const table: Record<string, Record<string, 'price' | 'qty'>> = {
    l2: { 'bids/#/0': 'price', 'bids/#/1': 'qty', 'asks/#/0': 'price', 'asks/#/1': 'qty' },
    l1: { 'bid/0': 'price', 'bid/1': 'qty', 'ask/0': 'price', 'ask/1': 'qty' },
    l3: {
      'bids/#/1': 'price',
      'bids/#/2': 'qty',
      'asks/#/1': 'price',
      'asks/#/2': 'qty',
      'events/#/price': 'price',
      'events/#/qty': 'qty',
      'events/#/remaining': 'qty',
    },
    trades: { 'trades/#/price': 'price', 'trades/#/qty': 'qty' },
    candles: {
      'candles/#/open': 'price',
      'candles/#/high': 'price',
      'candles/#/low': 'price',
      'candles/#/close': 'price',
      'candles/#/volume': 'qty',
    },
    status: { reference_price: 'price' },
  };
  return table[channel === 'l2.throttled' ? 'l2' : channel]![p];
}

/**
 * Walks a units message and its decimal twin together: same keys, same shape; a price / quantity
 * is the exact decimal string of the units; anything else is equal. Returns how many numbers were
 * compared as decimals.
 */
function expectDecimalTwin(units: Json, dec: Json, decimalsOf: (symbol: string) => [number, number]): number {
  const [pd, qd] = decimalsOf(units.symbol as string);
  let count = 0;
  const walk = (u: unknown, d: unknown, path: string[]) => {
    const kind = kindOf(units.channel as string, path);
    if (kind !== undefined) {
      expect(typeof u, `${path.join('/')} units`).toBe('number');
      expect(d, `${units.channel} ${path.join('/')}`).toBe(expectedDecimal(u as number, kind === 'price' ? pd : qd));
      count++;
    } else if (typeof u === 'object' && u !== null) {
      expect(typeof d === 'object' && d !== null, path.join('/')).toBe(true);
      expect(Object.keys(d as Json), path.join('/')).toEqual(Object.keys(u));
      for (const k of Object.keys(u)) walk((u as Json)[k], (d as Json)[k], [...path, k]);
    } else {
      expect(d, `${units.channel} ${path.join('/')}`).toEqual(u);
    }
  };
  walk(units, dec, []);
  return count;
}

/** A WebSocket upgrade request the server answers with an HTTP error: its status and body code. */
function upgradeRefusal(url: string): Promise<{ status: number; code: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version': '13',
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as Json).code }));
    });
    req.on('upgrade', () => reject(new Error(`${url}: upgraded, expected a refusal`)));
    req.on('error', reject);
  });
}

const isData = (m: Json) => m.type === 'snapshot' || m.type === 'update';

/** Places big orders on BTC-USD directly on the engine (below the gateway) and feeds their events, one entry each. */
function placeDirect(commands: FlowCommand[]): void {
  const buf = new EventBuffer();
  for (const c of commands) {
    buf.clear();
    h!.runner.flow.tsUs += 1_000;
    h!.engine.apply(toEngineCommand(c, h!.runner.seq++, h!.runner.flow.tsUs), buf);
    h!.feed.applyEvents(buf, 0, buf.count, h!.runner.flow.tsUs);
  }
}

const big = (n: number, side: string, price: number, qty: number, tif = 'GTC'): FlowCommand => ({
  type: 'new',
  account: side === 'BUY' ? 1 : 2,
  clOrdId: `big-${n}`,
  symbol: SYM_A,
  side,
  ordType: 'LIMIT',
  price,
  qty,
  tif,
});

describe.each([
  { name: 'narrow', config: flowConfig, bigQty: 990_000 },
  { name: 'wide', config: wideFlowConfig, bigQty: 99_999_999_990 },
])('decimal numbers on a $name configuration', ({ config, bigQty }) => {
  it('every channel: each decimal message is its units twin with exact decimal strings, same seqs', async () => {
    h = await startFeedHarness({ seed: 7, config: config() });
    await h.drive(300); // a book before anyone subscribes: the snapshots hold levels
    const decimalsOf = (s: string): [number, number] => {
      const i = h!.engine.config.instruments.find((x) => x.symbol === s)!;
      return [i.priceDecimals, i.qtyDecimals];
    };
    const units = await raw(h.url);
    const byUrl = await raw(`${h.url}?numbers=decimal`);
    const byOption = await raw(h.url);
    const all = { op: 'subscribe', channels: [...CHANNELS], symbols: [SYM_A, SYM_B] };
    units.ws.send(JSON.stringify({ ...all, id: 1 }));
    byUrl.ws.send(JSON.stringify({ ...all, id: 1 }));
    byOption.ws.send(JSON.stringify({ ...all, id: 1, numbers: 'decimal' }));
    const subscribed = (s: { got: Json[] }) => s.got.filter((m) => m.type === 'subscribed').length === 1;
    await until('three subscribed', () => subscribed(units) && subscribed(byUrl) && subscribed(byOption));
    await h.drive(1200);
    placeDirect([
      big(1, 'BUY', 995_000, bigQty),
      big(2, 'BUY', 995_000, bigQty),
      big(3, 'SELL', 1_005_000, bigQty),
      big(4, 'SELL', 995_000, bigQty + 10, 'IOC'), // crosses both bids: trades, l3 executes, candle volume
    ]);
    await h.drive(200);
    const last = (s: { got: Json[] }, ch: Channel, sym: string) =>
      s.got.filter((m) => isData(m) && m.channel === ch && m.symbol === sym).at(-1)?.seq as number | undefined;
    // l2.throttled updates leave on the server's 100 ms timer, possibly after the flow: wait for
    // one per symbol, then compare every socket up to the seqs all three have reached.
    const hasUpdate = (ch: Channel, sym: string) =>
      byUrl.got.some((m) => m.channel === ch && m.symbol === sym && m.type === 'update');
    for (const sym of [SYM_A, SYM_B]) await until(`l2.throttled ${sym} update`, () => hasUpdate('l2.throttled', sym));
    const upTo = new Map<string, number>();
    for (const ch of CHANNELS)
      for (const sym of [SYM_A, SYM_B]) {
        const seq = h.feed.projector.lastSeq(sym, ch);
        await until(`${ch} ${sym} at ${seq}`, () =>
          [units, byUrl, byOption].every((s) => (last(s, ch, sym) ?? -1) >= seq),
        );
        upTo.set(`${ch}/${sym}`, seq);
      }
    const data = (s: { got: Json[] }) =>
      s.got.filter((m) => isData(m) && (m.seq as number) <= upTo.get(`${m.channel}/${m.symbol}`)!);
    expect(data(byUrl).length).toBe(data(units).length);
    expect(data(byOption)).toEqual(data(byUrl));
    // Every channel sent a snapshot and updates on both symbols; the big orders are in the trades.
    for (const ch of CHANNELS) for (const sym of [SYM_A, SYM_B]) expect(hasUpdate(ch, sym), `${ch} ${sym}`).toBe(true);
    let numbers = 0;
    data(units).forEach((u, k) => {
      numbers += expectDecimalTwin(u, data(byUrl)[k]!, decimalsOf);
    });
    expect(numbers).toBeGreaterThan(1000);
    // The IOC ate the flow's bids, then most of the first big bid: a trade of more than half of it
    // (above 2^32 units on the wide instrument), compared as a decimal string with the rest above.
    const tradeQtys = data(units)
      .filter((m) => m.channel === 'trades' && m.symbol === SYM_A && m.type === 'update')
      .flatMap((m) => (m.trades as Json[]).map((t) => t.qty as number));
    expect(Math.max(...tradeQtys)).toBeGreaterThan(bigQty / 2);
    // A decimal client's checksum: the snapshots' levels with the point and leading zeros removed.
    for (const m of data(byUrl).filter((x) => x.channel === 'l2' && x.type === 'snapshot'))
      expect(l2ChecksumOfDecimal(m.bids as Level<string>[], m.asks as Level<string>[])).toBe(m.checksum);
  });

  it('REST book: ?numbers=decimal is the units book in decimal strings; a FeedClient in decimal form keeps the engine book, checksums verified', async () => {
    h = await startFeedHarness({ seed: 11, config: config() });
    await h.drive(600);
    placeDirect([big(1, 'BUY', 995_000, bigQty), big(2, 'SELL', 1_005_000, bigQty)]);
    const { priceDecimals: pd, qtyDecimals: qd } = h.engine.config.instruments[0]!;
    const book = `${h.http}/v1/book/${SYM_A}?depth=50`;
    const u = (await (await fetch(book)).json()) as Json;
    const d = (await (await fetch(`${book}&numbers=decimal`)).json()) as Json;
    expect(expectDecimalTwin(u, d, () => [pd, qd])).toBeGreaterThan(10);
    const bad = await fetch(`${book}&numbers=float`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).code).toBe('BAD_REQUEST');
    const instruments = (await (await fetch(`${h.http}/v1/instruments`)).json()) as Json;
    expect(instruments.instruments).toContainEqual({ symbol: SYM_A, price_decimals: pd, quantity_decimals: qd });

    const c = await FeedClient.connect({ url: h.url, numbers: 'decimal' });
    clients.push(c);
    const rest = await FeedClient.connect({ url: h.url, numbers: 'decimal', l2Sync: 'rest' });
    clients.push(rest);
    const wire: Json[] = [];
    c.on('message', (m: Json) => wire.push(m));
    await c.subscribe([SYM_A, SYM_B], ['l2', 'l3', 'trades']);
    await rest.subscribe([SYM_A], ['l2']);
    await h.drive(1500);
    placeDirect([big(3, 'SELL', 995_000, bigQty, 'IOC')]);
    for (const sym of [SYM_A, SYM_B]) {
      await caughtUp(h, c, sym, 'l2');
      await caughtUp(h, c, sym, 'l3');
      expectClientBook(c, h.engine, sym, { l3: true });
    }
    await caughtUp(h, rest, SYM_A, 'l2');
    expectClientBook(rest, h.engine, SYM_A);
    for (const x of [c, rest]) {
      expect(x.stats.checksumMismatches).toBe(0);
      expect(x.stats.gaps).toBe(0);
      expect(x.stats.errors).toBe(0);
    }
    expect(rest.stats.restSnapshots).toBe(1);
    // What the client received were decimal strings ('message' is the wire form).
    const l2 = wire.find((m) => m.channel === 'l2' && (m.bids as unknown[]).length > 0)!;
    expect(typeof (l2.bids as unknown[][])[0]![0]).toBe('string');
  });
});

describe('the numbers option: refusals leave the connection as it was', () => {
  it('NUMBERS_LOCKED with subscriptions, BAD_REQUEST for a bad value or protobuf + decimal; HTTP 400 at the upgrade', async () => {
    h = await startFeedHarness({ seed: 5 });
    await h.drive(200);
    const s = await raw(h.url);
    const req = (x: Json) => s.ws.send(JSON.stringify({ op: 'subscribe', channels: ['l2'], symbols: [SYM_A], ...x }));
    req({ id: 1, numbers: 'float' });
    req({ id: 2, numbers: 'decimal', encoding: 'protobuf' });
    req({ id: 3 });
    await until('subscribed', () => s.got.some((m) => m.type === 'subscribed' && m.id === 3));
    req({ id: 4, numbers: 'decimal', channels: ['trades'] });
    req({ id: 5, numbers: 'units', channels: ['l1'] }); // no change: accepted
    await until('five answers', () => s.got.filter((m) => m.type === 'error' || m.type === 'subscribed').length === 5);
    const codeOf = (id: number) => s.got.find((m) => m.id === id && m.type === 'error')?.code;
    expect([codeOf(1), codeOf(2), codeOf(4)]).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'NUMBERS_LOCKED']);
    expect(s.got.some((m) => m.type === 'subscribed' && m.id === 5)).toBe(true);
    await h.drive(300);
    await until('l2 updates', () => s.got.some((m) => m.channel === 'l2' && m.type === 'update'));
    // Still units, and the refused trades subscription was not added.
    for (const m of s.got.filter(isData)) {
      expect(m.channel === 'trades').toBe(false);
      if (m.channel === 'l2') for (const l of m.bids as unknown[][]) expect(typeof l[0]).toBe('number');
    }
    for (const q of ['numbers=decimal&encoding=protobuf', 'numbers=decimals'])
      expect(await upgradeRefusal(`${h.http}/v1/ws?${q}`), q).toEqual({ status: 400, code: 'BAD_REQUEST' });
  });
});

describe('quantities above 2^53 − 1 (which the engine never sends: it bounds a level’s total, LEVEL_QUANTITY_LIMIT)', () => {
  it('both forms carry the same value, nothing throws, the projector counts it', async () => {
    h = await startFeedHarness({ seed: 9, config: wideFlowConfig() });
    await h.drive(200);
    const units = await raw(h.url);
    const dec = await raw(`${h.url}?numbers=decimal`);
    const c = await FeedClient.connect({ url: h.url, numbers: 'decimal' });
    clients.push(c);
    await c.subscribe([SYM_A], ['l2']);
    for (const s of [units, dec])
      s.ws.send(JSON.stringify({ op: 'subscribe', id: 1, channels: ['l2'], symbols: [SYM_A] }));
    await until('two snapshots', () => [units, dec].every((s) => s.got.some((m) => m.type === 'snapshot')));
    // A book event for such a level, injected (the engine keeps a level's total ≤ 2^53 − 1):
    // 2^60 + 2^8 units, a double (and an integer) beyond 2^53 − 1.
    const qty = 2 ** 60 + 2 ** 8;
    const buf = new EventBuffer();
    const i = buf.next(EventKind.BOOK, h.runner.seq, h.runner.flow.tsUs);
    buf.symbol[i] = SYM_A;
    buf.side[i] = Side.BUY;
    buf.price[i] = 900_000;
    buf.qty[i] = qty;
    buf.aux[i] = 1;
    h.feed.applyEvents(buf, 0, buf.count, h.runner.flow.tsUs);
    const level = (s: { got: Json[] }) =>
      s.got
        .flatMap((m) => (m.type === 'update' ? (m.bids as unknown[][]) : []))
        .find((l) => l[0] === 900_000 || l[0] === '9000.00');
    await until('the level on both', () => level(units) !== undefined && level(dec) !== undefined);
    expect(level(units)).toEqual([900_000, qty, 1]);
    expect(level(dec)).toEqual([
      '9000.00',
      `${(2n ** 60n + 256n) / 10n ** 8n}.${((2n ** 60n + 256n) % 10n ** 8n).toString().padStart(8, '0')}`,
      1,
    ]);
    expect(h.feed.projector.stats.unsafeSums).toBe(1);
    expect(h.feed.stats.failures).toBe(0);
    await caughtUp(h, c, SYM_A, 'l2');
    expect(
      c
        .book(SYM_A)!
        .levels('BUY')
        .find((l) => l[0] === 900_000),
    ).toEqual([900_000, qty, 1]);
    expect(c.stats.checksumMismatches).toBe(0);
    expect(c.stats.errors).toBe(0);
  });
});

describe('decimal strings ↔ units', () => {
  it('parseDecimal(formatUnits(u)) = u, and the checksum text is the units digits, for units up to 2^64', () => {
    let x = 0x9e3779b97f4a7c15n;
    for (let k = 0; k < 2000; k++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      const u = x >> BigInt(k % 64);
      const decimals = k % 19;
      const text = formatUnits(u, decimals);
      expect(parseDecimal(text, decimals)).toEqual({ ok: true, units: u });
      expect(decimalUnitsText(text)).toBe(u.toString());
    }
  });
});
