// Hand-written scenarios with exact event sequences, derived from engine/README.md.
// Accounts: A = 1, B = 2, C = 3, D = 4. BTC: tick 5, lot 10, band [995_000, 1_005_000].

import { describe, expect, it } from 'vitest';
import {
  CxlRejResponseTo,
  ExecType,
  InstrumentStatus,
  OrdStatus,
  OrdType,
  PostOnly,
  Reason,
  Side,
  Stp,
  Tif,
  type EngineEvent,
  type ExecReport,
} from '../../engine/types.js';
import { BTC, BTC_NEXT_CLOSE, ETH, Kit, T0, book, defaultConfig, exec, summary, trade } from './helpers.js';

const { BUY, SELL } = Side;
const { MARKET, STOP_MARKET, STOP_LIMIT } = OrdType;
const { NEW, TRADE, CANCELED, REPLACED, REJECTED, EXPIRED, TRIGGERED, RESTATED } = ExecType;
const S = OrdStatus;
const A = 1;
const B = 2;
const C = 3;
const D = 4;

/** Exact sequence check with readable failure output. */
function expectEvents(events: EngineEvent[], expected: object[]): void {
  expect(events, summary(events).join('\n')).toMatchObject(expected);
}

const nonBook = (ev: EngineEvent[]) => ev.filter((e) => e.kind !== 'book');
/** The last book event of each (symbol, side, price) level touched, in first-touch order. */
function lastBookPerLevel(ev: EngineEvent[]): object[] {
  const m = new Map<string, object>();
  for (const e of ev)
    if (e.kind === 'book') m.set(`${e.symbol}/${e.side}/${e.price}`, { ...e, seq: undefined, tsUs: undefined });
  return [...m.values()].map((e) => {
    const { seq: _s, tsUs: _t, ...rest } = e as Record<string, unknown>;
    return rest;
  });
}

const newAck = (orderId: number, f: Partial<ExecReport> = {}) =>
  exec(NEW, S.NEW, { orderId, cumQty: 0, lastQty: 0, cumNotional: 0, reason: Reason.NONE, tradeId: 0, ...f });

describe('matching', () => {
  it('simple cross with partial fill, then the rest of the maker', () => {
    const k = new Kit();
    expectEvents(k.new({ account: A, side: SELL, price: 1_000_000, qty: 30, clOrdId: 'a' }), [
      newAck(1, {
        clOrdId: 'a',
        account: A,
        symbol: BTC,
        side: SELL,
        ordType: OrdType.LIMIT,
        price: 1_000_000,
        orderQty: 30,
        leavesQty: 30,
      }),
      book(SELL, 1_000_000, 30, 1),
    ]);
    const ev = k.new({ account: B, side: BUY, price: 1_000_005, qty: 10 });
    expectEvents(ev, [
      newAck(2, { price: 1_000_005, orderQty: 10, leavesQty: 10 }),
      trade({
        symbol: BTC,
        price: 1_000_000,
        qty: 10,
        aggressorSide: BUY,
        takerOrderId: 2,
        takerAccount: B,
        makerOrderId: 1,
        makerAccount: A,
      }),
      exec(TRADE, S.PARTIALLY_FILLED, {
        orderId: 1,
        orderQty: 30,
        cumQty: 10,
        leavesQty: 20,
        lastQty: 10,
        lastPx: 1_000_000,
        cumNotional: 10_000_000,
        price: 1_000_000,
      }),
      exec(TRADE, S.FILLED, {
        orderId: 2,
        orderQty: 10,
        cumQty: 10,
        leavesQty: 0,
        lastQty: 10,
        lastPx: 1_000_000,
        cumNotional: 10_000_000,
        price: 1_000_005,
      }),
      book(SELL, 1_000_000, 20, 1),
    ]);
    expect(k.engine.order(2)).toBeUndefined();
    expect(k.engine.order(1)).toMatchObject({ cumQty: 10, leavesQty: 20, orderQty: 30 });

    expectEvents(k.new({ account: C, side: BUY, price: 1_000_000, qty: 30 }), [
      newAck(3, { orderQty: 30, leavesQty: 30 }),
      trade({ price: 1_000_000, qty: 20, takerOrderId: 3, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1, orderQty: 30, cumQty: 30, leavesQty: 0, cumNotional: 30_000_000 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 3, orderQty: 30, cumQty: 20, leavesQty: 10 }),
      book(SELL, 1_000_000, 0, 0),
      book(BUY, 1_000_000, 10, 1),
    ]);
    expect(k.engine.bookLevels(BTC, SELL)).toEqual([]);
    expect(k.engine.bookLevels(BTC, BUY)).toEqual([{ price: 1_000_000, qty: 10, orderCount: 1 }]);
  });

  it('a partially filled taker rests only its leavesQty, and a later taker cannot overfill it', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 20 }); // 1
    const ev = k.new({ account: B, side: BUY, price: 1_000_000, qty: 30 }); // 2: fills 20, rests 10
    expect.soft(ev.at(-1)).toEqual(expect.objectContaining(book(BUY, 1_000_000, 10, 1)));
    expect.soft(k.engine.bookLevels(BTC, BUY)).toEqual([{ price: 1_000_000, qty: 10, orderCount: 1 }]);
    expect
      .soft(k.engine.bookOrders(BTC, BUY))
      .toEqual([{ orderId: 2, account: B, price: 1_000_000, leavesQty: 10, visibleQty: 10 }]);
    // Must not throw, must not fill more than the maker's 10.
    expectEvents(k.new({ account: C, side: SELL, price: 1_000_000, qty: 30 }), [
      newAck(3, { orderQty: 30 }),
      trade({ price: 1_000_000, qty: 10, makerOrderId: 2, takerOrderId: 3 }),
      exec(TRADE, S.FILLED, { orderId: 2, orderQty: 30, cumQty: 30, leavesQty: 0 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 3, cumQty: 10, leavesQty: 20 }),
      book(BUY, 1_000_000, 0, 0),
      book(SELL, 1_000_000, 20, 1),
    ]);
  });

  it('an iceberg taker rests min(displayQty, leavesQty)', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 30 }); // 1
    const ev = k.new({ account: B, side: BUY, price: 1_000_000, qty: 50, displayQty: 40 }); // 2: fills 30, 20 left
    expect(ev.at(-1)).toEqual(expect.objectContaining(book(BUY, 1_000_000, 20, 1)));
    expect(k.engine.bookOrders(BTC, BUY)).toEqual([
      { orderId: 2, account: B, price: 1_000_000, leavesQty: 20, visibleQty: 20 },
    ]);
  });

  it('market orders on an instrument without a reference price are not band-limited', () => {
    const k = new Kit();
    k.new({ account: A, symbol: ETH, side: SELL, price: 10, qty: 10 }); // 1
    k.new({ account: A, symbol: ETH, side: SELL, price: 90_000_000, qty: 10 }); // 2
    const ev = k.new({ account: B, symbol: ETH, side: BUY, ordType: MARKET, price: undefined, qty: 20 });
    expect(ev.filter((e) => e.kind === 'trade').map((e) => (e as { price: number }).price)).toEqual([10, 90_000_000]);
    expect(ev.at(-2)).toMatchObject(exec(TRADE, S.FILLED, { orderId: 3, cumQty: 20, cumNotional: 900_000_100 }));
  });

  it('sweep of several levels: one book event per level left', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 1
    k.new({ account: A, side: SELL, price: 1_000_005, qty: 10 }); // 2
    k.new({ account: B, side: SELL, price: 1_000_005, qty: 10 }); // 3
    k.new({ account: B, side: SELL, price: 1_000_010, qty: 30 }); // 4
    k.new({ account: A, side: SELL, price: 1_000_015, qty: 10 }); // 5
    expectEvents(k.new({ account: C, side: BUY, price: 1_000_010, qty: 50 }), [
      newAck(6, { orderQty: 50, leavesQty: 50 }),
      trade({ price: 1_000_000, qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 6, cumQty: 10, leavesQty: 40, cumNotional: 10_000_000 }),
      book(SELL, 1_000_000, 0, 0),
      trade({ price: 1_000_005, qty: 10, makerOrderId: 2 }),
      exec(TRADE, S.FILLED, { orderId: 2 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 6, cumQty: 20, leavesQty: 30 }),
      trade({ price: 1_000_005, qty: 10, makerOrderId: 3 }),
      exec(TRADE, S.FILLED, { orderId: 3 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 6, cumQty: 30, leavesQty: 20 }),
      book(SELL, 1_000_005, 0, 0),
      trade({ price: 1_000_010, qty: 20, makerOrderId: 4 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, cumQty: 20, leavesQty: 10 }),
      exec(TRADE, S.FILLED, { orderId: 6, orderQty: 50, cumQty: 50, leavesQty: 0, cumNotional: 50_000_300 }),
      book(SELL, 1_000_010, 10, 1),
    ]);
    expect(k.engine.bookLevels(BTC, SELL)).toEqual([
      { price: 1_000_010, qty: 10, orderCount: 1 },
      { price: 1_000_015, qty: 10, orderCount: 1 },
    ]);
    expect(k.engine.bookLevels(BTC, BUY)).toEqual([]);
  });

  it('IOC: remainder expires, no book event for its own side', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 });
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_005, qty: 30, tif: Tif.IOC }), [
      newAck(2, { orderQty: 30, leavesQty: 30 }),
      trade({ price: 1_000_000, qty: 10 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 2, orderQty: 30, cumQty: 10, leavesQty: 20 }),
      book(SELL, 1_000_000, 0, 0),
      exec(EXPIRED, S.EXPIRED, {
        orderId: 2,
        orderQty: 30,
        cumQty: 10,
        leavesQty: 0,
        reason: Reason.IMMEDIATE_OR_CANCEL,
        cumNotional: 10_000_000,
      }),
    ]);
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_005, qty: 30, tif: Tif.IOC }), [
      newAck(3, { orderQty: 30, leavesQty: 30 }),
      exec(EXPIRED, S.EXPIRED, {
        orderId: 3,
        orderQty: 30,
        cumQty: 0,
        leavesQty: 0,
        reason: Reason.IMMEDIATE_OR_CANCEL,
      }),
    ]);
    expect(k.engine.bookLevels(BTC, BUY)).toEqual([]);
  });

  it('FOK: killed when not fully fillable within its limit, filled otherwise', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 1
    k.new({ account: A, side: SELL, price: 1_000_010, qty: 10 }); // 2
    const before = k.view([1, 2]);
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_010, qty: 30, tif: Tif.FOK }), [
      newAck(3, { orderQty: 30, leavesQty: 30 }),
      exec(EXPIRED, S.EXPIRED, { orderId: 3, orderQty: 30, cumQty: 0, leavesQty: 0, reason: Reason.FILL_OR_KILL }),
    ]);
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_005, qty: 20, tif: Tif.FOK }), [
      newAck(4, { orderQty: 20, leavesQty: 20 }),
      exec(EXPIRED, S.EXPIRED, { orderId: 4, orderQty: 20, reason: Reason.FILL_OR_KILL }),
    ]);
    expect(k.view([1, 2])).toEqual(before);
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_010, qty: 20, tif: Tif.FOK }), [
      newAck(5, { orderQty: 20, leavesQty: 20 }),
      trade({ price: 1_000_000, qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 5, cumQty: 10, leavesQty: 10 }),
      book(SELL, 1_000_000, 0, 0),
      trade({ price: 1_000_010, qty: 10, makerOrderId: 2 }),
      exec(TRADE, S.FILLED, { orderId: 2 }),
      exec(TRADE, S.FILLED, { orderId: 5, cumQty: 20, leavesQty: 0, cumNotional: 20_000_100 }),
      book(SELL, 1_000_010, 0, 0),
    ]);
  });

  it('FOK counts the hidden quantity of an iceberg', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 50, displayQty: 10 }); // 1
    const ev = k.new({ account: B, side: BUY, price: 1_000_000, qty: 40, tif: Tif.FOK });
    expect(ev.filter((e) => e.kind === 'exec' && e.orderId === 2).at(-1)).toMatchObject(
      exec(TRADE, S.FILLED, { orderId: 2, cumQty: 40 }),
    );
    expect(ev.filter((e) => e.kind === 'trade').map((e) => (e as { qty: number }).qty)).toEqual([10, 10, 10, 10]);
    expect(k.engine.order(1)).toMatchObject({ leavesQty: 10, visibleQty: 10 });
  });

  it('market order: NO_LIQUIDITY on an empty side and after exhausting it', () => {
    const k = new Kit();
    expectEvents(k.new({ account: B, side: BUY, ordType: MARKET, price: undefined, qty: 10 }), [
      newAck(1, { ordType: MARKET, price: 0, orderQty: 10, leavesQty: 10 }),
      exec(EXPIRED, S.EXPIRED, { orderId: 1, orderQty: 10, cumQty: 0, leavesQty: 0, reason: Reason.NO_LIQUIDITY }),
    ]);
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 2
    expectEvents(k.new({ account: B, side: BUY, ordType: MARKET, price: undefined, qty: 30 }), [
      newAck(3, { price: 0, orderQty: 30, leavesQty: 30 }),
      trade({ price: 1_000_000, qty: 10, takerOrderId: 3, makerOrderId: 2 }),
      exec(TRADE, S.FILLED, { orderId: 2 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 3, price: 0, cumQty: 10, leavesQty: 20 }),
      book(SELL, 1_000_000, 0, 0),
      exec(EXPIRED, S.EXPIRED, { orderId: 3, orderQty: 30, cumQty: 10, leavesQty: 0, reason: Reason.NO_LIQUIDITY }),
    ]);
  });

  it('market order: PRICE_BAND_REACHED at the band', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 1
    k.new({ account: A, side: SELL, price: 1_005_000, qty: 10 }); // 2 (at the band edge when placed)
    expectEvents(k.setReferencePrice(BTC, 999_000), [
      { kind: 'instrument_status', symbol: BTC, status: InstrumentStatus.TRADING, referencePrice: 999_000 },
    ]); // band now [994_000, 1_004_000]
    expectEvents(k.new({ account: B, side: BUY, ordType: MARKET, price: undefined, qty: 30 }), [
      newAck(4, { price: 0, orderQty: 30, leavesQty: 30 }),
      trade({ price: 1_000_000, qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, cumQty: 10, leavesQty: 20 }),
      book(SELL, 1_000_000, 0, 0),
      exec(EXPIRED, S.EXPIRED, {
        orderId: 4,
        orderQty: 30,
        cumQty: 10,
        leavesQty: 0,
        reason: Reason.PRICE_BAND_REACHED,
      }),
    ]);
    expect(k.engine.bookLevels(BTC, SELL)).toEqual([{ price: 1_005_000, qty: 10, orderCount: 1 }]);
    // A limit order is not bound by the band at match time (only its price is validated).
    expectEvents(k.new({ account: B, side: BUY, ordType: MARKET, price: undefined, qty: 10, tif: Tif.FOK }), [
      newAck(5, { orderQty: 10 }),
      exec(EXPIRED, S.EXPIRED, { orderId: 5, orderQty: 10, reason: Reason.FILL_OR_KILL }),
    ]);
  });

  it('market SELL walks bids down to the band', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 10 }); // 1
    k.new({ account: A, side: BUY, price: 996_000, qty: 10 }); // 2
    k.setReferencePrice(BTC, 1_002_000); // band [997_000, 1_007_000]
    expectEvents(k.new({ account: B, side: SELL, ordType: MARKET, price: undefined, qty: 20 }), [
      newAck(4, { orderQty: 20 }),
      trade({ price: 999_000, qty: 10, aggressorSide: SELL, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4 }),
      book(BUY, 999_000, 0, 0),
      exec(EXPIRED, S.EXPIRED, { orderId: 4, orderQty: 20, cumQty: 10, reason: Reason.PRICE_BAND_REACHED }),
    ]);
  });
});

describe('post-only', () => {
  it('REJECT: rejected when it would cross, accepted otherwise', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 1
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_000, qty: 10, postOnly: PostOnly.REJECT }), [
      exec(REJECTED, S.REJECTED, { orderId: 2, orderQty: 10, reason: Reason.POST_ONLY_WOULD_CROSS }),
    ]);
    expectEvents(k.new({ account: B, side: BUY, price: 999_995, qty: 10, postOnly: PostOnly.REJECT }), [
      newAck(3, { price: 999_995, orderQty: 10, leavesQty: 10 }),
      book(BUY, 999_995, 10, 1),
    ]);
  });

  it('REPRICE: one tick behind the opposite best, on both sides', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 1
    k.new({ account: A, side: BUY, price: 998_000, qty: 10 }); // 2
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_010, qty: 10, postOnly: PostOnly.REPRICE }), [
      newAck(3, { price: 999_995, orderQty: 10, leavesQty: 10 }),
      book(BUY, 999_995, 10, 1),
    ]);
    expectEvents(k.new({ account: B, side: SELL, price: 997_000, qty: 10, postOnly: PostOnly.REPRICE }), [
      newAck(4, { price: 1_000_000, orderQty: 10 }),
      book(SELL, 1_000_000, 20, 2),
    ]);
    // Not crossing: keeps its price.
    expectEvents(k.new({ account: B, side: SELL, price: 1_001_000, qty: 10, postOnly: PostOnly.REPRICE }), [
      newAck(5, { price: 1_001_000 }),
      book(SELL, 1_001_000, 10, 1),
    ]);
    expect(k.engine.order(3)).toMatchObject({ price: 999_995 });
    expect(k.engine.bookOrders(BTC, SELL).map((o) => o.orderId)).toEqual([1, 4, 5]);
  });

  it('amend of a REPRICE order to a crossing price is repriced', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 1
    k.new({ account: B, side: BUY, price: 998_000, qty: 10, postOnly: PostOnly.REPRICE }); // 2
    const ev = k.amend({ account: B, orderId: 2, price: 1_000_005 });
    expectEvents(nonBook(ev), [exec(REPLACED, S.NEW, { orderId: 2, price: 999_995, orderQty: 10, leavesQty: 10 })]);
    expect(lastBookPerLevel(ev)).toEqual([book(BUY, 998_000, 0, 0), book(BUY, 999_995, 10, 1)]);
    expect(k.engine.bookLevels(BTC, SELL)).toEqual([{ price: 1_000_000, qty: 10, orderCount: 1 }]);
  });
});

describe('icebergs', () => {
  it('a refreshed slice goes to the tail of its level and is reported RESTATED', () => {
    const k = new Kit();
    expectEvents(k.new({ account: A, side: SELL, price: 1_000_000, qty: 50, displayQty: 10 }), [
      newAck(1, { orderQty: 50, leavesQty: 50, displayQty: 10 }),
      book(SELL, 1_000_000, 10, 1),
    ]);
    expectEvents(k.new({ account: B, side: SELL, price: 1_000_000, qty: 10 }), [
      newAck(2),
      book(SELL, 1_000_000, 20, 2),
    ]);
    expectEvents(k.new({ account: C, side: BUY, price: 1_000_000, qty: 10 }), [
      newAck(3),
      trade({ qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 1, cumQty: 10, leavesQty: 40, displayQty: 10 }),
      exec(TRADE, S.FILLED, { orderId: 3 }),
      exec(RESTATED, S.PARTIALLY_FILLED, {
        orderId: 1,
        orderQty: 50,
        cumQty: 10,
        leavesQty: 40,
        displayQty: 10,
        reason: Reason.ICEBERG_REFRESH,
      }),
      book(SELL, 1_000_000, 20, 2),
    ]);
    // The iceberg lost priority to order 2, placed after it.
    expect(k.priority(BTC, SELL)).toEqual([2, 1]);

    expectEvents(k.new({ account: C, side: BUY, price: 1_000_000, qty: 30 }), [
      newAck(4, { orderQty: 30 }),
      trade({ qty: 10, makerOrderId: 2 }),
      exec(TRADE, S.FILLED, { orderId: 2 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, cumQty: 10 }),
      trade({ qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 1, cumQty: 20, leavesQty: 30 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, cumQty: 20 }),
      exec(RESTATED, S.PARTIALLY_FILLED, { orderId: 1, cumQty: 20, leavesQty: 30, reason: Reason.ICEBERG_REFRESH }),
      trade({ qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 1, cumQty: 30, leavesQty: 20 }),
      exec(TRADE, S.FILLED, { orderId: 4, cumQty: 30 }),
      exec(RESTATED, S.PARTIALLY_FILLED, { orderId: 1, cumQty: 30, leavesQty: 20, reason: Reason.ICEBERG_REFRESH }),
      book(SELL, 1_000_000, 10, 1),
    ]);
  });

  it('the last slice shows min(displayQty, leavesQty)', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 50, displayQty: 20 }); // 1
    k.new({ account: B, side: BUY, price: 1_000_000, qty: 40 }); // fills 20 + 20 (two refreshes)
    expect(k.engine.order(1)).toMatchObject({ leavesQty: 10, visibleQty: 10 });
    expect(k.engine.bookLevels(BTC, SELL)).toEqual([{ price: 1_000_000, qty: 10, orderCount: 1 }]);
  });
});

describe('self-trade prevention', () => {
  /** asks: 1 = B 10 @ 1_000_000, 2 = A 10 @ 1_000_000, 3 = B 10 @ 1_000_005 */
  function stpBook(): Kit {
    const k = new Kit();
    k.new({ account: B, side: SELL, price: 1_000_000, qty: 10 });
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 });
    k.new({ account: B, side: SELL, price: 1_000_005, qty: 10 });
    return k;
  }

  it('EXPIRE_TAKER: the taker remainder expires, the maker stays', () => {
    const k = stpBook();
    expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 30, stp: Stp.EXPIRE_TAKER }), [
      newAck(4, { orderQty: 30 }),
      trade({ qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, cumQty: 10, leavesQty: 20 }),
      book(SELL, 1_000_000, 10, 1),
      exec(EXPIRED, S.EXPIRED, {
        orderId: 4,
        orderQty: 30,
        cumQty: 10,
        leavesQty: 0,
        reason: Reason.SELF_TRADE_PREVENTED,
      }),
    ]);
    expect(k.priority(BTC, SELL)).toEqual([2, 3]);
  });

  it('EXPIRE_TAKER is the configured default', () => {
    const k = stpBook();
    const ev = k.new({ account: A, side: BUY, price: 1_000_005, qty: 30 });
    expect(ev.at(-1)).toMatchObject(exec(EXPIRED, S.EXPIRED, { orderId: 4, reason: Reason.SELF_TRADE_PREVENTED }));
  });

  it('EXPIRE_MAKER: the maker expires, matching continues', () => {
    const k = stpBook();
    expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 30, stp: Stp.EXPIRE_MAKER }), [
      newAck(4, { orderQty: 30 }),
      trade({ qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, cumQty: 10 }),
      exec(EXPIRED, S.EXPIRED, {
        orderId: 2,
        orderQty: 10,
        cumQty: 0,
        leavesQty: 0,
        reason: Reason.SELF_TRADE_PREVENTED,
      }),
      book(SELL, 1_000_000, 0, 0),
      trade({ price: 1_000_005, qty: 10, makerOrderId: 3 }),
      exec(TRADE, S.FILLED, { orderId: 3 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, cumQty: 20, leavesQty: 10 }),
      book(SELL, 1_000_005, 0, 0),
      book(BUY, 1_000_005, 10, 1),
    ]);
  });

  it('EXPIRE_BOTH: maker and taker expire', () => {
    const k = stpBook();
    expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 30, stp: Stp.EXPIRE_BOTH }), [
      newAck(4, { orderQty: 30 }),
      trade({ qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, cumQty: 10 }),
      exec(EXPIRED, S.EXPIRED, { orderId: 2, orderQty: 10, reason: Reason.SELF_TRADE_PREVENTED }),
      book(SELL, 1_000_000, 0, 0),
      exec(EXPIRED, S.EXPIRED, {
        orderId: 4,
        orderQty: 30,
        cumQty: 10,
        leavesQty: 0,
        reason: Reason.SELF_TRADE_PREVENTED,
      }),
    ]);
    expect(k.priority(BTC, SELL)).toEqual([3]);
  });

  it('DECREMENT_AND_CANCEL, taker larger: maker expires, taker RESTATED with a smaller orderQty, matching continues', () => {
    const k = stpBook();
    expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 30, stp: Stp.DECREMENT_AND_CANCEL }), [
      newAck(4, { orderQty: 30 }),
      trade({ qty: 10, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4, orderQty: 30, cumQty: 10, leavesQty: 20 }),
      exec(EXPIRED, S.EXPIRED, { orderId: 2, orderQty: 10, reason: Reason.SELF_TRADE_PREVENTED }),
      exec(RESTATED, S.PARTIALLY_FILLED, {
        orderId: 4,
        orderQty: 20,
        cumQty: 10,
        leavesQty: 10,
        reason: Reason.SELF_TRADE_PREVENTED,
      }),
      book(SELL, 1_000_000, 0, 0),
      trade({ price: 1_000_005, qty: 10, makerOrderId: 3 }),
      exec(TRADE, S.FILLED, { orderId: 3 }),
      exec(TRADE, S.FILLED, { orderId: 4, orderQty: 20, cumQty: 20, leavesQty: 0 }),
      book(SELL, 1_000_005, 0, 0),
    ]);
    expect(k.engine.bookLevels(BTC, BUY)).toEqual([]);
  });

  it('DECREMENT_AND_CANCEL, maker larger: taker expires, maker RESTATED and keeps its place', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 30 }); // 1
    k.new({ account: B, side: SELL, price: 1_000_000, qty: 10 }); // 2
    expectEvents(k.new({ account: A, side: BUY, price: 1_000_000, qty: 10, stp: Stp.DECREMENT_AND_CANCEL }), [
      newAck(3, { orderQty: 10 }),
      exec(RESTATED, S.NEW, {
        orderId: 1,
        orderQty: 20,
        cumQty: 0,
        leavesQty: 20,
        reason: Reason.SELF_TRADE_PREVENTED,
      }),
      book(SELL, 1_000_000, 30, 2),
      exec(EXPIRED, S.EXPIRED, {
        orderId: 3,
        orderQty: 10,
        cumQty: 0,
        leavesQty: 0,
        reason: Reason.SELF_TRADE_PREVENTED,
      }),
    ]);
    expect(k.priority(BTC, SELL)).toEqual([1, 2]);
    expect(k.engine.order(1)).toMatchObject({ orderQty: 20, leavesQty: 20 });
  });

  it('DECREMENT_AND_CANCEL, equal quantities: both expire', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 1
    expectEvents(k.new({ account: A, side: BUY, price: 1_000_000, qty: 10, stp: Stp.DECREMENT_AND_CANCEL }), [
      newAck(2),
      exec(EXPIRED, S.EXPIRED, { orderId: 1, orderQty: 10, reason: Reason.SELF_TRADE_PREVENTED }),
      book(SELL, 1_000_000, 0, 0),
      exec(EXPIRED, S.EXPIRED, { orderId: 2, orderQty: 10, reason: Reason.SELF_TRADE_PREVENTED }),
    ]);
    expect(k.engine.bookLevels(BTC, SELL)).toEqual([]);
    expect(k.engine.bookLevels(BTC, BUY)).toEqual([]);
  });

  it('NONE: the self-trade happens', () => {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 });
    expectEvents(k.new({ account: A, side: BUY, price: 1_000_000, qty: 10, stp: Stp.NONE }), [
      newAck(2),
      trade({ qty: 10, takerAccount: A, makerAccount: A, takerOrderId: 2, makerOrderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 1 }),
      exec(TRADE, S.FILLED, { orderId: 2 }),
      book(SELL, 1_000_000, 0, 0),
    ]);
  });

  it("the taker's mode decides: order field, else account default (set_account / config), else defaultStp", () => {
    const k = new Kit(defaultConfig({ accounts: [{ id: 7, stp: Stp.NONE }] }));
    // Account 7 (configured NONE) self-trades.
    k.new({ account: 7, side: SELL, price: 1_000_000, qty: 10 }); // 1
    expect(k.new({ account: 7, side: BUY, price: 1_000_000, qty: 10 }).filter((e) => e.kind === 'trade')).toHaveLength(
      1,
    );
    // set_account switches A to EXPIRE_MAKER.
    expectEvents(k.setAccount(A, Stp.EXPIRE_MAKER), [
      { kind: 'account_status', account: A, blocked: false, stp: Stp.EXPIRE_MAKER },
    ]);
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 4
    const ev = k.new({ account: A, side: BUY, price: 1_000_000, qty: 10 }); // 5
    expect(ev[1]).toMatchObject(exec(EXPIRED, S.EXPIRED, { orderId: 4, reason: Reason.SELF_TRADE_PREVENTED }));
    // The order field overrides the account default: the maker is the one that would trade, the taker's mode counts.
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 6
    const ev2 = k.new({ account: A, side: BUY, price: 1_000_000, qty: 10, stp: Stp.EXPIRE_TAKER }); // 7
    expect(ev2.at(-1)).toMatchObject(exec(EXPIRED, S.EXPIRED, { orderId: 7, reason: Reason.SELF_TRADE_PREVENTED }));
    expect(k.engine.order(6)).toBeDefined();
  });

  describe('FOK with STP', () => {
    it('EXPIRE_TAKER: quantity behind the own order does not count -> killed', () => {
      const k = stpBook();
      const before = k.view([1, 2, 3]);
      expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 20, tif: Tif.FOK, stp: Stp.EXPIRE_TAKER }), [
        newAck(4, { orderQty: 20 }),
        exec(EXPIRED, S.EXPIRED, { orderId: 4, orderQty: 20, cumQty: 0, reason: Reason.FILL_OR_KILL }),
      ]);
      expect(k.view([1, 2, 3])).toEqual(before);
    });

    it('EXPIRE_TAKER: the quantity ahead of the own order suffices -> filled', () => {
      const k = stpBook();
      expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 10, tif: Tif.FOK, stp: Stp.EXPIRE_TAKER }), [
        newAck(4),
        trade({ qty: 10, makerOrderId: 1 }),
        exec(TRADE, S.FILLED, { orderId: 1 }),
        exec(TRADE, S.FILLED, { orderId: 4 }),
        book(SELL, 1_000_000, 10, 1),
      ]);
    });

    it.each([
      ['EXPIRE_BOTH', Stp.EXPIRE_BOTH],
      ['DECREMENT_AND_CANCEL', Stp.DECREMENT_AND_CANCEL],
    ])('%s: killed like EXPIRE_TAKER', (_n, stp) => {
      const k = stpBook();
      const before = k.view([1, 2, 3]);
      expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 20, tif: Tif.FOK, stp }), [
        newAck(4),
        exec(EXPIRED, S.EXPIRED, { orderId: 4, orderQty: 20, cumQty: 0, reason: Reason.FILL_OR_KILL }),
      ]);
      expect(k.view([1, 2, 3])).toEqual(before);
    });

    it('EXPIRE_MAKER: own orders are skipped -> filled, own maker expired', () => {
      const k = stpBook();
      expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 20, tif: Tif.FOK, stp: Stp.EXPIRE_MAKER }), [
        newAck(4, { orderQty: 20 }),
        trade({ qty: 10, makerOrderId: 1 }),
        exec(TRADE, S.FILLED, { orderId: 1 }),
        exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4 }),
        exec(EXPIRED, S.EXPIRED, { orderId: 2, reason: Reason.SELF_TRADE_PREVENTED }),
        book(SELL, 1_000_000, 0, 0),
        trade({ price: 1_000_005, qty: 10, makerOrderId: 3 }),
        exec(TRADE, S.FILLED, { orderId: 3 }),
        exec(TRADE, S.FILLED, { orderId: 4, cumQty: 20 }),
        book(SELL, 1_000_005, 0, 0),
      ]);
    });

    it('EXPIRE_MAKER: own quantity is not counted -> killed when others are short', () => {
      const k = stpBook();
      expectEvents(k.new({ account: A, side: BUY, price: 1_000_005, qty: 30, tif: Tif.FOK, stp: Stp.EXPIRE_MAKER }), [
        newAck(4),
        exec(EXPIRED, S.EXPIRED, { orderId: 4, reason: Reason.FILL_OR_KILL }),
      ]);
      expect(k.engine.order(2)).toBeDefined();
    });

    it('EXPIRE_TAKER: only the displayed quantity of an iceberg ahead of the own order counts', () => {
      const k = new Kit();
      k.new({ account: B, side: SELL, price: 1_000_000, qty: 50, displayQty: 10 }); // 1
      k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 }); // 2
      const ev = k.new({ account: A, side: BUY, price: 1_000_000, qty: 20, tif: Tif.FOK, stp: Stp.EXPIRE_TAKER });
      expectEvents(ev, [newAck(3), exec(EXPIRED, S.EXPIRED, { orderId: 3, reason: Reason.FILL_OR_KILL })]);
    });
  });
});

describe('stops', () => {
  /** Orders 1 and 2 trade at 1_000_000: last trade price 1_000_000. */
  function withLast(): Kit {
    const k = new Kit();
    k.new({ account: A, side: SELL, price: 1_000_000, qty: 10 });
    k.new({ account: B, side: BUY, price: 1_000_000, qty: 10 });
    return k;
  }

  it('stop-market: pending until the last trade reaches it, then trades as a market order', () => {
    const k = withLast();
    expectEvents(
      k.new({ account: C, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_010, qty: 10 }),
      [
        exec(NEW, S.PENDING_TRIGGER, {
          orderId: 3,
          ordType: STOP_MARKET,
          price: 0,
          stopPrice: 1_000_010,
          orderQty: 10,
          leavesQty: 10,
        }),
      ],
    );
    expect(k.engine.order(3)).toMatchObject({ pending: true });
    expect(k.engine.bookLevels(BTC, BUY)).toEqual([]);
    k.new({ account: A, side: SELL, price: 1_000_010, qty: 20 }); // 4
    expectEvents(k.new({ account: D, side: BUY, price: 1_000_010, qty: 10 }), [
      newAck(5),
      trade({ price: 1_000_010, qty: 10, takerOrderId: 5, makerOrderId: 4 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4 }),
      exec(TRADE, S.FILLED, { orderId: 5 }),
      book(SELL, 1_000_010, 10, 1),
      exec(TRIGGERED, S.NEW, { orderId: 3, stopPrice: 1_000_010, orderQty: 10, cumQty: 0, leavesQty: 10 }),
      trade({ price: 1_000_010, qty: 10, takerOrderId: 3, makerOrderId: 4 }),
      exec(TRADE, S.FILLED, { orderId: 4 }),
      exec(TRADE, S.FILLED, { orderId: 3, cumQty: 10 }),
      book(SELL, 1_000_010, 0, 0),
    ]);
    expect(k.engine.order(3)).toBeUndefined();
  });

  it('stop-limit: triggers, trades at its limit, rests the remainder', () => {
    const k = withLast();
    expectEvents(k.new({ account: C, side: SELL, ordType: STOP_LIMIT, stopPrice: 999_990, price: 999_980, qty: 30 }), [
      exec(NEW, S.PENDING_TRIGGER, {
        orderId: 3,
        ordType: STOP_LIMIT,
        price: 999_980,
        stopPrice: 999_990,
        orderQty: 30,
      }),
    ]);
    k.new({ account: B, side: BUY, price: 999_990, qty: 10 }); // 4
    k.new({ account: B, side: BUY, price: 999_980, qty: 10 }); // 5
    expectEvents(k.new({ account: A, side: SELL, price: 999_990, qty: 10 }), [
      newAck(6),
      trade({ price: 999_990, qty: 10, makerOrderId: 4, takerOrderId: 6 }),
      exec(TRADE, S.FILLED, { orderId: 4 }),
      exec(TRADE, S.FILLED, { orderId: 6 }),
      book(BUY, 999_990, 0, 0),
      exec(TRIGGERED, S.NEW, { orderId: 3, price: 999_980, orderQty: 30, leavesQty: 30 }),
      trade({ price: 999_980, qty: 10, makerOrderId: 5, takerOrderId: 3, aggressorSide: SELL }),
      exec(TRADE, S.FILLED, { orderId: 5 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 3, cumQty: 10, leavesQty: 20 }),
      book(BUY, 999_980, 0, 0),
      book(SELL, 999_980, 20, 1),
    ]);
    expect(k.engine.order(3)).toMatchObject({ pending: false, leavesQty: 20 });
  });

  it('cascading stops: a triggered stop trades and triggers the next', () => {
    const k = withLast();
    k.new({ account: C, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_005, qty: 10 }); // 3
    k.new({ account: D, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_010, qty: 10 }); // 4
    k.new({ account: A, side: SELL, price: 1_000_005, qty: 10 }); // 5
    k.new({ account: A, side: SELL, price: 1_000_010, qty: 10 }); // 6
    k.new({ account: A, side: SELL, price: 1_000_015, qty: 10 }); // 7
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_005, qty: 10 }), [
      newAck(8),
      trade({ price: 1_000_005, makerOrderId: 5, takerOrderId: 8 }),
      exec(TRADE, S.FILLED, { orderId: 5 }),
      exec(TRADE, S.FILLED, { orderId: 8 }),
      book(SELL, 1_000_005, 0, 0),
      exec(TRIGGERED, S.NEW, { orderId: 3 }),
      trade({ price: 1_000_010, makerOrderId: 6, takerOrderId: 3 }),
      exec(TRADE, S.FILLED, { orderId: 6 }),
      exec(TRADE, S.FILLED, { orderId: 3 }),
      book(SELL, 1_000_010, 0, 0),
      exec(TRIGGERED, S.NEW, { orderId: 4 }),
      trade({ price: 1_000_015, makerOrderId: 7, takerOrderId: 4 }),
      exec(TRADE, S.FILLED, { orderId: 7 }),
      exec(TRADE, S.FILLED, { orderId: 4 }),
      book(SELL, 1_000_015, 0, 0),
    ]);
  });

  it('a triggered stop-market stops at the band (PRICE_BAND_REACHED) and at an empty side (NO_LIQUIDITY)', () => {
    const k = withLast();
    k.new({ account: C, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_005, qty: 30 }); // 3
    k.new({ account: A, side: SELL, price: 1_000_005, qty: 20 }); // 4
    k.new({ account: A, side: SELL, price: 1_005_000, qty: 10 }); // 5
    k.setReferencePrice(BTC, 1_000_000 - 1_000); // band [994_000, 1_004_000]
    expectEvents(k.new({ account: B, side: BUY, price: 1_000_005, qty: 10 }), [
      newAck(7),
      trade({ price: 1_000_005, makerOrderId: 4, takerOrderId: 7 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4 }),
      exec(TRADE, S.FILLED, { orderId: 7 }),
      book(SELL, 1_000_005, 10, 1),
      exec(TRIGGERED, S.NEW, { orderId: 3, orderQty: 30 }),
      trade({ price: 1_000_005, qty: 10, makerOrderId: 4, takerOrderId: 3 }),
      exec(TRADE, S.FILLED, { orderId: 4 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 3, cumQty: 10, leavesQty: 20 }),
      book(SELL, 1_000_005, 0, 0),
      exec(EXPIRED, S.EXPIRED, {
        orderId: 3,
        orderQty: 30,
        cumQty: 10,
        leavesQty: 0,
        reason: Reason.PRICE_BAND_REACHED,
      }),
    ]);
    k.new({ account: D, side: SELL, ordType: STOP_MARKET, price: undefined, stopPrice: 999_000, qty: 10 }); // 8
    k.new({ account: A, side: BUY, price: 999_000, qty: 10 }); // 9
    const ev = k.new({ account: B, side: SELL, price: 999_000, qty: 10 }); // 10: last 999_000 triggers 8, no bids left
    expect(ev.slice(-2)).toMatchObject([
      exec(TRIGGERED, S.NEW, { orderId: 8 }),
      exec(EXPIRED, S.EXPIRED, { orderId: 8, orderQty: 10, reason: Reason.NO_LIQUIDITY }),
    ]);
  });

  it('BUY stops triggered together go by lowest stop price, then order id', () => {
    const k = withLast();
    k.new({ account: C, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_010, qty: 10 }); // 3
    k.new({ account: D, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_005, qty: 10 }); // 4
    k.new({ account: C, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_005, qty: 10 }); // 5
    k.new({ account: A, side: SELL, price: 1_000_010, qty: 40 }); // 6
    const ev = k.new({ account: B, side: BUY, price: 1_000_010, qty: 10 }); // 7
    const triggered = ev
      .filter((e) => e.kind === 'exec' && e.execType === TRIGGERED)
      .map((e) => (e as ExecReport).orderId);
    expect(triggered).toEqual([4, 5, 3]);
  });

  it('a SELL stop triggers when the last trade falls to it', () => {
    const k = withLast();
    k.new({ account: C, side: SELL, ordType: STOP_MARKET, price: undefined, stopPrice: 999_995, qty: 10 }); // 3
    k.new({ account: B, side: BUY, price: 999_995, qty: 20 }); // 4
    const ev = k.new({ account: A, side: SELL, price: 999_995, qty: 10 }); // 5: trades at 999_995
    expect(summary(ev)).toEqual(summary(ev)); // (readable on failure)
    expectEvents(ev, [
      newAck(5),
      trade({ price: 999_995, makerOrderId: 4 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 4 }),
      exec(TRADE, S.FILLED, { orderId: 5 }),
      book(BUY, 999_995, 10, 1),
      exec(TRIGGERED, S.NEW, { orderId: 3 }),
      trade({ price: 999_995, makerOrderId: 4, takerOrderId: 3, aggressorSide: SELL }),
      exec(TRADE, S.FILLED, { orderId: 4 }),
      exec(TRADE, S.FILLED, { orderId: 3 }),
      book(BUY, 999_995, 0, 0),
    ]);
  });

  it('STOP_PRICE_WOULD_TRIGGER against the last trade price', () => {
    const k = withLast();
    expectEvents(
      k.new({ account: C, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_000, qty: 10 }),
      [exec(REJECTED, S.REJECTED, { orderId: 3, reason: Reason.STOP_PRICE_WOULD_TRIGGER })],
    );
    expectEvents(
      k.new({ account: C, side: SELL, ordType: STOP_LIMIT, price: 999_000, stopPrice: 1_000_005, qty: 10 }),
      [exec(REJECTED, S.REJECTED, { orderId: 4, reason: Reason.STOP_PRICE_WOULD_TRIGGER })],
    );
  });

  it('amend of a pending stop: qty, price and stopPrice', () => {
    const k = withLast();
    k.new({
      account: C,
      side: BUY,
      ordType: STOP_LIMIT,
      stopPrice: 1_000_010,
      price: 1_000_010,
      qty: 10,
      clOrdId: 's',
    }); // 3
    expectEvents(k.amend({ account: C, orderId: 3, qty: 20, price: 1_000_020, stopPrice: 1_000_015 }), [
      exec(REPLACED, S.PENDING_TRIGGER, {
        orderId: 3,
        orderQty: 20,
        leavesQty: 20,
        price: 1_000_020,
        stopPrice: 1_000_015,
      }),
    ]);
    k.new({ account: A, side: SELL, price: 1_000_010, qty: 10 }); // 5
    expect(
      k
        .new({ account: B, side: BUY, price: 1_000_010, qty: 10 })
        .some((e) => e.kind === 'exec' && e.execType === TRIGGERED),
    ).toBe(false);
    expect(k.engine.order(3)).toMatchObject({ pending: true, stopPrice: 1_000_015 });
  });

  it('cancel of a pending stop: CANCELED, no book event', () => {
    const k = withLast();
    k.new({
      account: C,
      side: BUY,
      ordType: STOP_MARKET,
      price: undefined,
      stopPrice: 1_000_010,
      qty: 10,
      clOrdId: 's',
    }); // 3
    expectEvents(k.cancel({ account: C, clOrdId: 's' }), [
      exec(CANCELED, S.CANCELED, { orderId: 3, orderQty: 10, leavesQty: 0, reason: Reason.CANCELED_BY_USER }),
    ]);
  });
});

describe('amend', () => {
  /** bids at 999_000: 1 = A 30 'a1', 2 = B 10 */
  function bids(): Kit {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 30, clOrdId: 'a1' });
    k.new({ account: B, side: BUY, price: 999_000, qty: 10 });
    return k;
  }

  it('qty down keeps time priority', () => {
    const k = bids();
    expectEvents(k.amend({ account: A, orderId: 1, qty: 20 }), [
      exec(REPLACED, S.NEW, { orderId: 1, clOrdId: 'a1', price: 999_000, orderQty: 20, cumQty: 0, leavesQty: 20 }),
      book(BUY, 999_000, 30, 2),
    ]);
    expect(k.priority(BTC, BUY)).toEqual([1, 2]);
  });

  it('qty up loses time priority', () => {
    const k = bids();
    const ev = k.amend({ account: A, orderId: 1, qty: 40 });
    expectEvents(nonBook(ev), [exec(REPLACED, S.NEW, { orderId: 1, orderQty: 40, leavesQty: 40 })]);
    expect(lastBookPerLevel(ev)).toEqual([book(BUY, 999_000, 50, 2)]);
    expect(k.priority(BTC, BUY)).toEqual([2, 1]);
  });

  it('price change loses priority and can trade (the amended order is the aggressor)', () => {
    const k = bids();
    k.new({ account: C, side: SELL, price: 1_000_000, qty: 30 }); // 3
    const ev = k.amend({ account: B, orderId: 2, price: 1_000_000 });
    expectEvents(nonBook(ev), [
      exec(REPLACED, S.NEW, { orderId: 2, price: 1_000_000, orderQty: 10, leavesQty: 10 }),
      trade({ price: 1_000_000, qty: 10, aggressorSide: BUY, takerOrderId: 2, makerOrderId: 3 }),
      exec(TRADE, S.PARTIALLY_FILLED, { orderId: 3, cumQty: 10, leavesQty: 20 }),
      exec(TRADE, S.FILLED, { orderId: 2, cumQty: 10 }),
    ]);
    expect(lastBookPerLevel(ev)).toEqual([book(BUY, 999_000, 30, 1), book(SELL, 1_000_000, 20, 1)]);
    // A price change without crossing: tail of the new level.
    k.new({ account: D, side: BUY, price: 998_000, qty: 10 }); // 5
    const ev2 = k.amend({ account: A, orderId: 1, price: 998_000 });
    expectEvents(nonBook(ev2), [exec(REPLACED, S.NEW, { orderId: 1, price: 998_000, orderQty: 30 })]);
    expect(lastBookPerLevel(ev2)).toEqual([book(BUY, 999_000, 0, 0), book(BUY, 998_000, 40, 2)]);
    expect(k.priority(BTC, BUY)).toEqual([5, 1]);
  });

  it('an amended order that partially trades rests only its leavesQty', () => {
    const k = bids();
    k.new({ account: C, side: SELL, price: 1_000_000, qty: 10 }); // 3
    const ev = k.amend({ account: A, orderId: 1, price: 1_000_000 }); // 30 -> fills 10, rests 20
    expect(lastBookPerLevel(ev)).toEqual([
      book(BUY, 999_000, 10, 1),
      book(SELL, 1_000_000, 0, 0),
      book(BUY, 1_000_000, 20, 1),
    ]);
    expect(k.engine.bookOrders(BTC, BUY)[0]).toEqual({
      orderId: 1,
      account: A,
      price: 1_000_000,
      leavesQty: 20,
      visibleQty: 20,
    });
  });

  it('amend to qty <= cumQty ends the order: REPLACED with ordStatus FILLED', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 1_000_000, qty: 30 }); // 1
    k.new({ account: B, side: SELL, price: 1_000_000, qty: 20 }); // 2: A cum 20
    k.new({ account: C, side: BUY, price: 1_000_000, qty: 10 }); // 3
    expectEvents(k.amend({ account: A, orderId: 1, qty: 10 }), [
      exec(REPLACED, S.FILLED, { orderId: 1, orderQty: 20, cumQty: 20, leavesQty: 0, cumNotional: 20_000_000 }),
      book(BUY, 1_000_000, 10, 1),
    ]);
    expect(k.engine.order(1)).toBeUndefined();
    expect(k.priority(BTC, BUY)).toEqual([3]);
  });

  it('amend to qty = cumQty', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 1_000_000, qty: 30 }); // 1
    k.new({ account: B, side: SELL, price: 1_000_000, qty: 20 }); // 2
    expectEvents(k.amend({ account: A, orderId: 1, qty: 20 }), [
      exec(REPLACED, S.FILLED, { orderId: 1, orderQty: 20, cumQty: 20, leavesQty: 0 }),
      book(BUY, 1_000_000, 0, 0),
    ]);
  });

  it('qty down on a partially filled order keeps cumQty (FIX OrderQty semantics)', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 1_000_000, qty: 50 }); // 1
    k.new({ account: B, side: SELL, price: 1_000_000, qty: 20 }); // 2
    expectEvents(k.amend({ account: A, orderId: 1, qty: 40 }), [
      exec(REPLACED, S.PARTIALLY_FILLED, { orderId: 1, orderQty: 40, cumQty: 20, leavesQty: 20 }),
      book(BUY, 1_000_000, 20, 1),
    ]);
  });

  it('new clOrdId: REPLACED carries origClOrdId; old id is freed, new one is taken', () => {
    const k = bids();
    expectEvents(k.amend({ account: A, origClOrdId: 'a1', clOrdId: 'a2', qty: 20 }), [
      exec(REPLACED, S.NEW, { orderId: 1, clOrdId: 'a2', origClOrdId: 'a1', orderQty: 20 }),
      book(BUY, 999_000, 30, 2),
    ]);
    expectEvents(k.cancel({ account: A, clOrdId: 'a1' }), [
      {
        kind: 'cancel_reject',
        account: A,
        clOrdId: 'a1',
        responseTo: CxlRejResponseTo.CANCEL,
        reason: Reason.ORDER_NOT_FOUND,
      },
    ]);
    expect(k.new({ account: A, clOrdId: 'a1', price: 998_000 })[0]).toMatchObject(newAck(5, { clOrdId: 'a1' }));
    expect(k.new({ account: A, clOrdId: 'a2', price: 998_000 })[0]).toMatchObject(
      exec(REJECTED, S.REJECTED, { reason: Reason.DUPLICATE_CLIENT_ORDER_ID }),
    );
    expectEvents(k.cancel({ account: A, clOrdId: 'a2' }), [
      exec(CANCELED, S.CANCELED, { orderId: 1, clOrdId: 'a2', reason: Reason.CANCELED_BY_USER }),
      book(BUY, 999_000, 10, 1),
    ]);
  });
});

describe('cancel and mass cancel', () => {
  it('cancel by clOrdId and by orderId; a canceled order reports what was ordered (orderQty), cumQty and leavesQty 0', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 10, clOrdId: 'x' }); // 1
    k.new({ account: A, side: BUY, price: 999_000, qty: 30, clOrdId: 'y' }); // 2
    expectEvents(k.cancel({ account: A, clOrdId: 'x' }), [
      exec(CANCELED, S.CANCELED, {
        orderId: 1,
        clOrdId: 'x',
        orderQty: 10,
        cumQty: 0,
        leavesQty: 0,
        reason: Reason.CANCELED_BY_USER,
      }),
      book(BUY, 999_000, 30, 1),
    ]);
    k.new({ account: B, side: SELL, price: 999_000, qty: 10 }); // 3
    expectEvents(k.cancel({ account: A, orderId: 2 }), [
      exec(CANCELED, S.CANCELED, {
        orderId: 2,
        clOrdId: 'y',
        orderQty: 30,
        cumQty: 10,
        leavesQty: 0,
        cumNotional: 9_990_000,
      }),
      book(BUY, 999_000, 0, 0),
    ]);
  });

  /** A: 1 BTC BUY, 2 BTC SELL, 3 ETH BUY, 4 BTC BUY stop, 5 ETH SELL; B: 6 BTC BUY. */
  function accountBook(): Kit {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 10 });
    k.new({ account: A, side: SELL, price: 1_001_000, qty: 10 });
    k.new({ account: A, symbol: ETH, side: BUY, price: 5000, qty: 10 });
    k.new({ account: A, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_002_000, qty: 10 });
    k.new({ account: A, symbol: ETH, side: SELL, price: 6000, qty: 10 });
    k.new({ account: B, side: BUY, price: 999_000, qty: 10 });
    return k;
  }
  const books = (ev: EngineEvent[]) => ev.filter((e) => e.kind === 'book');
  const mc = (id: number) => exec(CANCELED, S.CANCELED, { orderId: id, leavesQty: 0, reason: Reason.MASS_CANCELED });

  it('mass cancel by account+side (all symbols)', () => {
    const k = accountBook();
    const ev = k.massCancel({ account: A, side: SELL });
    expectEvents(nonBook(ev), [
      mc(2),
      mc(5),
      { kind: 'mass_cancel', account: A, symbol: '', side: SELL, canceledCount: 2 },
    ]);
    expect(books(ev)).toEqual(
      expect.arrayContaining([
        expect.objectContaining(book(SELL, 1_001_000, 0, 0)),
        expect.objectContaining(book(SELL, 6000, 0, 0, ETH)),
      ]),
    );
    expect(books(ev)).toHaveLength(2);
    expect(ev.at(-1)!.kind).toBe('mass_cancel');
  });

  it('mass cancel by account+symbol (resting and pending stops)', () => {
    const k = accountBook();
    const ev = k.massCancel({ account: A, symbol: BTC });
    expectEvents(nonBook(ev), [
      mc(1),
      mc(2),
      mc(4),
      { kind: 'mass_cancel', account: A, symbol: BTC, side: 0, canceledCount: 3 },
    ]);
    expect(books(ev)).toHaveLength(2);
    expect(k.engine.bookLevels(BTC, BUY)).toEqual([{ price: 999_000, qty: 10, orderCount: 1 }]);
    expect(k.engine.order(3)).toBeDefined();
    expect(k.engine.order(5)).toBeDefined();
  });

  it('mass cancel by account+symbol+side', () => {
    const k = accountBook();
    const ev = k.massCancel({ account: A, symbol: BTC, side: BUY });
    expectEvents(nonBook(ev), [
      mc(1),
      mc(4),
      { kind: 'mass_cancel', account: A, symbol: BTC, side: BUY, canceledCount: 2 },
    ]);
  });

  it('mass cancel by account; a second one cancels nothing', () => {
    const k = accountBook();
    const ev = k.massCancel({ account: A });
    expectEvents(nonBook(ev), [
      mc(1),
      mc(2),
      mc(3),
      mc(4),
      mc(5),
      { kind: 'mass_cancel', account: A, symbol: '', side: 0, canceledCount: 5 },
    ]);
    expect(books(ev)).toHaveLength(4);
    expect(k.priority(BTC, BUY)).toEqual([6]);
    expectEvents(k.massCancel({ account: A }), [{ kind: 'mass_cancel', account: A, canceledCount: 0 }]);
  });
});

describe('admin', () => {
  it('halt blocks new orders and amends but not cancels; resume reopens', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 20 }); // 1
    k.new({ account: A, side: BUY, price: 998_000, qty: 20 }); // 2
    expectEvents(k.halt(BTC), [
      { kind: 'instrument_status', symbol: BTC, status: InstrumentStatus.HALTED, referencePrice: 1_000_000 },
    ]);
    expectEvents(k.new({ account: B, side: SELL, price: 999_000, qty: 10 }), [
      exec(REJECTED, S.REJECTED, { orderId: 4, reason: Reason.INSTRUMENT_HALTED }),
    ]);
    expectEvents(k.amend({ account: A, orderId: 1, qty: 10 }), [
      {
        kind: 'cancel_reject',
        account: A,
        orderId: 1,
        responseTo: CxlRejResponseTo.AMEND,
        reason: Reason.INSTRUMENT_HALTED,
      },
    ]);
    expect(k.new({ account: B, symbol: ETH, side: SELL, price: 5000, qty: 10 })[0]).toMatchObject(newAck(6));
    expectEvents(k.cancel({ account: A, orderId: 2 }), [
      exec(CANCELED, S.CANCELED, { orderId: 2 }),
      book(BUY, 998_000, 0, 0),
    ]);
    expectEvents(k.massCancel({ account: A, symbol: BTC }), [
      exec(CANCELED, S.CANCELED, { orderId: 1, reason: Reason.MASS_CANCELED }),
      book(BUY, 999_000, 0, 0),
      { kind: 'mass_cancel', canceledCount: 1 },
    ]);
    expectEvents(k.resume(BTC), [{ kind: 'instrument_status', symbol: BTC, status: InstrumentStatus.TRADING }]);
    expect(k.new({ account: B, side: SELL, price: 999_000, qty: 10 })[0]).toMatchObject(newAck(10));
  });

  it('kill switch cancels everything of the account, blocks it, and releases', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 10 }); // 1
    k.new({ account: A, symbol: ETH, side: SELL, price: 6000, qty: 10 }); // 2
    k.new({ account: A, side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_002_000, qty: 10 }); // 3
    k.new({ account: B, side: BUY, price: 999_000, qty: 10 }); // 4
    const ev = k.killSwitch(A, true);
    expectEvents(
      ev.filter((e) => e.kind !== 'book'),
      [
        exec(CANCELED, S.CANCELED, { orderId: 1, reason: Reason.KILL_SWITCH }),
        exec(CANCELED, S.CANCELED, { orderId: 2, reason: Reason.KILL_SWITCH }),
        exec(CANCELED, S.CANCELED, { orderId: 3, reason: Reason.KILL_SWITCH }),
        { kind: 'account_status', account: A, blocked: true, stp: Stp.EXPIRE_TAKER, canceledCount: 3 },
      ],
    );
    expect(ev.filter((e) => e.kind === 'book')).toHaveLength(2);
    expect(k.priority(BTC, BUY)).toEqual([4]);
    expectEvents(k.new({ account: A, side: BUY, price: 999_000, qty: 10 }), [
      exec(REJECTED, S.REJECTED, { orderId: 6, reason: Reason.ACCOUNT_BLOCKED }),
    ]);
    expectEvents(k.new({ account: A, symbol: ETH, side: BUY, price: 5000, qty: 10 }), [
      exec(REJECTED, S.REJECTED, { orderId: 7, reason: Reason.ACCOUNT_BLOCKED }),
    ]);
    expect(k.new({ account: B, side: BUY, price: 999_000, qty: 10 })[0]).toMatchObject(newAck(8));
    expectEvents(k.killSwitch(A, false), [{ kind: 'account_status', account: A, blocked: false, canceledCount: 0 }]);
    expect(k.new({ account: A, side: BUY, price: 999_000, qty: 10 })[0]).toMatchObject(newAck(10));
  });
});

describe('time', () => {
  it("GTD expires on a later command, with that command's seq and time, before its own events", () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 10, tif: Tif.GTD, expireTsUs: T0 + 1000 }); // 1
    k.new({ account: A, side: BUY, price: 999_000, qty: 10, tif: Tif.GTD, expireTsUs: T0 + 500 }); // 2
    expectEvents(k.tick(T0 + 499), []);
    const t = k.tick(T0 + 500); // 4
    expectEvents(t, [
      exec(EXPIRED, S.EXPIRED, {
        orderId: 2,
        orderQty: 10,
        leavesQty: 0,
        reason: Reason.EXPIRED_GTD,
        seq: 4,
        tsUs: T0 + 500,
      }),
      book(BUY, 999_000, 10, 1),
    ]);
    expectEvents(k.new({ account: B, side: SELL, price: 1_001_000, qty: 10, tsUs: T0 + 2000 }), [
      exec(EXPIRED, S.EXPIRED, { orderId: 1, reason: Reason.EXPIRED_GTD, seq: 5, tsUs: T0 + 2000 }),
      book(BUY, 999_000, 0, 0),
      newAck(5, { tsUs: T0 + 2000 }),
      book(SELL, 1_001_000, 10, 1),
    ]);
  });

  it('expiries run in (expiry, orderId) order', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 10, tif: Tif.GTD, expireTsUs: T0 + 3000 }); // 1
    k.new({ account: B, side: BUY, price: 998_000, qty: 10, tif: Tif.GTD, expireTsUs: T0 + 3000 }); // 2
    k.new({ account: C, side: SELL, price: 1_001_000, qty: 10, tif: Tif.GTD, expireTsUs: T0 + 2500 }); // 3
    k.new({
      account: D,
      side: BUY,
      ordType: STOP_LIMIT,
      stopPrice: 1_002_000,
      price: 1_002_000,
      qty: 10,
      tif: Tif.GTD,
      expireTsUs: T0 + 2000,
    }); // 4
    const ev = k.tick(T0 + 5000);
    expect(ev.filter((e) => e.kind === 'exec').map((e) => (e as ExecReport).orderId)).toEqual([4, 3, 1, 2]);
    expect(ev.filter((e) => e.kind === 'exec').every((e) => (e as ExecReport).reason === Reason.EXPIRED_GTD)).toBe(
      true,
    );
    expect(ev.filter((e) => e.kind === 'book')).toHaveLength(3);
  });

  it('DAY orders expire at the next session close', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 10, tif: Tif.DAY }); // 1
    expectEvents(k.tick(BTC_NEXT_CLOSE - 1), []);
    expect(k.engine.order(1)).toBeDefined();
    expectEvents(k.tick(BTC_NEXT_CLOSE), [
      exec(EXPIRED, S.EXPIRED, { orderId: 1, reason: Reason.EXPIRED_DAY, tsUs: BTC_NEXT_CLOSE }),
      book(BUY, 999_000, 0, 0),
    ]);
  });

  it('a DAY order placed before the close expires the same day', () => {
    const k = new Kit();
    const sameDayClose = BTC_NEXT_CLOSE; // tomorrow 21:00; place the order at tomorrow 20:00
    k.tick(sameDayClose - 3_600_000_000);
    k.new({ account: A, side: BUY, price: 999_000, qty: 10, tif: Tif.DAY }); // 2
    expectEvents(k.tick(sameDayClose - 1), []);
    expect(k.tick(sameDayClose)[0]).toMatchObject(exec(EXPIRED, S.EXPIRED, { orderId: 2, reason: Reason.EXPIRED_DAY }));
  });

  it('time going backwards uses the previous effective time', () => {
    const k = new Kit();
    k.new({ account: A, side: BUY, price: 999_000, qty: 10, tif: Tif.GTD, expireTsUs: T0 + 1500, tsUs: T0 + 1000 }); // 1
    // Clock steps back: effective time stays T0 + 1000.
    expectEvents(k.new({ account: B, side: BUY, price: 998_000, qty: 10, tsUs: T0 }), [
      newAck(2, { tsUs: T0 + 1000 }),
      book(BUY, 998_000, 10, 1, BTC),
    ]);
    // GTD validity is judged against the effective time.
    expectEvents(
      k.new({ account: B, side: BUY, price: 998_000, qty: 10, tif: Tif.GTD, expireTsUs: T0 + 800, tsUs: T0 + 100 }),
      [exec(REJECTED, S.REJECTED, { orderId: 3, reason: Reason.INVALID_EXPIRE_TIME, tsUs: T0 + 1000 })],
    );
    expectEvents(k.tick(T0 + 1499), []);
    expectEvents(k.tick(T0 + 200), []);
    expect(k.engine.order(1)).toBeDefined();
    expectEvents(k.tick(T0 + 1500), [
      exec(EXPIRED, S.EXPIRED, { orderId: 1, reason: Reason.EXPIRED_GTD, tsUs: T0 + 1500 }),
      book(BUY, 999_000, 0, 0),
    ]);
    const ev = k.tick(T0 + 10);
    expect(ev).toEqual([]);
    // A later event still carries the max time.
    expect(k.new({ account: B, side: BUY, price: 997_000, qty: 10, tsUs: T0 + 20 })[0]).toMatchObject({
      tsUs: T0 + 1500,
    });
  });
});

describe('notional', () => {
  it('big price * qty stays exact (maxPrice * maxQty = 9e15 < 2^53)', () => {
    const k = new Kit();
    const p1 = 89_999_997;
    const q1 = 33_333_333;
    const p2 = 89_999_999;
    const q2 = 66_666_666;
    k.new({ account: A, symbol: ETH, side: SELL, price: p1, qty: q1 }); // 1
    k.new({ account: A, symbol: ETH, side: SELL, price: p2, qty: q2 }); // 2
    const ev = k.new({ account: B, symbol: ETH, side: BUY, price: p2, qty: q1 + q2 }); // 3
    const expected = BigInt(p1) * BigInt(q1) + BigInt(p2) * BigInt(q2);
    expect(expected <= BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    const last = ev.filter((e) => e.kind === 'exec' && e.orderId === 3).at(-1) as ExecReport;
    expect(last).toMatchObject({ execType: TRADE, ordStatus: S.FILLED, cumQty: q1 + q2 });
    expect(BigInt(last.cumNotional)).toBe(expected);
    const m2 = ev.filter((e) => e.kind === 'exec' && e.orderId === 2).at(-1) as ExecReport;
    expect(BigInt(m2.cumNotional)).toBe(BigInt(p2) * BigInt(q2));
    const first = ev.find((e) => e.kind === 'exec' && e.orderId === 1) as ExecReport;
    expect(BigInt(first.cumNotional)).toBe(BigInt(p1) * BigInt(q1));
  });
});
