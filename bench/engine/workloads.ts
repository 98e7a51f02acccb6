// Deterministic command streams for the engine benchmark.
//
// Every stream is generated before any timing, from a seeded PRNG (no Math.random),
// with increasing seq and tsUs and numeric enums. To cancel/amend only orders that
// are really live, the generator runs a private Engine while it generates and reads
// the outcome of each command from its events (EventBuffer columns): the set of live
// orders, the book levels and the last trade price. A generator therefore also
// guarantees that the stream is all-valid: it throws on any command_reject,
// cancel_reject or exec REJECTED.
//
// Semantics chosen for the benchmark (the peer gets the same, see
// peer-nodejs-order-book.ts): one instrument, tick 1, lot 1, self-trade
// prevention NONE (defaultStp NONE, no per-account or per-order STP), no post-only,
// no icebergs, no stops, no GTD/DAY. The price band is on but very wide
// (reference 10,000,000 ± 1,000,000 ticks), so nothing is rejected or stopped by it.

import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import {
  EventKind,
  ExecType,
  OrdStatus,
  OrdType,
  Reason,
  Side,
  Stp,
  Tif,
  type AmendCommand,
  type CancelCommand,
  type Command,
  type NewOrderCommand,
  type ShardConfig,
} from '../../engine/types.js';
import { Prng } from '../../replicator/prng.js';

export const SYMBOL = 'BENCH';
export const MID0 = 10_000_000;
export const TS0 = 1_700_000_000_000_000;

/** Instrument width: narrow (maxPrice × maxQty < 2^53, as before) or wide (notionals above 2^53, engine/notional.ts). */
export type BenchWidth = 'narrow' | 'wide';

/**
 * The wide mix 1 quotes BTC-USD-like quantities: one unit of the narrow mix becomes 10,000,019
 * satoshis (~0.1 BTC; odd, so sums are not round), so a resting 1..100 units and an IOC 1..200
 * units at ~10,000,000 (100,000.00 USD) give fills of up to 2e16 units of notional: many
 * cumNotionals pass 2^53 and take the exact path's two-limb product and carries, the rest its plain-number path.
 */
export const WIDE_QTY_UNIT = 10_000_019;
/** 1,000 BTC in satoshis: maxPrice × maxQty = 1e9 × 1e11 = 1e20 ≥ 2^53. */
const WIDE_MAX_QTY = 100_000_000_000;

export function benchConfig(width: BenchWidth = 'narrow'): ShardConfig {
  return {
    shardId: 0,
    defaultStp: Stp.NONE,
    orderCountMax: 1 << 16,
    accounts: [],
    instruments: [
      {
        symbol: SYMBOL,
        tickSize: 1,
        lotSize: 1,
        minQty: 1,
        maxQty: width === 'wide' ? WIDE_MAX_QTY : 1_000_000,
        maxPrice: 1_000_000_000,
        priceBandTicks: 1_000_000,
        referencePrice: MID0,
        sessionCloseUtcUs: 0,
        priceDecimals: width === 'wide' ? 2 : 0,
        qtyDecimals: width === 'wide' ? 8 : 0,
      },
    ],
  };
}

// ---------------------------------------------------------------------------
// PRNG: the project's seeded xoshiro128** (replicator/prng.ts), with the draws
// the generators need.
// ---------------------------------------------------------------------------

export class Rng {
  private readonly prng: Prng;

  constructor(seed: number) {
    this.prng = new Prng(seed);
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    return this.prng.next();
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  side(): Side {
    return (this.u32() & 1) === 0 ? Side.BUY : Side.SELL;
  }
}

// ---------------------------------------------------------------------------
// Tracking of what the private engine did
// ---------------------------------------------------------------------------

interface LiveOrder {
  id: number;
  account: number;
  side: Side;
  price: number;
  leaves: number;
  /** index in Tracker.ids */
  slot: number;
}

export interface WorkloadStats {
  /** commands by kind */
  gtc: number;
  ioc: number;
  fok: number;
  market: number;
  cancel: number;
  amend: number;
  /** of which part of the initial book fill (GTC orders before the mix starts) */
  prefill: number;
  trades: number;
  /** exec/trade/book events the engine emitted for the whole stream */
  events: number;
  /** averages over the commands after the prefill */
  avgLiveOrders: number;
  avgPriceLevels: number;
  minLiveOrders: number;
  maxLiveOrders: number;
  /** FOK orders that expired unfilled, IOC/market orders with an unfilled remainder */
  fokKilled: number;
  iocExpired: number;
  /** commands that traded: average number of book events (levels changed) they caused */
  avgLevelsPerTradingCommand: number;
  finalLiveOrders: number;
  finalPriceLevels: number;
}

export interface Workload {
  name: string;
  description: string;
  config: ShardConfig;
  commands: Command[];
  stats: WorkloadStats;
}

class Tracker {
  readonly engine: Engine;
  readonly out = new EventBuffer();
  readonly live = new Map<number, LiveOrder>();
  readonly ids: number[] = [];
  readonly bids = new Map<number, number>();
  readonly asks = new Map<number, number>();
  lastTrade = 0;
  seq = 0;
  tsUs = TS0;
  readonly stats: WorkloadStats = {
    gtc: 0,
    ioc: 0,
    fok: 0,
    market: 0,
    cancel: 0,
    amend: 0,
    prefill: 0,
    trades: 0,
    events: 0,
    avgLiveOrders: 0,
    avgPriceLevels: 0,
    minLiveOrders: Infinity,
    maxLiveOrders: 0,
    fokKilled: 0,
    iocExpired: 0,
    avgLevelsPerTradingCommand: 0,
    finalLiveOrders: 0,
    finalPriceLevels: 0,
  };
  private sampledCommands = 0;
  private sumLive = 0;
  private sumLevels = 0;
  private tradingCommands = 0;
  private tradingLevels = 0;

  constructor(
    readonly config: ShardConfig,
    readonly rng: Rng,
    readonly commands: Command[],
  ) {
    this.engine = new Engine(config);
  }

  /** Best bid / ask from the book events seen so far (0 when the side is empty). O(levels). */
  bestBid(): number {
    let best = 0;
    for (const p of this.bids.keys()) if (p > best) best = p;
    return best;
  }

  bestAsk(): number {
    let best = 0;
    for (const p of this.asks.keys()) if (best === 0 || p < best) best = p;
    return best;
  }

  get liveCount(): number {
    return this.ids.length;
  }

  nextEnvelope(): { seq: number; tsUs: number } {
    this.seq += 1;
    this.tsUs += 1 + (this.rng.u32() & 7);
    return { seq: this.seq, tsUs: this.tsUs };
  }

  randomLive(): LiveOrder {
    const id = this.ids[Math.floor(this.rng.float() * this.ids.length)]!;
    return this.live.get(id)!;
  }

  newLimit(account: number, side: Side, price: number, qty: number, tif: Tif): void {
    const { seq, tsUs } = this.nextEnvelope();
    const cmd: NewOrderCommand = {
      type: 'new',
      seq,
      tsUs,
      account,
      clOrdId: 'c' + seq,
      symbol: SYMBOL,
      side,
      ordType: OrdType.LIMIT,
      price,
      qty,
      tif,
    };
    if (tif === Tif.GTC) this.stats.gtc++;
    else if (tif === Tif.IOC) this.stats.ioc++;
    else this.stats.fok++;
    this.apply(cmd);
  }

  newMarket(account: number, side: Side, qty: number): void {
    const { seq, tsUs } = this.nextEnvelope();
    const cmd: NewOrderCommand = {
      type: 'new',
      seq,
      tsUs,
      account,
      clOrdId: 'c' + seq,
      symbol: SYMBOL,
      side,
      ordType: OrdType.MARKET,
      qty,
      tif: Tif.IOC,
    };
    this.stats.market++;
    this.apply(cmd);
  }

  cancel(o: LiveOrder): void {
    const { seq, tsUs } = this.nextEnvelope();
    const cmd: CancelCommand = { type: 'cancel', seq, tsUs, account: o.account, orderId: o.id };
    this.stats.cancel++;
    this.apply(cmd);
  }

  /** Price-only amend (exchange-core "move"): quantity unchanged, loses time priority, may trade. */
  move(o: LiveOrder, price: number): void {
    const { seq, tsUs } = this.nextEnvelope();
    const cmd: AmendCommand = { type: 'amend', seq, tsUs, account: o.account, orderId: o.id, price };
    this.stats.amend++;
    this.apply(cmd);
  }

  private apply(cmd: Command): void {
    const out = this.out;
    out.clear();
    try {
      this.engine.apply(cmd, out);
    } catch (err) {
      throw new Error(
        `workload generator: the engine threw on command #${this.commands.length + 1} ${JSON.stringify(cmd)}`,
        { cause: err },
      );
    }
    this.commands.push(cmd);
    this.stats.events += out.count;
    let bookEvents = 0;
    let traded = false;
    for (let i = 0; i < out.count; i++) {
      const kind = out.kind[i];
      if (kind === EventKind.EXEC) {
        const execType = out.execType[i];
        const st = out.ordStatus[i]!;
        const id = out.orderId[i]!;
        if (execType === ExecType.REJECTED) {
          throw new Error(
            `workload generator: exec REJECTED reason ${out.reason[i]} for seq ${cmd.seq} (${JSON.stringify(cmd)})`,
          );
        }
        if ((st === OrdStatus.NEW || st === OrdStatus.PARTIALLY_FILLED) && out.leavesQty[i]! > 0) {
          this.upsert(id, out.account[i]!, out.side[i] as Side, out.price[i]!, out.leavesQty[i]!);
        } else {
          this.remove(id);
          if (execType === ExecType.EXPIRED && id === cmd.seq) {
            if (out.reason[i] === Reason.FILL_OR_KILL) this.stats.fokKilled++;
            else this.stats.iocExpired++;
          }
        }
      } else if (kind === EventKind.TRADE) {
        this.lastTrade = out.price[i]!;
        this.stats.trades++;
        traded = true;
      } else if (kind === EventKind.BOOK) {
        const levels = out.side[i] === Side.BUY ? this.bids : this.asks;
        const qty = out.qty[i]!;
        if (qty === 0) levels.delete(out.price[i]!);
        else levels.set(out.price[i]!, qty);
        bookEvents++;
      } else {
        const ev = out.event(i);
        throw new Error(`workload generator: unexpected ${JSON.stringify(ev)} for ${JSON.stringify(cmd)}`);
      }
    }
    if (traded) {
      this.tradingCommands++;
      this.tradingLevels += bookEvents;
    }
  }

  sample(): void {
    const n = this.ids.length;
    this.sampledCommands++;
    this.sumLive += n;
    this.sumLevels += this.bids.size + this.asks.size;
    if (n < this.stats.minLiveOrders) this.stats.minLiveOrders = n;
    if (n > this.stats.maxLiveOrders) this.stats.maxLiveOrders = n;
  }

  finish(): WorkloadStats {
    const s = this.stats;
    s.avgLiveOrders = this.sampledCommands ? this.sumLive / this.sampledCommands : 0;
    s.avgPriceLevels = this.sampledCommands ? this.sumLevels / this.sampledCommands : 0;
    s.avgLevelsPerTradingCommand = this.tradingCommands ? this.tradingLevels / this.tradingCommands : 0;
    s.finalLiveOrders = this.ids.length;
    s.finalPriceLevels = this.bids.size + this.asks.size;
    if (s.minLiveOrders === Infinity) s.minLiveOrders = 0;
    return s;
  }

  private upsert(id: number, account: number, side: Side, price: number, leaves: number): void {
    const o = this.live.get(id);
    if (o !== undefined) {
      o.price = price;
      o.leaves = leaves;
      return;
    }
    this.live.set(id, { id, account, side, price, leaves, slot: this.ids.length });
    this.ids.push(id);
  }

  private remove(id: number): void {
    const o = this.live.get(id);
    if (o === undefined) return;
    this.live.delete(id);
    const lastId = this.ids.pop()!;
    if (lastId !== id) {
      this.ids[o.slot] = lastId;
      this.live.get(lastId)!.slot = o.slot;
    }
  }
}

// ---------------------------------------------------------------------------
// Mix 1: exchange-core style. ~9% GTC, ~3% IOC, ~6% cancel, ~82% move (price amend
// of a live order). ~1,000 resting orders over ~750 price levels, 1,000 accounts.
// ---------------------------------------------------------------------------

export const MIX1 = {
  targetOrders: 1000,
  accounts: 1000,
  /** resting prices are kept in [mid - halfWidth, mid + cross] for bids (mirrored for asks) */
  halfWidth: 900,
  /** how far a bid may go above mid (an ask below): a little overlap makes some moves trade */
  cross: 2,
  maxMoveTicks: 20,
  pGtc: 0.09,
  pIoc: 0.03,
  pCancel: 0.06,
} as const;

/** Mix 1 on a narrow instrument (the default) or the same stream shape on a wide one (quantities × WIDE_QTY_UNIT). */
export function generateMix1(n: number, seed = 1, width: BenchWidth = 'narrow'): Workload {
  const config = benchConfig(width);
  const qtyUnit = width === 'wide' ? WIDE_QTY_UNIT : 1;
  const rng = new Rng(seed);
  const commands: Command[] = [];
  const t = new Tracker(config, rng, commands);
  const P = MIX1;
  let mid = MID0;
  const account = (): number => rng.int(1, P.accounts);
  const bandLo = (side: Side): number => (side === Side.BUY ? mid - P.halfWidth : mid - P.cross);
  const bandHi = (side: Side): number => (side === Side.BUY ? mid + P.cross : mid + P.halfWidth);
  const gtc = (prefill: boolean): void => {
    const side = rng.side();
    // prefill: no crossing; afterwards anywhere in the side's band (may trade a little)
    const price = prefill
      ? side === Side.BUY
        ? mid - rng.int(1, P.halfWidth)
        : mid + rng.int(1, P.halfWidth)
      : rng.int(bandLo(side), bandHi(side));
    t.newLimit(account(), side, price, rng.int(1, 100) * qtyUnit, Tif.GTC);
  };

  // Initial book: GTC orders until the target count is reached.
  while (t.liveCount < P.targetOrders && commands.length < n) {
    gtc(true);
    t.stats.prefill++;
  }

  while (commands.length < n) {
    if (commands.length % 2000 === 0)
      mid = Math.min(MID0 + 500, Math.max(MID0 - 500, mid + (rng.side() === Side.BUY ? 1 : -1)));
    const r = rng.float();
    let action: 0 | 1 | 2 | 3 = r < P.pGtc ? 0 : r < P.pGtc + P.pIoc ? 1 : r < P.pGtc + P.pIoc + P.pCancel ? 2 : 3;
    const live = t.liveCount;
    if (live === 0) action = 0;
    else if (action === 2 && live < P.targetOrders * 0.95) action = 0;
    else if (action === 0 && live > P.targetOrders * 1.05) action = 2;
    switch (action) {
      case 0:
        gtc(false);
        break;
      case 1: {
        // IOC taker priced a few ticks through the opposite best: it trades
        const side = rng.side();
        const best = side === Side.BUY ? t.bestAsk() : t.bestBid();
        const price = side === Side.BUY ? (best || mid) + rng.int(0, 10) : (best || mid) - rng.int(0, 10);
        t.newLimit(account(), side, price, rng.int(1, 200) * qtyUnit, Tif.IOC);
        break;
      }
      case 2:
        t.cancel(t.randomLive());
        break;
      case 3: {
        const o = t.randomLive();
        const lo = bandLo(o.side);
        const hi = bandHi(o.side);
        let delta = rng.int(1, P.maxMoveTicks);
        if ((rng.u32() & 1) === 0) delta = -delta;
        let price = Math.min(hi, Math.max(lo, o.price + delta));
        if (price === o.price) price = Math.min(hi, Math.max(lo, o.price - delta));
        if (price === o.price) price = o.price === lo ? lo + 1 : lo;
        t.move(o, price);
        break;
      }
    }
    t.sample();
  }
  return {
    name: width === 'wide' ? 'mix1-wide' : 'mix1',
    description:
      'exchange-core style: ~9% GTC limit, ~3% IOC limit, ~6% cancel, ~82% move (price amend of a live order); ~1,000 resting orders, 1,000 accounts' +
      (width === 'wide' ? `; wide instrument (quantities × ${WIDE_QTY_UNIT}, notionals above 2^53)` : ''),
    config,
    commands,
    stats: t.finish(),
  };
}

// ---------------------------------------------------------------------------
// Mix 2: matching-heavy. Tight spread around the last trade price; large aggressive
// limit orders (IOC and GTC) priced several ticks through the touch so they sweep
// several levels; market orders; FOK limit orders; replenishing GTC maker orders and
// cancels. Feedback keeps the book from emptying: below the target size takers and
// cancels are replaced by makers, above it makers by cancels.
// ---------------------------------------------------------------------------

export const MIX2 = {
  targetOrders: 200,
  accounts: 1000,
  /** maker distance from the reference (last trade): 1..makerSpread ticks, uniform */
  makerSpread: 10,
  makerQty: [10, 100] as const,
  aggressiveTicks: [3, 10] as const,
  aggressiveQty: [200, 800] as const,
  marketQty: [50, 400] as const,
  fokTicks: [0, 5] as const,
  fokQty: [20, 300] as const,
  pMaker: 0.55,
  pAggressive: 0.15,
  pMarket: 0.08,
  pFok: 0.08,
  // rest: cancel (0.14)
} as const;

/** Mix 2 on a narrow instrument (the default) or the same stream shape on a wide one (quantities × WIDE_QTY_UNIT). */
export function generateMix2(n: number, seed = 2, width: BenchWidth = 'narrow'): Workload {
  const config = benchConfig(width);
  const qtyUnit = width === 'wide' ? WIDE_QTY_UNIT : 1;
  const qty = (range: readonly [number, number]): number => rng.int(range[0], range[1]) * qtyUnit;
  const rng = new Rng(seed);
  const commands: Command[] = [];
  const t = new Tracker(config, rng, commands);
  const P = MIX2;
  const account = (): number => rng.int(1, P.accounts);
  /** reference: the last trade price, kept within ±50,000 ticks of MID0 (far inside the band) */
  const ref = (): number => {
    const last = t.lastTrade === 0 ? MID0 : t.lastTrade;
    return Math.min(MID0 + 50_000, Math.max(MID0 - 50_000, last));
  };
  const maker = (): void => {
    const side = rng.side();
    const dist = rng.int(1, P.makerSpread);
    const price = side === Side.BUY ? ref() - dist : ref() + dist;
    t.newLimit(account(), side, price, qty(P.makerQty), Tif.GTC);
  };

  while (t.liveCount < P.targetOrders && commands.length < n) {
    maker();
    t.stats.prefill++;
  }

  const c1 = P.pMaker;
  const c2 = c1 + P.pAggressive;
  const c3 = c2 + P.pMarket;
  const c4 = c3 + P.pFok;
  while (commands.length < n) {
    const r = rng.float();
    let action: 0 | 1 | 2 | 3 | 4 = r < c1 ? 0 : r < c2 ? 1 : r < c3 ? 2 : r < c4 ? 3 : 4;
    const live = t.liveCount;
    if (live < P.targetOrders * 0.8) action = 0;
    else if (action === 0 && live > P.targetOrders * 1.2) action = 4;
    switch (action) {
      case 0:
        maker();
        break;
      case 1: {
        const side = rng.side();
        const d = rng.int(P.aggressiveTicks[0], P.aggressiveTicks[1]);
        const price = side === Side.BUY ? ref() + d : ref() - d;
        const tif = (rng.u32() & 1) === 0 ? Tif.IOC : Tif.GTC;
        t.newLimit(account(), side, price, qty(P.aggressiveQty), tif);
        break;
      }
      case 2:
        t.newMarket(account(), rng.side(), qty(P.marketQty));
        break;
      case 3: {
        const side = rng.side();
        const d = rng.int(P.fokTicks[0], P.fokTicks[1]);
        const price = side === Side.BUY ? ref() + d : ref() - d;
        t.newLimit(account(), side, price, qty(P.fokQty), Tif.FOK);
        break;
      }
      case 4: {
        // of two random live orders, cancel the one farther from the reference (stale quotes go first)
        const a = t.randomLive();
        const b = t.randomLive();
        const r0 = ref();
        t.cancel(Math.abs(a.price - r0) >= Math.abs(b.price - r0) ? a : b);
        break;
      }
    }
    t.sample();
  }
  return {
    name: width === 'wide' ? 'mix2-wide' : 'mix2',
    description:
      'matching-heavy: GTC makers within 10 ticks of the last trade, large aggressive limits (IOC/GTC, 3-10 ticks through) sweeping levels, market IOC, FOK limits, cancels (stale first); book kept near 200 orders' +
      (width === 'wide' ? `; wide instrument (quantities × ${WIDE_QTY_UNIT}, notionals above 2^53)` : ''),
    config,
    commands,
    stats: t.finish(),
  };
}

/** Aggregated book after the first n commands, from a fresh engine's book events (price → qty per side). */
export function bookAfter(
  config: ShardConfig,
  commands: readonly Command[],
  n: number,
): { bids: Map<number, number>; asks: Map<number, number> } {
  const engine = new Engine(config);
  const out = new EventBuffer();
  const bids = new Map<number, number>();
  const asks = new Map<number, number>();
  for (let c = 0; c < n; c++) {
    out.clear();
    engine.apply(commands[c]!, out);
    for (let i = 0; i < out.count; i++) {
      if (out.kind[i] !== EventKind.BOOK) continue;
      const levels = out.side[i] === Side.BUY ? bids : asks;
      if (out.qty[i] === 0) levels.delete(out.price[i]!);
      else levels.set(out.price[i]!, out.qty[i]!);
    }
  }
  return { bids, asks };
}
