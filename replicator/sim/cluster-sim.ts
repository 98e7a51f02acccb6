// Deterministic simulation of a replicated shard (TigerBeetle's VOPR idea): the PRODUCTION
// replica — replicator/node.ts ReplicaNode with its Raft core, or for a Multi-Paxos cluster
// replicator/paxos/paxos-node.ts PaxosNode with its Paxos core, the real WAL and the real shard
// state machine — runs on simulated hosts (sim-machine.ts): a simulated disk that loses what
// was not synced at a power cut (sim-fs.ts), a simulated network that delays, loses,
// duplicates, reorders and partitions (sim-network.ts), and simulated clocks (scheduler.ts).
// There is no second host loop: what runs here is what runs in production. One seed
// reproduces a whole run, faults included.
//
// Clients register sessions and send engine commands with retries (same clientId, requestSeq),
// the leader is asked to hand over leadership, membership changes, processes are killed —
// between steps, at any disk call or send, with their host's power, or every host at once —
// paused, restarted on damaged WALs. An oracle (oracle.ts) checks the safety properties at
// every message and every step; then everything heals and the cluster must make progress and
// converge in bounded time.

import { encodeJsonCommand } from '../../shard/json-command.js';
import type { ProposalError } from '../log.js';
import { Prng } from '../prng.js';
import { ConfChangeType, MessageType, NONE, Role, type ConfChange, type Message, type NodeId } from '../raft/types.js';
import { ApplyOutcome, type ApplyResult } from '../../shard/state-machine.js';
import { Stp, type ShardConfig } from '../../engine/types.js';
import { Oracle, SimInvariantError } from './oracle.js';
import { PaxosOracle } from './paxos-oracle.js';
import { copyPaxosWire, describePaxosWire, type PaxosWire } from './paxos-wire.js';
import type { SimProfile } from './profiles.js';
import { SimScheduler } from './scheduler.js';
import { SimMachine, type MachineConfig, type SimConsensus } from './sim-machine.js';
import { SimNetwork, copyMessage } from './sim-network.js';
import { ballotToTerm } from '../paxos/record-log.js';
import { compareBallots, ballotEquals } from '../paxos/paxos-core.js';
import { PaxosRole } from '../paxos/types.js';

export { PAXOS_PROFILES, PROFILES, profilesFor, type SimProfile } from './profiles.js';
export type { SimConsensus } from './sim-machine.js';
export { SimInvariantError } from './oracle.js';

// ---- Named limits (steps are ms of simulated time) ---------------------------------------------

export const TICK_MS = 10;
export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 2;
/** After healing, a leader must commit a fresh command within this many steps. */
export const HEAL_STEPS_MAX = 6_000;
/** …and every member must then apply everything acknowledged within this many more. */
export const CONVERGE_STEPS_MAX = 6_000;
/** A client resends a request not answered within this many steps. */
export const CLIENT_TIMEOUT_STEPS = 600;
/** A client retries this long after a refusal, or when the node it picked is down. */
export const CLIENT_BACKOFF_STEPS = 10;
/** Nodes added by membership changes, at most, per run. */
export const NODES_ADDED_MAX = 3;
/** Voters never go below this through membership changes. */
export const VOTERS_MIN = 3;
/** Lines of trace kept for a failure report. */
export const TRACE_LINES_MAX = 500;
/** Most disk calls or sends before an armed crash fires. */
export const ARMED_CRASH_OPS_MAX = 12;
/** A power cut "with writes in flight" lands within this many steps of being planned. */
export const POWER_CUT_DELAY_STEPS_MAX = 30;
/** Most bytes cut off (or damaged at) the end of a WAL by tail damage. */
export const TAIL_DAMAGE_BYTES_MAX = 600;
/** Election time must stay under this (steps) in the "elections" profile: ≤ 1 s with our timeouts. */
export const ELECTION_STEPS_MAX = 1_000;
/** The same bound for a Multi-Paxos takeover (phase 1 over the whole window, then its first chosen slot). */
export const PAXOS_ELECTION_STEPS_MAX = 1_000;
/**
 * Multi-Paxos windows in the simulation: small, so that a full pipeline, an acceptor's window
 * and catch-up over several LEARNs happen (limits.ts has the production ones).
 */
export const SIM_PAXOS_WINDOWS = { pipelineSlotsMax: 4, acceptWindowSlots: 8, learnSlotsMax: 4 };

/** The engine configuration every simulated replica runs: one small instrument, three accounts. */
export const SIM_SHARD_CONFIG: ShardConfig = {
  shardId: 0,
  defaultStp: Stp.NONE,
  orderCountMax: 10_000,
  accounts: [1, 2, 3].map((id) => ({ id, stp: Stp.NONE })),
  instruments: [
    {
      symbol: 'SIM',
      tickSize: 1,
      lotSize: 1,
      minQty: 1,
      maxQty: 1_000,
      maxPrice: 1_000,
      priceBandTicks: 0,
      referencePrice: null,
      sessionCloseUtcUs: 0,
      priceDecimals: 0,
      qtyDecimals: 0,
    },
  ],
};

// ---- Results and failures -------------------------------------------------------------------

export interface SimStats {
  steps: number;
  leaders: number;
  maxTerm: number;
  commitMax: number;
  registrations: number;
  readsIssued: number;
  readsServed: number;
  proposals: number;
  acks: number;
  sessionsExpired: number;
  crashes: number;
  crashesAtDiskCall: number;
  crashesAtSend: number;
  powerLosses: number;
  powerCutsAll: number;
  tailsDamaged: number;
  tailsLost: number;
  restarts: number;
  pauses: number;
  partitions: number;
  transfers: number;
  confChangesApplied: number;
  snapshotsInstalled: number;
  healSteps: number;
  messages: number;
  elections: number;
  electionStepsMax: number;
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
    readonly consensus: SimConsensus = 'raft',
  ) {
    super(
      `[seed ${seed}, profile "${profile}"${consensus === 'raft' ? '' : `, ${consensus}`}, step ${step}, ${phase} phase] ${reason}`,
    );
  }
}

export interface SimOptions {
  seed: number;
  profile: SimProfile;
  /** The replica every host runs (default Raft). */
  consensus?: SimConsensus;
  /** Keep a trace of the last TRACE_LINES_MAX events for the failure report (slower). */
  trace?: boolean;
  /** Print every trace line as it happens. */
  onTrace?: (line: string) => void;
}

// ---- Clients ------------------------------------------------------------------------------------

interface Outstanding {
  reqSeq: number;
  body: Uint8Array;
  retryAt: number;
  attempts: number;
  /** Bumped on every send: answers to earlier sends are told apart. */
  attempt: number;
}

class SimClient {
  /** Session id (0 while unregistered). */
  session = 0;
  registering: { attempt: number; retryAt: number } | undefined;
  nextReqSeq = 1;
  out: Outstanding | undefined;
  leaderGuess: NodeId = NONE;
  attempt = 0;
  orders = 0;
  acked = 0;
  constructor(readonly index: number) {}
}

// ---- The simulation -------------------------------------------------------------------------------

export class ClusterSim {
  readonly seed: number;
  readonly profile: SimProfile;
  phase: 'main' | 'heal' = 'main';
  readonly sched = new SimScheduler();
  readonly machines = new Map<NodeId, SimMachine>();
  readonly consensus: SimConsensus;
  /** Raft messages, or Multi-Paxos items (one kind per run). */
  readonly net: SimNetwork<Message | PaxosWire>;
  readonly clients: SimClient[] = [];
  readonly oracle: Oracle;
  /** The oracle, when the cluster runs Multi-Paxos. */
  private readonly paxosOracle: PaxosOracle | undefined;
  readonly stats: SimStats = {
    steps: 0,
    leaders: 0,
    maxTerm: 0,
    commitMax: 0,
    registrations: 0,
    readsIssued: 0,
    readsServed: 0,
    proposals: 0,
    acks: 0,
    sessionsExpired: 0,
    crashes: 0,
    crashesAtDiskCall: 0,
    crashesAtSend: 0,
    powerLosses: 0,
    powerCutsAll: 0,
    tailsDamaged: 0,
    tailsLost: 0,
    restarts: 0,
    pauses: 0,
    partitions: 0,
    transfers: 0,
    confChangesApplied: 0,
    snapshotsInstalled: 0,
    healSteps: 0,
    messages: 0,
    elections: 0,
    electionStepsMax: 0,
  };

  private readonly rng: Prng; // faults and operations
  private readonly clientRng: Prng;
  private readonly machineCfg: MachineConfig;
  private nextNodeId: number;
  private partitionUntil = -1;
  /** Restart (or resume) step of each down (or paused) machine. */
  private readonly upAt = new Map<NodeId, number>();
  /** A membership change in progress: the machine added for it, if any. */
  private confBusy = false;
  /** A power cut of every host planned for this step (-1: none). */
  private powerCutAllAt = -1;
  /** Successful answers to client commands, taken at the end of the step. */
  private answers: { c: SimClient; by: NodeId; result: ApplyResult; session: number; reqSeq: number }[] = [];
  /** Leader kills (profile "elections"): when the last one happened and whether a successor committed since. */
  private killAt = -1;
  /** The first violation an oracle check found inside a replica's observer hook (raised at the step's end). */
  private observerFailure: unknown;

  private readonly traceOn: boolean;
  private readonly traceLines: string[] = [];
  private readonly onTrace: ((line: string) => void) | undefined;

  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    this.profile = opts.profile;
    this.traceOn = opts.trace === true || opts.onTrace !== undefined;
    this.onTrace = opts.onTrace;
    const root = new Prng(opts.seed);
    this.rng = root.fork(1);
    this.clientRng = root.fork(2);
    const p = this.profile;
    this.consensus = opts.consensus ?? 'raft';
    this.net = new SimNetwork<Message | PaxosWire>(root.fork(3), { ...p.net }, (m) =>
      'out' in m ? copyPaxosWire(m) : copyMessage(m),
    );
    const n = p.nodes;
    const members = Array.from({ length: n }, (_, i) => i + 1);
    this.machineCfg = {
      shardConfig: SIM_SHARD_CONFIG,
      members,
      tickMs: TICK_MS,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      snapshotIntervalEntries: p.snapshotIntervalEntries,
      timeTickMs: p.timeTickMs,
      // Small limits, so that catching up takes several APPENDs and a snapshot several chunks.
      raft: {
        inflightMessagesMax: 8,
        inflightBytesMax: 16 * 1024,
        appendBytesMax: 600,
        uncommittedEntriesMax: 256,
        snapshotChunkBytes: 700,
      },
      // Small segments, so that rolls, compaction and recovery across segments happen.
      wal: { segmentBytesMax: 4096, tailCacheBytesMax: 8192 },
      sessionsMax: p.sessionsMax,
      diskLatencyMs: p.diskLatencyMs,
      diskStallP: p.diskStallP,
      diskStallMs: p.diskStallMs,
      tickJitterMs: p.tickJitterMs,
      ...(this.consensus === 'multipaxos' ? { consensus: this.consensus, paxosWindows: SIM_PAXOS_WINDOWS } : {}),
    };
    const hooks = {
      fail: (reason: string) => this.fail(reason),
      trace: (line: string) => this.trace(line),
      stats: this.stats,
    };
    this.paxosOracle = this.consensus === 'multipaxos' ? new PaxosOracle(hooks, n) : undefined;
    this.oracle = this.paxosOracle ?? new Oracle(hooks);
    for (const id of members) this.addMachine(id, root.fork(100 + id));
    this.nextNodeId = n + 1;
    for (let i = 1; i <= p.clients; i++) this.clients.push(new SimClient(i));
    this.trace(
      `seed ${this.seed} profile "${p.name}" nodes ${n}${this.consensus === 'raft' ? '' : ` ${this.consensus}`}`,
    );
    for (const m of this.machines.values()) this.boot(m);
  }

  get now(): number {
    return this.sched.now;
  }

  // ---- Running ----

  run(): SimStats {
    try {
      while (this.now < this.profile.steps) this.stepOnce();
      this.heal();
    } catch (e) {
      if (e instanceof SimFailure) throw e;
      const reason =
        e instanceof SimInvariantError
          ? `invariant: ${e.message}`
          : `threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
      throw this.failure(reason);
    }
    this.stats.steps = this.now;
    this.stats.messages = this.net.stats.sent;
    this.stats.commitMax = this.oracle.commitMax;
    return this.stats;
  }

  private fail(reason: string): never {
    throw this.failure(reason);
  }

  private failure(reason: string): SimFailure {
    return new SimFailure(
      this.seed,
      this.profile.name,
      this.now,
      this.phase,
      reason,
      [...this.traceLines],
      this.consensus,
    );
  }

  private trace(line: string): void {
    if (!this.traceOn) return;
    const l = `${this.now} ${line}`;
    this.onTrace?.(l);
    this.traceLines.push(l);
    if (this.traceLines.length > TRACE_LINES_MAX) this.traceLines.shift();
  }

  stepOnce(): void {
    this.sched.now++;
    if (this.phase === 'main') {
      this.injectFaults();
      this.operations();
    }
    this.wakeUp();
    this.sched.runDue();
    this.deliver();
    this.clientsAct();
    this.sched.runDue(); // what became due this step (a disk completion of zero latency)
    this.takeAnswers();
    if (this.observerFailure !== undefined) throw this.observerFailure;
    this.oracle.checkStep(this.machines.values(), this.now);
    this.watchElections();
  }

  private deliver(): void {
    const byNode = new Map<NodeId, (Message | PaxosWire)[]>();
    for (const m of this.net.due(this.now, (to) => this.canReceive(to))) {
      let list = byNode.get(m.to);
      if (list === undefined) byNode.set(m.to, (list = []));
      list.push(m);
    }
    for (const [to, msgs] of byNode) {
      const mc = this.machines.get(to);
      if (mc?.replica === undefined) continue;
      if (this.traceOn) for (const m of msgs) this.trace(`recv ${describeItem(m)}`);
      if (mc.node !== undefined) mc.node.receive(msgs as Message[]);
      else mc.paxos!.receive((msgs as PaxosWire[]).map((w) => w.out));
      this.sched.drainDeferred();
    }
  }

  private canReceive(to: NodeId): 'yes' | 'wait' | 'drop' {
    const m = this.machines.get(to);
    if (m === undefined || m.status !== 'up' || m.replica === undefined) return 'drop';
    return m.paused ? 'wait' : 'yes';
  }

  // ---- Machines: create, boot, crash, power, pause ----

  private addMachine(id: NodeId, rng: Prng): SimMachine {
    const m = new SimMachine(id, this.sched, this.machineCfg, rng, {
      send: (from, msgs) => {
        for (const msg of msgs) {
          if (this.traceOn) this.trace(`send ${describeMessage(msg)}`);
          this.oracle.onSend(from, msg, this.now);
          this.net.send(msg, this.now);
        }
      },
      sendPaxos: (from, items) => {
        for (const w of items) {
          if (this.traceOn) this.trace(`send ${describePaxosWire(w)}`);
          this.paxosOracle!.onSendPaxos(from, w);
          this.net.send(w, this.now);
        }
      },
      applied: (mc, results, _events, entry) => this.observed(() => this.oracle.onApplied(mc, results, entry)),
      stateReset: (mc, installed) => this.observed(() => this.oracle.onStateReset(mc, installed)),
      fatal: (mc, err) => {
        if (err instanceof SimFailure || err instanceof SimInvariantError) throw err; // the oracle, from inside a hook
        this.fail(
          `node ${mc.id} died of a real error (not a simulated crash): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      },
      ...(this.traceOn ? { trace: (line: string) => this.trace(line) } : {}),
    });
    this.machines.set(id, m);
    return m;
  }

  /**
   * Runs an oracle check from inside a replica's observer hook (onApplied, onStateReset). The
   * replica catches and logs what its observers throw (an observer must not kill it), so a
   * violation found there is kept and raised at the end of the step.
   */
  private observed(check: () => void): void {
    try {
      check();
    } catch (e) {
      this.observerFailure ??= e;
      throw e;
    }
  }

  private boot(m: SimMachine): void {
    const ok = m.boot();
    if (!ok) {
      this.trace(`BOOT n${m.id} died while starting`);
      this.scheduleUp(m);
      return;
    }
    if (m.paxos !== undefined) return this.booted(m);
    const node = m.node!;
    if (m.lives > 1) this.stats.restarts++;
    if (node.raft.logTailLost) this.stats.tailsLost++;
    this.oracle.onBoot(m);
    this.trace(
      `BOOT n${m.id} life ${m.lives}: term ${node.raft.term} commit ${node.raft.commitIndex} log [${node.raft.firstIndex}, ${node.raft.lastIndex}]${node.raft.logTailLost ? ' TAIL LOST' : ''}`,
    );
  }

  /** A Multi-Paxos replica started on its disk. */
  private booted(m: SimMachine): void {
    const st = m.paxos!.paxos.status();
    if (m.lives > 1) this.stats.restarts++;
    if (st.recovering) this.stats.tailsLost++;
    this.oracle.onBoot(m);
    this.trace(
      `BOOT n${m.id} life ${m.lives}: promised ${st.promised.round}.${st.promised.leader} chosen ${st.chosen} compacted ${st.compacted}${st.recovering ? ' TAIL LOST' : ''}`,
    );
  }

  private scheduleUp(m: SimMachine): void {
    this.upAt.set(m.id, this.now + this.rng.range(...this.profile.downSteps));
  }

  private wakeUp(): void {
    for (const [id, at] of this.upAt) {
      if (this.now < at) continue;
      const m = this.machines.get(id);
      this.upAt.delete(id);
      if (m === undefined || m.status === 'removed') continue;
      if (m.paused) {
        m.resume();
        this.trace(`RESUME n${id}`);
      } else if (m.status === 'down') this.boot(m);
    }
  }

  private downCount(): number {
    return this.upAt.size;
  }

  private upMachines(): SimMachine[] {
    return [...this.machines.values()].filter((m) => m.status === 'up' && !m.paused && m.replica !== undefined);
  }

  /** The live node that leads in the highest term, if any. */
  private currentLeader(): SimMachine | undefined {
    let best: SimMachine | undefined;
    if (this.consensus === 'multipaxos') {
      // The live replica that leads the highest ballot.
      for (const m of this.upMachines()) {
        const c = m.paxos!.paxos;
        if (c.role !== PaxosRole.LEADER) continue;
        if (best === undefined || compareBallots(c.ballot, best.paxos!.paxos.ballot) > 0) best = m;
      }
      return best;
    }
    for (const m of this.upMachines()) {
      const r = m.node!.raft;
      if (r.role !== Role.LEADER) continue;
      if (best === undefined || r.term > best.node!.raft.term) best = m;
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
    if (this.powerCutAllAt >= 0 && this.now >= this.powerCutAllAt) {
      this.powerCutAllAt = -1;
      this.cutPowerEverywhere();
    }
    if (this.powerCutAllAt < 0 && this.rng.chance(p.powerCutAllP)) this.powerCutAll();
    if (this.downCount() < p.maxDown && this.rng.chance(p.crashP)) {
      const up = this.upMachines();
      if (up.length > 0) this.kill(this.rng.pick(up));
    }
    if (this.downCount() < p.maxDown && this.rng.chance(p.pauseP)) {
      const up = this.upMachines();
      if (up.length > 0) {
        const m = this.rng.pick(up);
        m.pause();
        this.upAt.set(m.id, this.now + this.rng.range(...p.pauseSteps));
        this.stats.pauses++;
        this.trace(`PAUSE n${m.id} until ${this.upAt.get(m.id)}`);
      }
    }
    if (p.leaderKillEverySteps > 0 && this.now % p.leaderKillEverySteps === 0 && this.downCount() === 0) {
      const leader = this.currentLeader();
      if (leader !== undefined) {
        this.trace(`KILL leader n${leader.id}`);
        leader.crash();
        this.stats.crashes++;
        this.scheduleUp(leader);
        this.killAt = this.now;
      }
    }
  }

  /** Kills one process, one of the profile's ways. */
  private kill(m: SimMachine): void {
    const h = this.profile.crashHow;
    const r = this.rng.int(h.clean + h.atDiskCall + h.atSend + h.powerLoss);
    this.stats.crashes++;
    if (r < h.clean) {
      this.trace(`CRASH n${m.id} between steps`);
      m.crash();
    } else if (r < h.clean + h.atDiskCall || r < h.clean + h.atDiskCall + h.atSend) {
      const atSend = r >= h.clean + h.atDiskCall;
      const n = this.rng.int(ARMED_CRASH_OPS_MAX);
      this.trace(`ARM n${m.id}: killed at its ${n + 1}th ${atSend ? 'send' : 'disk call'} from now`);
      if (atSend) this.stats.crashesAtSend++;
      else this.stats.crashesAtDiskCall++;
      m.armCrash(n, atSend);
      // If it never gets there before the restart time, it is killed then.
    } else {
      this.trace(`POWER LOSS n${m.id}`);
      this.stats.powerLosses++;
      m.powerLoss();
      // Not damaged at rest as well: a lost sync mark plus damage to what it no longer covers is
      // the double fault the WAL's design names as out of reach (wal/README.md).
      this.scheduleUp(m);
      return;
    }
    this.scheduleUp(m);
    if (m.status === 'up' && m.replica !== undefined) {
      // An armed crash: the process may live on until it reaches that call; bring it down at
      // its restart time if it never did, so it comes back from its disk either way.
      const at = this.upAt.get(m.id)!;
      m.at(at - 1, () => {
        this.trace(`CRASH n${m.id}: the armed crash never fired`);
        m.crash();
      });
    }
    this.maybeDamageTail(m);
  }

  /**
   * Every host loses power at once: unsynced writes lost or torn everywhere; all restart. Half
   * the time the cut lands while writes are in flight on every host: each process is stopped at
   * one of its next disk calls (so it has written and not synced), then the power goes.
   */
  private powerCutAll(): void {
    this.stats.powerCutsAll++;
    if (this.rng.chance(0.5)) {
      const at = this.now + 1 + this.rng.int(POWER_CUT_DELAY_STEPS_MAX);
      this.trace(`POWER CUT on every host at ${at}, writes in flight`);
      for (const m of this.machines.values())
        if (m.status === 'up' && !m.paused && !m.armed) m.armCrash(this.rng.int(3), false);
      this.powerCutAllAt = at;
      return;
    }
    this.cutPowerEverywhere();
  }

  private cutPowerEverywhere(): void {
    this.trace('POWER CUT on every host');
    for (const m of this.machines.values()) {
      if (m.status === 'removed') continue;
      if (m.paused) m.resume();
      m.powerLoss();
      this.upAt.set(m.id, this.now + this.rng.range(...this.profile.downSteps));
    }
  }

  /**
   * A downed host's WAL damaged at rest (truncated or bit-flipped near its end): entries it
   * acknowledged may be gone. At most a minority of voters may be damaged and not caught up at
   * once — beyond that no protocol keeps what they acknowledged.
   */
  private maybeDamageTail(m: SimMachine): void {
    if (!this.rng.chance(this.profile.tailDamageP) || m.status === 'up') return;
    const voters =
      (this.currentLeader() ?? this.upMachines()[0])?.replica?.membership().voters ?? this.machineCfg.members;
    const damaged = [...this.machines.values()].filter(
      (x) => x !== m && x.status !== 'removed' && this.oracle.tailMarked(x),
    ).length;
    if (damaged + 1 > (voters.length - 1) >> 1) return;
    const dir = this.oracle.walDir(m);
    const segs = m.fs.files(dir).filter((f) => /^wal-\d{20}\.log$/.test(f));
    const last = segs[segs.length - 1];
    if (last === undefined) return;
    const file = `${dir}/${last}`;
    const size = m.fs.durableBytes(file)?.byteLength ?? 0;
    if (size === 0) return;
    const bytes = 1 + this.rng.int(Math.min(size, TAIL_DAMAGE_BYTES_MAX));
    if (this.rng.chance(0.5)) {
      m.fs.truncate(file, size - bytes);
      this.trace(`DAMAGE n${m.id}: ${last} cut by ${bytes} bytes`);
    } else {
      m.fs.corrupt(file, size - bytes, Math.min(bytes, 8));
      this.trace(`DAMAGE n${m.id}: bits flipped ${bytes} bytes before the end of ${last}`);
    }
    this.oracle.markDamaged(m);
    this.stats.tailsDamaged++;
  }

  private startPartition(): void {
    const ids = [...this.machines.values()].filter((m) => m.status !== 'removed').map((m) => m.id);
    if (ids.length < 2) return;
    this.stats.partitions++;
    const kind = this.rng.int(4);
    let what: string;
    if (kind === 0) {
      this.rng.shuffle(ids);
      const k = this.rng.range(1, Math.max(1, Math.floor((ids.length - 1) / 2)));
      this.net.partition(ids.slice(0, k), ids.slice(k), false);
      what = `split {${ids.slice(0, k)}} | {${ids.slice(k)}}`;
    } else if (kind === 1) {
      const x = this.currentLeader()?.id ?? this.rng.pick(ids);
      this.net.partition([x], ids, false);
      what = `isolate n${x}`;
    } else if (kind === 2) {
      const x = this.currentLeader()?.id ?? this.rng.pick(ids);
      const outOnly = this.rng.chance(0.5);
      if (outOnly) this.net.partition(ids, [x], true);
      else this.net.partition([x], ids, true);
      what = outOnly ? `n${x} cannot receive` : `n${x} cannot send`;
    } else {
      for (const x of ids) for (const y of ids) if (x !== y && this.rng.chance(0.3)) this.net.cutLink(x, y);
      what = 'random one-way links';
    }
    this.partitionUntil = this.now + this.rng.range(...this.profile.partitionSteps);
    this.trace(`PARTITION ${what} until ${this.partitionUntil}`);
  }

  // ---- Operations: leadership transfer, membership ----

  private operations(): void {
    const p = this.profile;
    if (this.rng.chance(p.transferP)) {
      const leader = this.currentLeader();
      if (leader !== undefined) {
        const others = leader.replica!.membership().voters.filter((v) => v !== leader.id);
        if (others.length > 0) {
          const to = this.rng.pick(others);
          const r = leader.replica!.transferLeadership(to);
          this.stats.transfers++;
          this.trace(`TRANSFER n${leader.id} -> n${to}: ${r.ok ? 'ok' : r.error}`);
          // Multi-Paxos runs a fixed membership: a transfer is refused, never half done.
          if (this.consensus === 'multipaxos' && (r.ok || r.error !== 'BAD_TARGET'))
            this.fail(`node ${leader.id}: a leadership transfer to ${to} was not refused by the Multi-Paxos replica`);
        }
      }
    }
    if (this.rng.chance(p.membershipP)) this.changeMembership();
    if (this.rng.chance(p.readP)) this.read();
  }

  /**
   * A linearizable read on some node (ReadIndex, on the leader or forwarded by a follower): its
   * index must cover every command acknowledged before the read was issued.
   */
  private read(): void {
    const up = this.upMachines();
    if (up.length === 0) return;
    const m = this.rng.pick(up);
    const required = this.oracle.maxAckedIndex;
    const issuedAt = this.now;
    this.stats.readsIssued++;
    m.replica!.readIndex((err, index) => {
      if (err !== undefined) return;
      this.stats.readsServed++;
      const applied = m.replica?.stateMachine.appliedIndex ?? index;
      if (index < required || applied < index)
        this.fail(
          `linearizability: a read issued at step ${issuedAt} on node ${m.id} was answered with index ${index} (applied ${applied}), but a command acknowledged before it took effect at ${required}`,
        );
    });
  }

  private changeMembership(): void {
    const leader = this.currentLeader();
    if (leader === undefined || this.confBusy) return;
    const conf = leader.replica!.membership();
    const ops: ConfChange[] = [];
    if (this.nextNodeId <= this.profile.nodes + NODES_ADDED_MAX)
      ops.push({ type: ConfChangeType.ADD_LEARNER, node: this.nextNodeId });
    for (const l of conf.learners)
      if (this.machines.get(l)?.status === 'up') ops.push({ type: ConfChangeType.PROMOTE, node: l });
    if (conf.voters.length > VOTERS_MIN)
      for (const v of conf.voters) ops.push({ type: ConfChangeType.REMOVE, node: v });
    if (ops.length === 0) return;
    const cc = this.rng.pick(ops);
    if (cc.type === ConfChangeType.ADD_LEARNER) {
      const m = this.addMachine(cc.node, new Prng(this.seed).fork(100 + cc.node));
      this.nextNodeId++;
      this.boot(m);
    }
    this.confBusy = true;
    const name =
      cc.type === ConfChangeType.ADD_LEARNER
        ? 'ADD_LEARNER'
        : cc.type === ConfChangeType.PROMOTE
          ? 'PROMOTE'
          : 'REMOVE';
    this.trace(`CONF ${name} n${cc.node} at n${leader.id}`);
    leader.replica!.changeMembershipThen(cc, (r) => {
      this.confBusy = false;
      this.trace(`CONF ${name} n${cc.node}: ${r.ok ? `applied at ${r.index}` : r.error}`);
      if (!r.ok && cc.type === ConfChangeType.ADD_LEARNER && r.error !== 'LEADER_CHANGED' && r.error !== 'STOPPING') {
        // Never proposed: the new host goes away again.
        const m = this.machines.get(cc.node);
        if (m !== undefined && !this.oracle.everMember(cc.node)) this.removeMachine(m, 'its ADD_LEARNER was refused');
      }
    });
  }

  private removeMachine(m: SimMachine, why: string): void {
    this.trace(`REMOVE n${m.id}: ${why}`);
    m.remove();
    this.upAt.delete(m.id);
    this.net.dropAll(m.id);
  }

  /** Machines whose removal every live member's log holds and applied: stopped for good. */
  private processRemovals(): void {
    for (const id of this.oracle.takeRemovals()) {
      const m = this.machines.get(id);
      if (m !== undefined && m.status !== 'removed') this.removeMachine(m, 'its REMOVE was applied');
    }
  }

  // ---- Clients ----

  private clientsAct(): void {
    this.processRemovals();
    this.takeAnswers();
    for (const c of this.clients) {
      if (c.session === 0) {
        if (c.registering === undefined || this.now >= c.registering.retryAt) this.register(c);
        continue;
      }
      if (c.out === undefined) {
        if (this.phase !== 'main' || !this.clientRng.chance(this.profile.proposeP)) continue;
        c.out = { reqSeq: c.nextReqSeq++, body: this.command(c), retryAt: this.now, attempts: 0, attempt: 0 };
      }
      if (this.now >= c.out.retryAt) this.attempt(c, c.out);
    }
  }

  /** A node to send to: the client's guess of the leader, mostly. */
  private pickNode(c: SimClient): SimMachine | undefined {
    const ids = [...this.machines.values()].filter((m) => m.status !== 'removed').map((m) => m.id);
    const id = c.leaderGuess !== NONE && this.clientRng.chance(0.9) ? c.leaderGuess : this.clientRng.pick(ids);
    const m = this.machines.get(id);
    if (m === undefined || m.replica === undefined || m.paused) {
      c.leaderGuess = NONE;
      return undefined;
    }
    return m;
  }

  private register(c: SimClient): void {
    const attempt = ++c.attempt;
    c.registering = { attempt, retryAt: this.now + CLIENT_TIMEOUT_STEPS };
    const m = this.pickNode(c);
    if (m === undefined) {
      c.registering.retryAt = this.now + CLIENT_BACKOFF_STEPS;
      return;
    }
    this.stats.registrations++;
    m.replica!.proposeEncoded({ clientId: 0, requestSeq: 0, body: new Uint8Array(0) }, (err, result) => {
      if (c.registering?.attempt !== attempt || c.session !== 0) return;
      if (err !== undefined) {
        this.refused(c, err);
        c.registering.retryAt = this.now + CLIENT_BACKOFF_STEPS;
        return;
      }
      if (result!.outcome !== ApplyOutcome.REGISTERED)
        this.fail(`client ${c.index}: a registration answered outcome ${result!.outcome}`);
      c.session = result!.clientId;
      c.nextReqSeq = 1;
      c.registering = undefined;
      this.trace(`REGISTERED c${c.index} as session ${c.session}`);
    });
  }

  /** A new engine command: mostly limit orders around a fixed price, sometimes a cancel of an earlier one. */
  private command(c: SimClient): Uint8Array {
    const r = this.clientRng;
    const account = 1 + ((c.index - 1) % 3);
    if (c.orders > 0 && r.chance(0.25)) {
      return encodeJsonCommand({ type: 'cancel', account, clOrdId: `c${c.index}-${c.session}-${1 + r.int(c.orders)}` });
    }
    c.orders++;
    return encodeJsonCommand({
      type: 'new',
      account,
      clOrdId: `c${c.index}-${c.session}-${c.orders}`,
      symbol: 'SIM',
      side: r.chance(0.5) ? 'BUY' : 'SELL',
      ordType: 'LIMIT',
      price: 95 + r.int(11),
      qty: 1 + r.int(5),
    });
  }

  private attempt(c: SimClient, out: Outstanding): void {
    out.attempts++;
    const attempt = (out.attempt = ++c.attempt);
    const m = this.pickNode(c);
    if (m === undefined) {
      out.retryAt = this.now + CLIENT_BACKOFF_STEPS;
      return;
    }
    out.retryAt = this.now + CLIENT_TIMEOUT_STEPS;
    this.stats.proposals++;
    const session = c.session;
    m.replica!.proposeEncoded({ clientId: session, requestSeq: out.reqSeq, body: out.body }, (err, result) => {
      // Answers to an earlier send still count when they are a success; refusals only for the latest.
      if (c.out === undefined || c.out.reqSeq !== out.reqSeq || c.session !== session) return;
      if (err !== undefined) {
        if (attempt !== c.out.attempt) return;
        this.refused(c, err);
        c.out.retryAt = this.now + (err.leader !== NONE ? 1 : CLIENT_BACKOFF_STEPS);
        return;
      }
      // The answer comes from inside the leader's apply, before the oracle has seen that apply:
      // the client takes it at the end of the step.
      this.answers.push({ c, by: m.id, result: result!, session, reqSeq: out.reqSeq });
    });
  }

  private takeAnswers(): void {
    const answers = this.answers;
    this.answers = [];
    for (const a of answers) {
      const c = a.c;
      if (c.out === undefined || c.out.reqSeq !== a.reqSeq || c.session !== a.session) continue;
      this.answered(c, a.by, a.result);
    }
  }

  private refused(c: SimClient, err: ProposalError): void {
    if (!err.retryable) this.fail(`client ${c.index}: a proposal refused for good: ${err.code}`);
    c.leaderGuess = err.leader;
  }

  private answered(c: SimClient, by: NodeId, result: ApplyResult): void {
    const out = c.out!;
    switch (result.outcome) {
      case ApplyOutcome.APPLIED:
      case ApplyOutcome.DUPLICATE:
        this.oracle.onAck(c.session, out.reqSeq, result, by, this.now);
        this.stats.acks++;
        c.acked++;
        c.out = undefined;
        c.leaderGuess = by;
        return;
      case ApplyOutcome.SESSION_EXPIRED:
      case ApplyOutcome.UNKNOWN_SESSION:
        // Evicted: the outcome of this request is unknown (it may have been applied under the
        // old session); it is never resent under a new one. A new session for what comes next.
        this.stats.sessionsExpired++;
        // Nothing to check now: a later apply of this request would be caught as applied twice.
        this.trace(`EXPIRED c${c.index} session ${c.session} at request ${out.reqSeq}`);
        c.session = 0;
        c.out = undefined;
        return;
      default:
        this.fail(
          `client ${c.index} session ${c.session}: request ${out.reqSeq} answered outcome ${result.outcome} (a client that sends in order never sees a gap)`,
        );
    }
  }

  // ---- Elections (profile "elections") ----

  private watchElections(): void {
    if (this.killAt < 0) return;
    const leader = this.currentLeader();
    if (leader === undefined) return;
    if (!this.successorCommitted(leader)) return;
    const took = this.now - this.killAt;
    this.killAt = -1;
    this.stats.elections++;
    this.stats.electionStepsMax = Math.max(this.stats.electionStepsMax, took);
    const led =
      leader.paxos !== undefined
        ? `ballot ${leader.paxos.paxos.ballot.round}.${leader.id}`
        : `term ${leader.node!.raft.term}`;
    this.trace(`ELECTED n${leader.id} ${led}, first commit ${took} steps after the kill`);
    const max = this.consensus === 'multipaxos' ? PAXOS_ELECTION_STEPS_MAX : ELECTION_STEPS_MAX;
    if (took > max)
      this.fail(
        `liveness: a new leader committed only ${took} steps after the leader was killed (${this.consensus === 'multipaxos' ? 'PAXOS_' : ''}ELECTION_STEPS_MAX ${max})`,
      );
  }

  /** The leader has committed an entry of its own: its term's no-op (Raft), a value of its own ballot at its chosen prefix (Multi-Paxos). */
  private successorCommitted(leader: SimMachine): boolean {
    if (leader.paxos !== undefined) {
      const c = leader.paxos.paxos;
      const v = c.slots.learnedAt(c.slots.chosen)?.value;
      return v !== undefined && ballotEquals(v.origin, c.ballot);
    }
    const r = leader.node!.raft;
    return r.termAt(r.commitIndex) === r.term;
  }

  // ---- Healing: everything back, then bounded progress ----

  private heal(): void {
    this.phase = 'heal';
    this.net.healAll();
    this.partitionUntil = -1;
    this.net.faults = { delayMin: 1, delayMax: Math.min(this.profile.net.delayMax, 4), lossP: 0, dupP: 0 };
    this.killAt = -1;
    this.powerCutAllAt = -1;
    for (const m of this.machines.values()) {
      if (m.status === 'removed') continue;
      if (m.paused) m.resume();
      if (m.armed) m.crash(); // a kill armed in the faulty phase must not land in this one
      if (m.status === 'down') this.boot(m);
    }
    this.upAt.clear();
    this.trace('HEAL everything: network, processes restarted and resumed');
    const start = this.now;
    const probe = new SimClient(this.clients.length + 1);
    this.clients.push(probe);
    const deadline = this.now + HEAL_STEPS_MAX;
    // The probe registers and sends one command: a leader must commit both.
    while (probe.acked === 0) {
      if (this.now >= deadline)
        this.fail(
          `liveness: no leader committed a new command within ${HEAL_STEPS_MAX} steps after healing (${this.describeNodes()})`,
        );
      for (const m of this.machines.values()) if (m.status === 'down') this.boot(m); // died starting
      if (probe.session !== 0 && probe.out === undefined)
        probe.out = {
          reqSeq: probe.nextReqSeq++,
          body: this.command(probe),
          retryAt: this.now,
          attempts: 0,
          attempt: 0,
        };
      this.stepOnce();
    }
    this.stats.healSteps = this.now - start;
    for (const c of this.clients) c.out = undefined;
    const target = this.oracle.maxAckedIndex;
    const deadline2 = this.now + CONVERGE_STEPS_MAX;
    for (;;) {
      const behind = this.oracle
        .members(this.machines)
        .filter((m) => m.replica === undefined || m.replica.stateMachine.appliedIndex < target);
      if (behind.length === 0) break;
      for (const m of this.machines.values()) if (m.status === 'down') this.boot(m); // died starting
      if (this.now >= deadline2)
        this.fail(
          `liveness: members ${behind.map((m) => `n${m.id}(applied ${m.replica?.stateMachine.appliedIndex ?? '-'}, ${m.status})`).join(' ')} did not apply index ${target} within ${CONVERGE_STEPS_MAX} steps (${this.describeNodes()})`,
        );
      this.stepOnce();
    }
    this.oracle.finalChecks(this.machines);
  }

  private describeNodes(): string {
    return this.upMachines()
      .map((m) => {
        if (m.paxos !== undefined) {
          const st = m.paxos.paxos.status();
          return `n${m.id}:${PAXOS_ROLE_NAMES[st.role]}/b${st.ballot.round}.${st.ballot.leader}/p${ballotToTerm(st.promised)}/ld${st.leader}/c${st.chosen}/a${st.applied}`;
        }
        const r = m.node!.raft;
        return `n${m.id}:${ROLE_NAMES[r.role]}/t${r.term}/ld${r.leader}/c${r.commitIndex}/l${r.lastIndex}${r.logTailLost ? '/TAIL-LOST' : ''} voters ${r.conf().voters}`;
      })
      .join('; ');
  }
}

const MESSAGE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]));
const ROLE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Role).map(([k, v]) => [v, k]));
const PAXOS_ROLE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(PaxosRole).map(([k, v]) => [v, k]));

function describeItem(m: Message | PaxosWire): string {
  return 'out' in m ? describePaxosWire(m) : describeMessage(m);
}

export function describeMessage(m: Message): string {
  let s = `${MESSAGE_NAMES[m.type] ?? m.type} ${m.from}->${m.to} t${m.term}`;
  if (m.type === MessageType.APPEND) s += ` prev=${m.index}/${m.logTerm} n=${m.entries.length} c=${m.commit}`;
  else if (m.type === MessageType.APPEND_RESP)
    s += ` i=${m.index}${m.reject ? ` REJECT hint=${m.rejectHint}/${m.logTerm}` : ''}`;
  else if (m.type === MessageType.VOTE || m.type === MessageType.PRE_VOTE) s += ` last=${m.index}/${m.logTerm}`;
  else if (m.type === MessageType.VOTE_RESP || m.type === MessageType.PRE_VOTE_RESP)
    s += m.reject ? ' REJECT' : ' GRANT';
  else if (m.type === MessageType.SNAPSHOT && m.snapshot)
    s += ` snap=${m.snapshot.meta.index}/${m.snapshot.meta.term} off=${m.snapshot.offset}${m.snapshot.done ? ' done' : ''}`;
  else if (m.type === MessageType.HEARTBEAT || m.type === MessageType.HEARTBEAT_RESP) s += ` c=${m.commit}`;
  return s;
}

/** Runs one seed of one profile; throws SimFailure on any violated invariant. */
export function runSim(opts: SimOptions): SimStats {
  return new ClusterSim(opts).run();
}

/** The shell command that replays a seed. */
export function replayCommand(
  seed: number,
  profile: string,
  mutant?: string,
  consensus: SimConsensus = 'raft',
): string {
  return `npm run sim -- --seeds ${seed} --profile "${profile}"${consensus !== 'raft' ? ` --consensus ${consensus}` : ''}${mutant !== undefined ? ` --mutant ${mutant}` : ''} --trace`;
}
