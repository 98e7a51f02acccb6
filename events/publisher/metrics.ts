// The publisher's Prometheus metrics (ops/metrics.ts), all read from Publisher.status() when
// scraped (nothing on the publish path), and its readiness. Served by main.ts on --ops.
//
// Lag is counted in log entries: the applied index of the replica it reads from (as of its last
// answer) minus the last index whose events the brokers acknowledged. The replicas' `entries`
// answer carries their applied index, not their engine seq, so a lag in seq is not available;
// the published seq is exported for comparison with order entry's seqs.

import { readCounter, readGauge, type Registry } from '../../ops/metrics.js';
import type { Publisher, PublisherStatus } from './publisher.js';
import { PUBLISHER_READY_LAG_ENTRIES_MAX } from './limits.js';

const STATES: PublisherStatus['state'][] = ['starting', 'replaying', 'publishing', 'retrying', 'refused', 'stopped'];

export function registerPublisherMetrics(registry: Registry, publisher: Pick<Publisher, 'status'>): void {
  // One status() per gauge would copy the gaps list each time; the scrape reads one snapshot.
  let cached: { at: number; s: PublisherStatus } | undefined;
  const status = (): PublisherStatus => {
    const now = performance.now();
    if (cached === undefined || now - cached.at > 100) cached = { at: now, s: publisher.status() };
    return cached.s;
  };
  registerProgressGauges(registry, status);
  registerSendCounters(registry, status);
}

/** Lag, indexes, source replica and state: gauges read from one status snapshot per scrape. */
function registerProgressGauges(registry: Registry, status: () => PublisherStatus): void {
  readGauge(
    registry,
    'matchbook_publisher_lag_entries',
    'Log entries applied by the replica read from and not yet published (acknowledged by the brokers)',
    () => status().lagEntries,
  );
  readGauge(
    registry,
    'matchbook_publisher_published_index',
    'Last log index whose events are all acknowledged by the brokers',
    () => status().publishedIndex,
  );
  readGauge(
    registry,
    'matchbook_publisher_published_seq',
    'Engine seq of the last published index (read-your-writes marks compare against it)',
    () => status().publishedSeq,
  );
  readGauge(
    registry,
    'matchbook_publisher_applied_index',
    "Log index the publisher's own state machine has applied",
    () => status().appliedIndex,
  );
  readGauge(
    registry,
    'matchbook_publisher_replica_applied_index',
    'Applied index of the replica read from, as of its last answer',
    () => status().replicaApplied,
  );
  readGauge(
    registry,
    'matchbook_publisher_source_replica',
    'Node id of the replica the committed log is read from',
    () => status().replica,
  );
  readGauge(
    registry,
    'matchbook_publisher_checkpoint_index',
    'Log index of the newest local checkpoint written',
    () => status().checkpointIndex,
  );
  readGauge(
    registry,
    'matchbook_publisher_log_refused',
    "1 while the publisher refuses its resume point: the replicas' log is not the one the last progress record is about (a wiped exchange), or cannot be shown to be; nothing of the shard is published",
    () => {
      const c = status().logCheck;
      return c === 'mismatch' || c === 'unverifiable' ? 1 : 0;
    },
  );
  readGauge(
    registry,
    'matchbook_publisher_state',
    '1 for the state the publisher is in now, 0 for the others',
    () => {
      const now = status().state;
      return STATES.map((state) => [{ state }, state === now ? 1 : 0] as [{ state: string }, number]);
    },
    ['state'],
  );
}

/** Records, batches, sessions and gaps: counters copied from the status totals. */
function registerSendCounters(registry: Registry, status: () => PublisherStatus): void {
  readCounter(
    registry,
    'matchbook_publisher_records_sent_total',
    'Event records acknowledged by the brokers (resent ones count again)',
    () => status().recordsSent,
  );
  readCounter(
    registry,
    'matchbook_publisher_batches_sent_total',
    'Batches of event records acknowledged',
    () => status().batchesSent,
  );
  readCounter(
    registry,
    'matchbook_publisher_progress_records_sent_total',
    'Progress records acknowledged',
    () => status().progressRecordsSent,
  );
  readCounter(
    registry,
    'matchbook_publisher_sessions_total',
    'Sessions started (the first, and one after every failure)',
    () => status().sessions,
  );
  readCounter(
    registry,
    'matchbook_publisher_gaps_total',
    'Gaps: ranges of entries the replicas compacted before the publisher read them (their events are lost to consumers)',
    () => status().gapCount,
  );
  readCounter(registry, 'matchbook_publisher_gap_entries_total', 'Log entries lost in gaps', () => status().gapEntries);
  readCounter(
    registry,
    'matchbook_publisher_broker_resets_total',
    'Sessions ended because the broker held fewer records than the publisher had written (wiped or replaced under it)',
    () => status().brokerResets,
  );
}

/**
 * /readyz of the publisher process: publishing and less than PUBLISHER_READY_LAG_ENTRIES_MAX
 * behind (a refused resume point is state 'refused': not ready, with logCheck and its reason).
 */
export function publisherReady(
  publisher: Pick<Publisher, 'status'>,
  lagEntriesMax = PUBLISHER_READY_LAG_ENTRIES_MAX,
): { ready: boolean } & Record<string, unknown> {
  const s = publisher.status();
  return {
    ready: s.state === 'publishing' && s.lagEntries <= lagEntriesMax,
    state: s.state,
    lagEntries: s.lagEntries,
    lagEntriesMax,
    publishedIndex: s.publishedIndex,
    replicaApplied: s.replicaApplied,
    logCheck: s.logCheck,
    ...(s.logCheckReason !== undefined ? { logCheckReason: s.logCheckReason } : {}),
  };
}
