// The replica's limits are checked against each other when the process loads
// (replicator/limits-check.ts): today's values pass, and each planted contradiction is named.

import { describe, expect, it } from 'vitest';
import { REPLICA_LIMITS, checkReplicaLimits } from '../../replicator/limits-check.js';

describe('replica limits', () => {
  it("today's limits satisfy every rule", () => {
    expect(checkReplicaLimits()).toEqual([]);
  });

  it.each([
    [{ COMMAND_BYTES_MAX: REPLICA_LIMITS.BATCH_BYTES_MAX }, 'the largest command fits a batch entry on its own'],
    [
      // (Multi-Paxos windows of one value each, so that only the WAL rule breaks.)
      {
        BATCH_BYTES_MAX: REPLICA_LIMITS.ENTRY_DATA_BYTES_MAX + 1,
        PAXOS_PIPELINE_SLOTS_MAX: 1,
        PAXOS_ACCEPT_WINDOW_SLOTS: 1,
        PAXOS_LEARN_SLOTS_MAX: 1,
        PAXOS_MESSAGE_VALUES_MAX: 1,
      },
      'a full batch entry fits one WAL record',
    ],
    [
      { WAL_APPEND_BATCH_BYTES_MAX: REPLICA_LIMITS.WAL_APPEND_BYTES_MAX * 2 },
      'one wal.append() batch is under the WAL append limit',
    ],
    [{ RAFT_APPEND_BYTES_MAX: REPLICA_LIMITS.FRAME_BYTES_MAX }, 'a full APPEND fits one transport frame'],
    [
      // (Raft's chunk is the larger of the two: a chunk too large for Multi-Paxos is too large for Raft.)
      { SNAPSHOT_CHUNK_BYTES: REPLICA_LIMITS.FRAME_BYTES_MAX },
      [
        'a snapshot chunk with the largest membership fits one transport frame',
        'a Multi-Paxos snapshot chunk fits one transport frame',
        'a Multi-Paxos sender queues at least one snapshot chunk, and leaves room in the peer queue for messages',
      ],
    ],
    [{ TRANSPORT_BATCH_BYTES_MAX: REPLICA_LIMITS.FRAME_BYTES_MAX + 1 }, 'a coalesced transport batch fits one frame'],
    [{ INFLIGHT_BYTES_MAX: 1 }, 'a follower window holds at least one full APPEND'],
    [{ PENDING_PROPOSALS_MAX: 1 }, 'the proposal queue holds at least one full batch'],
    [
      { READS_PENDING_MAX: REPLICA_LIMITS.READ_PENDING_MAX + 1 },
      'the node never queues more reads than the core accepts',
    ],
    [
      { HEARTBEAT_TICKS: REPLICA_LIMITS.ELECTION_TICKS },
      'one lost heartbeat never starts an election (2 heartbeats < election timeout)',
    ],
    [{ PAXOS_ACCEPT_WINDOW_SLOTS: 1 }, 'a Multi-Paxos acceptor accepts the whole pipeline window'],
    [
      { PAXOS_ACCEPT_WINDOW_SLOTS: 64, PAXOS_PIPELINE_SLOTS_MAX: 1 },
      'the Multi-Paxos decoder accepts a PROMISE of the whole accept window and a full LEARN',
    ],
    [
      { PAXOS_MESSAGE_VALUES_MAX: 64 },
      'the largest PROMISE or LEARN the Multi-Paxos decoder accepts fits one transport frame',
    ],
    [
      { PAXOS_SNAPSHOT_BYTES_MAX: REPLICA_LIMITS.SNAPSHOT_BYTES_MAX },
      'a received Multi-Paxos snapshot, with the record log header, fits the WAL snapshot limit',
    ],
    [
      { PAXOS_SNAPSHOT_QUEUED_BYTES_MAX: REPLICA_LIMITS.PEER_QUEUE_BYTES_MAX },
      'a Multi-Paxos sender queues at least one snapshot chunk, and leaves room in the peer queue for messages',
    ],
  ])('a planted contradiction %o is named', (change, rule: string | string[]) => {
    expect(checkReplicaLimits({ ...REPLICA_LIMITS, ...change })).toEqual(typeof rule === 'string' ? [rule] : rule);
  });
});
