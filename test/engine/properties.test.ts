// Property tests: the engine against the naive reference model (reference-model.ts, written
// from engine/README.md only), plus invariants read directly off the event stream.
// Fixed seeds; fast-check prints the seed and the shrunk counterexample on failure.
// To reproduce a failing case outside vitest, the counterexample's `cmds` is plain JSON.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { avgPx } from '../../engine/avg-px.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import {
  ExecType,
  LiquidityInd,
  OrdStatus,
  OrdType,
  PostOnly,
  Reason,
  Side,
  Stp,
  Tif,
  type Command,
  type EngineEvent,
  type ExecReport,
  type ShardConfig,
  type TradeEvent,
} from '../../engine/types.js';
import { nextSessionClose, ReferenceModel, type ModelStatus } from './reference-model.js';
import { engineStateHash, readSnapshot, writeSnapshot } from '../../engine/snapshot.js';

const SEED = 20_240_611;

/** JSON.stringify that also writes bigints (a wide instrument's cumNotional above 2^53), as `123n`. */
function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}
const SYMBOLS = ['AAA', 'BBB'] as const;
const SIDES = [Side.BUY, Side.SELL] as const;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

const HOUR_US = 3_600_000_000;
/** 2023-11-14T18:00:00Z: two hours before AAA's session close, so DAY orders expire within a stream. */
const T0 = 1_699_920_000_000_000 + 18 * HOUR_US;

interface ConfigChoice {
  /** AAA at BTC-USD precision (0.01 USD, 1 satoshi; maxPrice × maxQty = 1e19 > 2^53): a wide instrument. */
  wide: boolean;
  defaultStp: Stp;
  orderCountMax: number;
  aaaBand: number;
  aaaRef: number | null;
  acct1Stp: Stp;
  acct2Stp: Stp;
}

function makeConfig(c: ConfigChoice): ShardConfig {
  return {
    shardId: 0,
    defaultStp: c.defaultStp,
    orderCountMax: c.orderCountMax,
    accounts: [
      { id: 1, stp: c.acct1Stp },
      { id: 2, stp: c.acct2Stp },
      { id: 3, stp: Stp.NONE },
    ],
    instruments: [
      {
        symbol: 'AAA',
        tickSize: 1,
        lotSize: 1,
        minQty: 1,
        maxQty: c.wide ? WIDE_MAX_QTY : 1000,
        maxPrice: c.wide ? WIDE_MAX_PRICE : 1_000_000,
        priceBandTicks: c.aaaBand,
        referencePrice: c.aaaRef === null ? null : priceOf(c.wide, 0, c.aaaRef - 1000),
        sessionCloseUtcUs: 20 * HOUR_US,
        priceDecimals: 2,
        qtyDecimals: c.wide ? 8 : 0,
      },
      {
        symbol: 'BBB',
        tickSize: 5,
        lotSize: 2,
        minQty: 2,
        maxQty: 200,
        maxPrice: 100_000,
        priceBandTicks: 6,
        referencePrice: 500,
        sessionCloseUtcUs: 21 * HOUR_US,
        priceDecimals: 2,
        qtyDecimals: 0,
      },
    ],
  };
}

const stpArb = fc.constantFrom<Stp>(
  Stp.NONE,
  Stp.EXPIRE_TAKER,
  Stp.EXPIRE_MAKER,
  Stp.EXPIRE_BOTH,
  Stp.DECREMENT_AND_CANCEL,
);

const configArb = (wide: boolean): fc.Arbitrary<ConfigChoice> =>
  fc.record({
    wide: fc.constant(wide),
    defaultStp: stpArb,
    orderCountMax: fc.constantFrom(6, 1000, 1000, 1000),
    aaaBand: fc.constantFrom(0, 4, 8),
    aaaRef: fc.constantFrom<number | null>(1000, 1000, null),
    acct1Stp: stpArb,
    acct2Stp: stpArb,
  });

// ---------------------------------------------------------------------------
// Command stream generator: specs (relative references) resolved into commands
// ---------------------------------------------------------------------------

type Invalid =
  | 'none'
  | 'price0'
  | 'priceFrac'
  | 'priceFar'
  | 'qty0'
  | 'qtyFrac'
  | 'qtyBig'
  | 'qtyOddLot'
  | 'clEmpty'
  | 'clLong'
  | 'account0'
  | 'side'
  | 'ordType'
  | 'tif'
  | 'displayBig'
  | 'stp'
  | 'postOnlyIoc'
  | 'marketGtc'
  | 'gtdPast';

interface NewSpec {
  k: 'new';
  sym: number;
  account: number;
  side: Side;
  ordType: OrdType;
  priceOff: number;
  qtyUnits: number;
  tif: Tif | undefined;
  gtdDeltaUs: number;
  postOnly: PostOnly | undefined;
  displayUnits: number | undefined;
  stp: Stp | undefined;
  stopOff: number;
  cl: number;
  invalid: Invalid;
}
type Spec = { dt: number } & (
  | NewSpec
  | { k: 'cancel'; back: number; byCl: boolean; wrongAccount: boolean }
  | {
      k: 'amend';
      back: number;
      byCl: boolean;
      qtyUnits: number | undefined;
      priceOff: number | undefined;
      stopOff: number | undefined;
      newCl: number | undefined;
    }
  | { k: 'mass_cancel'; account: number; sym: number | undefined; side: Side | undefined }
  | { k: 'halt' | 'resume'; sym: number }
  | { k: 'kill'; account: number; active: boolean }
  | { k: 'ref'; sym: number; off: number; bad: boolean }
  | { k: 'set_account'; account: number; stp: Stp }
  | { k: 'tick' }
  | { k: 'junk'; variant: number }
  | { k: 'dupseq'; back: number }
);

const newSpecArb: fc.Arbitrary<NewSpec> = fc.record({
  k: fc.constant('new' as const),
  sym: fc.constantFrom(0, 0, 0, 1),
  account: fc.integer({ min: 1, max: 4 }),
  side: fc.constantFrom<Side>(Side.BUY, Side.SELL),
  ordType: fc.constantFrom<OrdType>(
    OrdType.LIMIT,
    OrdType.LIMIT,
    OrdType.LIMIT,
    OrdType.LIMIT,
    OrdType.LIMIT,
    OrdType.MARKET,
    OrdType.STOP_MARKET,
    OrdType.STOP_LIMIT,
    OrdType.STOP_LIMIT,
  ),
  priceOff: fc.integer({ min: -6, max: 6 }),
  qtyUnits: fc.integer({ min: 1, max: 8 }),
  tif: fc.constantFrom<Tif | undefined>(
    undefined,
    undefined,
    undefined,
    Tif.GTC,
    Tif.IOC,
    Tif.FOK,
    Tif.GTD,
    Tif.GTD,
    Tif.DAY,
  ),
  gtdDeltaUs: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 4 * HOUR_US }), weight: 4 },
    { arbitrary: fc.constantFrom(1, 2, 3, 4), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 2000 }), weight: 1 },
  ),
  postOnly: fc.constantFrom<PostOnly | undefined>(
    undefined,
    undefined,
    undefined,
    undefined,
    PostOnly.NONE,
    PostOnly.REJECT,
    PostOnly.REPRICE,
  ),
  displayUnits: fc.option(fc.integer({ min: 1, max: 3 }), { freq: 4, nil: undefined }),
  stp: fc.option(stpArb, { freq: 2, nil: undefined }),
  stopOff: fc.integer({ min: -5, max: 5 }),
  cl: fc.integer({ min: 0, max: 9 }),
  invalid: fc.oneof(
    { arbitrary: fc.constant<Invalid>('none'), weight: 30 },
    {
      arbitrary: fc.constantFrom<Invalid>(
        'price0',
        'priceFrac',
        'priceFar',
        'qty0',
        'qtyFrac',
        'qtyBig',
        'qtyOddLot',
        'clEmpty',
        'clLong',
        'account0',
        'side',
        'ordType',
        'tif',
        'displayBig',
        'stp',
        'postOnlyIoc',
        'marketGtc',
        'gtdPast',
      ),
      weight: 2,
    },
  ),
});

/** Clock step of a command (µs). The sentinels JUMP_AAA / JUMP_BBB jump exactly to that instrument's next
 *  session close, so DAY expiry is tested at the boundary. */
const JUMP_AAA = 0.25;
const JUMP_BBB = 0.5;
const dtArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 2 },
  { arbitrary: fc.constantFrom(1, 2, 3), weight: 2 },
  { arbitrary: fc.constantFrom(JUMP_AAA, JUMP_BBB), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 1000 }), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 900_000_000 }), weight: 4 },
  { arbitrary: fc.integer({ min: HOUR_US / 2, max: 3 * HOUR_US }), weight: 1 },
  { arbitrary: fc.integer({ min: -HOUR_US, max: -1 }), weight: 1 },
);

const bodyArb = fc.oneof(
  { arbitrary: newSpecArb, weight: 60 },
  {
    arbitrary: fc.record({
      k: fc.constant('cancel' as const),
      back: fc.nat({ max: 8 }),
      byCl: fc.boolean(),
      wrongAccount: fc.constantFrom(false, false, false, true),
    }),
    weight: 8,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('amend' as const),
      back: fc.nat({ max: 8 }),
      byCl: fc.boolean(),
      qtyUnits: fc.option(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 10 })), {
        freq: 2,
        nil: undefined,
      }),
      priceOff: fc.option(fc.integer({ min: -6, max: 6 }), { freq: 2, nil: undefined }),
      stopOff: fc.option(fc.integer({ min: -5, max: 5 }), { freq: 4, nil: undefined }),
      newCl: fc.option(fc.integer({ min: 0, max: 9 }), { freq: 4, nil: undefined }),
    }),
    weight: 12,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('mass_cancel' as const),
      account: fc.integer({ min: 1, max: 4 }),
      sym: fc.option(fc.constantFrom(0, 1), { freq: 2, nil: undefined }),
      side: fc.option(fc.constantFrom<Side>(Side.BUY, Side.SELL), { freq: 2, nil: undefined }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ k: fc.constant('halt' as const), sym: fc.constantFrom(0, 1) }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('resume' as const), sym: fc.constantFrom(0, 1) }), weight: 3 },
  {
    arbitrary: fc.record({
      k: fc.constant('kill' as const),
      account: fc.integer({ min: 1, max: 4 }),
      active: fc.boolean(),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('ref' as const),
      sym: fc.constantFrom(0, 1),
      off: fc.integer({ min: -3, max: 3 }),
      bad: fc.constantFrom(false, false, false, false, true),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      k: fc.constant('set_account' as const),
      account: fc.integer({ min: 1, max: 4 }),
      stp: stpArb,
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ k: fc.constant('tick' as const) }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('junk' as const), variant: fc.nat({ max: 5 }) }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('dupseq' as const), back: fc.nat({ max: 3 }) }), weight: 1 },
);

const specArb: fc.Arbitrary<Spec> = fc.tuple(dtArb, bodyArb).map(([dt, body]) => ({ dt, ...body }) as Spec);

interface Scenario {
  config: ShardConfig;
  cmds: Command[];
}

/** The wide AAA: BTC-USD with 2 price decimals and 8 quantity decimals, up to 1,000,000.00 USD × 1,000 BTC. */
const WIDE_MAX_PRICE = 100_000_000;
const WIDE_MAX_QTY = 100_000_000_000;
/** The wide AAA trades around 500,000.01 USD … */
const WIDE_PRICE_BASE = 50_000_001;
/** … in lots of an odd number of satoshis (~123.46 BTC), so notionals are above 2^53 and not multiples of a
 *  power of two that a double would hold exactly: any rounding shows. */
const WIDE_QTY_UNIT = 12_345_678_901;

function priceOf(wide: boolean, sym: number, off: number): number {
  if (sym === 0) return wide ? WIDE_PRICE_BASE + off : 1000 + off;
  return 500 + 5 * off;
}
function qtyOf(wide: boolean, sym: number, units: number): number {
  if (sym === 0) return wide ? units * WIDE_QTY_UNIT : units;
  return 2 * units;
}

/** Resolves specs into a concrete command stream (seq, tsUs, order references, clOrdIds). */
function build(choice: ConfigChoice, specs: Spec[]): Scenario {
  const config = makeConfig(choice);
  const cmds: Command[] = [];
  let seq = 0;
  let ts = T0;
  let eff = T0;
  const news: { seq: number; account: number; clOrdId: string; sym: number }[] = [];
  const wellFormedSeqs: number[] = [];
  for (const s of specs) {
    const junk = s.k === 'junk' || s.k === 'dupseq';
    // Junk and bad-sequence commands never move the clock, so whether the engine takes time
    // from them or not cannot matter.
    if (!junk) {
      if (s.dt === JUMP_AAA || s.dt === JUMP_BBB) {
        const close = config.instruments[s.dt === JUMP_AAA ? 0 : 1]!.sessionCloseUtcUs;
        ts = nextSessionClose(eff, close);
      } else ts = Math.max(1, ts + s.dt);
      eff = Math.max(eff, ts);
    }
    seq += s.k === 'dupseq' ? 0 : 1 + (Math.floor(s.dt) % 3 === 1 ? 1 : 0); // occasional gaps in seq
    const env = { seq, tsUs: ts };
    const ref = (back: number) => news[news.length - 1 - back];
    switch (s.k) {
      case 'new': {
        const inst = config.instruments[s.sym]!;
        const c: Record<string, unknown> = {
          type: 'new',
          ...env,
          account: s.account,
          clOrdId: `c${s.cl}`,
          symbol: inst.symbol,
          side: s.side,
          ordType: s.ordType,
          qty: qtyOf(choice.wide, s.sym, s.qtyUnits),
        };
        const marketLike = s.ordType === OrdType.MARKET || s.ordType === OrdType.STOP_MARKET;
        const isStop = s.ordType === OrdType.STOP_MARKET || s.ordType === OrdType.STOP_LIMIT;
        if (!marketLike) c.price = priceOf(choice.wide, s.sym, s.priceOff);
        if (isStop) c.stopPrice = priceOf(choice.wide, s.sym, s.stopOff);
        let tif = s.tif;
        if (marketLike && tif !== undefined && tif !== Tif.IOC && tif !== Tif.FOK)
          tif = s.cl % 2 === 0 ? Tif.IOC : Tif.FOK;
        if (tif !== undefined) c.tif = tif;
        if (tif === Tif.GTD) c.expireTsUs = eff + s.gtdDeltaUs;
        const resting = !marketLike && (tif === undefined || tif === Tif.GTC || tif === Tif.GTD || tif === Tif.DAY);
        if (s.postOnly !== undefined && s.ordType === OrdType.LIMIT && resting) c.postOnly = s.postOnly;
        if (s.displayUnits !== undefined && resting && s.displayUnits < s.qtyUnits)
          c.displayQty = qtyOf(choice.wide, s.sym, s.displayUnits);
        if (s.stp !== undefined) c.stp = s.stp;
        switch (s.invalid) {
          case 'none':
            break;
          case 'price0':
            c.price = 0;
            break;
          case 'priceFrac':
            c.price = s.sym === 0 ? 1000.5 : 501;
            break;
          case 'priceFar':
            c.price = priceOf(choice.wide, s.sym, 40);
            break;
          case 'qty0':
            c.qty = 0;
            break;
          case 'qtyFrac':
            c.qty = 1.5;
            break;
          case 'qtyBig':
            c.qty = inst.maxQty + inst.lotSize;
            break;
          case 'qtyOddLot':
            c.qty = s.sym === 0 ? -2 : 3;
            break;
          case 'clEmpty':
            c.clOrdId = '';
            break;
          case 'clLong':
            c.clOrdId = 'x'.repeat(65);
            break;
          case 'account0':
            c.account = s.cl % 2 === 0 ? 0 : -5;
            break;
          case 'side':
            c.side = 3;
            break;
          case 'ordType':
            c.ordType = 9;
            break;
          case 'tif':
            c.tif = 8;
            break;
          case 'displayBig':
            if (!marketLike) {
              c.tif = Tif.GTC;
              c.displayQty = c.qty;
            } else c.displayQty = qtyOf(choice.wide, s.sym, 1);
            break;
          case 'stp':
            c.stp = 7;
            break;
          case 'postOnlyIoc':
            c.ordType = OrdType.LIMIT;
            c.price = priceOf(choice.wide, s.sym, s.priceOff);
            delete c.stopPrice;
            c.tif = Tif.IOC;
            c.postOnly = PostOnly.REJECT;
            break;
          case 'marketGtc':
            c.ordType = OrdType.MARKET;
            delete c.price;
            delete c.stopPrice;
            delete c.postOnly;
            delete c.displayQty;
            c.tif = Tif.GTC;
            break;
          case 'gtdPast':
            c.tif = Tif.GTD;
            c.expireTsUs = eff - (s.gtdDeltaUs % 3);
            delete c.displayQty;
            delete c.postOnly;
            if (marketLike) {
              c.ordType = OrdType.LIMIT;
              c.price = priceOf(choice.wide, s.sym, s.priceOff);
              delete c.stopPrice;
            }
            break;
        }
        cmds.push(c as unknown as Command);
        news.push({ seq, account: s.account, clOrdId: c.clOrdId as string, sym: s.sym });
        break;
      }
      case 'cancel': {
        const r = ref(s.back);
        const account = r ? (s.wrongAccount ? (r.account % 4) + 1 : r.account) : 1;
        if (s.byCl) cmds.push({ type: 'cancel', ...env, account, clOrdId: r ? r.clOrdId : 'c0' });
        else cmds.push({ type: 'cancel', ...env, account, orderId: r ? r.seq : 999_999 });
        break;
      }
      case 'amend': {
        const r = ref(s.back);
        const sym = r ? r.sym : 0;
        const c: Record<string, unknown> = { type: 'amend', ...env, account: r ? r.account : 1 };
        if (s.byCl) c.origClOrdId = r ? r.clOrdId : 'c0';
        else c.orderId = r ? r.seq : 999_999;
        if (s.qtyUnits !== undefined) c.qty = qtyOf(choice.wide, sym, s.qtyUnits);
        if (s.priceOff !== undefined) c.price = priceOf(choice.wide, sym, s.priceOff);
        if (s.stopOff !== undefined) c.stopPrice = priceOf(choice.wide, sym, s.stopOff);
        // A new clOrdId: sometimes one that other orders of the account use, never the order's original one.
        if (s.newCl !== undefined) {
          const cl = s.newCl <= 7 ? `c${s.newCl}` : `m${seq}`;
          c.clOrdId = r && cl === r.clOrdId ? `m${seq}` : cl;
        }
        cmds.push(c as unknown as Command);
        break;
      }
      case 'mass_cancel': {
        const c: Record<string, unknown> = { type: 'mass_cancel', ...env, account: s.account };
        if (s.sym !== undefined) c.symbol = SYMBOLS[s.sym];
        if (s.side !== undefined) c.side = s.side;
        cmds.push(c as unknown as Command);
        break;
      }
      case 'halt':
      case 'resume':
        cmds.push({ type: s.k, ...env, symbol: SYMBOLS[s.sym]! });
        break;
      case 'kill':
        cmds.push({ type: 'kill_switch', ...env, account: s.account, active: s.active });
        break;
      case 'ref': {
        const price = s.bad ? (s.sym === 0 ? 0 : 502) : priceOf(choice.wide, s.sym, s.off);
        cmds.push({ type: 'set_reference_price', ...env, symbol: SYMBOLS[s.sym]!, price });
        break;
      }
      case 'set_account':
        cmds.push({ type: 'set_account', ...env, account: s.account, stp: s.stp });
        break;
      case 'tick':
        cmds.push({ type: 'tick', ...env });
        break;
      case 'junk': {
        const junkCmds: Record<string, unknown>[] = [
          { type: 'bogus', ...env },
          {
            type: 'new',
            ...env,
            account: 1,
            clOrdId: 'j',
            symbol: 'AAA',
            side: Side.BUY,
            ordType: OrdType.LIMIT,
            price: 1000,
            qty: '5',
          },
          {
            type: 'new',
            ...env,
            account: 1,
            clOrdId: 'j',
            symbol: 'ZZZ',
            side: Side.BUY,
            ordType: OrdType.LIMIT,
            price: 1000,
            qty: 5,
          },
          { type: 'cancel', ...env, account: 1 },
          {
            type: 'new',
            ...env,
            account: 1,
            clOrdId: 'j',
            symbol: 'AAA',
            side: Side.SELL,
            ordType: OrdType.LIMIT,
            qty: 5,
          },
          { type: 'halt', ...env, symbol: 'ZZZ' },
        ];
        cmds.push(junkCmds[s.variant % junkCmds.length] as unknown as Command);
        break;
      }
      case 'dupseq': {
        const prev = wellFormedSeqs[wellFormedSeqs.length - 1 - Math.min(s.back, wellFormedSeqs.length - 1)];
        if (prev === undefined) {
          seq += 1;
          cmds.push({ type: 'tick', seq, tsUs: ts });
          wellFormedSeqs.push(seq);
        } else {
          // Something that would change state if the engine took it.
          const r = ref(0);
          const variant = s.back % 3;
          if (variant === 0 || !r) cmds.push({ type: 'tick', seq: prev, tsUs: ts });
          else if (variant === 1)
            cmds.push({ type: 'cancel', seq: prev, tsUs: ts, account: r.account, orderId: r.seq });
          else {
            cmds.push({
              type: 'new',
              seq: prev,
              tsUs: ts,
              account: 3,
              clOrdId: 'dup',
              symbol: 'AAA',
              side: s.back % 2 === 0 ? Side.BUY : Side.SELL,
              ordType: OrdType.LIMIT,
              price: 1000,
              qty: 1,
            });
          }
        }
        break;
      }
    }
    if (!junk) wellFormedSeqs.push(seq);
  }
  return { config, cmds };
}

/** Stop orders placed before any trade (no last price: any stop price is accepted), so that buy and sell
 *  stops can trigger together on the first trade. */
const stopPrefixArb: fc.Arbitrary<Spec[]> = fc.oneof(
  { arbitrary: fc.constant<Spec[]>([]), weight: 3 },
  {
    arbitrary: fc.array(
      newSpecArb.map(
        (n): Spec => ({
          ...n,
          dt: 0,
          ordType: n.qtyUnits % 3 === 0 ? OrdType.STOP_MARKET : OrdType.STOP_LIMIT,
          invalid: 'none',
        }),
      ),
      { minLength: 2, maxLength: 6 },
    ),
    weight: 1,
  },
);

const scenarioArb = (maxLen: number, wide = false): fc.Arbitrary<Scenario> =>
  fc
    .tuple(configArb(wide), stopPrefixArb, fc.array(specArb, { minLength: 1, maxLength: maxLen, size: 'max' }))
    .map(([c, prefix, specs]) => build(c, [...prefix, ...specs]));

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

interface Step {
  cmd: Command;
  events: EngineEvent[];
}

function runEngine(engine: Engine, cmds: Command[], onStep?: (step: Step, index: number) => void): Step[] {
  const out = new EventBuffer();
  const steps: Step[] = [];
  cmds.forEach((cmd, i) => {
    out.clear();
    engine.apply(cmd, out);
    const step = { cmd, events: out.toEvents() };
    steps.push(step);
    onStep?.(step, i);
  });
  return steps;
}

const isExec = (e: EngineEvent): e is ExecReport => e.kind === 'exec';
const isTrade = (e: EngineEvent): e is TradeEvent => e.kind === 'trade';

const STATUS_NAME: Record<number, ModelStatus> = {
  [OrdStatus.NEW]: 'NEW',
  [OrdStatus.PARTIALLY_FILLED]: 'PARTIALLY_FILLED',
  [OrdStatus.FILLED]: 'FILLED',
  [OrdStatus.CANCELED]: 'CANCELED',
  [OrdStatus.REJECTED]: 'REJECTED',
  [OrdStatus.EXPIRED]: 'EXPIRED',
  [OrdStatus.PENDING_TRIGGER]: 'PENDING_TRIGGER',
};
const TERMINAL_ORD_STATUS = new Set<number>([
  OrdStatus.FILLED,
  OrdStatus.CANCELED,
  OrdStatus.EXPIRED,
  OrdStatus.REJECTED,
]);

function fail(step: number, cmd: Command, what: string, actual: unknown, expected: unknown): never {
  throw new Error(
    `step ${step} (seq ${cmd.seq}, ${stringify(cmd)}): ${what}\n  engine: ${stringify(actual)}\n  model:  ${stringify(expected)}`,
  );
}

/** The model's BigInt notional in the engine's form: a number up to MAX_SAFE_INTEGER, a bigint above. */
function asNotional(n: bigint): number | bigint {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** Runs the engine and the model side by side and compares after every command. */
function compareWithModel({ config, cmds }: Scenario): void {
  const engine = new Engine(config);
  const model = new ReferenceModel(config);
  const lastExec = new Map<number, ExecReport>();
  const orderIds = new Set<number>();
  runEngine(engine, cmds, ({ cmd, events }, i) => {
    const m = model.apply(cmd);
    for (const e of events) if (isExec(e)) lastExec.set(e.orderId, e);
    if (cmd.type === 'new' && m.accepted) orderIds.add(cmd.seq);

    const trades = events
      .filter(isTrade)
      .map((t) => ({ price: t.price, qty: t.qty, makerOrderId: t.makerOrderId, takerOrderId: t.takerOrderId }));
    if (stringify(trades) !== stringify(m.trades)) fail(i, cmd, 'trades differ', trades, m.trades);

    for (const symbol of SYMBOLS) {
      for (const side of SIDES) {
        const eb = engine.bookOrders(symbol, side).map((o) => ({
          orderId: o.orderId,
          account: o.account,
          price: o.price,
          leavesQty: o.leavesQty,
          visibleQty: o.visibleQty,
        }));
        const mb = model.bookOrders(symbol, side);
        if (stringify(eb) !== stringify(mb))
          fail(i, cmd, `book ${symbol} ${side === Side.BUY ? 'BUY' : 'SELL'} differs`, eb, mb);
      }
    }

    for (const id of orderIds) {
      const mo = model.orders.get(id)!;
      const eo = engine.order(id);
      const live = mo.resting || mo.pending;
      if (!live) {
        if (eo !== undefined) fail(i, cmd, `order ${id} should be ${mo.status}`, eo, mo.status);
        const le = lastExec.get(id);
        const st = le ? STATUS_NAME[le.ordStatus] : undefined;
        if (st !== mo.status) fail(i, cmd, `order ${id} final ordStatus`, st, mo.status);
        // The final report's quantities: a canceled or expired order keeps what was ordered.
        // cumNotional exactly as the model's BigInt sum (a number up to 2^53 - 1, a bigint above).
        const gotQty = le && {
          orderQty: le.orderQty,
          cumQty: le.cumQty,
          leavesQty: le.leavesQty,
          cumNotional: le.cumNotional,
        };
        const wantQty = {
          orderQty: mo.orderQty,
          cumQty: mo.cumQty,
          leavesQty: mo.leavesQty,
          cumNotional: asNotional(mo.cumNotional),
        };
        if (stringify(gotQty) !== stringify(wantQty)) fail(i, cmd, `order ${id} final quantities`, gotQty, wantQty);
        continue;
      }
      const want = {
        account: mo.account,
        clOrdId: mo.clOrdId,
        symbol: mo.symbol,
        side: mo.side,
        ordType: mo.ordType,
        tif: mo.tif,
        price: mo.price,
        stopPrice: mo.stopPrice,
        orderQty: mo.orderQty,
        cumQty: mo.cumQty,
        leavesQty: mo.leavesQty,
        pending: mo.pending,
        cumNotional: asNotional(mo.cumNotional),
      };
      const got = eo && {
        account: eo.account,
        clOrdId: eo.clOrdId,
        symbol: eo.symbol,
        side: eo.side,
        ordType: eo.ordType,
        tif: eo.tif,
        price: eo.price,
        stopPrice: eo.stopPrice,
        orderQty: eo.orderQty,
        cumQty: eo.cumQty,
        leavesQty: eo.leavesQty,
        pending: eo.pending,
        cumNotional: lastExec.get(id)?.cumNotional,
      };
      if (stringify(got) !== stringify(want)) fail(i, cmd, `live order ${id} differs`, got, want);
    }
    // Orders the model rejected: no live order in the engine, and no accepted report.
    if (cmd.type === 'new' && !m.accepted && model.orders.get(cmd.seq)?.status === 'REJECTED') {
      const execs = events.filter(isExec).filter((e) => e.orderId === cmd.seq);
      if (execs.some((e) => e.ordStatus !== OrdStatus.REJECTED) || engine.order(cmd.seq) !== undefined) {
        // An INVALID_SEQUENCE duplicate carries the seq of an earlier order; only check genuinely new seqs.
        if (!orderIds.has(cmd.seq)) fail(i, cmd, 'order should be rejected', execs, 'REJECTED');
      }
    }
  });
}

const opts = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: false });

describe('engine vs reference model (README semantics)', () => {
  it('trades, book (both sides, priority order) and order states equal the model after every command', () => {
    fc.assert(
      fc.property(scenarioArb(80), (s) => compareWithModel(s)),
      opts(5000),
    );
  });

  it('no crossed book at rest; book levels agree with book orders', () => {
    fc.assert(
      fc.property(scenarioArb(80), ({ config, cmds }) => {
        const engine = new Engine(config);
        runEngine(engine, cmds, ({ cmd }, i) => {
          for (const symbol of SYMBOLS) {
            const bids = engine.bookOrders(symbol, Side.BUY);
            const asks = engine.bookOrders(symbol, Side.SELL);
            if (bids.length > 0 && asks.length > 0 && !(bids[0]!.price < asks[0]!.price)) {
              fail(i, cmd, `${symbol} crossed`, { bid: bids[0]!.price, ask: asks[0]!.price }, 'bid < ask');
            }
            for (const side of SIDES) {
              const orders = engine.bookOrders(symbol, side);
              const levels: { price: number; qty: number; orderCount: number }[] = [];
              for (const o of orders) {
                if (!(o.visibleQty > 0 && o.visibleQty <= o.leavesQty))
                  fail(i, cmd, 'visible out of range', o, '0 < visible <= leaves');
                const last = levels[levels.length - 1];
                if (last && last.price === o.price) {
                  last.qty += o.visibleQty;
                  last.orderCount++;
                } else levels.push({ price: o.price, qty: o.visibleQty, orderCount: 1 });
              }
              const el = engine
                .bookLevels(symbol, side)
                .map((l) => ({ price: l.price, qty: l.qty, orderCount: l.orderCount }));
              if (stringify(el) !== stringify(levels)) fail(i, cmd, 'bookLevels vs bookOrders', el, levels);
            }
          }
        });
      }),
      opts(1500),
    );
  });

  it('conservation: fills per order sum to cumQty, trades are positive, bought = sold', () => {
    fc.assert(
      fc.property(scenarioArb(80), ({ config, cmds }) => {
        const engine = new Engine(config);
        const steps = runEngine(engine, cmds);
        const events = steps.flatMap((s) => s.events);
        const fills = new Map<number, number>();
        const lastCum = new Map<number, number>();
        let bought = 0;
        let sold = 0;
        const tradeExecs = new Map<number, ExecReport[]>();
        for (const e of events) {
          if (isTrade(e) && !(Number.isInteger(e.qty) && e.qty > 0)) throw new Error(`trade qty ${stringify(e)}`);
          if (!isExec(e)) continue;
          lastCum.set(e.orderId, e.cumQty);
          if (e.execType !== ExecType.TRADE) continue;
          if (!(e.lastQty > 0)) throw new Error(`fill qty ${stringify(e)}`);
          fills.set(e.orderId, (fills.get(e.orderId) ?? 0) + e.lastQty);
          if (e.side === Side.BUY) bought += e.lastQty;
          else sold += e.lastQty;
          const list = tradeExecs.get(e.tradeId) ?? [];
          list.push(e);
          tradeExecs.set(e.tradeId, list);
        }
        expect(bought).toBe(sold);
        for (const [id, cum] of lastCum) {
          if ((fills.get(id) ?? 0) !== cum) expect({ id, fills: fills.get(id) ?? 0 }).toEqual({ id, fills: cum });
          const live = engine.order(id);
          if (live && live.cumQty !== cum) expect({ id, cum: live.cumQty }).toEqual({ id, cum });
        }
        // Each trade: one maker and one taker TRADE report, opposite sides, same qty and price.
        for (const t of events.filter(isTrade)) {
          const ex = tradeExecs.get(t.tradeId) ?? [];
          expect(ex.map((e) => [e.orderId, e.lastQty, e.lastPx]).sort()).toEqual(
            [
              [t.makerOrderId, t.qty, t.price],
              [t.takerOrderId, t.qty, t.price],
            ].sort(),
          );
          expect(new Set(ex.map((e) => e.side)).size).toBe(2);
        }
      }),
      opts(1000),
    );
  });

  it('exec reports: cumQty + leavesQty = orderQty (canceled/expired: cumQty ≤ orderQty), leavesQty = 0 when terminal, execIds strictly increasing', () => {
    fc.assert(
      fc.property(scenarioArb(80), ({ config, cmds }) => {
        const steps = runEngine(new Engine(config), cmds);
        let lastExecId = -Infinity;
        for (const { cmd, events } of steps) {
          for (const e of events) {
            if (!isExec(e)) continue;
            const ended = e.execType === ExecType.CANCELED || e.execType === ExecType.EXPIRED;
            const rejected = e.execType === ExecType.REJECTED;
            if (
              ended
                ? !(e.leavesQty === 0 && e.cumQty <= e.orderQty)
                : !rejected && e.cumQty + e.leavesQty !== e.orderQty
            )
              throw new Error(`seq ${cmd.seq}: cum+leaves != orderQty ${stringify(e)}`);
            if (TERMINAL_ORD_STATUS.has(e.ordStatus) && e.leavesQty !== 0)
              throw new Error(`seq ${cmd.seq}: terminal with leaves ${stringify(e)}`);
            // FIX 4.4: a REJECTED report echoes the quantity asked for (0 if it was not a positive integer), nothing filled.
            const asked = (cmd as { qty?: unknown }).qty;
            const askedQty = typeof asked === 'number' && Number.isSafeInteger(asked) && asked > 0 ? asked : 0;
            if (rejected && (e.orderQty !== askedQty || e.cumQty !== 0))
              throw new Error(`seq ${cmd.seq}: REJECTED orderQty ${e.orderQty}, asked ${askedQty}: ${stringify(e)}`);
            if (!(e.execId > lastExecId)) throw new Error(`seq ${cmd.seq}: execId ${e.execId} after ${lastExecId}`);
            lastExecId = e.execId;
          }
        }
      }),
      opts(1500),
    );
  });

  it('liquidity indicator: each trade is followed by the maker TRADE report (ADDED) and the taker one (REMOVED); no other report has one; avgPx is exact', () => {
    fc.assert(
      fc.property(scenarioArb(80), ({ config, cmds }) => {
        const steps = runEngine(new Engine(config), cmds);
        for (const { cmd, events } of steps) {
          for (let k = 0; k < events.length; k++) {
            const e = events[k]!;
            if (isExec(e)) {
              const want = e.execType === ExecType.TRADE ? undefined : 0;
              if (want !== undefined && e.lastLiquidityInd !== want)
                throw new Error(`seq ${cmd.seq}: non-trade report with a liquidity indicator ${stringify(e)}`);
              // avgPx × cumQty is within half a unit of the last decimal of cumNotional (rational check, no floats).
              const [int, frac] = avgPx(e.cumNotional, e.cumQty).split('.') as [string, string];
              const scaled = BigInt(int + frac) * BigInt(e.cumQty);
              const exact = BigInt(e.cumNotional) * 10n ** BigInt(frac.length);
              const diff = scaled > exact ? scaled - exact : exact - scaled;
              if (2n * diff > BigInt(e.cumQty))
                throw new Error(`seq ${cmd.seq}: avgPx ${int}.${frac} of ${stringify(e)}`);
              continue;
            }
            if (e.kind !== 'trade') continue;
            const maker = events[k + 1];
            const taker = events[k + 2];
            const ok =
              maker !== undefined &&
              isExec(maker) &&
              maker.orderId === e.makerOrderId &&
              maker.execType === ExecType.TRADE &&
              maker.lastLiquidityInd === LiquidityInd.ADDED_LIQUIDITY &&
              taker !== undefined &&
              isExec(taker) &&
              taker.orderId === e.takerOrderId &&
              taker.execType === ExecType.TRADE &&
              taker.lastLiquidityInd === LiquidityInd.REMOVED_LIQUIDITY;
            if (!ok) throw new Error(`seq ${cmd.seq}: trade ${e.tradeId} not followed by maker ADDED, taker REMOVED`);
          }
        }
      }),
      opts(500),
    );
  });

  it('price-time priority: within a level, FIFO order = order of arrival at the tail', () => {
    // Each time an order (re)joins the tail of a level, it gets a stamp read off the event stream:
    // NEW that rests, TRIGGERED, iceberg RESTATED (ICEBERG_REFRESH), REPLACED with a price change
    // or a quantity increase. Within every level of bookOrders(), stamps must increase.
    // (DECREMENT_AND_CANCEL restatements and quantity decreases keep the stamp.)
    fc.assert(
      fc.property(scenarioArb(80), ({ config, cmds }) => {
        const engine = new Engine(config);
        const stamp = new Map<number, number>();
        const prev = new Map<number, { price: number; orderQty: number }>();
        let n = 0;
        runEngine(engine, cmds, ({ cmd, events }, i) => {
          for (const e of events) {
            n++;
            if (!isExec(e)) continue;
            const p = prev.get(e.orderId);
            const joins =
              (e.execType === ExecType.NEW && e.ordStatus !== OrdStatus.PENDING_TRIGGER) ||
              e.execType === ExecType.TRIGGERED ||
              (e.execType === ExecType.RESTATED && e.reason === Reason.ICEBERG_REFRESH) ||
              (e.execType === ExecType.REPLACED &&
                p !== undefined &&
                (e.price !== p.price ||
                  e.orderQty > p.orderQty ||
                  // a requested price change that post-only REPRICE turned back into the working price
                  // (README-ambiguous; the model follows the engine: the order goes to the tail)
                  (cmd.type === 'amend' && cmd.price !== undefined && cmd.price !== p.price)));
            if (joins) stamp.set(e.orderId, n);
            prev.set(e.orderId, { price: e.price, orderQty: e.orderQty });
          }
          for (const symbol of SYMBOLS) {
            for (const side of SIDES) {
              const orders = engine.bookOrders(symbol, side);
              for (let k = 1; k < orders.length; k++) {
                const a = orders[k - 1]!;
                const b = orders[k]!;
                if (side === Side.BUY ? a.price < b.price : a.price > b.price)
                  fail(i, cmd, 'price order', [a, b], 'best first');
                if (a.price === b.price && !(stamp.get(a.orderId)! < stamp.get(b.orderId)!)) {
                  fail(i, cmd, `FIFO at ${symbol} ${a.price}`, [a.orderId, b.orderId], 'ascending stamps');
                }
              }
            }
          }
        });
      }),
      opts(1500),
    );
  });

  it('FOK: filled completely within one command, or not at all', () => {
    fc.assert(
      fc.property(scenarioArb(80), ({ config, cmds }) => {
        const steps = runEngine(new Engine(config), cmds);
        const fok = new Map<number, number>(); // orderId -> requested qty (from the NEW report)
        const fills = new Map<number, { seqs: Set<number>; qty: number }>();
        for (const { cmd, events } of steps) {
          for (const e of events) {
            if (!isExec(e)) continue;
            if (e.execType === ExecType.NEW) {
              const c = cmds.find((x) => x.seq === e.orderId && x.type === 'new');
              if (c && c.type === 'new' && c.tif === Tif.FOK) fok.set(e.orderId, e.orderQty);
            }
            // A pending FOK stop can be amended: its requested quantity is then the replaced one.
            if (e.execType === ExecType.REPLACED && fok.has(e.orderId) && e.cumQty === 0)
              fok.set(e.orderId, e.orderQty);
            if (e.execType === ExecType.TRADE && fok.has(e.orderId)) {
              const f = fills.get(e.orderId) ?? { seqs: new Set<number>(), qty: 0 };
              f.seqs.add(cmd.seq);
              f.qty += e.lastQty;
              fills.set(e.orderId, f);
            }
          }
        }
        for (const [id, f] of fills) {
          expect({ id, commands: f.seqs.size, qty: f.qty }).toEqual({ id, commands: 1, qty: fok.get(id) });
        }
      }),
      opts(1500),
    );
  });

  it('stops: TRIGGERED iff the last trade price crossed the stop (and the same stops as the model)', () => {
    fc.assert(
      fc.property(scenarioArb(80), ({ config, cmds }) => {
        const engine = new Engine(config);
        const model = new ReferenceModel(config);
        const last = new Map<string, number>();
        const stopIds = new Set<number>();
        runEngine(engine, cmds, ({ cmd, events }, i) => {
          const m = model.apply(cmd);
          const tradedPrices = new Map<string, number[]>();
          const triggered: number[] = [];
          for (const e of events) {
            if (isTrade(e)) {
              last.set(e.symbol, e.price);
              tradedPrices.set(e.symbol, [...(tradedPrices.get(e.symbol) ?? []), e.price]);
            }
            if (!isExec(e)) continue;
            if (e.ordStatus === OrdStatus.PENDING_TRIGGER) stopIds.add(e.orderId);
            if (e.execType === ExecType.TRIGGERED) {
              triggered.push(e.orderId);
              // Some trade of this command, before this report, reached the stop.
              const prices = tradedPrices.get(e.symbol) ?? [];
              const reached = prices.some((p) => (e.side === Side.BUY ? p >= e.stopPrice : p <= e.stopPrice));
              if (!reached)
                fail(
                  i,
                  cmd,
                  `order ${e.orderId} triggered without a trade reaching ${e.stopPrice}`,
                  prices,
                  'a reaching trade',
                );
            }
          }
          // No pending stop is left whose condition holds for the current last trade price.
          for (const id of stopIds) {
            const o = engine.order(id);
            if (!o?.pending) continue;
            const lp = last.get(o.symbol);
            if (lp !== undefined && (o.side === Side.BUY ? lp >= o.stopPrice : lp <= o.stopPrice)) {
              fail(
                i,
                cmd,
                `stop ${id} (${o.side === Side.BUY ? 'BUY' : 'SELL'} stop ${o.stopPrice}) still pending at last ${lp}`,
                o,
                'triggered',
              );
            }
          }
          if (stringify(triggered) !== stringify(m.triggered))
            fail(i, cmd, 'triggered stops differ', triggered, m.triggered);
        });
      }),
      opts(2500),
    );
  });

  it('determinism: the same stream on fresh engines gives identical events and state hash', () => {
    fc.assert(fc.property(scenarioArb(80), checkDeterminism), opts(600));
  });

  it('snapshot/restore at a random cut point continues identically', () => {
    fc.assert(fc.property(scenarioArb(80), fc.double({ min: 0, max: 1, noNaN: true }), checkSnapshotCut), opts(1500));
  });
});

function checkDeterminism({ config, cmds }: Scenario): void {
  const a = new Engine(config);
  const b = new Engine(config);
  const ea = stringify(runEngine(a, cmds).map((s) => s.events));
  const eb = stringify(runEngine(b, cmds).map((s) => s.events));
  expect(eb).toBe(ea);
  expect(engineStateHash(b)).toBe(engineStateHash(a));
}

function checkSnapshotCut({ config, cmds }: Scenario, cutFrac: number): void {
  const cut = Math.floor(cutFrac * cmds.length);
  const a = new Engine(config);
  runEngine(a, cmds.slice(0, cut));
  const bytes = writeSnapshot(a);
  const b = readSnapshot(config, bytes);
  expect(engineStateHash(b)).toBe(engineStateHash(a));
  expect(Buffer.from(writeSnapshot(b)).equals(Buffer.from(bytes))).toBe(true);
  const suffix = cmds.slice(cut);
  const ea = runEngine(a, suffix).map((s) => stringify(s.events));
  const eb = runEngine(b, suffix).map((s) => stringify(s.events));
  for (let k = 0; k < suffix.length; k++) {
    if (ea[k] !== eb[k]) fail(cut + k, suffix[k]!, 'restored engine diverges', eb[k], ea[k]);
  }
  expect(engineStateHash(b)).toBe(engineStateHash(a));
}

/**
 * Every exec report of a stream: cumNotional is exactly the BigInt sum of lastQty × lastPx of the
 * order's TRADE reports (a number up to 2^53 - 1, a bigint above: one form per value), and avgPx
 * is cumNotional / cumQty to within half a unit of its last decimal (rational check in BigInt).
 * Returns how many reports had a cumNotional above 2^53 - 1.
 */
function checkNotionals({ config, cmds }: Scenario): number {
  const sums = new Map<number, bigint>();
  let wideCount = 0;
  for (const { cmd, events } of runEngine(new Engine(config), cmds)) {
    for (const e of events) {
      if (!isExec(e) || e.execType === ExecType.REJECTED) continue;
      const sum = (sums.get(e.orderId) ?? 0n) + BigInt(e.lastQty) * BigInt(e.lastPx);
      sums.set(e.orderId, sum);
      if (stringify(e.cumNotional) !== stringify(asNotional(sum)))
        throw new Error(`seq ${cmd.seq}: cumNotional ${stringify(e.cumNotional)}, fills sum to ${sum}`);
      if (typeof e.cumNotional === 'bigint') wideCount++;
      const [int, frac] = avgPx(e.cumNotional, e.cumQty).split('.') as [string, string];
      const diff = BigInt(int + frac) * BigInt(e.cumQty) - sum * 10n ** BigInt(frac.length);
      if (2n * (diff < 0n ? -diff : diff) > BigInt(e.cumQty))
        throw new Error(`seq ${cmd.seq}: avgPx ${int}.${frac} of ${stringify(e)}`);
    }
  }
  return wideCount;
}

describe('wide instrument (AAA as BTC-USD: 0.01 USD × 1 satoshi, maxPrice × maxQty = 1e19 > 2^53)', () => {
  it('trades, book, order states and cumNotional (BigInt in the model) equal the model after every command', () => {
    fc.assert(
      fc.property(scenarioArb(80, true), (s) => compareWithModel(s)),
      opts(1500),
    );
  });

  it('cumNotional is the exact BigInt sum of the fills and avgPx is exact; notionals above 2^53 do occur', () => {
    let wideCount = 0;
    fc.assert(
      fc.property(scenarioArb(80, true), (s) => {
        wideCount += checkNotionals(s);
      }),
      opts(800),
    );
    expect(wideCount).toBeGreaterThan(100);
  });

  it('narrow instruments: cumNotional is the exact sum of the fills, always a number', () => {
    let wideCount = 0;
    fc.assert(
      fc.property(scenarioArb(80), (s) => {
        wideCount += checkNotionals(s);
      }),
      opts(300),
    );
    expect(wideCount).toBe(0);
  });

  it('determinism: identical events and state hash', () => {
    fc.assert(fc.property(scenarioArb(80, true), checkDeterminism), opts(300));
  });

  it('snapshot/restore at a random cut point continues identically', () => {
    fc.assert(
      fc.property(scenarioArb(80, true), fc.double({ min: 0, max: 1, noNaN: true }), checkSnapshotCut),
      opts(800),
    );
  });
});
