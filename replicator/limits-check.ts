// How the replica process's limits must relate, asserted when the process loads (node.ts
// imports this file): a build whose limits contradict each other stops at start, instead of
// refusing a full batch or cutting a frame in production. Each rule says why it must hold.
// checkReplicaLimits() takes the values as an argument so a test can plant a contradiction.

import { assertLimits, brokenRules, type LimitRule } from '../ops/limits.js';
import {
  BATCH_BYTES_MAX,
  BATCH_COMMAND_OVERHEAD_BYTES,
  BATCH_COMMANDS_MAX,
  BATCH_HEADER_BYTES,
  COMMAND_BYTES_MAX,
} from '../shard/batch-codec.js';
import { SNAPSHOT_MEMBERS_MAX } from '../shard/snapshot-envelope.js';
import * as limits from './limits.js';
import { READ_PENDING_MAX } from './raft/raft-core.js';
import { ENTRY_OVERHEAD_BYTES } from './raft/raft-log.js';
import {
  ENTRY_HEADER_BYTES,
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  MESSAGE_FIXED_BYTES,
  SNAPSHOT_FIXED_BYTES,
} from './transport/raft-codec.js';
import {
  PAXOS_MESSAGE_FIXED_BYTES,
  PAXOS_MESSAGE_VALUES_MAX,
  SLOT_VALUE_HEADER_BYTES,
  SNAPSHOT_CHUNK_FIXED_BYTES,
} from './transport/paxos-codec.js';
import { ENTRY_DATA_BYTES_MAX, RECORD_BYTES_MAX } from './wal/record.js';
import { SEGMENT_BYTES_MAX } from './wal/wal.js';
import { SNAPSHOT_BYTES_MAX } from './wal/snapshot-file.js';
import { PEER_QUEUE_BYTES_MAX } from './transport/tcp-transport.js';
import { PAXOS_SNAPSHOT_HEADER_BYTES } from './paxos/record-log.js';

/** Every limit a rule below reads: this process's (limits.ts) and the ones it is checked against. */
export const REPLICA_LIMITS = {
  ...limits,
  COMMAND_BYTES_MAX,
  BATCH_BYTES_MAX,
  BATCH_COMMANDS_MAX,
  FRAME_BYTES_MAX,
  RECORD_BYTES_MAX,
  ENTRY_DATA_BYTES_MAX,
  SEGMENT_BYTES_MAX,
  READ_PENDING_MAX,
  SNAPSHOT_BYTES_MAX,
  PEER_QUEUE_BYTES_MAX,
  PAXOS_MESSAGE_VALUES_MAX,
};
export type ReplicaLimits = { [K in keyof typeof REPLICA_LIMITS]: number };

/** The rules, each a name, a reason and a check; the violated ones' names and reasons are returned. */
export function checkReplicaLimits(l: ReplicaLimits = REPLICA_LIMITS): string[] {
  const rules: LimitRule[] = [
    [
      'the largest command fits a batch entry on its own',
      l.COMMAND_BYTES_MAX + BATCH_COMMAND_OVERHEAD_BYTES + BATCH_HEADER_BYTES <= l.BATCH_BYTES_MAX,
    ],
    ['a full batch entry fits one WAL record', l.BATCH_BYTES_MAX <= l.ENTRY_DATA_BYTES_MAX],
    ['a WAL record fits one segment', l.RECORD_BYTES_MAX <= l.SEGMENT_BYTES_MAX],
    ['one wal.append() batch is under the WAL append limit', l.WAL_APPEND_BATCH_BYTES_MAX <= l.WAL_APPEND_BYTES_MAX],
    ['the largest record fits one wal.append() batch', l.RECORD_BYTES_MAX <= l.WAL_APPEND_BATCH_BYTES_MAX],
    // The core fills an APPEND up to RAFT_APPEND_BYTES_MAX (counting ENTRY_OVERHEAD_BYTES per
    // entry, which covers each entry's wire header) or sends one larger entry alone.
    ['the log counts at least the wire header per entry', ENTRY_OVERHEAD_BYTES >= ENTRY_HEADER_BYTES],
    [
      'a full APPEND fits one transport frame',
      FRAME_HEADER_BYTES +
        MESSAGE_FIXED_BYTES +
        Math.max(l.RAFT_APPEND_BYTES_MAX, l.BATCH_BYTES_MAX + ENTRY_HEADER_BYTES) <=
        l.FRAME_BYTES_MAX,
    ],
    [
      'a snapshot chunk with the largest membership fits one transport frame',
      FRAME_HEADER_BYTES +
        MESSAGE_FIXED_BYTES +
        SNAPSHOT_FIXED_BYTES +
        8 * SNAPSHOT_MEMBERS_MAX +
        l.SNAPSHOT_CHUNK_BYTES <=
        l.FRAME_BYTES_MAX,
    ],
    ['a coalesced transport batch fits one frame', l.TRANSPORT_BATCH_BYTES_MAX <= l.FRAME_BYTES_MAX],
    [
      'a follower window holds at least one full APPEND',
      l.INFLIGHT_BYTES_MAX >= l.RAFT_APPEND_BYTES_MAX && l.INFLIGHT_MESSAGES_MAX >= 1,
    ],
    ['the proposal queue holds at least one full batch', l.PENDING_PROPOSALS_MAX >= l.BATCH_COMMANDS_MAX],
    ['the node never queues more reads than the core accepts', l.READS_PENDING_MAX <= l.READ_PENDING_MAX],
    [
      'one lost heartbeat never starts an election (2 heartbeats < election timeout)',
      2 * l.HEARTBEAT_TICKS < l.ELECTION_TICKS,
    ],
    ['the leader time tick is slower than a Raft tick', l.TIME_TICK_MS >= l.TICK_MS],
    // Multi-Paxos: a PROMISE carries up to the accept window's values and a LEARN up to
    // PAXOS_LEARN_SLOTS_MAX (paxos-codec.ts refuses more than PAXOS_MESSAGE_VALUES_MAX), each
    // value a full batch at most; snapshots travel in SNAPSHOT_CHUNK_BYTES chunks.
    [
      'a Multi-Paxos acceptor accepts the whole pipeline window',
      l.PAXOS_ACCEPT_WINDOW_SLOTS >= l.PAXOS_PIPELINE_SLOTS_MAX && l.PAXOS_PIPELINE_SLOTS_MAX >= 1,
    ],
    [
      'the Multi-Paxos decoder accepts a PROMISE of the whole accept window and a full LEARN',
      l.PAXOS_MESSAGE_VALUES_MAX >= Math.max(l.PAXOS_ACCEPT_WINDOW_SLOTS, l.PAXOS_LEARN_SLOTS_MAX),
    ],
    [
      'the largest PROMISE or LEARN the Multi-Paxos decoder accepts fits one transport frame',
      FRAME_HEADER_BYTES +
        PAXOS_MESSAGE_FIXED_BYTES +
        l.PAXOS_MESSAGE_VALUES_MAX * (l.BATCH_BYTES_MAX + SLOT_VALUE_HEADER_BYTES) <=
        l.FRAME_BYTES_MAX,
    ],
    [
      'a Multi-Paxos snapshot chunk fits one transport frame',
      FRAME_HEADER_BYTES + SNAPSHOT_CHUNK_FIXED_BYTES + l.SNAPSHOT_CHUNK_BYTES <= l.FRAME_BYTES_MAX,
    ],
    [
      'a received Multi-Paxos snapshot, with the record log header, fits the WAL snapshot limit',
      l.PAXOS_SNAPSHOT_BYTES_MAX + PAXOS_SNAPSHOT_HEADER_BYTES <= l.SNAPSHOT_BYTES_MAX &&
        l.PAXOS_SNAPSHOT_BYTES_MAX >= l.SNAPSHOT_CHUNK_BYTES,
    ],
    [
      'a Multi-Paxos sender queues at least one snapshot chunk, and leaves room in the peer queue for messages',
      l.PAXOS_SNAPSHOT_QUEUED_BYTES_MAX >= l.SNAPSHOT_CHUNK_BYTES &&
        l.PAXOS_SNAPSHOT_QUEUED_BYTES_MAX + SNAPSHOT_CHUNK_FIXED_BYTES + l.SNAPSHOT_CHUNK_BYTES <=
          l.PEER_QUEUE_BYTES_MAX &&
        l.PAXOS_SNAPSHOT_PACE_MS > 0,
    ],
  ];
  return brokenRules(rules);
}

assertLimits('replica', 'replicator/limits.ts', checkReplicaLimits());
