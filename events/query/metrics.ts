// The query process's Prometheus metrics (ops/metrics.ts), served on its REST port
// (GET /metrics), and its readiness. Consumer lag per read model is the figure /v1/lag and
// /healthz already report (records in the model's topics not yet applied, from the high
// watermarks polled every LAG_POLL_MS); it and every other gauge or counter is read when
// scraped. Only the query counter and latency histogram are updated per query, through
// pre-bound children (no label-object allocation).

import { LATENCY_BUCKETS_S, prom, readCounter, readGauge, type Registry } from '../../ops/metrics.js';
import type { ReadModelConsumer } from '../read-models/consumer.js';
import type { QueryOp, QueryService } from './service.js';
import { QUERY_READY_LAG_RECORDS_MAX } from './limits.js';

export interface QueryMetricsSource {
  consumer: Pick<ReadModelConsumer, 'lag' | 'stats' | 'model' | 'rebuilding'>;
  service: Pick<QueryService, 'asOf' | 'stats'>;
}

export class QueryMetrics {
  private readonly queries: prom.Counter<'op' | 'code'>;
  private readonly seconds: prom.Histogram<'op'>;
  private readonly queryChildren = new Map<string, prom.Counter.Internal>();
  private readonly secondsChildren = new Map<string, prom.Histogram.Internal<'op'>>();

  constructor(
    readonly registry: Registry,
    src: QueryMetricsSource,
  ) {
    const { consumer, service } = src;
    registerVisibilityGauges(registry, consumer, service);
    registerProgressCounters(registry, consumer, service);
    this.queries = new prom.Counter({
      name: 'matchbook_query_requests_total',
      help: 'Queries answered (REST and gRPC), per operation and result code (OK or the error code)',
      labelNames: ['op', 'code'],
      registers: [registry],
    });
    this.seconds = new prom.Histogram({
      name: 'matchbook_query_seconds',
      help: 'Query time from the edge handing it to the service to its answer (read-your-writes waits included), per operation',
      labelNames: ['op'],
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
  }

  /** QueryServiceOptions.observe. */
  readonly observe = (op: QueryOp, code: string, seconds: number): void => {
    const k = `${op}|${code}`;
    let c = this.queryChildren.get(k);
    if (c === undefined) this.queryChildren.set(k, (c = this.queries.labels({ op, code })));
    c.inc();
    let h = this.secondsChildren.get(op);
    if (h === undefined) this.secondsChildren.set(op, (h = this.seconds.labels({ op })));
    h.observe(seconds);
  };
}

/** Consumer lag per read model, and per shard what the read models hold (read-your-writes). */
function registerVisibilityGauges(
  registry: Registry,
  consumer: QueryMetricsSource['consumer'],
  service: QueryMetricsSource['service'],
): void {
  readGauge(
    registry,
    'matchbook_query_consumer_lag_records',
    'Records in the read model topics not yet applied (sum over partitions of high watermark minus next offset), per read model',
    () =>
      Object.entries(consumer.lag()).map(
        ([read_model, l]) => [{ read_model }, l.lag] as [{ read_model: string }, number],
      ),
    ['read_model'],
  );
  readGauge(
    registry,
    'matchbook_query_visible_seq',
    'Per shard, the engine seq up to which the read models hold every event (read-your-writes)',
    () => service.asOf().map((a) => [{ shard: String(a.shard) }, a.seq] as [{ shard: string }, number]),
    ['shard'],
  );
  readGauge(
    registry,
    'matchbook_query_visible_log_index',
    'Per shard, the log index up to which the read models hold every event',
    () => service.asOf().map((a) => [{ shard: String(a.shard) }, a.log_index] as [{ shard: string }, number]),
    ['shard'],
  );
}

/** Events applied, consumer batches, gaps and rebalances, snapshots, read-your-writes waits. */
function registerProgressCounters(
  registry: Registry,
  consumer: QueryMetricsSource['consumer'],
  service: QueryMetricsSource['service'],
): void {
  readCounter(
    registry,
    'matchbook_query_events_applied_total',
    'Events applied to the read models (restored from the snapshot file included)',
    () => consumer.model.stats.applied,
  );
  readCounter(
    registry,
    'matchbook_query_events_duplicate_total',
    'Event copies dropped by (shard, log index, position): a publisher resent them',
    () => consumer.model.stats.duplicates,
  );
  readCounter(
    registry,
    'matchbook_query_consumer_batches_total',
    'Batches consumed from Kafka',
    () => consumer.stats.batches,
  );
  readCounter(
    registry,
    'matchbook_query_consumer_gaps_total',
    'Partitions whose records started after the model offset (deleted by retention): events missed',
    () => consumer.stats.gaps,
  );
  readCounter(
    registry,
    'matchbook_query_consumer_undecodable_total',
    'Records skipped because they do not decode',
    () => consumer.stats.undecodable,
  );
  readCounter(
    registry,
    'matchbook_query_consumer_rebalances_total',
    'Consumer group joins (the first and every rebalance)',
    () => consumer.stats.joins,
  );
  readCounter(
    registry,
    'matchbook_query_read_model_rebuilds_total',
    'Times the read models were discarded and rebuilt from offset zero (their snapshot unusable, another Kafka cluster, or offsets past the high watermark)',
    () => consumer.stats.rebuilds,
  );
  readGauge(
    registry,
    'matchbook_query_read_model_rebuilding',
    '1 while the read models rebuild from offset zero (the process is not ready), else 0',
    () => (consumer.rebuilding() === undefined ? 0 : 1),
  );
  readCounter(
    registry,
    'matchbook_query_snapshots_written_total',
    'Read model snapshot files written',
    () => consumer.stats.snapshotsWritten,
  );
  readCounter(
    registry,
    'matchbook_query_read_after_waits_total',
    'Queries that waited for their min_seq (read-your-writes)',
    () => service.stats.waited,
  );
  readCounter(
    registry,
    'matchbook_query_not_yet_consistent_total',
    'Queries answered NOT_YET_CONSISTENT (min_seq not visible within wait_ms)',
    () => service.stats.notYetConsistent,
  );
}

/**
 * /readyz of the query process: the consumer runs (started, and not restarting after a crash), the read models are not rebuilding (a
 * rebuild is not ready until it has caught up, whatever its lag), and every read model is at
 * most lagRecordsMax behind.
 */
export function queryReady(
  consuming: boolean,
  consumer: Pick<ReadModelConsumer, 'lag' | 'rebuilding' | 'running'>,
  lagRecordsMax = QUERY_READY_LAG_RECORDS_MAX,
): { ready: boolean } & Record<string, unknown> {
  const lag: Record<string, number> = {};
  let worst = 0;
  for (const [name, l] of Object.entries(consumer.lag())) {
    lag[name] = l.lag;
    worst = Math.max(worst, l.lag);
  }
  const rebuild = consumer.rebuilding();
  // After a crash the consumer restarts (read-models/consumer.ts): its lag figures are stale meanwhile.
  const running = consuming && consumer.running();
  return {
    ready: running && rebuild === undefined && worst <= lagRecordsMax,
    consuming: running,
    ...(rebuild !== undefined ? { rebuilding: rebuild.reason } : {}),
    lag,
    lagRecordsMax,
  };
}
