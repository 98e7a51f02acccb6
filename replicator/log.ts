// What the replicated log promises the host — the seam between the consensus protocol and the
// process that runs a shard on it. Raft (node.ts over raft/) implements it today; a second
// protocol (Multi-Paxos) plugs in here, and nothing above this file needs to know which one runs.
//
// The promises (each implementation's README argues them; the simulator attacks them):
//  1. Order. Every replica applies the same committed entries, in index order, each exactly
//     once, to its StateMachine; an entry is applied only once a quorum holds it durably.
//  2. Proposals. proposeEncoded() calls back exactly once: with the state machine's result once
//     the command is committed AND applied on this replica, or with a ProposalError. A
//     retryable error means "may or may not have taken effect": resend with the same
//     (clientId, requestSeq) and the state machine's sessions make it exactly-once.
//  3. Reads. readIndex() answers an index whose application makes a read of the local state
//     machine linearizable (it started after the call and every committed write is in it).
//  4. Readers. readCommitted() hands out committed entries (never overwritten, identical on
//     every replica) or, below the retained log, the newest snapshot; onApplyBatch() wakes a
//     reader when more was applied.
//  5. Membership and leadership. membership() is the configuration the log defines;
//     changeMembership() changes it one server at a time; transferLeadership() hands the
//     leader role to another voter; status() says who leads as far as this replica knows.
//  6. Snapshots. requestSnapshot() compacts the log below the applied index into a snapshot
//     envelope (shard/snapshot-envelope.ts), and a replica that fell behind is brought up to date
//     from one.

import type { Engine } from '../engine/engine.js';
import type { EventBuffer } from '../engine/event-buffer.js';
import type { ApplyResult } from '../shard/state-machine.js';
import { EntryType, type ConfChange, type ConfState, type Entry, type NodeId } from './raft/types.js';

// The log's vocabulary, for code outside replicator/: a replica's id, and an entry as readers
// see it (index, term — a ballot under Paxos —, kind, bytes). Outside replicator/ nothing
// imports raft/, wal/ or transport/ (the dependency rules check it), except the audit's offline
// WAL reader and the process that composes a replica.
export { EntryType, type ConfChange, type ConfState, type Entry, type NodeId };

/**
 * The state machine the log drives (shard/state-machine.ts's ShardStateMachine): entries in,
 * results and events out, deterministic, with snapshots and a hash that are equal on every
 * replica at the same applied index.
 */
export interface StateMachine {
  readonly appliedIndex: number;
  /** Its events of the last apply() (reused by the next one). */
  readonly events: EventBuffer;
  /** The engine behind it, for observers that rebuild derived state (the feed). */
  readonly engine: Engine;
  /** The newest command time (µs) of the last applied entry; 0 for entries without commands. */
  readonly entryTimeUs: number;
  /** One committed entry: its index and its commands (empty bytes for the log's own entries). */
  apply(index: number, data: Uint8Array): ApplyResult[];
  snapshot(): Uint8Array;
  restore(bytes: Uint8Array): void;
  stateHash(): string;
}

/** What the state machine sees of a log entry: its commands, or empty bytes for the log's own entries (no-ops, membership changes). */
export function commandData(e: { type?: number; data: Uint8Array }): Uint8Array {
  return e.type === undefined || e.type === EntryType.NORMAL ? e.data : NO_COMMANDS;
}
const NO_COMMANDS = new Uint8Array(0);

/** One applied entry, as observers of applied state (the market-data feed) receive it. */
export interface AppliedEntry {
  index: number;
  /** The newest command time in the entry (µs), 0 for entries without commands. */
  tsUs: number;
  /** One result per command, in order. */
  results: ApplyResult[];
  /** All the entry's events (rows [0, events.count)); reused by the next apply: read it inside the call. */
  events: EventBuffer;
}

export const ProposalErrorCode = {
  NOT_LEADER: 'NOT_LEADER',
  PROPOSAL_QUEUE_FULL: 'PROPOSAL_QUEUE_FULL',
  TRANSFERRING_LEADERSHIP: 'TRANSFERRING_LEADERSHIP',
  /** The entry at the proposal's index was replaced by another leader's: it was not applied there (it may have been resent). */
  LEADER_CHANGED: 'LEADER_CHANGED',
  /** A snapshot from the leader replaced the log around the proposal: its fate is unknown here. */
  SNAPSHOT_INSTALLED: 'SNAPSHOT_INSTALLED',
  STOPPING: 'STOPPING',
  COMMAND_TOO_LARGE: 'COMMAND_TOO_LARGE',
} as const;
export type ProposalErrorCode = (typeof ProposalErrorCode)[keyof typeof ProposalErrorCode];

const NOT_RETRYABLE: ReadonlySet<ProposalErrorCode> = new Set([ProposalErrorCode.COMMAND_TOO_LARGE]);

/**
 * A proposal that did not (or may not) take effect through this node. Retryable ones may be
 * resent with the SAME (clientId, requestSeq): the session table makes that exactly-once.
 */
export class ProposalError extends Error {
  override name = 'ProposalError';
  readonly retryable: boolean;
  constructor(
    readonly code: ProposalErrorCode,
    /** Leader known to this node (0 = none known). */
    readonly leader: NodeId,
    message?: string,
  ) {
    super(message ?? code);
    this.retryable = !NOT_RETRYABLE.has(code);
  }
}

export interface ProposalReply {
  result: ApplyResult;
  /** Engine events of the command as JSON objects (empty unless APPLIED). */
  events: unknown[];
}

/** What a client proposes (the node stamps tsUs with the leader's clock unless given). */
export interface Proposal {
  clientId: number;
  requestSeq: number;
  command: Record<string, unknown>;
  tsUs?: number;
}

/** The same with the command already in the binary command codec (engine/command-codec.ts). */
export interface EncodedProposal {
  clientId: number;
  requestSeq: number;
  body: Uint8Array;
  tsUs?: number;
}

/**
 * Called exactly once per proposal: with an error, or with the state machine's result and its
 * event buffer, whose rows [result.eventsFrom, result.eventsTo) are the command's events. The
 * buffer is reused by the next apply: read (or copy) the rows inside the callback.
 */
export type ProposalCallback = (
  err: ProposalError | undefined,
  result: ApplyResult | undefined,
  events: EventBuffer | undefined,
) => void;

/** Answer to readIndex(): an error, or the index whose apply makes a read linearizable (0 with an error). */
export type ReadCallback = (err: ProposalError | undefined, index: number) => void;

export interface NodeStatus {
  id: NodeId;
  role: 'FOLLOWER' | 'PRE_CANDIDATE' | 'CANDIDATE' | 'LEADER';
  term: number;
  leader: NodeId;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  /** Index of the newest snapshot saved or installed (0 for none). */
  snapshotIndex: number;
  pendingProposals: number;
  /** Membership as this replica knows it (a follower's may lag the leader's). */
  conf: ConfState;
  /** Recovered having lost entries it may have acknowledged, not caught up yet: it does not campaign, and votes only for candidates as up to date as the log it had (README, Safety rule 6). */
  logTailLost: boolean;
  stats: NodeStats;
  /** SHA-256 of the state machine at `applied` (only when asked: it serializes the whole book). */
  stateHash?: string;
  /** The replicated-log protocol (the cluster file's "consensus"); absent from replicas older than it (Raft). */
  consensus?: 'raft' | 'multipaxos';
}

export interface NodeStats {
  readies: number;
  fsyncs: number;
  entriesAppended: number;
  entriesApplied: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  proposalsAccepted: number;
  proposalsRejected: number;
  timeTicksProposed: number;
  /** Incoming Raft messages dropped because the inbox was full. */
  messagesDropped: number;
}

/** Every counter at 0 (a host's stats at start). */
export function newNodeStats(): NodeStats {
  return {
    readies: 0,
    fsyncs: 0,
    entriesAppended: 0,
    entriesApplied: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    proposalsAccepted: 0,
    proposalsRejected: 0,
    timeTicksProposed: 0,
    messagesDropped: 0,
  };
}

/** Outcome of changeMembership(): the change is applied here, or why it was not proposed or not seen applied. */
export type MembershipChangeResult =
  | { ok: true; index: number; conf: ConfState }
  | { ok: false; error: MembershipChangeError; leader: NodeId; message: string };
export type MembershipChangeError =
  | 'NOT_LEADER'
  | 'CONF_CHANGE_PENDING'
  | 'CONF_CHANGE_INVALID'
  | 'NOT_COMMITTED_IN_TERM'
  | 'TRANSFERRING_LEADERSHIP'
  | 'PROPOSAL_QUEUE_FULL'
  | 'LEADER_CHANGED'
  | 'SNAPSHOT_INSTALLED'
  | 'STOPPING'
  | 'BUSY';

/** What readCommitted() answers: committed entries, or the newest snapshot when the ones asked for are compacted. */
export type CommittedRead =
  | { kind: 'entries'; applied: number; firstIndex: number; entries: Entry[] }
  | {
      kind: 'snapshot';
      applied: number;
      firstIndex: number;
      index: number;
      term: number /** encodeSnapshotEnvelope() bytes */;
      data: Uint8Array;
    };

/** A live order as liveOrder() answers it (the engine's view: resting or a pending stop). */
export type LiveOrder = NonNullable<ReturnType<Engine['order']>>;

/** One instrument's engine state as instrumentStates() answers it (the client port's op 'instruments'). */
export interface InstrumentState {
  symbol: string;
  /** Halted by an admin `halt` (new orders and amends rejected) until `resume`. */
  halted: boolean;
  /** The price band's centre now (set_reference_price moves it); 0 = none. */
  referencePrice: number;
}

/** What ordersDump() answers (the client port's op 'orders': tests, debugging): the live book at the applied index. */
export interface OrdersDump {
  applied: number;
  stateHash: string;
  execIdLast: number;
  liveOrderCount: number;
  truncated: boolean;
  orders: {
    orderId: number;
    account: number;
    clOrdId: string;
    symbol: string;
    side: 'BUY' | 'SELL';
    price: number;
    leavesQty: number;
  }[];
}

/** The replicated log as the host process uses it (promises: top of this file). */
export interface ReplicatedLog {
  proposeEncoded(p: EncodedProposal, cb: ProposalCallback): void;
  /** The JSON convenience form of proposeEncoded (tests, tools). */
  propose(p: Proposal): Promise<ProposalReply>;
  readIndex(cb: ReadCallback): void;
  readCommitted(fromIndex: number, bytesMax: number): CommittedRead;
  /** Calls fn after every batch of applied entries; returns the function that unsubscribes. */
  onApplyBatch(fn: () => void): () => void;
  membership(): ConfState;
  changeMembershipThen(cc: ConfChange, done: (r: MembershipChangeResult) => void): void;
  transferLeadership(
    to: NodeId,
  ): { ok: true } | { ok: false; error: 'NOT_LEADER' | 'BAD_TARGET'; leader: NodeId; message: string };
  requestSnapshot(): { ok: true; snapshotIndex: number; applied: number };
  status(withHash?: boolean): NodeStatus;
  stateHash(): string;
  readonly stateMachine: StateMachine;
}
