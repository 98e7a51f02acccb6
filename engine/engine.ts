// The matching engine of one shard: a deterministic function from the ordered
// command stream to events. Every user error becomes a reject event and leaves
// the book unchanged; a broken internal invariant throws InvariantError, which
// the host must treat as fatal (stop rather than corrupt state).

import { DAY_US, validateConfig } from './config.js';
import { IntMap } from './int-map.js';
import { CLORDID_CHAR_MAX, CLORDID_CHAR_MIN, CLORDID_LENGTH_MAX } from './limits.js';
import { EventBuffer } from './event-buffer.js';
import { addNotional, isWide } from './notional.js';
import { NIL, OrderStore, SlotState } from './order-store.js';
import { Ladder, LevelPool } from './price-levels.js';
import {
  CxlRejResponseTo,
  EventKind,
  ExecType,
  InstrumentStatus,
  LiquidityInd,
  OrdStatus,
  OrdType,
  PostOnly,
  Reason,
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
} from './types.js';

export class InvariantError extends Error {
  override name = 'InvariantError';
}

/** Throws InvariantError. Callers test the condition inline so the message is built only on failure. */
function fail(message: string): never {
  throw new InvariantError(message);
}

const ACCOUNT_ID_MAX = 0xffff_ffff;

/** Mutable per-instrument state. */
export class Instrument {
  readonly bids: Ladder;
  readonly asks: Ladder;
  halted = false;
  referencePrice: number;
  /** 0: no trade yet. */
  lastTradePrice = 0;
  /** maxPrice × maxQty ≥ 2^53: notionals may need the high limb (notional.ts); fixed at config load. */
  readonly wide: boolean;
  /** Pending BUY stops, sorted so the next to trigger (lowest stop, then lowest id) is at the end. */
  readonly buyStops: number[] = [];
  /** Pending SELL stops, sorted so the next to trigger (highest stop, then lowest id) is at the end. */
  readonly sellStops: number[] = [];

  constructor(
    readonly index: number,
    readonly cfg: InstrumentConfig,
    pool: LevelPool,
  ) {
    this.bids = new Ladder(true, pool);
    this.asks = new Ladder(false, pool);
    this.referencePrice = cfg.referencePrice ?? 0;
    this.wide = isWide(cfg);
  }

  /** Lowest price inside the band (0 when there is no band: no reference price or priceBandTicks 0). */
  bandLow(): number {
    if (this.referencePrice === 0 || this.cfg.priceBandTicks === 0) return 0;
    return this.referencePrice - this.cfg.priceBandTicks * this.cfg.tickSize;
  }

  /** Highest price inside the band (MAX_SAFE_INTEGER when there is no band). */
  bandHigh(): number {
    if (this.referencePrice === 0 || this.cfg.priceBandTicks === 0) return Number.MAX_SAFE_INTEGER;
    return this.referencePrice + this.cfg.priceBandTicks * this.cfg.tickSize;
  }
}

/** Per-account state: settings, the live client order ids, and an intrusive list of live orders. */
export class Account {
  blocked = false;
  readonly clOrdIds = new Map<string, number>();
  head = NIL;
  constructor(
    readonly id: number,
    public stp: Stp,
  ) {}
}

const STP_VALUES: readonly number[] = Object.values(Stp);

export class Engine {
  readonly config: ShardConfig;
  readonly orders: OrderStore;
  readonly levels = new LevelPool();
  readonly instruments: Instrument[] = [];
  readonly bySymbol = new Map<string, Instrument>();
  readonly accounts = new Map<number, Account>();
  /** Live order id → slot. */
  readonly idToSlot = new IntMap();
  /** Expiry min-heap of (expireTsUs, orderId); entries of orders gone since are skipped when popped. */
  private heapTs: number[] = [];
  private heapId: number[] = [];

  lastSeq = 0;
  nowUs = 0;
  execIdLast = 0;
  tradeIdLast = 0;

  // Per-command scratch (no allocation on the hot path).
  private out: EventBuffer = new EventBuffer(1);
  private seq = 0;
  private tradedInstrument: Instrument | null = null;

  constructor(config: ShardConfig) {
    validateConfig(config);
    this.config = config;
    this.orders = new OrderStore(config.orderCountMax);
    config.instruments.forEach((cfg, i) => {
      const inst = new Instrument(i, cfg, this.levels);
      this.instruments.push(inst);
      this.bySymbol.set(cfg.symbol, inst);
    });
    for (const a of config.accounts) this.accounts.set(a.id, new Account(a.id, a.stp));
  }

  // -------------------------------------------------------------------------
  // Command dispatch
  // -------------------------------------------------------------------------

  /** Applies one command, appending its events to `out`. Never throws for bad input. */
  apply(cmd: Command, out: EventBuffer): void {
    this.out = out;
    if (typeof cmd !== 'object' || cmd === null) {
      this.commandReject(0, 'unknown', Reason.MALFORMED_COMMAND);
      return;
    }
    const seq = cmd.seq;
    const type = typeof cmd.type === 'string' ? cmd.type : 'unknown';
    if (!Number.isSafeInteger(seq) || seq <= this.lastSeq) {
      this.seq = Number.isSafeInteger(seq) ? seq : 0;
      this.commandReject(this.seq, type, Reason.INVALID_SEQUENCE);
      return;
    }
    if (!Number.isSafeInteger(cmd.tsUs) || cmd.tsUs < 0) {
      this.seq = seq;
      this.commandReject(seq, type, Reason.INVALID_TIMESTAMP);
      return;
    }
    // The envelope is valid: the log position and its time are consumed whatever follows.
    this.lastSeq = seq;
    this.seq = seq;
    if (cmd.tsUs > this.nowUs) this.nowUs = cmd.tsUs;
    if (this.heapTs.length > 0 && this.heapTs[0]! <= this.nowUs) this.runExpiries();
    this.tradedInstrument = null;

    switch (cmd.type) {
      case 'new':
        this.newOrder(cmd);
        break;
      case 'amend':
        this.amend(cmd);
        break;
      case 'cancel':
        this.cancel(cmd);
        break;
      case 'mass_cancel':
        this.massCancel(cmd);
        break;
      case 'halt':
      case 'resume':
        this.haltResume(cmd.symbol, cmd.type === 'halt', type);
        break;
      case 'kill_switch':
        this.killSwitch(cmd.account, cmd.active);
        break;
      case 'set_reference_price':
        this.setReferencePrice(cmd.symbol, cmd.price);
        break;
      case 'set_account':
        this.setAccount(cmd.account, cmd.stp);
        break;
      case 'tick':
        break;
      default:
        // No type at all is a malformed command (what the JSON codec says too, so a command
        // is rejected alike whether it arrived through pipe mode or through the log).
        this.commandReject(
          seq,
          type,
          typeof (cmd as { type?: unknown }).type === 'string' ? Reason.UNKNOWN_COMMAND : Reason.MALFORMED_COMMAND,
        );
    }
  }

  // -------------------------------------------------------------------------
  // New orders
  // -------------------------------------------------------------------------

  private newOrder(cmd: NewOrderCommand): void {
    const inst = typeof cmd.symbol === 'string' ? this.bySymbol.get(cmd.symbol) : undefined;
    const reason = this.validateNew(cmd, inst);
    if (reason !== Reason.NONE) {
      this.rejectNew(cmd, reason);
      return;
    }
    const i = inst!;
    const cfg = i.cfg;
    const isStop = cmd.ordType === OrdType.STOP_MARKET || cmd.ordType === OrdType.STOP_LIMIT;
    const hasLimit = cmd.ordType === OrdType.LIMIT || cmd.ordType === OrdType.STOP_LIMIT;
    let price = hasLimit ? cmd.price! : 0;
    const postOnly = cmd.postOnly ?? PostOnly.NONE;
    if (postOnly !== PostOnly.NONE) {
      const opp = cmd.side === Side.BUY ? i.asks : i.bids;
      const best = opp.best();
      if (best !== NIL) {
        const bestPx = this.levels.price[best]!;
        const crosses = cmd.side === Side.BUY ? price >= bestPx : price <= bestPx;
        if (crosses) {
          if (postOnly === PostOnly.REJECT) return this.rejectNew(cmd, Reason.POST_ONLY_WOULD_CROSS);
          price = cmd.side === Side.BUY ? bestPx - cfg.tickSize : bestPx + cfg.tickSize;
          if (price <= 0 || !this.inBand(i, price)) return this.rejectNew(cmd, Reason.PRICE_OUT_OF_BAND);
        }
      }
    }
    const s = this.orders;
    const o = s.alloc();
    if (o === NIL) return this.rejectNew(cmd, Reason.BOOK_FULL);
    const tif = cmd.tif ?? (hasLimit ? Tif.GTC : Tif.IOC);
    const account = this.accountOrCreate(cmd.account);
    s.orderId[o] = cmd.seq;
    s.account[o] = cmd.account;
    s.instrument[o] = i.index;
    s.side[o] = cmd.side;
    s.ordType[o] = cmd.ordType;
    s.tif[o] = tif;
    s.postOnly[o] = postOnly;
    s.stp[o] = cmd.stp ?? account.stp;
    s.price[o] = price;
    s.stopPrice[o] = isStop ? cmd.stopPrice! : 0;
    s.orderQty[o] = cmd.qty;
    s.displayQty[o] = cmd.displayQty ?? 0;
    s.visibleQty[o] = cmd.displayQty ? cmd.displayQty : cmd.qty;
    s.clOrdId[o] = cmd.clOrdId;
    if (tif === Tif.GTD) s.expireTsUs[o] = cmd.expireTsUs!;
    else if (tif === Tif.DAY) s.expireTsUs[o] = this.nextSessionClose(cfg);
    this.idToSlot.set(cmd.seq, o);
    account.clOrdIds.set(cmd.clOrdId, o);
    this.linkAccount(account, o);
    if (s.expireTsUs[o]! > 0) this.heapPush(s.expireTsUs[o]!, cmd.seq);

    if (isStop) {
      s.state[o] = SlotState.PENDING_STOP;
      this.insertStop(i, o);
      this.emitExec(o, ExecType.NEW, Reason.NONE, 0, 0, 0);
      return;
    }
    s.state[o] = SlotState.IN_FLIGHT;
    this.emitExec(o, ExecType.NEW, Reason.NONE, 0, 0, 0);
    this.execute(i, o);
    if (this.tradedInstrument !== null) this.runTriggers(this.tradedInstrument);
    this.checkUncrossed(i);
  }

  /** Returns Reason.NONE or the first reason to reject. Reads state, changes nothing. */
  private validateNew(cmd: NewOrderCommand, inst: Instrument | undefined): Reason {
    if (inst === undefined) return Reason.UNKNOWN_INSTRUMENT;
    const cfg = inst.cfg;
    if (!validAccount(cmd.account)) return Reason.INVALID_ACCOUNT;
    if (!validClOrdId(cmd.clOrdId)) return Reason.INVALID_CLIENT_ORDER_ID;
    if (cmd.side !== Side.BUY && cmd.side !== Side.SELL) return Reason.INVALID_SIDE;
    const t = cmd.ordType;
    if (t !== OrdType.LIMIT && t !== OrdType.MARKET && t !== OrdType.STOP_MARKET && t !== OrdType.STOP_LIMIT)
      return Reason.INVALID_ORDER_TYPE;
    const hasLimit = t === OrdType.LIMIT || t === OrdType.STOP_LIMIT;
    const isStop = t === OrdType.STOP_MARKET || t === OrdType.STOP_LIMIT;
    const tif = cmd.tif ?? (hasLimit ? Tif.GTC : Tif.IOC);
    if (tif !== Tif.GTC && tif !== Tif.IOC && tif !== Tif.FOK && tif !== Tif.GTD && tif !== Tif.DAY)
      return Reason.INVALID_TIME_IN_FORCE;
    const resting = tif === Tif.GTC || tif === Tif.GTD || tif === Tif.DAY;
    if (!hasLimit && resting) return Reason.INVALID_TIME_IN_FORCE;
    if (tif !== Tif.GTD && cmd.expireTsUs !== undefined) return Reason.INVALID_EXPIRE_TIME;
    if (tif === Tif.GTD && (!Number.isSafeInteger(cmd.expireTsUs) || cmd.expireTsUs! <= this.nowUs))
      return Reason.INVALID_EXPIRE_TIME;
    const qty = cmd.qty;
    if (!Number.isSafeInteger(qty) || qty <= 0) return Reason.INVALID_QUANTITY;
    if (qty % cfg.lotSize !== 0) return Reason.QUANTITY_NOT_LOT_MULTIPLE;
    if (qty < cfg.minQty) return Reason.QUANTITY_BELOW_MIN;
    if (qty > cfg.maxQty) return Reason.QUANTITY_ABOVE_MAX;
    if (hasLimit) {
      const r = this.validatePrice(inst, cmd.price);
      if (r !== Reason.NONE) return r;
    } else if (cmd.price !== undefined) return Reason.INVALID_PRICE;
    if (isStop) {
      const r = this.validateStopPrice(inst, cmd.side, cmd.stopPrice);
      if (r !== Reason.NONE) return r;
    } else if (cmd.stopPrice !== undefined) return Reason.INVALID_STOP_PRICE;
    const postOnly = cmd.postOnly ?? PostOnly.NONE;
    if (postOnly !== PostOnly.NONE && postOnly !== PostOnly.REJECT && postOnly !== PostOnly.REPRICE)
      return Reason.INVALID_POST_ONLY;
    if (postOnly !== PostOnly.NONE && (t !== OrdType.LIMIT || !resting)) return Reason.INVALID_POST_ONLY;
    if (cmd.displayQty !== undefined) {
      const d = cmd.displayQty;
      if (!hasLimit || !resting || !Number.isSafeInteger(d) || d <= 0 || d >= qty || d % cfg.lotSize !== 0)
        return Reason.INVALID_DISPLAY_QUANTITY;
    }
    if (cmd.stp !== undefined && !STP_VALUES.includes(cmd.stp)) return Reason.INVALID_STP_MODE;
    if (inst.halted) return Reason.INSTRUMENT_HALTED;
    const account = this.accounts.get(cmd.account);
    if (account !== undefined) {
      if (account.blocked) return Reason.ACCOUNT_BLOCKED;
      if (account.clOrdIds.has(cmd.clOrdId)) return Reason.DUPLICATE_CLIENT_ORDER_ID;
    }
    return Reason.NONE;
  }

  private validatePrice(inst: Instrument, price: unknown): Reason {
    if (typeof price !== 'number' || !Number.isSafeInteger(price) || price <= 0) return Reason.INVALID_PRICE;
    if (price % inst.cfg.tickSize !== 0) return Reason.PRICE_NOT_TICK_MULTIPLE;
    if (price > inst.cfg.maxPrice) return Reason.INVALID_PRICE;
    if (!this.inBand(inst, price)) return Reason.PRICE_OUT_OF_BAND;
    return Reason.NONE;
  }

  private validateStopPrice(inst: Instrument, side: Side, stopPrice: unknown): Reason {
    if (typeof stopPrice !== 'number' || !Number.isSafeInteger(stopPrice) || stopPrice <= 0)
      return Reason.INVALID_STOP_PRICE;
    if (stopPrice % inst.cfg.tickSize !== 0 || stopPrice > inst.cfg.maxPrice) return Reason.INVALID_STOP_PRICE;
    const last = inst.lastTradePrice;
    if (last > 0 && (side === Side.BUY ? stopPrice <= last : stopPrice >= last)) return Reason.STOP_PRICE_WOULD_TRIGGER;
    return Reason.NONE;
  }

  private inBand(inst: Instrument, price: number): boolean {
    return price >= inst.bandLow() && price <= inst.bandHigh();
  }

  private nextSessionClose(cfg: InstrumentConfig): number {
    const now = this.nowUs;
    let close = Math.floor(now / DAY_US) * DAY_US + cfg.sessionCloseUtcUs;
    if (close <= now) close += DAY_US;
    return close;
  }

  /**
   * Runs an accepted order (state IN_FLIGHT, NEW already reported) against the book,
   * then rests or ends what is left according to its time in force.
   */
  private execute(inst: Instrument, o: number): void {
    const s = this.orders;
    if (s.tif[o] === Tif.FOK && !this.fokFillable(inst, o)) {
      this.endOrder(o, ExecType.EXPIRED, Reason.FILL_OR_KILL);
      return;
    }
    const stopReason = this.match(inst, o);
    if (s.state[o] === SlotState.FREE) return; // ended inside match (filled, or expired by STP)
    const leaves = s.leaves(o);
    if (!(leaves > 0)) fail(`execute: order ${s.orderId[o]} in flight with no quantity left`);
    if (stopReason !== Reason.NONE) {
      this.endOrder(o, ExecType.EXPIRED, stopReason);
      return;
    }
    const tif = s.tif[o]!;
    if (tif === Tif.IOC) this.endOrder(o, ExecType.EXPIRED, Reason.IMMEDIATE_OR_CANCEL);
    else if (tif === Tif.FOK) fail(`execute: FOK order ${s.orderId[o]} partially filled`);
    else this.rest(inst, o);
  }

  /**
   * Puts an in-flight order at the tail of its price level — unless its displayed quantity
   * would take the level's total past 2^53 − 1: the total is a double, exact only up to there,
   * and the book events and the feed publish it. Only a very deep level gets there (90,072
   * orders of 1,000 BTC in satoshis at one price); the order then expires with
   * LEVEL_QUANTITY_LIMIT rather than make the total inexact. An iceberg's refresh never passes
   * the bound: its new slice is at most the one it replaces, within the same command.
   */
  private rest(inst: Instrument, o: number): void {
    const s = this.orders;
    const ladder = s.side[o] === Side.BUY ? inst.bids : inst.asks;
    const l = ladder.getOrCreate(s.price[o]!);
    // What it shows now: an iceberg its slice (bounded by what is left), others all that is left.
    const leaves = s.leaves(o);
    const display = s.displayQty[o]!;
    const visible = display > 0 && display < leaves ? display : leaves;
    // (A level created just now is empty, so it is never left behind empty by this refusal.)
    if (this.levels.qty[l]! + visible > Number.MAX_SAFE_INTEGER) {
      this.endOrder(o, ExecType.EXPIRED, Reason.LEVEL_QUANTITY_LIMIT);
      return;
    }
    s.visibleQty[o] = visible;
    s.state[o] = SlotState.RESTING;
    this.levels.append(s, l, o);
    this.emitBook(inst, s.side[o] as Side, l);
  }

  /**
   * Matches taker `o` against the opposite side. Returns why matching stopped early
   * (NO_LIQUIDITY, PRICE_BAND_REACHED, SELF_TRADE_PREVENTED) or NONE when the taker
   * is done or no longer crosses. The taker may be freed inside (filled, or expired by STP).
   */
  private match(inst: Instrument, o: number): Reason {
    const s = this.orders;
    const lv = this.levels;
    const isBuy = s.side[o] === Side.BUY;
    const ladder = isBuy ? inst.asks : inst.bids;
    const limit = s.price[o]!;
    const isMarket = limit === 0;
    const account = s.account[o]!;
    const stp = s.stp[o]!;
    // Only market orders are held to the band while matching (limit prices were checked on entry).
    const bandLo = isMarket ? inst.bandLow() : 0;
    const bandHi = isMarket ? inst.bandHigh() : Number.MAX_SAFE_INTEGER;
    let leaves = s.leaves(o);
    while (leaves > 0) {
      const l = ladder.best();
      if (l === NIL) return isMarket ? Reason.NO_LIQUIDITY : Reason.NONE;
      const px = lv.price[l]!;
      if (isMarket) {
        // No trade prints outside the band, on either side of the reference price.
        if (px > bandHi || px < bandLo) return Reason.PRICE_BAND_REACHED;
      } else if (isBuy ? px > limit : px < limit) return Reason.NONE;

      let takerStopped = false;
      let m = lv.head[l]!;
      while (m !== NIL && leaves > 0) {
        let nextM = s.next[m]!;
        if (stp !== Stp.NONE && s.account[m] === account) {
          // Self-trade prevention; the taker's mode decides.
          if (stp === Stp.EXPIRE_MAKER) {
            this.removeResting(inst, m, ExecType.EXPIRED, Reason.SELF_TRADE_PREVENTED, false);
          } else if (stp === Stp.EXPIRE_TAKER) {
            takerStopped = true;
          } else if (stp === Stp.EXPIRE_BOTH) {
            this.removeResting(inst, m, ExecType.EXPIRED, Reason.SELF_TRADE_PREVENTED, false);
            takerStopped = true;
          } else {
            // DECREMENT_AND_CANCEL: both lose the smaller remaining quantity.
            const makerLeaves = s.leaves(m);
            if (makerLeaves > leaves) {
              this.decrementResting(m, leaves);
              takerStopped = true;
            } else if (makerLeaves < leaves) {
              this.removeResting(inst, m, ExecType.EXPIRED, Reason.SELF_TRADE_PREVENTED, false);
              s.orderQty[o]! -= makerLeaves;
              leaves -= makerLeaves;
              this.emitExec(o, ExecType.RESTATED, Reason.SELF_TRADE_PREVENTED, 0, 0, 0);
            } else {
              this.removeResting(inst, m, ExecType.EXPIRED, Reason.SELF_TRADE_PREVENTED, false);
              takerStopped = true;
            }
          }
          if (takerStopped) break;
          m = nextM;
          continue;
        }

        const visible = s.visibleQty[m]!;
        const fill = Math.min(leaves, visible);
        const tradeId = ++this.tradeIdLast;
        s.visibleQty[m] = visible - fill;
        s.cumQty[m]! += fill;
        s.cumQty[o]! += fill;
        if (inst.wide) {
          addNotional(s.cumNotional, s.cumNotionalHi, m, fill, px);
          addNotional(s.cumNotional, s.cumNotionalHi, o, fill, px);
        } else {
          s.cumNotional[m]! += fill * px;
          s.cumNotional[o]! += fill * px;
        }
        lv.qty[l]! -= fill;
        leaves -= fill;
        inst.lastTradePrice = px;
        this.tradedInstrument = inst;
        this.emitTrade(inst, tradeId, px, fill, o, m);
        this.emitExec(m, ExecType.TRADE, Reason.NONE, fill, px, tradeId, '', LiquidityInd.ADDED_LIQUIDITY);
        this.emitExec(o, ExecType.TRADE, Reason.NONE, fill, px, tradeId, '', LiquidityInd.REMOVED_LIQUIDITY);
        const makerLeaves = s.leaves(m);
        if (makerLeaves === 0) {
          lv.unlink(s, m);
          this.freeOrder(m);
        } else if (s.visibleQty[m] === 0) {
          // Iceberg refresh: a new slice at the tail of the level (loses time priority).
          if (!(s.displayQty[m]! > 0))
            fail(`match: order ${s.orderId[m]} has no visible quantity but is not an iceberg`);
          lv.unlink(s, m);
          s.visibleQty[m] = Math.min(makerLeaves, s.displayQty[m]!);
          lv.append(s, l, m);
          if (nextM === NIL) nextM = m;
          this.emitExec(m, ExecType.RESTATED, Reason.ICEBERG_REFRESH, 0, 0, 0);
        }
        m = nextM;
      }
      this.emitBook(inst, isBuy ? Side.SELL : Side.BUY, l);
      if (lv.count[l] === 0) ladder.remove(l);
      if (takerStopped) {
        this.endOrder(o, ExecType.EXPIRED, Reason.SELF_TRADE_PREVENTED);
        return Reason.NONE;
      }
    }
    if (leaves === 0) this.endOrder(o, ExecType.TRADE, Reason.NONE);
    return Reason.NONE;
  }

  /**
   * Whether FOK taker `o` can be filled completely now, counting self-trade prevention
   * exactly: with EXPIRE_MAKER own orders are skipped; with EXPIRE_TAKER, EXPIRE_BOTH and
   * DECREMENT_AND_CANCEL counting stops at the first own order (at that level only the
   * displayed quantity of the orders ahead of it counts, since refreshed slices go behind it).
   */
  private fokFillable(inst: Instrument, o: number): boolean {
    const s = this.orders;
    const lv = this.levels;
    const isBuy = s.side[o] === Side.BUY;
    const ladder = isBuy ? inst.asks : inst.bids;
    const limit = s.price[o]!;
    const isMarket = limit === 0;
    const account = s.account[o]!;
    const stp = s.stp[o]!;
    const need = s.leaves(o);
    // Only market orders are held to the band while matching (limit prices were checked on entry).
    const bandLo = isMarket ? inst.bandLow() : 0;
    const bandHi = isMarket ? inst.bandHigh() : Number.MAX_SAFE_INTEGER;
    let have = 0;
    const levels = ladder.ids;
    for (let k = ladder.size - 1; k >= 0; k--) {
      const l = levels[k]!;
      const px = lv.price[l]!;
      if (isMarket ? px > bandHi || px < bandLo : isBuy ? px > limit : px < limit) return false;
      // At a level holding an own order (in a mode that stops the taker), refreshed iceberg
      // slices go behind that order: only the displayed quantity ahead of it is reachable.
      let levelLeaves = 0;
      let aheadVisible = 0;
      for (let m = lv.head[l]!; m !== NIL; m = s.next[m]!) {
        if (stp !== Stp.NONE && s.account[m] === account) {
          if (stp === Stp.EXPIRE_MAKER) continue;
          return have + aheadVisible >= need;
        }
        levelLeaves += s.leaves(m);
        aheadVisible += s.visibleQty[m]!;
      }
      have += levelLeaves;
      if (have >= need) return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------
  // Order lifecycle helpers
  // -------------------------------------------------------------------------

  /**
   * Ends a live order that is not in a level (in flight or pending stop): reports it and frees it.
   * EXPIRED/CANCELED reports keep orderQty (what was ordered) and cumQty, with leaves 0 (FIX 4.4).
   */
  private endOrder(o: number, execType: ExecType, reason: Reason): void {
    if (execType !== ExecType.TRADE) this.emitExec(o, execType, reason, 0, 0, 0);
    this.freeOrder(o);
  }

  /** Removes a resting order from the book, reports it (CANCELED/EXPIRED), optionally emits the level's book event. */
  private removeResting(inst: Instrument, o: number, execType: ExecType, reason: Reason, emitBook: boolean): void {
    const s = this.orders;
    const l = s.level[o]!;
    const side = s.side[o] as Side;
    this.levels.unlink(s, o);
    this.emitExec(o, execType, reason, 0, 0, 0);
    this.freeOrder(o);
    if (emitBook) {
      this.emitBook(inst, side, l);
      if (this.levels.count[l] === 0) (side === Side.BUY ? inst.bids : inst.asks).remove(l);
    }
  }

  /** STP decrement of a resting maker by `qty` (it keeps priority). */
  private decrementResting(m: number, qty: number): void {
    const s = this.orders;
    const lv = this.levels;
    const l = s.level[m]!;
    s.orderQty[m]! -= qty;
    const leaves = s.leaves(m);
    if (s.visibleQty[m]! > leaves) {
      lv.qty[l]! -= s.visibleQty[m]! - leaves;
      s.visibleQty[m] = leaves;
    }
    this.emitExec(m, ExecType.RESTATED, Reason.SELF_TRADE_PREVENTED, 0, 0, 0);
  }

  /** Releases a finished order: id map, client order id, account list, slot. */
  private freeOrder(o: number): void {
    const s = this.orders;
    const account = this.accounts.get(s.account[o]!)!;
    this.idToSlot.delete(s.orderId[o]!);
    if (account.clOrdIds.get(s.clOrdId[o]!) === o) account.clOrdIds.delete(s.clOrdId[o]!);
    const p = s.acctPrev[o]!;
    const n = s.acctNext[o]!;
    if (p === NIL) account.head = n;
    else s.acctNext[p] = n;
    if (n !== NIL) s.acctPrev[n] = p;
    s.release(o);
  }

  private linkAccount(account: Account, o: number): void {
    const s = this.orders;
    const h = account.head;
    s.acctPrev[o] = NIL;
    s.acctNext[o] = h;
    if (h !== NIL) s.acctPrev[h] = o;
    account.head = o;
  }

  /** The account's state, created with its default settings on first use. */
  accountOrCreate(id: number): Account {
    let a = this.accounts.get(id);
    if (a === undefined) {
      a = new Account(id, this.config.defaultStp);
      this.accounts.set(id, a);
    }
    return a;
  }

  /** Live order slot for a cancel/amend: by order id, or by the account's client order id; only the account's own. */
  private findOwn(account: number, orderId: number | undefined, clOrdId: string | undefined): number {
    if (!validAccount(account)) return NIL;
    if (orderId !== undefined) {
      if (!Number.isSafeInteger(orderId)) return NIL;
      const o = this.idToSlot.get(orderId);
      return o !== NIL && this.orders.account[o] === account ? o : NIL;
    }
    if (typeof clOrdId !== 'string') return NIL;
    const o = this.accounts.get(account)?.clOrdIds.get(clOrdId);
    return o === undefined ? NIL : o;
  }

  // -------------------------------------------------------------------------
  // Cancel, amend, mass cancel
  // -------------------------------------------------------------------------

  private cancel(cmd: CancelCommand): void {
    // Naming the order twice is ambiguous (the two may name different orders): refused, not resolved.
    if (cmd.orderId !== undefined && cmd.clOrdId !== undefined) {
      this.cancelReject(cmd.account, cmd.orderId, cmd.clOrdId, CxlRejResponseTo.CANCEL, Reason.MALFORMED_COMMAND);
      return;
    }
    const o = this.findOwn(cmd.account, cmd.orderId, cmd.clOrdId);
    if (o === NIL) {
      this.cancelReject(cmd.account, cmd.orderId, cmd.clOrdId, CxlRejResponseTo.CANCEL, Reason.ORDER_NOT_FOUND);
      return;
    }
    this.cancelLive(o, Reason.CANCELED_BY_USER);
  }

  /** Cancels a resting or pending-stop order. */
  private cancelLive(o: number, reason: Reason): void {
    const s = this.orders;
    const inst = this.instruments[s.instrument[o]!]!;
    if (s.state[o] === SlotState.PENDING_STOP) {
      this.removeStop(inst, o);
      this.endOrder(o, ExecType.CANCELED, reason);
    } else {
      this.removeResting(inst, o, ExecType.CANCELED, reason, true);
    }
  }

  private amend(cmd: AmendCommand): void {
    const s = this.orders;
    if (cmd.orderId !== undefined && cmd.origClOrdId !== undefined)
      return this.rejectAmend(cmd, Reason.MALFORMED_COMMAND);
    // A kill-switched account has no orders left; say why rather than ORDER_NOT_FOUND.
    if (this.accounts.get(cmd.account)?.blocked === true) return this.rejectAmend(cmd, Reason.ACCOUNT_BLOCKED);
    const o = this.findOwn(cmd.account, cmd.orderId, cmd.origClOrdId);
    if (o === NIL) return this.rejectAmend(cmd, Reason.ORDER_NOT_FOUND);
    const inst = this.instruments[s.instrument[o]!]!;
    const cfg = inst.cfg;
    if (inst.halted) return this.rejectAmend(cmd, Reason.INSTRUMENT_HALTED);
    if (setsFixedAttribute(cmd)) return this.rejectAmend(cmd, Reason.AMEND_NOT_ALLOWED);
    const pending = s.state[o] === SlotState.PENDING_STOP;
    const ordType = s.ordType[o]!;
    const hasLimit = ordType === OrdType.LIMIT || ordType === OrdType.STOP_LIMIT;
    // Validate everything before changing anything.
    const account = this.accounts.get(cmd.account)!;
    if (cmd.clOrdId !== undefined) {
      if (!validClOrdId(cmd.clOrdId)) return this.rejectAmend(cmd, Reason.INVALID_CLIENT_ORDER_ID);
      const holder = account.clOrdIds.get(cmd.clOrdId);
      if (holder !== undefined && holder !== o) return this.rejectAmend(cmd, Reason.DUPLICATE_CLIENT_ORDER_ID);
    }
    let qty = s.orderQty[o]!;
    if (cmd.qty !== undefined) {
      qty = cmd.qty;
      if (!Number.isSafeInteger(qty) || qty <= 0) return this.rejectAmend(cmd, Reason.INVALID_QUANTITY);
      if (qty % cfg.lotSize !== 0) return this.rejectAmend(cmd, Reason.QUANTITY_NOT_LOT_MULTIPLE);
      if (qty > cfg.maxQty) return this.rejectAmend(cmd, Reason.QUANTITY_ABOVE_MAX);
      if (qty < cfg.minQty && qty > s.cumQty[o]!) return this.rejectAmend(cmd, Reason.QUANTITY_BELOW_MIN);
    }
    let price = s.price[o]!;
    if (cmd.price !== undefined) {
      if (!hasLimit) return this.rejectAmend(cmd, Reason.AMEND_NOT_ALLOWED);
      const r = this.validatePrice(inst, cmd.price);
      if (r !== Reason.NONE) return this.rejectAmend(cmd, r);
      price = cmd.price;
    }
    let stopPrice = s.stopPrice[o]!;
    if (cmd.stopPrice !== undefined) {
      if (!pending) return this.rejectAmend(cmd, Reason.AMEND_NOT_ALLOWED);
      const r = this.validateStopPrice(inst, s.side[o] as Side, cmd.stopPrice);
      if (r !== Reason.NONE) return this.rejectAmend(cmd, r);
      stopPrice = cmd.stopPrice;
    }
    if (cmd.qty === undefined && cmd.price === undefined && cmd.stopPrice === undefined && cmd.clOrdId === undefined) {
      return this.rejectAmend(cmd, Reason.MALFORMED_COMMAND);
    }
    const priceChanged = price !== s.price[o];
    if (!pending && priceChanged && s.postOnly[o] !== PostOnly.NONE) {
      const opp = s.side[o] === Side.BUY ? inst.asks : inst.bids;
      const best = opp.best();
      if (best !== NIL) {
        const bestPx = this.levels.price[best]!;
        if (s.side[o] === Side.BUY ? price >= bestPx : price <= bestPx) {
          if (s.postOnly[o] === PostOnly.REJECT) return this.rejectAmend(cmd, Reason.POST_ONLY_WOULD_CROSS);
          price = s.side[o] === Side.BUY ? bestPx - cfg.tickSize : bestPx + cfg.tickSize;
          if (price <= 0 || !this.inBand(inst, price)) return this.rejectAmend(cmd, Reason.PRICE_OUT_OF_BAND);
        }
      }
    }

    // Apply.
    const origClOrdId = s.clOrdId[o]!;
    if (cmd.clOrdId !== undefined && cmd.clOrdId !== origClOrdId) {
      account.clOrdIds.delete(origClOrdId);
      account.clOrdIds.set(cmd.clOrdId, o);
      s.clOrdId[o] = cmd.clOrdId;
    }
    if (pending) this.amendPendingStop(inst, o, qty, hasLimit ? price : 0, stopPrice, origClOrdId);
    else this.amendResting(inst, o, qty, price, priceChanged, origClOrdId);
  }

  /** Applies a validated amend to a pending stop: re-sorted among the stops with its new prices; it does not trade. */
  private amendPendingStop(
    inst: Instrument,
    o: number,
    qty: number,
    price: number,
    stopPrice: number,
    origClOrdId: string,
  ): void {
    const s = this.orders;
    this.removeStop(inst, o);
    s.orderQty[o] = qty;
    s.price[o] = price;
    s.stopPrice[o] = stopPrice;
    s.visibleQty[o] = s.displayQty[o]! > 0 ? s.displayQty[o]! : qty;
    this.insertStop(inst, o);
    this.emitExec(o, ExecType.REPLACED, Reason.NONE, 0, 0, 0, origClOrdId);
  }

  /**
   * Applies a validated amend to a resting order: down to its filled quantity it is done; a
   * smaller quantity at the same price keeps its time priority; a new price or a larger
   * quantity loses it, and the order may trade at once.
   */
  private amendResting(
    inst: Instrument,
    o: number,
    qty: number,
    price: number,
    priceChanged: boolean,
    origClOrdId: string,
  ): void {
    const s = this.orders;
    const lv = this.levels;
    const cum = s.cumQty[o]!;
    if (qty <= cum) {
      // Amended to (or below) what is already filled: the order is done.
      const l = s.level[o]!;
      const side = s.side[o] as Side;
      lv.unlink(s, o);
      s.orderQty[o] = cum;
      this.emitExec(o, ExecType.REPLACED, Reason.AMENDED_BELOW_FILLED, 0, 0, 0, origClOrdId);
      this.freeOrder(o);
      this.emitBook(inst, side, l);
      if (lv.count[l] === 0) (side === Side.BUY ? inst.bids : inst.asks).remove(l);
      return;
    }
    const l = s.level[o]!;
    const side = s.side[o] as Side;
    if (!priceChanged && qty <= s.orderQty[o]!) {
      // Quantity down at the same price keeps time priority.
      s.orderQty[o] = qty;
      const leaves = qty - cum;
      if (s.visibleQty[o]! > leaves) {
        lv.qty[l]! -= s.visibleQty[o]! - leaves;
        s.visibleQty[o] = leaves;
      }
      this.emitExec(o, ExecType.REPLACED, Reason.NONE, 0, 0, 0, origClOrdId);
      this.emitBook(inst, side, l);
      return;
    }
    // Price change or quantity up: loses priority, may trade at the new price.
    lv.unlink(s, o);
    this.emitBook(inst, side, l);
    if (lv.count[l] === 0) (side === Side.BUY ? inst.bids : inst.asks).remove(l);
    s.orderQty[o] = qty;
    s.price[o] = price;
    const leaves = qty - cum;
    s.visibleQty[o] = s.displayQty[o]! > 0 && s.displayQty[o]! < leaves ? s.displayQty[o]! : leaves;
    s.state[o] = SlotState.IN_FLIGHT;
    this.emitExec(o, ExecType.REPLACED, Reason.NONE, 0, 0, 0, origClOrdId);
    this.execute(inst, o);
    if (this.tradedInstrument !== null) this.runTriggers(this.tradedInstrument);
    this.checkUncrossed(inst);
  }

  private rejectAmend(cmd: AmendCommand, reason: Reason): void {
    this.cancelReject(cmd.account, cmd.orderId, cmd.origClOrdId, CxlRejResponseTo.AMEND, reason);
  }

  private massCancel(cmd: MassCancelCommand): void {
    const reject = (reason: Reason) =>
      this.cancelReject(cmd.account, undefined, undefined, CxlRejResponseTo.MASS_CANCEL, reason);
    if (!validAccount(cmd.account)) return reject(Reason.INVALID_ACCOUNT);
    let inst: Instrument | undefined;
    if (cmd.symbol !== undefined) {
      inst = typeof cmd.symbol === 'string' ? this.bySymbol.get(cmd.symbol) : undefined;
      if (inst === undefined) return reject(Reason.UNKNOWN_INSTRUMENT);
    }
    if (cmd.side !== undefined && cmd.side !== Side.BUY && cmd.side !== Side.SELL) return reject(Reason.INVALID_SIDE);
    const count = this.cancelAccountOrders(cmd.account, inst, cmd.side, Reason.MASS_CANCELED);
    const i = this.out.next(EventKind.MASS_CANCEL, this.seq, this.nowUs);
    this.out.account[i] = cmd.account;
    this.out.symbol[i] = inst?.cfg.symbol ?? '';
    this.out.side[i] = cmd.side ?? 0;
    this.out.aux[i] = count;
  }

  /** Cancels an account's live orders (optionally one instrument / side), in order-id order. */
  private cancelAccountOrders(
    accountId: number,
    inst: Instrument | undefined,
    side: Side | undefined,
    reason: Reason,
  ): number {
    const account = this.accounts.get(accountId);
    if (account === undefined) return 0;
    const s = this.orders;
    const victims: number[] = [];
    for (let o = account.head; o !== NIL; o = s.acctNext[o]!) {
      if (inst !== undefined && s.instrument[o] !== inst.index) continue;
      if (side !== undefined && s.side[o] !== side) continue;
      victims.push(o);
    }
    // The account list's order depends on history (a restored engine rebuilds it differently); order ids do not.
    victims.sort((a, b) => s.orderId[a]! - s.orderId[b]!);
    for (const o of victims) this.cancelLive(o, reason);
    return victims.length;
  }

  // -------------------------------------------------------------------------
  // Stops
  // -------------------------------------------------------------------------

  /** Orders pending stops so that the next to trigger is at the end of the array. */
  private stopBefore(a: number, b: number, buy: boolean): boolean {
    // true if a comes before b in the array (i.e. a triggers after b).
    const s = this.orders;
    const pa = s.stopPrice[a]!;
    const pb = s.stopPrice[b]!;
    if (pa !== pb) return buy ? pa > pb : pa < pb;
    return s.orderId[a]! > s.orderId[b]!;
  }

  private insertStop(inst: Instrument, o: number): void {
    const buy = this.orders.side[o] === Side.BUY;
    const arr = buy ? inst.buyStops : inst.sellStops;
    let lo = 0;
    let hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.stopBefore(arr[mid]!, o, buy)) lo = mid + 1;
      else hi = mid;
    }
    arr.splice(lo, 0, o);
  }

  private removeStop(inst: Instrument, o: number): void {
    const buy = this.orders.side[o] === Side.BUY;
    const arr = buy ? inst.buyStops : inst.sellStops;
    let lo = 0;
    let hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.stopBefore(arr[mid]!, o, buy)) lo = mid + 1;
      else hi = mid;
    }
    if (arr[lo] !== o) fail(`removeStop: order ${this.orders.orderId[o]} not in the stop list`);
    arr.splice(lo, 1);
  }

  /** Triggers stops on the instrument's last trade price until none is left to trigger. */
  private runTriggers(inst: Instrument): void {
    const s = this.orders;
    for (;;) {
      if (inst.halted || inst.lastTradePrice === 0) return;
      const last = inst.lastTradePrice;
      const b = inst.buyStops.length > 0 ? inst.buyStops[inst.buyStops.length - 1]! : NIL;
      const sl = inst.sellStops.length > 0 ? inst.sellStops[inst.sellStops.length - 1]! : NIL;
      const bOk = b !== NIL && last >= s.stopPrice[b]!;
      const sOk = sl !== NIL && last <= s.stopPrice[sl]!;
      if (!bOk && !sOk) return;
      let o: number;
      if (bOk && (!sOk || s.orderId[b]! < s.orderId[sl]!)) {
        o = b;
        inst.buyStops.pop();
      } else {
        o = sl;
        inst.sellStops.pop();
      }
      s.state[o] = SlotState.IN_FLIGHT;
      this.emitExec(o, ExecType.TRIGGERED, Reason.NONE, 0, 0, 0);
      this.execute(inst, o);
    }
  }

  // -------------------------------------------------------------------------
  // Time
  // -------------------------------------------------------------------------

  private runExpiries(): void {
    const s = this.orders;
    while (this.heapTs.length > 0 && this.heapTs[0]! <= this.nowUs) {
      const ts = this.heapTs[0]!;
      const id = this.heapId[0]!;
      this.heapPop();
      const o = this.idToSlot.get(id);
      if (o === NIL || s.expireTsUs[o] !== ts) continue; // gone since
      const reason = s.tif[o] === Tif.DAY ? Reason.EXPIRED_DAY : Reason.EXPIRED_GTD;
      const inst = this.instruments[s.instrument[o]!]!;
      if (s.state[o] === SlotState.PENDING_STOP) {
        this.removeStop(inst, o);
        this.endOrder(o, ExecType.EXPIRED, reason);
      } else {
        this.removeResting(inst, o, ExecType.EXPIRED, reason, true);
      }
    }
  }

  private heapLess(i: number, j: number): boolean {
    const a = this.heapTs[i]!;
    const b = this.heapTs[j]!;
    return a < b || (a === b && this.heapId[i]! < this.heapId[j]!);
  }

  private heapSwap(i: number, j: number): void {
    const t = this.heapTs[i]!;
    this.heapTs[i] = this.heapTs[j]!;
    this.heapTs[j] = t;
    const d = this.heapId[i]!;
    this.heapId[i] = this.heapId[j]!;
    this.heapId[j] = d;
  }

  private heapPush(ts: number, id: number): void {
    this.heapTs.push(ts);
    this.heapId.push(id);
    let i = this.heapTs.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.heapLess(i, p)) break;
      this.heapSwap(i, p);
      i = p;
    }
  }

  private heapPop(): void {
    const last = this.heapTs.length - 1;
    this.heapSwap(0, last);
    this.heapTs.pop();
    this.heapId.pop();
    let i = 0;
    const n = this.heapTs.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.heapLess(l, m)) m = l;
      if (r < n && this.heapLess(r, m)) m = r;
      if (m === i) return;
      this.heapSwap(i, m);
      i = m;
    }
  }

  // -------------------------------------------------------------------------
  // Admin
  // -------------------------------------------------------------------------

  private haltResume(symbol: string, halt: boolean, type: string): void {
    const inst = typeof symbol === 'string' ? this.bySymbol.get(symbol) : undefined;
    if (inst === undefined) return this.commandReject(this.seq, type, Reason.UNKNOWN_INSTRUMENT);
    inst.halted = halt;
    this.emitInstrumentStatus(inst);
  }

  private setReferencePrice(symbol: string, price: number): void {
    const inst = typeof symbol === 'string' ? this.bySymbol.get(symbol) : undefined;
    if (inst === undefined) return this.commandReject(this.seq, 'set_reference_price', Reason.UNKNOWN_INSTRUMENT);
    if (!Number.isSafeInteger(price) || price <= 0 || price > inst.cfg.maxPrice || price % inst.cfg.tickSize !== 0) {
      return this.commandReject(this.seq, 'set_reference_price', Reason.INVALID_PRICE);
    }
    inst.referencePrice = price;
    this.emitInstrumentStatus(inst);
  }

  private killSwitch(accountId: number, active: boolean): void {
    if (!validAccount(accountId)) return this.commandReject(this.seq, 'kill_switch', Reason.INVALID_ACCOUNT);
    if (typeof active !== 'boolean') return this.commandReject(this.seq, 'kill_switch', Reason.MALFORMED_COMMAND);
    const account = this.accountOrCreate(accountId);
    account.blocked = active;
    const count = active ? this.cancelAccountOrders(accountId, undefined, undefined, Reason.KILL_SWITCH) : 0;
    this.emitAccountStatus(account, count);
  }

  private setAccount(accountId: number, stp: Stp): void {
    if (!validAccount(accountId)) return this.commandReject(this.seq, 'set_account', Reason.INVALID_ACCOUNT);
    if (!STP_VALUES.includes(stp)) return this.commandReject(this.seq, 'set_account', Reason.INVALID_STP_MODE);
    const account = this.accountOrCreate(accountId);
    account.stp = stp;
    this.emitAccountStatus(account, 0);
  }

  // -------------------------------------------------------------------------
  // Events
  // -------------------------------------------------------------------------

  private emitExec(
    o: number,
    execType: ExecType,
    reason: Reason,
    lastQty: number,
    lastPx: number,
    tradeId: number,
    origClOrdId = '',
    liquidity: LiquidityInd | 0 = 0,
  ): void {
    const s = this.orders;
    const out = this.out;
    const i = out.next(EventKind.EXEC, this.seq, this.nowUs);
    const orderQty = s.orderQty[o]!;
    const cum = s.cumQty[o]!;
    // A canceled or expired order keeps what was ordered (FIX 4.4): leaves 0, cum ≤ orderQty.
    const ended = execType === ExecType.CANCELED || execType === ExecType.EXPIRED;
    const leaves = ended ? 0 : orderQty - cum;
    if (!(cum >= 0 && leaves >= 0 && (ended ? cum <= orderQty : cum + leaves === orderQty)))
      fail(`exec: order ${s.orderId[o]} cum ${cum} + leaves ${leaves} != orderQty ${orderQty}`);
    let status: OrdStatus;
    if (execType === ExecType.CANCELED) status = OrdStatus.CANCELED;
    else if (execType === ExecType.EXPIRED) status = OrdStatus.EXPIRED;
    else if (s.state[o] === SlotState.PENDING_STOP) status = OrdStatus.PENDING_TRIGGER;
    else if (leaves === 0) status = OrdStatus.FILLED;
    else status = cum === 0 ? OrdStatus.NEW : OrdStatus.PARTIALLY_FILLED;
    out.id[i] = ++this.execIdLast;
    out.orderId[i] = s.orderId[o]!;
    out.account[i] = s.account[o]!;
    out.side[i] = s.side[o]!;
    out.ordType[i] = s.ordType[o]!;
    out.tif[i] = s.tif[o]!;
    out.execType[i] = execType;
    out.ordStatus[i] = status;
    out.reason[i] = reason;
    out.price[i] = s.price[o]!;
    out.stopPrice[i] = s.stopPrice[o]!;
    out.qty[i] = orderQty;
    out.cumQty[i] = cum;
    out.leavesQty[i] = leaves;
    out.lastQty[i] = lastQty;
    out.lastPx[i] = lastPx;
    out.cumNotional[i] = s.cumNotional[o]!;
    out.cumNotionalHi[i] = s.cumNotionalHi[o]!;
    out.displayQty[i] = s.displayQty[o]!;
    out.aux[i] = tradeId;
    out.liquidity[i] = liquidity;
    out.symbol[i] = this.instruments[s.instrument[o]!]!.cfg.symbol;
    out.clOrdId[i] = s.clOrdId[o]!;
    out.origClOrdId[i] = origClOrdId;
  }

  private rejectNew(cmd: NewOrderCommand, reason: Reason): void {
    const out = this.out;
    const i = out.next(EventKind.EXEC, this.seq, this.nowUs);
    out.id[i] = ++this.execIdLast;
    out.orderId[i] = this.seq;
    out.account[i] = numberOr0(cmd.account);
    out.side[i] = cmd.side === Side.BUY || cmd.side === Side.SELL ? cmd.side : 0;
    out.ordType[i] = typeof cmd.ordType === 'number' && cmd.ordType >= 1 && cmd.ordType <= 4 ? cmd.ordType : 0;
    out.tif[i] = typeof cmd.tif === 'number' && cmd.tif >= Tif.GTC && cmd.tif <= Tif.DAY ? cmd.tif : 0;
    out.execType[i] = ExecType.REJECTED;
    out.ordStatus[i] = OrdStatus.REJECTED;
    out.reason[i] = reason;
    out.price[i] = numberOr0(cmd.price);
    out.stopPrice[i] = numberOr0(cmd.stopPrice);
    // FIX 4.4: a rejected order's OrderQty is what was asked for (0 if that was not a quantity at all).
    out.qty[i] = requestedQty(cmd.qty);
    out.cumQty[i] = 0;
    out.leavesQty[i] = 0;
    out.lastQty[i] = 0;
    out.lastPx[i] = 0;
    out.cumNotional[i] = 0;
    out.cumNotionalHi[i] = 0;
    out.displayQty[i] = numberOr0(cmd.displayQty);
    out.aux[i] = 0;
    out.liquidity[i] = 0;
    out.symbol[i] = typeof cmd.symbol === 'string' ? cmd.symbol : '';
    out.clOrdId[i] = typeof cmd.clOrdId === 'string' ? cmd.clOrdId : '';
    out.origClOrdId[i] = '';
  }

  private emitTrade(inst: Instrument, tradeId: number, px: number, qty: number, taker: number, maker: number): void {
    const s = this.orders;
    const out = this.out;
    const i = out.next(EventKind.TRADE, this.seq, this.nowUs);
    out.id[i] = tradeId;
    out.symbol[i] = inst.cfg.symbol;
    out.price[i] = px;
    out.qty[i] = qty;
    out.side[i] = s.side[taker]!;
    out.orderId[i] = s.orderId[taker]!;
    out.account[i] = s.account[taker]!;
    out.otherOrderId[i] = s.orderId[maker]!;
    out.otherAccount[i] = s.account[maker]!;
  }

  private emitBook(inst: Instrument, side: Side, l: number): void {
    const out = this.out;
    const i = out.next(EventKind.BOOK, this.seq, this.nowUs);
    if (!(this.levels.qty[l]! >= 0)) fail(`book: negative quantity at ${inst.cfg.symbol} ${this.levels.price[l]}`);
    out.symbol[i] = inst.cfg.symbol;
    out.side[i] = side;
    out.price[i] = this.levels.price[l]!;
    out.qty[i] = this.levels.qty[l]!;
    out.aux[i] = this.levels.count[l]!;
  }

  private cancelReject(
    account: number,
    orderId: number | undefined,
    clOrdId: string | undefined,
    responseTo: CxlRejResponseTo,
    reason: Reason,
  ): void {
    const out = this.out;
    const i = out.next(EventKind.CANCEL_REJECT, this.seq, this.nowUs);
    out.account[i] = numberOr0(account);
    out.orderId[i] = numberOr0(orderId);
    out.clOrdId[i] = typeof clOrdId === 'string' ? clOrdId : '';
    out.aux[i] = responseTo;
    out.reason[i] = reason;
  }

  private commandReject(seq: number, type: string, reason: Reason): void {
    const i = this.out.next(EventKind.COMMAND_REJECT, seq, this.nowUs);
    this.out.symbol[i] = type.length > 32 ? type.slice(0, 32) : type;
    this.out.reason[i] = reason;
  }

  private emitInstrumentStatus(inst: Instrument): void {
    const i = this.out.next(EventKind.INSTRUMENT_STATUS, this.seq, this.nowUs);
    this.out.symbol[i] = inst.cfg.symbol;
    this.out.aux[i] = inst.halted ? InstrumentStatus.HALTED : InstrumentStatus.TRADING;
    this.out.price[i] = inst.referencePrice;
  }

  private emitAccountStatus(account: Account, canceledCount: number): void {
    const i = this.out.next(EventKind.ACCOUNT_STATUS, this.seq, this.nowUs);
    this.out.account[i] = account.id;
    this.out.flag[i] = account.blocked ? 1 : 0;
    this.out.ordType[i] = account.stp;
    this.out.aux[i] = canceledCount;
  }

  /** A book at rest is never crossed. */
  private checkUncrossed(inst: Instrument): void {
    const b = inst.bids.best();
    const a = inst.asks.best();
    if (b !== NIL && a !== NIL) {
      if (!(this.levels.price[b]! < this.levels.price[a]!))
        fail(`crossed book on ${inst.cfg.symbol}: bid ${this.levels.price[b]} >= ask ${this.levels.price[a]}`);
    }
  }

  // -------------------------------------------------------------------------
  // Read-only views (tests, tools, feed snapshots)
  // -------------------------------------------------------------------------

  /** Resting orders of one side in priority order (best price first, then time). */
  bookOrders(
    symbol: string,
    side: Side,
  ): { orderId: number; account: number; price: number; leavesQty: number; visibleQty: number }[] {
    const inst = this.bySymbol.get(symbol);
    if (inst === undefined) return [];
    const s = this.orders;
    const ladder = side === Side.BUY ? inst.bids : inst.asks;
    const result = [];
    for (let k = ladder.size - 1; k >= 0; k--) {
      const l = ladder.ids[k]!;
      for (let o = this.levels.head[l]!; o !== NIL; o = s.next[o]!) {
        result.push({
          orderId: s.orderId[o]!,
          account: s.account[o]!,
          price: s.price[o]!,
          leavesQty: s.leaves(o),
          visibleQty: s.visibleQty[o]!,
        });
      }
    }
    return result;
  }

  /** Price levels of one side, best first (displayed aggregate quantity). */
  bookLevels(symbol: string, side: Side): { price: number; qty: number; orderCount: number }[] {
    const inst = this.bySymbol.get(symbol);
    if (inst === undefined) return [];
    const ladder = side === Side.BUY ? inst.bids : inst.asks;
    const result = [];
    for (let k = ladder.size - 1; k >= 0; k--) {
      const l = ladder.ids[k]!;
      result.push({ price: this.levels.price[l]!, qty: this.levels.qty[l]!, orderCount: this.levels.count[l]! });
    }
    return result;
  }

  /** A live order (resting or pending stop), or undefined. */
  order(orderId: number):
    | {
        orderId: number;
        account: number;
        clOrdId: string;
        symbol: string;
        side: Side;
        ordType: OrdType;
        tif: Tif;
        price: number;
        stopPrice: number;
        orderQty: number;
        cumQty: number;
        leavesQty: number;
        visibleQty: number;
        pending: boolean;
      }
    | undefined {
    const o = Number.isSafeInteger(orderId) && orderId >= 0 ? this.idToSlot.get(orderId) : NIL;
    if (o === NIL) return undefined;
    const s = this.orders;
    return {
      orderId,
      account: s.account[o]!,
      clOrdId: s.clOrdId[o]!,
      symbol: this.instruments[s.instrument[o]!]!.cfg.symbol,
      side: s.side[o] as Side,
      ordType: s.ordType[o] as OrdType,
      tif: s.tif[o] as Tif,
      price: s.price[o]!,
      stopPrice: s.stopPrice[o]!,
      orderQty: s.orderQty[o]!,
      cumQty: s.cumQty[o]!,
      leavesQty: s.leaves(o),
      visibleQty: s.visibleQty[o]!,
      pending: s.state[o] === SlotState.PENDING_STOP,
    };
  }

  /** The id of the account's live order with this client order id (unique among its live orders), or undefined. */
  liveOrderIdOf(account: number, clOrdId: string): number | undefined {
    const o = this.accounts.get(account)?.clOrdIds.get(clOrdId);
    return o === undefined ? undefined : this.orders.orderId[o];
  }

  /** Live orders (resting plus pending stops). */
  get liveOrderCount(): number {
    return this.orders.used;
  }

  /** Used by snapshot restore: re-inserts a live order read from a snapshot. */
  restoreOrder(fields: RestoredOrder): void {
    const s = this.orders;
    const inst = this.instruments[fields.instrument]!;
    const o = s.alloc();
    if (o === NIL) fail('restore: more orders than orderCountMax');
    s.orderId[o] = fields.orderId;
    s.account[o] = fields.account;
    s.instrument[o] = fields.instrument;
    s.side[o] = fields.side;
    s.ordType[o] = fields.ordType;
    s.tif[o] = fields.tif;
    s.postOnly[o] = fields.postOnly;
    s.stp[o] = fields.stp;
    s.price[o] = fields.price;
    s.stopPrice[o] = fields.stopPrice;
    s.orderQty[o] = fields.orderQty;
    s.cumQty[o] = fields.cumQty;
    s.cumNotional[o] = fields.cumNotional;
    s.cumNotionalHi[o] = fields.cumNotionalHi;
    s.displayQty[o] = fields.displayQty;
    s.visibleQty[o] = fields.visibleQty;
    s.expireTsUs[o] = fields.expireTsUs;
    s.clOrdId[o] = fields.clOrdId;
    const account = this.accountOrCreate(fields.account);
    if (account.clOrdIds.has(fields.clOrdId)) fail(`restore: duplicate clOrdId ${fields.clOrdId}`);
    if (this.idToSlot.has(fields.orderId)) fail(`restore: duplicate order id ${fields.orderId}`);
    account.clOrdIds.set(fields.clOrdId, o);
    this.idToSlot.set(fields.orderId, o);
    this.linkAccount(account, o);
    if (fields.expireTsUs > 0) this.heapPush(fields.expireTsUs, fields.orderId);
    if (fields.pending) {
      s.state[o] = SlotState.PENDING_STOP;
      (fields.side === Side.BUY ? inst.buyStops : inst.sellStops).push(o); // written in array order
    } else {
      s.state[o] = SlotState.RESTING;
      const ladder = fields.side === Side.BUY ? inst.bids : inst.asks;
      this.levels.append(s, ladder.getOrCreate(fields.price), o);
    }
  }
}

export interface RestoredOrder {
  orderId: number;
  account: number;
  instrument: number;
  side: Side;
  ordType: OrdType;
  tif: Tif;
  postOnly: PostOnly;
  stp: Stp;
  price: number;
  stopPrice: number;
  orderQty: number;
  cumQty: number;
  /** Low and high limb (notional.ts). */
  cumNotional: number;
  cumNotionalHi: number;
  displayQty: number;
  visibleQty: number;
  expireTsUs: number;
  clOrdId: string;
  pending: boolean;
}

/** A client order id: 1 to CLORDID_LENGTH_MAX characters, each from CLORDID_CHAR_MIN to CLORDID_CHAR_MAX (0x21–0x7E). */
export function validClOrdId(clOrdId: unknown): clOrdId is string {
  if (typeof clOrdId !== 'string' || clOrdId.length === 0 || clOrdId.length > CLORDID_LENGTH_MAX) return false;
  for (let i = 0; i < clOrdId.length; i++) {
    const c = clOrdId.charCodeAt(i);
    if (c < CLORDID_CHAR_MIN || c > CLORDID_CHAR_MAX) return false;
  }
  return true;
}

/**
 * Whether an amend carries an order attribute an amend cannot change (side, type, time in force,
 * expiry, post-only, display quantity, STP mode). Such an amend is refused rather than applied
 * without it: the client would otherwise believe the attribute had changed.
 */
function setsFixedAttribute(cmd: AmendCommand): boolean {
  const c = cmd as AmendCommand &
    Partial<Pick<NewOrderCommand, 'side' | 'ordType' | 'tif' | 'expireTsUs' | 'postOnly' | 'displayQty' | 'stp'>>;
  return (
    c.side !== undefined ||
    c.ordType !== undefined ||
    c.tif !== undefined ||
    c.expireTsUs !== undefined ||
    c.postOnly !== undefined ||
    c.displayQty !== undefined ||
    c.stp !== undefined
  );
}

function validAccount(account: unknown): account is number {
  return typeof account === 'number' && Number.isSafeInteger(account) && account >= 1 && account <= ACCOUNT_ID_MAX;
}

/** The quantity a rejected order asked for, if it is one (a positive safe integer); else 0. */
function requestedQty(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0;
}

function numberOr0(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
