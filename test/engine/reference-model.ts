// A deliberately naive reference model of the matching semantics in engine/README.md,
// written from the README only (not from engine/*.ts). Clarity over speed: orders live in
// one Map, a book side is computed by filtering and sorting all live orders, and every
// rule is spelled out where it applies. It does not reproduce the event stream; it
// exposes what the property tests compare: the trades of each command, the book per
// side in priority order, and each order's status and quantities.
//
// Where the README leaves a choice open, the choice is marked "README-AMBIGUOUS" and,
// when it matters for behaviour, made switchable through ModelOptions.

import {
  OrdType,
  PostOnly,
  Side,
  Stp,
  Tif,
  type AmendCommand,
  type CancelCommand,
  type Command,
  type InstrumentConfig,
  type MassCancelCommand,
  type NewOrderCommand,
  type ShardConfig,
} from '../../engine/types.js';

export interface ModelTrade {
  price: number;
  qty: number;
  makerOrderId: number;
  takerOrderId: number;
}

export interface ModelBookOrder {
  orderId: number;
  account: number;
  price: number;
  leavesQty: number;
  visibleQty: number;
}

export type ModelStatus =
  | 'PENDING_TRIGGER'
  | 'NEW'
  | 'PARTIALLY_FILLED'
  | 'FILLED'
  | 'CANCELED'
  | 'EXPIRED'
  | 'REJECTED';

export const TERMINAL: ReadonlySet<ModelStatus> = new Set(['FILLED', 'CANCELED', 'EXPIRED', 'REJECTED']);

export interface ModelOrder {
  orderId: number;
  account: number;
  clOrdId: string;
  symbol: string;
  side: Side;
  ordType: OrdType;
  tif: Tif;
  /** Working limit price; 0 for MARKET / STOP_MARKET. */
  price: number;
  /** 0 for LIMIT / MARKET. */
  stopPrice: number;
  /** Ordered quantity: as amended, reduced by a DECREMENT_AND_CANCEL restatement; kept when the order is canceled or expires (FIX 4.4). */
  orderQty: number;
  cumQty: number;
  /** Sum of price × qty over fills, in BigInt: exact whatever the instrument's width (engine/README.md). */
  cumNotional: bigint;
  leavesQty: number;
  visibleQty: number;
  /** Iceberg display quantity; 0 when not an iceberg. */
  displayQty: number;
  postOnly: PostOnly;
  /** The order's own STP field; undefined: account default, else shard default. */
  stp: Stp | undefined;
  /** STP mode resolved at entry (used only with stpResolve: 'entry'). */
  stpAtEntry: Stp;
  /** GTD/DAY expiry time (µs); undefined for orders that do not expire. */
  expireAt: number | undefined;
  status: ModelStatus;
  /** true while a stop waits for its trigger. */
  pending: boolean;
  /** true while resting in the book. */
  resting: boolean;
  /** Time priority within a level: smaller is earlier. Renewed whenever the order goes to the tail. */
  prio: number;
  /** seq of the command in which the order was triggered (stops). */
  triggeredAtSeq?: number;
}

/** README-AMBIGUOUS points that change behaviour. */
export interface ModelOptions {
  /** How buy and sell stops triggered together are interleaved ("the two sides alternate by order id").
   *  'merge': repeatedly take whichever side's next stop has the smaller order id.
   *  'strict': strictly alternate sides, starting with the side whose first stop has the smaller order id. */
  stopSideOrder: 'merge' | 'strict';
  /** 'batch': all stops triggered at one check are processed, then stops are checked again.
   *  'each': after every triggered stop is processed, the set is recomputed. */
  stopCascade: 'batch' | 'each';
  /** When the taker's STP mode is looked up: at match time, or fixed at order entry. */
  stpResolve: 'match' | 'entry';
  /** MARKET orders stop at any level outside the band (true) or only beyond the band edge in the
   *  direction of travel (false). */
  marketBandBothSides: boolean;
  /** Iceberg visible quantity after a price change / quantity increase (which loses priority):
   *  'fresh': a new slice min(displayQty, leaves); 'keep': min(visibleQty, leaves). */
  amendIcebergSlice: 'fresh' | 'keep';
  /** A post-only REPRICE amend whose requested price differs from the working price but is repriced
   *  back to it: 'requested' treats it as a price change (loses priority), 'effective' does not. */
  amendRepricePriority: 'requested' | 'effective';
}

// Defaults: where the README is ambiguous, the reading the engine implements (see the report);
// marketBandBothSides stays with the README's wording ("never trade outside the price band").
export const DEFAULT_MODEL_OPTIONS: ModelOptions = {
  stopSideOrder: 'merge',
  stopCascade: 'each',
  stpResolve: 'entry',
  marketBandBothSides: true,
  amendIcebergSlice: 'fresh',
  amendRepricePriority: 'requested',
};

interface InstState {
  cfg: InstrumentConfig;
  halted: boolean;
  referencePrice: number | null;
  lastPrice: number | null;
}

export interface ModelResult {
  trades: ModelTrade[];
  /** Orders that were triggered by this command. */
  triggered: number[];
  /** Whether the command was accepted (false: rejected / ignored). */
  accepted: boolean;
}

const DAY_US = 86_400_000_000;
const ACCOUNT_MAX = 2 ** 31 - 1; // README-AMBIGUOUS: "positive 32-bit integer" (signed or unsigned); generator avoids 2^31..2^32-1.

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);
const isSide = (x: unknown): x is Side => x === Side.BUY || x === Side.SELL;
const isStp = (x: unknown): x is Stp => isInt(x) && x >= 0 && x <= 4;
const isAccount = (x: unknown): x is number => isInt(x) && x > 0 && x <= ACCOUNT_MAX;
/** NewOrder fields an amend may not carry (README "Amend"). */
const AMEND_FIXED_FIELDS = ['side', 'ordType', 'tif', 'expireTsUs', 'postOnly', 'displayQty', 'stp'] as const;

const validClOrdId = (x: unknown): x is string =>
  typeof x === 'string' && x.length >= 1 && x.length <= 64 && /^[\x21-\x7e]+$/.test(x);

/** Next session close strictly after t. */
export function nextSessionClose(t: number, sessionCloseUtcUs: number): number {
  const dayStart = Math.floor(t / DAY_US) * DAY_US;
  let close = dayStart + sessionCloseUtcUs;
  while (close <= t) close += DAY_US;
  return close;
}

export class ReferenceModel {
  readonly orders = new Map<number, ModelOrder>();
  private readonly insts = new Map<string, InstState>();
  private readonly accountStp = new Map<number, Stp>();
  private readonly blocked = new Set<number>();
  private lastSeq = -Infinity;
  private time = -Infinity;
  private nextPrio = 1;
  private trades: ModelTrade[] = [];
  private triggered: number[] = [];
  private seq = 0;
  readonly opts: ModelOptions;

  constructor(
    readonly config: ShardConfig,
    opts: Partial<ModelOptions> = {},
  ) {
    this.opts = { ...DEFAULT_MODEL_OPTIONS, ...opts };
    for (const cfg of config.instruments) {
      this.insts.set(cfg.symbol, { cfg, halted: false, referencePrice: cfg.referencePrice, lastPrice: null });
    }
    for (const a of config.accounts) this.accountStp.set(a.id, a.stp);
  }

  // -------------------------------------------------------------------------
  // Queries
  // -------------------------------------------------------------------------

  /** Live resting orders of one side in priority order (best price first, then time). */
  bookOrders(symbol: string, side: Side): ModelBookOrder[] {
    return this.bookSide(symbol, side).map((o) => ({
      orderId: o.orderId,
      account: o.account,
      price: o.price,
      leavesQty: o.leavesQty,
      visibleQty: o.visibleQty,
    }));
  }

  liveOrders(): ModelOrder[] {
    return [...this.orders.values()].filter((o) => o.resting || o.pending).sort((a, b) => a.orderId - b.orderId);
  }

  lastPrice(symbol: string): number | null {
    return this.insts.get(symbol)?.lastPrice ?? null;
  }

  isHalted(symbol: string): boolean {
    return this.insts.get(symbol)?.halted ?? false;
  }

  private bookSide(symbol: string, side: Side): ModelOrder[] {
    const list: ModelOrder[] = [];
    for (const o of this.orders.values()) if (o.resting && o.symbol === symbol && o.side === side) list.push(o);
    list.sort((a, b) => {
      if (a.price !== b.price) return side === Side.BUY ? b.price - a.price : a.price - b.price;
      return a.prio - b.prio;
    });
    return list;
  }

  private liveCount(): number {
    let n = 0;
    for (const o of this.orders.values()) if (o.resting || o.pending) n++;
    return n;
  }

  private liveByClOrdId(account: number, clOrdId: string): ModelOrder | undefined {
    for (const o of this.orders.values()) {
      if ((o.resting || o.pending) && o.account === account && o.clOrdId === clOrdId) return o;
    }
    return undefined;
  }

  // -------------------------------------------------------------------------
  // Command dispatch
  // -------------------------------------------------------------------------

  apply(cmd: Command): ModelResult {
    this.trades = [];
    this.triggered = [];
    const c = cmd as unknown as Record<string, unknown>;
    if (!isInt(c['seq']) || (c['seq'] as number) <= this.lastSeq || !isInt(c['tsUs'])) {
      return { trades: [], triggered: [], accepted: false };
    }
    this.lastSeq = cmd.seq;
    this.seq = cmd.seq;
    this.time = Math.max(this.time, cmd.tsUs);
    this.expireOrders();
    let accepted = false;
    switch (c['type']) {
      case 'new':
        accepted = this.newOrder(cmd as NewOrderCommand);
        break;
      case 'cancel':
        accepted = this.cancel(cmd as CancelCommand);
        break;
      case 'amend':
        accepted = this.amend(cmd as AmendCommand);
        break;
      case 'mass_cancel':
        accepted = this.massCancel(cmd as MassCancelCommand);
        break;
      case 'halt':
      case 'resume': {
        const inst = typeof c['symbol'] === 'string' ? this.insts.get(c['symbol']) : undefined;
        if (inst) {
          inst.halted = c['type'] === 'halt';
          accepted = true;
        }
        break;
      }
      case 'kill_switch': {
        const account = c['account'];
        const active = c['active'];
        if (isAccount(account) && typeof active === 'boolean') {
          if (active) {
            for (const o of this.liveOrders()) if (o.account === account) this.finish(o, 'CANCELED');
            this.blocked.add(account);
          } else {
            this.blocked.delete(account);
          }
          accepted = true;
        }
        break;
      }
      case 'set_reference_price': {
        const inst = typeof c['symbol'] === 'string' ? this.insts.get(c['symbol']) : undefined;
        const price = c['price'];
        if (inst && this.validPrice(inst.cfg, price)) {
          inst.referencePrice = price;
          accepted = true;
        }
        break;
      }
      case 'set_account': {
        const account = c['account'];
        const stp = c['stp'];
        if (isAccount(account) && isStp(stp)) {
          this.accountStp.set(account, stp);
          accepted = true;
        }
        break;
      }
      case 'tick':
        accepted = true;
        break;
      default:
        break;
    }
    return { trades: this.trades, triggered: this.triggered, accepted };
  }

  /** Before every command: GTD/DAY orders with expiry <= time expire, in (expiry, orderId) order. */
  private expireOrders(): void {
    const due = this.liveOrders().filter((o) => o.expireAt !== undefined && o.expireAt <= this.time);
    due.sort((a, b) => a.expireAt! - b.expireAt! || a.orderId - b.orderId);
    for (const o of due) this.finish(o, 'EXPIRED');
  }

  /** Takes an order off the book / out of the pending stops with a terminal status. */
  private finish(o: ModelOrder, status: ModelStatus): void {
    o.status = status;
    o.resting = false;
    o.pending = false;
    o.leavesQty = 0;
    o.visibleQty = 0;
  }

  // -------------------------------------------------------------------------
  // Price helpers
  // -------------------------------------------------------------------------

  private band(inst: InstState): { lo: number; hi: number } | null {
    if (inst.referencePrice === null || inst.cfg.priceBandTicks === 0) return null;
    const w = inst.cfg.priceBandTicks * inst.cfg.tickSize;
    return { lo: inst.referencePrice - w, hi: inst.referencePrice + w };
  }

  private inBand(inst: InstState, price: number): boolean {
    const b = this.band(inst);
    return b === null || (price >= b.lo && price <= b.hi);
  }

  private validPrice(cfg: InstrumentConfig, price: unknown): price is number {
    return isInt(price) && price > 0 && price % cfg.tickSize === 0 && price <= cfg.maxPrice;
  }

  private validQty(cfg: InstrumentConfig, qty: unknown): qty is number {
    return isInt(qty) && qty > 0 && qty % cfg.lotSize === 0 && qty >= cfg.minQty && qty <= cfg.maxQty;
  }

  private validStopPrice(inst: InstState, side: Side, stopPrice: unknown): stopPrice is number {
    if (!this.validPrice(inst.cfg, stopPrice)) return false;
    const last = inst.lastPrice;
    if (last !== null) {
      if (side === Side.BUY && !(stopPrice > last)) return false; // STOP_PRICE_WOULD_TRIGGER
      if (side === Side.SELL && !(stopPrice < last)) return false;
    }
    return true;
  }

  private bestPrice(symbol: string, side: Side): number | null {
    const s = this.bookSide(symbol, side);
    return s.length === 0 ? null : s[0]!.price;
  }

  /** Post-only handling for a limit price; returns the price to use, or null to reject. */
  private postOnlyPrice(inst: InstState, side: Side, price: number, postOnly: PostOnly): number | null {
    if (postOnly === PostOnly.NONE) return price;
    const opp = this.bestPrice(inst.cfg.symbol, side === Side.BUY ? Side.SELL : Side.BUY);
    if (opp === null) return price;
    const crosses = side === Side.BUY ? price >= opp : price <= opp;
    if (!crosses) return price;
    if (postOnly === PostOnly.REJECT) return null; // POST_ONLY_WOULD_CROSS
    const repriced = side === Side.BUY ? opp - inst.cfg.tickSize : opp + inst.cfg.tickSize;
    if (!this.validPrice(inst.cfg, repriced) || !this.inBand(inst, repriced)) return null; // PRICE_OUT_OF_BAND
    return repriced;
  }

  private stpMode(o: ModelOrder): Stp {
    if (this.opts.stpResolve === 'entry') return o.stpAtEntry;
    return o.stp ?? this.accountStp.get(o.account) ?? this.config.defaultStp;
  }

  // -------------------------------------------------------------------------
  // New order
  // -------------------------------------------------------------------------

  private newOrder(cmd: NewOrderCommand): boolean {
    const o = this.validateNew(cmd);
    if (o === null) {
      // A rejected order: recorded only for status comparison (id = seq).
      this.orders.set(cmd.seq, {
        orderId: cmd.seq,
        account: isInt(cmd.account) ? cmd.account : 0,
        clOrdId: typeof cmd.clOrdId === 'string' ? cmd.clOrdId : '',
        symbol: typeof cmd.symbol === 'string' ? cmd.symbol : '',
        side: cmd.side,
        ordType: cmd.ordType,
        tif: cmd.tif ?? Tif.GTC,
        price: 0,
        stopPrice: 0,
        // FIX 4.4: a rejected order reports the quantity it asked for, when that is a quantity.
        orderQty: isInt(cmd.qty) && cmd.qty > 0 ? cmd.qty : 0,
        cumQty: 0,
        cumNotional: 0n,
        leavesQty: 0,
        visibleQty: 0,
        displayQty: 0,
        postOnly: PostOnly.NONE,
        stp: undefined,
        stpAtEntry: Stp.NONE,
        expireAt: undefined,
        status: 'REJECTED',
        pending: false,
        resting: false,
        prio: 0,
      });
      return false;
    }
    this.orders.set(o.orderId, o);
    if (o.ordType === OrdType.STOP_MARKET || o.ordType === OrdType.STOP_LIMIT) {
      o.pending = true;
      o.status = 'PENDING_TRIGGER';
      return true;
    }
    this.execute(o);
    this.afterTrading(o.symbol);
    return true;
  }

  /** All NewOrder validation; returns the order to work, or null when it is rejected. */
  private validateNew(cmd: NewOrderCommand): ModelOrder | null {
    const c = cmd as unknown as Record<string, unknown>;
    const inst = typeof c['symbol'] === 'string' ? this.insts.get(c['symbol']) : undefined;
    if (!inst) return null;
    const cfg = inst.cfg;
    if (!isAccount(c['account'])) return null;
    const account = cmd.account;
    if (!isSide(c['side'])) return null;
    const ordType = c['ordType'];
    if (!isInt(ordType) || ordType < 1 || ordType > 4) return null;
    const marketLike = ordType === OrdType.MARKET || ordType === OrdType.STOP_MARKET;
    const isStop = ordType === OrdType.STOP_MARKET || ordType === OrdType.STOP_LIMIT;
    const tif = c['tif'] === undefined ? (marketLike ? Tif.IOC : Tif.GTC) : c['tif'];
    if (!isInt(tif) || tif < 1 || tif > 5) return null;
    if (marketLike && tif !== Tif.IOC && tif !== Tif.FOK) return null;
    const resting = tif === Tif.GTC || tif === Tif.GTD || tif === Tif.DAY;
    if (!validClOrdId(c['clOrdId'])) return null;
    if (this.liveByClOrdId(account, cmd.clOrdId)) return null;
    if (!this.validQty(cfg, c['qty'])) return null;
    const qty = cmd.qty;
    let price = 0;
    if (marketLike) {
      if (c['price'] !== undefined) return null; // README: MARKET/STOP_MARKET carry no price
    } else {
      if (!this.validPrice(cfg, c['price'])) return null;
      price = cmd.price!;
      if (!this.inBand(inst, price)) return null;
    }
    let stopPrice = 0;
    if (isStop) {
      if (!this.validStopPrice(inst, cmd.side, c['stopPrice'])) return null;
      stopPrice = cmd.stopPrice!;
    } else if (c['stopPrice'] !== undefined) {
      return null; // README-AMBIGUOUS: stopPrice on a non-stop order (generator does not send it)
    }
    let expireAt: number | undefined;
    if (tif === Tif.GTD) {
      if (!isInt(c['expireTsUs']) || (c['expireTsUs'] as number) <= this.time) return null;
      expireAt = cmd.expireTsUs!;
    } else if (tif === Tif.DAY) {
      expireAt = nextSessionClose(this.time, cfg.sessionCloseUtcUs);
    }
    const postOnly = c['postOnly'] === undefined ? PostOnly.NONE : c['postOnly'];
    if (postOnly !== PostOnly.NONE && postOnly !== PostOnly.REJECT && postOnly !== PostOnly.REPRICE) return null;
    if (postOnly !== PostOnly.NONE && !(ordType === OrdType.LIMIT && resting)) return null;
    let displayQty = 0;
    if (c['displayQty'] !== undefined) {
      const d = c['displayQty'];
      if (!(ordType === OrdType.LIMIT || ordType === OrdType.STOP_LIMIT) || !resting) return null;
      if (!isInt(d) || d <= 0 || d % cfg.lotSize !== 0 || d >= qty) return null;
      displayQty = d;
    }
    if (c['stp'] !== undefined && !isStp(c['stp'])) return null;
    if (inst.halted) return null;
    if (this.blocked.has(account)) return null;
    if (this.liveCount() >= this.config.orderCountMax) return null;
    if (ordType === OrdType.LIMIT) {
      const p = this.postOnlyPrice(inst, cmd.side, price, postOnly as PostOnly);
      if (p === null) return null;
      price = p;
    }
    const stp = cmd.stp;
    return {
      orderId: cmd.seq,
      account,
      clOrdId: cmd.clOrdId,
      symbol: cfg.symbol,
      side: cmd.side,
      ordType: ordType as OrdType,
      tif: tif as Tif,
      price,
      stopPrice,
      orderQty: qty,
      cumQty: 0,
      cumNotional: 0n,
      leavesQty: qty,
      visibleQty: 0,
      displayQty,
      postOnly: postOnly as PostOnly,
      stp,
      stpAtEntry: stp ?? this.accountStp.get(account) ?? this.config.defaultStp,
      expireAt,
      status: 'NEW',
      pending: false,
      resting: false,
      prio: 0,
    };
  }

  // -------------------------------------------------------------------------
  // Matching
  // -------------------------------------------------------------------------

  /** Works an order that is not in the book (new, triggered, or amended with loss of priority):
   *  FOK check, matching, then TIF handling of the remainder. */
  private execute(o: ModelOrder): void {
    const inst = this.insts.get(o.symbol)!;
    if (o.tif === Tif.FOK && this.fillable(inst, o) < o.leavesQty) {
      this.finish(o, 'EXPIRED'); // FILL_OR_KILL
      return;
    }
    const stopped = this.match(inst, o);
    if (stopped || o.leavesQty === 0) return;
    const marketLike = o.ordType === OrdType.MARKET || o.ordType === OrdType.STOP_MARKET;
    if (marketLike || o.tif === Tif.IOC || o.tif === Tif.FOK) {
      this.finish(o, 'EXPIRED');
      return;
    }
    this.rest(o);
  }

  private rest(o: ModelOrder): void {
    const visible = o.displayQty > 0 ? Math.min(o.displayQty, o.leavesQty) : o.leavesQty;
    // The level's displayed total stays ≤ 2^53 − 1 (README: LEVEL_QUANTITY_LIMIT), in BigInt here.
    let level = 0n;
    for (const m of this.orders.values())
      if (m.resting && m.symbol === o.symbol && m.side === o.side && m.price === o.price) level += BigInt(m.visibleQty);
    if (level + BigInt(visible) > BigInt(Number.MAX_SAFE_INTEGER)) {
      this.finish(o, 'EXPIRED'); // LEVEL_QUANTITY_LIMIT
      return;
    }
    o.resting = true;
    o.pending = false;
    o.prio = this.nextPrio++;
    o.visibleQty = visible;
    o.status = o.cumQty > 0 ? 'PARTIALLY_FILLED' : 'NEW';
  }

  /** Whether a maker at `price` is reachable for taker o (limit and, for market orders, band). */
  private reachable(inst: InstState, o: ModelOrder, price: number): boolean {
    const marketLike = o.ordType === OrdType.MARKET || o.ordType === OrdType.STOP_MARKET;
    if (!marketLike) return o.side === Side.BUY ? price <= o.price : price >= o.price;
    const b = this.band(inst);
    if (b === null) return true;
    if (this.opts.marketBandBothSides) return price >= b.lo && price <= b.hi;
    return o.side === Side.BUY ? price <= b.hi : price >= b.lo;
  }

  /** Quantity a FOK taker could fill right now, with STP taken into account as the README says. */
  private fillable(inst: InstState, o: ModelOrder): number {
    const mode = this.stpMode(o);
    const opp = this.bookSide(o.symbol, o.side === Side.BUY ? Side.SELL : Side.BUY);
    let total = 0;
    let i = 0;
    while (i < opp.length) {
      const price = opp[i]!.price;
      if (!this.reachable(inst, o, price)) break;
      const level: ModelOrder[] = [];
      while (i < opp.length && opp[i]!.price === price) level.push(opp[i++]!);
      let displayedAhead = 0;
      let levelAll = 0;
      let ownFound = false;
      for (const m of level) {
        const own = m.account === o.account && mode !== Stp.NONE;
        if (own && mode === Stp.EXPIRE_MAKER) continue; // skipped: will be expired
        if (own) {
          ownFound = true;
          break;
        }
        displayedAhead += m.visibleQty;
        levelAll += m.leavesQty;
      }
      if (ownFound) return total + displayedAhead;
      total += levelAll;
    }
    return total;
  }

  /** Matches taker o against the opposite side. Returns true when STP ended the taker. */
  private match(inst: InstState, o: ModelOrder): boolean {
    const oppSide = o.side === Side.BUY ? Side.SELL : Side.BUY;
    while (o.leavesQty > 0) {
      const maker = this.bookSide(o.symbol, oppSide)[0];
      if (maker === undefined) break; // NO_LIQUIDITY
      if (!this.reachable(inst, o, maker.price)) break; // limit / PRICE_BAND_REACHED
      const mode = this.stpMode(o);
      if (maker.account === o.account && mode !== Stp.NONE) {
        if (mode === Stp.EXPIRE_TAKER) {
          this.finish(o, 'EXPIRED');
          return true;
        }
        if (mode === Stp.EXPIRE_MAKER) {
          this.finish(maker, 'EXPIRED');
          continue;
        }
        if (mode === Stp.EXPIRE_BOTH) {
          this.finish(maker, 'EXPIRED');
          this.finish(o, 'EXPIRED');
          return true;
        }
        // DECREMENT_AND_CANCEL: the one left with nothing expires (its orderQty as it was), the
        // other is restated with its orderQty reduced.
        const d = Math.min(o.leavesQty, maker.leavesQty);
        if (maker.leavesQty === d) this.finish(maker, 'EXPIRED');
        else {
          maker.leavesQty -= d;
          maker.orderQty -= d;
          // README-AMBIGUOUS: which part of an iceberg maker is decremented; here the visible slice is
          // only capped by what remains.
          maker.visibleQty = Math.min(maker.visibleQty, maker.leavesQty);
        }
        if (o.leavesQty === d) {
          this.finish(o, 'EXPIRED');
          return true;
        }
        o.leavesQty -= d;
        o.orderQty -= d;
        continue;
      }
      const q = Math.min(o.leavesQty, maker.visibleQty);
      this.trades.push({ price: maker.price, qty: q, makerOrderId: maker.orderId, takerOrderId: o.orderId });
      inst.lastPrice = maker.price;
      maker.cumQty += q;
      maker.cumNotional += BigInt(maker.price) * BigInt(q);
      maker.leavesQty -= q;
      maker.visibleQty -= q;
      o.cumQty += q;
      o.cumNotional += BigInt(maker.price) * BigInt(q);
      o.leavesQty -= q;
      if (maker.leavesQty === 0) {
        this.finish(maker, 'FILLED');
      } else {
        maker.status = 'PARTIALLY_FILLED';
        if (maker.visibleQty === 0) {
          // Iceberg refresh: a new slice at the tail of the level.
          maker.visibleQty = Math.min(maker.displayQty, maker.leavesQty);
          maker.prio = this.nextPrio++;
        }
      }
      if (o.leavesQty === 0) this.finish(o, 'FILLED');
      else o.status = 'PARTIALLY_FILLED';
    }
    return false;
  }

  // -------------------------------------------------------------------------
  // Stops
  // -------------------------------------------------------------------------

  private triggers(o: ModelOrder, last: number): boolean {
    return o.side === Side.BUY ? last >= o.stopPrice : last <= o.stopPrice;
  }

  /** Stops triggered by the current last price, in the README's processing order. */
  private triggeredSet(inst: InstState): ModelOrder[] {
    const last = inst.lastPrice;
    if (last === null) return [];
    const pend = this.liveOrders().filter((o) => o.pending && o.symbol === inst.cfg.symbol && this.triggers(o, last));
    const buys = pend
      .filter((o) => o.side === Side.BUY)
      .sort((a, b) => a.stopPrice - b.stopPrice || a.orderId - b.orderId);
    const sells = pend
      .filter((o) => o.side === Side.SELL)
      .sort((a, b) => b.stopPrice - a.stopPrice || a.orderId - b.orderId);
    const out: ModelOrder[] = [];
    let bi = 0;
    let si = 0;
    if (this.opts.stopSideOrder === 'merge') {
      while (bi < buys.length || si < sells.length) {
        const b = buys[bi];
        const s = sells[si];
        if (s === undefined || (b !== undefined && b.orderId < s.orderId)) {
          out.push(b!);
          bi++;
        } else {
          out.push(s);
          si++;
        }
      }
    } else {
      let buyTurn = buys.length > 0 && (sells.length === 0 || buys[0]!.orderId < sells[0]!.orderId);
      while (bi < buys.length || si < sells.length) {
        if ((buyTurn && bi < buys.length) || si >= sells.length) out.push(buys[bi++]!);
        else out.push(sells[si++]!);
        buyTurn = !buyTurn;
      }
    }
    return out;
  }

  /** After a command that traded on `symbol`: trigger stops (cascading). */
  private afterTrading(symbol: string): void {
    if (this.trades.length === 0) return;
    const inst = this.insts.get(symbol)!;
    for (;;) {
      if (inst.halted) return;
      const set = this.triggeredSet(inst);
      if (set.length === 0) return;
      const before = this.trades.length;
      if (this.opts.stopCascade === 'each') {
        this.trigger(inst, set[0]!);
      } else {
        for (const o of set) this.trigger(inst, o);
      }
      if (this.trades.length === before && this.opts.stopCascade === 'batch') return;
    }
  }

  private trigger(_inst: InstState, o: ModelOrder): void {
    o.pending = false;
    o.status = 'NEW';
    o.triggeredAtSeq = this.seq;
    this.triggered.push(o.orderId);
    this.execute(o);
  }

  // -------------------------------------------------------------------------
  // Cancel, mass cancel
  // -------------------------------------------------------------------------

  private cancel(cmd: CancelCommand): boolean {
    const c = cmd as unknown as Record<string, unknown>;
    if (!isAccount(c['account'])) return false;
    if (c['orderId'] !== undefined && c['clOrdId'] !== undefined) return false; // MALFORMED_COMMAND: named twice
    const o = this.findOwn(cmd.account, c['orderId'], c['clOrdId']);
    if (!o) return false; // ORDER_NOT_FOUND
    this.finish(o, 'CANCELED');
    return true;
  }

  private findOwn(account: number, orderId: unknown, clOrdId: unknown): ModelOrder | undefined {
    if (orderId !== undefined) {
      if (!isInt(orderId)) return undefined;
      const o = this.orders.get(orderId);
      return o && (o.resting || o.pending) && o.account === account ? o : undefined;
    }
    if (typeof clOrdId === 'string') return this.liveByClOrdId(account, clOrdId);
    return undefined;
  }

  private massCancel(cmd: MassCancelCommand): boolean {
    const c = cmd as unknown as Record<string, unknown>;
    if (!isAccount(c['account'])) return false;
    if (c['symbol'] !== undefined && !(typeof c['symbol'] === 'string' && this.insts.has(c['symbol']))) return false;
    if (c['side'] !== undefined && !isSide(c['side'])) return false;
    for (const o of this.liveOrders()) {
      if (o.account !== cmd.account) continue;
      if (cmd.symbol !== undefined && o.symbol !== cmd.symbol) continue;
      if (cmd.side !== undefined && o.side !== cmd.side) continue;
      this.finish(o, 'CANCELED');
    }
    return true;
  }

  // -------------------------------------------------------------------------
  // Amend
  // -------------------------------------------------------------------------

  private amend(cmd: AmendCommand): boolean {
    const c = cmd as unknown as Record<string, unknown>;
    if (!isAccount(c['account'])) return false;
    if (c['orderId'] !== undefined && c['origClOrdId'] !== undefined) return false; // MALFORMED_COMMAND: named twice
    const o = this.findOwn(cmd.account, c['orderId'], c['origClOrdId']);
    if (!o) return false;
    const inst = this.insts.get(o.symbol)!;
    if (inst.halted) return false;
    // AMEND_NOT_ALLOWED: an attribute an amend cannot change is refused, not ignored.
    if (AMEND_FIXED_FIELDS.some((f) => c[f] !== undefined)) return false;
    if (this.blocked.has(o.account)) return false;
    if (c['clOrdId'] !== undefined) {
      if (!validClOrdId(c['clOrdId'])) return false;
      const other = this.liveByClOrdId(o.account, cmd.clOrdId!);
      // DUPLICATE_CLIENT_ORDER_ID. README-AMBIGUOUS: re-sending the order's own clOrdId; treated as unused.
      if (other !== undefined && other !== o) return false;
    }
    if (c['qty'] !== undefined && !this.validQty(inst.cfg, c['qty'])) return false;
    // An amend does not re-check displayQty < qty (README: an iceberg shows at most what remains),
    // for resting and pending stop orders alike.
    let newPrice = o.price;
    if (c['price'] !== undefined) {
      if (o.ordType === OrdType.STOP_MARKET) return false; // no price on a stop-market
      if (!this.validPrice(inst.cfg, c['price']) || !this.inBand(inst, c['price'])) return false;
      newPrice = cmd.price!;
    }
    let newStop = o.stopPrice;
    if (c['stopPrice'] !== undefined) {
      if (!o.pending) return false; // only pending stops have a stop price to change
      if (!this.validStopPrice(inst, o.side, c['stopPrice'])) return false;
      newStop = cmd.stopPrice!;
    }
    const priceRequested = newPrice !== o.price;
    // Post-only: the same rule as on entry when the amend makes the order cross.
    if (o.resting && o.postOnly !== PostOnly.NONE && newPrice !== o.price) {
      const p = this.postOnlyPrice(inst, o.side, newPrice, o.postOnly);
      if (p === null) return false;
      newPrice = p;
    }
    // Accepted.
    if (c['clOrdId'] !== undefined) o.clOrdId = cmd.clOrdId!;
    const newQty = c['qty'] !== undefined ? cmd.qty! : o.orderQty;
    if (o.pending) {
      o.price = newPrice;
      o.stopPrice = newStop;
      o.orderQty = newQty;
      o.leavesQty = newQty - o.cumQty;
      return true;
    }
    if (newQty <= o.cumQty) {
      o.price = newPrice;
      o.orderQty = o.cumQty; // amended to what is filled: the order amounts to that
      this.finish(o, 'FILLED'); // REPLACED, ordStatus FILLED
      return true;
    }
    // README-AMBIGUOUS: a post-only REPRICE amend repriced back to the working price; see amendRepricePriority.
    const priceChange = newPrice !== o.price || (this.opts.amendRepricePriority === 'requested' && priceRequested);
    const losesPriority = priceChange || newQty > o.orderQty;
    o.orderQty = newQty;
    o.leavesQty = newQty - o.cumQty;
    if (!losesPriority) {
      o.visibleQty = Math.min(o.visibleQty, o.leavesQty);
      return true;
    }
    o.price = newPrice;
    o.resting = false;
    if (this.opts.amendIcebergSlice === 'keep') o.visibleQty = Math.min(o.visibleQty, o.leavesQty);
    const keepVisible = o.visibleQty;
    const stopped = this.match(inst, o);
    if (!stopped && o.leavesQty > 0) {
      this.rest(o);
      if (o.resting && this.opts.amendIcebergSlice === 'keep' && o.displayQty > 0 && keepVisible > 0) {
        o.visibleQty = Math.min(keepVisible, o.leavesQty);
      }
    }
    this.afterTrading(o.symbol);
    return true;
  }
}
