// The chaos suite's clients: one sequential REST client per account (one request in flight
// each, so "acknowledged before the next was sent" holds within a client and across clients by
// time), a seeded mix of new orders that rest and trade (limit GTC/IOC, market) and cancels of
// the client's own acknowledged orders, at a bounded rate. Every invocation is recorded with
// its outcome, like a Jepsen history:
//   ok       the gateway acknowledged it (2xx), or the engine refused it after sequencing (409
//            ORDER_REJECTED): it is in the log;
//   failed   refused before sequencing (4xx, 503 OVERLOADED), or the connection was refused
//            (the gateway is down): it must NOT be in the log;
//   unknown  no answer, a timeout, 503 UNAVAILABLE, 504, a dropped connection: either way,
//            resolved afterwards from the log by the checker.

import { OrderEntryRestClient } from '../gateway/client/rest-client.js';
import type { ExecutionReportOut } from '../api/execution-report.js';
import type { Prng } from '../replicator/prng.js';
import { keyOf } from './stack.js';

export type Outcome = 'ok' | 'failed' | 'unknown';

export interface Op {
  id: number;
  account: number;
  kind: 'new' | 'cancel';
  /** new: its client order id (unique in the run). */
  clOrdId: string;
  /** new: the id the gateway assigned (ok only); cancel: the order canceled. */
  orderId: number;
  body: Record<string, unknown>;
  sentAtMs: number;
  doneAtMs: number;
  outcome: Outcome;
  status: number;
  code: string;
  reports: ExecutionReportOut[];
}

/** Per request: longer than the gateway's own 10 s leader wait, so that it usually answers first (ms). */
export const REQUEST_TIMEOUT_MS = 15_000;
/** Live orders a client remembers for cancels (oldest forgotten first). */
const LIVE_ORDERS_KEPT = 200;

const FAILED_STATUSES = new Set([400, 401, 403, 404, 429]);

export function classify(status: number, code: string): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 409 && code === 'ORDER_REJECTED') return 'ok';
  if (FAILED_STATUSES.has(status) || (status === 409 && code !== 'ORDER_REJECTED')) return 'failed';
  if (status === 503 && code === 'OVERLOADED') return 'failed';
  return 'unknown';
}

export interface WorkloadOptions {
  restUrl: string;
  accounts: readonly number[];
  rng: Prng;
  /** Requests per second per client at most. */
  ratePerClient: number;
  /** Stop after this many requests in all (a bounded flow). */
  maxOps: number;
  log?: (line: string) => void;
}

export class Workload {
  readonly ops: Op[] = [];
  private stopping = false;
  private loops: Promise<void>[] = [];
  private nextId = 0;

  constructor(private readonly opts: WorkloadOptions) {}

  start(): void {
    this.loops = this.opts.accounts.map((account, k) => this.run(account, this.opts.rng.fork(100 + k)));
  }

  /** Stops sending; resolves when every request in flight has its outcome. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  get done(): boolean {
    return this.nextId >= this.opts.maxOps;
  }

  private async run(account: number, rng: Prng): Promise<void> {
    const client = new OrderEntryRestClient({
      baseUrl: this.opts.restUrl,
      key: keyOf(account),
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    const live: number[] = [];
    const intervalMs = 1_000 / this.opts.ratePerClient;
    let n = 0;
    while (!this.stopping && this.nextId < this.opts.maxOps) {
      const id = this.nextId++;
      const t0 = Date.now();
      const r = rng.int(100);
      let op: Op;
      if (r < 15 && live.length > 0) {
        const orderId = live.splice(rng.int(live.length), 1)[0]!;
        op = this.newOp(id, account, 'cancel', '', orderId, {});
        await this.send(op, () => client.cancelOrder(orderId));
      } else {
        const btc = rng.chance(0.7);
        const side = rng.chance(0.5) ? 'BUY' : 'SELL';
        const clOrdId = `c${account}-${++n}`;
        const qty = btc ? 1 + rng.int(6) : 10 * (1 + rng.int(6));
        const body: Record<string, unknown> =
          r < 20
            ? {
                client_order_id: clOrdId,
                symbol: btc ? 'BTC-USD' : 'ETH-USD',
                side,
                order_type: 'MARKET',
                time_in_force: 'IOC',
                quantity: qty,
              }
            : {
                client_order_id: clOrdId,
                symbol: btc ? 'BTC-USD' : 'ETH-USD',
                side,
                order_type: 'LIMIT',
                time_in_force: r < 35 ? 'IOC' : 'GTC',
                price: btc ? 5_000_000 + (rng.int(21) - 10) : 300_000 + 5 * (rng.int(21) - 10),
                quantity: qty,
              };
        op = this.newOp(id, account, 'new', clOrdId, 0, body);
        await this.send(op, () => client.placeOrder(body));
        if (
          op.outcome === 'ok' &&
          op.orderId > 0 &&
          op.reports.some(
            (x) => x.order_id === op.orderId && (x.order_status === 'NEW' || x.order_status === 'PARTIALLY_FILLED'),
          )
        ) {
          live.push(op.orderId);
          if (live.length > LIVE_ORDERS_KEPT) live.shift();
        }
      }
      const wait = intervalMs - (Date.now() - t0);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private newOp(
    id: number,
    account: number,
    kind: Op['kind'],
    clOrdId: string,
    orderId: number,
    body: Record<string, unknown>,
  ): Op {
    const op: Op = {
      id,
      account,
      kind,
      clOrdId,
      orderId,
      body,
      sentAtMs: Date.now(),
      doneAtMs: 0,
      outcome: 'unknown',
      status: 0,
      code: '',
      reports: [],
    };
    this.ops.push(op);
    return op;
  }

  private async send(op: Op, call: () => Promise<{ status: number; body: unknown }>): Promise<void> {
    op.sentAtMs = Date.now();
    try {
      const res = await call();
      const body = (res.body ?? {}) as {
        code?: string;
        result?: { reports?: ExecutionReportOut[]; order_id?: number };
      };
      op.status = res.status;
      op.code = body.code ?? '';
      op.outcome = classify(res.status, op.code);
      op.reports = body.result?.reports ?? [];
      if (op.kind === 'new' && op.outcome === 'ok') op.orderId = body.result?.order_id ?? op.reports[0]?.order_id ?? 0;
    } catch (err) {
      // Connection refused: nothing reached the gateway (it is down), so nothing can take effect.
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      op.outcome = cause === 'ECONNREFUSED' ? 'failed' : 'unknown';
      op.code = (err as Error).name === 'TimeoutError' ? 'CLIENT_TIMEOUT' : (cause ?? 'CONNECTION_ERROR');
    }
    op.doneAtMs = Date.now();
  }
}
