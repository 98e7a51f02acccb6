// The CQRS read models: pure, deterministic projections of the event topics (no I/O, no
// clock: candles are bucketed by the events' log time). The consumer (consumer.ts) feeds
// records in; the query API (events/query/) reads views out.
//
//   exchange.orders.v1  → order status by order id and by (account, client order id); open orders per account
//   exchange.fills.v1   → fills per account; positions and balances per account
//   exchange.trades.v1  → OHLCV candles per instrument (1s, 1m, 1h, 1d); recent public trades and
//                         the 24-hour ticker per instrument (public market data)
//   exchange.publisher-progress.v1 → read-your-writes marks: how far (seq, log index) per shard is visible
//
// Exactly once. A record is applied at most once, by two rules:
//   1. Kafka offsets: per topic partition, records below the next offset already consumed are
//      re-deliveries (a consumer restart, a rebalance) and are dropped.
//   2. Event identity: per topic partition and shard, events arrive in (log_index, position)
//      order — one publisher writes them in that order, and a restarted publisher resends a
//      suffix of the same sequence — so anything at or below the last (log_index, position)
//      applied there is a publisher duplicate and is dropped. (Two publishers racing on one
//      shard are two ordered copies of the same sequence: the rule still keeps each event once.)
//
// Determinism. Every view depends on the records of one partition only (orders and fills are
// keyed by account, trades by symbol, and every bound below is per account or per symbol) —
// except the log time (the ticker's "now"), a maximum over all records, which no order of
// application changes — so the order in which partitions interleave never changes a view: a rebuild from offset zero
// equals the live model, whatever the batches and rebalances were.

import type { Notional } from '../../engine/notional.js';
import { OrdStatus } from '../../engine/types.js';
import { notionalOfBigint } from '../../api/exact-uint64.js';
import { quoteOf } from '../../api/symbol-currencies.js';
import type { ExecRecord, ProgressRecord, TradeRecord } from '../codec.js';
import { EVENT_TOPICS, TOPIC_FILLS, TOPIC_ORDERS, TOPIC_PROGRESS, TOPIC_TRADES } from '../topics.js';
import { assertFor, type Assert } from '../../ops/assert.js';
import {
  DONE_ORDERS_PER_ACCOUNT_MAX,
  FILLS_PER_ACCOUNT_MAX,
  CLIENT_ORDER_IDS_PER_ORDER_MAX,
  PROGRESS_MARKS_PER_SHARD_MAX,
  TRADES_PER_SYMBOL_MAX,
} from './limits.js';

/** Candle intervals: name → length in µs, and candles kept per (symbol, interval). */
export const CANDLE_INTERVALS = [
  { name: '1s', lengthUs: 1_000_000, kept: 3_600 },
  { name: '1m', lengthUs: 60_000_000, kept: 1_440 },
  { name: '1h', lengthUs: 3_600_000_000, kept: 720 },
  { name: '1d', lengthUs: 86_400_000_000, kept: 365 },
] as const;

/** One minute (µs): the ticker's window is made of the 1m candles. */
const MINUTE_US = 60_000_000;
/**
 * The 24-hour ticker's window, in 1m buckets: the bucket holding "now" and the 1,439 before it
 * (so the window covers between 23 h 59 min and 24 h of log time, minute-aligned; the 1m
 * candles kept, 1,440, always hold it — checked in events/query/limits-check.ts).
 */
export const TICKER_WINDOW_MINUTES = 1_440;
export type CandleInterval = (typeof CANDLE_INTERVALS)[number]['name'];

export type ConsumedRecord =
  | { topic: string; partition: number; offset: number; type: 'exec'; value: ExecRecord }
  | { topic: string; partition: number; offset: number; type: 'trade'; value: TradeRecord }
  | { topic: string; partition: number; offset: number; type: 'progress'; value: ProgressRecord };

export interface OrderView {
  order_id: number;
  shard: number;
  account: number;
  client_order_id: string;
  symbol: string;
  side: number;
  order_type: number;
  /** The order's time in force (engine code = proto TimeInForce number). */
  time_in_force: number;
  order_status: number;
  price: number;
  stop_price: number;
  /** What was ordered (as amended); kept when the order is canceled or expires. */
  order_qty: number;
  cum_qty: number;
  leaves_qty: number;
  display_qty: number;
  /** Σ last_qty × last_px, exact: a number up to Number.MAX_SAFE_INTEGER, a bigint above (a wide instrument's). */
  cum_notional: Notional;
  /** cum_notional / cum_qty, the report's exact decimal string (engine/avg-px.ts). */
  avg_px: string;
  /** Reason of the last report (empty if none). */
  reason: string;
  last_exec_id: number;
  /** seq of the command behind the last report. */
  seq: number;
  created_ts_us: number;
  updated_ts_us: number;
}

export interface FillView {
  shard: number;
  exec_id: number;
  trade_id: number;
  order_id: number;
  client_order_id: string;
  symbol: string;
  side: number;
  last_qty: number;
  last_px: number;
  /** LastLiquidityInd: 1 ADDED_LIQUIDITY (maker), 2 REMOVED_LIQUIDITY (taker). */
  last_liquidity_ind: number;
  seq: number;
  log_index: number;
  ts_us: number;
}

export interface PositionView {
  symbol: string;
  /**
   * Bought minus sold, quantity units; bought and sold. Sums over the account's lifetime, so
   * exact past 2^53 − 1 (a satoshi instrument: 90 million BTC): a number while safe, a bigint
   * above (the Notional rule of the edges).
   */
  position_qty: Notional;
  bought_qty: Notional;
  sold_qty: Notional;
  /** Σ price × qty of buys and sells (price units × quantity units), exact. */
  buy_notional: bigint;
  sell_notional: bigint;
  /** sell_notional − buy_notional: cash flow of the account in this instrument's quote. */
  cash: bigint;
  fill_count: number;
}

export interface Candle {
  start_us: number;
  open: number;
  high: number;
  low: number;
  close: number;
  /** Σ qty of the bucket's trades: a number while safe, a bigint above 2^53 − 1. */
  volume: Notional;
  /** Σ price × qty of the bucket's trades (price units × quantity units), an exact decimal string. */
  quote_volume: string;
  trade_count: number;
}

/** A candle as kept: the quote volume as a bigint (it can pass 2^53). */
interface CandleState extends Omit<Candle, 'quote_volume'> {
  quote_volume: bigint;
}

/** A trade as the public sees it: no accounts, no order ids. */
export interface PublicTrade {
  trade_id: number;
  price: number;
  qty: number;
  /** The taker's side (engine code: 1 BUY, 2 SELL). */
  aggressor_side: number;
  /** Log time of the trade (µs since the epoch). */
  ts_us: number;
}

/** 24-hour statistics of an instrument, over the ticker window ending at the model's log time. */
export interface Ticker {
  symbol: string;
  /** The window's end: the latest log time the read models know (not the wall clock). */
  now_us: number;
  /** Start of the window's oldest 1m bucket. */
  window_start_us: number;
  /** The first trade's price in the window, its highest, lowest and the last one; null with no trade in the window. */
  open: number | null;
  high: number | null;
  low: number | null;
  /** The last trade's price ever known (even before the window); null if the instrument never traded. */
  last: number | null;
  /** last − open (price units); 0 with no trade in the window. */
  price_change: number;
  /** Σ qty (a number while safe, a bigint above 2^53 − 1) and Σ price × qty (exact decimal string) of the window's trades. */
  volume: Notional;
  quote_volume: string;
  trade_count: number;
  /** Log time of the last trade ever known (0 if none). */
  last_trade_ts_us: number;
}

export interface Visible {
  /** Every event of the shard up to this log index / seq is in the views. */
  log_index: number;
  seq: number;
}

interface OrderState extends OrderView {
  /** Client order ids indexed to this order (current first). */
  client_order_ids: string[];
}

interface Mark {
  log_index: number;
  seq: number;
  offsets: { key: string; next_offset: number }[];
}

interface EventPosition {
  log_index: number;
  position: number;
}

/** An order in the snapshot: cum_notional as a decimal string (version 4; a number in version 3). */
type OrderJson = Omit<OrderState, 'cum_notional'> & { cum_notional: string | number };

/**
 * The snapshot's version: 4 writes an order's cum_notional as a decimal string (it can pass
 * 2^53); 5 also the positions' quantity sums and the candles' volume when above 2^53 − 1.
 * Versions 3 and 4 (numbers, exact: those sums were asserted to stay safe) are still read;
 * older ones are not (rebuilt from offset zero, consumer.ts).
 */
const SNAPSHOT_MODEL_VERSION = 5;

/** JSON-safe form of the whole state (snapshot file; bigint as decimal strings; maps as sorted entry lists). */
export interface ReadModelsJson {
  /** 3: candles have quote_volume and a 1d interval; recent trades and the log time are kept (version 2 is rebuilt). 4: orders' cum_notional as a string. 5: quantity sums above 2^53 − 1 as strings. */
  version: 3 | 4 | 5;
  consumed: [string, number][];
  applied: [string, EventPosition][];
  orders: OrderJson[];
  clientOrderIds: [number, [string, number][]][];
  doneOrders: [number, number[]][];
  fills: [number, FillView[]][];
  fillCounts: [number, number][];
  positions: [
    number,
    (Omit<PositionView, 'buy_notional' | 'sell_notional' | 'cash' | QtySum> & {
      buy_notional: string;
      sell_notional: string;
      cash: string;
    } & Record<QtySum, number | string>)[],
  ][];
  candles: [string, [string, CandleJson[]][]][];
  trades: [string, PublicTrade[]][];
  log_time_us: number;
  marks: [number, Mark[]][];
  visible: [number, Visible][];
  stats: ReadModelStats;
}

export interface ReadModelStats {
  applied: number;
  /** Dropped by rule 1 (offset already consumed). */
  redelivered: number;
  /** Dropped by rule 2 (publisher duplicate). */
  duplicates: number;
}

export class ReadModelError extends Error {
  override name = 'ReadModelError';
}

const assert: Assert = assertFor('read model');

const OPEN_STATUSES: ReadonlySet<number> = new Set([
  OrdStatus.NEW,
  OrdStatus.PARTIALLY_FILLED,
  OrdStatus.PENDING_TRIGGER,
]);
const EVENT_TOPIC_SET: ReadonlySet<string> = new Set(EVENT_TOPICS);

export function isOpenStatus(status: number): boolean {
  return OPEN_STATUSES.has(status);
}

// Quote currency of a symbol ("BTC-USD" → "USD"): defined once in api/, where the user stream's position updates also take it.
export { quoteOf };

/** a + b exactly (b a safe integer): a number while the sum is safe, a bigint above. */
function addExact(a: Notional, b: number | Notional): Notional {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b;
    if (Number.isSafeInteger(sum)) return sum;
  }
  return notionalOfBigint(BigInt(a) + BigInt(b));
}

const tpKey = (topic: string, partition: number): string => `${topic}/${partition}`;

export class ReadModels {
  /** Next offset to consume per "topic/partition" (rule 1). */
  private readonly consumed = new Map<string, number>();
  /** Last event applied per "topic/partition/shard" (rule 2). */
  private readonly applied = new Map<string, EventPosition>();
  private readonly orders = new Map<number, OrderState>();
  /** account → client order id → order id. */
  private readonly clientOrderIds = new Map<number, Map<string, number>>();
  /** account → its open order ids. */
  private readonly openOrders = new Map<number, Set<number>>();
  /** account → finished order ids, oldest first. */
  private readonly doneOrders = new Map<number, number[]>();
  private readonly fills = new Map<number, FillView[]>();
  private readonly fillCounts = new Map<number, number>();
  /** account → symbol → position. */
  private readonly positions = new Map<number, Map<string, PositionView>>();
  /** symbol → interval → candles, oldest first. */
  private readonly candles = new Map<string, Map<string, CandleState[]>>();
  /** symbol → its most recent trades (TRADES_PER_SYMBOL_MAX), oldest first. */
  private readonly trades = new Map<string, PublicTrade[]>();
  /** The latest log time of any event applied (µs): the ticker's "now". */
  private logTimeUs = 0;
  /** shard → read-your-writes marks not yet reached, oldest first. */
  private readonly marks = new Map<number, Mark[]>();
  private readonly visible = new Map<number, Visible>();
  readonly stats: ReadModelStats = { applied: 0, redelivered: 0, duplicates: 0 };
  /** Called when a shard's visible position advances (the query API's read-your-writes waiters). */
  onVisible: ((shard: number, v: Visible) => void) | undefined;

  // -------------------------------------------------------------------------------------------
  // Input
  // -------------------------------------------------------------------------------------------

  /** Next offset this model expects on a topic partition (0 if it has consumed nothing there). */
  nextOffset(topic: string, partition: number): number {
    return this.consumed.get(tpKey(topic, partition)) ?? 0;
  }

  /** Applies one consumed record; returns whether it changed anything (false: redelivery or duplicate). */
  apply(rec: ConsumedRecord): boolean {
    assert(Number.isSafeInteger(rec.offset) && rec.offset >= 0, `offset ${rec.offset}`);
    const tp = tpKey(rec.topic, rec.partition);
    const next = this.consumed.get(tp) ?? 0;
    if (rec.offset < next) {
      this.stats.redelivered++;
      return false;
    }
    this.consumed.set(tp, rec.offset + 1);
    let changed: boolean;
    if (rec.type === 'progress') changed = this.applyProgress(rec.value);
    else {
      const v = rec.value;
      const dk = `${tp}/${v.shard}`;
      const last = this.applied.get(dk);
      if (
        last !== undefined &&
        (v.log_index < last.log_index || (v.log_index === last.log_index && v.position <= last.position))
      ) {
        this.stats.duplicates++;
        changed = false;
      } else {
        this.applied.set(dk, { log_index: v.log_index, position: v.position });
        if (v.ts_us > this.logTimeUs) this.logTimeUs = v.ts_us;
        if (rec.type === 'trade') this.applyTrade(rec.value);
        else if (rec.topic === TOPIC_FILLS) this.applyFill(rec.value);
        else this.applyOrderReport(rec.value);
        this.stats.applied++;
        changed = true;
      }
    }
    if (EVENT_TOPIC_SET.has(rec.topic) && this.marks.size > 0) this.settleMarks();
    return changed;
  }

  private applyOrderReport(r: ExecRecord): void {
    let o = this.orders.get(r.order_id);
    if (o === undefined) {
      o = {
        order_id: r.order_id,
        shard: r.shard,
        account: r.account,
        client_order_id: r.client_order_id,
        symbol: r.symbol,
        side: r.side,
        order_type: r.order_type,
        time_in_force: r.time_in_force,
        order_status: r.order_status,
        price: r.price,
        stop_price: r.stop_price,
        order_qty: r.order_qty,
        cum_qty: r.cum_qty,
        leaves_qty: r.leaves_qty,
        display_qty: r.display_qty,
        cum_notional: r.cum_notional,
        avg_px: r.avg_px,
        reason: r.reason,
        last_exec_id: r.exec_id,
        seq: r.seq,
        created_ts_us: r.ts_us,
        updated_ts_us: r.ts_us,
        client_order_ids: [],
      };
      this.orders.set(r.order_id, o);
    } else {
      assert(o.account === r.account, `order ${r.order_id}: report of account ${r.account}, order of ${o.account}`);
      if (!isOpenStatus(o.order_status)) return; // finished: nothing can change it any more
      o.client_order_id = r.client_order_id;
      o.order_type = r.order_type;
      o.order_status = r.order_status;
      o.price = r.price;
      o.stop_price = r.stop_price;
      o.order_qty = r.order_qty;
      o.cum_qty = r.cum_qty;
      o.leaves_qty = r.leaves_qty;
      o.display_qty = r.display_qty;
      o.cum_notional = r.cum_notional;
      o.avg_px = r.avg_px;
      o.reason = r.reason;
      o.last_exec_id = r.exec_id;
      o.seq = r.seq;
      o.updated_ts_us = r.ts_us;
    }
    this.indexClientOrderId(o, r.client_order_id);
    const open = isOpenStatus(o.order_status);
    let set = this.openOrders.get(o.account);
    if (open) {
      if (set === undefined) this.openOrders.set(o.account, (set = new Set()));
      set.add(o.order_id);
      return;
    }
    if (set !== undefined) {
      set.delete(o.order_id);
      if (set.size === 0) this.openOrders.delete(o.account);
    }
    let done = this.doneOrders.get(o.account);
    if (done === undefined) this.doneOrders.set(o.account, (done = []));
    done.push(o.order_id);
    if (done.length > DONE_ORDERS_PER_ACCOUNT_MAX) this.forgetOrder(done.shift()!);
  }

  /**
   * (account, client order id) → the order. A client order id is unique among the account's
   * live orders only, so a reject for a duplicate id must not take the index from the live
   * order holding it; otherwise the newest order with the id wins.
   */
  private indexClientOrderId(o: OrderState, id: string): void {
    if (id === '') return;
    let byId = this.clientOrderIds.get(o.account);
    if (byId === undefined) this.clientOrderIds.set(o.account, (byId = new Map()));
    const holder = byId.get(id);
    if (holder === o.order_id) return;
    if (holder !== undefined) {
      const h = this.orders.get(holder);
      if (h !== undefined && isOpenStatus(h.order_status) && !isOpenStatus(o.order_status)) return;
    }
    byId.set(id, o.order_id);
    o.client_order_ids.unshift(id);
    if (o.client_order_ids.length > CLIENT_ORDER_IDS_PER_ORDER_MAX) {
      const dropped = o.client_order_ids.pop()!;
      if (byId.get(dropped) === o.order_id) byId.delete(dropped);
    }
  }

  private forgetOrder(orderId: number): void {
    const o = this.orders.get(orderId);
    if (o === undefined) return;
    this.orders.delete(orderId);
    const byId = this.clientOrderIds.get(o.account);
    if (byId === undefined) return;
    for (const id of o.client_order_ids) if (byId.get(id) === orderId) byId.delete(id);
    if (byId.size === 0) this.clientOrderIds.delete(o.account);
  }

  private applyFill(r: ExecRecord): void {
    assert(r.last_qty > 0, `fill record with last_qty ${r.last_qty} (exec ${r.exec_id})`);
    let list = this.fills.get(r.account);
    if (list === undefined) this.fills.set(r.account, (list = []));
    list.push({
      shard: r.shard,
      exec_id: r.exec_id,
      trade_id: r.trade_id,
      order_id: r.order_id,
      client_order_id: r.client_order_id,
      symbol: r.symbol,
      side: r.side,
      last_qty: r.last_qty,
      last_px: r.last_px,
      last_liquidity_ind: r.last_liquidity_ind,
      seq: r.seq,
      log_index: r.log_index,
      ts_us: r.ts_us,
    });
    if (list.length > FILLS_PER_ACCOUNT_MAX) list.shift();
    this.fillCounts.set(r.account, (this.fillCounts.get(r.account) ?? 0) + 1);

    let bySymbol = this.positions.get(r.account);
    if (bySymbol === undefined) this.positions.set(r.account, (bySymbol = new Map()));
    let p = bySymbol.get(r.symbol);
    if (p === undefined) {
      p = {
        symbol: r.symbol,
        position_qty: 0,
        bought_qty: 0,
        sold_qty: 0,
        buy_notional: 0n,
        sell_notional: 0n,
        cash: 0n,
        fill_count: 0,
      };
      bySymbol.set(r.symbol, p);
    }
    const notional = BigInt(r.last_px) * BigInt(r.last_qty);
    if (r.side === 1) {
      p.bought_qty = addExact(p.bought_qty, r.last_qty);
      p.position_qty = addExact(p.position_qty, r.last_qty);
      p.buy_notional += notional;
      p.cash -= notional;
    } else {
      p.sold_qty = addExact(p.sold_qty, r.last_qty);
      p.position_qty = addExact(p.position_qty, -r.last_qty);
      p.sell_notional += notional;
      p.cash += notional;
    }
    p.fill_count++;
  }

  private applyTrade(t: TradeRecord): void {
    let recent = this.trades.get(t.symbol);
    if (recent === undefined) this.trades.set(t.symbol, (recent = []));
    recent.push({ trade_id: t.trade_id, price: t.price, qty: t.qty, aggressor_side: t.aggressor_side, ts_us: t.ts_us });
    if (recent.length > TRADES_PER_SYMBOL_MAX) recent.shift();
    let byInterval = this.candles.get(t.symbol);
    if (byInterval === undefined) this.candles.set(t.symbol, (byInterval = new Map()));
    const quote = BigInt(t.price) * BigInt(t.qty);
    for (const iv of CANDLE_INTERVALS) {
      let list = byInterval.get(iv.name);
      if (list === undefined) byInterval.set(iv.name, (list = []));
      const start = Math.floor(t.ts_us / iv.lengthUs) * iv.lengthUs;
      const last = list[list.length - 1];
      // Log time never goes back within a shard (the engine's effective time is monotone), and
      // a symbol lives on one shard: a trade is in the newest bucket or a later one.
      assert(
        last === undefined || start >= last.start_us,
        `${t.symbol} trade ${t.trade_id} at ${t.ts_us} before the ${iv.name} candle at ${last?.start_us}`,
      );
      if (last !== undefined && last.start_us === start) {
        if (t.price > last.high) last.high = t.price;
        if (t.price < last.low) last.low = t.price;
        last.close = t.price;
        last.volume = addExact(last.volume, t.qty);
        last.quote_volume += quote;
        last.trade_count++;
      } else {
        list.push({
          start_us: start,
          open: t.price,
          high: t.price,
          low: t.price,
          close: t.price,
          volume: t.qty,
          quote_volume: quote,
          trade_count: 1,
        });
        if (list.length > iv.kept) list.shift();
      }
    }
  }

  private applyProgress(p: ProgressRecord): boolean {
    let list = this.marks.get(p.shard);
    const vis = this.visible.get(p.shard);
    const newest = list !== undefined && list.length > 0 ? list[list.length - 1]!.log_index : (vis?.log_index ?? 0);
    if (p.log_index <= newest) return false;
    if (list === undefined) this.marks.set(p.shard, (list = []));
    list.push({
      log_index: p.log_index,
      seq: p.seq,
      offsets: p.offsets
        .filter((o) => EVENT_TOPIC_SET.has(o.topic))
        .map((o) => ({ key: tpKey(o.topic, o.partition), next_offset: o.next_offset })),
    });
    if (list.length > PROGRESS_MARKS_PER_SHARD_MAX) list.shift();
    this.settleMarks();
    return true;
  }

  /** Advances each shard's visible position over the marks whose offsets this model has consumed. */
  private settleMarks(): void {
    for (const [shard, list] of this.marks) {
      let reached: Mark | undefined;
      let k = 0;
      while (k < list.length && list[k]!.offsets.every((o) => (this.consumed.get(o.key) ?? 0) >= o.next_offset))
        reached = list[k++];
      if (reached === undefined) continue;
      list.splice(0, k);
      if (list.length === 0) this.marks.delete(shard);
      const v = { log_index: reached.log_index, seq: reached.seq };
      this.visible.set(shard, v);
      this.onVisible?.(shard, v);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Views
  // -------------------------------------------------------------------------------------------

  order(orderId: number): OrderView | undefined {
    const o = this.orders.get(orderId);
    return o === undefined ? undefined : viewOf(o);
  }

  orderByClientOrderId(account: number, clientOrderId: string): OrderView | undefined {
    const id = this.clientOrderIds.get(account)?.get(clientOrderId);
    return id === undefined ? undefined : this.order(id);
  }

  /** Open orders of the account, by order id. */
  openOrdersOf(account: number): OrderView[] {
    const set = this.openOrders.get(account);
    if (set === undefined) return [];
    return [...set].sort((a, b) => a - b).map((id) => viewOf(this.orders.get(id)!));
  }

  /** The account's orders still remembered (open and recently finished), by order id. */
  ordersOf(account: number): OrderView[] {
    const ids = [...(this.openOrders.get(account) ?? []), ...(this.doneOrders.get(account) ?? [])];
    return ids.sort((a, b) => a - b).map((id) => viewOf(this.orders.get(id)!));
  }

  /** The account's most recent fills (at most `limit`), oldest first, and how many it had in all. */
  fillsOf(account: number, limit = FILLS_PER_ACCOUNT_MAX): { fills: FillView[]; total: number } {
    const list = this.fills.get(account) ?? [];
    return {
      fills: list.slice(Math.max(0, list.length - limit)).map((f) => ({ ...f })),
      total: this.fillCounts.get(account) ?? 0,
    };
  }

  positionsOf(account: number): PositionView[] {
    const m = this.positions.get(account);
    if (m === undefined) return [];
    return [...m.values()]
      .sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0))
      .map((p) => ({ ...p }));
  }

  /** Cash per quote currency (Σ of the positions' cash), by currency. */
  balancesOf(account: number): { currency: string; cash: bigint }[] {
    const out = new Map<string, bigint>();
    for (const p of this.positions.get(account)?.values() ?? [])
      out.set(quoteOf(p.symbol), (out.get(quoteOf(p.symbol)) ?? 0n) + p.cash);
    return [...out].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([currency, cash]) => ({ currency, cash }));
  }

  /** The symbol's most recent candles of an interval (at most `limit`), oldest first. */
  candlesOf(symbol: string, interval: CandleInterval, limit = Number.MAX_SAFE_INTEGER): Candle[] {
    const list = this.candles.get(symbol)?.get(interval) ?? [];
    return list.slice(Math.max(0, list.length - limit)).map(candleOut);
  }

  /**
   * Candles of an interval whose start is within [startUs, endUs], oldest first, at most
   * `limit`: the first ones from startUs when it is given (paging forward), else the most recent.
   */
  candlesBetween(
    symbol: string,
    interval: CandleInterval,
    range: { startUs?: number; endUs?: number; limit: number },
  ): Candle[] {
    const list = this.candles.get(symbol)?.get(interval) ?? [];
    const from = range.startUs ?? 0;
    const to = range.endUs ?? Number.MAX_SAFE_INTEGER;
    const inRange = list.filter((c) => c.start_us >= from && c.start_us <= to);
    const page =
      range.startUs !== undefined
        ? inRange.slice(0, range.limit)
        : inRange.slice(Math.max(0, inRange.length - range.limit));
    return page.map(candleOut);
  }

  /** The symbol's most recent public trades (at most `limit`), oldest first. */
  tradesOf(symbol: string, limit = TRADES_PER_SYMBOL_MAX): PublicTrade[] {
    const list = this.trades.get(symbol) ?? [];
    return list.slice(Math.max(0, list.length - limit)).map((t) => ({ ...t }));
  }

  /** The latest log time of any event applied (µs; 0 before any): the ticker's "now". */
  logTime(): number {
    return this.logTimeUs;
  }

  /** 24-hour statistics of the symbol over the 1m buckets of the ticker window ending at logTime(). */
  tickerOf(symbol: string): Ticker {
    const list = this.candles.get(symbol)?.get('1m') ?? [];
    const now = this.logTimeUs;
    const windowStart = Math.floor(now / MINUTE_US) * MINUTE_US - (TICKER_WINDOW_MINUTES - 1) * MINUTE_US;
    const newest = list[list.length - 1];
    let k = list.length;
    while (k > 0 && list[k - 1]!.start_us >= windowStart) k--;
    const window = list.slice(k);
    const first = window[0];
    let volume: Notional = 0;
    let quote = 0n;
    let count = 0;
    let high: number | null = null;
    let low: number | null = null;
    for (const c of window) {
      volume = addExact(volume, c.volume);
      quote += c.quote_volume;
      count += c.trade_count;
      high = high === null || c.high > high ? c.high : high;
      low = low === null || c.low < low ? c.low : low;
    }
    const last = newest?.close ?? null;
    return {
      symbol,
      now_us: now,
      window_start_us: windowStart,
      open: first?.open ?? null,
      high,
      low,
      last,
      price_change: first === undefined || last === null ? 0 : last - first.open,
      volume,
      quote_volume: quote.toString(),
      trade_count: count,
      last_trade_ts_us: this.trades.get(symbol)?.at(-1)?.ts_us ?? 0,
    };
  }

  /** Read-your-writes position of a shard. */
  visibleOf(shard: number): Visible {
    return this.visible.get(shard) ?? { log_index: 0, seq: 0 };
  }

  /** Next offsets consumed per "topic/partition". */
  consumedOffsets(): Map<string, number> {
    return new Map(this.consumed);
  }

  // -------------------------------------------------------------------------------------------
  // Snapshot
  // -------------------------------------------------------------------------------------------

  toJSON(): ReadModelsJson {
    const num = <V>(m: Map<number, V>) => [...m].sort((a, b) => a[0] - b[0]);
    const str = <V>(m: Map<string, V>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return {
      version: SNAPSHOT_MODEL_VERSION,
      consumed: str(this.consumed),
      applied: str(this.applied).map(([k, v]) => [k, { ...v }]),
      orders: num(this.orders).map(([, o]) => ({
        ...o,
        cum_notional: o.cum_notional.toString(),
        client_order_ids: [...o.client_order_ids],
      })),
      clientOrderIds: num(this.clientOrderIds).map(([a, m]) => [a, str(m)]),
      doneOrders: num(this.doneOrders).map(([a, ids]) => [a, [...ids]]),
      fills: num(this.fills).map(([a, l]) => [a, l.map((f) => ({ ...f }))]),
      fillCounts: num(this.fillCounts),
      positions: num(this.positions).map(([a, m]) => [
        a,
        str(m).map(([, p]) => ({
          ...p,
          position_qty: qtyJson(p.position_qty),
          bought_qty: qtyJson(p.bought_qty),
          sold_qty: qtyJson(p.sold_qty),
          buy_notional: p.buy_notional.toString(),
          sell_notional: p.sell_notional.toString(),
          cash: p.cash.toString(),
        })),
      ]),
      candles: str(this.candles).map(([s, m]) => [
        s,
        str(m).map(([iv, l]) => [iv, l.map(candleJson)] as [string, CandleJson[]]),
      ]),
      trades: str(this.trades).map(([s, l]) => [s, l.map((t) => ({ ...t }))]),
      log_time_us: this.logTimeUs,
      marks: num(this.marks).map(([s, l]) => [s, l.map((m) => ({ ...m, offsets: m.offsets.map((o) => ({ ...o })) }))]),
      visible: num(this.visible).map(([s, v]) => [s, { ...v }]),
      stats: { ...this.stats },
    };
  }

  static fromJSON(j: ReadModelsJson): ReadModels {
    if (j.version !== SNAPSHOT_MODEL_VERSION && j.version !== 4 && j.version !== 3)
      throw new ReadModelError(`read model snapshot version ${String(j.version)}`);
    const m = new ReadModels();
    for (const [k, v] of j.consumed) m.consumed.set(k, v);
    for (const [k, v] of j.applied) m.applied.set(k, { ...v });
    for (const o of j.orders)
      m.orders.set(o.order_id, {
        ...o,
        cum_notional: cumNotionalOfJson(o.cum_notional),
        client_order_ids: [...o.client_order_ids],
      });
    for (const [a, list] of j.clientOrderIds) m.clientOrderIds.set(a, new Map(list));
    for (const o of m.orders.values()) {
      if (!isOpenStatus(o.order_status)) continue;
      let set = m.openOrders.get(o.account);
      if (set === undefined) m.openOrders.set(o.account, (set = new Set()));
      set.add(o.order_id);
    }
    for (const [a, ids] of j.doneOrders) m.doneOrders.set(a, [...ids]);
    for (const [a, l] of j.fills)
      m.fills.set(
        a,
        l.map((f) => ({ ...f })),
      );
    for (const [a, n] of j.fillCounts) m.fillCounts.set(a, n);
    for (const [a, list] of j.positions) {
      m.positions.set(
        a,
        new Map(
          list.map((p) => [
            p.symbol,
            {
              ...p,
              position_qty: qtyOfJson(p.position_qty),
              bought_qty: qtyOfJson(p.bought_qty),
              sold_qty: qtyOfJson(p.sold_qty),
              buy_notional: BigInt(p.buy_notional),
              sell_notional: BigInt(p.sell_notional),
              cash: BigInt(p.cash),
            },
          ]),
        ),
      );
    }
    for (const [s, list] of j.candles)
      m.candles.set(
        s,
        new Map(
          list.map(([iv, l]) => [
            iv,
            l.map((c) => ({ ...c, volume: qtyOfJson(c.volume), quote_volume: BigInt(c.quote_volume) })),
          ]),
        ),
      );
    for (const [s, l] of j.trades)
      m.trades.set(
        s,
        l.map((t) => ({ ...t })),
      );
    m.logTimeUs = j.log_time_us;
    for (const [s, l] of j.marks)
      m.marks.set(
        s,
        l.map((x) => ({ ...x, offsets: x.offsets.map((o) => ({ ...o })) })),
      );
    for (const [s, v] of j.visible) m.visible.set(s, { ...v });
    Object.assign(m.stats, j.stats);
    return m;
  }

  /**
   * The views alone, canonical (sorted, JSON-safe): equal for two models that applied the same
   * events, whatever the deliveries (duplicates, re-deliveries, partition interleaving) were.
   */
  views(): Pick<
    ReadModelsJson,
    | 'orders'
    | 'clientOrderIds'
    | 'doneOrders'
    | 'fills'
    | 'fillCounts'
    | 'positions'
    | 'candles'
    | 'trades'
    | 'log_time_us'
  > {
    const j = this.toJSON();
    return {
      orders: j.orders,
      clientOrderIds: j.clientOrderIds,
      doneOrders: j.doneOrders,
      fills: j.fills,
      fillCounts: j.fillCounts,
      positions: j.positions,
      candles: j.candles,
      trades: j.trades,
      log_time_us: j.log_time_us,
    };
  }
}

/** An order's cum_notional from the snapshot: a decimal string (version 4) or a safe integer (version 3). */
function cumNotionalOfJson(v: string | number): Notional {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new ReadModelError(`order cum_notional ${v} is not exact`);
    return v;
  }
  if (!/^[0-9]+$/.test(v)) throw new ReadModelError(`order cum_notional ${JSON.stringify(v)} is not an integer`);
  return notionalOfBigint(BigInt(v));
}

function candleOut(c: CandleState): Candle {
  return { ...c, quote_volume: c.quote_volume.toString() };
}

/** The quantity sums that may pass 2^53 − 1 (a bigint then), written in the snapshot as decimal strings. */
type QtySum = 'position_qty' | 'bought_qty' | 'sold_qty';
/** A candle in the snapshot: its volume a number, or (version 5, above 2^53 − 1) a decimal string. */
type CandleJson = Omit<Candle, 'volume'> & { volume: number | string };

function candleJson(c: CandleState): CandleJson {
  return { ...c, volume: qtyJson(c.volume), quote_volume: c.quote_volume.toString() };
}

function qtyJson(v: Notional): number | string {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** A quantity sum from the snapshot: a safe integer, or (version 5) a decimal string, sign allowed. */
function qtyOfJson(v: number | string): Notional {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new ReadModelError(`quantity sum ${v} is not exact`);
    return v;
  }
  if (!/^-?[0-9]+$/.test(v)) throw new ReadModelError(`quantity sum ${JSON.stringify(v)} is not an integer`);
  return notionalOfBigint(BigInt(v));
}

function viewOf(o: OrderState): OrderView {
  const { client_order_ids: _ids, ...view } = o;
  return view;
}

/** The topic whose records a record type comes from (for feeding a model by hand: tests, the benchmark). */
export const TOPIC_OF = {
  orders: TOPIC_ORDERS,
  fills: TOPIC_FILLS,
  trades: TOPIC_TRADES,
  progress: TOPIC_PROGRESS,
} as const;
