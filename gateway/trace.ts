// Where an order's time goes inside the gateway: each request carries an OrderTrace with
// performance.now() stamps (ms) of its stages — received at the edge, validated (signature,
// decoding, checks), risk-checked, sent to the shard's leader, the leader's reply received,
// reports signed, reply written — and TraceBook turns finished traces into a histogram per
// stage (/metrics: matchbook_gateway_stage_seconds) and keeps the slowest recent ones for
// the slow-order dump (POST /v1/admin/slow-orders), which joins the leader's own stage times
// of the same log entry (replicator/entry-trace.ts, op 'trace'). Stamps are taken on every
// request (a handful of clock reads); nothing here decides anything.

import { prom, type Registry } from '../ops/metrics.js';
import { SLOW_ORDER_MS_DEFAULT } from '../config/gateway-config.js';
import { SLOW_ORDERS_MAX } from './limits.js';

/** Stage histogram buckets (s): 10 µs to 1 s. */
export const GATEWAY_STAGE_BUCKETS_S = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
  0.25, 1,
];

/** The stages after `received`, in order; each histogram holds the time from the previous stage reached. */
export const GATEWAY_STAGES = ['validated', 'checked', 'sent', 'replied', 'signed', 'written'] as const;
export type GatewayStage = (typeof GATEWAY_STAGES)[number];

export class OrderTrace {
  validated = 0;
  checked = 0;
  sent = 0;
  replied = 0;
  signed = 0;
  written = 0;
  /** Of the (first) shard's reply: where the leader's stage times of this command can be found. */
  shard = -1;
  logIndex = 0;
  commands = 1;
  constructor(
    readonly protocol: 'rest' | 'grpc' | 'grpc_session',
    readonly op: string,
    readonly received: number,
  ) {}
}

/** One slow request as the dump shows it: ms since it was received, per stage reached. */
export interface SlowOrder {
  protocol: string;
  op: string;
  commands: number;
  /** Date.now() when it finished. */
  atMs: number;
  totalMs: number;
  stagesMs: Partial<Record<GatewayStage, number>>;
  shard: number;
  logIndex: number;
}

export class TraceBook {
  private readonly stage: prom.Histogram.Internal<'stage'>[];
  private readonly ring: (SlowOrder | undefined)[] = new Array(SLOW_ORDERS_MAX);
  private ringNext = 0;
  constructor(
    registry: Registry,
    private readonly slowMs = SLOW_ORDER_MS_DEFAULT,
  ) {
    const h = new prom.Histogram({
      name: 'matchbook_gateway_stage_seconds',
      help:
        'Per request, time spent in each gateway stage (gateway/trace.ts): validated = received → validated; checked = → rate/risk checked; sent = → handed to the shard link; ' +
        'replied = → the leader replied (its stages: matchbook_raft_entry_stage_seconds); signed = → reports built, chained and signed (fills of other accounts’ resting orders pushed to their open sessions included); written = → reply written',
      labelNames: ['stage'],
      buckets: GATEWAY_STAGE_BUCKETS_S,
      registers: [registry],
    });
    this.stage = GATEWAY_STAGES.map((s) => h.labels(s));
  }

  /** A request is answered: its stages go to the histograms; a slow one goes to the dump. */
  finish(t: OrderTrace): void {
    if (t.written === 0) t.written = performance.now();
    let prev = t.received;
    for (let k = 0; k < GATEWAY_STAGES.length; k++) {
      const at = t[GATEWAY_STAGES[k]!];
      if (at === 0) continue;
      this.stage[k]!.observe(Math.max(0, at - prev) / 1000);
      prev = at;
    }
    const total = t.written - t.received;
    if (total < this.slowMs) return;
    const stagesMs: Partial<Record<GatewayStage, number>> = {};
    for (const s of GATEWAY_STAGES) if (t[s] !== 0) stagesMs[s] = Math.round((t[s] - t.received) * 1000) / 1000;
    this.ring[this.ringNext] = {
      protocol: t.protocol,
      op: t.op,
      commands: t.commands,
      atMs: Date.now(),
      totalMs: Math.round(total * 1000) / 1000,
      stagesMs,
      shard: t.shard,
      logIndex: t.logIndex,
    };
    this.ringNext = (this.ringNext + 1) % SLOW_ORDERS_MAX;
  }

  /** The slow requests kept, newest first. */
  slow(): SlowOrder[] {
    const out: SlowOrder[] = [];
    for (let k = 1; k <= SLOW_ORDERS_MAX; k++) {
      const s = this.ring[(this.ringNext - k + SLOW_ORDERS_MAX) % SLOW_ORDERS_MAX];
      if (s !== undefined) out.push(s);
    }
    return out;
  }
}
