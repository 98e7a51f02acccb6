// Every reject reason a user can provoke, per engine/README.md ("Validation", "Cancel", "Amend",
// "Admin", "Time"). A rejected command changes nothing but the exec id counter, so each bad
// command is checked the same way (see expectRejected):
//   1. it yields exactly one event of the expected kind and reason;
//   2. the visible state (book levels, book orders, order(id)) is unchanged;
//   3. a twin engine that never saw the bad command produces the same events (execId aside) for
//      a probe sequence that sweeps both books, triggers stops, reuses the bad clOrdId and
//      mass-cancels everything, so any hidden change (a reserved clOrdId, a moved stop, a changed
//      reference price...) shows up.

import { describe, expect, it } from 'vitest';
import {
  CxlRejResponseTo,
  ExecType,
  OrdStatus,
  OrdType,
  PostOnly,
  Reason,
  Side,
  Stp,
  Tif,
  type Command,
  type EngineEvent,
  type ShardConfig,
} from '../../engine/types.js';
import { BTC, BTC_BAND_HIGH, BTC_BAND_LOW, BTC_REF, ETH, Kit, defaultConfig, withoutExecIds } from './helpers.js';
import { engineStateHash } from '../../engine/snapshot.js';

const { BUY, SELL } = Side;
const { LIMIT, MARKET, STOP_MARKET, STOP_LIMIT } = OrdType;
const BIG = 2 ** 53 + 8; // 9007199254741000: an integer, a multiple of 5 and of 10, not a safe integer

/** Order ids of the baseline (their seq). */
const S1 = 1; // acc 1 SELL 100 @ 1_001_000 's1'
const B1 = 2; // acc 2 BUY 50 @ 999_000 'b1'
const B2 = 3; // acc 1 BUY 30 @ 999_500 iceberg 10 'b2'
const E1 = 4; // acc 2 ETH SELL 7 @ 5000 'e1'
const F1 = 5; // acc 3 SELL 10 @ 1_000_000 'f1' (filled by #6)
const ST1 = 7; // acc 1 BUY STOP_LIMIT stop 1_002_000 price 1_002_000 qty 10 'st1'
const ST2 = 8; // acc 2 SELL STOP_MARKET stop 999_000 qty 10 'st2'
const ALL_IDS = Array.from({ length: 12 }, (_, i) => i + 1);

function expectNoRejects(events: EngineEvent[]): void {
  for (const e of events) {
    expect(
      e.kind === 'command_reject' ||
        e.kind === 'cancel_reject' ||
        (e.kind === 'exec' && e.execType === ExecType.REJECTED),
      JSON.stringify(e),
    ).toBe(false);
  }
}

/** The book every reject test starts from. Last trade price: 1_000_000. Live orders: 7. */
function baseline(k: Kit): void {
  const ev: EngineEvent[] = [];
  ev.push(...k.new({ account: 1, side: SELL, price: 1_001_000, qty: 100, clOrdId: 's1' }));
  ev.push(...k.new({ account: 2, side: BUY, price: 999_000, qty: 50, clOrdId: 'b1' }));
  ev.push(...k.new({ account: 1, side: BUY, price: 999_500, qty: 30, displayQty: 10, clOrdId: 'b2' }));
  ev.push(...k.new({ account: 2, symbol: ETH, side: SELL, price: 5000, qty: 7, clOrdId: 'e1' }));
  ev.push(...k.new({ account: 3, side: SELL, price: 1_000_000, qty: 10, clOrdId: 'f1' }));
  ev.push(...k.new({ account: 4, side: BUY, price: 1_000_000, qty: 10, clOrdId: 'f2' }));
  ev.push(
    ...k.new({
      account: 1,
      side: BUY,
      ordType: STOP_LIMIT,
      stopPrice: 1_002_000,
      price: 1_002_000,
      qty: 10,
      clOrdId: 'st1',
    }),
  );
  ev.push(...k.new({ account: 2, side: SELL, ordType: STOP_MARKET, stopPrice: 999_000, qty: 10, clOrdId: 'st2' }));
  ev.push(...k.new({ account: 2, side: SELL, price: 1_002_000, qty: 10, clOrdId: 's2' }));
  expectNoRejects(ev);
  expect(ev.filter((e) => e.kind === 'trade')).toHaveLength(1);
}
const LIVE_AFTER_BASELINE = 7;

/** Commands that expose the whole state; identical for both twins. */
function probe(k: Kit): EngineEvent[] {
  const ev: EngineEvent[] = [];
  ev.push(...k.resume(BTC));
  ev.push(...k.killSwitch(1, false));
  ev.push(...k.killSwitch(5, false));
  ev.push(...k.setReferencePrice(BTC, BTC_REF));
  ev.push(...k.new({ account: 1, clOrdId: 'bad', side: BUY, price: 996_000, qty: 10 }));
  ev.push(...k.new({ account: 5, clOrdId: 'bad', side: BUY, price: 996_000, qty: 10 }));
  ev.push(...k.new({ account: 1, clOrdId: 'x'.repeat(64), side: BUY, price: 996_000, qty: 10 }));
  ev.push(...k.new({ account: 9, side: BUY, price: BTC_BAND_HIGH, qty: 1000, tif: Tif.IOC }));
  ev.push(...k.new({ account: 9, side: SELL, price: BTC_BAND_LOW, qty: 1000, tif: Tif.IOC }));
  ev.push(...k.new({ account: 9, symbol: ETH, side: BUY, price: 90_000_000, qty: 1000, tif: Tif.IOC }));
  for (const account of [1, 2, 3, 4, 5]) ev.push(...k.massCancel({ account }));
  ev.push(...k.tick(k.tsUs + 10 * 86_400_000_000));
  return ev;
}

interface Options {
  config?: ShardConfig;
  /** Extra commands after the baseline (applied to both twins). */
  afterBaseline?: (k: Kit) => void;
}

/** Applies `bad` after the baseline and checks it was rejected with no effect. Returns its events. */
function expectRejected(
  bad: (k: Kit) => Command,
  expected: Record<string, unknown>,
  opts: Options = {},
): EngineEvent[] {
  const k = new Kit(opts.config ?? defaultConfig());
  const twin = new Kit(opts.config ?? defaultConfig());
  for (const kit of [k, twin]) {
    baseline(kit);
    opts.afterBaseline?.(kit);
  }
  const before = k.view(ALL_IDS);
  const cmd = bad(k);
  const events = k.apply(cmd);
  expect(events, JSON.stringify(events)).toMatchObject([expected]);
  expect(k.view(ALL_IDS)).toEqual(before);
  twin.seq = k.seq;
  twin.tsUs = k.tsUs;
  expect(withoutExecIds(probe(k))).toEqual(withoutExecIds(probe(twin)));
  return events;
}

const rejectedNew = (reason: Reason, seqOrId?: number) => ({
  kind: 'exec',
  execType: ExecType.REJECTED,
  ordStatus: OrdStatus.REJECTED,
  reason,
  // orderQty: the quantity asked for (helpers.ts checkInvariants checks it on every REJECTED report)
  cumQty: 0,
  leavesQty: 0,
  ...(seqOrId === undefined ? {} : { orderId: seqOrId }),
});
const cancelReject = (responseTo: CxlRejResponseTo, reason: Reason) => ({ kind: 'cancel_reject', responseTo, reason });
const commandReject = (command: string, reason: Reason) => ({ kind: 'command_reject', command, reason });

/** A new order rejected with `reason`; `f` overrides a plain acc-1 BUY LIMIT 10 @ 1_000_000 GTC. */
function newRejected(reason: Reason, f: Record<string, unknown>, opts: Options = {}): void {
  let seq = 0;
  const events = expectRejected(
    (k) => {
      const cmd = k.newOrder({ account: 1, clOrdId: 'bad', ...f });
      seq = cmd.seq;
      return cmd;
    },
    rejectedNew(reason),
    opts,
  );
  expect(events[0]).toMatchObject({ orderId: seq });
}

function amendRejected(reason: Reason, f: Record<string, unknown>, opts: Options = {}): void {
  expectRejected(
    (k) => k.amendCmd({ account: 1, orderId: S1, ...f }),
    cancelReject(CxlRejResponseTo.AMEND, reason),
    opts,
  );
}

// ---------------------------------------------------------------------------

describe('baseline sanity', () => {
  it('the probe is deterministic and the baseline holds 7 live orders', () => {
    const a = new Kit();
    const b = new Kit();
    baseline(a);
    baseline(b);
    expect(engineStateHash(a.engine)).toBe(engineStateHash(b.engine));
    expect(withoutExecIds(probe(a))).toEqual(withoutExecIds(probe(b)));
    const k = new Kit();
    baseline(k);
    expect(ALL_IDS.filter((id) => k.engine.order(id) !== undefined)).toEqual([S1, B1, B2, E1, ST1, ST2, 9]);
    expect(k.engine.order(ST1)).toMatchObject({ pending: true });
    expect(k.engine.order(F1)).toBeUndefined();
  });
});

describe('UNKNOWN_INSTRUMENT', () => {
  it.each([
    ['unknown symbol', { symbol: 'DOGE-USD' }],
    ['wrong case', { symbol: 'btc-usd' }],
    ['missing symbol', { symbol: undefined }],
    ['number as symbol', { symbol: 1 }],
  ])('new order: %s', (_n, f) => newRejected(Reason.UNKNOWN_INSTRUMENT, f));

  it('halt of an unknown symbol is a command_reject', () => {
    expectRejected((k) => k.cmd('halt', { symbol: 'DOGE-USD' }), commandReject('halt', Reason.UNKNOWN_INSTRUMENT));
  });
  it('set_reference_price of an unknown symbol is a command_reject', () => {
    expectRejected(
      (k) => k.cmd('set_reference_price', { symbol: 'DOGE-USD', price: 1_000_000 }),
      commandReject('set_reference_price', Reason.UNKNOWN_INSTRUMENT),
    );
  });
});

describe('INVALID_SIDE', () => {
  it.each([
    ['0', { side: 0 }],
    ['3', { side: 3 }],
    ['string', { side: 'BUY' }],
    ['missing', { side: undefined }],
  ])('side %s', (_n, f) => newRejected(Reason.INVALID_SIDE, f));
});

describe('INVALID_ORDER_TYPE', () => {
  it.each([
    ['0', { ordType: 0 }],
    ['5', { ordType: 5 }],
    ['string', { ordType: 'LIMIT' }],
    ['missing', { ordType: undefined }],
  ])('ordType %s', (_n, f) => newRejected(Reason.INVALID_ORDER_TYPE, f));
});

describe('INVALID_TIME_IN_FORCE', () => {
  it.each([
    ['6', { tif: 6 }],
    ['1.5', { tif: 1.5 }],
    ['string', { tif: 'GTC' }],
    ['MARKET GTC', { ordType: MARKET, price: undefined, tif: Tif.GTC }],
    ['MARKET DAY', { ordType: MARKET, price: undefined, tif: Tif.DAY }],
    ['MARKET GTD', { ordType: MARKET, price: undefined, tif: Tif.GTD, expireTsUs: 1_800_000_000_000_000 }],
    ['STOP_MARKET GTC', { ordType: STOP_MARKET, price: undefined, stopPrice: 1_003_000, tif: Tif.GTC }],
  ])('tif %s', (_n, f) => newRejected(Reason.INVALID_TIME_IN_FORCE, f));
});

describe('INVALID_QUANTITY', () => {
  it.each([
    ['0', { qty: 0 }],
    ['negative', { qty: -10 }],
    ['fraction', { qty: 10.5 }],
    ['NaN', { qty: NaN }],
    ['Infinity', { qty: Infinity }],
    ['-Infinity', { qty: -Infinity }],
    ['string', { qty: '10' }],
    ['null', { qty: null }],
    ['boolean', { qty: true }],
    ['missing', { qty: undefined }],
  ])('qty %s', (_n, f) => newRejected(Reason.INVALID_QUANTITY, f));

  it('qty above 2^53 is rejected (INVALID_QUANTITY or QUANTITY_ABOVE_MAX)', () => {
    const k = new Kit();
    baseline(k);
    const before = k.view(ALL_IDS);
    const events = k.new({ qty: BIG });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'exec', execType: ExecType.REJECTED });
    expect([Reason.INVALID_QUANTITY, Reason.QUANTITY_ABOVE_MAX]).toContain((events[0] as { reason: Reason }).reason);
    expect(k.view(ALL_IDS)).toEqual(before);
  });

  it.each([
    ['negative', { qty: -10 }],
    ['fraction', { qty: 10.5 }],
    ['NaN', { qty: NaN }],
    ['string', { qty: '50' }],
  ])('amend qty %s', (_n, f) => amendRejected(Reason.INVALID_QUANTITY, f));
});

describe('QUANTITY_NOT_LOT_MULTIPLE', () => {
  it('new order qty 15 with lot 10', () => newRejected(Reason.QUANTITY_NOT_LOT_MULTIPLE, { qty: 15 }));
  it('amend qty 95', () => amendRejected(Reason.QUANTITY_NOT_LOT_MULTIPLE, { qty: 95 }));
});

describe('QUANTITY_BELOW_MIN', () => {
  it('ETH qty 3 with minQty 5', () => newRejected(Reason.QUANTITY_BELOW_MIN, { symbol: ETH, price: 5000, qty: 3 }));
  it('ETH qty 5 (= minQty) is accepted', () => {
    const k = new Kit();
    expect(k.new({ symbol: ETH, price: 5000, qty: 5 })[0]).toMatchObject({ execType: ExecType.NEW });
  });
});

describe('QUANTITY_ABOVE_MAX', () => {
  it('new order qty maxQty + lot', () => newRejected(Reason.QUANTITY_ABOVE_MAX, { qty: 1_000_010 }));
  it('amend qty maxQty + lot', () => amendRejected(Reason.QUANTITY_ABOVE_MAX, { qty: 1_000_010 }));
  it('qty = maxQty is accepted', () => {
    const k = new Kit();
    expect(k.new({ qty: 1_000_000 })[0]).toMatchObject({ execType: ExecType.NEW });
  });
});

describe('INVALID_PRICE', () => {
  it.each([
    ['0', { price: 0 }],
    ['negative', { price: -1_000_000 }],
    ['fraction', { price: 1_000_000.5 }],
    ['NaN', { price: NaN }],
    ['Infinity', { price: Infinity }],
    ['string', { price: '1000000' }],
    ['null', { price: null }],
    ['missing on LIMIT', { price: undefined }],
    ['missing on STOP_LIMIT', { ordType: STOP_LIMIT, stopPrice: 1_003_000, price: undefined }],
    ['price on MARKET', { ordType: MARKET, price: 1_000_000 }],
    ['price on STOP_MARKET', { ordType: STOP_MARKET, stopPrice: 1_003_000, price: 1_000_000 }],
    ['above maxPrice (ETH, no band)', { symbol: ETH, price: 90_000_001 }],
    ['above 2^53 (ETH, no band)', { symbol: ETH, price: BIG }],
  ])('price %s', (_n, f) => newRejected(Reason.INVALID_PRICE, f));

  it.each([
    ['0', { price: 0 }],
    ['negative', { price: -5 }],
    ['NaN', { price: NaN }],
  ])('amend price %s', (_n, f) => amendRejected(Reason.INVALID_PRICE, f));

  it.each([
    ['0', 0],
    ['negative', -5],
    ['NaN', NaN],
    ['above maxPrice', 10_000_005],
  ])('set_reference_price %s is a command_reject', (_n, price) => {
    expectRejected(
      (k) => k.cmd('set_reference_price', { symbol: BTC, price }),
      commandReject('set_reference_price', Reason.INVALID_PRICE),
    );
  });
});

describe('PRICE_NOT_TICK_MULTIPLE', () => {
  it('LIMIT price 1_000_003 with tick 5', () => newRejected(Reason.PRICE_NOT_TICK_MULTIPLE, { price: 1_000_003 }));
  it('STOP_LIMIT price 1_002_002', () =>
    newRejected(Reason.PRICE_NOT_TICK_MULTIPLE, { ordType: STOP_LIMIT, stopPrice: 1_003_000, price: 1_002_002 }));
  it('amend price 1_001_003', () => amendRejected(Reason.PRICE_NOT_TICK_MULTIPLE, { price: 1_001_003 }));
  // The README does not name the reason for a bad reference price: either price code is fine.
  it('set_reference_price 1_000_003 is a command_reject (INVALID_PRICE or PRICE_NOT_TICK_MULTIPLE)', () => {
    const events = expectRejected((k) => k.cmd('set_reference_price', { symbol: BTC, price: 1_000_003 }), {
      kind: 'command_reject',
      command: 'set_reference_price',
    });
    expect([Reason.INVALID_PRICE, Reason.PRICE_NOT_TICK_MULTIPLE]).toContain((events[0] as { reason: Reason }).reason);
  });
});

describe('PRICE_OUT_OF_BAND', () => {
  it.each([
    ['BUY one tick above the band', { side: BUY, price: BTC_BAND_HIGH + 5 }],
    ['SELL one tick below the band', { side: SELL, price: BTC_BAND_LOW - 5 }],
    ['SELL above the band', { side: SELL, price: 1_100_000 }],
    [
      'STOP_LIMIT limit price outside the band',
      { ordType: STOP_LIMIT, stopPrice: 1_003_000, price: BTC_BAND_HIGH + 5 },
    ],
  ])('%s', (_n, f) => newRejected(Reason.PRICE_OUT_OF_BAND, f));

  it('band edges are accepted', () => {
    const k = new Kit();
    expect(k.new({ side: BUY, price: BTC_BAND_LOW })[0]).toMatchObject({ execType: ExecType.NEW });
    expect(k.new({ side: SELL, price: BTC_BAND_HIGH })[0]).toMatchObject({ execType: ExecType.NEW });
  });

  it('post-only REPRICE landing outside the band', () => {
    // Reference 1_006_000: band [1_001_000, 1_011_000]; best ask s1 1_001_000 -> repriced BUY 1_000_995.
    newRejected(
      Reason.PRICE_OUT_OF_BAND,
      { side: BUY, price: 1_002_000, postOnly: PostOnly.REPRICE },
      { afterBaseline: (k) => k.setReferencePrice(BTC, 1_006_000) },
    );
  });

  it('amend price outside the band', () => amendRejected(Reason.PRICE_OUT_OF_BAND, { price: BTC_BAND_HIGH + 5 }));
});

describe('INVALID_STOP_PRICE', () => {
  const stop = { side: BUY, ordType: STOP_MARKET, price: undefined };
  it.each([
    ['missing', { ...stop, stopPrice: undefined }],
    ['0', { ...stop, stopPrice: 0 }],
    ['negative', { ...stop, stopPrice: -1_003_000 }],
    ['not a tick multiple', { ...stop, stopPrice: 1_003_003 }],
    ['above maxPrice', { ...stop, stopPrice: 10_000_005 }],
    ['fraction', { ...stop, stopPrice: 1_003_000.5 }],
    ['NaN', { ...stop, stopPrice: NaN }],
    ['string', { ...stop, stopPrice: '1003000' }],
    ['STOP_LIMIT missing', { ordType: STOP_LIMIT, price: 1_003_000, stopPrice: undefined }],
  ])('stopPrice %s', (_n, f) => newRejected(Reason.INVALID_STOP_PRICE, f));

  it('amend of a pending stop to a stop price off the tick grid', () =>
    expectRejected(
      (k) => k.amendCmd({ account: 1, orderId: ST1, stopPrice: 1_003_003 }),
      cancelReject(CxlRejResponseTo.AMEND, Reason.INVALID_STOP_PRICE),
    ));
});

describe('STOP_PRICE_WOULD_TRIGGER (last trade 1_000_000)', () => {
  it.each([
    ['BUY stop at the last price', { side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_000 }],
    ['BUY stop below the last price', { side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 999_000 }],
    ['SELL stop at the last price', { side: SELL, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_000 }],
    ['SELL stop above the last price', { side: SELL, ordType: STOP_LIMIT, price: 1_000_000, stopPrice: 1_000_005 }],
  ])('%s', (_n, f) => newRejected(Reason.STOP_PRICE_WOULD_TRIGGER, f));

  it('one tick away is accepted', () => {
    const k = new Kit();
    baseline(k);
    expect(k.new({ side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 1_000_005 })[0]).toMatchObject({
      execType: ExecType.NEW,
      ordStatus: OrdStatus.PENDING_TRIGGER,
    });
    expect(k.new({ side: SELL, ordType: STOP_MARKET, price: undefined, stopPrice: 999_995 })[0]).toMatchObject({
      execType: ExecType.NEW,
      ordStatus: OrdStatus.PENDING_TRIGGER,
    });
  });

  it('without a last trade any stop price is accepted', () => {
    const k = new Kit();
    expect(k.new({ side: BUY, ordType: STOP_MARKET, price: undefined, stopPrice: 5 })[0]).toMatchObject({
      ordStatus: OrdStatus.PENDING_TRIGGER,
    });
    expect(k.new({ side: SELL, ordType: STOP_MARKET, price: undefined, stopPrice: 9_999_995 })[0]).toMatchObject({
      ordStatus: OrdStatus.PENDING_TRIGGER,
    });
  });
});

describe('INVALID_DISPLAY_QUANTITY', () => {
  const base = { qty: 30 };
  it.each([
    ['= qty', { ...base, displayQty: 30 }],
    ['> qty', { ...base, displayQty: 40 }],
    ['not a lot multiple', { ...base, displayQty: 15 }],
    ['negative', { ...base, displayQty: -10 }],
    ['fraction', { ...base, displayQty: 10.5 }],
    ['NaN', { ...base, displayQty: NaN }],
    ['string', { ...base, displayQty: '10' }],
    ['on MARKET', { ...base, ordType: MARKET, price: undefined, displayQty: 10 }],
    ['on STOP_MARKET', { ...base, ordType: STOP_MARKET, price: undefined, stopPrice: 1_003_000, displayQty: 10 }],
    ['on LIMIT IOC', { ...base, tif: Tif.IOC, displayQty: 10 }],
    ['on LIMIT FOK', { ...base, tif: Tif.FOK, displayQty: 10 }],
  ])('displayQty %s', (_n, f) => newRejected(Reason.INVALID_DISPLAY_QUANTITY, f));
});

describe('INVALID_EXPIRE_TIME', () => {
  it.each([
    ['GTD without expireTsUs', () => ({ tif: Tif.GTD })],
    ['expireTsUs = now', (k: Kit) => ({ tif: Tif.GTD, expireTsUs: k.tsUs })],
    ['expireTsUs in the past', (k: Kit) => ({ tif: Tif.GTD, expireTsUs: k.tsUs - 1 })],
    ['expireTsUs fraction', (k: Kit) => ({ tif: Tif.GTD, expireTsUs: k.tsUs + 1000.5 })],
    ['expireTsUs NaN', () => ({ tif: Tif.GTD, expireTsUs: NaN })],
    ['expireTsUs string', (k: Kit) => ({ tif: Tif.GTD, expireTsUs: String(k.tsUs + 1000) })],
  ])('%s', (_n, f) => {
    expectRejected((k) => k.newOrder({ account: 1, clOrdId: 'bad', ...f(k) }), rejectedNew(Reason.INVALID_EXPIRE_TIME));
  });
});

describe('INVALID_CLIENT_ORDER_ID', () => {
  it.each([
    ['empty', { clOrdId: '' }],
    ['65 characters', { clOrdId: 'x'.repeat(65) }],
    ['newline', { clOrdId: 'a\nb' }],
    ['NUL', { clOrdId: 'a\u0000' }],
    ['DEL', { clOrdId: 'a\u007f' }],
    ['non-ASCII', { clOrdId: 'é' }],
    ['number', { clOrdId: 5 }],
    ['missing', { clOrdId: undefined }],
  ])('new order clOrdId %s', (_n, f) => {
    expectRejected((k) => k.newOrder({ account: 1, ...f }), rejectedNew(Reason.INVALID_CLIENT_ORDER_ID));
  });

  it('amend to a 65-character clOrdId', () =>
    amendRejected(Reason.INVALID_CLIENT_ORDER_ID, { clOrdId: 'y'.repeat(65) }));
});

describe('DUPLICATE_CLIENT_ORDER_ID', () => {
  it.each([
    ['of a resting order', 's1'],
    ['of a resting iceberg', 'b2'],
    ['of a pending stop', 'st1'],
  ])('new order reusing the clOrdId %s of the same account', (_n, clOrdId) => {
    expectRejected(
      (k) => k.newOrder({ account: 1, clOrdId, price: 996_000 }),
      rejectedNew(Reason.DUPLICATE_CLIENT_ORDER_ID),
    );
  });

  it('amend to the clOrdId of another live order of the account', () =>
    amendRejected(Reason.DUPLICATE_CLIENT_ORDER_ID, { clOrdId: 'b2', qty: 90 }));

  it('the same clOrdId on another account is allowed', () => {
    const k = new Kit();
    baseline(k);
    expect(k.new({ account: 2, clOrdId: 's1', price: 996_000 })[0]).toMatchObject({
      execType: ExecType.NEW,
      clOrdId: 's1',
    });
  });

  it('reuse after the order is done (filled, canceled, expired) is allowed', () => {
    const k = new Kit();
    baseline(k);
    // filled
    expect(k.new({ account: 3, clOrdId: 'f1', price: 996_000 })[0]).toMatchObject({
      execType: ExecType.NEW,
      clOrdId: 'f1',
    });
    // canceled
    expect(k.cancel({ account: 1, orderId: S1 })[0]).toMatchObject({ execType: ExecType.CANCELED });
    expect(k.new({ account: 1, clOrdId: 's1', price: 996_000 })[0]).toMatchObject({ execType: ExecType.NEW });
    // expired (IOC)
    const ioc = k.new({ account: 6, clOrdId: 'i', price: 996_000, tif: Tif.IOC });
    expect(ioc.at(-1)).toMatchObject({ execType: ExecType.EXPIRED });
    expect(k.new({ account: 6, clOrdId: 'i', price: 996_000 })[0]).toMatchObject({ execType: ExecType.NEW });
    // rejected orders never hold a clOrdId
    expect(k.new({ account: 6, clOrdId: 'r', qty: 15 })[0]).toMatchObject({ execType: ExecType.REJECTED });
    expect(k.new({ account: 6, clOrdId: 'r', price: 996_000 })[0]).toMatchObject({ execType: ExecType.NEW });
  });
});

describe('INVALID_ACCOUNT', () => {
  it.each([
    ['0', { account: 0 }],
    ['negative', { account: -1 }],
    ['2^32', { account: 2 ** 32 }],
    ['fraction', { account: 1.5 }],
    ['NaN', { account: NaN }],
    ['string', { account: '1' }],
    ['missing', { account: undefined }],
  ])('new order account %s', (_n, f) => {
    expectRejected((k) => k.newOrder({ clOrdId: 'bad', ...f }), rejectedNew(Reason.INVALID_ACCOUNT));
  });

  it('kill_switch for account 0 is a command_reject', () =>
    expectRejected(
      (k) => k.cmd('kill_switch', { account: 0, active: true }),
      commandReject('kill_switch', Reason.INVALID_ACCOUNT),
    ));
  it('set_account for account -1 is a command_reject', () =>
    expectRejected(
      (k) => k.cmd('set_account', { account: -1, stp: Stp.NONE }),
      commandReject('set_account', Reason.INVALID_ACCOUNT),
    ));
});

describe('INVALID_POST_ONLY', () => {
  it.each([
    ['value 3', { postOnly: 3 }],
    ['string', { postOnly: 'REJECT' }],
    ['on MARKET', { ordType: MARKET, price: undefined, postOnly: PostOnly.REJECT }],
    ['on LIMIT IOC', { tif: Tif.IOC, price: 996_000, postOnly: PostOnly.REJECT }],
    ['on LIMIT FOK', { tif: Tif.FOK, price: 996_000, postOnly: PostOnly.REPRICE }],
    ['on STOP_LIMIT', { ordType: STOP_LIMIT, stopPrice: 1_003_000, price: 1_003_000, postOnly: PostOnly.REJECT }],
    ['on STOP_MARKET', { ordType: STOP_MARKET, price: undefined, stopPrice: 1_003_000, postOnly: PostOnly.REJECT }],
  ])('postOnly %s', (_n, f) => newRejected(Reason.INVALID_POST_ONLY, f));
});

describe('INVALID_STP_MODE', () => {
  it.each([
    ['5', { stp: 5 }],
    ['-1', { stp: -1 }],
    ['fraction', { stp: 1.5 }],
    ['string', { stp: 'NONE' }],
  ])('new order stp %s', (_n, f) => newRejected(Reason.INVALID_STP_MODE, f));

  it('set_account with stp 9 is a command_reject', () =>
    expectRejected(
      (k) => k.cmd('set_account', { account: 1, stp: 9 }),
      commandReject('set_account', Reason.INVALID_STP_MODE),
    ));
});

describe('POST_ONLY_WOULD_CROSS', () => {
  it.each([
    ['BUY at the best ask', { side: BUY, price: 1_001_000, postOnly: PostOnly.REJECT }],
    ['BUY through the best ask', { side: BUY, price: 1_002_000, postOnly: PostOnly.REJECT }],
    ['SELL at the best bid', { side: SELL, price: 999_500, postOnly: PostOnly.REJECT }],
  ])('%s', (_n, f) => newRejected(Reason.POST_ONLY_WOULD_CROSS, f));

  it('amend of a post-only REJECT order to a crossing price', () => {
    expectRejected(
      (k) => k.amendCmd({ account: 6, origClOrdId: 'po', price: 1_001_000 }),
      cancelReject(CxlRejResponseTo.AMEND, Reason.POST_ONLY_WOULD_CROSS),
      {
        afterBaseline: (k) => {
          expect(
            k.new({ account: 6, clOrdId: 'po', side: BUY, price: 998_000, postOnly: PostOnly.REJECT })[0],
          ).toMatchObject({
            execType: ExecType.NEW,
          });
        },
      },
    );
  });
});

describe('INSTRUMENT_HALTED', () => {
  const halted: Options = { afterBaseline: (k) => k.halt(BTC) };
  it.each([
    ['LIMIT', { price: 996_000 }],
    ['MARKET', { ordType: MARKET, price: undefined, side: SELL }],
    ['STOP_MARKET', { ordType: STOP_MARKET, price: undefined, stopPrice: 1_003_000 }],
  ])('new %s order on a halted instrument', (_n, f) => newRejected(Reason.INSTRUMENT_HALTED, f, halted));

  it('amend on a halted instrument', () => amendRejected(Reason.INSTRUMENT_HALTED, { qty: 90 }, halted));
  it('amend of a pending stop on a halted instrument', () =>
    amendRejected(Reason.INSTRUMENT_HALTED, { orderId: ST1, stopPrice: 1_003_000 }, halted));
});

describe('ACCOUNT_BLOCKED', () => {
  it.each([
    ['BTC', { account: 5, price: 996_000 }],
    ['ETH', { account: 5, symbol: ETH, price: 5000 }],
  ])('new %s order of a kill-switched account', (_n, f) =>
    newRejected(Reason.ACCOUNT_BLOCKED, f, { afterBaseline: (k) => k.killSwitch(5, true) }),
  );

  it('amend by a kill-switched account', () =>
    amendRejected(Reason.ACCOUNT_BLOCKED, { orderId: S1, qty: 90 }, { afterBaseline: (k) => k.killSwitch(1, true) }));
});

describe('ORDER_NOT_FOUND', () => {
  it.each([
    ['unknown orderId', { account: 1, orderId: 999 }],
    ['unknown clOrdId', { account: 1, clOrdId: 'nope' }],
    ['filled order', { account: 3, orderId: F1 }],
    ['filled order by clOrdId', { account: 3, clOrdId: 'f1' }],
    ['foreign orderId', { account: 2, orderId: S1 }],
    ['foreign pending stop', { account: 2, orderId: ST1 }],
    ['foreign clOrdId', { account: 2, clOrdId: 's1' }],
  ])('cancel: %s', (_n, f) => {
    expectRejected((k) => k.cancelCmd(f), cancelReject(CxlRejResponseTo.CANCEL, Reason.ORDER_NOT_FOUND));
  });

  it.each([
    ['unknown orderId', { account: 1, orderId: 999, qty: 50 }],
    ['unknown origClOrdId', { account: 1, origClOrdId: 'nope', qty: 50 }],
    ['filled order', { account: 3, orderId: F1, qty: 50 }],
    ['foreign orderId', { account: 2, orderId: S1, qty: 50 }],
    ['foreign origClOrdId', { account: 2, origClOrdId: 's1', qty: 50 }],
  ])('amend: %s', (_n, f) => {
    expectRejected((k) => k.amendCmd(f), cancelReject(CxlRejResponseTo.AMEND, Reason.ORDER_NOT_FOUND));
  });

  it('cancel twice: the second is ORDER_NOT_FOUND', () => {
    expectRejected(
      (k) => k.cancelCmd({ account: 1, orderId: S1 }),
      cancelReject(CxlRejResponseTo.CANCEL, Reason.ORDER_NOT_FOUND),
      {
        afterBaseline: (k) => k.cancel({ account: 1, orderId: S1 }),
      },
    );
  });

  // "An order of another account is answered exactly like a missing one": compare against an
  // engine where the id was never an order (a tick took its seq).
  it.each([
    ['cancel by orderId', (k: Kit) => k.cancelCmd({ account: 2, orderId: 1 })],
    ['cancel by clOrdId', (k: Kit) => k.cancelCmd({ account: 2, clOrdId: 'secret' })],
    ['amend by orderId', (k: Kit) => k.amendCmd({ account: 2, orderId: 1, qty: 20, price: 999_000 })],
    ['amend by origClOrdId', (k: Kit) => k.amendCmd({ account: 2, origClOrdId: 'secret', qty: 20 })],
  ])('a foreign order is indistinguishable from a missing one: %s', (_n, bad) => {
    const withOrder = new Kit();
    const without = new Kit();
    withOrder.new({ account: 1, clOrdId: 'secret', side: SELL, price: 1_001_000, qty: 30 });
    without.tick();
    const a = withOrder.apply(bad(withOrder));
    const b = without.apply(bad(without));
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ kind: 'cancel_reject', reason: Reason.ORDER_NOT_FOUND, account: 2 });
    expect(a).toEqual(b);
    expect(JSON.stringify(a)).not.toContain('"account":1');
  });
});

describe('BOOK_FULL', () => {
  const full: Options = { config: defaultConfig({ orderCountMax: LIVE_AFTER_BASELINE }) };
  it.each([
    ['resting LIMIT', { price: 996_000 }],
    ['IOC that would trade', { side: BUY, price: 1_001_000, tif: Tif.IOC }],
    ['pending stop', { ordType: STOP_MARKET, price: undefined, stopPrice: 1_003_000 }],
    ['ETH order', { symbol: ETH, price: 5000 }],
  ])('%s with orderCountMax live orders', (_n, f) => newRejected(Reason.BOOK_FULL, f, full));

  it('a cancel frees a slot', () => {
    const k = new Kit(defaultConfig({ orderCountMax: LIVE_AFTER_BASELINE }));
    baseline(k);
    expect(k.new({ price: 996_000 })[0]).toMatchObject({ execType: ExecType.REJECTED, reason: Reason.BOOK_FULL });
    k.cancel({ account: 2, orderId: B1 });
    expect(k.new({ price: 996_000 })[0]).toMatchObject({ execType: ExecType.NEW });
    expect(k.new({ price: 996_000 })[0]).toMatchObject({ execType: ExecType.REJECTED, reason: Reason.BOOK_FULL });
  });

  it('orderCountMax 1: a second order is BOOK_FULL even if it would only trade', () => {
    const k = new Kit(defaultConfig({ orderCountMax: 1 }));
    expect(k.new({ price: 996_000 })[0]).toMatchObject({ execType: ExecType.NEW });
    expect(k.new({ price: 996_000, side: SELL, qty: 10, account: 2, tif: Tif.IOC })).toMatchObject([
      rejectedNew(Reason.BOOK_FULL),
    ]);
    expect(k.engine.bookOrders(BTC, BUY)).toHaveLength(1);
  });
});

describe('INVALID_SEQUENCE', () => {
  it.each([
    ['new with seq equal to the previous', (k: Kit) => k.newOrder({ seq: k.seq, price: 996_000 }), 'new'],
    ['new with a lower seq', (k: Kit) => k.newOrder({ seq: k.seq - 3, price: 996_000 }), 'new'],
    [
      'cancel with seq equal to the previous',
      (k: Kit) => k.cancelCmd({ seq: k.seq, account: 1, orderId: S1 }),
      'cancel',
    ],
    [
      'tick with a lower seq and a later time',
      (k: Kit) => k.cmd('tick', { seq: 1, tsUs: k.tsUs + 30 * 86_400_000_000 }),
      'tick',
    ],
    [
      'new with an equal seq and a time past a GTD expiry',
      (k: Kit) => k.newOrder({ seq: k.seq, tsUs: k.tsUs + 2000, price: 996_000 }),
      'new',
    ],
    ['halt with seq 0', (k: Kit) => k.cmd('halt', { seq: 0, symbol: BTC }), 'halt'],
  ])('%s', (_n, bad, command) => {
    // A GTD order that a valid command at the bad command's time would expire: it must survive.
    const gtd: Options = {
      afterBaseline: (k) =>
        k.new({ account: 6, side: BUY, price: 997_000, qty: 10, tif: Tif.GTD, expireTsUs: k.tsUs + 1000 }),
    };
    expectRejected(bad, commandReject(command, Reason.INVALID_SEQUENCE), gtd);
  });
});

describe('INVALID_TIMESTAMP', () => {
  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['fraction', 1_700_000_000_000_000.5],
    ['string', '1700000000000000'],
  ])('tsUs %s', (_n, tsUs) => {
    expectRejected((k) => k.newOrder({ tsUs, price: 996_000 }), commandReject('new', Reason.INVALID_TIMESTAMP));
  });
});

describe('UNKNOWN_COMMAND', () => {
  it('type "explode"', () => expectRejected((k) => k.cmd('explode'), commandReject('explode', Reason.UNKNOWN_COMMAND)));
});

describe('MALFORMED_COMMAND', () => {
  it('kill_switch with a non-boolean active', () =>
    expectRejected(
      (k) => k.cmd('kill_switch', { account: 1, active: 'yes' }),
      commandReject('kill_switch', Reason.MALFORMED_COMMAND),
    ));
});

// engine/README.md "null and absent inside the engine": a command built in code or read from the log.
describe('null inside the engine', () => {
  it.each([
    ['tif', { tif: null }],
    ['postOnly', { postOnly: null }],
  ])('null %s selects the default, as absence does', (_n, f) => {
    const k = new Kit();
    baseline(k);
    expect(k.new({ account: 6, clOrdId: 'n', price: 996_000, ...f })[0]).toMatchObject({ execType: ExecType.NEW });
    expect(k.engine.order(k.last)).toBeDefined(); // rests: GTC, not IOC
  });

  it.each([
    ['price on MARKET', Reason.INVALID_PRICE, { ordType: MARKET, price: null }],
    ['stopPrice on LIMIT', Reason.INVALID_STOP_PRICE, { stopPrice: null }],
    ['expireTsUs', Reason.INVALID_EXPIRE_TIME, { expireTsUs: null }],
    ['displayQty', Reason.INVALID_DISPLAY_QUANTITY, { qty: 30, displayQty: null }],
    ['stp', Reason.INVALID_STP_MODE, { stp: null }],
  ])('null %s is a value of the wrong type', (_n, reason, f) => newRejected(reason, f));
});

// The JSON edge (json-codec.ts, config.ts): loaded lazily so the engine tests above do not depend on them.
describe('JSON codec envelope errors', () => {
  it.each([
    ['null', null],
    ['a number', 42],
    ['a string', 'new'],
    ['an array', [{ type: 'tick', seq: 1, tsUs: 1 }]],
  ])('%s is MALFORMED_COMMAND', async (_n, value) => {
    const { commandFromJson } = await import('../../engine/json-codec.js');
    expect(commandFromJson(value)).toMatchObject({ error: Reason.MALFORMED_COMMAND });
  });

  it('an unknown type ends as UNKNOWN_COMMAND (in the codec or in the engine)', async () => {
    const { commandFromJson } = await import('../../engine/json-codec.js');
    const decoded = commandFromJson({ type: 'explode', seq: 1, tsUs: 1 });
    if ('error' in decoded) {
      expect(decoded).toMatchObject({ error: Reason.UNKNOWN_COMMAND, command: 'explode' });
    } else {
      const k = new Kit();
      expect(k.apply(decoded)).toMatchObject([commandReject('explode', Reason.UNKNOWN_COMMAND)]);
    }
  });

  it('a valid new order decodes to numeric enums', async () => {
    const { commandFromJson } = await import('../../engine/json-codec.js');
    expect(
      commandFromJson({
        type: 'new',
        seq: 1,
        tsUs: 1_700_000_000_000_000,
        account: 1,
        clOrdId: 'a1',
        symbol: BTC,
        side: 'SELL',
        ordType: 'LIMIT',
        price: 5_000_100,
        qty: 5,
        tif: 'IOC',
        postOnly: 'NONE',
        stp: 'EXPIRE_MAKER',
      }),
    ).toMatchObject({
      type: 'new',
      side: SELL,
      ordType: LIMIT,
      tif: Tif.IOC,
      stp: Stp.EXPIRE_MAKER,
      price: 5_000_100,
      qty: 5,
    });
  });
});

describe('config validation', () => {
  const json = (maxPrice: number, maxQty: number) => ({
    shardId: 0,
    defaultStp: 'EXPIRE_TAKER',
    orderCountMax: 1000,
    accounts: [{ id: 7, stp: 'EXPIRE_MAKER' }],
    instruments: [
      {
        symbol: BTC,
        tickSize: 1,
        lotSize: 1,
        minQty: 1,
        maxQty,
        maxPrice,
        priceBandTicks: 100_000,
        referencePrice: 5_000_000,
        sessionCloseUtcUs: 0,
        priceDecimals: 2,
        qtyDecimals: 4,
      },
    ],
  });
  it('accepts maxPrice * maxQty <= 2^53 - 1 (narrow) and above (wide)', async () => {
    const { parseConfig } = await import('../../engine/config.js');
    const { isWide } = await import('../../engine/notional.js');
    const c = parseConfig(json(1_000_000_000, 9_007_199));
    expect(c.defaultStp).toBe(Stp.EXPIRE_TAKER);
    expect(c.accounts).toEqual([{ id: 7, stp: Stp.EXPIRE_MAKER }]);
    expect(isWide(c.instruments[0]!)).toBe(false);
    const wide = parseConfig(json(1_000_000_000, 9_007_200));
    expect(isWide(wide.instruments[0]!)).toBe(true);
    // The extremes: both bounds at 2^53 - 1 (a notional up to ~2^106).
    expect(isWide(parseConfig(json(2 ** 53 - 1, 2 ** 53 - 1)).instruments[0]!)).toBe(true);
  });
  it('refuses maxPrice or maxQty above 2^53 - 1 (each must be an exact double)', async () => {
    const { parseConfig } = await import('../../engine/config.js');
    expect(() => parseConfig(json(2 ** 53, 1))).toThrow(/maxPrice/);
    expect(() => parseConfig(json(1_000_000_000, 2 ** 53))).toThrow(/maxQty/);
  });
});

// ---------------------------------------------------------------------------
// Which reject wins when a command breaks several rules (engine/README.md "Which reject wins"):
// for each pair of rules next to each other in the order, a command breaking both gets the first,
// and the same command without the first fault gets the second (so it really breaks both).
// ---------------------------------------------------------------------------

type Fields = Record<string, unknown>;
/** [first, second, breaks both, breaks only the second, options]. */
type PrecedenceRow = [Reason, Reason, Fields, Fields, Options?];

const R = Reason;
const LATER = 1_800_000_000_000_000;
const haltBtc: Options = { afterBaseline: (k) => k.halt(BTC) };
const block = (account: number): Options => ({ afterBaseline: (k) => k.killSwitch(account, true) });
const haltAndBlock5: Options = {
  afterBaseline: (k) => {
    k.halt(BTC);
    k.killSwitch(5, true);
  },
};
const stopLimit = { ordType: STOP_LIMIT, price: 1_003_000 };
const postOnlyCross = { price: 1_001_000, postOnly: PostOnly.REJECT };

describe('which reject wins: new order', () => {
  const rows: PrecedenceRow[] = [
    [R.UNKNOWN_INSTRUMENT, R.INVALID_ACCOUNT, { symbol: 'DOGE', account: 0 }, { account: 0 }],
    [R.INVALID_ACCOUNT, R.INVALID_CLIENT_ORDER_ID, { account: 0, clOrdId: 'a b' }, { clOrdId: 'a b' }],
    [R.INVALID_CLIENT_ORDER_ID, R.INVALID_SIDE, { clOrdId: 'a b', side: 3 }, { side: 3 }],
    [R.INVALID_SIDE, R.INVALID_ORDER_TYPE, { side: 3, ordType: 9 }, { ordType: 9 }],
    [R.INVALID_ORDER_TYPE, R.INVALID_TIME_IN_FORCE, { ordType: 9, tif: 9 }, { tif: 9 }],
    [R.INVALID_TIME_IN_FORCE, R.INVALID_EXPIRE_TIME, { tif: 9, expireTsUs: LATER }, { expireTsUs: LATER }],
    [R.INVALID_EXPIRE_TIME, R.INVALID_QUANTITY, { expireTsUs: LATER, qty: 0 }, { qty: 0 }],
    [R.INVALID_QUANTITY, R.QUANTITY_NOT_LOT_MULTIPLE, { qty: -5 }, { qty: 15 }],
    [R.QUANTITY_NOT_LOT_MULTIPLE, R.QUANTITY_BELOW_MIN, { qty: 5 }, { symbol: ETH, price: 5000, qty: 3 }],
    [R.QUANTITY_BELOW_MIN, R.INVALID_PRICE, { symbol: ETH, qty: 3, price: 0 }, { symbol: ETH, price: 0 }],
    [R.QUANTITY_ABOVE_MAX, R.INVALID_PRICE, { qty: 1_000_010, price: 0 }, { price: 0 }],
    [R.INVALID_PRICE, R.PRICE_NOT_TICK_MULTIPLE, { price: -3 }, { price: 1_000_003 }],
    [R.PRICE_NOT_TICK_MULTIPLE, R.INVALID_PRICE, { price: 10_000_003 }, { price: 10_000_005 }],
    [R.INVALID_PRICE, R.PRICE_OUT_OF_BAND, { price: 10_000_005 }, { price: BTC_BAND_HIGH + 5 }],
    [
      R.PRICE_OUT_OF_BAND,
      R.INVALID_STOP_PRICE,
      { ...stopLimit, price: BTC_BAND_HIGH + 5, stopPrice: 3 },
      { ...stopLimit, stopPrice: 3 },
    ],
    [
      R.INVALID_PRICE,
      R.INVALID_STOP_PRICE,
      { ordType: MARKET, price: 1_000_000, stopPrice: 1_003_000 },
      { ordType: MARKET, stopPrice: 1_003_000 },
    ],
    [
      R.INVALID_STOP_PRICE,
      R.INVALID_POST_ONLY,
      { ...stopLimit, stopPrice: 3, postOnly: PostOnly.REJECT },
      { ...stopLimit, stopPrice: 1_003_000, postOnly: PostOnly.REJECT },
    ],
    [
      R.STOP_PRICE_WOULD_TRIGGER,
      R.INVALID_POST_ONLY,
      { ...stopLimit, stopPrice: 1_000_000, postOnly: PostOnly.REJECT },
      { ...stopLimit, stopPrice: 1_003_000, postOnly: PostOnly.REJECT },
    ],
    [
      R.INVALID_POST_ONLY,
      R.INVALID_DISPLAY_QUANTITY,
      { postOnly: 7, qty: 30, displayQty: 15 },
      { qty: 30, displayQty: 15 },
    ],
    [R.INVALID_DISPLAY_QUANTITY, R.INVALID_STP_MODE, { qty: 30, displayQty: 15, stp: 9 }, { stp: 9 }],
    [R.INVALID_STP_MODE, R.INSTRUMENT_HALTED, { stp: 9, price: 996_000 }, { price: 996_000 }, haltBtc],
    [
      R.INSTRUMENT_HALTED,
      R.ACCOUNT_BLOCKED,
      { account: 5, price: 996_000 },
      { account: 5, symbol: ETH, price: 5000 },
      haltAndBlock5,
    ],
    // A kill-switched account has no live order, so ACCOUNT_BLOCKED and DUPLICATE_CLIENT_ORDER_ID never meet.
    [
      R.INSTRUMENT_HALTED,
      R.DUPLICATE_CLIENT_ORDER_ID,
      { clOrdId: 's1', price: 996_000 },
      { clOrdId: 's1', symbol: ETH, price: 5000 },
      haltBtc,
    ],
    [
      R.ACCOUNT_BLOCKED,
      R.POST_ONLY_WOULD_CROSS,
      { account: 5, ...postOnlyCross },
      { account: 6, ...postOnlyCross },
      block(5),
    ],
    [R.DUPLICATE_CLIENT_ORDER_ID, R.POST_ONLY_WOULD_CROSS, { clOrdId: 's1', ...postOnlyCross }, postOnlyCross],
    [
      R.POST_ONLY_WOULD_CROSS,
      R.BOOK_FULL,
      postOnlyCross,
      { price: 996_000 },
      { config: defaultConfig({ orderCountMax: LIVE_AFTER_BASELINE }) },
    ],
  ];
  it.each(rows.map((r) => [names(r[0]), names(r[1]), ...r] as const))(
    '%s before %s',
    (_a, _b, first, second, both, only, opts) => {
      newRejected(first, both, opts);
      newRejected(second, only, opts);
    },
  );
});

describe('which reject wins: amend, cancel, mass cancel, admin and envelope', () => {
  const ST = { account: 2, orderId: ST2 };
  const E = { account: 2, orderId: E1 };
  const amendRows: PrecedenceRow[] = [
    [R.MALFORMED_COMMAND, R.ACCOUNT_BLOCKED, { origClOrdId: 's1', qty: 90 }, { qty: 90 }, block(1)],
    [R.ACCOUNT_BLOCKED, R.ORDER_NOT_FOUND, { orderId: 999, qty: 90 }, { account: 6, orderId: 999, qty: 90 }, block(1)],
    [R.ORDER_NOT_FOUND, R.INSTRUMENT_HALTED, { orderId: 999, qty: 90 }, { qty: 90 }, haltBtc],
    [R.INSTRUMENT_HALTED, R.AMEND_NOT_ALLOWED, { qty: 90, displayQty: 10 }, { ...E, qty: 6, displayQty: 1 }, haltBtc],
    [R.INSTRUMENT_HALTED, R.MALFORMED_COMMAND, {}, E, haltBtc],
    [R.AMEND_NOT_ALLOWED, R.INVALID_CLIENT_ORDER_ID, { displayQty: 10, clOrdId: 'a b' }, { clOrdId: 'a b' }],
    [R.INVALID_CLIENT_ORDER_ID, R.INVALID_QUANTITY, { clOrdId: 'a b', qty: 0 }, { qty: 0 }],
    [R.DUPLICATE_CLIENT_ORDER_ID, R.INVALID_QUANTITY, { clOrdId: 'b2', qty: 0 }, { qty: 0 }],
    [R.INVALID_QUANTITY, R.QUANTITY_NOT_LOT_MULTIPLE, { qty: -5 }, { qty: 95 }],
    [R.QUANTITY_NOT_LOT_MULTIPLE, R.QUANTITY_ABOVE_MAX, { qty: 1_000_015 }, { qty: 1_000_010 }],
    [
      R.QUANTITY_ABOVE_MAX,
      R.AMEND_NOT_ALLOWED,
      { ...ST, qty: 1_000_010, price: 1_000_000 },
      { ...ST, price: 1_000_000 },
    ],
    [R.QUANTITY_BELOW_MIN, R.INVALID_PRICE, { ...E, qty: 3, price: 0 }, { ...E, price: 0 }],
    [R.AMEND_NOT_ALLOWED, R.INVALID_PRICE, { ...ST, price: 0 }, { price: 0 }],
    [
      R.PRICE_OUT_OF_BAND,
      R.AMEND_NOT_ALLOWED,
      { price: BTC_BAND_HIGH + 5, stopPrice: 1_003_000 },
      { stopPrice: 1_003_000 },
    ],
  ];
  it.each(amendRows.map((r) => [names(r[0]), names(r[1]), ...r] as const))(
    'amend: %s before %s',
    (_a, _b, first, second, both, only, opts) => {
      amendRejected(first, both, opts);
      amendRejected(second, only, opts);
    },
  );

  it('cancel: MALFORMED_COMMAND (named twice) before ORDER_NOT_FOUND', () => {
    const cancel = (f: Fields) => (k: Kit) => k.cancelCmd({ account: 1, ...f });
    expectRejected(
      cancel({ orderId: 999, clOrdId: 'nope' }),
      cancelReject(CxlRejResponseTo.CANCEL, R.MALFORMED_COMMAND),
    );
    expectRejected(cancel({ orderId: 999 }), cancelReject(CxlRejResponseTo.CANCEL, R.ORDER_NOT_FOUND));
  });

  it.each([
    [R.INVALID_ACCOUNT, R.UNKNOWN_INSTRUMENT, { account: 0, symbol: 'DOGE' }, { symbol: 'DOGE' }],
    [R.UNKNOWN_INSTRUMENT, R.INVALID_SIDE, { symbol: 'DOGE', side: 3 }, { side: 3 }],
  ] as const)('mass cancel: reason %i before %i', (first, second, both, only) => {
    const mass = (f: Fields) => (k: Kit) => k.massCancelCmd({ account: 1, ...f });
    expectRejected(mass(both), cancelReject(CxlRejResponseTo.MASS_CANCEL, first));
    expectRejected(mass(only), cancelReject(CxlRejResponseTo.MASS_CANCEL, second));
  });

  it.each([
    [
      'kill_switch',
      R.INVALID_ACCOUNT,
      R.MALFORMED_COMMAND,
      { account: 0, active: 'yes' },
      { account: 1, active: 'yes' },
    ],
    ['set_account', R.INVALID_ACCOUNT, R.INVALID_STP_MODE, { account: 0, stp: 9 }, { account: 1, stp: 9 }],
    [
      'set_reference_price',
      R.UNKNOWN_INSTRUMENT,
      R.INVALID_PRICE,
      { symbol: 'DOGE', price: 0 },
      { symbol: BTC, price: 0 },
    ],
  ] as const)('%s: reason %i before %i', (type, first, second, both, only) => {
    expectRejected((k) => k.cmd(type, both), commandReject(type, first));
    expectRejected((k) => k.cmd(type, only), commandReject(type, second));
  });

  it('envelope: INVALID_SEQUENCE before INVALID_TIMESTAMP before UNKNOWN_COMMAND and every command rule', () => {
    expectRejected((k) => k.cmd('explode', { seq: 0, tsUs: NaN }), commandReject('explode', R.INVALID_SEQUENCE));
    expectRejected((k) => k.cmd('explode', { tsUs: NaN }), commandReject('explode', R.INVALID_TIMESTAMP));
    expectRejected((k) => k.cmd('explode'), commandReject('explode', R.UNKNOWN_COMMAND));
    expectRejected((k) => k.newOrder({ tsUs: NaN, qty: 0 }), commandReject('new', R.INVALID_TIMESTAMP));
  });
});

function names(reason: Reason): string {
  return Object.keys(Reason).find((k) => Reason[k as keyof typeof Reason] === reason) ?? String(reason);
}
