// Deterministic simulation of a Raft cluster (TigerBeetle-style): one seed reproduces a
// whole run, faults included. N RaftCore replicas (sans-I/O) are driven by a host loop
// over a simulated network (delay, loss, duplication, reordering, one-way and two-way
// partitions) and simulated disks (crash before fsync keeps a prefix of the last Ready's
// writes: a torn write). Nodes crash, restart from what was durable, pause. Clients
// propose commands with sessions and retries, issue ReadIndex reads; the leader is asked
// to transfer leadership; membership changes behind a flag. Invariants are checked at
// every step; then the network heals and the cluster must make progress in bounded time.
//
// Time: a step is a sub-step of a tick (SUBSTEPS_PER_TICK steps per tick); messages take
// whole steps, so several can arrive within one tick.
//
// Host loop per node (the order the core's Ready contract asks for):
//   rd = ready(); send(rd.messages); persist(rd.snapshot, rd.entries, rd.hardState);
//   send(rd.messagesAfterPersist); restore(rd.snapshot); apply(rd.committedEntries);
//   serve(rd.readStates); advance(rd); maybe compact.

import { RaftCore, decodeConfChange } from '../raft/raft-core.js';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  NONE,
  ProposeError,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Ready,
  type SnapshotMeta,
} from '../raft/types.js';
import { Prng } from '../prng.js';
import { SimDisk, SimInvariantError, check, copyMeta, type DurableOp } from './sim-disk.js';
import { SimNetwork, type NetworkFaults } from './sim-network.js';
import { ToyStateMachine, encodeCommand, type ApplyOutcome, type ReplicaStateMachine, type StateMachineFactory } from './state-machine.js';

// ---- Named limits ----------------------------------------------------------------------

export const SUBSTEPS_PER_TICK = 4;
export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 2;
export const INFLIGHT_MESSAGES_MAX = 8;
export const INFLIGHT_BYTES_MAX = 4096;
/** Small, so that catching up takes several APPENDs. */
export const APPEND_BYTES_MAX = 160;
export const UNCOMMITTED_ENTRIES_MAX = 64;
/** Small, so that a snapshot takes several chunks. */
export const SNAPSHOT_CHUNK_BYTES = 96;
/** After healing, a leader must commit a fresh command within this many ticks. */
export const HEAL_TICKS_MAX = 400;
/** …and then every live member must apply it within this many more ticks. */
export const CONVERGE_TICKS_MAX = 400;
/** A client retries a proposal not acknowledged within this many steps. */
export const CLIENT_TIMEOUT_STEPS = 3 * ELECTION_TICKS * SUBSTEPS_PER_TICK;
/** A client retries after this many steps when refused or the node is down. */
export const CLIENT_BACKOFF_STEPS = SUBSTEPS_PER_TICK;
/** A read not answered within this many steps is abandoned (it is still checked if answered). */
export const READ_TIMEOUT_STEPS = 3 * ELECTION_TICKS * SUBSTEPS_PER_TICK;
/** Readies one node may produce in a row without new input before we call it a livelock. */
export const READY_ROUNDS_MAX = 1000;
/** A torn-write crash armed on a node that persists nothing for this long becomes a clean crash. */
/** Most entries a lost tail takes (SimProfile.tailLossP). */
export const TAIL_LOSS_ENTRIES_MAX = 8;
export const TORN_ARM_STEPS_MAX = 10 * SUBSTEPS_PER_TICK;
/**
 * Probability that the host takes a state machine snapshot after an apply, to compact with
 * later (a snapshot taken in the background): compaction then happens below the applied index.
 */
export const SNAPSHOT_CANDIDATE_P = 0.05;
/** Voters never go below this with membership changes. */
export const VOTERS_MIN = 3;
/** Nodes added by membership changes, at most, per run. */
export const NODES_ADDED_MAX = 3;
/** Lines of trace kept for a failure report. */
export const TRACE_LINES_MAX = 400;
/** Client id of the liveness probe in the healing phase. */
export const PROBE_CLIENT_ID = 1_000_000;

// ---- Profiles ------------------------------------------------------------------------------

export interface SimProfile {
  name: string;
  nodes: number;
  /** Steps of the faulty phase (before healing). */
  steps: number;
  net: NetworkFaults;
  /** Per-step probabilities of starting a fault, and how long it lasts (steps). */
  partitionP: number;
  partitionSteps: [number, number];
  crashP: number;
  /** Fraction of crashes that hit in the middle of persisting a Ready (torn write). */
  tornP: number;
  /**
   * Fraction of crashes after which the disk also loses up to TAIL_LOSS_ENTRIES_MAX of its newest
   * durable entries (a damaged WAL tail cut off at recovery: acknowledged entries lost). At most a
   * minority of nodes have lost a tail and not caught up at any time — beyond that no protocol
   * can keep what they acknowledged.
   */
  tailLossP: number;
  downSteps: [number, number];
  pauseP: number;
  pauseSteps: [number, number];
  /** Nodes crashed or paused at once, at most. */
  maxDown: number;
  /** Tick periods vary by ±1 step per node (clock drift). */
  tickJitter: boolean;
  /**
   * Steps a Ready's fsync takes, drawn per Ready in this range. Like the real host
   * (replicator/node.ts), the node takes no input meanwhile: messages wait, ticks pile up and
   * are fed after advance() (at most electionTicks - 1 of them), clients find it busy. Messages
   * of rd.messages are already out. A crash during the write keeps a random prefix of it.
   * [0, 0]: synchronous.
   */
  diskLatency: [number, number];
  clients: number;
  /** Per-step probability an idle client starts a new command. */
  proposeP: number;
  readP: number;
  transferP: number;
  /** Membership changes (add learner, promote, remove), if the core supports them. */
  membership: boolean;
  membershipP: number;
  /** Applied entries between host snapshots (compaction), per node, drawn in this range. */
  compactEvery: [number, number];
}

const BASE: Omit<SimProfile, 'name'> = {
  nodes: 3,
  steps: 7000,
  net: { delayMin: 1, delayMax: 3, lossP: 0, dupP: 0 },
  partitionP: 0,
  partitionSteps: [40, 400],
  crashP: 0,
  tornP: 0,
  tailLossP: 0,
  downSteps: [20, 400],
  pauseP: 0,
  pauseSteps: [10, 200],
  maxDown: 1,
  tickJitter: false,
  diskLatency: [0, 0],
  clients: 3,
  proposeP: 0.08,
  readP: 0.01,
  transferP: 0.002,
  membership: false,
  membershipP: 0,
  compactEvery: [10, 40],
};

export const PROFILES: Record<string, SimProfile> = {
  'no faults': { ...BASE, name: 'no faults', steps: 4000 }, // the busiest per step; faults find more elsewhere
  'lossy network': { ...BASE, name: 'lossy network', net: { delayMin: 1, delayMax: 10, lossP: 0.15, dupP: 0.08 }, tickJitter: true, diskLatency: [0, 2] },
  partitions: { ...BASE, name: 'partitions', net: { delayMin: 1, delayMax: 6, lossP: 0.02, dupP: 0.02 }, partitionP: 0.01, diskLatency: [0, 4] },
  'crashes with torn writes': {
    ...BASE,
    name: 'crashes with torn writes',
    net: { delayMin: 1, delayMax: 4, lossP: 0.01, dupP: 0.01 },
    crashP: 0.006,
    tornP: 0.6,
    pauseP: 0.002,
    diskLatency: [0, 8],
  },
  mixed: {
    ...BASE,
    name: 'mixed',
    net: { delayMin: 1, delayMax: 8, lossP: 0.05, dupP: 0.03 },
    partitionP: 0.005,
    crashP: 0.004,
    tornP: 0.5,
    pauseP: 0.002,
    tickJitter: true,
    diskLatency: [0, 6],
    readP: 0.02,
    transferP: 0.004,
  },
  membership: {
    ...BASE,
    name: 'membership',
    net: { delayMin: 1, delayMax: 6, lossP: 0.03, dupP: 0.02 },
    partitionP: 0.003,
    crashP: 0.003,
    tornP: 0.5,
    pauseP: 0.001,
    readP: 0.02,
    transferP: 0.003,
    membership: true,
    membershipP: 0.01,
    diskLatency: [0, 4],
  },
  '5 nodes': {
    ...BASE,
    name: '5 nodes',
    nodes: 5,
    net: { delayMin: 1, delayMax: 8, lossP: 0.05, dupP: 0.03 },
    partitionP: 0.005,
    crashP: 0.005,
    tornP: 0.5,
    pauseP: 0.002,
    maxDown: 2,
    tickJitter: true,
    diskLatency: [0, 6],
    readP: 0.02,
    transferP: 0.004,
  },
  '5 nodes, lost WAL tails': {
    ...BASE,
    name: '5 nodes, lost WAL tails',
    nodes: 5,
    net: { delayMin: 1, delayMax: 6, lossP: 0.03, dupP: 0.02 },
    partitionP: 0.004,
    crashP: 0.008,
    tornP: 0.3,
    tailLossP: 0.6,
    pauseP: 0.003,
    maxDown: 2,
    diskLatency: [0, 6],
    readP: 0.01,
    transferP: 0.002,
  },
};

// ---- Results and failures -----------------------------------------------------------------

export interface SimStats {
  steps: number;
  leaders: number;
  maxTerm: number;
  commitMax: number;
  proposals: number;
  acks: number;
  readsIssued: number;
  readsServed: number;
  crashes: number;
  /** Crashes after which the disk lost its newest entries (SimProfile.tailLossP). */
  tailsLost: number;
  tornCrashes: number;
  restarts: number;
  pauses: number;
  partitions: number;
  transfers: number;
  confChangesApplied: number;
  compactions: number;
  snapshotsInstalled: number;
  healTicks: number;
  messages: number;
}

export class SimFailure extends Error {
  override name = 'SimFailure';
  constructor(
    readonly seed: number,
    readonly profile: string,
    readonly step: number,
    readonly phase: string,
    readonly reason: string,
    readonly trace: string[],
  ) {
    super(`[seed ${seed}, profile "${profile}", step ${step}, ${phase} phase] ${reason}`);
  }
}

export interface SimOptions {
  seed: number;
  profile: SimProfile;
  stateMachine?: StateMachineFactory;
  /** Keep a trace of the last TRACE_LINES_MAX events for the failure report (slower). */
  trace?: boolean;
  /** Print every trace line as it happens. */
  onTrace?: (line: string) => void;
}

// ---- Nodes, clients, reads -------------------------------------------------------------------

type Status = 'up' | 'paused' | 'crashed' | 'removed';

class SimNode {
  core: RaftCore | undefined;
  status: Status = 'up';
  readonly disk: SimDisk;
  sm: ReplicaStateMachine;
  /** Membership as of the applied index (what a host snapshot records). */
  conf: ConfState;
  appliedTerm = 0;
  /** Within this life: highest commit index seen, and up to where committed entries were checked. */
  commitSeen = 0;
  commitChecked = 0;
  termSeen = 0;
  leaderCheckedTerm = -1;
  tornArmedAt = -1;
  downUntil = 0;
  nextTickAt = 0;
  compactEvery = 0;
  life = 0;
  /** Commands applied (not as duplicates) in this life: "clientId:reqSeq". */
  appliedCmds = new Set<string>();
  /** The Ready being written (asynchronous disk): taken with ready(), advanced when durable. */
  pending: { rd: Ready; doneAt: number } | undefined;
  /** Ticks that came while the node was busy writing, fed after advance(). */
  ticksDue = 0;
  /** A state machine snapshot taken earlier, for a later compaction. */
  snapCandidate: { meta: SnapshotMeta; data: Uint8Array } | undefined;

  constructor(
    readonly id: NodeId,
    readonly config: RaftConfig,
    readonly rng: Prng,
    sm: ReplicaStateMachine,
  ) {
    this.disk = new SimDisk(id);
    this.sm = sm;
    this.conf = copyConf(config.conf);
  }
}

interface Outstanding {
  reqSeq: number;
  data: Uint8Array;
  retryAt: number;
  attempts: number;
}

class SimClient {
  nextReqSeq = 1;
  out: Outstanding | undefined;
  leaderGuess: NodeId = NONE;
  acked = 0;
  /** Index whose apply acknowledged the last command. */
  lastAckIndex = 0;
  constructor(readonly id: number) {}
}

interface PendingRead {
  ctx: number;
  node: NodeId;
  issuedAt: number;
  /** Highest effective index of any command acknowledged before the read was issued. */
  requiredIndex: number;
  deadline: number;
  answered: boolean;
}

interface CommittedRecord {
  term: number;
  key: string;
  by: NodeId;
  /**
   * An upper bound of the term in which the entry was committed: the lowest current term of a
   * node seen holding it committed (a node learns a commit from a leader of its term or earlier).
   * Leaders of later terms must hold the entry (leader completeness).
   */
  commitTermMax: number;
}

function copyConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

function entryKey(e: Entry): string {
  return `${e.type}:${Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('base64')}`;
}

const MESSAGE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]));
const ROLE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Role).map(([k, v]) => [v, k]));

function describeMessage(m: Message): string {
  let s = `${MESSAGE_NAMES[m.type] ?? m.type} ${m.from}->${m.to} t${m.term}`;
  if (m.type === MessageType.APPEND) s += ` prev=${m.index}/${m.logTerm} n=${m.entries.length} c=${m.commit}`;
  else if (m.type === MessageType.APPEND_RESP) s += ` i=${m.index}${m.reject ? ` REJECT hint=${m.rejectHint}/${m.logTerm}` : ''}`;
  else if (m.type === MessageType.VOTE || m.type === MessageType.PRE_VOTE) s += ` last=${m.index}/${m.logTerm}`;
  else if (m.type === MessageType.VOTE_RESP || m.type === MessageType.PRE_VOTE_RESP) s += m.reject ? ' REJECT' : ' GRANT';
  else if (m.type === MessageType.SNAPSHOT && m.snapshot) s += ` snap=${m.snapshot.meta.index}/${m.snapshot.meta.term} off=${m.snapshot.offset}${m.snapshot.done ? ' done' : ''}`;
  else if (m.type === MessageType.HEARTBEAT || m.type === MessageType.HEARTBEAT_RESP) s += ` c=${m.commit} ctx=${m.context}`;
  else if (m.type === MessageType.READ_INDEX_RESP) s += ` i=${m.index} ctx=${m.context}`;
  return s;
}

// ---- The simulation ----------------------------------------------------------------------------

export class ClusterSim {
  readonly seed: number;
  readonly profile: SimProfile;
  now = 0;
  phase: 'main' | 'heal' = 'main';
  readonly nodes = new Map<NodeId, SimNode>();
  readonly net: SimNetwork;
  readonly clients: SimClient[] = [];
  readonly stats: SimStats = {
    steps: 0,
    leaders: 0,
    maxTerm: 0,
    commitMax: 0,
    proposals: 0,
    acks: 0,
    readsIssued: 0,
    readsServed: 0,
    crashes: 0,
    tailsLost: 0,
    tornCrashes: 0,
    restarts: 0,
    pauses: 0,
    partitions: 0,
    transfers: 0,
    confChangesApplied: 0,
    compactions: 0,
    snapshotsInstalled: 0,
    healTicks: 0,
    messages: 0,
  };

  private readonly rng: Prng; // faults and operations
  private readonly clientRng: Prng;
  private readonly smFactory: StateMachineFactory;
  private readonly genesis: ConfState;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private nextNodeId: number;
  private partitionUntil = -1;
  private nextReadCtx = 1;
  private readonly reads = new Map<number, PendingRead>();
  private readonly pendingRemovals = new Set<NodeId>();

  // Oracle: what the cluster as a whole has shown so far.
  private readonly leaders = new Map<number, NodeId>();
  private readonly committed = new Map<number, CommittedRecord>();
  private commitMax = 0;
  private readonly hashes = new Map<number, { hash: string; by: NodeId }>();
  /** Log matching: "index:term" → content and the term of the entry before it. */
  private readonly logEntries = new Map<string, { key: string; prevTerm: number; by: NodeId }>();
  /** Effective apply index of each command: "clientId:reqSeq" → index. */
  private readonly effective = new Map<string, number>();
  /** Votes granted: "voter:term" → candidate. */
  private readonly votes = new Map<string, NodeId>();
  private readonly acks: { clientId: number; reqSeq: number; index: number; step: number }[] = [];
  private maxAckedIndex = 0;

  private readonly traceOn: boolean;
  private readonly traceLines: string[] = [];
  private readonly onTrace: ((line: string) => void) | undefined;

  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    this.profile = opts.profile;
    this.smFactory = opts.stateMachine ?? (() => new ToyStateMachine());
    this.traceOn = opts.trace === true || opts.onTrace !== undefined;
    this.onTrace = opts.onTrace;
    const root = new Prng(opts.seed);
    this.rng = root.fork(1);
    this.clientRng = root.fork(2);
    this.net = new SimNetwork(root.fork(3), this.profile.net);
    const cfgRng = root.fork(4);
    this.preVote = cfgRng.chance(0.8);
    this.checkQuorum = cfgRng.chance(0.8);
    const n = this.profile.nodes;
    this.genesis = { voters: Array.from({ length: n }, (_, i) => i + 1), learners: [] };
    for (let id = 1; id <= n; id++) this.addNode(id, root.fork(100 + id));
    this.nextNodeId = n + 1;
    for (let i = 1; i <= this.profile.clients; i++) this.clients.push(new SimClient(i));
    this.trace(`seed ${this.seed} profile "${this.profile.name}" nodes ${n} preVote ${this.preVote} checkQuorum ${this.checkQuorum}`);
  }

  // ---- Running ----

  run(): SimStats {
    try {
      while (this.now < this.profile.steps) this.stepOnce();
      this.heal();
    } catch (e) {
      if (e instanceof SimFailure) throw e;
      const reason = e instanceof SimInvariantError ? `invariant: ${e.message}` : `threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
      throw new SimFailure(this.seed, this.profile.name, this.now, this.phase, reason, [...this.traceLines]);
    }
    this.stats.steps = this.now;
    this.stats.messages = this.net.stats.sent;
    this.stats.commitMax = this.commitMax;
    return this.stats;
  }

  private fail(reason: string): never {
    throw new SimFailure(this.seed, this.profile.name, this.now, this.phase, reason, [...this.traceLines]);
  }

  private trace(line: string): void {
    if (!this.traceOn) return;
    const l = `${this.now} ${line}`;
    this.onTrace?.(l);
    this.traceLines.push(l);
    if (this.traceLines.length > TRACE_LINES_MAX) this.traceLines.shift();
  }

  stepOnce(): void {
    this.now++;
    if (this.phase === 'main') {
      this.injectFaults();
      this.operations();
    }
    this.wakeUp();
    this.clientsAct();
    for (const m of this.net.due(this.now, (to) => this.canReceive(to))) {
      const node = this.nodes.get(m.to);
      if (node === undefined || node.status !== 'up') continue; // crashed earlier in this step
      if (node.pending !== undefined) {
        this.net.requeue(m, this.now + 1); // it started a write earlier in this step: the message waits
        continue;
      }
      if (this.traceOn) this.trace(`recv ${describeMessage(m)}`);
      node.core!.step(m);
      if (this.rng.chance(0.5)) this.drain(node);
    }
    for (const node of this.nodes.values()) {
      if (node.status !== 'up' || this.now < node.nextTickAt) continue;
      node.nextTickAt = this.now + this.tickPeriod();
      node.ticksDue++;
      this.feedTicks(node);
    }
    for (const node of this.nodes.values()) {
      const p = node.pending;
      if (p !== undefined && node.status === 'up' && this.now >= p.doneAt) this.finishReady(node, p.rd);
    }
    for (const node of this.nodes.values()) this.drain(node);
    this.processRemovals();
    this.checkStep();
  }

  /** Ticks the node if it is not busy writing; ticks that piled up meanwhile are capped like node.ts does. */
  private feedTicks(node: SimNode): void {
    if (node.pending !== undefined || node.ticksDue === 0) return;
    const k = Math.min(node.ticksDue, ELECTION_TICKS - 1);
    node.ticksDue = 0;
    for (let i = 0; i < k; i++) node.core!.tick();
  }

  private tickPeriod(): number {
    if (!this.profile.tickJitter) return SUBSTEPS_PER_TICK;
    return SUBSTEPS_PER_TICK + this.rng.int(3) - 1;
  }

  private canReceive(to: NodeId): 'yes' | 'wait' | 'drop' {
    const node = this.nodes.get(to);
    if (node === undefined) return 'drop';
    if (node.status === 'up') return node.pending === undefined ? 'yes' : 'wait';
    if (node.status === 'paused') return 'wait';
    return 'drop';
  }

  // ---- Nodes: create, crash, restart, pause ----

  private addNode(id: NodeId, rng: Prng): SimNode {
    const config: RaftConfig = {
      id,
      conf: copyConf(this.genesis),
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      random: (n) => rng.int(n),
      inflightMessagesMax: INFLIGHT_MESSAGES_MAX,
      inflightBytesMax: INFLIGHT_BYTES_MAX,
      appendBytesMax: APPEND_BYTES_MAX,
      uncommittedEntriesMax: UNCOMMITTED_ENTRIES_MAX,
      snapshotChunkBytes: SNAPSHOT_CHUNK_BYTES,
      preVote: this.preVote,
      checkQuorum: this.checkQuorum,
    };
    const node = new SimNode(id, config, rng, this.smFactory());
    node.core = new RaftCore(config);
    node.nextTickAt = this.now + 1 + this.rng.int(SUBSTEPS_PER_TICK);
    node.compactEvery = this.rng.range(...this.profile.compactEvery);
    this.nodes.set(id, node);
    return node;
  }

  private crash(node: SimNode, why: string): void {
    const p = node.pending;
    if (p !== undefined) {
      // The crash interrupts the fsync in flight: a prefix of its writes made it.
      node.pending = undefined;
      const ops = opsOfReady(p.rd);
      const k = this.rng.int(ops.length + 1);
      for (let i = 0; i < k; i++) this.persist(node, ops[i]!);
      why += ` (${k} of ${ops.length} writes of the Ready in flight were durable)`;
    }
    const tailNodes = [...this.nodes.values()].filter((n) => n.disk.tailLost).length;
    const lostMax = (this.nodes.size - 1) >> 1;
    const held = node.disk.entries.length;
    if (held > 0 && !node.disk.tailLost && tailNodes < lostMax && this.rng.chance(this.profile.tailLossP)) {
      const n = 1 + this.rng.int(Math.min(held, TAIL_LOSS_ENTRIES_MAX));
      node.disk.loseTail(n);
      this.stats.tailsLost++;
      why += ` (its disk lost its ${n} newest entries)`;
    }
    this.trace(`CRASH n${node.id}: ${why}`);
    node.core = undefined;
    node.status = 'crashed';
    node.tornArmedAt = -1;
    node.downUntil = this.now + this.rng.range(...this.profile.downSteps);
    this.stats.crashes++;
  }

  private restart(node: SimNode): void {
    const rec = node.disk.recovered();
    node.life++;
    this.stats.restarts++;
    node.core = new RaftCore(node.config, rec);
    node.status = 'up';
    node.sm = this.smFactory();
    node.conf = copyConf(this.genesis);
    node.appliedTerm = 0;
    const snap = node.disk.snapshot;
    if (snap) {
      node.sm.restore(snap.meta, snap.data);
      this.noteHash(snap.meta.index, node.sm.stateHash(), node.id, 'restored from its durable snapshot');
      node.conf = copyConf(snap.meta.conf);
      node.appliedTerm = snap.meta.term;
    }
    node.appliedCmds = new Set();
    node.snapCandidate = undefined;
    const core = node.core;
    const hs = node.disk.hardState;
    this.trace(`RESTART n${node.id} life ${node.life}: durable term ${hs.term} vote ${hs.vote} commit ${hs.commit} snap ${node.disk.snapshotIndex()} last ${node.disk.lastIndex()}`);
    check(core.term === hs.term, () => `node ${node.id} restarted at term ${core.term}, durable term ${hs.term}`);
    check(core.commitIndex >= hs.commit, () => `node ${node.id} restarted with commit ${core.commitIndex} below its durable commit ${hs.commit}`);
    check(core.lastIndex === node.disk.lastIndex(), () => `node ${node.id} restarted with last index ${core.lastIndex}, durable log ends at ${node.disk.lastIndex()}`);
    node.commitSeen = core.commitIndex;
    node.commitChecked = Math.max(0, core.firstIndex - 1);
    node.termSeen = core.term;
    node.leaderCheckedTerm = -1;
    node.nextTickAt = this.now + 1;
    node.ticksDue = 0;
  }

  private wakeUp(): void {
    for (const node of this.nodes.values()) {
      if (node.status === 'crashed' && this.phase === 'main' && this.now >= node.downUntil) this.restart(node);
      else if (node.status === 'paused' && this.now >= node.downUntil) {
        node.status = 'up';
        node.nextTickAt = this.now;
        this.trace(`RESUME n${node.id}`);
      }
      if (node.tornArmedAt >= 0 && this.now - node.tornArmedAt > TORN_ARM_STEPS_MAX && node.status === 'up') this.crash(node, 'armed torn write never came: clean crash');
    }
  }

  private downCount(): number {
    let n = 0;
    for (const node of this.nodes.values()) if (node.status === 'crashed' || node.status === 'paused' || node.tornArmedAt >= 0) n++;
    return n;
  }

  private upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.status === 'up');
  }

  /** Up and not busy writing: can take a call right now. */
  private ready(n: SimNode | undefined): n is SimNode {
    return n !== undefined && n.status === 'up' && n.pending === undefined;
  }

  /** The up node that is leader in the highest term, if any. */
  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.status !== 'up' || n.core!.role !== Role.LEADER) continue;
      if (best === undefined || n.core!.term > best.core!.term) best = n;
    }
    return best;
  }

  // ---- Faults ----

  private injectFaults(): void {
    const p = this.profile;
    if (this.partitionUntil >= 0 && this.now >= this.partitionUntil) {
      this.net.healAll();
      this.partitionUntil = -1;
      this.trace('HEAL network');
    }
    if (this.partitionUntil < 0 && this.rng.chance(p.partitionP)) this.startPartition();
    if (this.downCount() < p.maxDown && this.rng.chance(p.crashP)) {
      const up = this.upNodes();
      if (up.length > 0) {
        const node = this.rng.pick(up);
        if (this.rng.chance(p.tornP)) {
          node.tornArmedAt = this.now;
          this.stats.tornCrashes++;
          this.trace(`ARM torn-write crash on n${node.id}`);
        } else this.crash(node, 'clean crash between Readies');
      }
    }
    if (this.downCount() < p.maxDown && this.rng.chance(p.pauseP)) {
      const up = this.upNodes().filter((n) => n.tornArmedAt < 0);
      if (up.length > 0) {
        const node = this.rng.pick(up);
        node.status = 'paused';
        node.downUntil = this.now + this.rng.range(...p.pauseSteps);
        this.stats.pauses++;
        this.trace(`PAUSE n${node.id} until ${node.downUntil}`);
      }
    }
  }

  private startPartition(): void {
    const ids = [...this.nodes.values()].filter((n) => n.status !== 'removed').map((n) => n.id);
    if (ids.length < 2) return;
    this.stats.partitions++;
    const kind = this.rng.int(4);
    let what: string;
    if (kind === 0) {
      // Symmetric split: a minority of 1..f nodes cut off both ways.
      this.rng.shuffle(ids);
      const k = this.rng.range(1, Math.max(1, Math.floor((ids.length - 1) / 2)));
      const a = ids.slice(0, k);
      this.net.partition(a, ids.slice(k), false);
      what = `split {${a}} | {${ids.slice(k)}}`;
    } else if (kind === 1) {
      // Isolate the leader (or a random node) both ways.
      const x = this.currentLeader()?.id ?? this.rng.pick(ids);
      this.net.partition([x], ids, false);
      what = `isolate n${x}`;
    } else if (kind === 2) {
      // One-way: a node can send but not receive, or receive but not send.
      const x = this.currentLeader()?.id ?? this.rng.pick(ids);
      const outOnly = this.rng.chance(0.5);
      if (outOnly) this.net.partition(ids, [x], true);
      else this.net.partition([x], ids, true);
      what = outOnly ? `n${x} cannot receive` : `n${x} cannot send`;
    } else {
      // Random directed links cut.
      for (const x of ids) for (const y of ids) if (x !== y && this.rng.chance(0.3)) this.net.cutLink(x, y);
      what = 'random one-way links';
    }
    this.partitionUntil = this.now + this.rng.range(...this.profile.partitionSteps);
    this.trace(`PARTITION ${what}: cut ${this.net.cutLinks().join(' ')} until ${this.partitionUntil}`);
  }

  // ---- Operations: reads, leadership transfer, membership ----

  private operations(): void {
    const p = this.profile;
    if (this.rng.chance(p.readP)) this.issueRead();
    if (this.rng.chance(p.transferP)) {
      const leader = this.currentLeader();
      if (this.ready(leader)) {
        const others = leader.core!.conf().voters.filter((v) => v !== leader.id);
        if (others.length > 0) {
          const to = this.rng.pick(others);
          const ok = leader.core!.transferLeadership(to);
          this.stats.transfers++;
          this.trace(`TRANSFER n${leader.id} -> n${to}: ${ok}`);
          this.drain(leader);
        }
      }
    }
    if (p.membership && this.rng.chance(p.membershipP)) this.changeMembership();
  }

  private issueRead(): void {
    const up = this.upNodes().filter((n) => this.ready(n));
    if (up.length === 0) return;
    // Mostly to a node that believes it leads (a deposed one too: it must not answer), else anywhere.
    const leaders = up.filter((n) => n.core!.role === Role.LEADER);
    const newest = this.currentLeader();
    const r = this.rng.int(10);
    const node = r < 4 && leaders.length > 0 ? this.rng.pick(leaders) : r < 7 && this.ready(newest) ? newest : this.rng.pick(up);
    const ctx = this.nextReadCtx++;
    this.reads.set(ctx, { ctx, node: node.id, issuedAt: this.now, requiredIndex: this.maxAckedIndex, deadline: this.now + READ_TIMEOUT_STEPS, answered: false });
    this.stats.readsIssued++;
    this.trace(`READ ctx ${ctx} at n${node.id} (must see index ${this.maxAckedIndex})`);
    node.core!.readIndex(ctx);
    this.drain(node);
  }

  private onReadState(node: SimNode, rs: ReadState): void {
    const r = this.reads.get(rs.context);
    check(r !== undefined && r.node === node.id, () => `node ${node.id} got a ReadState for context ${rs.context}, which it never issued`);
    this.trace(`READ ctx ${rs.context} answered at n${node.id}: index ${rs.index}`);
    check(rs.index >= r.requiredIndex, () =>
      `linearizability: read ctx ${r.ctx} issued at step ${r.issuedAt} on node ${node.id} got read index ${rs.index}, but a command acknowledged before it was applied at ${r.requiredIndex}`,
    );
    if (!r.answered) this.stats.readsServed++;
    r.answered = true;
  }

  private changeMembership(): void {
    const leader = this.currentLeader();
    if (!this.ready(leader)) return;
    const conf = leader.core!.conf();
    const ops: ConfChange[] = [];
    if (this.nextNodeId <= this.profile.nodes + NODES_ADDED_MAX) ops.push({ type: ConfChangeType.ADD_LEARNER, node: this.nextNodeId });
    for (const l of conf.learners) ops.push({ type: ConfChangeType.PROMOTE, node: l });
    if (conf.voters.length > VOTERS_MIN) for (const v of conf.voters) ops.push({ type: ConfChangeType.REMOVE, node: v });
    if (ops.length === 0) return;
    const cc = this.rng.pick(ops);
    let added: SimNode | undefined;
    if (cc.type === ConfChangeType.ADD_LEARNER) {
      added = this.addNode(cc.node, new Prng(this.seed).fork(100 + cc.node));
      this.nextNodeId++;
    }
    const r = leader.core!.proposeConfChange(cc);
    this.trace(`CONF ${cc.type === 1 ? 'ADD_LEARNER' : cc.type === 2 ? 'PROMOTE' : 'REMOVE'} n${cc.node} at n${leader.id}: ${r.ok ? `index ${r.index}` : r.error}`);
    if (!r.ok && added) this.removeNode(added, 'its ADD_LEARNER was refused');
    this.drain(leader);
  }

  private removeNode(node: SimNode, why: string): void {
    this.trace(`REMOVE n${node.id}: ${why}`);
    node.pending = undefined;
    node.status = 'removed';
    node.core = undefined;
    node.tornArmedAt = -1;
    this.net.dropAll(node.id);
  }

  private processRemovals(): void {
    for (const id of this.pendingRemovals) {
      const node = this.nodes.get(id);
      if (node && node.status !== 'removed') this.removeNode(node, 'its REMOVE was applied');
    }
    this.pendingRemovals.clear();
  }

  // ---- Clients ----

  private clientsAct(): void {
    for (const c of this.clients) {
      if (c.out === undefined) {
        if (this.phase !== 'main' || !this.clientRng.chance(this.profile.proposeP)) continue;
        const payload = new Uint8Array([this.clientRng.int(256), this.clientRng.int(256), this.clientRng.int(256), this.clientRng.int(256)]);
        const reqSeq = c.nextReqSeq++;
        c.out = { reqSeq, data: encodeCommand({ clientId: c.id, reqSeq, payload }), retryAt: this.now, attempts: 0 };
      }
      if (this.now >= c.out.retryAt) this.attempt(c, c.out);
    }
  }

  private attempt(c: SimClient, out: Outstanding): void {
    const candidates = [...this.nodes.values()].filter((n) => n.status !== 'removed').map((n) => n.id);
    const target = c.leaderGuess !== NONE && this.clientRng.chance(0.9) ? c.leaderGuess : this.clientRng.pick(candidates);
    const node = this.nodes.get(target);
    out.attempts++;
    if (node === undefined || node.status !== 'up') {
      c.leaderGuess = NONE;
      out.retryAt = this.now + CLIENT_BACKOFF_STEPS;
      return;
    }
    if (node.pending !== undefined) {
      out.retryAt = this.now + 1; // busy writing: the call waits
      return;
    }
    const core = node.core!;
    const wasLeader = core.role === Role.LEADER;
    const r = core.propose(out.data);
    this.stats.proposals++;
    if (this.traceOn) this.trace(`PROPOSE c${c.id}#${out.reqSeq} at n${target} (try ${out.attempts}): ${r.ok ? `index ${r.index} term ${r.term}` : `${r.error} leader ${r.leader}`}`);
    if (r.ok) {
      check(wasLeader && r.term === core.term, () => `node ${target} accepted a proposal as ${ROLE_NAMES[core.role]} in term ${core.term} (result term ${r.term})`);
      check(r.index === core.lastIndex, () => `node ${target} accepted a proposal at index ${r.index} but its last index is ${core.lastIndex}`);
      c.leaderGuess = target;
      out.retryAt = this.now + CLIENT_TIMEOUT_STEPS;
    } else if (r.error === ProposeError.NOT_LEADER) {
      check(!wasLeader, () => `leader ${target} refused a proposal with NOT_LEADER`);
      c.leaderGuess = r.leader;
      out.retryAt = this.now + (r.leader !== NONE ? 1 : CLIENT_BACKOFF_STEPS);
    } else {
      out.retryAt = this.now + CLIENT_BACKOFF_STEPS;
    }
    this.drain(node);
  }

  private clientById(id: number): SimClient | undefined {
    if (id === PROBE_CLIENT_ID) return this.clients[this.clients.length - 1]?.id === id ? this.clients[this.clients.length - 1] : undefined;
    return this.clients[id - 1];
  }

  // ---- The host loop ----

  private drain(node: SimNode): void {
    let rounds = 0;
    while (node.status === 'up' && node.pending === undefined && node.core!.hasReady()) {
      if (++rounds > READY_ROUNDS_MAX) this.fail(`node ${node.id} produced ${READY_ROUNDS_MAX} Readies in a row without input (livelock)`);
      this.startReady(node, node.core!.ready());
    }
  }

  /** Takes a Ready: checks it, sends what may go at once, and starts its write (synchronous or not). */
  private startReady(node: SimNode, rd: Ready): void {
    const core = node.core!;
    const id = node.id;
    // The Ready's shape.
    check(rd.soft.term === core.term && rd.soft.role === core.role, () => `node ${id}: Ready soft state ${ROLE_NAMES[rd.soft.role]}/${rd.soft.term} but core is ${ROLE_NAMES[core.role]}/${core.term}`);
    for (let i = 1; i < rd.entries.length; i++)
      check(rd.entries[i]!.index === rd.entries[i - 1]!.index + 1, () => `node ${id}: Ready.entries not contiguous at ${rd.entries[i]!.index}`);
    for (let i = 1; i < rd.committedEntries.length; i++)
      check(rd.committedEntries[i]!.index === rd.committedEntries[i - 1]!.index + 1, () => `node ${id}: Ready.committedEntries not contiguous at ${rd.committedEntries[i]!.index}`);
    if (rd.hardState) check(rd.hardState.term === core.term, () => `node ${id}: Ready.hardState term ${rd.hardState!.term} but core term ${core.term}`);
    if (rd.soft.role === Role.LEADER) this.observeLeader(node, `Ready of n${id}`);
    if (this.traceOn && (rd.entries.length > 0 || rd.hardState || rd.snapshot || rd.committedEntries.length > 0))
      this.trace(
        `n${id} ready ${ROLE_NAMES[rd.soft.role]} t${rd.soft.term} ld${rd.soft.leader}` +
          (rd.snapshot ? ` snap=${rd.snapshot.meta.index}/${rd.snapshot.meta.term}` : '') +
          (rd.entries.length > 0 ? ` ents=${rd.entries[0]!.index}..${rd.entries[rd.entries.length - 1]!.index}` : '') +
          (rd.hardState ? ` hs=${rd.hardState.term}/${rd.hardState.vote}/${rd.hardState.commit}` : '') +
          (rd.committedEntries.length > 0 ? ` apply=${rd.committedEntries[0]!.index}..${rd.committedEntries[rd.committedEntries.length - 1]!.index}` : ''),
      );

    // 1. Messages that may leave before the Ready is durable.
    for (const m of rd.messages) this.sendFrom(node, m);

    const [lo, hi] = this.profile.diskLatency;
    const latency = hi > 0 ? this.rng.range(lo, hi) : 0;
    if (latency === 0) this.finishReady(node, rd);
    else node.pending = { rd, doneAt: this.now + latency };
  }

  /** The Ready's write completes (or a crash armed on the node tears it), then send, apply, advance. */
  private finishReady(node: SimNode, rd: Ready): void {
    node.pending = undefined;
    const core = node.core!;
    // 2. Persist; a crash armed on this node keeps only a prefix of the writes (torn).
    const ops = opsOfReady(rd);
    const torn = node.tornArmedAt >= 0 && ops.length > 0;
    const durable = torn ? this.rng.int(ops.length + 1) : ops.length;
    for (let i = 0; i < durable; i++) this.persist(node, ops[i]!);
    if (torn) {
      this.crash(node, `torn write: ${durable} of ${ops.length} writes of the Ready were durable`);
      return;
    }
    if (rd.logTailRecovered) node.disk.tailLost = undefined;

    // 3. Messages that must wait for durability.
    for (const m of rd.messagesAfterPersist) this.sendFrom(node, m);

    // 4. Apply.
    if (rd.snapshot) this.installSnapshot(node, rd.snapshot.meta, rd.snapshot.data);
    for (const e of rd.committedEntries) {
      this.applyEntry(node, e);
      if (node.status !== 'up') return;
    }
    for (const rs of rd.readStates) this.onReadState(node, rs);
    core.advance(rd);
    this.maybeCompact(node);
  }

  private persist(node: SimNode, op: DurableOp): void {
    if (op.kind === 'entry') {
      const prevTerm = node.disk.termAt(op.entry.index - 1);
      node.disk.write(op);
      this.noteLogEntry(node.id, op.entry, prevTerm ?? -1);
    } else {
      node.disk.write(op);
    }
  }

  private sendFrom(node: SimNode, m: Message): void {
    check(m.from === node.id, () => `node ${node.id} sent a message from ${m.from}`);
    if (this.traceOn) this.trace(`send ${describeMessage(m)}`);
    const disk = node.disk;
    switch (m.type) {
      case MessageType.APPEND:
      case MessageType.HEARTBEAT:
      case MessageType.SNAPSHOT:
        this.noteLeader(m.term, m.from, `it sent ${MESSAGE_NAMES[m.type]}`);
        if (m.type === MessageType.SNAPSHOT && m.snapshot !== undefined) this.noteCommittedTerm(m.snapshot.meta.index, m.snapshot.meta.term, node.id, m.term);
        if (m.type === MessageType.APPEND) {
          let prev = m.index;
          let prevTerm = m.logTerm;
          for (const e of m.entries) {
            check(e.index === prev + 1 && e.term >= prevTerm && e.term <= m.term, () => `node ${node.id}: APPEND with entry ${e.index}/${e.term} after ${prev}/${prevTerm} in term ${m.term}`);
            prev = e.index;
            prevTerm = e.term;
          }
        }
        break;
      case MessageType.VOTE_RESP:
        if (!m.reject) {
          // A granted vote must be durable before it leaves (or the durable term has moved past it, so
          // the node can never vote in that term again), and unique per term across restarts.
          check(disk.hardState.term > m.term || (disk.hardState.term === m.term && disk.hardState.vote === m.to), () =>
            `node ${node.id} granted its vote to ${m.to} in term ${m.term} before it was durable (durable term ${disk.hardState.term} vote ${disk.hardState.vote})`,
          );
          const k = `${node.id}:${m.term}`;
          const prior = this.votes.get(k);
          check(prior === undefined || prior === m.to, () => `node ${node.id} voted twice in term ${m.term}: for ${prior} and for ${m.to}`);
          this.votes.set(k, m.to);
        }
        break;
      case MessageType.APPEND_RESP:
        // Only acknowledgements of the current term: one of an earlier term whose entries a newer
        // leader overwrote before the Ready was persisted is the same as an ack sent just before
        // the overwrite and delivered late, which Raft tolerates.
        if (!m.reject && m.term === node.core!.term) {
          check(disk.lastIndex() >= m.index, () => `node ${node.id} acknowledged index ${m.index} to ${m.to} before it was durable (durable log ends at ${disk.lastIndex()})`);
          // An acknowledgement claims our log matches the leader's up to m.index: by log
          // matching it is enough that the terms at m.index agree.
          const leader = this.nodes.get(m.to)?.core;
          if (leader !== undefined && leader.role === Role.LEADER && leader.term === m.term && m.index > 0) {
            const lt = leader.termAt(m.index);
            const ft = node.core!.termAt(m.index);
            const compacted = m.index < node.core!.firstIndex - 1 || m.index < leader.firstIndex - 1;
            check(m.index <= leader.lastIndex && m.index <= node.core!.lastIndex && (compacted || lt === ft), () =>
              `node ${node.id} acknowledged index ${m.index} to leader ${m.to} (term ${m.term}) but holds ${m.index}/${ft} where the leader has ${m.index}/${lt ?? 'nothing'} (last ${leader.lastIndex})`,
            );
          }
        }
        break;
    }
    this.net.send(m, this.now);
  }

  private installSnapshot(node: SimNode, meta: { index: number; term: number; conf: ConfState }, data: Uint8Array): void {
    check(meta.index > node.sm.appliedIndex, () => `node ${node.id} was handed a snapshot at ${meta.index}, not after its applied index ${node.sm.appliedIndex}`);
    check(meta.index <= node.core!.commitIndex, () => `node ${node.id} installs a snapshot at ${meta.index} beyond its commit ${node.core!.commitIndex}`);
    this.noteCommittedTerm(meta.index, meta.term, node.id, node.core!.term);
    node.sm.restore(meta, data);
    this.noteHash(meta.index, node.sm.stateHash(), node.id, `installed snapshot ${meta.index}/${meta.term}`);
    node.conf = copyConf(meta.conf);
    node.appliedTerm = meta.term;
    this.stats.snapshotsInstalled++;
    this.trace(`n${node.id} INSTALL snapshot ${meta.index}/${meta.term} voters ${meta.conf.voters} learners ${meta.conf.learners}`);
  }

  private applyEntry(node: SimNode, e: Entry): void {
    const core = node.core!;
    const id = node.id;
    check(e.index === node.sm.appliedIndex + 1, () => `node ${id} applies entry ${e.index} after applied index ${node.sm.appliedIndex} (not exactly once, in order)`);
    check(e.index <= core.commitIndex, () => `node ${id} applies entry ${e.index} beyond its commit index ${core.commitIndex}`);
    check(node.disk.termAt(e.index) === e.term, () => `node ${id} applies entry ${e.index}/${e.term} that is not durable (durable term ${node.disk.termAt(e.index)})`);
    this.noteCommitted(e.index, e.term, entryKey(e), id, 'applied', core.term);
    if (e.type === EntryType.CONF_CHANGE) {
      const cc = decodeConfChange(e.data);
      node.conf = core.confAt(e.index);
      this.stats.confChangesApplied++;
      this.trace(`n${id} apply conf change ${cc.type}/${cc.node} at ${e.index}: voters ${node.conf.voters} learners ${node.conf.learners}`);
      if (cc.type === ConfChangeType.REMOVE) this.pendingRemovals.add(cc.node);
    }
    const out: ApplyOutcome = node.sm.apply(e);
    node.appliedTerm = e.term;
    this.noteHash(e.index, node.sm.stateHash(), id, `applied entry ${e.index}`);
    if (this.rng.chance(SNAPSHOT_CANDIDATE_P)) node.snapCandidate = { meta: { index: e.index, term: e.term, conf: copyConf(node.conf) }, data: node.sm.snapshot() };
    if (out.kind === 'none') return;
    const k = `${out.clientId}:${out.reqSeq}`;
    let effectiveAt: number;
    if (out.kind === 'applied') {
      check(!node.appliedCmds.has(k), () => `node ${id} applied command ${k} twice (again at ${e.index})`);
      node.appliedCmds.add(k);
      const prior = this.effective.get(k);
      check(prior === undefined || prior === e.index, () => `command ${k} applied at ${e.index} on node ${id} but at ${prior} elsewhere (applied twice)`);
      this.effective.set(k, e.index);
      effectiveAt = e.index;
    } else {
      const prior = this.effective.get(k);
      check(prior !== undefined && prior < e.index, () => `node ${id} treats command ${k} at ${e.index} as a duplicate, but it was applied at ${prior}`);
      effectiveAt = prior;
    }
    // The client hears back only from a leader's own apply.
    if (core.role !== Role.LEADER) return;
    const c = this.clientById(out.clientId);
    if (c?.out === undefined || c.out.reqSeq !== out.reqSeq) return;
    this.acks.push({ clientId: c.id, reqSeq: out.reqSeq, index: effectiveAt, step: this.now });
    this.maxAckedIndex = Math.max(this.maxAckedIndex, effectiveAt);
    c.out = undefined;
    c.acked++;
    c.lastAckIndex = e.index;
    this.stats.acks++;
    this.trace(`ACK c${c.id}#${out.reqSeq} by leader n${id} applying ${e.index} (effective at ${effectiveAt})`);
  }

  private maybeCompact(node: SimNode): void {
    if (node.status !== 'up') return;
    const applied = node.sm.appliedIndex;
    if (applied - node.disk.snapshotIndex() < node.compactEvery || applied > node.disk.hardState.commit) return;
    let meta: SnapshotMeta = { index: applied, term: node.appliedTerm, conf: copyConf(node.conf) };
    let data = node.sm.snapshot();
    const cand = node.snapCandidate;
    if (cand !== undefined && cand.meta.index > node.disk.snapshotIndex() && this.rng.chance(0.5)) ({ meta, data } = cand);
    node.snapCandidate = undefined;
    const core = node.core!;
    core.compact(copyMeta(meta), data.slice());
    node.disk.compact(meta, data);
    check(core.firstIndex === meta.index + 1, () => `node ${node.id} compacted at ${meta.index} but its first index is ${core.firstIndex}`);
    check(core.termAt(meta.index) === meta.term, () => `node ${node.id} compacted at ${meta.index}/${meta.term} but termAt(${meta.index}) is ${core.termAt(meta.index)}`);
    node.compactEvery = this.rng.range(...this.profile.compactEvery);
    this.stats.compactions++;
    this.trace(`n${node.id} COMPACT at ${meta.index}/${meta.term} (applied ${applied})`);
  }

  // ---- The oracle ----

  private noteLeader(term: number, id: NodeId, how: string): void {
    const prior = this.leaders.get(term);
    check(prior === undefined || prior === id, () => `two leaders in term ${term}: node ${prior} and node ${id} (${how})`);
    if (prior === undefined) {
      this.leaders.set(term, id);
      this.stats.leaders++;
      this.stats.maxTerm = Math.max(this.stats.maxTerm, term);
      this.trace(`LEADER n${id} term ${term} (${how})`);
    }
  }

  /** A node seen as leader: unique in its term, and (once per term) its log holds every committed entry. */
  private observeLeader(node: SimNode, how: string): void {
    const core = node.core!;
    this.noteLeader(core.term, node.id, how);
    if (node.leaderCheckedTerm === core.term) return;
    node.leaderCheckedTerm = core.term;
    for (const n of this.nodes.values()) if (n.core !== undefined) this.checkCommits(n);
    const id = node.id;
    for (let i = this.commitMax; i >= 1; i--) {
      const r = this.committed.get(i);
      if (r === undefined || r.commitTermMax >= core.term) continue;
      if (i < core.firstIndex - 1) break; // compacted: in the node's snapshot, which holds only committed entries
      const t = core.termAt(i);
      check(t === r.term, () =>
        `leader completeness: node ${id} leads term ${core.term} with entry ${i}/${t ?? 'none'} (last index ${core.lastIndex}), but ${i}/${r.term} was committed by term ${r.commitTermMax} (node ${r.by})`,
      );
      const e = core.entryAt(i);
      if (e !== undefined && r.key !== '') check(entryKey(e) === r.key, () => `leader completeness: node ${id} leads term ${core.term} with different content at committed index ${i}`);
    }
  }

  private noteCommitted(index: number, term: number, key: string, by: NodeId, how: string, byTerm: number): void {
    const r = this.committed.get(index);
    if (r === undefined) {
      this.committed.set(index, { term, key, by, commitTermMax: byTerm });
      if (index > this.commitMax) this.commitMax = index;
      return;
    }
    check(r.term === term && (r.key === '' || key === '' || r.key === key), () =>
      `state machine safety: node ${by} ${how} entry ${index}/${term} [${key}] but node ${r.by} committed ${index}/${r.term} [${r.key}]`,
    );
    if (r.key === '' && key !== '') r.key = key;
    if (byTerm < r.commitTermMax) r.commitTermMax = byTerm;
  }

  private noteCommittedTerm(index: number, term: number, by: NodeId, byTerm: number): void {
    if (index > 0) this.noteCommitted(index, term, '', by, 'committed (snapshot)', byTerm);
  }

  private noteHash(index: number, hash: string, by: NodeId, how: string): void {
    const r = this.hashes.get(index);
    if (r === undefined) this.hashes.set(index, { hash, by });
    else check(r.hash === hash, () => `state hash at applied index ${index} differs: node ${by} (${how}) has ${hash.slice(0, 16)}…, node ${r.by} had ${r.hash.slice(0, 16)}…`);
  }

  private noteLogEntry(by: NodeId, e: Entry, prevTerm: number): void {
    const k = `${e.index}:${e.term}`;
    const key = entryKey(e);
    const r = this.logEntries.get(k);
    if (r === undefined) {
      this.logEntries.set(k, { key, prevTerm, by });
      return;
    }
    check(r.key === key, () => `log matching: entry ${k} on node ${by} differs from node ${r.by}'s`);
    check(r.prevTerm === prevTerm || r.prevTerm < 0 || prevTerm < 0, () =>
      `log matching: entry ${k} follows term ${prevTerm} on node ${by} but term ${r.prevTerm} on node ${r.by}`,
    );
  }

  /** Commit never decreases on a node; newly committed entries agree cluster-wide. */
  private checkCommits(node: SimNode): void {
    const core = node.core!;
    const id = node.id;
    const c = core.commitIndex;
    check(c >= node.commitSeen, () => `node ${id}: commit index decreased ${node.commitSeen} -> ${c}`);
    check(c >= node.disk.hardState.commit, () => `node ${id}: commit index ${c} below its durable commit ${node.disk.hardState.commit}`);
    check(c <= core.lastIndex, () => `node ${id}: commit index ${c} beyond its last index ${core.lastIndex}`);
    node.commitSeen = c;
    for (let i = node.commitChecked + 1; i <= c; i++) {
      const e = core.entryAt(i);
      if (e !== undefined) this.noteCommitted(i, e.term, entryKey(e), id, 'committed', core.term);
      else {
        const t = core.termAt(i);
        if (t !== undefined) this.noteCommitted(i, t, '', id, 'committed', core.term);
      }
    }
    if (c > node.commitChecked) node.commitChecked = c;
  }

  private checkStep(): void {
    for (const node of this.nodes.values()) {
      const core = node.core;
      if (core === undefined) continue;
      check(core.term >= node.termSeen, () => `node ${node.id}: term decreased ${node.termSeen} -> ${core.term}`);
      check(core.term >= node.disk.hardState.term, () => `node ${node.id}: term ${core.term} below its durable term ${node.disk.hardState.term}`);
      node.termSeen = core.term;
      if (core.role === Role.LEADER) this.observeLeader(node, 'role at step end');
      this.checkCommits(node);
    }
  }

  // ---- Healing: everything back, then bounded progress ----

  private heal(): void {
    this.phase = 'heal';
    this.net.healAll();
    this.partitionUntil = -1;
    this.net.faults = { delayMin: 1, delayMax: Math.min(this.profile.net.delayMax, SUBSTEPS_PER_TICK), lossP: 0, dupP: 0 };
    for (const node of this.nodes.values()) {
      node.tornArmedAt = -1;
      if (node.status === 'crashed') this.restart(node);
      else if (node.status === 'paused') {
        node.status = 'up';
        node.nextTickAt = this.now;
      }
    }
    this.trace('HEAL everything: network, crashed nodes restarted, paused nodes resumed');
    const start = this.now;
    const probe = new SimClient(PROBE_CLIENT_ID);
    this.clients.push(probe);
    probe.out = { reqSeq: 1, data: encodeCommand({ clientId: PROBE_CLIENT_ID, reqSeq: 1, payload: new Uint8Array([0xaa]) }), retryAt: this.now, attempts: 0 };
    probe.nextReqSeq = 2;
    const deadline = this.now + HEAL_TICKS_MAX * SUBSTEPS_PER_TICK;
    while (probe.out !== undefined) {
      if (this.now >= deadline) {
        this.fail(`liveness: no leader committed a new command within HEAL_TICKS_MAX=${HEAL_TICKS_MAX} ticks after healing (${this.describeNodes()})`);
      }
      this.stepOnce();
    }
    this.stats.healTicks = Math.ceil((this.now - start) / SUBSTEPS_PER_TICK);
    // Clients give up on what is still outstanding, so the set of acknowledged commands is final;
    // every live member must then apply up to the last acknowledging apply.
    let target = 0;
    for (const c of this.clients) {
      c.out = undefined;
      target = Math.max(target, c.lastAckIndex);
    }
    const deadline2 = this.now + CONVERGE_TICKS_MAX * SUBSTEPS_PER_TICK;
    for (;;) {
      const members = this.members();
      const behind = members.filter((n) => n.status !== 'up' || n.sm.appliedIndex < target);
      if (behind.length === 0) break;
      if (this.now >= deadline2)
        this.fail(
          `liveness: members ${behind.map((n) => `n${n.id}(applied ${n.sm.appliedIndex}, ${n.status})`).join(' ')} did not apply index ${target} within CONVERGE_TICKS_MAX=${CONVERGE_TICKS_MAX} ticks (${this.describeNodes()})`,
        );
      this.stepOnce();
    }
    this.finalChecks();
  }

  private describeNodes(): string {
    const cfg = `preVote ${this.preVote} checkQuorum ${this.checkQuorum}`;
    const nodes = this.upNodes().map((n) => {
      const c = n.core!;
      return `n${n.id}:${ROLE_NAMES[c.role]}/t${c.term}/ld${c.leader}/c${c.commitIndex}/l${c.lastIndex} voters ${c.conf().voters}`;
    });
    return `${cfg}; ${nodes.join('; ')}`;
  }

  /** Members per the most advanced live node's applied membership. */
  private members(): SimNode[] {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) if (n.status === 'up' && (best === undefined || n.sm.appliedIndex > best.sm.appliedIndex)) best = n;
    if (best === undefined) return [];
    const ids = [...best.conf.voters, ...best.conf.learners];
    return ids.map((id) => this.nodes.get(id)).filter((n): n is SimNode => n !== undefined);
  }

  private finalChecks(): void {
    const members = this.members();
    for (const n of members) check(n.status === 'up', () => `member ${n.id} is ${n.status} after healing`);
    // No acknowledged command lost: every one is applied on every live member.
    for (const a of this.acks) {
      for (const n of members) {
        check(n.sm.appliedIndex >= a.index && n.sm.lastReqSeq(a.clientId) >= a.reqSeq, () =>
          `acknowledged command ${a.clientId}:${a.reqSeq} (applied at ${a.index}, acked at step ${a.step}) is missing on node ${n.id} (applied ${n.sm.appliedIndex}, session ${n.sm.lastReqSeq(a.clientId)})`,
        );
      }
    }
    // Replicas at the same applied index have the same state.
    for (const a of members)
      for (const b of members)
        if (a.id < b.id && a.sm.appliedIndex === b.sm.appliedIndex)
          check(a.sm.stateHash() === b.sm.stateHash(), () => `nodes ${a.id} and ${b.id} both applied ${a.sm.appliedIndex} but their state hashes differ`);
  }
}

function opsOfReady(rd: Ready): DurableOp[] {
  return SimDisk.opsOf(rd.snapshot ? { meta: rd.snapshot.meta, data: rd.snapshot.data } : undefined, rd.entries, rd.hardState);
}

/** Runs one seed of one profile; throws SimFailure on any violated invariant. */
export function runSim(opts: SimOptions): SimStats {
  return new ClusterSim(opts).run();
}

/** The shell command that replays a seed of the simulation suite. */
export function replayCommand(seed: number, profile?: string): string {
  return `SIM_SEED=${seed} npx vitest run test/replicator/raft-sim.test.ts${profile ? ` -t "${profile}"` : ''}`;
}
