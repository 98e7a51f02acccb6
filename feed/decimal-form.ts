// The decimal form of the feed's data messages: every price, quantity and volume as the exact
// decimal string of its integer units with the instrument's decimals (api/decimal.ts
// formatUnits: 4999050 with priceDecimals 2 → "49990.50"; never a float), everything else
// (counts, ids, seqs, times, the checksum) unchanged. The server formats a message in this form
// once per publish, only when a decimal topic has subscribers (feed-server.ts); the client parses
// it back to units (api/decimal.ts parseDecimal) so that its books, gap detection and checksum
// check work on units as before.
//
// The l2 checksum stays defined over units (feed/checksum.ts). A decimal client gets a price's
// or quantity's units text by removing the point and the leading zeros ("0.00020000" → "20000",
// "0.00" → "0"), as Kraken's checksum does: decimalUnitsText / l2ChecksumOfDecimal below.

import { formatUnits, parseDecimal } from '../api/decimal.js';
import { l2Checksum } from './checksum.js';
import type { Candle, DataMessage, L3Event, L3Message, Level, Num, OrderEntry, Trade } from './types.js';

/** An instrument's decimals (engine/config.ts InstrumentConfig has both). */
export interface InstrumentDecimals {
  priceDecimals: number;
  qtyDecimals: number;
}

/** How one form's price and quantity fields become the other's. */
interface NumberMap<A extends Num, B extends Num> {
  price: (v: A) => B;
  qty: (v: A) => B;
}

/** The decimal form of a units message (a new object; `m` is not changed). */
export function toDecimalForm(m: DataMessage, d: InstrumentDecimals): DataMessage<string> {
  return mapNumbers<number, string>(m, {
    price: (u) => formatUnits(exactUnits(u), d.priceDecimals),
    qty: (u) => formatUnits(exactUnits(u), d.qtyDecimals),
  });
}

/**
 * The units form of a decimal message, exactly (as decimalToUnits). Throws a RangeError on a
 * string that is not a decimal with at most the instrument's decimals.
 */
export function fromDecimalForm(m: DataMessage<string>, d: InstrumentDecimals): DataMessage {
  return mapNumbers<string, number>(m, {
    price: (t) => decimalToUnits(t, d.priceDecimals),
    qty: (t) => decimalToUnits(t, d.qtyDecimals),
  });
}

/**
 * A units number as formatUnits takes it. Above 2^53 − 1 (an l2 level's sum or a candle's volume
 * on a wide instrument, already rounded where it was summed: feed/README.md "Exactness") a double
 * is still an integer: its exact value as a bigint, the digits JSON.stringify writes for it on a
 * units connection, so both forms carry the same value.
 */
function exactUnits(u: number): number | bigint {
  return Number.isSafeInteger(u) ? u : BigInt(u);
}

/**
 * Units of one decimal string (RangeError when it is not a decimal with at most `decimals`
 * digits after the point). A number: exact up to 2^53 − 1; above, the nearest double, which is the
 * value itself for what the server sends (see exactUnits).
 */
export function decimalToUnits(text: string, decimals: number): number {
  const r = parseDecimal(text, decimals);
  if (!r.ok) throw new RangeError(`not a decimal with ${decimals} decimals (${r.error}): ${String(text).slice(0, 48)}`);
  return Number(r.units);
}

/** The units text the checksum string uses for a decimal price or quantity: the point and leading zeros removed. */
export function decimalUnitsText(text: string): string {
  return text.replace('.', '').replace(/^0+(?=[0-9])/, '');
}

/** The l2 checksum (feed/checksum.ts) of a book given as decimal-form levels, best first. */
export function l2ChecksumOfDecimal(bids: readonly Level<string>[], asks: readonly Level<string>[]): number {
  const units = (l: Level<string>) => [decimalUnitsText(l[0]), decimalUnitsText(l[1])];
  return l2Checksum(bids.slice(0, 10).map(units), asks.slice(0, 10).map(units));
}

/** The same message with every price / quantity field mapped; field order kept (the JSON is the same shape). */
function mapNumbers<A extends Num, B extends Num>(m: DataMessage<A>, f: NumberMap<A, B>): DataMessage<B> {
  const level = (l: Level<A>): Level<B> => [f.price(l[0]), f.qty(l[1]), l[2]];
  const quote = (q: [A, A] | null): [B, B] | null => (q === null ? null : [f.price(q[0]), f.qty(q[1])]);
  const order = (o: OrderEntry<A>): OrderEntry<B> => [o[0], f.price(o[1]), f.qty(o[2])];
  switch (m.channel) {
    case 'l2':
    case 'l2.throttled':
      return { ...m, bids: m.bids.map(level), asks: m.asks.map(level) };
    case 'l1':
      return { ...m, bid: quote(m.bid), ask: quote(m.ask) };
    case 'l3': {
      const out: L3Message<B> = { channel: m.channel, type: m.type, symbol: m.symbol, seq: m.seq, ts_us: m.ts_us };
      if (m.bids !== undefined) out.bids = m.bids.map(order);
      if (m.asks !== undefined) out.asks = m.asks.map(order);
      if (m.events !== undefined) out.events = m.events.map((e) => mapL3Event(e, f));
      return out;
    }
    case 'trades':
      return { ...m, trades: m.trades.map((t): Trade<B> => ({ ...t, price: f.price(t.price), qty: f.qty(t.qty) })) };
    case 'candles':
      return { ...m, candles: m.candles.map((c) => mapCandle(c, f)) };
    case 'status':
      return { ...m, reference_price: f.price(m.reference_price) };
  }
}

function mapL3Event<A extends Num, B extends Num>(e: L3Event<A>, f: NumberMap<A, B>): L3Event<B> {
  switch (e.op) {
    case 'add':
      return { ...e, price: f.price(e.price), qty: f.qty(e.qty) };
    case 'modify':
      return { ...e, qty: f.qty(e.qty) };
    case 'remove':
      return e;
    case 'execute':
      return { ...e, price: f.price(e.price), qty: f.qty(e.qty), remaining: f.qty(e.remaining) };
  }
}

function mapCandle<A extends Num, B extends Num>(c: Candle<A>, f: NumberMap<A, B>): Candle<B> {
  return {
    ...c,
    open: f.price(c.open),
    high: f.price(c.high),
    low: f.price(c.low),
    close: f.price(c.close),
    volume: f.qty(c.volume),
  };
}
