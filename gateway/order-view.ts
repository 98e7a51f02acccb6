// The gateway's view of orders: the last execution report it received for each order (from
// any result it got back: the account's own commands, other accounts' commands that filled its
// resting orders, and the cancels the gateway sends itself — cancel-on-disconnect, dead-man's
// switches, the kill switch), with the log index of the entry that carried it, and an index
// from (account, shard, client order id) to the most recent accepted order that carried it.
//
// It is what GetOrder answers for orders the book no longer holds, and the ownership check of
// cancels and amends. Both maps are LRU by Map order and bounded by ORDER_CACHE_MAX. Reports
// are kept as their canonical JSON (one flat string per order rather than an object of 26
// fields, which the garbage collector would trace on every major collection), prefixed with
// the log index.

import type { ExecutionReportOut } from '../api/execution-report.js';
import { jsonParseExact } from '../api/json-exact.js';
import { ORDER_CACHE_MAX } from './limits.js';

/** Report statuses after which an order is done (engine OrdStatus names). */
const FINAL_STATUS_NAMES: ReadonlySet<string> = new Set(['FILLED', 'CANCELED', 'REJECTED', 'EXPIRED']);

/** Whether a report status (a name, as in ExecutionReportOut) is final. */
export function isFinalStatus(orderStatus: string): boolean {
  return FINAL_STATUS_NAMES.has(orderStatus);
}

export interface ViewedOrder {
  /** The last report this gateway saw for the order. */
  report: ExecutionReportOut;
  /** The Raft log index of the entry that produced it (a replica applied at least this far knows it). */
  logIndex: number;
}

export class OrderView {
  private readonly last = new Map<number, string>();
  private readonly byClientId = new Map<string, number>();

  constructor(private readonly max: number = ORDER_CACHE_MAX) {}

  get size(): number {
    return this.last.size;
  }

  /**
   * Records `report` (canonical: its canonical JSON) as the latest of its order. `indexClientId`:
   * the report accepted the order under its client order id (NEW, or REPLACED with a new one),
   * so that id now names this order for GetOrder by client order id.
   */
  note(shard: number, logIndex: number, report: ExecutionReportOut, canonical: string, indexClientId: boolean): void {
    const id = report.order_id;
    this.last.delete(id);
    this.last.set(id, `${logIndex}\n${canonical}`);
    if (this.last.size > this.max) this.last.delete(this.last.keys().next().value!);
    if (indexClientId && report.client_order_id !== '') {
      const key = clientKey(report.account, shard, report.client_order_id);
      this.byClientId.delete(key);
      this.byClientId.set(key, id);
      if (this.byClientId.size > this.max) this.byClientId.delete(this.byClientId.keys().next().value!);
    }
  }

  get(orderId: number): ViewedOrder | undefined {
    const c = this.last.get(orderId);
    if (c === undefined) return undefined;
    const nl = c.indexOf('\n');
    // Exactly: the canonical JSON of a wide instrument's report holds cum_notional above 2^53.
    return { logIndex: Number(c.slice(0, nl)), report: jsonParseExact(c.slice(nl + 1)) as ExecutionReportOut };
  }

  /** The most recent order of the account on the shard accepted with this client order id, as far as this gateway saw. */
  orderIdOf(account: number, shard: number, clientOrderId: string): number | undefined {
    return this.byClientId.get(clientKey(account, shard, clientOrderId));
  }
}

function clientKey(account: number, shard: number, clientOrderId: string): string {
  return `${account}/${shard}/${clientOrderId}`;
}
