// The account's open orders and recent fills as the page holds them: the execution reports of the
// user stream folded in one by one, over a first read of the query API. Pure: no DOM, no I/O.
//
// Open orders are keyed by order id and leave when a report says the order is no longer live
// (FILLED, CANCELED, EXPIRED, REJECTED). Fills are the reports with last_qty > 0, newest first,
// deduplicated by symbol and exec_id (the query's fills and the stream's overlap), at most
// TICKET_FILLS_ROWS_MAX. `version` changes with every change: the panel renders when it moved.

import { shardOfOrderId } from '../../../api/order-ids.js';
import { TICKET_FILLS_ROWS_MAX, TICKET_LEFT_OUT_IDS_MAX, TICKET_OPEN_ORDERS_MAX } from '../limits.js';

/** The fields of an execution report (stream) or a query order that the page uses. */
export interface OrderFields {
  order_id: number;
  client_order_id: string;
  symbol: string;
  side: string;
  order_type: string;
  time_in_force: string;
  order_status: string;
  price: number;
  order_qty: number;
  cum_qty: number;
  leaves_qty: number;
  seq: number;
  price_decimal?: string;
  order_qty_decimal?: string;
  cum_qty_decimal?: string;
  leaves_qty_decimal?: string;
}

/** An execution report of the user stream, the fields the page uses. */
export interface StreamReport extends OrderFields {
  exec_id: number;
  exec_type: string;
  trade_id: number;
  last_qty: number;
  last_px: number;
  last_liquidity_ind: string;
  ts_us: number;
  reason: string;
  last_qty_decimal?: string;
  last_px_decimal?: string;
}

/** A fill of the query API (GET /v1/accounts/{id}/fills) or from a stream report. */
export interface FillFields {
  exec_id: number;
  trade_id: number;
  order_id: number;
  symbol: string;
  side: string;
  last_qty: number;
  last_px: number;
  last_liquidity_ind: string;
  ts_us: number;
  last_qty_decimal?: string;
  last_px_decimal?: string;
}

/** The query API's `as_of`: per shard, how far the read models were. */
export type AsOf = { shard: number; seq: number }[];

const LIVE = new Set(['NEW', 'PARTIALLY_FILLED', 'PENDING_TRIGGER']);

const fillKey = (f: FillFields): string => `${f.symbol}:${f.exec_id}`;

export class OrdersStore {
  readonly open = new Map<number, OrderFields>();
  /** Newest first. */
  readonly fills: FillFields[] = [];
  private readonly fillKeys = new Set<string>();
  /** Live orders not held because TICKET_OPEN_ORDERS_MAX were (at most TICKET_LEFT_OUT_IDS_MAX of them). */
  private readonly leftOut = new Set<number>();
  /** More orders were left out than leftOut remembers: openLeftOut is a lower bound. */
  openLeftOutCapped = false;
  version = 0;

  get openLeftOut(): number {
    return this.leftOut.size;
  }

  /** Everything forgotten (sign-out, or before a new first read). */
  clear(): void {
    this.open.clear();
    this.fills.length = 0;
    this.fillKeys.clear();
    this.leftOut.clear();
    this.openLeftOutCapped = false;
    this.version++;
  }

  applyOrder(o: OrderFields): void {
    if (o.order_id <= 0) return; // a refused order that never had an id
    if (!LIVE.has(o.order_status)) {
      this.open.delete(o.order_id);
      this.leftOut.delete(o.order_id);
    } else if (this.open.has(o.order_id) || this.open.size < TICKET_OPEN_ORDERS_MAX) {
      this.open.set(o.order_id, o);
    } else if (this.leftOut.size < TICKET_LEFT_OUT_IDS_MAX) {
      this.leftOut.add(o.order_id); // a Set: the same order's later reports count it once
    } else if (!this.leftOut.has(o.order_id)) {
      this.openLeftOutCapped = true;
    }
    this.version++;
  }

  /** Adds a fill (newest first) unless already held; drops the oldest beyond TICKET_FILLS_ROWS_MAX. */
  addFill(f: FillFields, newest = true): void {
    const key = fillKey(f);
    if (this.fillKeys.has(key)) return;
    this.fillKeys.add(key);
    if (newest) this.fills.unshift(f);
    else this.fills.push(f);
    while (this.fills.length > TICKET_FILLS_ROWS_MAX) this.fillKeys.delete(fillKey(this.fills.pop()!));
    this.version++;
  }

  applyReport(r: StreamReport): void {
    this.applyOrder(r);
    if (r.last_qty > 0) this.addFill(r);
  }

  /**
   * The first read (open orders at `ordersAsOf`, fills newest last) replaces what is held, then
   * the stream reports that came meanwhile are applied: for the orders only those the read did
   * not include (seq above its as_of for the order's shard); fills are deduplicated anyway.
   */
  loadSnapshot(orders: OrderFields[], fills: FillFields[], ordersAsOf: AsOf, pending: StreamReport[]): void {
    this.clear();
    for (const o of orders) this.applyOrder(o);
    for (let i = fills.length - 1; i >= 0; i--) this.addFill(fills[i]!, false);
    const seen = new Map(ordersAsOf.map((a) => [a.shard, a.seq]));
    for (const r of pending) {
      if (r.seq > (seen.get(shardOfOrderId(r.order_id)) ?? -1)) this.applyOrder(r);
      if (r.last_qty > 0) this.addFill(r);
    }
  }
}
