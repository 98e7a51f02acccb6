// Types of the sans-I/O Raft core (raft-core.ts). The core is driven by step(message),
// tick() and propose(); it hands back a Ready: what to persist, what to send, what is
// committed. The host does the I/O in that order, then calls advance(). Like etcd/raft.

export type NodeId = number;

/** 0 in `vote` / `leader` means none. */
export const NONE: NodeId = 0;

export const EntryType = {
  /** A client command (opaque bytes for the state machine). */
  NORMAL: 1,
  /** Empty entry a new leader appends to commit entries of earlier terms (Raft §5.4.2). */
  NOOP: 2,
  /** A membership change (one server at a time); data = encodeConfChange(). */
  CONF_CHANGE: 3,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

export const Role = { FOLLOWER: 1, PRE_CANDIDATE: 2, CANDIDATE: 3, LEADER: 4 } as const;
export type Role = (typeof Role)[keyof typeof Role];

export const MessageType = {
  PRE_VOTE: 1,
  PRE_VOTE_RESP: 2,
  VOTE: 3,
  VOTE_RESP: 4,
  APPEND: 5,
  APPEND_RESP: 6,
  HEARTBEAT: 7,
  HEARTBEAT_RESP: 8,
  SNAPSHOT: 9,
  SNAPSHOT_RESP: 10,
  TIMEOUT_NOW: 11,
  READ_INDEX: 12,
  READ_INDEX_RESP: 13,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One message between replicas. Fields not used by a type are 0 / empty.
 * - PRE_VOTE/VOTE: term (for PRE_VOTE: the term the sender would campaign in), index/logTerm = sender's last entry.
 * - *_RESP to votes: reject.
 * - APPEND: index/logTerm = entry preceding `entries`, commit = leader commit.
 * - APPEND_RESP: index = last index matched (accept) or the rejected index; rejectHint/logTerm for
 *   fast backtracking; context = APPEND_RESP_LOG_MAY_HAVE_SHRUNK on a reject from a replica that
 *   lost its log tail or restarted and accepted nothing since (its log may be shorter than the
 *   match the leader holds for it).
 * - HEARTBEAT(_RESP): commit; context = ReadIndex round (0 for none).
 * - SNAPSHOT: snapshot meta, chunk at offset; done on the last chunk. SNAPSHOT_RESP: index = offset acknowledged (next wanted).
 * - READ_INDEX: context from a follower; READ_INDEX_RESP: index = read index, context echoed.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  context: number;
  snapshot?: SnapshotChunk;
}

export interface SnapshotChunk {
  meta: SnapshotMeta;
  /** Total snapshot size in bytes. */
  size: number;
  offset: number;
  data: Uint8Array;
  done: boolean;
}

export interface ReadState {
  /** Linearizable reads for `context` may be served once applied ≥ index. */
  index: number;
  context: number;
}

/** What the host must do, in order: persist (snapshot, entries, hardState), send, apply; then advance(). */
export interface Ready {
  /** A snapshot received from the leader: persist it, restore the state machine from it. */
  snapshot?: { meta: SnapshotMeta; data: Uint8Array };
  /** Entries to append to the durable log. If the log holds entries at or after entries[0].index, truncate them first. */
  entries: Entry[];
  /** Hard state to persist (when changed). */
  hardState?: HardState;
  /** Messages that may be sent at once (they do not depend on this Ready being durable). */
  messages: Message[];
  /** Messages to send only AFTER this Ready's snapshot, entries and hard state are durable. */
  messagesAfterPersist: Message[];
  /** Committed entries to apply to the state machine, in order (only durable ones). */
  committedEntries: Entry[];
  readStates: ReadState[];
  /**
   * The node has caught up since it recovered with a lost log tail (RecoveredState.logTailLost):
   * once this Ready's entries are durable the host records that (removes its marker), so that
   * a restart does not make it wait again.
   */
  logTailRecovered?: boolean;
  /** Role/leader/term as of this Ready, for the host to route clients. */
  soft: { role: Role; leader: NodeId; term: number };
}

export const ConfChangeType = { ADD_LEARNER: 1, PROMOTE: 2, REMOVE: 3 } as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  type: ConfChangeType;
  node: NodeId;
}

/** Why a proposal was refused. */
export const ProposeError = {
  NOT_LEADER: 'NOT_LEADER',
  TRANSFERRING_LEADERSHIP: 'TRANSFERRING_LEADERSHIP',
  PROPOSAL_QUEUE_FULL: 'PROPOSAL_QUEUE_FULL',
  CONF_CHANGE_PENDING: 'CONF_CHANGE_PENDING',
  CONF_CHANGE_INVALID: 'CONF_CHANGE_INVALID',
  NOT_COMMITTED_IN_TERM: 'NOT_COMMITTED_IN_TERM',
} as const;
export type ProposeError = (typeof ProposeError)[keyof typeof ProposeError];

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; error: ProposeError; leader: NodeId };

/** Deterministic randomness, injected (e.g. a seeded PRNG): returns an integer in [0, n). */
export type RandomInt = (n: number) => number;

export interface RaftConfig {
  id: NodeId;
  /** Initial membership when the log is empty (a fresh cluster); otherwise taken from the recovered state. */
  conf: ConfState;
  /** Ticks without a leader message before a follower campaigns; randomized in [electionTicks, 2*electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  random: RandomInt;
  /** Replication flow control: APPEND messages in flight per follower, and their bytes. */
  inflightMessagesMax: number;
  inflightBytesMax: number;
  /** Bytes of entries in one APPEND. */
  appendBytesMax: number;
  /** Uncommitted entries the leader accepts before refusing proposals (PROPOSAL_QUEUE_FULL). */
  uncommittedEntriesMax: number;
  /** Bytes of snapshot data in one SNAPSHOT chunk. */
  snapshotChunkBytes: number;
  preVote: boolean;
  checkQuorum: boolean;
}

/**
 * What a node lost when its WAL lost acknowledged entries (replicator/README.md, "Lost tail"):
 * it may have acknowledged entries up to `mustReach` (the WAL's sync mark; undefined when
 * unknown), all of terms ≤ `term` (its hard-state term when the loss was found).
 */
export interface TailLoss {
  mustReach: number | undefined;
  term: number;
}

/** What a node recovered from its durable storage at start. */
export interface RecoveredState {
  hardState: HardState;
  /**
   * The WAL lost entries this node may have acknowledged (a damaged tail cut off, or a log that
   * ends below its sync mark), which a leader may have counted towards a commit. Until it holds
   * them again (from a leader), the node does not campaign and judges candidates against the
   * log it had, not the one it has: otherwise its vote could elect a leader without a committed
   * entry. See replicator/README.md.
   */
  logTailLost?: TailLoss;
  snapshot?: SnapshotMeta;
  /** Entries after the snapshot, contiguous. */
  entries: Entry[];
  /** Snapshot bytes (to send to lagging followers). */
  snapshotData?: Uint8Array;
}
