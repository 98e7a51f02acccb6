// Wide instruments (maxPrice × maxQty ≥ 2^53): notionals at the extremes, exact through the
// engine, the exec report, avgPx, pipe-mode JSON, the binary event codec and the snapshot.
// The engine in general is compared with a BigInt reference in properties.test.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { avgPx } from '../../engine/avg-px.js';
import { DecodeError } from '../../engine/byte-writer.js';
import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import { decodeEvents, decodeEventsInto, encodeEvents } from '../../engine/event-codec.js';
import { eventToJson } from '../../engine/json-codec.js';
import { addNotional, isWide, notionalValue } from '../../engine/notional.js';
import { PipeSession } from '../../engine/pipe.js';
import { engineStateHash, readSnapshot, writeSnapshot } from '../../engine/snapshot.js';
import {
  ExecType,
  OrdStatus,
  OrdType,
  Reason,
  Side,
  Stp,
  Tif,
  type Command,
  type EngineEvent,
  type ExecReport,
  type InstrumentConfig,
  type ShardConfig,
} from '../../engine/types.js';
import { checkInvariants, run } from './helpers.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const T0 = 1_700_000_000_000_000;

/** BTC-USD quoted to 0.01 USD, quantities to 1 satoshi, up to 1,000,000.00 USD × 1,000 BTC: 1e8 × 1e11 = 1e19. */
const BTC_WIDE: InstrumentConfig = {
  symbol: 'BTC-USD-WIDE',
  tickSize: 1,
  lotSize: 1,
  minQty: 1,
  maxQty: 100_000_000_000,
  maxPrice: 100_000_000,
  priceBandTicks: 0,
  referencePrice: null,
  sessionCloseUtcUs: 0,
  priceDecimals: 2,
  qtyDecimals: 8,
};
/** The largest instrument the engine takes: price and quantity each up to 2^53 - 1. */
const EXTREME: InstrumentConfig = { ...BTC_WIDE, symbol: 'EXTREME', maxQty: MAX_SAFE, maxPrice: MAX_SAFE };
/** A narrow one beside them: its events are as before. */
const NARROW: InstrumentConfig = { ...BTC_WIDE, symbol: 'NARROW', maxQty: 1_000_000, maxPrice: 1_000_000 };

const config: ShardConfig = {
  shardId: 0,
  defaultStp: Stp.NONE,
  orderCountMax: 10_000,
  accounts: [],
  instruments: [BTC_WIDE, EXTREME, NARROW],
};

class Session {
  readonly engine = new Engine(config);
  private seq = 0;
  limit(account: number, symbol: string, side: Side, price: number, qty: number, tif: Tif = Tif.GTC): EngineEvent[] {
    return this.limitEncoded(account, symbol, side, price, qty, tif).events;
  }
  /**
   * Applies a limit order; returns its events, checked equal to what the binary codec gives back
   * (objects and rows), and the wire kind byte of each event.
   */
  limitEncoded(
    account: number,
    symbol: string,
    side: Side,
    price: number,
    qty: number,
    tif: Tif = Tif.GTC,
  ): { events: EngineEvent[]; wireKinds: number[] } {
    const seq = ++this.seq;
    const cmd: Command = {
      type: 'new',
      seq,
      tsUs: T0 + seq,
      account,
      clOrdId: `o${seq}`,
      symbol,
      side,
      ordType: OrdType.LIMIT,
      price,
      qty,
      tif,
    };
    const out = new EventBuffer();
    this.engine.apply(cmd, out);
    const events = out.toEvents();
    checkInvariants(cmd, events);
    const bytes = encodeEvents(out);
    expect(decodeEvents(bytes)).toEqual(events);
    const rows = new EventBuffer();
    decodeEventsInto(rows, bytes);
    expect(rows.toEvents()).toEqual(events);
    const wireKinds = events.map((_, i) => encodeEvents(out, i, i + 1)[4]!);
    return { events, wireKinds };
  }
}

const execs = (events: EngineEvent[]): ExecReport[] => events.filter((e): e is ExecReport => e.kind === 'exec');
const fills = (events: EngineEvent[]) => execs(events).filter((e) => e.execType === ExecType.TRADE);

describe('wide instruments: configuration', () => {
  it('BTC-USD-WIDE and the extreme instrument are wide, the narrow one is not', () => {
    expect([BTC_WIDE, EXTREME, NARROW].map(isWide)).toEqual([true, true, false]);
    // The boundary: maxPrice × maxQty = 2^53 - 1 is narrow, one more unit of product is wide.
    expect(isWide({ maxPrice: 6361 * 69_431, maxQty: 20_394_401 })).toBe(false); // = 2^53 - 1
    expect(isWide({ maxPrice: 2 ** 26, maxQty: 2 ** 27 })).toBe(true); // = 2^53
  });
});

describe('wide instruments: notionals at the extremes', () => {
  it('max price × max qty: 1,000 BTC at 1,000,000.00 USD fills with cumNotional 1e19 exactly', () => {
    const s = new Session();
    s.limit(1, BTC_WIDE.symbol, Side.SELL, BTC_WIDE.maxPrice, BTC_WIDE.maxQty);
    const { events } = s.limitEncoded(2, BTC_WIDE.symbol, Side.BUY, BTC_WIDE.maxPrice, BTC_WIDE.maxQty);
    const [maker, taker] = fills(events);
    for (const e of [maker!, taker!]) {
      expect(e.ordStatus).toBe(OrdStatus.FILLED);
      expect(e.cumQty).toBe(100_000_000_000);
      expect(e.cumNotional).toBe(10n ** 19n);
      expect(avgPx(e.cumNotional, e.cumQty)).toBe('100000000.00000000');
      expect(JSON.parse(eventToJson(e))).toMatchObject({
        cumNotional: '10000000000000000000',
        avgPx: '100000000.00000000',
      });
    }
  });

  it('price and quantity both 2^53 - 1: the product (~2^106) is exact', () => {
    const s = new Session();
    s.limit(1, EXTREME.symbol, Side.SELL, MAX_SAFE, MAX_SAFE);
    const { events } = s.limitEncoded(2, EXTREME.symbol, Side.BUY, MAX_SAFE, MAX_SAFE);
    const want = BigInt(MAX_SAFE) * BigInt(MAX_SAFE);
    for (const e of fills(events)) {
      expect(e.cumNotional).toBe(want);
      expect(avgPx(e.cumNotional, e.cumQty)).toBe(`${MAX_SAFE}.00000000`);
    }
  });

  it('the form changes exactly at 2^53: a number up to 2^53 - 1 (exec, kind 1), a bigint above (exec_wide, kind 9)', () => {
    // 2^53 - 1 = 6361 × 69431 × 20394401: one fill of 441,650,591 units at 20,394,401 is exactly MAX_SAFE_INTEGER.
    const s = new Session();
    const price = 20_394_401;
    s.limit(1, BTC_WIDE.symbol, Side.SELL, price, 441_650_591 + 1);
    const first = s.limitEncoded(2, BTC_WIDE.symbol, Side.BUY, price, 441_650_591, Tif.IOC);
    const maker1 = fills(first.events)[0]!;
    expect(maker1.cumNotional).toBe(MAX_SAFE);
    expect(eventToJson(maker1)).toContain(`"cumNotional":${MAX_SAFE},`);
    expect(first.wireKinds).toEqual([1, 2, 1, 1, 3]);
    const second = s.limitEncoded(3, BTC_WIDE.symbol, Side.BUY, price, 1, Tif.IOC);
    const maker2 = fills(second.events)[0]!;
    expect(maker2.ordStatus).toBe(OrdStatus.FILLED);
    expect(maker2.cumNotional).toBe(BigInt(MAX_SAFE) + BigInt(price));
    expect(eventToJson(maker2)).toContain(`"cumNotional":"${BigInt(MAX_SAFE) + BigInt(price)}"`);
    // The taker of the second command filled 1 unit: its notional is small and stays a number.
    expect(fills(second.events)[1]!.cumNotional).toBe(price);
    // Wire kinds: trade, exec_wide (the maker), exec (the taker), book; in the buffer both are EXEC.
    expect(second.events.map((e) => e.kind)).toEqual(['exec', 'trade', 'exec', 'exec', 'book']);
    expect(second.wireKinds).toEqual([1, 2, 9, 1, 3]); // the taker's NEW, trade, maker, taker, book
  });

  it('many partial fills summing far beyond 2^53 stay exact (BigInt reference), and avgPx is exact', () => {
    const s = new Session();
    const makerPrice = 99_999_999; // 999,999.99 USD
    s.limit(1, BTC_WIDE.symbol, Side.SELL, makerPrice, BTC_WIDE.maxQty);
    let want = 0n;
    let cumQty = 0;
    for (let k = 0; k < 500; k++) {
      const qty = 123_456_789 + 7919 * k; // ~1.23 BTC, odd amounts
      const events = s.limit(2 + (k % 3), BTC_WIDE.symbol, Side.BUY, makerPrice, qty, Tif.IOC);
      const maker = fills(events)[0]!;
      want += BigInt(makerPrice) * BigInt(qty);
      cumQty += qty;
      expect(maker.cumQty).toBe(cumQty);
      expect(typeof maker.cumNotional === 'bigint' ? maker.cumNotional : BigInt(maker.cumNotional)).toBe(want);
      // AvgPx of one price is that price, exactly, however large the notional.
      expect(avgPx(maker.cumNotional, maker.cumQty)).toBe(`${makerPrice}.00000000`);
    }
    expect(want > BigInt(MAX_SAFE) * 100n).toBe(true);
  });

  it('avgPx of fills at several prices above 2^53: exact to the nearest last decimal (no tie here)', () => {
    const s = new Session();
    s.limit(1, BTC_WIDE.symbol, Side.SELL, 50_000_001, 30_000_000_000);
    s.limit(1, BTC_WIDE.symbol, Side.SELL, 50_000_002, 30_000_000_001);
    s.limit(1, BTC_WIDE.symbol, Side.SELL, 50_000_004, 30_000_000_003);
    const events = s.limit(2, BTC_WIDE.symbol, Side.BUY, 50_000_004, 90_000_000_004);
    const taker = fills(events).at(-1)!;
    const notional = 50_000_001n * 30_000_000_000n + 50_000_002n * 30_000_000_001n + 50_000_004n * 30_000_000_003n;
    expect(taker.cumNotional).toBe(notional);
    // notional / 90,000,000,004 = 50,000,002.333333... (computed by hand in BigInt below)
    const scaled = (notional * 10n ** 8n * 2n + 90_000_000_004n) / (2n * 90_000_000_004n);
    const text = scaled.toString();
    expect(avgPx(taker.cumNotional, taker.cumQty)).toBe(`${text.slice(0, -8)}.${text.slice(-8)}`);
  });
});

describe('wide instruments: snapshot and state hash', () => {
  it('a resting order with a notional above 2^53 survives snapshot/restore and continues exactly', () => {
    const s = new Session();
    s.limit(1, BTC_WIDE.symbol, Side.SELL, 99_999_999, 90_000_000_000);
    s.limit(1, NARROW.symbol, Side.SELL, 1000, 500);
    s.limit(2, BTC_WIDE.symbol, Side.BUY, 99_999_999, 10_000_000_001, Tif.IOC);
    const bytes = writeSnapshot(s.engine);
    const restored = readSnapshot(config, bytes);
    expect(engineStateHash(restored)).toBe(engineStateHash(s.engine));
    expect(Buffer.from(writeSnapshot(restored))).toEqual(Buffer.from(bytes));
    const cmd: Command = {
      type: 'new',
      seq: 100,
      tsUs: T0 + 100,
      account: 3,
      clOrdId: 'z',
      symbol: BTC_WIDE.symbol,
      side: Side.BUY,
      ordType: OrdType.LIMIT,
      price: 99_999_999,
      qty: 7,
      tif: Tif.IOC,
    };
    const a = run(s.engine, cmd);
    const b = run(restored, cmd);
    expect(b).toEqual(a);
    expect(fills(a)[0]!.cumNotional).toBe(99_999_999n * 10_000_000_008n);
  });

  it('the high limb is announced in the image itself: narrow images are unchanged, and a config that made the instrument narrow is refused', () => {
    const s = new Session();
    s.limit(1, BTC_WIDE.symbol, Side.SELL, 99_999_999, 90_000_000_000);
    // cumNotional below 2^53: the wide instrument's order is written as any narrow one; the same
    // image restores under a config where the instrument is narrow.
    s.limit(2, BTC_WIDE.symbol, Side.BUY, 99_999_999, 1000, Tif.IOC);
    const narrowed: ShardConfig = {
      ...config,
      instruments: [{ ...BTC_WIDE, maxQty: 90_000_000 }, EXTREME, NARROW],
    };
    expect(isWide(narrowed.instruments[0]!)).toBe(false);
    expect(engineStateHash(readSnapshot(narrowed, writeSnapshot(s.engine)))).toBe(engineStateHash(s.engine));
    // Above 2^53 the image carries the high limb, which a narrow instrument cannot hold: refused.
    s.limit(2, BTC_WIDE.symbol, Side.BUY, 99_999_999, 10_000_000_001, Tif.IOC);
    const bytes = writeSnapshot(s.engine);
    expect(engineStateHash(readSnapshot(config, bytes))).toBe(engineStateHash(s.engine));
    expect(() => readSnapshot(narrowed, bytes)).toThrow(/notional above 2\^53 on BTC-USD-WIDE, which is not wide/);
  });

  it('the high limb is part of the state hash', () => {
    const a = new Session();
    const b = new Session();
    for (const s of [a, b]) s.limit(1, BTC_WIDE.symbol, Side.SELL, 99_999_999, 90_000_000_000);
    a.limit(2, BTC_WIDE.symbol, Side.BUY, 99_999_999, 10_000_000_001, Tif.IOC);
    b.limit(2, BTC_WIDE.symbol, Side.BUY, 99_999_999, 10_000_000_001, Tif.IOC);
    expect(engineStateHash(b.engine)).toBe(engineStateHash(a.engine));
    // Same low limb, another high limb: a different state, a different hash.
    const slot = b.engine.orders.cumNotionalHi.findIndex((hi) => hi > 0);
    expect(slot).toBeGreaterThanOrEqual(0);
    b.engine.orders.cumNotionalHi[slot]! += 1;
    expect(engineStateHash(b.engine)).not.toBe(engineStateHash(a.engine));
  });
});

describe('wide instruments: binary codec and pipe mode', () => {
  /** Offset of the low limb (cumNotional) in a one-event frame: count, kind, seq, tsUs, 3 f64, 7 u8, 7 f64. */
  const LO_OFFSET = 4 + 1 + 8 + 8 + 24 + 7 + 7 * 8;
  function execWideBytes(hi: number, lo?: number): Uint8Array {
    const s = new Session();
    s.limit(1, BTC_WIDE.symbol, Side.SELL, 99_999_999, 90_000_000_000);
    const out = new EventBuffer();
    s.engine.apply(
      {
        type: 'new',
        seq: 50,
        tsUs: T0 + 50,
        account: 2,
        clOrdId: 'w',
        symbol: BTC_WIDE.symbol,
        side: Side.BUY,
        ordType: OrdType.LIMIT,
        price: 99_999_999,
        qty: 90_000_000_000,
        tif: Tif.IOC,
      },
      out,
    );
    // Keep only the maker's exec (row 2, after the taker's NEW and the trade), an exec_wide, with its high limb replaced.
    const bytes = encodeEvents(out, 2, 3);
    expect(bytes[4]).toBe(9);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    view.setFloat64(LO_OFFSET + 8, hi, true);
    if (lo !== undefined) view.setFloat64(LO_OFFSET, lo, true);
    return bytes;
  }

  it('decodes a well-formed exec_wide, refuses non-canonical limbs (hi not a positive integer, lo not in [0, 2^53))', () => {
    const good = decodeEvents(execWideBytes(3));
    const lo = (99_999_999n * 90_000_000_000n) & (2n ** 53n - 1n);
    expect((good[0] as ExecReport).cumNotional).toBe(3n * 2n ** 53n + lo);
    expect((decodeEvents(execWideBytes(3, 0))[0] as ExecReport).cumNotional).toBe(3n * 2n ** 53n);
    const bad = [
      ...[0, -1, 1.5, Number.NaN, 2 ** 53].map((hi) => execWideBytes(hi)),
      ...[-1, 0.5, 2 ** 53, Number.POSITIVE_INFINITY].map((badLo) => execWideBytes(3, badLo)),
    ];
    for (const bytes of bad) {
      expect(() => decodeEvents(bytes)).toThrow(DecodeError);
      const buf = new EventBuffer();
      expect(() => decodeEventsInto(buf, bytes)).toThrow(DecodeError);
      expect(buf.count).toBe(0);
    }
  });

  it('pipe mode writes a wide cumNotional as a string of digits, a narrow one as a number', () => {
    const session = new PipeSession({ config });
    const line = (o: Record<string, unknown>) =>
      session.line(JSON.stringify({ type: 'new', account: 1, ordType: 'LIMIT', side: 'SELL', ...o }));
    line({ clOrdId: 'a', symbol: BTC_WIDE.symbol, price: 100_000_000, qty: 100_000_000_000 });
    line({ clOrdId: 'b', symbol: NARROW.symbol, price: 1_000_000, qty: 1_000_000 });
    const wide = line({
      clOrdId: 'c',
      account: 2,
      side: 'BUY',
      symbol: BTC_WIDE.symbol,
      price: 100_000_000,
      qty: 100_000_000_000,
    });
    const narrow = line({
      clOrdId: 'd',
      account: 2,
      side: 'BUY',
      symbol: NARROW.symbol,
      price: 1_000_000,
      qty: 1_000_000,
    });
    const reports = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((e) => e.execType === 'TRADE');
    for (const e of reports(wide))
      expect(e).toMatchObject({ cumNotional: '10000000000000000000', avgPx: '100000000.00000000' });
    for (const e of reports(narrow))
      expect(e).toMatchObject({ cumNotional: 1_000_000_000_000, avgPx: '1000000.00000000' });
  });
});

describe('addNotional', () => {
  it('agrees with BigInt across the carry into the high limb (up to the bound (2^53 - 1)^2 of one order)', () => {
    const lo = new Float64Array(1);
    const hi = new Float64Array(1);
    let want = 0n;
    const steps: [number, number][] = [
      [MAX_SAFE, 1],
      [1, 1],
      [3, 2 ** 52],
      [2 ** 52, MAX_SAFE],
      [99_999_999, 100_000_000_000],
      [1, MAX_SAFE],
    ];
    for (const [qty, px] of steps) {
      addNotional(lo, hi, 0, qty, px);
      want += BigInt(qty) * BigInt(px);
      expect(notionalValue(lo[0]!, hi[0]!)).toBe(want <= BigInt(MAX_SAFE) ? Number(want) : want);
      expect(lo[0]! >= 0 && lo[0]! <= MAX_SAFE && Number.isInteger(hi[0]!)).toBe(true);
    }
    expect(want > 2n ** 105n && want <= BigInt(MAX_SAFE) ** 2n).toBe(true);
  });

  /** A non-negative safe integer, often at or near the edges (0, 1, 2^26, 2^27, 2^52, 2^53 - 1). */
  const safeInt = fc.oneof(
    fc.integer({ min: 0, max: MAX_SAFE }),
    fc.constantFrom(
      0,
      1,
      2,
      2 ** 26 - 1,
      2 ** 26,
      2 ** 27 + 1,
      2 ** 52 - 1,
      2 ** 52,
      2 ** 52 + 1,
      MAX_SAFE - 1,
      MAX_SAFE,
    ),
    fc.integer({ min: MAX_SAFE - 1_000_000, max: MAX_SAFE }),
    fc.integer({ min: 0, max: 2 ** 32 }),
  );

  it('agrees with BigInt on any sequence of fills within the bound (fast-check)', () => {
    const bound = BigInt(MAX_SAFE) ** 2n;
    fc.assert(
      fc.property(fc.array(fc.tuple(safeInt, safeInt), { minLength: 1, maxLength: 12 }), (steps) => {
        const lo = new Float64Array(1);
        const hi = new Float64Array(1);
        let want = 0n;
        for (const [qty, px] of steps) {
          if (want + BigInt(qty) * BigInt(px) > bound) break; // an order never passes maxPrice × maxQty
          addNotional(lo, hi, 0, qty, px);
          want += BigInt(qty) * BigInt(px);
          const got = notionalValue(lo[0]!, hi[0]!);
          if (got !== (want <= BigInt(MAX_SAFE) ? Number(want) : want) || !(lo[0]! >= 0 && lo[0]! <= MAX_SAFE))
            throw new Error(`after ${qty} × ${px}: (${lo[0]}, ${hi[0]}) = ${got}, want ${want}`);
        }
      }),
      { seed: 20_261_207, numRuns: 20_000 },
    );
  });
});

describe('a price level’s displayed total stays exact (≤ 2^53 − 1)', () => {
  const HALF = 2 ** 52; // two of these at one price make 2^53: one past the exact range
  const bookQty = (events: EngineEvent[]) =>
    events.filter((e) => e.kind === 'book').map((e) => (e as { qty: number }).qty);

  it('an order whose rest would pass it expires with LEVEL_QUANTITY_LIMIT; the level is unchanged, the next price level takes it', () => {
    const k = new Session();
    expect(bookQty(k.limit(1, 'EXTREME', Side.SELL, 1_000, HALF))).toEqual([HALF]);
    const refused = k.limit(2, 'EXTREME', Side.SELL, 1_000, HALF);
    expect(execs(refused).map((e) => [e.execType, e.ordStatus, e.reason, e.leavesQty])).toEqual([
      [ExecType.NEW, OrdStatus.NEW, Reason.NONE, HALF],
      [ExecType.EXPIRED, OrdStatus.EXPIRED, Reason.LEVEL_QUANTITY_LIMIT, 0],
    ]);
    expect(bookQty(refused)).toEqual([]); // nothing rested, no book event
    // Up to exactly 2^53 − 1 it rests.
    expect(bookQty(k.limit(3, 'EXTREME', Side.SELL, 1_000, HALF - 1))).toEqual([MAX_SAFE]);
    expect(bookQty(k.limit(4, 'EXTREME', Side.SELL, 1_001, HALF))).toEqual([HALF]);
    // A buyer takes the whole 2^53 − 1 level exactly, and the level is gone.
    const sweep = k.limit(5, 'EXTREME', Side.BUY, 1_000, MAX_SAFE);
    expect(
      fills(sweep)
        .filter((e) => e.account === 5)
        .at(-1),
    ).toMatchObject({ cumQty: MAX_SAFE, leavesQty: 0 });
    expect(bookQty(sweep)).toEqual([0]);
  });

  it('an amend that loses priority re-rests under the same rule: up to 2^53 − 1 it rests, past it it expires', () => {
    const k = new Session();
    k.limit(1, 'EXTREME', Side.SELL, 1_000, HALF);
    const placed = execs(k.limit(2, 'EXTREME', Side.SELL, 1_000, HALF - 2))[0]!;
    const amend = (seq: number, qty: number) => {
      const out = new EventBuffer();
      k.engine.apply({ type: 'amend', seq, tsUs: T0 + seq, account: 2, orderId: placed.orderId, qty }, out);
      return out.toEvents();
    };
    // Up by one: the level's total becomes exactly 2^53 − 1.
    expect(bookQty(amend(3, HALF - 1))).toEqual([HALF, MAX_SAFE]);
    // Up by one more: it would pass it, so the order expires and the level keeps the other's quantity.
    const over = amend(4, HALF);
    expect(execs(over).at(-1)).toMatchObject({ execType: ExecType.EXPIRED, reason: Reason.LEVEL_QUANTITY_LIMIT });
    expect(bookQty(over).at(-1)).toBe(HALF);
  });
});
