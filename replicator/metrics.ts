// A replica's Prometheus metrics (ops/metrics.ts): Raft state and counters read from the node
// when scraped (nothing on the command path), plus the histograms the node feeds through its
// `observer` option (fsync latency, commit latency, batch size, apply time) when it has one.
// Labels: shard (the cluster id) and node.

import fs from 'node:fs';
import path from 'node:path';
import { LATENCY_BUCKETS_S, prom, type Registry } from '../ops/metrics.js';
import type { NodeStatus } from './log.js';

/** Stage histogram buckets (s): 10 µs to 1 s, finer than LATENCY_BUCKETS_S below a millisecond. */
export const STAGE_BUCKETS_S = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
  0.25, 1,
];

const ROLES = ['FOLLOWER', 'PRE_CANDIDATE', 'CANDIDATE', 'LEADER'] as const;

/** Total size (bytes) of the files directly in dir and one level below (WAL segments, snapshots). */
function dirBytes(dir: string): number {
  let total = 0;
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const d of names) {
    const p = path.join(dir, d.name);
    try {
      if (d.isFile()) total += fs.statSync(p).size;
      else if (d.isDirectory()) for (const f of fs.readdirSync(p)) total += fs.statSync(path.join(p, f)).size;
    } catch {
      // removed while counting (compaction): skip
    }
  }
  return total;
}

/** Raft state read from the node's status when scraped: term, leader, indexes, pending proposals, role. */
function registerRaftStateGauges(registry: Registry, status: () => NodeStatus): void {
  const gauge = (name: string, help: string, read: (s: NodeStatus) => number) =>
    new prom.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(status()));
      },
    });
  gauge('matchbook_raft_term', 'Current Raft term', (s) => s.term);
  gauge('matchbook_raft_leader_id', 'Node id of the leader this node knows (0: none)', (s) => s.leader);
  gauge('matchbook_raft_commit_index', 'Highest log index known committed', (s) => s.commit);
  gauge('matchbook_raft_applied_index', 'Highest log index applied to the engine', (s) => s.applied);
  gauge('matchbook_raft_last_index', 'Last index in the log', (s) => s.lastIndex);
  gauge('matchbook_raft_snapshot_index', 'Index of the newest snapshot', (s) => s.snapshotIndex);
  gauge('matchbook_raft_pending_proposals', 'Commands proposed and not yet in a log entry', (s) => s.pendingProposals);
  new prom.Gauge({
    name: 'matchbook_raft_role',
    help: '1 for the role this node has now, 0 for the others',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      const r = status().role;
      for (const role of ROLES) this.set({ role }, role === r ? 1 : 0);
    },
  });
}

/** The node's running totals (elections, fsyncs, entries, snapshots, drops, refusals), copied when scraped. */
function registerRaftCounters(registry: Registry, status: () => NodeStatus): void {
  let termAtStart: number | undefined;
  const counter = (name: string, help: string, read: (s: NodeStatus) => number) =>
    new prom.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(status()));
      },
    });
  counter(
    'matchbook_raft_elections_total',
    'Terms started since this process started (each election starts a term; pre-votes do not)',
    (s) => {
      termAtStart ??= s.term;
      return Math.max(0, s.term - termAtStart);
    },
  );
  counter('matchbook_raft_fsyncs_total', 'fdatasync calls of the log', (s) => s.stats.fsyncs);
  counter('matchbook_raft_entries_appended_total', 'Log entries appended', (s) => s.stats.entriesAppended);
  counter('matchbook_raft_entries_applied_total', 'Log entries applied', (s) => s.stats.entriesApplied);
  counter('matchbook_raft_snapshots_total', 'Snapshots taken', (s) => s.stats.snapshotsTaken);
  counter(
    'matchbook_raft_messages_dropped_total',
    'Incoming Raft messages dropped (inbox full)',
    (s) => s.stats.messagesDropped,
  );
  counter(
    'matchbook_raft_proposals_rejected_total',
    'Proposals refused (not leader, queue full)',
    (s) => s.stats.proposalsRejected,
  );
}

export class ReplicaMetrics {
  readonly fsyncSeconds: prom.Histogram;
  readonly commitSeconds: prom.Histogram;
  readonly batchCommands: prom.Histogram;
  readonly applySeconds: prom.Histogram;
  readonly entryStageSeconds: prom.Histogram<'stage'>;

  constructor(
    readonly registry: Registry,
    status: () => NodeStatus,
    nodeDir: string,
  ) {
    registerRaftStateGauges(registry, status);
    registerRaftCounters(registry, status);
    new prom.Gauge({
      name: 'matchbook_wal_bytes',
      help: 'Bytes of the log segments and snapshots on disk',
      registers: [registry],
      collect() {
        this.set(dirBytes(nodeDir));
      },
    });
    this.fsyncSeconds = new prom.Histogram({
      name: 'matchbook_wal_fsync_seconds',
      help: 'fdatasync latency of a log append',
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
    this.commitSeconds = new prom.Histogram({
      name: 'matchbook_raft_commit_seconds',
      help: 'Leader: from a command being proposed to its entry being committed',
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
    this.batchCommands = new prom.Histogram({
      name: 'matchbook_raft_batch_commands',
      help: 'Commands per log entry (the leader packs what queued during one Ready)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
      registers: [registry],
    });
    this.entryStageSeconds = new prom.Histogram({
      name: 'matchbook_raft_entry_stage_seconds',
      help:
        'Leader, per applied entry (replicator/entry-trace.ts): queued = first command arrived → proposed; leader_durable = proposed → in the leader WAL (fdatasync); ' +
        'first_ack = proposed → first follower acknowledgement; committed = proposed → known committed; applied = committed → applied and answered',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS_S,
      registers: [registry],
    });
    this.applySeconds = new prom.Histogram({
      name: 'matchbook_engine_match_seconds',
      help: 'Engine time to apply one log entry (matching included), per entry',
      buckets: [
        0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01,
      ],
      registers: [registry],
    });
  }
}
