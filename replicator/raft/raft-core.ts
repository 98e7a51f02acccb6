// The Raft consensus core: a pure state machine, no sockets, files or timers.
// Driven by step(message), tick() and propose(); hands back a Ready (persist, send,
// apply), and the host calls advance() once it has done that. Randomness (election
// timeouts) comes from the injected `random`, so a seed replays a whole cluster.
//
// Implements: leader election with PreVote and CheckQuorum (§9.6), log replication
// with batching and pipelining (bounded in-flight messages and bytes), a leader that
// writes its log in parallel with replication but counts itself only once durable,
// a no-op entry on election and commitment by counting only entries of the current
// term (§5.4.2), snapshots sent in bounded chunks, one-at-a-time membership changes
// (thesis §4.1: a configuration takes effect when its entry is in the log, membership.ts),
// leadership transfer (thesis §3.10), ReadIndex (thesis §6.4).

import { ConfLog, confChangeValid, decodeConfChange, encodeConfChange } from './membership.js';
import { ENTRY_OVERHEAD_BYTES, RaftLog, invariant } from './raft-log.js';
import {
  EntryType,
  MessageType,
  NONE,
  ProposeError,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftConfig,
  type ReadState,
  type Ready,
  type RecoveredState,
  type SnapshotMeta,
  type TailLoss,
} from './types.js';

export { decodeConfChange, encodeConfChange } from './membership.js';

/** A received snapshot larger than this is refused (the follower stays behind and reports it). */
export const SNAPSHOT_BYTES_MAX = 1 << 30;
/** ReadIndex requests waiting for the leader's first commit in its term; more are dropped (clients retry). */
export const READ_PENDING_MAX = 4096;
/** Marks a VOTE sent on TIMEOUT_NOW: voters skip the leader-lease check (thesis §3.10). */
const CAMPAIGN_TRANSFER = 1;
/**
 * APPEND_RESP.context on a reject from a replica whose log may be shorter than what it once
 * acknowledged: it lost its log tail, or it restarted and has accepted nothing since (a tail cut
 * on a record boundary is not detectable). The leader trusts its hint over its recorded match.
 */
export const APPEND_RESP_LOG_MAY_HAVE_SHRUNK = 1;

const ProgressState = { PROBE: 1, REPLICATE: 2, SNAPSHOT: 3 } as const;
type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** The leader's view of one follower. */
class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.PROBE;
  /** PROBE: one APPEND sent, waiting for its answer or a heartbeat. */
  probeSent = false;
  recentActive = false;
  /** SNAPSHOT: index of the snapshot being sent, and the offset acknowledged so far. */
  pendingSnapshot = 0;
  snapshotOffset = 0;
  /** The commit index the follower was last sent (it learns the leader's commit from APPENDs). */
  sentCommit = 0;
  /** REPLICATE: last index of each APPEND in flight, and their bytes. */
  readonly inflightIndex: number[] = [];
  readonly inflightBytes: number[] = [];
  inflightBytesTotal = 0;

  constructor(next: number) {
    this.next = next;
  }

  resetInflight(): void {
    this.inflightIndex.length = 0;
    this.inflightBytes.length = 0;
    this.inflightBytesTotal = 0;
  }

  /** Frees in-flight messages whose last index ≤ index. */
  freeTo(index: number): void {
    let k = 0;
    while (k < this.inflightIndex.length && this.inflightIndex[k]! <= index) {
      this.inflightBytesTotal -= this.inflightBytes[k]!;
      k++;
    }
    if (k > 0) {
      this.inflightIndex.splice(0, k);
      this.inflightBytes.splice(0, k);
    }
  }
}

interface ReadRequest {
  index: number;
  context: number;
  from: NodeId;
  round: number;
}

function emptyMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return {
    type,
    from,
    to,
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
  };
}

export class RaftCore {
  readonly id: NodeId;
  private readonly cfg: RaftConfig;
  readonly log = new RaftLog();

  role: Role = Role.FOLLOWER;
  term = 0;
  vote: NodeId = NONE;
  leader: NodeId = NONE;

  /** The configurations of this log (the newest is in force); voters/learners mirror the newest. */
  private readonly confLog: ConfLog;
  private voters = new Set<NodeId>();
  private learners = new Set<NodeId>();
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  private leadTransferee: NodeId = NONE;
  /** Index of the latest conf change proposed by this leader; none may be proposed until it is applied. */
  private pendingConfIndex = 0;
  private applied = 0;

  // Snapshot to send to lagging followers.
  private snapMeta: SnapshotMeta | undefined;
  private snapData: Uint8Array | undefined;
  // Snapshot being received (chunks).
  private recvSnapMeta: SnapshotMeta | undefined;
  private recvSnapChunks: Uint8Array[] = [];
  private recvSnapOffset = 0;
  // Snapshot received whole, to hand to the host in the next Ready.
  private pendingSnapshot: { meta: SnapshotMeta; data: Uint8Array } | undefined;
  /** Recovered with a lost log tail and not caught up yet: no campaigns, votes judged against the lost end (RecoveredState.logTailLost). */
  private tailLost: TailLoss | undefined;
  /** Caught up since: the next Ready tells the host. */
  private tailRecoveredPending = false;
  /** Restarted from disk and accepted no APPEND since: our log may be shorter than a leader thinks. */
  private restartedUnmatched = false;

  // ReadIndex.
  private readRound = 0;
  private readonly readRequests: ReadRequest[] = [];
  private readonly readAcks = new Map<number, Set<NodeId>>();
  private readonly readPending: { context: number; from: NodeId }[] = [];
  private readStates: ReadState[] = [];

  // Output accumulated until the next ready().
  private msgs: Message[] = [];
  private msgsAfterPersist: Message[] = [];
  private needBroadcast = false;
  private prevHard: HardState = { term: 0, vote: NONE, commit: 0 };
  private outstandingReady = false;
  private readonly commitScratch: number[] = [];

  constructor(cfg: RaftConfig, recovered?: RecoveredState) {
    invariant(cfg.id !== NONE, 'raft: node id 0 is reserved');
    invariant(
      cfg.heartbeatTicks > 0 && cfg.electionTicks > cfg.heartbeatTicks,
      'raft: need electionTicks > heartbeatTicks > 0',
    );
    this.id = cfg.id;
    this.cfg = cfg;
    let conf = cfg.conf;
    if (recovered !== undefined) {
      const hs = recovered.hardState;
      this.term = hs.term;
      this.vote = hs.vote;
      if (recovered.snapshot !== undefined) {
        const s = recovered.snapshot;
        this.log.restore(s.index, s.term);
        this.snapMeta = s;
        this.snapData = recovered.snapshotData;
        conf = s.conf;
      }
      for (const e of recovered.entries) this.log.entries.push(e);
      for (let k = 0; k < this.log.entries.length; k++) {
        invariant(
          this.log.entries[k]!.index === this.log.snapIndex + 1 + k,
          'raft: recovered entries are not contiguous',
        );
      }
      invariant(
        this.log.lastTerm <= hs.term,
        `raft: recovered log ends in term ${this.log.lastTerm}, after the hard state's term ${hs.term}`,
      );
      this.log.stable = this.log.lastIndex;
      invariant(
        hs.commit <= this.log.lastIndex,
        `raft: recovered commit ${hs.commit} beyond last index ${this.log.lastIndex}`,
      );
      this.log.committed = Math.max(hs.commit, this.log.snapIndex);
      this.log.applying = this.log.snapIndex;
      this.applied = this.log.snapIndex;
      this.prevHard = { term: hs.term, vote: hs.vote, commit: this.log.committed };
      this.tailLost = recovered.logTailLost;
      this.restartedUnmatched = true;
    }
    // The configuration is the log's (thesis §4.1): the snapshot's, then every CONF_CHANGE entry
    // after it, committed or not — the same one this node had before a restart.
    this.confLog = new ConfLog(conf);
    for (const e of this.log.entries)
      if (e.type === EntryType.CONF_CHANGE) this.confLog.appended(e.index, decodeConfChange(e.data));
    this.refreshConf();
    if (this.tailLost !== undefined && this.voters.size === 1 && this.voters.has(this.id)) {
      // The only voter: nobody holds what it lost, so waiting would wait forever.
      this.tailLost = undefined;
      this.tailRecoveredPending = true;
    }
    this.resetRandomizedElectionTimeout();
  }

  get commitIndex(): number {
    return this.log.committed;
  }
  get lastIndex(): number {
    return this.log.lastIndex;
  }
  get firstIndex(): number {
    return this.log.firstIndex;
  }
  entryAt(index: number): Entry | undefined {
    return this.log.entryAt(index);
  }
  termAt(index: number): number | undefined {
    return this.log.termAt(index);
  }
  /** The configuration in force: the newest in this node's log. */
  conf(): ConfState {
    return { voters: [...this.voters].sort((a, b) => a - b), learners: [...this.learners].sort((a, b) => a - b) };
  }
  /** The configuration as of `index` (≥ the first index − 1): what a snapshot taken there must record. */
  confAt(index: number): ConfState {
    invariant(
      index >= this.log.snapIndex,
      `raft: configuration at ${index}, before the snapshot at ${this.log.snapIndex}`,
    );
    return this.confLog.at(index);
  }
  /** True while this node waits to catch up after recovering with a lost log tail. */
  get logTailLost(): boolean {
    return this.tailLost !== undefined;
  }
  private get promotable(): boolean {
    // A node that may have lost acknowledged entries must not lead: it could lack a committed one.
    return this.voters.has(this.id) && this.tailLost === undefined;
  }
  private quorum(): number {
    return (this.voters.size >> 1) + 1;
  }

  // -------------------------------------------------------------------------
  // Inputs
  // -------------------------------------------------------------------------

  tick(): void {
    if (this.role === Role.LEADER) {
      this.heartbeatElapsed++;
      this.electionElapsed++;
      if (this.electionElapsed >= this.cfg.electionTicks) {
        this.electionElapsed = 0;
        if (this.cfg.checkQuorum && !this.quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        if (this.leadTransferee !== NONE) this.leadTransferee = NONE; // transfer did not finish within an election timeout
      }
      if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat(0);
      }
      return;
    }
    this.electionElapsed++;
    if (this.promotable && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote, false);
    }
  }

  propose(data: Uint8Array): ProposeResult {
    return this.proposeEntry(EntryType.NORMAL, data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.role !== Role.LEADER) return { ok: false, error: ProposeError.NOT_LEADER, leader: this.leader };
    if (this.pendingConfIndex > this.applied)
      return { ok: false, error: ProposeError.CONF_CHANGE_PENDING, leader: this.id };
    // Thesis §4.1 / the etcd bug fix: a new leader must commit an entry of its term before changing membership.
    if (this.log.termAt(this.log.committed) !== this.term)
      return { ok: false, error: ProposeError.NOT_COMMITTED_IN_TERM, leader: this.id };
    if (!confChangeValid(this.confLog.current, cc))
      return { ok: false, error: ProposeError.CONF_CHANGE_INVALID, leader: this.id };
    const result = this.proposeEntry(EntryType.CONF_CHANGE, encodeConfChange(cc));
    if (result.ok) this.pendingConfIndex = result.index;
    return result;
  }

  private proposeEntry(type: EntryType, data: Uint8Array): ProposeResult {
    if (this.role !== Role.LEADER) return { ok: false, error: ProposeError.NOT_LEADER, leader: this.leader };
    if (this.leadTransferee !== NONE)
      return { ok: false, error: ProposeError.TRANSFERRING_LEADERSHIP, leader: this.id };
    if (this.log.lastIndex - this.log.committed >= this.cfg.uncommittedEntriesMax) {
      return { ok: false, error: ProposeError.PROPOSAL_QUEUE_FULL, leader: this.id };
    }
    const index = this.log.lastIndex + 1;
    this.appendToLog([{ index, term: this.term, type, data }]);
    this.needBroadcast = true; // sent at the next ready(): proposals between two Readys travel in one APPEND
    return { ok: true, index, term: this.term };
  }

  transferLeadership(to: NodeId): boolean {
    if (this.role !== Role.LEADER || to === this.id || !this.voters.has(to)) return false;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex) this.send(emptyMessage(MessageType.TIMEOUT_NOW, this.id, to, this.term));
    else this.sendAppend(to);
    return true;
  }

  /** Linearizable read: a ReadState { index, context } comes out in a later Ready; serve it once applied ≥ index. */
  readIndex(context: number): void {
    if (this.role === Role.LEADER) this.leaderReadIndex(context, this.id);
    else if (this.leader !== NONE) {
      const m = emptyMessage(MessageType.READ_INDEX, this.id, this.leader, this.term);
      m.context = context;
      this.send(m);
    }
    // No known leader: dropped; the host times out and retries.
  }

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === MessageType.VOTE || m.type === MessageType.PRE_VOTE) {
        // CheckQuorum leader lease: while we hear from a leader, ignore disruptive candidates.
        const inLease = this.cfg.checkQuorum && this.leader !== NONE && this.electionElapsed < this.cfg.electionTicks;
        if (inLease && m.context !== CAMPAIGN_TRANSFER) return;
      }
      if (m.type === MessageType.PRE_VOTE) {
        // Never change term on a pre-vote.
      } else if (m.type === MessageType.PRE_VOTE_RESP && !m.reject) {
        // A granted pre-vote carries the future term; we become candidate in it when we have a quorum.
      } else if (m.type === MessageType.APPEND || m.type === MessageType.HEARTBEAT || m.type === MessageType.SNAPSHOT) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (m.type === MessageType.HEARTBEAT || m.type === MessageType.APPEND || m.type === MessageType.SNAPSHOT) {
        // A stale leader (e.g. after a partition): tell it our term so it steps down (Figure 2:
        // "reply false if term < currentTerm"). Without this, a node whose term ran ahead while it
        // was cut off could never rejoin a leader that does not hear its vote requests.
        this.send(emptyMessage(MessageType.APPEND_RESP, this.id, m.from, this.term));
      } else if (m.type === MessageType.PRE_VOTE) {
        const r = emptyMessage(MessageType.PRE_VOTE_RESP, this.id, m.from, this.term);
        r.reject = true;
        this.send(r);
      }
      return;
    }

    if (m.type === MessageType.VOTE || m.type === MessageType.PRE_VOTE) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case Role.LEADER:
        this.stepLeader(m);
        break;
      case Role.CANDIDATE:
      case Role.PRE_CANDIDATE:
        this.stepCandidate(m);
        break;
      default:
        this.stepFollower(m);
    }
  }

  // -------------------------------------------------------------------------
  // Elections (§5.2, §9.6 PreVote)
  // -------------------------------------------------------------------------

  private campaign(preVote: boolean, transfer: boolean): void {
    if (!this.promotable) return;
    let voteTerm: number;
    let type: MessageType;
    if (preVote) {
      this.role = Role.PRE_CANDIDATE;
      this.leader = NONE;
      this.votes.clear();
      voteTerm = this.term + 1;
      type = MessageType.PRE_VOTE;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
      type = MessageType.VOTE;
    }
    this.votes.set(this.id, true);
    if (this.grantedVotes() >= this.quorum()) {
      if (preVote) this.campaign(false, transfer);
      else this.becomeLeader();
      return;
    }
    for (const v of this.voters) {
      if (v === this.id) continue;
      const m = emptyMessage(type, this.id, v, voteTerm);
      m.index = this.log.lastIndex;
      m.logTerm = this.log.lastTerm;
      if (transfer) m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.PRE_VOTE;
    const canVote = this.vote === m.from || (this.vote === NONE && this.leader === NONE) || (pre && m.term > this.term);
    const respType = pre ? MessageType.PRE_VOTE_RESP : MessageType.VOTE_RESP;
    if (canVote && this.log.isUpToDate(m.index, m.logTerm) && this.upToDateWithLostTail(m.index, m.logTerm)) {
      // A granted response carries the term of the request (for a pre-vote, the future term).
      this.send(emptyMessage(respType, this.id, m.from, m.term));
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      const r = emptyMessage(respType, this.id, m.from, this.term);
      r.reject = true;
      this.send(r);
    }
  }

  /**
   * A node that lost its log tail may have acknowledged entries it no longer holds, up to index
   * `mustReach` (the WAL's sync mark), all of terms ≤ `term` (its hard-state term when it lost
   * them). It votes as if its log still ended at (mustReach, term): a candidate at least that up
   * to date is at least as up to date as the log the node had, so the vote is one the node would
   * have granted before the loss (§5.4.1 with the lost entries restored). Unknown `mustReach`:
   * only a candidate whose log ends in a later term.
   */
  private upToDateWithLostTail(index: number, logTerm: number): boolean {
    const lost = this.tailLost;
    if (lost === undefined) return true;
    if (logTerm !== lost.term) return logTerm > lost.term;
    return lost.mustReach !== undefined && index >= lost.mustReach;
  }

  private grantedVotes(): number {
    let n = 0;
    for (const [id, granted] of this.votes) if (granted && this.voters.has(id)) n++;
    return n;
  }

  private rejectedVotes(): number {
    let n = 0;
    for (const [id, granted] of this.votes) if (!granted && this.voters.has(id)) n++;
    return n;
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === Role.PRE_CANDIDATE ? MessageType.PRE_VOTE_RESP : MessageType.VOTE_RESP;
    switch (m.type) {
      case MessageType.APPEND:
      case MessageType.HEARTBEAT:
      case MessageType.SNAPSHOT:
        // A leader of our term exists.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case myResp:
        this.votes.set(m.from, !m.reject);
        if (this.grantedVotes() >= this.quorum()) {
          if (this.role === Role.PRE_CANDIDATE) this.campaign(false, false);
          else this.becomeLeader();
        } else if (this.rejectedVotes() >= this.quorum()) {
          this.becomeFollower(this.term, NONE);
        }
        return;
      default:
        return;
    }
  }

  private becomeFollower(term: number, leader: NodeId): void {
    invariant(term >= this.term, `raft: term would go back from ${this.term} to ${term}`);
    if (term > this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.role = Role.FOLLOWER;
    this.leader = leader;
    this.reset();
  }

  private becomeCandidate(): void {
    invariant(this.role !== Role.LEADER, 'raft: leader cannot become candidate');
    this.term++;
    this.vote = this.id;
    this.role = Role.CANDIDATE;
    this.leader = NONE;
    this.reset();
    this.votes.clear();
  }

  private becomeLeader(): void {
    invariant(this.role === Role.CANDIDATE, 'raft: only a candidate becomes leader');
    this.role = Role.LEADER;
    this.leader = this.id;
    this.reset();
    for (const id of [...this.voters, ...this.learners]) {
      const pr = new Progress(this.log.lastIndex + 1);
      if (id === this.id) {
        pr.match = this.log.stable;
        pr.state = ProgressState.REPLICATE;
      }
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
    // No conf change until everything up to here is applied.
    this.pendingConfIndex = this.log.lastIndex;
    // §5.4.2: an entry of our own term, so that earlier entries get committed with it.
    this.appendToLog([
      { index: this.log.lastIndex + 1, term: this.term, type: EntryType.NOOP, data: new Uint8Array(0) },
    ]);
    this.needBroadcast = true;
    this.maybeCommit();
  }

  private reset(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.progress.clear();
    this.votes.clear();
    this.readRequests.length = 0;
    this.readAcks.clear();
    this.readPending.length = 0;
    this.needBroadcast = false;
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.random(this.cfg.electionTicks);
  }

  // -------------------------------------------------------------------------
  // Follower
  // -------------------------------------------------------------------------

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.APPEND:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case MessageType.HEARTBEAT:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.log.commitTo(Math.min(m.commit, this.log.lastIndex));
        {
          const r = emptyMessage(MessageType.HEARTBEAT_RESP, this.id, m.from, this.term);
          r.context = m.context;
          this.send(r);
        }
        return;
      case MessageType.SNAPSHOT:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshotChunk(m);
        return;
      case MessageType.TIMEOUT_NOW:
        // Leadership transfer: campaign at once, skipping PreVote and the lease (thesis §3.10).
        this.campaign(false, true);
        return;
      case MessageType.READ_INDEX_RESP:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    const r = emptyMessage(MessageType.APPEND_RESP, this.id, m.from, this.term);
    if (m.index < this.log.committed) {
      // Everything up to our commit index is already known to match.
      r.index = this.log.committed;
      this.send(r);
      return;
    }
    if (this.log.matchTerm(m.index, m.logTerm)) {
      const lastNew = m.index + m.entries.length;
      const conflict = this.log.findConflict(m.entries);
      if (conflict !== 0) {
        invariant(conflict > this.log.committed, `raft: conflict at ${conflict} ≤ commit ${this.log.committed}`);
        this.appendToLog(m.entries.slice(conflict - m.index - 1));
      }
      this.log.commitTo(Math.min(m.commit, lastNew));
      r.index = lastNew;
      this.send(r);
      this.restartedUnmatched = false;
      this.maybeTailRecovered(lastNew);
      return;
    }
    // Log mismatch: hint where to retry (fast backtracking).
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex), m.logTerm);
    r.reject = true;
    r.index = m.index;
    r.rejectHint = hintIndex;
    r.logTerm = this.log.termAt(hintIndex) ?? 0;
    if (this.tailLost || this.restartedUnmatched) r.context = APPEND_RESP_LOG_MAY_HAVE_SHRUNK;
    this.send(r);
  }

  private handleSnapshotChunk(m: Message): void {
    const c = m.snapshot;
    if (c === undefined) return;
    const ack = (offset: number) => {
      const r = emptyMessage(MessageType.SNAPSHOT_RESP, this.id, m.from, this.term);
      r.index = offset;
      this.send(r);
    };
    if (c.offset === 0) {
      this.recvSnapMeta = c.meta;
      this.recvSnapChunks = [];
      this.recvSnapOffset = 0;
    }
    const same =
      this.recvSnapMeta !== undefined &&
      this.recvSnapMeta.index === c.meta.index &&
      this.recvSnapMeta.term === c.meta.term;
    if (!same || c.offset !== this.recvSnapOffset || c.size > SNAPSHOT_BYTES_MAX) {
      ack(same ? this.recvSnapOffset : 0); // tell the leader where we are
      return;
    }
    this.recvSnapChunks.push(c.data);
    this.recvSnapOffset += c.data.length;
    if (!c.done) {
      ack(this.recvSnapOffset);
      return;
    }
    const data = concat(this.recvSnapChunks, this.recvSnapOffset);
    this.recvSnapMeta = undefined;
    this.recvSnapChunks = [];
    this.recvSnapOffset = 0;
    invariant(data.length === c.size, `raft: snapshot size ${data.length}, announced ${c.size}`);
    const meta = c.meta;
    const r = emptyMessage(MessageType.APPEND_RESP, this.id, m.from, this.term);
    if (meta.index <= this.log.committed) {
      r.index = this.log.committed;
    } else if (this.log.matchTerm(meta.index, meta.term)) {
      // We already have the snapshot's last entry: just move the commit index. Acknowledge only up
      // to it: entries after it may still diverge from the leader's log.
      this.log.commitTo(meta.index);
      r.index = this.log.committed;
      this.maybeTailRecovered(meta.index);
    } else {
      this.log.restore(meta.index, meta.term);
      this.confLog.reset(meta.conf);
      this.refreshConf();
      this.snapMeta = meta;
      this.snapData = data;
      this.pendingSnapshot = { meta, data };
      this.applied = meta.index;
      r.index = meta.index;
      this.maybeTailRecovered(meta.index);
    }
    this.send(r);
  }

  /**
   * After a lost log tail: caught up once the log holds, from a leader of this node's term or
   * later, every index it may have acknowledged (through `mustReach`), or an entry of a term
   * after the loss. Either way it then holds every committed entry it had acknowledged: log
   * matching gives it the leader's log through `last`; a leader keeps every entry of its own
   * term and holds every entry committed in an earlier term (§5.4), and an entry of a later term
   * was appended after all entries committed before it. Judged from this node's own record of
   * what it lost, never from what a message claims, so a delayed or duplicated APPEND cannot
   * end the wait early.
   */
  private maybeTailRecovered(last: number): void {
    const lost = this.tailLost;
    if (lost === undefined) return;
    const reached = lost.mustReach !== undefined && last >= lost.mustReach;
    if (!reached && !((this.log.termAt(last) ?? 0) > lost.term)) return;
    this.tailLost = undefined;
    this.tailRecoveredPending = true;
  }

  // -------------------------------------------------------------------------
  // Leader
  // -------------------------------------------------------------------------

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case MessageType.APPEND_RESP:
        if (pr !== undefined) this.handleAppendResp(m, pr);
        return;
      case MessageType.HEARTBEAT_RESP:
        if (pr === undefined) return;
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === ProgressState.REPLICATE && pr.inflightIndex.length >= this.cfg.inflightMessagesMax) {
          // Let a stalled pipeline move: the oldest in-flight APPEND was probably lost.
          pr.freeTo(pr.inflightIndex[0]!);
        }
        if (pr.state === ProgressState.SNAPSHOT) this.sendSnapshotChunk(m.from, pr);
        else if (pr.match < this.log.lastIndex) this.sendAppend(m.from, true);
        if (m.context !== 0) this.ackReadRound(m.context, m.from);
        return;
      case MessageType.SNAPSHOT_RESP:
        if (pr === undefined || pr.state !== ProgressState.SNAPSHOT) return;
        pr.recentActive = true;
        pr.snapshotOffset = m.index;
        this.sendSnapshotChunk(m.from, pr);
        return;
      case MessageType.READ_INDEX:
        this.leaderReadIndex(m.context, m.from);
        return;
      default:
        return;
    }
  }

  private handleAppendResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      if (m.context === APPEND_RESP_LOG_MAY_HAVE_SHRUNK && m.rejectHint < pr.match) {
        // The follower lost its log tail (or restarted on a log cut where nothing showed it):
        // what we recorded as matched is gone. Its log still matches ours up to its hint (a
        // prefix of what it held), so probe from there. Without this every reject at or below
        // the old match looks stale and it never catches up.
        // (Lowering a match is always safe: it only delays commits and resends entries.)
        pr.match = m.rejectHint;
        this.becomeProbe(pr);
        this.sendAppend(m.from);
        return;
      }
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
      if (this.maybeDecrTo(pr, m.index, hint)) {
        if (pr.state === ProgressState.REPLICATE) this.becomeProbe(pr);
        this.sendAppend(m.from);
      }
      return;
    }
    const old = pr.match;
    if (m.index > pr.match) {
      pr.match = m.index;
      if (pr.next < m.index + 1) pr.next = m.index + 1;
    }
    if (pr.state === ProgressState.PROBE) {
      pr.probeSent = false;
      if (m.index >= pr.match) this.becomeReplicate(pr); // an answer to the current probe
    } else if (pr.state === ProgressState.SNAPSHOT) {
      if (pr.match >= pr.pendingSnapshot) {
        this.becomeProbe(pr);
        this.becomeReplicate(pr);
      }
    } else {
      pr.freeTo(m.index);
    }
    if (pr.match > old && this.maybeCommit()) this.needBroadcast = true;
    // A follower that has everything but has not been told the newest commit index (it answered
    // after the broadcast that carried it) hears it now, not at the next heartbeat: followers
    // serve market data, and their apply should not lag by a heartbeat interval.
    const bumpCommit =
      pr.state === ProgressState.REPLICATE &&
      pr.inflightIndex.length === 0 &&
      pr.sentCommit < Math.min(pr.match, this.log.committed);
    this.sendAppend(m.from, bumpCommit);
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex) {
      this.send(emptyMessage(MessageType.TIMEOUT_NOW, this.id, m.from, this.term));
    }
  }

  /** Moves `next` back after a rejection; false if the rejection is stale. */
  private maybeDecrTo(pr: Progress, rejected: number, matchHint: number): boolean {
    if (pr.state === ProgressState.REPLICATE) {
      if (rejected <= pr.match) return false;
      pr.next = pr.match + 1;
      return true;
    }
    if (pr.next - 1 !== rejected) return false;
    pr.next = Math.max(Math.min(rejected, matchHint + 1), pr.match + 1);
    pr.probeSent = false;
    return true;
  }

  private becomeProbe(pr: Progress): void {
    pr.state = ProgressState.PROBE;
    pr.probeSent = false;
    pr.next = pr.match + 1;
    pr.pendingSnapshot = 0;
    pr.resetInflight();
  }

  private becomeReplicate(pr: Progress): void {
    pr.state = ProgressState.REPLICATE;
    pr.next = pr.match + 1;
    pr.pendingSnapshot = 0;
    pr.resetInflight();
  }

  /**
   * Sends what follower `to` is missing, as far as flow control allows (pipelined in REPLICATE).
   * With `sendIfEmpty`, a REPLICATE follower that has everything in flight still gets an empty
   * APPEND at next-1: if earlier APPENDs were lost it rejects it, and we fall back to probing
   * (otherwise, with no new proposals, nothing would ever be resent).
   */
  private sendAppend(to: NodeId, sendIfEmpty = false): void {
    const pr = this.progress.get(to);
    if (pr === undefined || to === this.id) return;
    for (;;) {
      if (pr.state === ProgressState.SNAPSHOT) return;
      if (pr.state === ProgressState.PROBE && pr.probeSent) return;
      if (pr.state === ProgressState.REPLICATE) {
        if (
          pr.inflightIndex.length >= this.cfg.inflightMessagesMax ||
          pr.inflightBytesTotal >= this.cfg.inflightBytesMax
        )
          return;
      }
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.termAt(prevIndex);
      if (prevTerm === undefined) {
        this.startSnapshot(to, pr);
        return;
      }
      const last = this.log.lastIndex;
      const ents = pr.next <= last ? this.log.slice(pr.next, last, this.cfg.appendBytesMax) : [];
      if (pr.state === ProgressState.REPLICATE && ents.length === 0) {
        if (sendIfEmpty) {
          const m = emptyMessage(MessageType.APPEND, this.id, to, this.term);
          m.index = prevIndex;
          m.logTerm = prevTerm;
          m.commit = this.log.committed;
          pr.sentCommit = m.commit;
          this.send(m);
        }
        return;
      }
      const m = emptyMessage(MessageType.APPEND, this.id, to, this.term);
      m.index = prevIndex;
      m.logTerm = prevTerm;
      m.entries = ents;
      m.commit = this.log.committed;
      pr.sentCommit = m.commit;
      this.send(m);
      if (pr.state === ProgressState.PROBE) {
        pr.probeSent = true;
        return;
      }
      let bytes = 0;
      for (const e of ents) bytes += e.data.length + ENTRY_OVERHEAD_BYTES;
      const lastSent = ents[ents.length - 1]!.index;
      pr.next = lastSent + 1;
      pr.inflightIndex.push(lastSent);
      pr.inflightBytes.push(bytes);
      pr.inflightBytesTotal += bytes;
      if (pr.next > last) return;
    }
  }

  /** An APPEND (maybe empty) to every follower: new entries and the commit index. */
  private broadcastAppend(): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      if (pr.state === ProgressState.REPLICATE && pr.next > this.log.lastIndex) {
        // Nothing new: an empty APPEND carries the commit index.
        const m = emptyMessage(MessageType.APPEND, this.id, id, this.term);
        m.index = pr.next - 1;
        const logTerm = this.log.termAt(m.index);
        if (logTerm === undefined) continue;
        m.logTerm = logTerm;
        m.commit = this.log.committed;
        pr.sentCommit = m.commit;
        this.send(m);
      } else this.sendAppend(id);
    }
  }

  private broadcastHeartbeat(context: number): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const m = emptyMessage(MessageType.HEARTBEAT, this.id, id, this.term);
      // Never tell a follower to commit beyond what it is known to have.
      m.commit = Math.min(pr.match, this.log.committed);
      m.context = context;
      this.send(m);
    }
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    invariant(
      this.snapMeta !== undefined && this.snapData !== undefined,
      `raft: follower ${to} needs a snapshot but none is held`,
    );
    pr.state = ProgressState.SNAPSHOT;
    pr.pendingSnapshot = this.snapMeta.index;
    pr.snapshotOffset = 0;
    pr.resetInflight();
    this.sendSnapshotChunk(to, pr);
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const meta = this.snapMeta!;
    const data = this.snapData!;
    if (meta.index !== pr.pendingSnapshot) {
      // Compacted again since: start over with the newer snapshot.
      pr.pendingSnapshot = meta.index;
      pr.snapshotOffset = 0;
    }
    const offset = Math.min(pr.snapshotOffset, data.length);
    const end = Math.min(offset + this.cfg.snapshotChunkBytes, data.length);
    const m = emptyMessage(MessageType.SNAPSHOT, this.id, to, this.term);
    m.snapshot = { meta, size: data.length, offset, data: data.subarray(offset, end), done: end === data.length };
    this.send(m);
  }

  /** §5.3/§5.4.2: commit the highest index stored on a quorum, if it is of the current term. */
  private maybeCommit(): boolean {
    // Reused across calls: this runs on every APPEND response.
    const matches = this.commitScratch;
    matches.length = 0;
    for (const v of this.voters) {
      const pr = this.progress.get(v);
      matches.push(v === this.id ? this.log.stable : (pr?.match ?? 0));
    }
    matches.sort(descending);
    const q = matches[this.quorum() - 1] ?? 0;
    if (q > this.log.committed && this.log.termAt(q) === this.term) {
      this.log.commitTo(q);
      this.releasePendingReads();
      // A leader that removed itself leads until that change is committed (thesis §4.2.2), then
      // steps down; the others already count without it (the change is in their logs).
      if (!this.voters.has(this.id) && this.log.committed >= this.confLog.lastChangeIndex) {
        this.broadcastAppend(); // the commit index, so the others apply the change
        this.becomeFollower(this.term, NONE);
        return false;
      }
      return true;
    }
    return false;
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.voters) {
      const pr = this.progress.get(v);
      if (v === this.id || pr?.recentActive === true) active++;
    }
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return active >= this.quorum();
  }

  // -------------------------------------------------------------------------
  // ReadIndex (thesis §6.4)
  // -------------------------------------------------------------------------

  private leaderReadIndex(context: number, from: NodeId): void {
    if (this.log.termAt(this.log.committed) !== this.term) {
      // Our commit index may be stale until an entry of our term commits.
      if (this.readPending.length < READ_PENDING_MAX) this.readPending.push({ context, from });
      return;
    }
    if (this.voters.size === 1) {
      this.releaseRead({ index: this.log.committed, context, from, round: 0 });
      return;
    }
    const round = ++this.readRound;
    this.readRequests.push({ index: this.log.committed, context, from, round });
    this.readAcks.set(round, new Set([this.id]));
    this.broadcastHeartbeat(round);
  }

  private ackReadRound(round: number, from: NodeId): void {
    const acks = this.readAcks.get(round);
    if (acks === undefined || !this.voters.has(from)) return;
    acks.add(from);
    if (acks.size < this.quorum()) return;
    // A quorum confirmed our leadership at `round`: every request up to it is safe.
    while (this.readRequests.length > 0 && this.readRequests[0]!.round <= round) {
      const req = this.readRequests.shift()!;
      this.readAcks.delete(req.round);
      this.releaseRead(req);
    }
  }

  private releaseRead(req: ReadRequest): void {
    if (req.from === this.id) this.readStates.push({ index: req.index, context: req.context });
    else {
      const m = emptyMessage(MessageType.READ_INDEX_RESP, this.id, req.from, this.term);
      m.index = req.index;
      m.context = req.context;
      this.send(m);
    }
  }

  private releasePendingReads(): void {
    if (this.readPending.length === 0 || this.log.termAt(this.log.committed) !== this.term) return;
    const pending = this.readPending.splice(0);
    for (const p of pending) this.leaderReadIndex(p.context, p.from);
  }

  // -------------------------------------------------------------------------
  // Membership (one server at a time) and compaction
  // -------------------------------------------------------------------------

  /**
   * Appends to the log (replacing any suffix from ents[0].index on) and keeps the configuration
   * in step with it: CONF_CHANGE entries take effect here, overwritten ones are undone.
   */
  private appendToLog(ents: Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0]!.index;
    const truncates = first <= this.log.lastIndex;
    this.log.truncateAndAppend(ents);
    let changed = false;
    if (truncates && this.confLog.lastChangeIndex >= first) {
      this.confLog.truncatedFrom(first);
      changed = true;
    }
    for (const e of ents) {
      if (e.type !== EntryType.CONF_CHANGE) continue;
      this.confLog.appended(e.index, decodeConfChange(e.data));
      changed = true;
    }
    if (changed) this.refreshConf();
  }

  /** Mirrors the newest configuration into the sets the core counts with; a leader tracks its new members. */
  private refreshConf(): void {
    const conf = this.confLog.current;
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners);
    if (this.role !== Role.LEADER) return;
    for (const id of [...this.voters, ...this.learners]) {
      if (this.progress.has(id)) continue;
      const pr = new Progress(this.log.lastIndex + 1);
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
    // The leader keeps its own progress even when it removed itself: it leads until that change
    // commits (thesis §4.2.2) but no longer counts towards quorums (maybeCommit counts voters).
    for (const id of [...this.progress.keys()])
      if (id !== this.id && !this.voters.has(id) && !this.learners.has(id)) this.progress.delete(id);
    if (this.leadTransferee !== NONE && !this.voters.has(this.leadTransferee)) this.leadTransferee = NONE;
  }

  /** The host saved a snapshot of the state machine at meta.index (≤ applied): drop the log up to it. */
  compact(meta: SnapshotMeta, data: Uint8Array): void {
    invariant(meta.index <= this.applied, `raft: compact at ${meta.index} beyond applied ${this.applied}`);
    if (meta.index <= this.log.snapIndex) return;
    const conf = this.confLog.at(meta.index);
    invariant(
      sameConf(conf, meta.conf),
      `raft: snapshot at ${meta.index} records voters [${meta.conf.voters}] learners [${meta.conf.learners}], the log says [${conf.voters}] [${conf.learners}]`,
    );
    this.log.compact(meta.index, meta.term);
    this.confLog.compactedThrough(meta.index);
    this.snapMeta = meta;
    this.snapData = data;
  }

  // -------------------------------------------------------------------------
  // Ready / advance
  // -------------------------------------------------------------------------

  private send(m: Message): void {
    // The leader's replication traffic does not depend on its own pending writes; everything
    // else (votes, acknowledgements) must wait until this Ready is durable.
    const now =
      (this.role === Role.LEADER &&
        (m.type === MessageType.APPEND ||
          m.type === MessageType.HEARTBEAT ||
          m.type === MessageType.SNAPSHOT ||
          m.type === MessageType.TIMEOUT_NOW ||
          m.type === MessageType.READ_INDEX_RESP)) ||
      m.type === MessageType.PRE_VOTE ||
      m.type === MessageType.READ_INDEX;
    (now ? this.msgs : this.msgsAfterPersist).push(m);
  }

  private flush(): void {
    if (this.needBroadcast && this.role === Role.LEADER) this.broadcastAppend();
    this.needBroadcast = false;
  }

  /**
   * The commit index is the one part of the hard state that is only a hint (a lower bound at
   * recovery), and it may be saved before this Ready's entries are written: so it never names
   * an entry that is not durable here and part of the leader's log already — min(commit,
   * stable): entries ≤ stable are durable, and a truncation lowers stable below the entries it
   * replaces. Saving the commit index before a stale suffix is cut would make recovery apply
   * entries that were never committed.
   */
  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: Math.min(this.log.committed, this.log.stable) };
  }

  hasReady(): boolean {
    this.flush();
    const hs = this.prevHard;
    return (
      this.pendingSnapshot !== undefined ||
      this.tailRecoveredPending ||
      this.log.lastIndex > this.log.stable ||
      hs.term !== this.term ||
      hs.vote !== this.vote ||
      hs.commit !== Math.min(this.log.committed, this.log.stable) ||
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.nextApplyIndex() > this.log.applying
    );
  }

  /** Highest index that may be applied: committed, and durable once this Ready is persisted. */
  private nextApplyIndex(): number {
    return Math.min(this.log.committed, this.log.lastIndex);
  }

  ready(): Ready {
    invariant(!this.outstandingReady, 'raft: ready() called again before advance()');
    this.flush();
    const rd: Ready = {
      entries: this.log.lastIndex > this.log.stable ? this.log.entries.slice(this.log.stable - this.log.snapIndex) : [],
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfterPersist,
      committedEntries: [],
      readStates: this.readStates,
      soft: { role: this.role, leader: this.leader, term: this.term },
    };
    if (this.pendingSnapshot !== undefined) {
      rd.snapshot = this.pendingSnapshot;
      this.pendingSnapshot = undefined;
    }
    if (this.tailRecoveredPending) {
      rd.logTailRecovered = true;
      this.tailRecoveredPending = false;
    }
    const hs = this.hardState();
    // A snapshot received whole set stable and commit to its index, but it is written by this
    // Ready, after the hard state: the commit index moves in the next Ready.
    if (rd.snapshot !== undefined) hs.commit = this.prevHard.commit;
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) {
      invariant(
        hs.commit >= this.prevHard.commit,
        `raft: commit index went back from ${this.prevHard.commit} to ${hs.commit}`,
      );
      invariant(hs.term >= this.prevHard.term, `raft: term went back from ${this.prevHard.term} to ${hs.term}`);
      rd.hardState = hs;
      this.prevHard = hs;
    }
    const applyTo = this.nextApplyIndex();
    if (applyTo > this.log.applying) {
      rd.committedEntries = this.log.slice(this.log.applying + 1, applyTo);
      this.log.applying = applyTo;
    }
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readStates = [];
    this.outstandingReady = true;
    return rd;
  }

  /** The host persisted `rd` (snapshot, entries, hard state), sent its messages and applied its committed entries. */
  advance(rd: Ready): void {
    invariant(this.outstandingReady, 'raft: advance() without ready()');
    this.outstandingReady = false;
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      // Only if that entry is still ours (a new leader may have overwritten it meanwhile).
      if (this.log.termAt(last.index) === last.term && last.index > this.log.stable) this.log.stable = last.index;
    }
    if (rd.committedEntries.length > 0) {
      const lastApplied = rd.committedEntries[rd.committedEntries.length - 1]!.index;
      invariant(lastApplied > this.applied, `raft: applied index went back from ${this.applied} to ${lastApplied}`);
      this.applied = lastApplied;
    }
    if (this.role === Role.LEADER) {
      const self = this.progress.get(this.id);
      if (self !== undefined) self.match = this.log.stable;
      // The leader counts itself only once durable: its own write may complete the quorum.
      if (this.maybeCommit()) this.needBroadcast = true;
    }
  }

  get appliedIndex(): number {
    return this.applied;
  }
}

function sameConf(a: ConfState, b: ConfState): boolean {
  const same = (x: readonly number[], y: readonly number[]) => {
    if (x.length !== y.length) return false;
    const ys = [...y].sort(descending);
    return [...x].sort(descending).every((v, i) => v === ys[i]);
  };
  return same(a.voters, b.voters) && same(a.learners, b.learners);
}

function descending(a: number, b: number): number {
  return b - a;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
