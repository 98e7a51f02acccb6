// One shard's replica over Multi-Paxos: PaxosCore (paxos-core.ts), its record log on the WAL
// (record-log.ts), the shard state machine, and the host loop that drives them, behind the same
// ReplicatedLog seam (../log.ts) as the Raft host (../node.ts). Everything outside the process is
// injected: `send` (and receive() for what arrived), the file system, the clock and timers
// (`runtime`), the state machine.
//
// The loop processes one Ready at a time, in the order README.md ("How the host drives it") states:
//
//   inputs (messages, snapshots, ticks, proposals, reads) → core;  rd = core.ready()
//   1. save rd.promised as the hard state (atomic, fsynced)          ┐ recordLog.persist(),
//   2. send rd.messages                                             │ synchronous part
//   3. append rd.records to the record log; one fdatasync           ┘ …completes in a callback:
//   4. send rd.messagesAfterPersist (PROMISE, ACCEPTED: they promise durability)
//   5. apply rd.chosen in slot order (log index = slot) and answer proposals by origin ballot
//   6. send a snapshot for each rd.snapshotRequests entry; if rd.logTailRecovered, remove the
//      WAL's tail-lost marker (durably); core.advance()
//
// Like node.ts it runs on callbacks (runtime.defer schedules a pass), inputs that arrive while a
// Ready waits for the disk are queued and land in the next Ready (group commit), and any
// exception in the loop is fatal (onFatal: the process exits).
//
// What differs from Raft, and why:
// - Proposals that find the phase-2 pipeline full (PAXOS_PIPELINE_SLOTS_MAX slots above the
//   chosen prefix) stay queued here (bounded by PENDING_PROPOSALS_MAX) and are proposed when the
//   window moves, rather than refused: the window is a few slots, not Raft's thousands of entries.
// - readIndex() goes through the log: the reads of one pass ride on the next value this leader
//   proposes (an empty one if no command waits); once that slot is applied with this leader's
//   origin ballot, every write acknowledged before the read is applied (it was chosen in a lower
//   slot), so the read is linearizable. Followers refuse reads (NOT_LEADER, with the leader).
// - Membership is fixed (PaxosConfig.members): changes and leadership transfer are refused.

import path from 'node:path';
import { copyBytes } from '../../engine/byte-writer.js';
import { encodeCommand } from '../../engine/command-codec.js';
import type { Engine } from '../../engine/engine.js';
import type { ShardConfig } from '../../engine/types.js';
import { assertFor, type Assert } from '../../ops/assert.js';
import { linesLog, type Log } from '../../ops/log.js';
import {
  BATCH_BYTES_MAX,
  BATCH_COMMAND_OVERHEAD_BYTES,
  BATCH_COMMANDS_MAX,
  BATCH_HEADER_BYTES,
  COMMAND_BYTES_MAX,
  encodeBatch,
  type LoggedCommand,
} from '../../shard/batch-codec.js';
import { decodeSnapshotEnvelope, encodeSnapshotEnvelope } from '../../shard/snapshot-envelope.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import {
  ELECTION_TICKS,
  HEARTBEAT_TICKS,
  INBOX_MESSAGES_MAX,
  PAXOS_ACCEPT_WINDOW_SLOTS,
  PAXOS_LEARN_SLOTS_MAX,
  PAXOS_NODE_ID_MAX,
  PAXOS_PIPELINE_SLOTS_MAX,
  PENDING_PROPOSALS_MAX,
  READS_PENDING_MAX,
  SNAPSHOT_INTERVAL_ENTRIES,
  TICK_MS,
  TIME_TICK_MS,
} from '../limits.js';
import {
  EntryType,
  ProposalError,
  ProposalErrorCode,
  type AppliedEntry,
  type CommittedRead,
  type ConfChange,
  type ConfState,
  type EncodedProposal,
  type Entry,
  type InstrumentState,
  type LiveOrder,
  type OrdersDump,
  type MembershipChangeResult,
  newNodeStats,
  type NodeStats,
  type NodeStatus,
  type Proposal,
  type ProposalCallback,
  type ProposalReply,
  type ReadCallback,
  type ReplicatedLog,
  type StateMachine,
} from '../log.js';
import { Prng } from '../prng.js';
import { proposeJson } from '../proposal-json.js';
import { instrumentStatesOf, liveOrderIdOfAccount, liveOrderOf, ordersDumpOf } from '../state-reads.js';
import { systemRuntime, type ReplicaRuntime } from '../runtime.js';
import type { WalFs } from '../wal/fs.js';
import { PaxosCore, ballotEquals } from './paxos-core.js';
import { PaxosRecordLog, ballotToTerm, type RecordLogRecovery } from './record-log.js';
import {
  PaxosProposeError,
  PaxosRole,
  ValueType,
  type Ballot,
  type ChosenEntry,
  type NodeId,
  type PaxosMessage,
  type PaxosReady,
  type PaxosRecoveredState,
} from './types.js';

/** What a replica sends to another: a core message, or its newest snapshot (catch-up past what it retains). */
export type PaxosOutbound =
  | { kind: 'message'; message: PaxosMessage }
  | { kind: 'snapshot'; from: NodeId; to: NodeId; slot: number; data: Uint8Array };

export interface PaxosNodeOptions {
  id: NodeId;
  /** Every replica's id (fixed membership), identical on every replica; ids ≤ PAXOS_NODE_ID_MAX. */
  members: NodeId[];
  /** The node's files go to `<dataDir>/node-<id>/`. */
  dataDir: string;
  shardConfig: ShardConfig;
  /** Sends to peers (never blocks; the transport may drop: the core retransmits). */
  send: (out: PaxosOutbound[]) => void;
  seed?: number;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** Applied slots between snapshots (default SNAPSHOT_INTERVAL_ENTRIES). */
  snapshotIntervalSlots?: number;
  /** 0 disables the leader's time ticks. */
  timeTickMs?: number;
  onFatal: (err: unknown) => void;
  log?: Log;
  runtime?: ReplicaRuntime;
  fs?: WalFs;
  wal?: { segmentBytesMax?: number; tailCacheBytesMax?: number };
  stateMachine?: StateMachine;
  /** The core's windows (defaults: limits.ts). */
  windows?: Partial<{ pipelineSlotsMax: number; acceptWindowSlots: number; learnSlotsMax: number }>;
  random?: (n: number) => number;
  /** Observer of applied state (as ReplicaNodeOptions.onApplied); an exception is logged and ignored. */
  onApplied?: (applied: AppliedEntry, entry: Entry) => void;
  /** Called when the engine was rebuilt other than by applying (recovery, an installed snapshot). */
  onStateReset?: (engine: Engine) => void;
}

interface QueuedProposal {
  cmd: LoggedCommand;
  /** undefined: the leader's own time tick. */
  cb: ProposalCallback | undefined;
}

/** What waits on one slot this replica proposed: answered when the slot is applied. */
interface PendingSlot {
  ballot: Ballot;
  callbacks: (ProposalCallback | undefined)[];
  reads: ReadCallback[];
}

const ROLE_NAMES = {
  [PaxosRole.FOLLOWER]: 'FOLLOWER',
  [PaxosRole.CANDIDATE]: 'CANDIDATE',
  [PaxosRole.LEADER]: 'LEADER',
} as const;

/** What changeMembershipThen and transferLeadership answer: Multi-Paxos runs a fixed membership. */
export const PAXOS_FIXED_MEMBERSHIP =
  'Multi-Paxos runs a fixed membership (replicator/paxos/README.md): membership changes and leadership transfer are not supported';

const NO_COMMANDS = new Uint8Array(0);
const TICK_COMMAND_BODY = encodeCommand({ type: 'tick' });
const assert: Assert = assertFor('paxos node');

export class PaxosNode implements ReplicatedLog {
  readonly id: NodeId;
  readonly dir: string;
  private readonly opts: PaxosNodeOptions;
  private readonly log: Log;
  private readonly runtime: ReplicaRuntime;
  private readonly members: NodeId[];
  private readonly electionTicks: number;
  private readonly snapshotIntervalSlots: number;
  private readonly timeTickMs: number;
  private recordLog!: PaxosRecordLog;
  private core!: PaxosCore;
  private readonly sm: StateMachine;

  private inbox: PaxosMessage[] = [];
  /** The best snapshot offered by a peer since the last pass (highest slot). */
  private snapshotOffer: { slot: number; data: Uint8Array } | undefined;
  private ticksDue = 0;
  private proposals: QueuedProposal[] = [];
  private readsDue: ReadCallback[] = [];
  private readonly pending = new Map<number, PendingSlot>();
  private pendingCommands = 0;
  private pendingReads = 0;

  private pumpScheduled = false;
  private pumping = false;
  /** A Ready's disk writes, or a snapshot install, are in flight: the loop takes no new Ready. */
  private busy = false;
  private idleWaiters: (() => void)[] = [];

  /** Newest snapshot saved, installed or recovered (what peers are sent); compaction goes through the one before. */
  private latestSnapshot: { slot: number; data: Uint8Array } | undefined;
  private snapshotSaving = false;
  private snapshotAsked = false;
  private compactionDue: number | undefined;
  private lastTimeTickMs = 0;
  private lastRole: PaxosRole = PaxosRole.FOLLOWER;
  private cancelTicks: (() => void) | undefined;
  private running = false;
  private stopping = false;
  private failed = false;
  private hashCache: { applied: number; hash: string } | undefined;
  private readonly applyListeners = new Set<() => void>();
  /** Chaos suite only (setTestFsyncDelay): a slow disk, added to every fdatasync. */
  private testFsyncDelayMs = 0;

  readonly stats: NodeStats = newNodeStats();

  constructor(opts: PaxosNodeOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.dir = path.join(opts.dataDir, `node-${opts.id}`);
    this.log = opts.log ?? linesLog((l) => console.error(`[paxos ${opts.id}] ${l}`));
    this.runtime = opts.runtime ?? systemRuntime;
    this.members = [...opts.members].sort((a, b) => a - b);
    this.electionTicks = opts.electionTicks ?? ELECTION_TICKS;
    this.snapshotIntervalSlots = opts.snapshotIntervalSlots ?? SNAPSHOT_INTERVAL_ENTRIES;
    this.timeTickMs = opts.timeTickMs ?? TIME_TICK_MS;
    for (const m of this.members) {
      if (!Number.isInteger(m) || m < 1 || m > PAXOS_NODE_ID_MAX)
        throw new RangeError(`paxos: member id ${m} outside 1..PAXOS_NODE_ID_MAX (${PAXOS_NODE_ID_MAX})`);
    }
    assert(this.members.includes(opts.id), 'members must include this node');
    assert(this.snapshotIntervalSlots >= 1, 'snapshotIntervalSlots ≥ 1');
    this.sm = opts.stateMachine ?? new ShardStateMachine(opts.shardConfig);
  }

  /** Opens and recovers the record log, builds the core, starts the ticks and the loop. Throws if recovery fails. */
  start(): void {
    assert(!this.running && !this.stopping, 'start() twice');
    this.recover();
    this.running = true;
    this.cancelTicks = this.runtime.every(this.opts.tickMs ?? TICK_MS, () => {
      this.ticksDue++;
      this.poke();
    });
    this.poke();
  }

  /** Stops after the Ready in progress, answers what waits STOPPING, closes the WAL. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.cancelTicks?.();
    }
    if (this.busy && !this.failed) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.rejectAll(ProposalErrorCode.STOPPING);
    await this.recordLog?.close();
  }

  private recover(): void {
    const { log, recovery } = PaxosRecordLog.open(this.dir, {
      warn: (m) => this.log.warn(m),
      ...(this.opts.fs !== undefined ? { fs: this.opts.fs } : {}),
      ...this.opts.wal,
    });
    this.recordLog = log;
    const snap = recovery.snapshot;
    if (snap !== undefined) {
      this.sm.restore(decodeSnapshotEnvelope(snap.state).sm);
      assert(this.sm.appliedIndex === snap.slot, `snapshot ${snap.slot} restores at ${this.sm.appliedIndex}`);
      this.latestSnapshot = { slot: snap.slot, data: snap.state };
    }
    const seed = ((this.opts.seed ?? 1) * 0x9e3779b1) ^ Math.imul(this.id, 0x85ebca6b);
    const prng = new Prng(seed >>> 0);
    const w = this.opts.windows ?? {};
    this.core = new PaxosCore(
      {
        id: this.id,
        members: this.members,
        electionTicks: this.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks ?? HEARTBEAT_TICKS,
        random: this.opts.random ?? ((n) => prng.int(n)),
        pipelineSlotsMax: w.pipelineSlotsMax ?? PAXOS_PIPELINE_SLOTS_MAX,
        acceptWindowSlots: w.acceptWindowSlots ?? PAXOS_ACCEPT_WINDOW_SLOTS,
        learnSlotsMax: w.learnSlotsMax ?? PAXOS_LEARN_SLOTS_MAX,
      },
      this.withTailLoss(recovery),
    );
    const r = recovery.recovered;
    this.log.info('recovered', {
      promised: `${r.promised.round}.${r.promised.leader}`,
      snapshotSlot: r.snapshotSlot,
      records: r.records.length,
    });
    this.notifyObserver('onStateReset', () => this.opts.onStateReset?.(this.sm.engine));
  }

  /**
   * A lost WAL tail starts the core recovering (README.md, departure 8) under a nonce random per
   * life: from the runtime's entropy, not the seeded PRNG, which draws the same in every life.
   */
  private withTailLoss(recovery: RecordLogRecovery): PaxosRecoveredState {
    const lost = recovery.tailLost;
    if (lost === undefined) return recovery.recovered;
    // < 2^52 + 1: a safe integer ≥ 1 (the wire's u64).
    const recoveryNonce = (this.runtime.entropy() % 2 ** 20) * 2 ** 32 + this.runtime.entropy() + 1;
    this.log.warn(
      'WAL: lost records this replica may have acknowledged: no promise and no campaign until caught up with a leader',
      { mustReach: lost.mustReach ?? 'unknown' },
    );
    return { ...recovery.recovered, logTailLost: { recoveryNonce } };
  }

  // ---- inputs ---------------------------------------------------------------------------

  /** What peers sent (the transport's delivery). */
  receive(items: PaxosOutbound[]): void {
    if (this.stopping) return;
    for (const it of items) {
      if (it.kind === 'snapshot') {
        if (it.to === this.id && (this.snapshotOffer === undefined || it.slot > this.snapshotOffer.slot))
          this.snapshotOffer = { slot: it.slot, data: copyBytes(it.data) };
        continue;
      }
      if (this.inbox.length >= INBOX_MESSAGES_MAX) {
        this.stats.messagesDropped++;
        continue;
      }
      const m = it.message;
      // Values are kept until compaction: copy them out of the transport's buffers.
      for (const v of m.values) v.value.data = copyBytes(v.value.data);
      this.inbox.push(m);
    }
    this.poke();
  }

  propose(p: Proposal): Promise<ProposalReply> {
    return proposeJson(this, p);
  }

  proposeEncoded(p: EncodedProposal, cb: ProposalCallback): void {
    if (this.stopping || this.failed) return this.refuse(ProposalErrorCode.STOPPING, cb);
    if (!this.running || this.core.role !== PaxosRole.LEADER) return this.refuse(ProposalErrorCode.NOT_LEADER, cb);
    if (this.proposals.length + this.pendingCommands >= PENDING_PROPOSALS_MAX)
      return this.refuse(ProposalErrorCode.PROPOSAL_QUEUE_FULL, cb);
    if (p.body.length > COMMAND_BYTES_MAX) return this.refuse(ProposalErrorCode.COMMAND_TOO_LARGE, cb);
    const tsUs = p.tsUs ?? this.runtime.nowMs() * 1000;
    this.proposals.push({ cmd: { clientId: p.clientId, requestSeq: p.requestSeq, tsUs, body: p.body }, cb });
    this.poke();
  }

  private refuse(code: ProposalErrorCode, cb: ProposalCallback): void {
    this.stats.proposalsRejected++;
    cb(new ProposalError(code, this.running ? this.core.leader : 0), undefined, undefined);
  }

  /** Linearizable read through the log (file header): the leader only; called exactly once. */
  readIndex(cb: ReadCallback): void {
    if (this.stopping || this.failed) return cb(new ProposalError(ProposalErrorCode.STOPPING, 0), 0);
    if (!this.running || this.core.role !== PaxosRole.LEADER) {
      const leader = this.running ? this.core.leader : 0;
      return cb(
        new ProposalError(ProposalErrorCode.NOT_LEADER, leader, 'Multi-Paxos reads are served by the leader'),
        0,
      );
    }
    if (this.readsDue.length + this.pendingReads >= READS_PENDING_MAX)
      return cb(new ProposalError(ProposalErrorCode.PROPOSAL_QUEUE_FULL, this.id), 0);
    this.readsDue.push(cb);
    this.poke();
  }

  membership(): ConfState {
    return { voters: [...this.members], learners: [] };
  }

  changeMembershipThen(_cc: ConfChange, done: (r: MembershipChangeResult) => void): void {
    const leader = this.running ? this.core.leader : 0;
    done({ ok: false, error: 'CONF_CHANGE_INVALID', leader, message: PAXOS_FIXED_MEMBERSHIP });
  }

  transferLeadership(
    _to: NodeId,
  ): { ok: true } | { ok: false; error: 'NOT_LEADER' | 'BAD_TARGET'; leader: NodeId; message: string } {
    return {
      ok: false,
      error: 'BAD_TARGET',
      leader: this.running ? this.core.leader : 0,
      message: PAXOS_FIXED_MEMBERSHIP,
    };
  }

  requestSnapshot(): { ok: true; snapshotIndex: number; applied: number } {
    this.snapshotAsked = true;
    this.poke();
    return { ok: true, snapshotIndex: this.latestSnapshot?.slot ?? 0, applied: this.sm.appliedIndex };
  }

  onApplyBatch(fn: () => void): () => void {
    this.applyListeners.add(fn);
    return () => this.applyListeners.delete(fn);
  }

  get stateMachine(): StateMachine {
    return this.sm;
  }

  /** A live order of the book and the applied index it was read at (op 'order'; read after apply, not linearizable). */
  liveOrder(orderId: number): { applied: number; order: LiveOrder | undefined } {
    return liveOrderOf(this.sm, orderId);
  }

  /** Every instrument's trading state at the applied index (op 'instruments', read after readIndex). */
  instrumentStates(): { applied: number; instruments: InstrumentState[] } {
    return instrumentStatesOf(this.sm);
  }

  /** The id of the account's live order with this client order id (op 'order' by client order id). */
  liveOrderIdOf(account: number, clOrdId: string): { applied: number; orderId: number | undefined } {
    return liveOrderIdOfAccount(this.sm, account, clOrdId);
  }

  /** The resting orders of the book, at most `max` (op 'orders'). */
  ordersDump(max: number): OrdersDump {
    return ordersDumpOf(this.sm, max, this.stateHash());
  }

  /** Chaos suite only (op 'test-fsync-delay' in test mode): every fdatasync from now on takes `ms` longer. */
  setTestFsyncDelay(ms: number): void {
    assert(Number.isSafeInteger(ms) && ms >= 0, `fsync delay ${ms}`);
    this.testFsyncDelayMs = ms;
    this.log.warn('TEST MODE: fdatasync delayed', { delayMs: ms });
  }

  /** Read-only view of the core (tests). */
  get paxos(): PaxosCore {
    return this.core;
  }

  stateHash(): string {
    const applied = this.sm.appliedIndex;
    if (this.hashCache?.applied !== applied) this.hashCache = { applied, hash: this.sm.stateHash() };
    return this.hashCache.hash;
  }

  status(withHash = false): NodeStatus {
    const st = this.core.status();
    const s: NodeStatus = {
      id: this.id,
      role: ROLE_NAMES[st.role],
      term: st.promised.round,
      leader: st.leader,
      commit: st.chosen,
      applied: this.sm.appliedIndex,
      firstIndex: st.compacted + 1,
      lastIndex: Math.max(st.chosen, this.core.slots.highestAccepted),
      snapshotIndex: this.latestSnapshot?.slot ?? 0,
      pendingProposals: this.pendingCommands + this.proposals.length,
      conf: this.membership(),
      logTailLost: st.recovering,
      stats: { ...this.stats },
      consensus: 'multipaxos',
    };
    if (withHash) s.stateHash = this.stateHash();
    return s;
  }

  /** Chosen values applied here, from `fromIndex` (slots), or the newest snapshot below what is retained. */
  readCommitted(fromIndex: number, bytesMax: number): CommittedRead {
    if (!Number.isSafeInteger(fromIndex) || fromIndex < 1)
      throw new RangeError(`readCommitted: fromIndex ${fromIndex}`);
    const applied = this.sm.appliedIndex;
    const compacted = this.core.slots.compacted;
    const firstIndex = compacted + 1;
    if (fromIndex <= compacted) {
      const s = this.latestSnapshot;
      if (s === undefined || s.slot < compacted) return { kind: 'entries', applied, firstIndex, entries: [] };
      return { kind: 'snapshot', applied, firstIndex, index: s.slot, term: 0, data: s.data };
    }
    const entries: Entry[] = [];
    let bytes = 0;
    for (let slot = fromIndex; slot <= applied; slot++) {
      const l = this.core.slots.learnedAt(slot);
      if (l === undefined) break;
      bytes += l.value.data.length;
      if (entries.length > 0 && bytes > bytesMax) break;
      entries.push(toEntry({ slot, value: l.value }));
    }
    return { kind: 'entries', applied, firstIndex, entries };
  }

  // ---- the loop -------------------------------------------------------------------------

  private poke(): void {
    if (this.pumpScheduled || !this.running || this.failed) return;
    this.pumpScheduled = true;
    this.runtime.defer(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.pumping || this.failed) return;
    this.pumping = true;
    try {
      while (!this.busy && !this.stopping) {
        this.feedCore();
        if (this.busy || !this.core.hasReady()) break;
        this.startReady(this.core.ready());
      }
    } catch (err) {
      this.fatal(err);
    } finally {
      this.pumping = false;
    }
    if (!this.busy || this.failed) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Continues from a completion callback: a failure is fatal; then the loop goes on. */
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

  private feedCore(): void {
    if (this.compactionDue !== undefined) this.core.compact(this.compactionDue);
    this.compactionDue = undefined;
    const offer = this.snapshotOffer;
    this.snapshotOffer = undefined;
    if (offer !== undefined && offer.slot > this.core.status().applied && !this.snapshotSaving) {
      this.installSnapshot(offer);
      return;
    }
    const msgs = this.inbox;
    this.inbox = [];
    for (const m of msgs) if (m.to === this.id) this.core.step(m);
    const ticks = Math.min(this.ticksDue, this.electionTicks - 1); // a stall must not make us campaign
    this.ticksDue = 0;
    for (let k = 0; k < ticks; k++) this.core.tick();
    const role = this.core.role;
    if (role !== this.lastRole) {
      this.log.info('role changed', {
        role: ROLE_NAMES[role],
        round: this.core.promised.round,
        leader: this.core.leader,
      });
      // A deposed leader may never learn the fate of its slots: its clients resend (same
      // (clientId, requestSeq); the session table applies each command once).
      if (this.lastRole === PaxosRole.LEADER) this.abandon(ProposalErrorCode.LEADER_CHANGED);
      this.lastRole = role;
    }
    if (role !== PaxosRole.LEADER) {
      if (this.proposals.length + this.readsDue.length > 0) this.abandon(ProposalErrorCode.NOT_LEADER);
      return;
    }
    this.maybeQueueTimeTick();
    this.proposeQueued();
  }

  /** Packs queued commands into values (batch limits) while the pipeline has room; reads ride on the first. */
  private proposeQueued(): void {
    while (this.proposals.length > 0 || this.readsDue.length > 0) {
      let n = 0;
      let bytes = BATCH_HEADER_BYTES;
      for (; n < this.proposals.length && n < BATCH_COMMANDS_MAX; n++) {
        const b = BATCH_COMMAND_OVERHEAD_BYTES + this.proposals[n]!.cmd.body.length;
        if (n > 0 && bytes + b > BATCH_BYTES_MAX) break;
        bytes += b;
      }
      const batch = this.proposals.slice(0, n);
      const data = n === 0 ? NO_COMMANDS : encodeBatch(batch.map((q) => q.cmd));
      const r = this.core.propose(data);
      if (!r.ok) {
        // The pipeline is full: what is queued waits for the window to move (the next pass).
        assert(r.error === PaxosProposeError.PROPOSAL_QUEUE_FULL, `propose as leader: ${r.error}`);
        return;
      }
      this.proposals.splice(0, n);
      const reads = this.readsDue;
      this.readsDue = [];
      assert(!this.pending.has(r.slot), `two proposals in slot ${r.slot}`);
      this.pending.set(r.slot, { ballot: r.ballot, callbacks: batch.map((q) => q.cb), reads });
      this.pendingCommands += n;
      this.pendingReads += reads.length;
      this.stats.proposalsAccepted += n;
    }
  }

  private maybeQueueTimeTick(): void {
    if (this.timeTickMs <= 0) return;
    const now = this.runtime.nowMs();
    if (now - this.lastTimeTickMs < this.timeTickMs) return;
    this.lastTimeTickMs = now;
    this.stats.timeTicksProposed++;
    // Negative client ids are the replicas' own (no session); one per leadership round.
    const clientId = -Math.max(1, this.core.ballot.round);
    this.proposals.push({ cmd: { clientId, requestSeq: 0, tsUs: now * 1000, body: TICK_COMMAND_BODY }, cb: undefined });
  }

  /** Steps 1–3: the promise and the records (persist saves the promise synchronously), the messages; the rest after the fdatasync. */
  private startReady(rd: PaxosReady): void {
    this.stats.readies++;
    this.busy = true;
    this.recordLog.persist(rd.promised, rd.records, (err) =>
      this.resume(() => {
        // Chaos suite only: a slow disk, as node.ts (the delay stands in for a longer fdatasync).
        if (this.testFsyncDelayMs > 0 && rd.records.length > 0 && err === undefined)
          this.runtime.after(this.testFsyncDelayMs, () => this.resume(() => this.finishReady(rd, undefined)));
        else this.finishReady(rd, err);
      }),
    );
    this.stats.entriesAppended += rd.records.length;
    if (rd.messages.length > 0) this.opts.send(rd.messages.map((message) => ({ kind: 'message', message })));
  }

  /** Steps 4–6. */
  private finishReady(rd: PaxosReady, err: Error | undefined): void {
    if (err !== undefined) throw err;
    if (rd.records.length > 0) this.stats.fsyncs++;
    if (rd.messagesAfterPersist.length > 0)
      this.opts.send(rd.messagesAfterPersist.map((message) => ({ kind: 'message', message })));
    for (const e of rd.chosen) this.apply(e);
    if (rd.chosen.length > 0) for (const fn of this.applyListeners) this.notifyObserver('onApplyBatch', fn);
    const s = this.latestSnapshot;
    if (s !== undefined && rd.snapshotRequests.length > 0) {
      this.opts.send(
        rd.snapshotRequests.map((r) => ({ kind: 'snapshot', from: this.id, to: r.to, slot: s.slot, data: s.data })),
      );
    }
    if (rd.logTailRecovered === true) {
      // Durable before advance(): the core promises again only after it.
      this.recordLog.clearTailLost();
      this.log.info('WAL: caught up past the records it lost: promising and campaigning as usual');
    }
    this.core.advance();
    this.busy = false;
    this.maybeSnapshot();
  }

  private apply(e: ChosenEntry): void {
    const data = e.value.type === ValueType.NORMAL ? e.value.data : NO_COMMANDS;
    const results = this.sm.apply(e.slot, data);
    this.stats.entriesApplied++;
    const p = this.pending.get(e.slot);
    if (p !== undefined) {
      this.pending.delete(e.slot);
      this.pendingCommands -= p.callbacks.length;
      this.pendingReads -= p.reads.length;
      if (ballotEquals(e.value.origin, p.ballot)) {
        assert(
          results.length === p.callbacks.length,
          `slot ${e.slot}: ${results.length} results, ${p.callbacks.length} commands`,
        );
        for (let k = 0; k < results.length; k++) p.callbacks[k]?.(undefined, results[k], this.sm.events);
        for (const cb of p.reads) cb(undefined, e.slot);
      } else {
        const msg = `slot ${e.slot} was chosen with another leader's value`;
        const perr = new ProposalError(ProposalErrorCode.LEADER_CHANGED, this.core.leader, msg);
        for (const cb of p.callbacks) cb?.(perr, undefined, undefined);
        for (const cb of p.reads) cb(perr, 0);
      }
    }
    const onApplied = this.opts.onApplied;
    if (onApplied !== undefined) {
      const applied = { index: e.slot, tsUs: this.sm.entryTimeUs, results, events: this.sm.events };
      this.notifyObserver('onApplied', () => onApplied(applied, toEntry(e)));
    }
  }

  // ---- snapshots ------------------------------------------------------------------------

  /** Every snapshotIntervalSlots applied slots: snapshot, save with the copy-forward compaction, then compact the core through the previous snapshot. */
  private maybeSnapshot(): void {
    const applied = this.sm.appliedIndex;
    const last = this.latestSnapshot?.slot ?? 0;
    if (this.snapshotSaving || this.recordLog.busy || applied <= last) return;
    if (!this.snapshotAsked && applied - last < this.snapshotIntervalSlots) return;
    this.snapshotAsked = false;
    const data = encodeSnapshotEnvelope(this.membership(), this.sm.snapshot());
    this.snapshotSaving = true;
    const started = this.recordLog.saveSnapshotAndCompact(applied, data, (err) =>
      this.resume(() => {
        if (err !== undefined) throw err;
        this.snapshotSaving = false;
        this.stats.snapshotsTaken++;
        const prev = this.latestSnapshot;
        if (prev !== undefined && prev.slot >= applied) return; // an installed snapshot overtook it
        this.latestSnapshot = { slot: applied, data };
        if (prev !== undefined) this.compactionDue = prev.slot;
      }),
    );
    assert(started, 'snapshot save refused');
  }

  /** A peer's snapshot: saved durably (with the copy-forward compaction), then the state machine and the core jump to it. */
  private installSnapshot(offer: { slot: number; data: Uint8Array }): void {
    const decoded = decodeSnapshotEnvelope(offer.data); // one we cannot read must not replace anything
    this.busy = true;
    this.snapshotSaving = true;
    const started = this.recordLog.saveSnapshotAndCompact(offer.slot, offer.data, (err) =>
      this.resume(() => {
        if (err !== undefined) throw err;
        this.snapshotSaving = false;
        this.sm.restore(decoded.sm);
        assert(this.sm.appliedIndex === offer.slot, `snapshot ${offer.slot} restores at ${this.sm.appliedIndex}`);
        this.core.installSnapshot(offer.slot);
        this.latestSnapshot = offer;
        this.stats.snapshotsInstalled++;
        this.log.info("installed a peer's snapshot", { slot: offer.slot });
        this.notifyObserver('onStateReset', () => this.opts.onStateReset?.(this.sm.engine));
        const perr = new ProposalError(ProposalErrorCode.SNAPSHOT_INSTALLED, this.core.leader);
        for (const [slot, p] of this.pending) {
          if (slot > offer.slot) continue;
          this.pending.delete(slot);
          this.pendingCommands -= p.callbacks.length;
          this.pendingReads -= p.reads.length;
          for (const cb of p.callbacks) cb?.(perr, undefined, undefined);
          for (const cb of p.reads) cb(perr, 0);
        }
        for (const fn of this.applyListeners) this.notifyObserver('onApplyBatch', fn);
        this.busy = false;
      }),
    );
    if (!started) {
      // Our own snapshot's compaction is still running: the peer offers again on its next catch-up.
      this.busy = false;
      this.snapshotSaving = false;
    }
  }

  // ---- failures -------------------------------------------------------------------------

  /** Answers everything waiting here (proposals, reads) with `code`. */
  private abandon(code: ProposalErrorCode): void {
    const err = new ProposalError(code, this.running ? this.core.leader : 0);
    const n = this.pendingCommands + this.proposals.length;
    for (const p of this.pending.values()) {
      for (const cb of p.callbacks) cb?.(err, undefined, undefined);
      for (const cb of p.reads) cb(err, 0);
    }
    this.pending.clear();
    this.pendingCommands = 0;
    this.pendingReads = 0;
    for (const q of this.proposals.splice(0)) q.cb?.(err, undefined, undefined);
    for (const cb of this.readsDue.splice(0)) cb(err, 0);
    this.lastTimeTickMs = 0;
    if (n > 0) this.log.info('proposals answered', { code, proposals: n });
  }

  private rejectAll(code: ProposalErrorCode): void {
    this.abandon(code);
  }

  private notifyObserver(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.warn('observer failed (ignored)', { observer: what, error: String(err) });
    }
  }

  private fatal(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.stopping = true;
    this.cancelTicks?.();
    for (const w of this.idleWaiters.splice(0)) w();
    this.rejectAll(ProposalErrorCode.STOPPING);
    this.opts.onFatal(err);
  }
}

/** A chosen value as the log's readers see an entry: index = slot, term = its origin ballot as one number. */
function toEntry(e: ChosenEntry): Entry {
  const noop = e.value.type === ValueType.NOOP;
  return {
    index: e.slot,
    term: ballotToTerm(e.value.origin),
    type: noop ? EntryType.NOOP : EntryType.NORMAL,
    data: noop ? NO_COMMANDS : e.value.data,
  };
}
