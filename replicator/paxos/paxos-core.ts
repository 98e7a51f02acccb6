// The Multi-Paxos consensus core: a pure state machine, no sockets, files or timers, driven like
// the Raft core (step, tick, propose → ready() → host I/O → advance()). Each replica is proposer
// (leader), acceptor and learner in one, as in "Paxos Made Simple" (Lamport 2001) and "Paxos
// Made Moderately Complex" (van Renesse & Altinbuken 2015):
// - ballots (round, leader id), totally ordered; a candidate runs phase 1 once per leadership for
//   every slot above its chosen prefix; a majority of promises makes it leader;
// - the new leader re-proposes, in every unchosen slot a promise reported, the value of the
//   highest ballot reported, and a no-op in every hole below the highest reported slot;
// - phase 2 per slot, pipelined up to `pipelineSlotsMax` slots above the chosen prefix;
//   acceptors accept any slot order within their window (holes allowed, unlike Raft);
// - learners learn from the leader's chosen prefix piggy-backed on ACCEPT/HEARTBEAT (a slot they
//   accepted at the leader's ballot) or from LEARN messages, and apply in slot order;
// - heartbeats with a randomized election timeout (injected entropy) detect a failed leader; a
//   NACK carrying a higher ballot preempts a leader or candidate, which steps down;
// - catch-up: chosen values in bounded LEARN messages, or a snapshot request to the host;
// - a replica whose WAL lost acknowledged records recovers without promising or campaigning
//   until its chosen prefix covers what a current leader proposed (RECOVER_QUERY / _REPLY).
// Safety rules and the durable-state design: replicator/paxos/README.md.

import { SlotStore, ballotEquals, compareBallots, invariant, valuesEqual } from './slot-store.js';
import {
  BALLOT_ZERO,
  PaxosMessageType,
  PaxosProposeError,
  PaxosRole,
  RecordKind,
  ValueType,
  type Ballot,
  type ChosenEntry,
  type NodeId,
  type PaxosConfig,
  type PaxosMessage,
  type PaxosProposeResult,
  type PaxosReady,
  type PaxosRecord,
  type PaxosRecoveredState,
  type PaxosValue,
  type SlotValue,
  type SnapshotRequest,
} from './types.js';

export { compareBallots, ballotEquals, valuesEqual } from './slot-store.js';

const { PREPARE, PROMISE, ACCEPT, ACCEPTED, NACK, HEARTBEAT, HEARTBEAT_RESP, LEARN, RECOVER_QUERY, RECOVER_REPLY } =
  PaxosMessageType;
const { FOLLOWER, CANDIDATE, LEADER } = PaxosRole;

/** Election timeouts a leader waits to learn the slots up to its floor before it runs phase 1 again (checkFloorReached). */
export const FLOOR_WAIT_ELECTION_TIMEOUTS = 2;

function message(type: PaxosMessageType, from: NodeId, to: NodeId, ballot: Ballot, index: number): PaxosMessage {
  return { type, from, to, ballot, index, slot: 0, values: [] };
}

/**
 * A replica recovering from a lost WAL tail (README.md, departure 8): it neither promises nor
 * campaigns until its durable chosen prefix reaches `targetSlot`, the lowest highest-proposed
 * slot of a leader of ballot ≥ `promisedAtLoss` that answered this life's nonce.
 */
interface TailRecovery {
  nonce: number;
  /** The promise recovered at start (≥ the promise when the records were lost). */
  promisedAtLoss: Ballot;
  targetSlot: number | undefined;
  queryElapsed: number;
}

/** What a candidate heard in one PROMISE. */
interface Promise1b {
  chosen: number;
  values: SlotValue[];
}

export class PaxosCore {
  readonly id: NodeId;
  private readonly cfg: PaxosConfig;
  private readonly peers: NodeId[];
  private readonly quorum: number;
  readonly slots = new SlotStore();

  role: PaxosRole = FOLLOWER;
  /** The acceptor's promise: it accepts nothing below it (durable before any message that depends on it). */
  promised: Ballot = BALLOT_ZERO;
  /** This replica's ballot as candidate or leader. */
  ballot: Ballot = BALLOT_ZERO;
  /** The leader this replica last heard from at its promised ballot (0: none known). */
  leader: NodeId = 0;
  /** Highest round seen anywhere (NACKs, promises): a new campaign goes above it. */
  private roundSeen = 0;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Leader: ticks since the quorum check last ran, and the peers heard at this ballot since (README.md, departure 7). */
  private quorumCheckElapsed = 0;
  /** Leader: ticks its chosen prefix has stayed below the floor without advancing (see tick()). */
  private floorWaitElapsed = 0;
  private readonly heardSinceCheck = new Set<NodeId>();
  private electionTimeout = 0;

  // Candidate.
  private readonly promises = new Map<NodeId, Promise1b>();
  // Leader: the value it proposes per unchosen slot, who accepted it, what was sent.
  private readonly proposals = new Map<number, PaxosValue>();
  private readonly acks = new Map<number, Set<NodeId>>();
  /** Slots ≤ floor are chosen (a promiser said so): the leader learns them, never proposes there. */
  private floor = 0;
  private nextSlot = 1;
  /** ACCEPTs were sent for every proposal ≤ sentThrough. */
  private sentThrough = 0;
  /** Self-acceptances of this leader in the outstanding Ready: counted once durable (advance). */
  private selfAcksPending: number[] = [];
  private selfAcksInReady: { ballot: Ballot; slots: number[] } | undefined;

  /** Chosen entries handed to the host through this slot. */
  private applied = 0;

  /** Set while recovering from a lost WAL tail; cleared at the advance() of the Ready that says logTailRecovered. */
  private tailRecovery: TailRecovery | undefined;
  /** The chosen prefix whose CHOSEN records (or snapshot) are durable: as of the last advance(). */
  private durableChosen = 0;
  private chosenInReady = 0;
  /** The next Ready says logTailRecovered; then the one in flight does. */
  private tailRecoveredPending = false;
  private tailRecoveredInReady = false;

  // Output accumulated until the next ready().
  private msgs: PaxosMessage[] = [];
  private msgsAfterPersist: PaxosMessage[] = [];
  private records: PaxosRecord[] = [];
  private snapshotRequests: SnapshotRequest[] = [];
  private promisedDirty = false;
  private outstandingReady = false;

  constructor(cfg: PaxosConfig, recovered?: PaxosRecoveredState) {
    invariant(cfg.id !== 0, 'paxos: node id 0 is reserved');
    invariant(cfg.members.includes(cfg.id), 'paxos: members must include this node');
    invariant(
      cfg.heartbeatTicks > 0 && cfg.electionTicks > cfg.heartbeatTicks,
      'paxos: need electionTicks > heartbeatTicks > 0',
    );
    invariant(
      cfg.pipelineSlotsMax >= 1 && cfg.acceptWindowSlots >= cfg.pipelineSlotsMax,
      'paxos: need acceptWindowSlots ≥ pipelineSlotsMax ≥ 1',
    );
    invariant(cfg.learnSlotsMax >= 1, 'paxos: learnSlotsMax ≥ 1');
    this.id = cfg.id;
    this.cfg = cfg;
    this.peers = cfg.members.filter((m) => m !== cfg.id);
    this.quorum = Math.floor(cfg.members.length / 2) + 1;
    if (recovered !== undefined) this.recover(recovered);
    this.resetElectionTimeout();
    const lost = recovered?.logTailLost;
    if (lost !== undefined) this.startTailRecovery(lost.recoveryNonce);
  }

  /** README.md, departure 8. A single member does not wait: nobody holds what it lost. */
  private startTailRecovery(nonce: number): void {
    invariant(Number.isSafeInteger(nonce) && nonce >= 1, `paxos: recovery nonce ${nonce}`);
    if (this.peers.length === 0) {
      this.tailRecoveredPending = true;
      return;
    }
    this.tailRecovery = { nonce, promisedAtLoss: this.promised, targetSlot: undefined, queryElapsed: 0 };
    this.broadcastRecoverQuery();
  }

  private recover(r: PaxosRecoveredState): void {
    this.promised = r.promised;
    if (r.snapshotSlot > 0) this.slots.installSnapshot(r.snapshotSlot);
    this.applied = r.snapshotSlot;
    for (const rec of r.records) {
      if (rec.slot <= this.slots.compacted) continue;
      if (rec.kind === RecordKind.ACCEPTED) {
        this.slots.accept(rec);
        // An accepted ballot is a promise too (phase 2a raises the promise).
        if (compareBallots(rec.ballot, this.promised) > 0) this.promised = rec.ballot;
      } else this.slots.learn(rec);
    }
    this.slots.advanceChosen();
    this.roundSeen = this.promised.round;
    this.durableChosen = this.slots.chosen;
  }

  // ---- inputs ---------------------------------------------------------------------------

  /** One logical clock tick: heartbeats (leader), election timeout (others). */
  tick(): void {
    if (this.role === LEADER) {
      if (++this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat();
      }
      this.checkQuorum();
      this.checkFloorReached();
      return;
    }
    const rec = this.tailRecovery;
    if (rec !== undefined) {
      // Never campaigns (its own promise would count in its quorum); asks again until caught up.
      if (++rec.queryElapsed >= this.cfg.heartbeatTicks) this.broadcastRecoverQuery();
      return;
    }
    if (++this.electionElapsed >= this.electionTimeout) this.campaign();
  }

  /** Proposes `data` for the next slot (leader only). The host answers it once the slot is chosen with origin = the returned ballot. */
  propose(data: Uint8Array): PaxosProposeResult {
    if (this.role !== LEADER) return { ok: false, error: PaxosProposeError.NOT_LEADER, leader: this.leader };
    if (this.nextSlot > this.slots.chosen + this.cfg.pipelineSlotsMax) {
      return { ok: false, error: PaxosProposeError.PROPOSAL_QUEUE_FULL, leader: this.id };
    }
    // Every chosen slot above the floor was reported by some promiser (quorum intersection), so
    // recovery put nextSlot above it: a new proposal never lands in a chosen slot.
    invariant(this.nextSlot > this.slots.chosen, `leader: next slot ${this.nextSlot} is already chosen`);
    const slot = this.nextSlot++;
    this.proposals.set(slot, { type: ValueType.NORMAL, origin: this.ballot, data });
    this.pumpAccepts();
    return { ok: true, slot, ballot: this.ballot };
  }

  step(m: PaxosMessage): void {
    invariant(m.to === this.id, `paxos: message for ${m.to} stepped into ${this.id}`);
    if (m.from === this.id || !this.cfg.members.includes(m.from)) return;
    if (m.ballot.round > this.roundSeen) this.roundSeen = m.ballot.round;
    switch (m.type) {
      case PREPARE:
        return this.onPrepare(m);
      case PROMISE:
        return this.onPromise(m);
      case ACCEPT:
        return this.onAccept(m);
      case ACCEPTED:
        return this.onAccepted(m);
      case NACK:
        return this.onNack(m);
      case HEARTBEAT:
        return this.onHeartbeat(m);
      case HEARTBEAT_RESP:
        return this.onHeartbeatResp(m);
      case LEARN:
        return this.onLearn(m);
      case RECOVER_QUERY:
        return this.onRecoverQuery(m);
      case RECOVER_REPLY:
        return this.onRecoverReply(m);
    }
  }

  /**
   * The host installed (durably) a snapshot covering every slot ≤ `slot` and restored its state
   * machine from it. Returns false (nothing changes) if this replica already applied that far.
   */
  installSnapshot(slot: number): boolean {
    if (slot <= this.applied) return false;
    this.slots.installSnapshot(slot);
    this.applied = slot;
    // The host saved the snapshot durably before calling this.
    if (slot > this.durableChosen) this.durableChosen = slot;
    this.afterChosenAdvanced();
    this.checkTailRecovered();
    return true;
  }

  /** The host saved a snapshot through `slot` (≤ applied): forget the slots it covers. */
  compact(slot: number): void {
    invariant(slot <= this.applied, `compact: slot ${slot} not applied (applied ${this.applied})`);
    this.slots.compact(slot);
  }

  // ---- phase 1 --------------------------------------------------------------------------

  private campaign(): void {
    invariant(this.tailRecovery === undefined, 'paxos: a recovering replica campaigned');
    const round = Math.max(this.promised.round, this.roundSeen) + 1;
    this.becomeFollower(0);
    this.role = CANDIDATE;
    this.ballot = { round, leader: this.id };
    this.roundSeen = round;
    this.setPromised(this.ballot);
    this.promises.clear();
    this.promises.set(this.id, { chosen: this.slots.chosen, values: this.slots.acceptedAbove(this.slots.chosen) });
    for (const p of this.peers) this.msgs.push(message(PREPARE, this.id, p, this.ballot, this.slots.chosen));
    if (this.promises.size >= this.quorum) this.becomeLeader();
  }

  private onPrepare(m: PaxosMessage): void {
    if (compareBallots(m.ballot, this.promised) < 0) {
      this.msgs.push(message(NACK, this.id, m.from, this.promised, this.slots.chosen));
      return;
    }
    // Recovering: its PROMISE would omit the acceptances it lost (departure 8): no phase 1 at all.
    if (this.tailRecovery !== undefined) return;
    if (compareBallots(m.ballot, this.promised) > 0) {
      this.becomeFollower(0);
      this.setPromised(m.ballot);
    }
    this.electionElapsed = 0; // someone is campaigning: give it a chance
    const above = Math.max(m.index, this.slots.chosen);
    const reply = message(PROMISE, this.id, m.from, m.ballot, this.slots.chosen);
    reply.values = this.slots.acceptedAbove(above);
    // Bounded by the accept window (README.md, "Why the PROMISE fits in a frame").
    invariant(reply.values.length <= this.cfg.acceptWindowSlots, `PROMISE: ${reply.values.length} values`);
    this.msgsAfterPersist.push(reply);
    if (m.index < this.slots.chosen) this.catchUp(m.from, m.index);
  }

  private onPromise(m: PaxosMessage): void {
    if (this.role !== CANDIDATE || !ballotEquals(m.ballot, this.ballot)) return;
    this.promises.set(m.from, { chosen: m.index, values: m.values });
    if (this.promises.size >= this.quorum) this.becomeLeader();
  }

  /**
   * A majority promised: every slot above the highest chosen prefix any promiser reported gets the
   * value of the highest ballot reported for it (P2c), or a no-op if none was (a hole). Slots at or
   * below that prefix are chosen: this leader learns them (LEARN, snapshot) and never proposes there.
   */
  private becomeLeader(): void {
    let floor = this.slots.chosen;
    for (const p of this.promises.values()) if (p.chosen > floor) floor = p.chosen;
    const best = new Map<number, SlotValue>();
    let top = floor;
    for (const p of this.promises.values()) {
      for (const v of p.values) {
        if (v.slot <= floor) continue;
        const b = best.get(v.slot);
        if (b === undefined || compareBallots(v.ballot, b.ballot) > 0) best.set(v.slot, v);
        if (v.slot > top) top = v.slot;
      }
    }
    this.role = LEADER;
    this.leader = this.id;
    this.floor = floor;
    this.proposals.clear();
    this.acks.clear();
    for (let s = floor + 1; s <= top; s++) {
      const known = this.slots.learnedAt(s);
      const v = known?.value ??
        best.get(s)?.value ?? { type: ValueType.NOOP, origin: this.ballot, data: new Uint8Array(0) };
      this.proposals.set(s, v);
    }
    this.nextSlot = top + 1;
    this.sentThrough = floor;
    this.promises.clear();
    this.heartbeatElapsed = 0;
    this.quorumCheckElapsed = 0;
    this.heardSinceCheck.clear();
    this.floorWaitElapsed = 0;
    this.broadcastHeartbeat();
    this.pumpAccepts();
  }

  // ---- phase 2 --------------------------------------------------------------------------

  /** Sends ACCEPT for every proposal in the window not sent yet; the leader's own acceptor accepts first. */
  private pumpAccepts(): void {
    if (this.role !== LEADER) return;
    const last = Math.min(this.nextSlot - 1, this.slots.chosen + this.cfg.pipelineSlotsMax);
    for (let s = Math.max(this.sentThrough, this.floor, this.slots.chosen) + 1; s <= last; s++) {
      const value = this.proposals.get(s);
      invariant(value !== undefined, `leader: no proposal for slot ${s} below next ${this.nextSlot}`);
      const sv = { slot: s, ballot: this.ballot, value };
      this.acceptLocally(sv);
      this.selfAcksPending.push(s);
      for (const p of this.peers) this.msgs.push(this.acceptMessage(p, sv));
    }
    if (last > this.sentThrough) this.sentThrough = last;
  }

  private acceptMessage(to: NodeId, sv: SlotValue): PaxosMessage {
    const m = message(ACCEPT, this.id, to, this.ballot, this.slots.chosen);
    m.slot = sv.slot;
    m.values = [sv];
    return m;
  }

  private acceptLocally(sv: SlotValue): void {
    this.slots.accept(sv);
    this.records.push({ kind: RecordKind.ACCEPTED, ...sv, valueInAccepted: false });
  }

  private onAccept(m: PaxosMessage): void {
    if (!this.followLeader(m)) return;
    const sv = m.values[0];
    invariant(sv !== undefined && sv.slot === m.slot && ballotEquals(sv.ballot, m.ballot), 'ACCEPT: malformed');
    const reply = message(ACCEPTED, this.id, m.from, m.ballot, this.slots.chosen);
    reply.slot = m.slot;
    if (m.slot <= this.slots.compacted) {
      // Chosen and in a durable snapshot: every later PROMISE reports a chosen prefix ≥ it.
      this.msgsAfterPersist.push(reply);
    } else if (m.slot > this.slots.chosen + this.cfg.acceptWindowSlots) {
      // Too far ahead of what this replica knows: ask to be caught up first.
      this.msgs.push(message(HEARTBEAT_RESP, this.id, m.from, m.ballot, this.slots.chosen));
    } else {
      this.acceptLocally(sv);
      this.msgsAfterPersist.push(reply);
    }
    this.learnFromLeader(m);
  }

  private onAccepted(m: PaxosMessage): void {
    if (this.role !== LEADER || !ballotEquals(m.ballot, this.ballot)) return;
    this.heardSinceCheck.add(m.from);
    this.countAck(m.slot, m.from);
  }

  private countAck(slot: number, from: NodeId): void {
    if (slot <= this.slots.chosen || this.slots.learnedAt(slot) !== undefined) return;
    const value = this.proposals.get(slot);
    if (value === undefined) return;
    let set = this.acks.get(slot);
    if (set === undefined) this.acks.set(slot, (set = new Set()));
    set.add(from);
    if (set.size >= this.quorum) this.learn({ slot, ballot: this.ballot, value });
  }

  // ---- leadership, preemption, liveness ---------------------------------------------------

  /** A leader's message at `m.ballot`: follow it if no higher promise, else NACK. */
  private followLeader(m: PaxosMessage): boolean {
    const c = compareBallots(m.ballot, this.promised);
    if (c < 0) {
      this.msgs.push(message(NACK, this.id, m.from, this.promised, this.slots.chosen));
      return false;
    }
    if (c > 0) {
      this.becomeFollower(m.ballot.leader);
      this.setPromised(m.ballot);
    } else if (this.role !== FOLLOWER) {
      // Our own ballot comes back only from ourselves; equal ballots from another id cannot exist.
      invariant(m.ballot.leader !== this.id, 'paxos: a message of our own ballot from a peer');
    }
    this.leader = m.ballot.leader;
    this.electionElapsed = 0;
    return true;
  }

  private onNack(m: PaxosMessage): void {
    if (this.role === FOLLOWER || compareBallots(m.ballot, this.ballot) <= 0) return;
    this.becomeFollower(0); // preempted: a higher ballot is out there
  }

  private broadcastHeartbeat(): void {
    for (const p of this.peers) this.msgs.push(message(HEARTBEAT, this.id, p, this.ballot, this.slots.chosen));
    // Retransmit what is unacknowledged in the window (lost ACCEPTs), to those that did not answer.
    for (let s = Math.max(this.slots.chosen, this.floor) + 1; s <= this.sentThrough; s++) {
      const value = this.proposals.get(s);
      if (value === undefined || this.slots.learnedAt(s) !== undefined) continue;
      const acked = this.acks.get(s);
      for (const p of this.peers) {
        if (acked?.has(p) !== true) this.msgs.push(this.acceptMessage(p, { slot: s, ballot: this.ballot, value }));
      }
    }
  }

  private onHeartbeat(m: PaxosMessage): void {
    if (!this.followLeader(m)) return;
    this.learnFromLeader(m);
    this.msgs.push(message(HEARTBEAT_RESP, this.id, m.from, m.ballot, this.slots.chosen));
    if (m.index < this.slots.chosen) this.catchUp(m.from, m.index); // a new leader behind us
  }

  private onHeartbeatResp(m: PaxosMessage): void {
    if (this.role !== LEADER || !ballotEquals(m.ballot, this.ballot)) return;
    this.heardSinceCheck.add(m.from);
    if (m.index < this.slots.chosen) this.catchUp(m.from, m.index);
  }

  /**
   * Once per election timeout a leader that heard from fewer than a quorum (itself included) at
   * its ballot steps down, so the host answers what waits on it LEADER_CHANGED instead of holding
   * it until the partition heals (etcd/raft's CheckQuorum). Liveness only: a leader cut off from
   * a quorum gets nothing chosen anyway; stepping down gives up no promise and no acceptance.
   */
  private checkQuorum(): void {
    if (++this.quorumCheckElapsed < this.cfg.electionTicks) return;
    this.quorumCheckElapsed = 0;
    const heard = this.heardSinceCheck.size + 1;
    this.heardSinceCheck.clear();
    if (heard < this.quorum) this.becomeFollower(0);
  }

  /**
   * The floor's slots are chosen and were learned by some promiser, which serves them (LEARN).
   * If that promiser has since forgotten them (a lost WAL tail, departure 8) nobody may serve
   * them, and a leader that never proposes at or below its floor would wait forever. After
   * FLOOR_WAIT_ELECTION_TIMEOUTS election timeouts without learning a slot, it runs phase 1 again
   * with a new ballot: a recovering replica does not promise, so the new floor comes from
   * replicas that still know their chosen prefix, and every slot above it is reported in full.
   */
  private checkFloorReached(): void {
    if (this.role !== LEADER || this.slots.chosen >= this.floor) {
      this.floorWaitElapsed = 0;
      return;
    }
    if (++this.floorWaitElapsed >= FLOOR_WAIT_ELECTION_TIMEOUTS * this.cfg.electionTicks) this.campaign();
  }

  private becomeFollower(leader: NodeId): void {
    this.role = FOLLOWER;
    this.leader = leader;
    this.ballot = BALLOT_ZERO;
    this.promises.clear();
    this.proposals.clear();
    this.acks.clear();
    this.selfAcksPending = [];
    this.electionElapsed = 0;
    this.resetElectionTimeout();
  }

  private resetElectionTimeout(): void {
    this.electionTimeout = this.cfg.electionTicks + this.cfg.random(this.cfg.electionTicks);
  }

  private setPromised(b: Ballot): void {
    invariant(compareBallots(b, this.promised) > 0, 'paxos: a promise never goes down');
    this.promised = b;
    this.promisedDirty = true;
  }

  // ---- learning and catch-up ------------------------------------------------------------

  /** The leader of m.ballot says slots ≤ m.index are chosen: each slot we accepted at that very ballot holds its chosen value. */
  private learnFromLeader(m: PaxosMessage): void {
    const last = Math.min(m.index, this.slots.chosen + this.cfg.acceptWindowSlots);
    for (let s = this.slots.chosen + 1; s <= last; s++) {
      const a = this.slots.acceptedAt(s);
      if (a !== undefined && ballotEquals(a.ballot, m.ballot))
        this.learn({ slot: s, ballot: a.ballot, value: a.value });
    }
  }

  private onLearn(m: PaxosMessage): void {
    for (const sv of m.values) this.learn(sv);
  }

  private learn(sv: SlotValue): void {
    const mine = this.role === LEADER ? this.proposals.get(sv.slot) : undefined;
    invariant(
      mine === undefined || valuesEqual(mine, sv.value),
      `leader: slot ${sv.slot} chosen with a value it did not propose`,
    );
    if (!this.slots.learn(sv)) return;
    const a = this.slots.acceptedAt(sv.slot);
    const inAccepted = a !== undefined && ballotEquals(a.ballot, sv.ballot);
    this.records.push({ kind: RecordKind.CHOSEN, ...sv, valueInAccepted: inAccepted });
    this.afterChosenAdvanced();
  }

  private afterChosenAdvanced(): void {
    this.slots.advanceChosen();
    this.floorWaitElapsed = 0;
    if (this.role !== LEADER) return;
    for (const s of this.proposals.keys()) if (s <= this.slots.chosen) this.proposals.delete(s);
    for (const s of this.acks.keys()) if (s <= this.slots.chosen) this.acks.delete(s);
    this.pumpAccepts(); // the window moved
  }

  /** Sends `to` the chosen values after `hasThrough`, or asks the host for a snapshot if they are compacted here. */
  private catchUp(to: NodeId, hasThrough: number): void {
    if (hasThrough < this.slots.compacted) {
      this.snapshotRequests.push({ to, slot: this.slots.compacted });
      return;
    }
    const m = message(LEARN, this.id, to, this.promised, this.slots.chosen);
    m.values = this.slots.chosenFrom(hasThrough + 1, this.cfg.learnSlotsMax);
    if (m.values.length > 0) this.msgs.push(m);
  }

  // ---- recovery from a lost WAL tail (README.md, departure 8) ------------------------------

  private broadcastRecoverQuery(): void {
    const rec = this.tailRecovery!;
    rec.queryElapsed = 0;
    for (const p of this.peers) {
      const q = message(RECOVER_QUERY, this.id, p, BALLOT_ZERO, 0);
      q.slot = rec.nonce;
      this.msgs.push(q);
    }
  }

  /** A leader answers with its ballot and the highest slot it proposed (every slot ≤ its floor is chosen, so it counts too). */
  private onRecoverQuery(m: PaxosMessage): void {
    if (this.role !== LEADER) return;
    const highest = Math.max(this.nextSlot - 1, this.floor, this.slots.chosen);
    const r = message(RECOVER_REPLY, this.id, m.from, this.ballot, highest);
    r.slot = m.slot;
    this.msgs.push(r);
  }

  /**
   * Only an answer to this life's nonce (sent after the restart, so its H covers every slot where
   * an acceptance was lost) from a leader of a ballot ≥ the promise at the loss sets the target.
   * Each such answer suffices alone, so the lowest is kept (a later leader may have proposed less).
   */
  private onRecoverReply(m: PaxosMessage): void {
    const rec = this.tailRecovery;
    if (rec === undefined || m.slot !== rec.nonce || compareBallots(m.ballot, rec.promisedAtLoss) < 0) return;
    if (rec.targetSlot === undefined || m.index < rec.targetSlot) rec.targetSlot = m.index;
    this.checkTailRecovered();
  }

  /** Caught up once the durable chosen prefix reaches the target: the next Ready asks for the marker's removal. */
  private checkTailRecovered(): void {
    const rec = this.tailRecovery;
    if (rec === undefined || this.tailRecoveredInReady || rec.targetSlot === undefined) return;
    if (this.durableChosen >= rec.targetSlot) this.tailRecoveredPending = true;
  }

  /** Recovering from a lost WAL tail: no PROMISE, no campaign (README.md, departure 8). */
  get recovering(): boolean {
    return this.tailRecovery !== undefined;
  }

  // ---- Ready ----------------------------------------------------------------------------

  hasReady(): boolean {
    return (
      this.promisedDirty ||
      this.msgs.length + this.msgsAfterPersist.length + this.records.length + this.snapshotRequests.length > 0 ||
      this.slots.chosen > this.applied ||
      this.selfAcksPending.length > 0 ||
      this.tailRecoveredPending
    );
  }

  ready(): PaxosReady {
    invariant(!this.outstandingReady, 'paxos: ready() called again before advance()');
    this.outstandingReady = true;
    const chosen: ChosenEntry[] = [];
    for (let s = this.applied + 1; s <= this.slots.chosen; s++) {
      chosen.push({ slot: s, value: this.slots.learnedAt(s)!.value });
    }
    const rd: PaxosReady = {
      messages: this.msgs,
      records: this.records,
      messagesAfterPersist: this.msgsAfterPersist,
      chosen,
      snapshotRequests: this.snapshotRequests,
      soft: { role: this.role, leader: this.leader, ballot: this.ballot },
    };
    if (this.promisedDirty) rd.promised = this.promised;
    if (this.tailRecoveredPending) {
      rd.logTailRecovered = true;
      this.tailRecoveredPending = false;
      this.tailRecoveredInReady = true;
    }
    // Every slot ≤ chosen has its CHOSEN record in this Ready or an earlier one (or a snapshot).
    this.chosenInReady = this.slots.chosen;
    this.selfAcksInReady = this.role === LEADER ? { ballot: this.ballot, slots: this.selfAcksPending } : undefined;
    this.selfAcksPending = [];
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.records = [];
    this.snapshotRequests = [];
    this.promisedDirty = false;
    this.applied = this.slots.chosen;
    return rd;
  }

  /** The host persisted, sent and applied the last Ready. The leader's own acceptances are durable now and count. */
  advance(): void {
    invariant(this.outstandingReady, 'paxos: advance() without ready()');
    this.outstandingReady = false;
    if (this.chosenInReady > this.durableChosen) this.durableChosen = this.chosenInReady;
    if (this.tailRecoveredInReady) {
      // The marker's removal is durable: promise and campaign again.
      this.tailRecoveredInReady = false;
      this.tailRecovery = undefined;
      this.electionElapsed = 0;
    }
    this.checkTailRecovered();
    const own = this.selfAcksInReady;
    this.selfAcksInReady = undefined;
    if (own === undefined || this.role !== LEADER || !ballotEquals(own.ballot, this.ballot)) return;
    for (const s of own.slots) this.countAck(s, this.id);
  }

  /** For tests and status: the contiguous chosen prefix, what is applied, what is compacted. */
  status(): {
    role: PaxosRole;
    ballot: Ballot;
    promised: Ballot;
    leader: NodeId;
    chosen: number;
    applied: number;
    compacted: number;
    recovering: boolean;
  } {
    return {
      role: this.role,
      ballot: this.ballot,
      promised: this.promised,
      leader: this.leader,
      chosen: this.slots.chosen,
      applied: this.applied,
      compacted: this.slots.compacted,
      recovering: this.tailRecovery !== undefined,
    };
  }
}
