// The market-data projector: a deterministic, I/O-free function from one shard's committed
// engine events (in commit order) to channel messages. No clock, no sockets: time comes from
// the events (log time), and the host decides when a batch ends (flush(), once per applied
// log entry) and when a throttle interval ends (flushThrottled()).
//
// Per instrument it keeps
//   - the L2 book, from `book` events (absolute level quantities, as the engine emits them);
//   - the L3 book (every resting order's displayed quantity, in priority order), derived from
//     execution reports: an order that rests → add; an in-place amend down or an STP
//     decrement → modify; a fill of a resting (maker) order → execute; cancel, expiry, an
//     amend that moves it → remove (and add again where it rests); an iceberg refresh → add
//     at the tail. Account ids and client order ids never leave the projector;
//   - the recent trades, the open 1 s / 1 min candles (buckets of the trade's log time), the
//     trading status;
//   - a sequence number per channel, dense: every message of a channel is the previous + 1.
//
// One flush() yields at most one message per (instrument, channel): the changes of one log
// entry, so a message is a consistent state (a client never sees half a command).
//
// How an order's taker phase is told from its resting phase: an accepted order (exec NEW), a
// triggered stop (TRIGGERED) or an amend that loses priority (REPLACED with a new price or a
// larger quantity) is "in flight" while it matches; its own fills are taker fills. The engine
// then either ends it (FILLED / EXPIRED report) or rests it, which it reports with a `book`
// event on the order's own side and price; during matching, book events are only on the
// opposite side (STP removals emit none), so that event is the add. The engine runs one
// order at a time, so one in-flight order suffices.

import type { Engine } from '../engine/engine.js';
import type { EventBuffer } from '../engine/event-buffer.js';
import { EventKind, ExecType, InstrumentStatus, OrdStatus, Reason, Side } from '../engine/types.js';
import { BookSide, bookChecksum } from './book-side.js';
import {
  CANDLE_INTERVALS,
  Channel,
  type Candle,
  type CandlesMessage,
  type ChannelSeq,
  type DataMessage,
  type L1Message,
  type L2Message,
  type L3Event,
  type L3Message,
  type Level,
  type OrderEntry,
  type SideName,
  type StatusMessage,
  type Trade,
  type TradesMessage,
} from './types.js';

/** Recent trades kept per instrument for the trades snapshot. */
export const TRADES_SNAPSHOT_COUNT = 50;

const sideName = (side: number): SideName => (side === Side.BUY ? 'BUY' : 'SELL');

/** A resting order in the L3 book: an intrusive FIFO list per level. */
interface L3Order {
  orderId: number;
  side: Side;
  price: number;
  /** Displayed quantity. */
  qty: number;
  /** Total remaining (hidden iceberg quantity included): tells an in-place amend from a move. */
  leaves: number;
  level: L3Level | undefined;
  prev: L3Order | undefined;
  next: L3Order | undefined;
}

interface L3Level {
  price: number;
  head: L3Order | undefined;
  tail: L3Order | undefined;
}

interface InFlight {
  view: InstrumentView;
  orderId: number;
  side: Side;
  price: number;
  leaves: number;
  displayQty: number;
}

interface CandleState extends Candle {
  /** Changed since the last flush. */
  dirty: boolean;
}

class InstrumentView {
  readonly bids = new BookSide(true);
  readonly asks = new BookSide(false);
  readonly orders = new Map<number, L3Order>();
  readonly bidLevels = new Map<number, L3Level>();
  readonly askLevels = new Map<number, L3Level>();
  status: 'TRADING' | 'HALTED' = 'TRADING';
  referencePrice = 0;
  /** Log time of the newest event seen for this instrument. */
  tsUs = 0;

  // Sequence numbers: the last one used on each channel.
  seqL2 = 0;
  seqL2Throttled = 0;
  seqL1 = 0;
  seqL3 = 0;
  seqTrades = 0;
  seqCandles = 0;
  seqStatus = 0;

  // Pending for the next flush.
  readonly l2DirtyBids = new Set<number>();
  readonly l2DirtyAsks = new Set<number>();
  readonly throttledDirtyBids = new Set<number>();
  readonly throttledDirtyAsks = new Set<number>();
  l3Events: L3Event[] = [];
  trades: Trade[] = [];
  readonly recentTrades: Trade[] = [];
  readonly candles: (CandleState | undefined)[] = CANDLE_INTERVALS.map(() => undefined);
  /** Candles closed since the last flush (final values). */
  closedCandles: Candle[] = [];
  statusDirty = false;
  inDirtyList = false;
  inThrottledList = false;

  // The l1 last published.
  l1BidPx = 0;
  l1BidQty = 0;
  l1AskPx = 0;
  l1AskQty = 0;

  constructor(readonly symbol: string) {}
}

export interface ProjectorStats {
  eventsApplied: number;
  messagesEmitted: number;
  /** Inconsistencies repaired (an order missing from the L3 book, an order still in flight at a flush). Always 0 unless the engine's event contract changed. */
  anomalies: number;
  /**
   * Quantities above 2^53 − 1 seen, where integer sums stop being exact (feed/README.md
   * "Exactness"): a candle's volume (summed here) past it — on a wide instrument, trades of
   * ~90,000 maximum-size orders in one candle — or an l2 level's qty, which the engine never
   * sends (it keeps every level's total ≤ 2^53 − 1: LEVEL_QUANTITY_LIMIT).
   */
  unsafeSums: number;
  resets: number;
}

export class MarketDataProjector {
  private readonly views = new Map<string, InstrumentView>();
  private readonly viewList: InstrumentView[] = [];
  private dirty: InstrumentView[] = [];
  private throttledDirty: InstrumentView[] = [];
  private inFlight: InFlight | undefined;
  /** Newest log time seen (events or advanceTime). */
  private nowUs = 0;
  /** Earliest end of an open candle: log time before it closes nothing, so most events skip the scan. */
  private candleCloseDueUs = Number.MAX_SAFE_INTEGER;
  /** Has held state (events or a reset): a later reset must move the seqs on. */
  private used = false;
  readonly stats: ProjectorStats = { eventsApplied: 0, messagesEmitted: 0, anomalies: 0, unsafeSums: 0, resets: 0 };

  constructor(symbols: readonly string[]) {
    for (const s of symbols) {
      if (this.views.has(s)) throw new Error(`projector: symbol ${s} twice`);
      const v = new InstrumentView(s);
      this.views.set(s, v);
      this.viewList.push(v);
    }
  }

  /** A projector holding the engine's current book (a feed starting on a running or recovered replica). */
  static fromEngine(engine: Engine): MarketDataProjector {
    const p = new MarketDataProjector(engine.config.instruments.map((i) => i.symbol));
    p.resetFromEngine(engine);
    return p;
  }

  get symbols(): string[] {
    return this.viewList.map((v) => v.symbol);
  }

  hasSymbol(symbol: string): boolean {
    return this.views.has(symbol);
  }

  /**
   * Replaces the book state with the engine's (at start, after a snapshot restore). Unless
   * this is the projector's first state, every sequence number moves on by one, so that a
   * client that kept its old state sees a gap; the host also tells subscribers to resync.
   * Trades and candles are history the engine does not hold: they are kept.
   */
  resetFromEngine(engine: Engine): void {
    const bump = this.used ? 1 : 0;
    this.used = true;
    this.stats.resets++;
    this.inFlight = undefined;
    for (const v of this.viewList) v.inDirtyList = v.inThrottledList = false;
    this.dirty = [];
    this.throttledDirty = [];
    for (const inst of engine.instruments) {
      const v = this.views.get(inst.cfg.symbol);
      if (v === undefined) continue;
      v.bids.clear();
      v.asks.clear();
      v.orders.clear();
      v.bidLevels.clear();
      v.askLevels.clear();
      for (const side of [Side.BUY, Side.SELL] as const) {
        const book = side === Side.BUY ? v.bids : v.asks;
        for (const l of engine.bookLevels(inst.cfg.symbol, side)) book.set(l.price, l.qty, l.orderCount);
        for (const o of engine.bookOrders(inst.cfg.symbol, side))
          this.appendOrder(v, {
            orderId: o.orderId,
            side,
            price: o.price,
            qty: o.visibleQty,
            leaves: o.leavesQty,
            level: undefined,
            prev: undefined,
            next: undefined,
          });
      }
      v.status = inst.halted ? 'HALTED' : 'TRADING';
      v.referencePrice = inst.referencePrice;
      v.l2DirtyBids.clear();
      v.l2DirtyAsks.clear();
      v.throttledDirtyBids.clear();
      v.throttledDirtyAsks.clear();
      v.l3Events = [];
      v.trades = [];
      v.closedCandles = [];
      v.statusDirty = false;
      v.seqL2 += bump;
      v.seqL2Throttled += bump;
      v.seqL1 += bump;
      v.seqL3 += bump;
      v.seqTrades += bump;
      v.seqCandles += bump;
      v.seqStatus += bump;
      this.rememberL1(v);
    }
    this.advanceTime(engine.nowUs);
  }

  // -------------------------------------------------------------------------------------------
  // Input
  // -------------------------------------------------------------------------------------------

  /** Consumes rows [from, to) of an engine event buffer (one shard, commit order). */
  apply(buf: EventBuffer, from: number, to: number): void {
    if (to > from) this.used = true;
    for (let i = from; i < to; i++) {
      const kind = buf.kind[i];
      if (
        kind !== EventKind.BOOK &&
        kind !== EventKind.EXEC &&
        kind !== EventKind.TRADE &&
        kind !== EventKind.INSTRUMENT_STATUS
      )
        continue;
      const v = this.views.get(buf.symbol[i]!);
      if (v === undefined) continue; // a rejected order's unknown symbol
      const ts = buf.tsUs[i]!;
      if (ts > v.tsUs) v.tsUs = ts;
      if (ts > this.nowUs) this.advanceTime(ts);
      this.stats.eventsApplied++;
      switch (kind) {
        case EventKind.BOOK:
          this.onBook(v, buf.side[i] as Side, buf.price[i]!, buf.qty[i]!, buf.aux[i]!);
          break;
        case EventKind.EXEC:
          this.onExec(v, buf, i);
          break;
        case EventKind.TRADE:
          this.onTrade(v, buf.id[i]!, buf.price[i]!, buf.qty[i]!, buf.side[i]!, ts);
          break;
        case EventKind.INSTRUMENT_STATUS:
          v.status = buf.aux[i] === InstrumentStatus.HALTED ? 'HALTED' : 'TRADING';
          v.referencePrice = buf.price[i]!;
          v.statusDirty = true;
          this.markDirty(v);
          break;
      }
    }
  }

  /** Log time moved on without events (the leader's time ticks): closes the candles that ended. */
  advanceTime(tsUs: number): void {
    if (tsUs <= this.nowUs) return;
    this.nowUs = tsUs;
    if (tsUs >= this.candleCloseDueUs) this.closeCandlesBefore(tsUs);
  }

  private markDirty(v: InstrumentView): void {
    if (!v.inDirtyList) {
      v.inDirtyList = true;
      this.dirty.push(v);
    }
  }

  private onBook(v: InstrumentView, side: Side, price: number, qty: number, count: number): void {
    if (qty > Number.MAX_SAFE_INTEGER) this.stats.unsafeSums++;
    (side === Side.BUY ? v.bids : v.asks).set(price, qty, count);
    (side === Side.BUY ? v.l2DirtyBids : v.l2DirtyAsks).add(price);
    (side === Side.BUY ? v.throttledDirtyBids : v.throttledDirtyAsks).add(price);
    this.markDirty(v);
    if (!v.inThrottledList) {
      v.inThrottledList = true;
      this.throttledDirty.push(v);
    }
    const f = this.inFlight;
    if (f !== undefined && f.view === v && f.side === side && f.price === price) {
      // The in-flight order rests (engine rest(): its level's book event).
      this.inFlight = undefined;
      const d = f.displayQty;
      const visible = d > 0 && d < f.leaves ? d : f.leaves;
      this.appendOrder(v, {
        orderId: f.orderId,
        side,
        price,
        qty: visible,
        leaves: f.leaves,
        level: undefined,
        prev: undefined,
        next: undefined,
      });
      v.l3Events.push({ op: 'add', order_id: f.orderId, side: sideName(side), price, qty: visible });
    }
  }

  private onExec(v: InstrumentView, buf: EventBuffer, i: number): void {
    const orderId = buf.orderId[i]!;
    const execType = buf.execType[i]!;
    const leaves = buf.leavesQty[i]!;
    const o = v.orders.get(orderId);
    switch (execType) {
      case ExecType.NEW:
        if (buf.ordStatus[i] === OrdStatus.PENDING_TRIGGER) return; // a stop: not in the book
        this.startInFlight(v, buf, i);
        return;
      case ExecType.TRIGGERED:
        this.startInFlight(v, buf, i);
        return;
      case ExecType.TRADE:
        if (o !== undefined) {
          const fill = buf.lastQty[i]!;
          const remaining = leaves === 0 ? 0 : o.qty - fill;
          o.leaves = leaves;
          o.qty = remaining;
          v.l3Events.push({
            op: 'execute',
            order_id: orderId,
            price: o.price,
            qty: fill,
            remaining,
            trade_id: buf.aux[i]!,
          });
          if (leaves === 0) this.removeOrder(v, o);
          else if (remaining === 0) this.unlink(o); // an iceberg slice used up: RESTATED (refresh) follows
          this.markDirty(v);
        } else if (this.inFlight?.orderId === orderId) {
          this.inFlight.leaves = leaves;
          if (leaves === 0) this.inFlight = undefined;
        }
        return;
      case ExecType.RESTATED:
        if (o !== undefined) {
          o.leaves = leaves;
          if (buf.reason[i] === Reason.ICEBERG_REFRESH) {
            const d = buf.displayQty[i]!;
            o.qty = d > 0 && d < leaves ? d : leaves;
            if (o.level !== undefined) this.unlink(o);
            this.appendOrder(v, o);
            v.l3Events.push({ op: 'add', order_id: orderId, side: sideName(o.side), price: o.price, qty: o.qty });
          } else if (o.qty > leaves) {
            // STP decrement: shows at most what is left, keeps its place.
            o.qty = leaves;
            v.l3Events.push({ op: 'modify', order_id: orderId, qty: leaves });
          }
          this.markDirty(v);
        } else if (this.inFlight?.orderId === orderId) {
          this.inFlight.leaves = leaves;
        }
        return;
      case ExecType.CANCELED:
      case ExecType.EXPIRED:
        if (o !== undefined) {
          this.removeOrder(v, o);
          v.l3Events.push({ op: 'remove', order_id: orderId });
          this.markDirty(v);
        } else if (this.inFlight?.orderId === orderId) {
          this.inFlight = undefined;
        }
        return;
      case ExecType.REPLACED: {
        if (o === undefined) return; // a pending stop
        const price = buf.price[i]!;
        if (leaves > 0 && price === o.price && leaves <= o.leaves) {
          // Quantity down at the same price (or a new clOrdId only): keeps priority.
          o.leaves = leaves;
          if (o.qty > leaves) {
            o.qty = leaves;
            v.l3Events.push({ op: 'modify', order_id: orderId, qty: leaves });
            this.markDirty(v);
          }
          return;
        }
        this.removeOrder(v, o);
        v.l3Events.push({ op: 'remove', order_id: orderId });
        this.markDirty(v);
        // Price change or quantity up: it loses priority and matches again (unless amended to ≤ filled).
        if (leaves > 0) this.startInFlight(v, buf, i);
        return;
      }
      default:
        return; // REJECTED: never in the book
    }
  }

  private startInFlight(v: InstrumentView, buf: EventBuffer, i: number): void {
    if (this.inFlight !== undefined) this.stats.anomalies++;
    this.inFlight = {
      view: v,
      orderId: buf.orderId[i]!,
      side: buf.side[i] as Side,
      price: buf.price[i]!,
      leaves: buf.leavesQty[i]!,
      displayQty: buf.displayQty[i]!,
    };
  }

  private onTrade(v: InstrumentView, tradeId: number, price: number, qty: number, aggressor: number, ts: number): void {
    const t: Trade = { trade_id: tradeId, price, qty, side: sideName(aggressor), ts_us: ts };
    v.trades.push(t);
    v.recentTrades.push(t);
    if (v.recentTrades.length > TRADES_SNAPSHOT_COUNT) v.recentTrades.shift();
    for (let k = 0; k < CANDLE_INTERVALS.length; k++) {
      const len = CANDLE_INTERVALS[k]!.us;
      const start = ts - (ts % len);
      let c = v.candles[k];
      if (c !== undefined && c.start_us !== start) {
        if (!c.closed) this.closeCandle(v, c);
        c = undefined;
      }
      if (c === undefined) {
        v.candles[k] = {
          interval: CANDLE_INTERVALS[k]!.name,
          start_us: start,
          open: price,
          high: price,
          low: price,
          close: price,
          volume: qty,
          trade_count: 1,
          closed: false,
          dirty: true,
        };
        if (start + len < this.candleCloseDueUs) this.candleCloseDueUs = start + len;
      } else {
        if (price > c.high) c.high = price;
        if (price < c.low) c.low = price;
        c.close = price;
        c.volume += qty;
        if (c.volume > Number.MAX_SAFE_INTEGER) this.stats.unsafeSums++;
        c.trade_count++;
        c.dirty = true;
      }
    }
    this.markDirty(v);
  }

  private closeCandle(v: InstrumentView, c: CandleState): void {
    c.closed = true;
    c.dirty = false;
    v.closedCandles.push(candleOf(c));
    this.markDirty(v);
  }

  private closeCandlesBefore(ts: number): void {
    let due = Number.MAX_SAFE_INTEGER;
    for (const v of this.viewList) {
      for (let k = 0; k < CANDLE_INTERVALS.length; k++) {
        const c = v.candles[k];
        if (c === undefined || c.closed) continue;
        const end = c.start_us + CANDLE_INTERVALS[k]!.us;
        if (end <= ts) this.closeCandle(v, c);
        else if (end < due) due = end;
      }
    }
    this.candleCloseDueUs = due;
  }

  // -------------------------------------------------------------------------------------------
  // L3 book
  // -------------------------------------------------------------------------------------------

  private appendOrder(v: InstrumentView, o: L3Order): void {
    const levels = o.side === Side.BUY ? v.bidLevels : v.askLevels;
    let l = levels.get(o.price);
    if (l === undefined) {
      l = { price: o.price, head: undefined, tail: undefined };
      levels.set(o.price, l);
    }
    o.level = l;
    o.next = undefined;
    o.prev = l.tail;
    if (l.tail !== undefined) l.tail.next = o;
    else l.head = o;
    l.tail = o;
    v.orders.set(o.orderId, o);
  }

  private unlink(o: L3Order): void {
    const l = o.level;
    if (l === undefined) return;
    if (o.prev !== undefined) o.prev.next = o.next;
    else l.head = o.next;
    if (o.next !== undefined) o.next.prev = o.prev;
    else l.tail = o.prev;
    o.prev = o.next = o.level = undefined;
  }

  private removeOrder(v: InstrumentView, o: L3Order): void {
    const l = o.level;
    this.unlink(o);
    v.orders.delete(o.orderId);
    if (l !== undefined && l.head === undefined) (o.side === Side.BUY ? v.bidLevels : v.askLevels).delete(l.price);
  }

  // -------------------------------------------------------------------------------------------
  // Output
  // -------------------------------------------------------------------------------------------

  /**
   * Ends a batch (one applied log entry): emits, per instrument that changed, at most one
   * message per channel, each with the next seq of its channel.
   */
  flush(emit: (m: DataMessage) => void): void {
    if (this.inFlight !== undefined) {
      // Cannot happen with the engine's event contract (an order rests or ends within its command).
      this.stats.anomalies++;
      this.inFlight = undefined;
    }
    if (this.dirty.length === 0) return;
    const list = this.dirty;
    this.dirty = [];
    for (const v of list) {
      v.inDirtyList = false;
      const ts = v.tsUs;
      if (v.l3Events.length > 0) {
        const m: L3Message = {
          channel: Channel.L3,
          type: 'update',
          symbol: v.symbol,
          seq: ++v.seqL3,
          ts_us: ts,
          events: v.l3Events,
        };
        v.l3Events = [];
        this.emit(emit, m);
      }
      if (v.l2DirtyBids.size > 0 || v.l2DirtyAsks.size > 0) {
        this.emit(emit, this.l2Update(v, Channel.L2, ++v.seqL2, v.l2DirtyBids, v.l2DirtyAsks));
        const bp = v.bids.priceAt(0) ?? 0;
        const ap = v.asks.priceAt(0) ?? 0;
        const bq = bp === 0 ? 0 : v.bids.qtyAt(bp);
        const aq = ap === 0 ? 0 : v.asks.qtyAt(ap);
        if (bp !== v.l1BidPx || bq !== v.l1BidQty || ap !== v.l1AskPx || aq !== v.l1AskQty) {
          v.seqL1++;
          this.rememberL1(v);
          this.emit(emit, this.l1Message(v, 'update'));
        }
      }
      if (v.trades.length > 0) {
        const m: TradesMessage = {
          channel: Channel.TRADES,
          type: 'update',
          symbol: v.symbol,
          seq: ++v.seqTrades,
          ts_us: ts,
          trades: v.trades,
        };
        v.trades = [];
        this.emit(emit, m);
      }
      let candles: Candle[] | undefined;
      if (v.closedCandles.length > 0) {
        candles = v.closedCandles;
        v.closedCandles = [];
      }
      for (const c of v.candles) {
        if (c?.dirty) {
          c.dirty = false;
          (candles ??= []).push(candleOf(c));
        }
      }
      if (candles !== undefined)
        this.emit(emit, {
          channel: Channel.CANDLES,
          type: 'update',
          symbol: v.symbol,
          seq: ++v.seqCandles,
          ts_us: ts,
          candles,
        } satisfies CandlesMessage);
      if (v.statusDirty) {
        v.statusDirty = false;
        v.seqStatus++;
        this.emit(emit, this.statusMessage(v, 'update'));
      }
    }
  }

  /** Ends a throttle interval: one conflated l2.throttled update per instrument whose book changed since the last one. */
  flushThrottled(emit: (m: DataMessage) => void): void {
    if (this.throttledDirty.length === 0) return;
    const list = this.throttledDirty;
    this.throttledDirty = [];
    for (const v of list) {
      v.inThrottledList = false;
      if (v.throttledDirtyBids.size === 0 && v.throttledDirtyAsks.size === 0) continue;
      this.emit(
        emit,
        this.l2Update(v, Channel.L2_THROTTLED, ++v.seqL2Throttled, v.throttledDirtyBids, v.throttledDirtyAsks),
      );
    }
  }

  private emit(emit: (m: DataMessage) => void, m: DataMessage): void {
    this.stats.messagesEmitted++;
    emit(m);
  }

  private l2Update(
    v: InstrumentView,
    channel: 'l2' | 'l2.throttled',
    seq: number,
    dirtyBids: Set<number>,
    dirtyAsks: Set<number>,
  ): L2Message {
    const bids: Level[] = [];
    const asks: Level[] = [];
    for (const p of dirtyBids) bids.push([p, v.bids.qtyAt(p), v.bids.countAt(p)]);
    for (const p of dirtyAsks) asks.push([p, v.asks.qtyAt(p), v.asks.countAt(p)]);
    dirtyBids.clear();
    dirtyAsks.clear();
    // Best first, as in snapshots (the order carries no meaning for an update; it reads better).
    bids.sort((a, b) => b[0] - a[0]);
    asks.sort((a, b) => a[0] - b[0]);
    return {
      channel,
      type: 'update',
      symbol: v.symbol,
      seq,
      ts_us: v.tsUs,
      bids,
      asks,
      checksum: bookChecksum(v.bids, v.asks),
    };
  }

  private rememberL1(v: InstrumentView): void {
    const bp = v.bids.priceAt(0) ?? 0;
    const ap = v.asks.priceAt(0) ?? 0;
    v.l1BidPx = bp;
    v.l1BidQty = bp === 0 ? 0 : v.bids.qtyAt(bp);
    v.l1AskPx = ap;
    v.l1AskQty = ap === 0 ? 0 : v.asks.qtyAt(ap);
  }

  private l1Message(v: InstrumentView, type: 'snapshot' | 'update'): L1Message {
    return {
      channel: Channel.L1,
      type,
      symbol: v.symbol,
      seq: v.seqL1,
      ts_us: v.tsUs,
      bid: v.l1BidPx === 0 ? null : [v.l1BidPx, v.l1BidQty],
      ask: v.l1AskPx === 0 ? null : [v.l1AskPx, v.l1AskQty],
    };
  }

  private statusMessage(v: InstrumentView, type: 'snapshot' | 'update'): StatusMessage {
    return {
      channel: Channel.STATUS,
      type,
      symbol: v.symbol,
      seq: v.seqStatus,
      ts_us: v.tsUs,
      status: v.status,
      reference_price: v.referencePrice,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots (current state, with the seq of the last update sent on the channel)
  // -------------------------------------------------------------------------------------------

  private view(symbol: string): InstrumentView {
    const v = this.views.get(symbol);
    if (v === undefined) throw new Error(`projector: unknown symbol ${symbol}`);
    return v;
  }

  /**
   * The snapshot of a channel. For l2.throttled it is the CURRENT book with the seq of the
   * last throttled update: the next throttled update sets every level changed since that one
   * to its absolute quantity, so applying it on top of this snapshot is exact.
   */
  snapshot(symbol: string, channel: Channel, depth = Number.MAX_SAFE_INTEGER): DataMessage {
    const v = this.view(symbol);
    switch (channel) {
      case Channel.L2:
      case Channel.L2_THROTTLED:
        return {
          channel,
          type: 'snapshot',
          symbol,
          seq: channel === Channel.L2 ? v.seqL2 : v.seqL2Throttled,
          ts_us: v.tsUs,
          bids: v.bids.levels(depth),
          asks: v.asks.levels(depth),
          checksum: bookChecksum(v.bids, v.asks),
        };
      case Channel.L1:
        return this.l1Message(v, 'snapshot');
      case Channel.L3:
        return {
          channel,
          type: 'snapshot',
          symbol,
          seq: v.seqL3,
          ts_us: v.tsUs,
          bids: this.l3Side(v, Side.BUY),
          asks: this.l3Side(v, Side.SELL),
        };
      case Channel.TRADES:
        return { channel, type: 'snapshot', symbol, seq: v.seqTrades, ts_us: v.tsUs, trades: v.recentTrades.slice() };
      case Channel.CANDLES: {
        const candles: Candle[] = [];
        for (const c of v.candles) if (c !== undefined) candles.push(candleOf(c));
        return { channel, type: 'snapshot', symbol, seq: v.seqCandles, ts_us: v.tsUs, candles };
      }
      case Channel.STATUS:
        return this.statusMessage(v, 'snapshot');
    }
  }

  /** Resting orders of one side in priority order: best price first, then time. */
  private l3Side(v: InstrumentView, side: Side): OrderEntry[] {
    const levels = side === Side.BUY ? v.bidLevels : v.askLevels;
    const prices = [...levels.keys()].sort(side === Side.BUY ? (a, b) => b - a : (a, b) => a - b);
    const out: OrderEntry[] = [];
    for (const p of prices)
      for (let o = levels.get(p)!.head; o !== undefined; o = o.next) out.push([o.orderId, o.price, o.qty]);
    return out;
  }

  /** The last seq sent on a channel (0: none yet). */
  lastSeq(symbol: string, channel: Channel): number {
    const v = this.view(symbol);
    switch (channel) {
      case Channel.L2:
        return v.seqL2;
      case Channel.L2_THROTTLED:
        return v.seqL2Throttled;
      case Channel.L1:
        return v.seqL1;
      case Channel.L3:
        return v.seqL3;
      case Channel.TRADES:
        return v.seqTrades;
      case Channel.CANDLES:
        return v.seqCandles;
      case Channel.STATUS:
        return v.seqStatus;
    }
  }

  channelSeq(symbol: string, channel: Channel): ChannelSeq {
    return { symbol, channel, seq: this.lastSeq(symbol, channel) };
  }

  /** Levels of one side, best first (tests, REST). */
  levels(symbol: string, side: Side, depth?: number): Level[] {
    const v = this.view(symbol);
    return (side === Side.BUY ? v.bids : v.asks).levels(depth);
  }
}

function candleOf(c: CandleState): Candle {
  return {
    interval: c.interval,
    start_us: c.start_us,
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: c.volume,
    trade_count: c.trade_count,
    closed: c.closed,
  };
}
