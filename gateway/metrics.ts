// The gateway's Prometheus metrics (ops/metrics.ts for the registry and conventions). Counters
// and the ack histogram are updated on the request path through pre-bound children (a Map
// lookup, no label-object allocation); gauges are read from the core when scraped.

import { LATENCY_BUCKETS_S, prom, type Registry } from '../ops/metrics.js';

export interface GatewayGaugeSource {
  sessions(): number;
  shardInflight(): Map<number, number>;
  pool(): { queued: number; inFlight: number; tasks: number; items: number; signedInline: number };
  chainSeq(): number;
}

export class GatewayMetrics {
  private readonly ack: prom.Histogram<'protocol' | 'op'>;
  private readonly requests: prom.Counter<'protocol' | 'op' | 'code'>;
  private readonly ackChildren = new Map<string, prom.Histogram.Internal<'protocol' | 'op'>>();
  private readonly requestChildren = new Map<string, prom.Counter.Internal>();
  readonly rateLimited: prom.Counter;
  readonly riskRejects: prom.Counter<'code'>;
  readonly overloaded: prom.Counter;

  constructor(
    readonly registry: Registry,
    source: GatewayGaugeSource,
  ) {
    this.ack = new prom.Histogram({
      name: 'matchbook_gateway_order_ack_seconds',
      help: 'Time from a request reaching the gateway core to its answer (committed on a majority, applied, reports signed), per protocol and operation',
      labelNames: ['protocol', 'op'],
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
    this.requests = new prom.Counter({
      name: 'matchbook_gateway_requests_total',
      help: 'Requests answered, per protocol, operation and result code (OK or the error code)',
      labelNames: ['protocol', 'op', 'code'],
      registers: [registry],
    });
    this.rateLimited = new prom.Counter({
      name: 'matchbook_gateway_rate_limited_total',
      help: 'Requests refused by an API key rate limit',
      registers: [registry],
    });
    this.riskRejects = new prom.Counter({
      name: 'matchbook_gateway_risk_rejects_total',
      help: 'Commands refused by pre-trade risk, per code',
      labelNames: ['code'],
      registers: [registry],
    });
    this.overloaded = new prom.Counter({
      name: 'matchbook_gateway_overloaded_total',
      help: 'Commands refused OVERLOADED because a queue was full',
      registers: [registry],
    });
    new prom.Gauge({
      name: 'matchbook_gateway_sessions',
      help: 'Open order sessions',
      registers: [registry],
      collect() {
        this.set(source.sessions());
      },
    });
    new prom.Gauge({
      name: 'matchbook_gateway_shard_inflight_commands',
      help: 'Commands sent to a shard and not yet acknowledged',
      labelNames: ['shard'],
      registers: [registry],
      collect() {
        for (const [shard, n] of source.shardInflight()) this.set({ shard: String(shard) }, n);
      },
    });
    new prom.Gauge({
      name: 'matchbook_gateway_validation_queue_items',
      help: 'Items waiting for the validation pool',
      registers: [registry],
      collect() {
        this.set(source.pool().queued);
      },
    });
    new prom.Gauge({
      name: 'matchbook_gateway_validation_tasks_in_flight',
      help: 'Validation pool tasks running or queued in the worker threads',
      registers: [registry],
      collect() {
        this.set(source.pool().inFlight);
      },
    });
    new prom.Counter({
      name: 'matchbook_gateway_validation_tasks_total',
      help: 'Tasks handed to the validation worker threads',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(source.pool().tasks);
      },
    });
    new prom.Counter({
      name: 'matchbook_gateway_validation_items_total',
      help: 'Items validated or signed in the worker threads (items / tasks = mean batch size)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(source.pool().items);
      },
    });
    new prom.Gauge({
      name: 'matchbook_gateway_report_chain_seq',
      help: 'Reports chained since the gateway started (the chain head sequence)',
      registers: [registry],
      collect() {
        this.set(source.chainSeq());
      },
    });
  }

  /** One answered request: its latency (s) and result code. */
  observe(protocol: string, op: string, code: string, seconds: number): void {
    const key = `${protocol}|${op}`;
    let h = this.ackChildren.get(key);
    if (h === undefined) this.ackChildren.set(key, (h = this.ack.labels(protocol, op)));
    h.observe(seconds);
    const ckey = `${key}|${code}`;
    let c = this.requestChildren.get(ckey);
    if (c === undefined) this.requestChildren.set(ckey, (c = this.requests.labels(protocol, op, code)));
    c.inc();
  }
}
