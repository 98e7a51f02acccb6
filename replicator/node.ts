// One replica of one shard: the Raft core, its write-ahead log, the shard state machine, and
// the host loop that drives them (replicator/README.md, "Host loop" and "Safety"). Everything
// outside the process is injected: the transport (`send`, and receive() for what arrived),
// the file system under the WAL (`fs`), the clock, timers and scheduling (`runtime`), and the
// state machine. processes/replica.ts wires in TCP, node:fs and the system clock; the simulator
// (replicator/sim/) wires in a simulated network, disk and clock and runs this very loop.
//
// The loop processes one Ready at a time, in this order:
//
//   inputs (messages, ticks, proposals) → core;  rd = core.ready()
//   1. save the hard state if term or vote changed (atomic, fsynced; the commit index in it
//      is only a lower bound and never ahead of the durable, matching log)
//   2. send rd.messages (they depend on that term, not on this Ready's entries: the leader
//      replicates while it writes its own log)
//   3. install rd.snapshot (save it, reset the WAL after it, restore the state machine)
//   4. truncate + append rd.entries; apply the committed entries that were already durable
//      and matching here; one fdatasync for the whole Ready (group commit)
//   5. send rd.messagesAfterPersist (votes, acknowledgements: they promise durability)
//   6. apply the rest of rd.committedEntries; core.advance(rd)
//
// It is driven by callbacks, not promises: an input schedules one pass of the loop
// (runtime.defer); steps 3 and 4 continue in the WAL's completion callbacks. So the simulator
// can run it synchronously, step by step, and crash it between any two I/O calls.
// Whatever arrives while a Ready waits for the disk (messages, proposals, ticks) is queued and
// fed to the core after advance(), so it all lands in the next Ready and shares one fdatasync.
//
// Failure policy: any exception in the loop is fatal (onFatal → the process exits). That
// covers a failed WAL (after a failed fsync the data may be gone: fsyncgate, see
// wal/README.md), a broken Raft invariant, and a state machine that cannot restore.

import path from 'node:path';
import { copyBytes } from '../engine/byte-writer.js';
import { encodeCommand } from '../engine/command-codec.js';
import type { Engine } from '../engine/engine.js';
import type { ShardConfig } from '../engine/types.js';
import { RaftCore, decodeConfChange } from './raft/raft-core.js';
import './limits-check.js';
import {
  TICK_MS,
  ELECTION_TICKS,
  HEARTBEAT_TICKS,
  INFLIGHT_MESSAGES_MAX,
  INFLIGHT_BYTES_MAX,
  RAFT_APPEND_BYTES_MAX,
  UNCOMMITTED_ENTRIES_MAX,
  SNAPSHOT_CHUNK_BYTES,
  PENDING_PROPOSALS_MAX,
  SNAPSHOT_INTERVAL_ENTRIES,
  TIME_TICK_MS,
  INBOX_MESSAGES_MAX,
  READS_PENDING_MAX,
  WAL_APPEND_BATCH_BYTES_MAX,
} from './limits.js';
import { systemRuntime, type ReplicaRuntime } from './runtime.js';
import {
  EntryType,
  MessageType,
  NONE,
  ConfChangeType,
  ProposeError,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RandomInt,
  type RaftConfig,
  type Ready,
  type RecoveredState,
  type SnapshotMeta,
} from './raft/types.js';
import { ShardStateMachine, type ApplyResult } from '../shard/state-machine.js';
import { decodeSnapshotEnvelope, encodeSnapshotEnvelope } from '../shard/snapshot-envelope.js';
import { proposeJson } from './proposal-json.js';
import { instrumentStatesOf, liveOrderIdOfAccount, liveOrderOf, ordersDumpOf } from './state-reads.js';
import {
  ProposalError,
  ProposalErrorCode,
  commandData,
  newNodeStats,
  type AppliedEntry,
  type InstrumentState,
  type LiveOrder,
  type OrdersDump,
  type CommittedRead,
  type EncodedProposal,
  type MembershipChangeError,
  type MembershipChangeResult,
  type NodeStats,
  type NodeStatus,
  type Proposal,
  type ProposalCallback,
  type ProposalReply,
  type ReadCallback,
  type ReplicatedLog,
  type StateMachine,
} from './log.js';
import {
  BATCH_BYTES_MAX,
  BATCH_COMMAND_OVERHEAD_BYTES,
  BATCH_COMMANDS_MAX,
  BATCH_HEADER_BYTES,
  COMMAND_BYTES_MAX,
  encodeBatch,
  type LoggedCommand,
} from '../shard/batch-codec.js';
import { Prng } from './prng.js';
import { EntryTrace, type EntryStageDurations, type EntryStages } from './entry-trace.js';
import type { WalFs } from './wal/fs.js';
import { TAIL_LOST_FILE, Wal, type LogEntry } from './wal/wal.js';
import { assertFor, type Assert } from '../ops/assert.js';
import { errorStack, linesLog, type Log } from '../ops/log.js';

// ---------------------------------------------------------------------------------------------
// Limits and timing (units in the names)
// ---------------------------------------------------------------------------------------------

/** Read contexts a process may use before its range could meet another process's (2^20; the start is 32 random bits above it). */
const READ_CONTEXT_SPAN = 2 ** 20;

/** The data directory holds a log or snapshot but no hard state (term and vote): the file was lost. */
export class HardStateMissingError extends Error {
  override name = 'HardStateMissingError';
  constructor(
    readonly dir: string,
    readonly snapshotIndex: number,
    readonly lastIndex: number,
  ) {
    super(
      `${dir} holds a log (last index ${lastIndex}, snapshot ${snapshotIndex}) but no hard state file: ` +
        'refusing to start, since a node that forgot its vote could vote twice in one term. Restore the file, ' +
        'or wipe the directory and add the node back as a new member (remove-node, then add-node).',
    );
  }
}

const CONF_CHANGE_NAMES: Record<ConfChangeType, string> = {
  [ConfChangeType.ADD_LEARNER]: 'add learner',
  [ConfChangeType.PROMOTE]: 'promote',
  [ConfChangeType.REMOVE]: 'remove',
};
const CONF_REFUSALS: Record<ProposeError, string> = {
  [ProposeError.NOT_LEADER]: 'only the leader changes the membership',
  [ProposeError.TRANSFERRING_LEADERSHIP]: 'a leadership transfer is in progress',
  [ProposeError.PROPOSAL_QUEUE_FULL]: 'too many uncommitted entries: retry',
  [ProposeError.CONF_CHANGE_PENDING]: 'the previous membership change is not applied yet: retry',
  [ProposeError.CONF_CHANGE_INVALID]:
    'not valid for the current membership (add: not yet a member; promote: a learner; remove: a member, and never the last voter)',
  [ProposeError.NOT_COMMITTED_IN_TERM]: 'the new leader has not committed an entry of its term yet: retry',
};

export interface ReplicaNodeOptions {
  id: NodeId;
  /**
   * Voters of a fresh cluster — the genesis membership, identical on every replica (ignored
   * once the log or a snapshot says otherwise). A node joining later is not among them: it
   * starts as nobody's voter and learns its membership from the leader's log.
   */
  members: NodeId[];
  /** The node's files go to `<dataDir>/node-<id>/`. */
  dataDir: string;
  shardConfig: ShardConfig;
  /** Sends replica→replica messages (never blocks; the transport may drop, Raft retransmits). */
  send: (msgs: Message[]) => void;
  /**
   * fdatasync the log before acknowledging. Off only for experiments: a replica then
   * acknowledges entries (and votes) that an OS crash or power loss can erase, which breaks
   * Raft's safety (a committed entry can vanish from a majority). A killed process alone loses
   * nothing either way: the page cache survives it.
   */
  fsync?: boolean;
  /** Seed of the election-timeout PRNG (mixed with the node id). */
  seed?: number;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  snapshotIntervalEntries?: number;
  /** 0 disables the leader's time ticks. */
  timeTickMs?: number;
  /** Called once with the error that stopped the loop; the process must exit. */
  onFatal: (err: unknown) => void;
  /** Default: text lines on stderr (linesLog). */
  log?: Log;
  /** Clock, timers, scheduling (default: the system's). The simulator injects simulated time. */
  runtime?: ReplicaRuntime;
  /** The file system under the WAL (default node:fs). The simulator injects a simulated disk. */
  fs?: WalFs;
  /** WAL segment size and tail cache (defaults: the WAL's). */
  wal?: { segmentBytesMax?: number; tailCacheBytesMax?: number };
  /** The state machine (default: a new ShardStateMachine of shardConfig). */
  stateMachine?: StateMachine;
  /** Raft flow-control limits and options (defaults: the constants above, PreVote and CheckQuorum on). */
  raft?: Partial<
    Pick<
      RaftConfig,
      | 'inflightMessagesMax'
      | 'inflightBytesMax'
      | 'appendBytesMax'
      | 'uncommittedEntriesMax'
      | 'snapshotChunkBytes'
      | 'preVote'
      | 'checkQuorum'
    >
  >;
  /** Election-timeout randomness (default: the seeded PRNG from `seed` and the node id). */
  random?: RandomInt;
  /**
   * Observer of applied state (the market-data feed, feed/feed-service.ts): called after every
   * applied entry, on the loop, after the entry's proposals were answered, with the entry's
   * index, time, results and the event buffer holding all its events (rows [0, events.count);
   * reused by the next apply: read it inside the call), and the Raft entry itself (the
   * simulator's oracle checks it; the feed does not look). Derived state only: an exception is
   * logged and ignored, never fatal. Unset: no cost.
   */
  onApplied?: (applied: AppliedEntry, entry: Entry) => void;
  /**
   * Called when the state machine's engine was built other than by applying entries — once at
   * start() after recovery (from the WAL's snapshot, or empty), and after a leader's snapshot
   * is installed — so an observer fed by onApplied can rebuild from it. Same error policy.
   */
  onStateReset?: (engine: Engine) => void;
  /** Latency and batch-size measurements (metrics). */
  observer?: NodeObserver;
  /**
   * Called on the loop after a committed membership change is applied (also when entries are
   * re-applied after a restart), with the membership it made: the process dials a new peer,
   * forgets a removed one. Same error policy as onApplied.
   */
  onConfChange?: (cc: ConfChange, conf: ConfState) => void;
}

/** Snapshot as stored in the WAL and sent to followers: membership + state machine snapshot. */
interface HeldSnapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/** The proposals of one batch entry: callbacks by position in the batch (undefined for the leader's own time tick). */
interface PendingBatch {
  term: number;
  callbacks: (ProposalCallback | undefined)[];
  /** performance.now() when proposed (only with an observer: commit latency). */
  proposedAtMs: number;
}

/** Measurements for metrics (replicator/metrics.ts); every member optional, unset costs nothing. */
export interface NodeObserver {
  /** One fdatasync of the log (seconds). */
  fsyncSeconds?(s: number): void;
  /** Leader: commands packed into one proposed entry. */
  batchCommands?(n: number): void;
  /** Leader: from proposing an entry to applying it once committed (seconds). */
  commitSeconds?(s: number): void;
  /** Engine time to apply one entry (seconds). */
  applySeconds?(s: number): void;
  /** Leader: the stages of one applied entry (entry-trace.ts). */
  entryStages?(d: EntryStageDurations): void;
}

interface QueuedProposal {
  cmd: LoggedCommand;
  cb: ProposalCallback | undefined;
}

const ROLE_NAMES = {
  [Role.FOLLOWER]: 'FOLLOWER',
  [Role.PRE_CANDIDATE]: 'PRE_CANDIDATE',
  [Role.CANDIDATE]: 'CANDIDATE',
  [Role.LEADER]: 'LEADER',
} as const;

const assert: Assert = assertFor('replica node');

// ---------------------------------------------------------------------------------------------

export class ReplicaNode implements ReplicatedLog {
  readonly id: NodeId;
  readonly dir: string;
  private readonly opts: ReplicaNodeOptions;
  private readonly fsync: boolean;
  private readonly log: Log;
  private readonly runtime: ReplicaRuntime;
  private readonly snapshotIntervalEntries: number;
  private readonly timeTickMs: number;
  private readonly tickMs: number;
  private readonly electionTicks: number;

  private wal!: Wal;
  private core!: RaftCore;
  private sm: StateMachine;

  // Inputs queued for the loop.
  private inbox: Message[] = [];
  private ticksDue = 0;
  private proposals: QueuedProposal[] = [];
  /** performance.now() when the oldest queued proposal arrived (the entry trace's first stage): one clock read per pass, not per command. */
  private proposalsSinceMs = 0;
  /** Operator request (transferLeadership): handed to the core between two Readys. */
  private transferDue: NodeId | undefined;
  /** Chaos suite only (setTestFsyncDelay): a slow disk, added to every fdatasync. */
  private testFsyncDelayMs = 0;
  /** Operator request (changeMembership): proposed between two Readys… */
  private confDue: { cc: ConfChange; done: (r: MembershipChangeResult) => void } | undefined;
  /** …and answered when the entry at `index` is applied (one membership change at a time). */
  private confPending: { index: number; term: number; done: (r: MembershipChangeResult) => void } | undefined;

  // The loop: one pass is scheduled per burst of inputs; a Ready waiting for the disk blocks it.
  private pumpScheduled = false;
  private pumping = false;
  /** The Ready whose disk writes are in flight (the loop takes no new Ready until it is done). */
  private readyInFlight: Ready | undefined;
  private idleWaiters: (() => void)[] = [];

  /** Linearizable reads asked for (readIndex), handed to the core between two Readys… */
  private readsDue: ReadCallback[] = [];
  /** …waiting for the core's ReadState (by context), then for the apply of its index. */
  private readonly readsPending = new Map<number, ReadCallback>();
  private readsReady: { index: number; cb: ReadCallback }[] = [];
  /**
   * Read contexts start at a random point in every process, not at 1: a late answer to a read of
   * an earlier life of this replica (same term, held up on the network) must not match one of
   * this life's reads. (Found by the simulator: an old index answered a new read.)
   */
  private readContext: number;
  /** The leader the reads in flight were sent to. */
  private readLeader: NodeId = NONE;

  /** Batches in the log, by index, answered when that index is applied. */
  private readonly pending = new Map<number, PendingBatch>();
  /** Commands in `pending` (the batches' callbacks). */
  private pendingCommands = 0;

  /** Highest log index known durable in the WAL and part of the core's log (entries up to it may be applied before the next fdatasync). */
  private durableIndex = 0;
  /** Newest snapshot saved (or installed, or recovered): the one after which the WAL must keep entries. */
  private latestSnapshot: HeldSnapshot | undefined;
  /** Index of the newest snapshot saved or being saved. */
  private snapshotIndex = 0;
  private snapshotSaving = false;
  /** Operator request (requestSnapshot): snapshot at the next Ready whatever the interval. */
  private snapshotAsked = false;
  /** A background save finished: compact through the previous snapshot at the next iteration. */
  private compactionDue: HeldSnapshot | undefined;
  /** Bumped when a leader's snapshot is installed: a background save started before it is stale. */
  private snapshotEpoch = 0;

  /** The leader's last time tick (ms); ticks are client -term, which the state machine applies without a session. */
  private lastTimeTickMs = 0;

  private cancelTicks: (() => void) | undefined;
  private running = false;
  private stopping = false;
  private failed = false;
  private lastRole: Role = Role.FOLLOWER;
  private hashCache: { applied: number; hash: string } | undefined;
  /** Stage times of the entries this node proposed as leader (observation only). */
  private readonly trace: EntryTrace;
  /** Called after each Ready that applied entries or installed a snapshot (onApplyBatch). */
  private readonly applyListeners = new Set<() => void>();

  readonly stats: NodeStats = newNodeStats();

  constructor(opts: ReplicaNodeOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.dir = path.join(opts.dataDir, `node-${opts.id}`);
    this.fsync = opts.fsync ?? true;
    this.log = opts.log ?? linesLog((l) => console.error(`[node ${opts.id}] ${l}`));
    this.runtime = opts.runtime ?? systemRuntime;
    this.snapshotIntervalEntries = opts.snapshotIntervalEntries ?? SNAPSHOT_INTERVAL_ENTRIES;
    this.timeTickMs = opts.timeTickMs ?? TIME_TICK_MS;
    this.tickMs = opts.tickMs ?? TICK_MS;
    this.electionTicks = opts.electionTicks ?? ELECTION_TICKS;
    assert(
      Number.isSafeInteger(this.snapshotIntervalEntries) && this.snapshotIntervalEntries >= 1,
      'snapshotIntervalEntries ≥ 1',
    );
    assert(
      opts.members.length >= 1 && opts.members.every((m) => Number.isSafeInteger(m) && m > 0),
      `members ${opts.members}`,
    );
    this.sm = opts.stateMachine ?? new ShardStateMachine(opts.shardConfig);
    this.trace = new EntryTrace(opts.observer?.entryStages);
    this.readContext = this.runtime.entropy() * READ_CONTEXT_SPAN;
  }

  /** Opens and recovers the WAL, builds the core, starts the tick timer and the loop. Throws if recovery fails. */
  start(): void {
    assert(!this.running && !this.stopping, 'start() twice');
    this.recover();
    this.running = true;
    this.cancelTicks = this.runtime.every(this.tickMs, () => {
      this.ticksDue++;
      this.poke();
    });
    this.poke();
  }

  /** Stops the loop after the Ready in progress (its fdatasync completes), rejects pending proposals, closes the WAL. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.cancelTicks?.();
    }
    await this.whenIdle();
    if (!this.failed) this.rejectAll(ProposalErrorCode.STOPPING); // a failure answered them already
    await this.wal?.close();
  }

  // -------------------------------------------------------------------------------------------
  // Recovery
  // -------------------------------------------------------------------------------------------

  private recover(): void {
    const wal = Wal.open(this.dir, {
      warn: (m) => this.log.warn(m),
      ...(this.opts.fs !== undefined ? { fs: this.opts.fs } : {}),
      ...this.opts.wal,
    });
    this.wal = wal;
    if (wal.recovery.repairedTail !== undefined)
      this.log.warn('WAL tail repaired', { repairedTail: wal.recovery.repairedTail });
    const tailLost = wal.recovery.tailLost;
    if (tailLost !== undefined) {
      this.log.warn(
        'WAL: this log lost entries it may have acknowledged: not campaigning, and voting only for candidates at least that up to date, until it holds them again (replicator/README.md)',
        { throughIndex: tailLost.mustReach ?? 'unknown', termsUpTo: tailLost.term, marker: TAIL_LOST_FILE },
      );
    }
    const snap = wal.loadLatestSnapshot();
    let recoveredSnap: HeldSnapshot | undefined;
    if (snap !== undefined) {
      const { conf, sm } = decodeSnapshotEnvelope(snap.bytes);
      this.sm.restore(sm);
      assert(
        this.sm.appliedIndex === snap.index,
        `snapshot ${snap.index} restores the state machine at ${this.sm.appliedIndex}`,
      );
      recoveredSnap = { meta: { index: snap.index, term: snap.term, conf }, data: snap.bytes };
      // A crash between saving a leader's snapshot and resetting the log can leave entries that
      // do not continue the snapshot (older, or of another term at its index): drop them.
      const t = wal.term(snap.index);
      if (t !== undefined && t !== snap.term) wal.truncateAfter(snap.index - 1);
      if (wal.lastIndex() < snap.index) wal.compactThrough(snap.index);
    }
    const saved = wal.loadHardState();
    if (saved === undefined && (snap !== undefined || wal.lastIndex() > 0)) {
      // The hard state is written before any entry or snapshot, so a log without it means the
      // file was lost. Starting with term 0 and no vote could cast a second vote in a term this
      // node already voted in, and elect two leaders: refuse, as for any broken invariant.
      throw new HardStateMissingError(this.dir, snap?.index ?? 0, wal.lastIndex());
    }
    const hs: HardState = saved ?? { term: 0, vote: NONE, commit: 0 };
    const lastTerm = Math.max(snap?.term ?? 0, wal.lastIndex() > 0 ? (wal.term(wal.lastIndex()) ?? 0) : 0);
    if (hs.term < lastTerm)
      throw new Error(
        `hard state term ${hs.term} is older than the log's last term ${lastTerm} in ${this.dir}: refusing to start`,
      );
    const lo = Math.max(wal.firstIndex(), (snap?.index ?? 0) + 1);
    const hi = wal.lastIndex() + 1;
    const entries: Entry[] = lo < hi ? wal.entries(lo, hi).map(toEntry) : [];
    const last = hi - 1;
    if (hs.commit > last) {
      // The saved commit never passes the durable log, so only lost entries explain this: with
      // fsync off after an OS crash, or acknowledged entries cut off with a damaged tail.
      if (this.fsync && tailLost === undefined)
        throw new Error(`recovered commit ${hs.commit} is beyond the durable log end ${last}`);
      this.log.warn('the log lost committed entries: commit clamped to the log end (the leader sends them again)', {
        commit: hs.commit,
        clampedTo: last,
      });
      hs.commit = last;
    }
    const recovered: RecoveredState = {
      hardState: hs,
      entries,
      ...(tailLost !== undefined ? { logTailLost: tailLost } : {}),
      ...(recoveredSnap !== undefined ? { snapshot: recoveredSnap.meta, snapshotData: recoveredSnap.data } : {}),
    };
    const r = this.opts.raft ?? {};
    const cfg: RaftConfig = {
      id: this.id,
      conf: { voters: [...this.opts.members].sort((a, b) => a - b), learners: [] },
      electionTicks: this.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks ?? HEARTBEAT_TICKS,
      random: this.opts.random ?? seededInt(((this.opts.seed ?? 1) * 0x9e3779b1) ^ Math.imul(this.id, 0x85ebca6b)),
      inflightMessagesMax: r.inflightMessagesMax ?? INFLIGHT_MESSAGES_MAX,
      inflightBytesMax: r.inflightBytesMax ?? INFLIGHT_BYTES_MAX,
      appendBytesMax: r.appendBytesMax ?? RAFT_APPEND_BYTES_MAX,
      uncommittedEntriesMax: r.uncommittedEntriesMax ?? UNCOMMITTED_ENTRIES_MAX,
      snapshotChunkBytes: r.snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES,
      preVote: r.preVote ?? true,
      checkQuorum: r.checkQuorum ?? true,
    };
    this.core = new RaftCore(cfg, recovered);
    this.durableIndex = last;
    this.latestSnapshot = recoveredSnap;
    this.snapshotIndex = recoveredSnap?.meta.index ?? 0;
    this.log.info('recovered', {
      term: hs.term,
      vote: hs.vote,
      commit: hs.commit,
      snapshot: this.snapshotIndex,
      firstIndex: wal.firstIndex(),
      lastIndex: last,
      entriesAfterSnapshot: entries.length,
    });
    if (this.opts.onStateReset !== undefined)
      this.notifyObserver('onStateReset', () => this.opts.onStateReset!(this.sm.engine));
  }

  // -------------------------------------------------------------------------------------------
  // Inputs (any time; queued for the loop)
  // -------------------------------------------------------------------------------------------

  /** Raft messages from peers (the transport's onMessages). */
  receive(msgs: Message[]): void {
    if (this.stopping) return;
    for (const m of msgs) {
      if (this.inbox.length >= INBOX_MESSAGES_MAX) {
        this.stats.messagesDropped++;
        continue;
      }
      // Decoded entry data are views into the socket's read buffer; the log keeps entries until
      // compaction, so copy them rather than pin whole read buffers in memory.
      for (const e of m.entries) e.data = copyBytes(e.data);
      if (m.type === MessageType.APPEND_RESP && !m.reject) this.trace.acked(m.from, m.index, performance.now());
      this.inbox.push(m);
    }
    this.poke();
  }

  /**
   * Proposes a client command. Resolves once it is applied on this node (the leader) with the
   * state machine's result and the engine events; rejects at once if this node is not the
   * leader or too many proposals wait. A retryable rejection may be resent with the same
   * (clientId, requestSeq) — to this node or the leader it names. (The JSON convenience form
   * of proposeEncoded, for tests and tools.)
   */
  propose(p: Proposal): Promise<ProposalReply> {
    return proposeJson(this, p);
  }

  /** Proposes an encoded command; `cb` is called exactly once (see ProposalCallback), possibly before this returns. */
  proposeEncoded(p: EncodedProposal, cb: ProposalCallback): void {
    if (this.stopping || this.failed) return this.refuseCb(ProposalErrorCode.STOPPING, cb);
    if (!this.running || this.core.role !== Role.LEADER) return this.refuseCb(ProposalErrorCode.NOT_LEADER, cb);
    if (this.proposals.length + this.pendingCommands >= PENDING_PROPOSALS_MAX)
      return this.refuseCb(ProposalErrorCode.PROPOSAL_QUEUE_FULL, cb);
    if (p.body.length > COMMAND_BYTES_MAX) return this.refuseCb(ProposalErrorCode.COMMAND_TOO_LARGE, cb);
    this.queueProposal({
      cmd: { clientId: p.clientId, requestSeq: p.requestSeq, tsUs: p.tsUs ?? this.nowUs(), body: p.body },
      cb,
    });
    this.poke();
  }

  private queueProposal(q: QueuedProposal): void {
    if (this.proposals.length === 0) this.proposalsSinceMs = performance.now();
    this.proposals.push(q);
  }

  private refuseCb(code: ProposalErrorCode, cb: ProposalCallback): void {
    this.stats.proposalsRejected++;
    cb(new ProposalError(code, this.running ? this.core.leader : NONE), undefined, undefined);
  }

  /**
   * Operator request: hand leadership to voter `to` (the core's TimeoutNow path, thesis §3.10).
   * Checked here, done by the loop between two Readys; the caller watches status() for the
   * outcome (the core gives up after an election timeout).
   */
  transferLeadership(
    to: NodeId,
  ): { ok: true } | { ok: false; error: 'NOT_LEADER' | 'BAD_TARGET'; leader: NodeId; message: string } {
    if (!this.running || this.stopping || this.core.role !== Role.LEADER)
      return {
        ok: false,
        error: 'NOT_LEADER',
        leader: this.running ? this.core.leader : NONE,
        message: 'only the leader transfers leadership',
      };
    if (to === this.id || !this.core.conf().voters.includes(to))
      return {
        ok: false,
        error: 'BAD_TARGET',
        leader: this.id,
        message: `node ${to} is not another voter of this cluster`,
      };
    this.transferDue = to;
    this.poke();
    return { ok: true };
  }

  /**
   * Operator request: one membership change (add a learner, promote a learner to voter, remove
   * a member; thesis §4.1, one server at a time). Proposed by the loop; answered once the
   * change is committed and applied here, or refused (not the leader, another change still
   * pending, invalid for the current membership, no entry of this term committed yet).
   */
  changeMembership(cc: ConfChange): Promise<MembershipChangeResult> {
    return new Promise((resolve) => this.changeMembershipThen(cc, resolve));
  }

  /** changeMembership with a callback (called exactly once, possibly before this returns). */
  changeMembershipThen(cc: ConfChange, done: (r: MembershipChangeResult) => void): void {
    const leader = this.running ? this.core.leader : NONE;
    if (!this.running || this.stopping)
      return done({ ok: false, error: 'STOPPING', leader, message: 'the replica is stopping' });
    if (this.core.role !== Role.LEADER)
      return done({ ok: false, error: 'NOT_LEADER', leader, message: 'only the leader changes the membership' });
    if (this.confDue !== undefined || this.confPending !== undefined)
      return done({
        ok: false,
        error: 'BUSY',
        leader,
        message: 'another membership change is in progress on this replica',
      });
    this.confDue = { cc, done };
    this.poke();
  }

  /**
   * Linearizable read (thesis §6.4, ReadIndex): `cb(undefined, index)` once the leader has
   * confirmed its leadership with a quorum after the call and this node has applied everything
   * committed when it was made; its state machine may then be read. On a follower the leader
   * is asked (READ_INDEX), so reads can be spread over the replicas. Refused at once when no
   * leader is known or READS_PENDING_MAX reads wait; answered LEADER_CHANGED if the leader
   * changes first (a lost request is never answered otherwise: the caller bounds its wait).
   * Called exactly once.
   */
  readIndex(cb: ReadCallback): void {
    if (this.stopping || this.failed) return cb(new ProposalError(ProposalErrorCode.STOPPING, NONE), 0);
    if (!this.running || this.core.leader === NONE) return cb(new ProposalError(ProposalErrorCode.NOT_LEADER, NONE), 0);
    if (this.readsDue.length + this.readsPending.size + this.readsReady.length >= READS_PENDING_MAX)
      return cb(new ProposalError(ProposalErrorCode.PROPOSAL_QUEUE_FULL, this.id), 0);
    this.readsDue.push(cb);
    this.poke();
  }

  /** Chaos suite only (op 'test-fsync-delay' in test mode): every fdatasync from now on takes `ms` longer. */
  setTestFsyncDelay(ms: number): void {
    assert(Number.isSafeInteger(ms) && ms >= 0, `fsync delay ${ms}`);
    this.testFsyncDelayMs = ms;
    this.log.warn('TEST MODE: fdatasync delayed', { delayMs: ms });
  }

  /** Current membership (voters and learners) as this replica's log defines it. */
  membership(): ConfState {
    return this.core.conf();
  }

  /** Operator request: save a snapshot after the next Ready if anything was applied since the newest one. */
  requestSnapshot(): { ok: true; snapshotIndex: number; applied: number } {
    this.snapshotAsked = true;
    this.poke();
    return { ok: true, snapshotIndex: this.snapshotIndex, applied: this.sm.appliedIndex };
  }

  status(withHash = false): NodeStatus {
    const c = this.core;
    const s: NodeStatus = {
      id: this.id,
      role: ROLE_NAMES[c.role],
      term: c.term,
      leader: c.leader,
      commit: c.commitIndex,
      applied: this.sm.appliedIndex,
      firstIndex: c.firstIndex,
      lastIndex: c.lastIndex,
      snapshotIndex: this.snapshotIndex,
      pendingProposals: this.pendingCommands + this.proposals.length,
      conf: c.conf(),
      logTailLost: c.logTailLost,
      stats: { ...this.stats },
      consensus: 'raft',
    };
    if (withHash) s.stateHash = this.stateHash();
    return s;
  }

  /** SHA-256 of the state machine at the applied index (cached per applied index). */
  stateHash(): string {
    const applied = this.sm.appliedIndex;
    if (this.hashCache?.applied !== applied) this.hashCache = { applied, hash: this.sm.stateHash() };
    return this.hashCache.hash;
  }

  /** Read-only view of the state machine (tests, tools). */
  get stateMachine(): StateMachine {
    return this.sm;
  }

  /**
   * A live order of the book (resting or a pending stop; done orders are not in it) and the
   * applied index it was read at: the client port's op 'order' (the gateway's GetOrder). Read
   * after apply, not linearizable.
   */
  liveOrder(orderId: number): { applied: number; order: LiveOrder | undefined } {
    return liveOrderOf(this.sm, orderId);
  }

  /**
   * Every instrument's trading state (halted, reference price) at the applied index, in the
   * shard config's order: the client port's op 'instruments', read after readIndex.
   */
  instrumentStates(): { applied: number; instruments: InstrumentState[] } {
    return instrumentStatesOf(this.sm);
  }

  /** The id of the account's live order with this client order id (op 'order' by client order id), and the applied index. */
  liveOrderIdOf(account: number, clOrdId: string): { applied: number; orderId: number | undefined } {
    return liveOrderIdOfAccount(this.sm, account, clOrdId);
  }

  /** The resting orders of the book, instrument by instrument, bids then asks, at most `max` (the client port's op 'orders'). */
  ordersDump(max: number): OrdersDump {
    return ordersDumpOf(this.sm, max, this.stateHash());
  }

  /** Read-only view of the Raft core (tests and the simulator's invariant checks). */
  get raft(): RaftCore {
    return this.core;
  }

  /**
   * Committed entries for an outside reader that replays the shard (the events publisher,
   * events/publisher/): entries [fromIndex, …] up to the applied index — committed, so
   * identical on every replica and never overwritten — at most `bytesMax` of entry data (but
   * at least one entry when any is available). When fromIndex is below the log this node still
   * holds (compacted into a snapshot), it answers the newest snapshot instead: the reader
   * restores it and continues after its index. Read-only and synchronous: whatever the loop
   * is waiting for (an fdatasync, a snapshot save), entries up to the applied index are
   * committed and in the core's log — except while a leader's snapshot is installed, when it
   * answers none.
   */
  readCommitted(fromIndex: number, bytesMax: number): CommittedRead {
    if (!Number.isSafeInteger(fromIndex) || fromIndex < 1)
      throw new RangeError(`readCommitted: fromIndex ${fromIndex}`);
    const applied = this.sm.appliedIndex;
    const firstIndex = this.core.firstIndex;
    if (fromIndex < firstIndex) {
      const s = this.latestSnapshot;
      // While a leader's snapshot is being saved the core's log already starts after it but the
      // snapshot is not held yet: nothing to serve this moment (the reader asks again).
      if (s === undefined || s.meta.index < firstIndex - 1)
        return { kind: 'entries', applied, firstIndex, entries: [] };
      return { kind: 'snapshot', applied, firstIndex, index: s.meta.index, term: s.meta.term, data: s.data };
    }
    const entries: Entry[] = [];
    let bytes = 0;
    for (let i = fromIndex; i <= applied; i++) {
      const e = this.core.entryAt(i);
      if (e === undefined) break; // (the same transition: applied lags a log restarted after a snapshot)
      bytes += e.data.length;
      if (entries.length > 0 && bytes > bytesMax) break;
      entries.push(e);
    }
    return { kind: 'entries', applied, firstIndex, entries };
  }

  private nowUs(): number {
    return this.runtime.nowMs() * 1000;
  }

  // -------------------------------------------------------------------------------------------
  // The loop
  // -------------------------------------------------------------------------------------------

  /** Schedules one pass of the loop (at most one is pending). */
  private poke(): void {
    if (this.pumpScheduled || !this.running || this.failed) return;
    this.pumpScheduled = true;
    this.runtime.defer(this.scheduledPump);
  }

  private readonly scheduledPump = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };

  /** Feeds the queued inputs to the core and starts Readys until one waits for the disk or none is left. */
  private pump(): void {
    if (this.pumping || this.failed) return;
    this.pumping = true;
    try {
      while (this.readyInFlight === undefined && !this.stopping) {
        this.feedCore();
        if (!this.core.hasReady()) break;
        this.startReady(this.core.ready());
      }
    } catch (err) {
      this.fatal(err);
    } finally {
      this.pumping = false;
    }
    this.settleIdle();
  }

  /** Continues a Ready from a completion callback: a failure is fatal; then the loop goes on. */
  private resume(step: () => void): void {
    if (this.failed) return;
    try {
      step();
    } catch (err) {
      this.fatal(err);
      return;
    }
    this.pump();
  }

  /**
   * Registers fn to run, on the loop, after each Ready that applied entries or installed a
   * snapshot (the client server wakes its caught-up log readers with it). Observation only: an
   * exception is logged and ignored. Returns the unsubscribe.
   */
  onApplyBatch(fn: () => void): () => void {
    this.applyListeners.add(fn);
    return () => this.applyListeners.delete(fn);
  }

  /** Stage times of a recent entry this node proposed as leader (entry-trace.ts); undefined if not kept. */
  entryStages(index: number): EntryStages | undefined {
    return this.trace.stages(index);
  }

  /** Resolves once no Ready is in flight (stop() waits for it). */
  private whenIdle(): Promise<void> {
    if (this.readyInFlight === undefined || this.failed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private settleIdle(): void {
    if (this.idleWaiters.length === 0 || (this.readyInFlight !== undefined && !this.failed)) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Feeds queued inputs to the core, in an order that keeps a busy follower from timing out on itself. */
  private feedCore(): void {
    if (this.compactionDue !== undefined) this.compact(this.compactionDue);
    this.compactionDue = undefined;
    // Messages first: a heartbeat that queued during a stall resets the election timer
    // before the ticks of that stall are counted.
    if (this.inbox.length > 0) {
      const msgs = this.inbox;
      this.inbox = [];
      for (const m of msgs) if (m.to === this.id) this.core.step(m);
    }
    // At most electionTicks - 1 ticks per iteration: if the loop stalled (a long fdatasync, a
    // big snapshot), the ticks that piled up are mostly dropped rather than replayed at once,
    // like etcd's bounded tick channel — a replica must not campaign because of its own stall.
    const ticks = Math.min(this.ticksDue, this.electionTicks - 1);
    this.ticksDue = 0;
    for (let k = 0; k < ticks; k++) this.core.tick();
    if (this.transferDue !== undefined) {
      // A no-op if leadership changed meanwhile (the core checks role and membership again).
      this.core.transferLeadership(this.transferDue);
      this.transferDue = undefined;
    }
    if (this.confDue !== undefined) {
      const { cc, done } = this.confDue;
      this.confDue = undefined;
      const r = this.core.proposeConfChange(cc);
      if (r.ok) this.confPending = { index: r.index, term: r.term, done };
      else done({ ok: false, error: r.error, leader: r.leader, message: CONF_REFUSALS[r.error] });
    }
    const role = this.core.role;
    if (this.core.leader !== this.readLeader) {
      // Reads in flight were for the previous leader: it cannot answer them any more.
      if (this.readsPending.size > 0)
        this.abandonReads(
          new ProposalError(
            ProposalErrorCode.LEADER_CHANGED,
            this.core.leader,
            'the leader changed before the read was confirmed; read again',
          ),
        );
      this.readLeader = this.core.leader;
    }
    if (role !== this.lastRole) {
      this.log.info('role changed', { role: ROLE_NAMES[role], term: this.core.term, leader: this.core.leader });
      // A leader that steps down (a higher term seen, CheckQuorum) may never learn the fate of
      // its uncommitted entries — isolated, it hears nothing. Its clients are told at once, with
      // a retryable error: they resend to the new leader with the same (clientId, requestSeq),
      // and the session table applies each command once whether or not the old entry commits.
      if (this.lastRole === Role.LEADER) this.abandonProposals();
      this.lastRole = role;
    }
    if (role === Role.LEADER) this.maybeQueueTimeTick();
    if (this.readsDue.length > 0 && this.core.leader !== NONE) {
      for (const cb of this.readsDue.splice(0)) {
        const ctx = ++this.readContext;
        this.readsPending.set(ctx, cb);
        this.core.readIndex(ctx);
      }
    }
    if (this.proposals.length > 0) {
      const queued = this.proposals;
      const arrivedMs = this.proposalsSinceMs;
      this.proposals = [];
      // Everything that queued while the loop was busy goes into as few entries as the batch
      // limits allow: Raft, the WAL and the network then pay per batch, not per command.
      let from = 0;
      let bytes = BATCH_HEADER_BYTES;
      for (let k = 0; k < queued.length; k++) {
        const b = BATCH_COMMAND_OVERHEAD_BYTES + queued[k]!.cmd.body.length;
        if (k > from && (k - from >= BATCH_COMMANDS_MAX || bytes + b > BATCH_BYTES_MAX)) {
          this.proposeBatch(queued, from, k, arrivedMs);
          from = k;
          bytes = BATCH_HEADER_BYTES;
        }
        bytes += b;
      }
      this.proposeBatch(queued, from, queued.length, arrivedMs);
    }
  }

  /** Proposes queued[from, to) as one entry; `arrivedMs`: when the oldest proposal of this pass arrived. */
  private proposeBatch(queued: QueuedProposal[], from: number, to: number, arrivedMs: number): void {
    const cmds: LoggedCommand[] = new Array(to - from);
    const callbacks: (ProposalCallback | undefined)[] = new Array(to - from);
    for (let k = from; k < to; k++) {
      cmds[k - from] = queued[k]!.cmd;
      callbacks[k - from] = queued[k]!.cb;
    }
    const r = this.core.propose(encodeBatch(cmds));
    if (r.ok) {
      assert(!this.pending.has(r.index), `two proposals at index ${r.index}`);
      const obs = this.opts.observer;
      obs?.batchCommands?.(cmds.length);
      const now = performance.now();
      this.pending.set(r.index, { term: r.term, callbacks, proposedAtMs: obs === undefined ? 0 : now });
      // Entries split from one pass share its oldest arrival: they all waited for this pass.
      this.trace.proposedEntry(r.index, cmds.length, arrivedMs, now);
      this.pendingCommands += callbacks.length;
      this.stats.proposalsAccepted += callbacks.length;
      return;
    }
    const code =
      r.error === ProposeError.PROPOSAL_QUEUE_FULL
        ? ProposalErrorCode.PROPOSAL_QUEUE_FULL
        : r.error === ProposeError.TRANSFERRING_LEADERSHIP
          ? ProposalErrorCode.TRANSFERRING_LEADERSHIP
          : ProposalErrorCode.NOT_LEADER;
    for (const cb of callbacks) {
      if (cb === undefined) {
        this.timeTickRefused();
        continue;
      }
      this.stats.proposalsRejected++;
      cb(new ProposalError(code, r.leader), undefined, undefined);
    }
  }

  private maybeQueueTimeTick(): void {
    if (this.timeTickMs <= 0) return;
    const now = this.runtime.nowMs();
    if (now - this.lastTimeTickMs < this.timeTickMs) return;
    this.lastTimeTickMs = now;
    this.stats.timeTicksProposed++;
    // Negative client ids are the replicas' own: no session, nothing to deduplicate (a leader
    // proposes each tick once and never resends it).
    this.queueProposal({
      cmd: { clientId: -this.core.term, requestSeq: 0, tsUs: now * 1000, body: TICK_COMMAND_BODY },
      cb: undefined,
    });
  }

  /** A refused time tick is proposed again at the next pass. */
  private timeTickRefused(): void {
    this.lastTimeTickMs = 0;
    this.stats.timeTicksProposed--;
  }

  /** Steps 1–4 of the Ready (file header); the rest runs when the disk is done. */
  private startReady(rd: Ready): void {
    this.stats.readies++;
    this.readyInFlight = rd;
    const committed = rd.committedEntries;
    if (committed.length > 0) this.trace.committedUpTo(committed[committed.length - 1]!.index, performance.now());
    // 1. Term and vote before any message that carries them and before any entry or snapshot
    // (then an entry on disk implies a hard state on disk: recovery can tell a lost file).
    if (rd.hardState !== undefined) this.maybeSaveHardState(rd.hardState);
    // 2. Messages that do not depend on this Ready being durable.
    if (rd.messages.length > 0) this.opts.send(rd.messages);
    if (rd.snapshot !== undefined) this.installSnapshot(rd.snapshot, () => this.writeEntries(rd));
    else this.writeEntries(rd);
  }

  /** Step 4: the Ready's entries, then one fdatasync (or none when there is nothing to write). */
  private writeEntries(rd: Ready): void {
    const committed = rd.committedEntries;
    let applyFrom = 0;
    if (rd.entries.length === 0 || !this.fsync) {
      if (rd.entries.length > 0) {
        this.appendToWal(rd.entries);
        this.durableIndex = this.wal.lastIndex();
        this.trace.durableUpTo(this.durableIndex, performance.now());
      }
      this.finishReady(rd, 0);
      return;
    }
    this.appendToWal(rd.entries);
    const obs = this.opts.observer?.fsyncSeconds;
    const t0 = obs === undefined ? 0 : performance.now();
    // The flush starts first, then committed entries that were already durable here are applied
    // while the disk works: they need not wait for this fdatasync (the client hears back one
    // flush earlier), and the engine and the feed's work overlaps it instead of delaying it.
    // The sync covers exactly what was appended above; applying appends nothing. (Membership does
    // not depend on what is applied: it is the log's, raft/membership.ts.)
    const durableBefore = this.durableIndex;
    this.wal.syncThen((err) =>
      this.resume(() => {
        if (err !== undefined) throw err;
        this.stats.fsyncs++;
        if (obs !== undefined) obs((performance.now() - t0) / 1000);
        if (this.testFsyncDelayMs > 0) {
          this.runtime.after(this.testFsyncDelayMs, () => this.resume(() => this.afterSync(rd, applyFrom)));
          return;
        }
        this.afterSync(rd, applyFrom);
      }),
    );
    // A WAL that failed starting the flush (the simulator's crash at a disk call throws there and
    // the process is dead from that call on) answers nobody: the failure reaches resume() above.
    if (this.wal.failedWith !== undefined) return;
    while (applyFrom < committed.length && committed[applyFrom]!.index <= durableBefore)
      this.applyEntry(committed[applyFrom++]!);
  }

  private afterSync(rd: Ready, applyFrom: number): void {
    this.durableIndex = this.wal.lastIndex();
    this.trace.durableUpTo(this.durableIndex, performance.now());
    this.finishReady(rd, applyFrom);
  }

  /** Steps 5–6: acknowledgements and votes, the remaining applies, advance. */
  private finishReady(rd: Ready, applyFrom: number): void {
    if (rd.logTailRecovered === true) {
      // After this Ready's entries are durable: they are what makes the node caught up.
      this.wal.clearTailLost();
      this.log.info('WAL: holds again every entry it may have acknowledged: campaigning and voting as usual');
    }
    if (rd.messagesAfterPersist.length > 0) this.opts.send(rd.messagesAfterPersist);
    const committed = rd.committedEntries;
    for (let k = applyFrom; k < committed.length; k++) this.applyEntry(committed[k]!);
    if ((committed.length > 0 || rd.snapshot !== undefined) && this.applyListeners.size > 0) {
      for (const fn of this.applyListeners) this.notifyObserver('onApplyBatch', fn);
    }
    for (const rs of rd.readStates) {
      const cb = this.readsPending.get(rs.context);
      if (cb === undefined) continue;
      this.readsPending.delete(rs.context);
      this.readsReady.push({ index: rs.index, cb });
    }
    this.answerReads();
    this.core.advance(rd);
    this.readyInFlight = undefined;
    this.maybeSnapshot();
  }

  /** Reads whose index is applied now. */
  private answerReads(): void {
    if (this.readsReady.length === 0) return;
    const applied = this.sm.appliedIndex;
    const waiting: { index: number; cb: ReadCallback }[] = [];
    for (const r of this.readsReady) {
      if (r.index <= applied) r.cb(undefined, r.index);
      else waiting.push(r);
    }
    this.readsReady = waiting;
  }

  private appendToWal(entries: Entry[]): void {
    const first = entries[0]!.index;
    if (first <= this.wal.lastIndex()) {
      // A new leader overwrites our uncommitted suffix.
      this.wal.truncateAfter(first - 1);
      this.durableIndex = Math.min(this.durableIndex, first - 1);
    }
    let from = 0;
    let bytes = 0;
    for (let k = 0; k < entries.length; k++) {
      const b = entries[k]!.data.length + 32;
      if (k > from && bytes + b > WAL_APPEND_BATCH_BYTES_MAX) {
        this.wal.append(entries.slice(from, k) as LogEntry[]);
        from = k;
        bytes = 0;
      }
      bytes += b;
    }
    this.wal.append(from === 0 ? entries : entries.slice(from));
    this.stats.entriesAppended += entries.length;
  }

  /**
   * Term and vote are saved (atomically, fsynced) when they change, before the Ready's entries
   * or snapshot are written and before any of its messages leave. The commit index rides
   * along, lazily: the core hands a value that is durable and matching here already (never an
   * entry this Ready is about to overwrite), and it is only a lower bound at recovery; saving
   * it on every Ready would add an fsync + rename + directory fsync per batch.
   */
  private maybeSaveHardState(hs: HardState): void {
    const saved = this.wal.loadHardState();
    if (saved !== undefined && saved.term === hs.term && saved.vote === hs.vote) return;
    this.wal.saveHardState({ term: hs.term, vote: hs.vote, commit: Math.max(hs.commit, saved?.commit ?? 0) });
  }

  private applyEntry(e: Entry): void {
    if (e.type === EntryType.CONF_CHANGE) this.applyConfChangeEntry(e);
    const obs = this.opts.observer?.applySeconds;
    const t0 = obs === undefined ? 0 : performance.now();
    const results = this.sm.apply(e.index, commandData(e));
    if (obs !== undefined) obs((performance.now() - t0) / 1000);
    this.stats.entriesApplied++;
    this.answerProposals(e, results);
    this.trace.appliedEntry(e.index, performance.now());
    if (this.opts.onApplied !== undefined)
      this.notifyObserver('onApplied', () =>
        this.opts.onApplied!({ index: e.index, tsUs: this.sm.entryTimeUs, results, events: this.sm.events }, e),
      );
  }

  /** The configuration took effect when the entry was appended (raft/membership.ts); applying it tells the host and the operator. */
  private applyConfChangeEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    const conf = this.core.confAt(e.index);
    this.log.info('membership change applied', {
      index: e.index,
      change: CONF_CHANGE_NAMES[cc.type],
      node: cc.node,
      voters: conf.voters,
      learners: conf.learners,
    });
    if (this.opts.onConfChange !== undefined)
      this.notifyObserver('onConfChange', () => this.opts.onConfChange!(cc, conf));
    const p = this.confPending;
    if (p !== undefined && e.index >= p.index) {
      this.confPending = undefined;
      if (e.index === p.index && e.term === p.term) p.done({ ok: true, index: e.index, conf });
      else
        p.done({
          ok: false,
          error: 'LEADER_CHANGED',
          leader: this.core.leader,
          message: `entry ${p.index} was replaced by another leader's: the change was not applied`,
        });
    }
  }

  /** Answers a membership change whose entry this replica will not see applied. */
  private dropConfPending(error: MembershipChangeError, atOrBelow: number): void {
    const p = this.confPending;
    if (p === undefined || p.index > atOrBelow) return;
    this.confPending = undefined;
    p.done({
      ok: false,
      error,
      leader: this.running ? this.core.leader : NONE,
      message:
        error === 'STOPPING'
          ? 'the replica is stopping'
          : `a snapshot replaced the log through ${atOrBelow}: check the membership with status`,
    });
  }

  /** Observers are derived state: their failure is logged, never fatal to the replica. */
  private notifyObserver(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.warn('observer failed (ignored)', { observer: what, stack: errorStack(err) });
    }
  }

  private answerProposals(e: Entry, results: ApplyResult[]): void {
    const p = this.pending.get(e.index);
    if (p === undefined) return;
    this.pending.delete(e.index);
    if (p.proposedAtMs > 0) this.opts.observer?.commitSeconds?.((performance.now() - p.proposedAtMs) / 1000);
    this.pendingCommands -= p.callbacks.length;
    if (p.term !== e.term) {
      const err = new ProposalError(
        ProposalErrorCode.LEADER_CHANGED,
        this.core.leader,
        `entry ${e.index} is of term ${e.term}, proposed in ${p.term}`,
      );
      for (const cb of p.callbacks) cb?.(err, undefined, undefined);
      return;
    }
    assert(
      results.length === p.callbacks.length,
      `entry ${e.index}: ${results.length} results for a batch of ${p.callbacks.length}`,
    );
    const events = this.sm.events;
    for (let k = 0; k < results.length; k++) p.callbacks[k]?.(undefined, results[k], events);
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots and compaction
  // -------------------------------------------------------------------------------------------

  /**
   * Every snapshotIntervalEntries applied entries: snapshot the state machine and save it in
   * the background (the fdatasync of a large file must not stall heartbeats). Once saved, the
   * log is compacted through the PREVIOUS snapshot, not this one: a follower slightly behind
   * still catches up from the log, and if the newest snapshot file turns out unreadable at
   * restart, the WAL can fall back to the older one (wal/README.md).
   */
  private maybeSnapshot(): void {
    const applied = this.sm.appliedIndex;
    if (this.snapshotSaving || applied <= this.snapshotIndex) return;
    if (!this.snapshotAsked && applied - this.snapshotIndex < this.snapshotIntervalEntries) return;
    this.snapshotAsked = false;
    const term = this.core.termAt(applied);
    assert(term !== undefined, `no term for applied index ${applied}`);
    const meta: SnapshotMeta = { index: applied, term, conf: this.core.confAt(applied) };
    const data = encodeSnapshotEnvelope(meta.conf, this.sm.snapshot());
    const epoch = this.snapshotEpoch;
    this.snapshotSaving = true;
    this.snapshotIndex = applied;
    this.wal.saveSnapshotThen(meta.index, meta.term, data, (err) =>
      this.resume(() => {
        if (err !== undefined) throw err;
        this.snapshotSaving = false;
        this.stats.snapshotsTaken++;
        if (epoch !== this.snapshotEpoch) return; // a leader's snapshot superseded it meanwhile
        this.compactionDue = { meta, data };
      }),
    );
  }

  /** Runs between Readys: the new snapshot becomes the latest; the log goes through the previous one. */
  private compact(next: HeldSnapshot): void {
    const prev = this.latestSnapshot;
    this.latestSnapshot = next;
    if (prev === undefined) return;
    this.core.compact(prev.meta, prev.data);
    this.wal.compactThrough(prev.meta.index);
  }

  /** Step 3: a snapshot from the leader — save it, make the WAL an empty log after it, restore the state machine; then `next`. */
  private installSnapshot(s: { meta: SnapshotMeta; data: Uint8Array }, next: () => void): void {
    const { meta, data } = s;
    this.snapshotEpoch++;
    this.compactionDue = undefined;
    // Decode first: a snapshot we cannot read must not replace our log.
    const decoded = decodeSnapshotEnvelope(data);
    this.wal.saveSnapshotThen(meta.index, meta.term, data, (err) =>
      this.resume(() => {
        if (err !== undefined) throw err;
        if (this.wal.lastIndex() > meta.index) this.wal.truncateAfter(meta.index);
        this.wal.compactThrough(meta.index); // the log restarts empty at meta.index + 1
        assert(
          this.wal.firstIndex() === meta.index + 1 && this.wal.lastIndex() === meta.index,
          'WAL not reset to the snapshot',
        );
        this.sm.restore(decoded.sm);
        assert(
          this.sm.appliedIndex === meta.index,
          `installed snapshot ${meta.index} restores the state machine at ${this.sm.appliedIndex}`,
        );
        this.durableIndex = meta.index;
        this.latestSnapshot = { meta, data };
        this.snapshotIndex = Math.max(this.snapshotIndex, meta.index);
        this.stats.snapshotsInstalled++;
        this.log.info("installed the leader's snapshot", { index: meta.index, term: meta.term });
        if (this.opts.onStateReset !== undefined)
          this.notifyObserver('onStateReset', () => this.opts.onStateReset!(this.sm.engine));
        // Proposals at or below the snapshot were never seen applied here.
        this.dropConfPending('SNAPSHOT_INSTALLED', meta.index);
        for (const [index, p] of this.pending) {
          if (index > meta.index) continue;
          this.pending.delete(index);
          this.pendingCommands -= p.callbacks.length;
          const perr = new ProposalError(ProposalErrorCode.SNAPSHOT_INSTALLED, this.core.leader);
          for (const cb of p.callbacks) cb?.(perr, undefined, undefined);
        }
        next();
      }),
    );
  }

  // -------------------------------------------------------------------------------------------

  private abandonProposals(): void {
    const leader = this.core.leader;
    const err = new ProposalError(
      ProposalErrorCode.LEADER_CHANGED,
      leader,
      `node ${this.id} stepped down before these entries committed; resend to the leader`,
    );
    this.abandonReads(err);
    const n = this.pendingCommands + this.proposals.length;
    for (const p of this.pending.values()) for (const cb of p.callbacks) cb?.(err, undefined, undefined);
    this.pending.clear();
    this.pendingCommands = 0;
    const queued = this.proposals;
    this.proposals = [];
    for (const q of queued) {
      if (q.cb === undefined) this.timeTickRefused();
      else q.cb(err, undefined, undefined);
    }
    if (n > 0) this.log.info('stepped down: proposals answered LEADER_CHANGED (resend)', { proposals: n });
  }

  /** Reads not answered yet: a leader that stepped down cannot confirm them. */
  private abandonReads(err: ProposalError): void {
    const cbs = [...this.readsDue, ...this.readsPending.values()];
    this.readsDue = [];
    this.readsPending.clear();
    for (const cb of cbs) cb(err, 0);
  }

  private rejectAll(code: ProposalErrorCode): void {
    const leader = this.running ? this.core.leader : NONE;
    const err = new ProposalError(code, leader);
    this.abandonReads(err);
    for (const r of this.readsReady.splice(0)) r.cb(err, 0);
    for (const p of this.pending.values()) for (const cb of p.callbacks) cb?.(err, undefined, undefined);
    this.pending.clear();
    this.pendingCommands = 0;
    for (const q of this.proposals) q.cb?.(err, undefined, undefined);
    this.proposals = [];
    this.dropConfPending('STOPPING', Number.MAX_SAFE_INTEGER);
    if (this.confDue !== undefined)
      this.confDue.done({ ok: false, error: 'STOPPING', leader, message: 'the replica is stopping' });
    this.confDue = undefined;
  }

  private fatal(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.stopping = true;
    this.cancelTicks?.();
    this.settleIdle();
    this.rejectAll(ProposalErrorCode.STOPPING);
    this.opts.onFatal(err);
  }
}

/** The leader's time tick, encoded once. */
const TICK_COMMAND_BODY = encodeCommand({ type: 'tick' });

/** Election-timeout randomness: the project's seeded PRNG (deterministic per seed and node). */
function seededInt(seed: number): (n: number) => number {
  const prng = new Prng(seed >>> 0);
  return (n) => prng.int(n);
}

function toEntry(e: LogEntry): Entry {
  return { index: e.index, term: e.term, type: (e.type ?? EntryType.NORMAL) as EntryType, data: e.data };
}
