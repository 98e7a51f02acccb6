// Types of the sans-I/O Multi-Paxos core (paxos-core.ts). Like the Raft core, it is driven by
// step(message), tick() and propose(); it hands back a PaxosReady (what to persist, what to send,
// what is chosen), the host does the I/O in that order and calls advance(). The durable-state
// design (how promises and accepted records map onto the WAL) is in replicator/paxos/README.md.

import type { NodeId } from '../raft/types.js';

export type { NodeId } from '../raft/types.js';

/**
 * A ballot (Lamport's proposal number): totally ordered by round, then by the leader's id, so
 * no two replicas ever lead the same ballot. { round: 0, leader: 0 } is below every real ballot.
 */
export interface Ballot {
  round: number;
  leader: NodeId;
}

export const BALLOT_ZERO: Ballot = Object.freeze({ round: 0, leader: 0 });

export const PaxosRole = { FOLLOWER: 1, CANDIDATE: 2, LEADER: 3 } as const;
export type PaxosRole = (typeof PaxosRole)[keyof typeof PaxosRole];

export const ValueType = {
  /** A client command (opaque bytes for the state machine). */
  NORMAL: 1,
  /** What a new leader proposes in a slot no acceptor of its quorum reported (a hole). */
  NOOP: 2,
} as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

/**
 * A value proposed for a slot. `origin` is the ballot of the leader that first proposed it; a
 * new leader that re-proposes it keeps the origin, so the proposer can tell, when the slot is
 * chosen, whether its own proposal won (origin equals the ballot propose() returned).
 */
export interface PaxosValue {
  type: ValueType;
  origin: Ballot;
  data: Uint8Array;
}

/** An acceptor's accepted proposal for one slot (the papers' ⟨b, s, c⟩ pvalue). */
export interface SlotValue {
  slot: number;
  ballot: Ballot;
  value: PaxosValue;
}

/**
 * A durable record of the acceptor/learner, appended in this order to the record log:
 * - ACCEPTED: the acceptor accepted `value` in `slot` at `ballot` (must be durable before ACCEPTED leaves);
 * - CHOSEN: `value` is chosen in `slot` (learned; `ballot` is the ballot it was accepted at by the
 *   quorum that chose it, or the highest one known). `valueInAccepted` says this replica's latest
 *   ACCEPTED record of the slot holds the same ballot and value, so the host may store a reference.
 */
export const RecordKind = { ACCEPTED: 1, CHOSEN: 2 } as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export interface PaxosRecord extends SlotValue {
  kind: RecordKind;
  valueInAccepted: boolean;
}

export const PaxosMessageType = {
  /** Phase 1a: ballot; index = the sender's chosen prefix (the prepare covers every slot above it). */
  PREPARE: 1,
  /** Phase 1b: ballot = the one promised; values = accepted proposals above max(prepare index, own chosen); index = own chosen prefix. */
  PROMISE: 2,
  /** Phase 2a: ballot, one slot and its value; index = the leader's chosen prefix (commit piggy-back). */
  ACCEPT: 3,
  /** Phase 2b: ballot, slot accepted; index = the acceptor's chosen prefix. */
  ACCEPTED: 4,
  /** A refusal: ballot = the higher ballot the receiver promised (preempts the sender). */
  NACK: 5,
  /** Leader liveness and commit: ballot; index = leader's chosen prefix. */
  HEARTBEAT: 6,
  /** index = the follower's chosen prefix (the leader catches it up from there). */
  HEARTBEAT_RESP: 7,
  /** Chosen values (catch-up), any replica to any replica; values carry their slots. */
  LEARN: 8,
  // 9 is the wire codec's snapshot-chunk item kind (proto/paxos-frames.md): not a message type.
  /**
   * A replica recovering from a lost WAL tail asks who leads (README.md, departure 8): slot = its
   * recovery nonce (random per life, never 0); ballot, index 0.
   */
  RECOVER_QUERY: 10,
  /**
   * A leader's answer to RECOVER_QUERY: ballot = its ballot, index = the highest slot it proposed
   * (or its floor, whichever is higher), slot = the query's nonce.
   */
  RECOVER_REPLY: 11,
} as const;
export type PaxosMessageType = (typeof PaxosMessageType)[keyof typeof PaxosMessageType];

/** One message between replicas; fields a type does not use are 0 / empty. */
export interface PaxosMessage {
  type: PaxosMessageType;
  from: NodeId;
  to: NodeId;
  ballot: Ballot;
  /** A chosen prefix (see the types above). */
  index: number;
  /** ACCEPT / ACCEPTED: the slot; RECOVER_QUERY / RECOVER_REPLY: the recovery nonce. */
  slot: number;
  /** ACCEPT: one value; PROMISE: accepted proposals; LEARN: chosen values. */
  values: SlotValue[];
}

/** A chosen value to apply, in slot order. */
export interface ChosenEntry {
  slot: number;
  value: PaxosValue;
}

/** Ask the host to send this replica's newest snapshot to `to`, which needs slots ≤ `slot` that are compacted here. */
export interface SnapshotRequest {
  to: NodeId;
  slot: number;
}

/** What the host must do, in order; then advance(). */
export interface PaxosReady {
  /** 1. Save the promised ballot (atomically, fsynced) before anything else of this Ready. */
  promised?: Ballot;
  /** 2. May be sent once `promised` is saved (they promise nothing about this Ready's records). */
  messages: PaxosMessage[];
  /** 3. Append these records to the record log, in order; one fdatasync. */
  records: PaxosRecord[];
  /** 4. Send only after `records` are durable (PROMISE and ACCEPTED report them). */
  messagesAfterPersist: PaxosMessage[];
  /** 5. Apply, in slot order: the contiguous chosen prefix grown since the last Ready. */
  chosen: ChosenEntry[];
  /** Snapshots to send (catch-up beyond what this replica retains). */
  snapshotRequests: SnapshotRequest[];
  /**
   * The replica recovered with a lost WAL tail (PaxosRecoveredState.logTailLost) is caught up:
   * remove the `tail-lost` marker, durably, before advance(). It promises again only after it.
   */
  logTailRecovered?: boolean;
  /** Role/leader/ballot as of this Ready, for the host to route clients. */
  soft: { role: PaxosRole; leader: NodeId; ballot: Ballot };
}

export const PaxosProposeError = {
  NOT_LEADER: 'NOT_LEADER',
  PROPOSAL_QUEUE_FULL: 'PROPOSAL_QUEUE_FULL',
} as const;
export type PaxosProposeError = (typeof PaxosProposeError)[keyof typeof PaxosProposeError];

export type PaxosProposeResult =
  | { ok: true; slot: number; ballot: Ballot }
  | { ok: false; error: PaxosProposeError; leader: NodeId };

/** Deterministic randomness, injected (a seeded PRNG): an integer in [0, n). */
export type RandomInt = (n: number) => number;

export interface PaxosConfig {
  id: NodeId;
  /** Every replica's id, this one included (fixed membership for now). */
  members: NodeId[];
  /** Ticks without a message from the leader before campaigning; randomized in [electionTicks, 2·electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  random: RandomInt;
  /** The leader proposes slots ≤ chosen prefix + this (phase 2 pipelining); propose() refuses beyond. */
  pipelineSlotsMax: number;
  /** An acceptor accepts slots ≤ its chosen prefix + this (bounds a PROMISE); must be ≥ pipelineSlotsMax. */
  acceptWindowSlots: number;
  /** Chosen values in one LEARN message at most. */
  learnSlotsMax: number;
}

/** What a replica recovered from its durable storage. */
export interface PaxosRecoveredState {
  promised: Ballot;
  /** The slot its snapshot covers (0 for none): every slot ≤ it is chosen and applied in the snapshot. */
  snapshotSlot: number;
  /** Records after the snapshot, in the order they were written. */
  records: PaxosRecord[];
  /**
   * The WAL lost records this replica may have acknowledged (its `tail-lost` marker is present):
   * it starts recovering (README.md, departure 8) — no PROMISE, no campaign — until caught up.
   * `recoveryNonce` identifies this life's RECOVER_QUERYs: random per life (the host's entropy),
   * a safe integer ≥ 1.
   */
  logTailLost?: { recoveryNonce: number };
}
