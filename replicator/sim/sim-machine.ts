// One simulated host running one production replica (replicator/node.ts ReplicaNode, or
// replicator/paxos/paxos-node.ts PaxosNode for a Multi-Paxos cluster) with the real WAL over a simulated disk (sim-fs.ts), simulated time (scheduler.ts) and the simulated
// network the owner wires to `send`. The machine outlives the process: crash() kills the
// process (the page cache survives), powerLoss() also loses what was not synced, boot() starts
// a new process that recovers from what the disk kept — exactly what a restarted replica does.
//
// The process may also die in the middle of its work: armCrash(n) kills it at its n-th
// mutating disk call or message send from now, so the simulator can stop it between any two
// I/O steps of the host loop (WAL write, fsync, hard-state save, snapshot save, send).

import type { ShardConfig } from '../../engine/types.js';
import { ReplicaNode, type ReplicaNodeOptions } from '../node.js';
import { PaxosNode, type PaxosNodeOptions, type PaxosOutbound } from '../paxos/paxos-node.js';
import type { Prng } from '../prng.js';
import type { EventBuffer } from '../../engine/event-buffer.js';
import type { Entry, Message, NodeId } from '../raft/types.js';
import type { AppliedEntry } from '../log.js';
import type { ReplicaRuntime } from '../runtime.js';
import type { ApplyResult } from '../../shard/state-machine.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import type { SimScheduler, TaskOwner } from './scheduler.js';
import { SimCrashError, SimFs, isSimCrash } from './sim-fs.js';
import { linesLog, NO_LOG } from '../../ops/log.js';
import { toWire, type PaxosWire } from './paxos-wire.js';

/** Where every simulated host keeps its data (the replica uses `<dir>/node-<id>/`). */
export const SIM_DATA_DIR = '/data';

export type MachineStatus = 'up' | 'down' | 'removed';

/** The consensus protocol the simulated cluster runs (the replica each host boots). */
export type SimConsensus = 'raft' | 'multipaxos';

/** The running replica, whichever protocol: what clients and the final checks use. */
export type SimReplica = ReplicaNode | PaxosNode;

/** What the simulator configures for every replica it boots. */
export interface MachineConfig {
  shardConfig: ShardConfig;
  /** Genesis voters. */
  members: NodeId[];
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotIntervalEntries: number;
  timeTickMs: number;
  raft: NonNullable<ReplicaNodeOptions['raft']>;
  wal: NonNullable<ReplicaNodeOptions['wal']>;
  /** Client sessions kept by each state machine (small, so eviction happens). */
  sessionsMax?: number;
  /** Per-step probability that a disk completion takes a long stall instead of its usual latency. */
  diskStallP: number;
  diskLatencyMs: [number, number];
  diskStallMs: [number, number];
  /** Clock skew of this host (ms) and its tick period jitter (± ms). */
  tickJitterMs: number;
  /** Ticks only when the owner calls tick() (scenario tests); otherwise every tickMs of simulated time. */
  manualTicks?: boolean;
  /** Chance that the last write a power loss keeps is torn (default: SimFs's). */
  tornWriteP?: number;
  /** Seed for the election-timeout draws (default: the host's PRNG); scenario tests pin them. */
  random?: (id: NodeId) => (n: number) => number;
  /** The replica booted: ReplicaNode (default) or PaxosNode. */
  consensus?: SimConsensus;
  /** Multi-Paxos windows (small, so their edges are reached); default limits.ts. */
  paxosWindows?: PaxosNodeOptions['windows'];
}

/** Hooks the simulator's oracle listens on (every one optional). */
export interface MachineHooks {
  send(from: SimMachine, msgs: Message[]): void;
  /** What a PaxosNode sends (Multi-Paxos clusters). */
  sendPaxos?(from: SimMachine, out: PaxosWire[]): void;
  applied?(m: SimMachine, results: ApplyResult[], events: EventBuffer, entry: Entry): void;
  /** The state machine was rebuilt from a snapshot: at boot, or a leader's (`installed`). */
  stateReset?(m: SimMachine, installed: boolean): void;
  /** The process died of something other than a planned crash: a bug (a broken invariant, a WAL failure). */
  fatal(m: SimMachine, err: unknown): void;
  trace?(line: string): void;
}

/** One life of the replica process (a TaskOwner for the scheduler). */
class Life implements TaskOwner {
  alive = true;
  paused = false;
  readonly held: (() => void)[] = [];
}

export class SimMachine {
  readonly fs: SimFs;
  /** The running Raft replica (Raft clusters). */
  node: ReplicaNode | undefined;
  /** The running Multi-Paxos replica (Multi-Paxos clusters). */
  paxos: PaxosNode | undefined;
  status: MachineStatus = 'down';
  lives = 0;
  /** A crash is armed in this life (armCrash) and has not fired. */
  armed = false;
  private life = new Life();
  private booting = false;
  /** The tick timers of the running process (manualTicks). */
  private tickFns: (() => void)[] = [];
  /** Sends left before an armed crash fires at a send (undefined: none armed). */
  private sendCrashCountdown: number | undefined;
  /** Clock skew of this host, fixed for the run (ms). */
  private readonly skewMs: number;

  constructor(
    readonly id: NodeId,
    private readonly sched: SimScheduler,
    private readonly cfg: MachineConfig,
    private readonly rng: Prng,
    private readonly hooks: MachineHooks,
  ) {
    this.skewMs = rng.int(1000);
    this.fs = new SimFs({
      prng: rng.fork(1),
      schedule: (run) => {
        const latency = rng.chance(cfg.diskStallP) ? rng.range(...cfg.diskStallMs) : rng.range(...cfg.diskLatencyMs);
        // Owned by the process now running: a paused process finishes nothing until it resumes.
        // A completion whose callback hits the armed crash kills the process (onKill) while its
        // code unwinds; a later disk call of that code then throws "the process is dead" (the
        // WAL closes retired segments after a failed sync-mark write): the death, not a bug.
        const life = this.life;
        this.sched.at(
          this.sched.now + latency,
          () => {
            try {
              run();
            } catch (err) {
              if (!isSimCrash(err) || life.alive) throw err;
            }
          },
          life,
        );
      },
      // An armed crash fired inside a disk call: the process is dead from here on, whatever the
      // code does with the error (nothing it sends or schedules runs any more).
      onKill: () => this.kill(this.life),
      ...(cfg.tornWriteP !== undefined ? { tornWriteP: cfg.tornWriteP } : {}),
    });
  }

  get paused(): boolean {
    return this.life.paused;
  }

  /** The running replica of either protocol (undefined while the process is down). */
  get replica(): SimReplica | undefined {
    return this.node ?? this.paxos;
  }

  /** Starts a replica process on what this host's disk holds. False if it died starting (an armed crash). */
  boot(): boolean {
    this.life = new Life();
    this.lives++;
    this.status = 'up';
    const life = this.life;
    const runtime = this.runtime(life);
    const sm = new ShardStateMachine(
      this.cfg.shardConfig,
      this.cfg.sessionsMax !== undefined ? { sessionCountMax: this.cfg.sessionsMax } : {},
    );
    const node =
      this.cfg.consensus === 'multipaxos' ? this.newPaxosNode(life, runtime, sm) : this.newRaftNode(life, runtime, sm);
    this.booting = true;
    try {
      node.start();
    } catch (err) {
      this.died(life, err);
      return false;
    } finally {
      this.booting = false;
    }
    return life.alive;
  }

  /** What both replicas take from the host alike: identity, the disk, clock and timers, the observers. */
  private hostOptions(life: Life, runtime: ReplicaRuntime, sm: ShardStateMachine) {
    return {
      id: this.id,
      members: this.cfg.members,
      dataDir: SIM_DATA_DIR,
      shardConfig: this.cfg.shardConfig,
      stateMachine: sm,
      random: this.cfg.random?.(this.id) ?? ((n: number) => this.rng.int(n)),
      tickMs: this.cfg.tickMs,
      electionTicks: this.cfg.electionTicks,
      heartbeatTicks: this.cfg.heartbeatTicks,
      timeTickMs: this.cfg.timeTickMs,
      wal: this.cfg.wal,
      runtime,
      fs: this.fs,
      onFatal: (err: unknown) => this.died(life, err),
      // The node's log joins the trace (kept only with tracing on: formatting costs otherwise).
      log: this.hooks.trace !== undefined ? linesLog((line) => this.hooks.trace?.(`n${this.id} ${line}`)) : NO_LOG,
      onApplied: (applied: AppliedEntry, entry: Entry) => {
        if (life.alive) this.hooks.applied?.(this, applied.results, applied.events, entry);
      },
      onStateReset: () => {
        if (life.alive) this.hooks.stateReset?.(this, !this.booting);
      },
    };
  }

  private newRaftNode(life: Life, runtime: ReplicaRuntime, sm: ShardStateMachine): ReplicaNode {
    const node = new ReplicaNode({
      ...this.hostOptions(life, runtime, sm),
      send: (msgs) => this.send(life, msgs, (from, sent) => this.hooks.send(from, sent)),
      fsync: true,
      snapshotIntervalEntries: this.cfg.snapshotIntervalEntries,
      raft: this.cfg.raft,
    });
    this.node = node;
    return node;
  }

  /** The production Multi-Paxos replica, wired exactly as the Raft one: same disk, clock, timers, sends. */
  private newPaxosNode(life: Life, runtime: ReplicaRuntime, sm: ShardStateMachine): PaxosNode {
    const node = new PaxosNode({
      ...this.hostOptions(life, runtime, sm),
      send: (out) =>
        this.send(life, out, (from, sent: PaxosOutbound[]) => this.hooks.sendPaxos?.(from, sent.map(toWire))),
      snapshotIntervalSlots: this.cfg.snapshotIntervalEntries,
      ...(this.cfg.paxosWindows !== undefined ? { windows: this.cfg.paxosWindows } : {}),
    });
    this.paxos = node;
    return node;
  }

  /** The process is killed (SIGKILL) now: nothing is lost from the page cache. */
  crash(): void {
    this.endLife();
    this.fs.crash();
  }

  /** The host loses power: what was not synced may be lost or torn (`tearLast`: kept, the last write torn); the process dies. */
  powerLoss(tearLast = false): void {
    this.endLife();
    this.fs.powerLoss(tearLast);
  }

  /** The process will die at its n-th mutating disk call or message send from now (SIGKILL at that point). */
  armCrash(n: number, atSend: boolean): void {
    this.armed = true;
    if (atSend) this.sendCrashCountdown = n;
    else this.fs.armCrash(n);
  }

  /** SIGSTOP / SIGCONT: a paused process runs nothing; its due work waits. */
  pause(): void {
    this.life.paused = true;
  }

  resume(): void {
    const life = this.life;
    life.paused = false;
    const held = life.held.splice(0);
    for (const fn of held) this.sched.at(this.sched.now, fn, life);
  }

  /** Removed from the cluster and stopped for good. */
  remove(): void {
    this.endLife();
    this.status = 'removed';
  }

  /** One tick of this process's timer (manualTicks). */
  tick(): void {
    for (const fn of this.tickFns) fn();
  }

  /** A task of this process at step `at` (dropped if the process dies first, held while paused). */
  at(at: number, fn: () => void): void {
    this.sched.at(at, fn, this.life);
  }

  private endLife(): void {
    this.life.alive = false;
    this.tickFns = [];
    this.armed = false;
    this.node = undefined;
    this.paxos = undefined;
    this.sendCrashCountdown = undefined;
    if (this.status === 'up') this.status = 'down';
  }

  private died(life: Life, err: unknown): void {
    if (!life.alive) return;
    if (isSimCrash(err)) return this.kill(life);
    this.crash();
    this.hooks.fatal(this, err);
  }

  /**
   * The process dies at an armed point. Its code may still be on the stack, unwinding: every
   * disk call of it keeps failing until the file system is reset, after the current task.
   */
  private kill(life: Life): void {
    if (!life.alive) return;
    this.endLife();
    this.sched.defer(() => this.fs.crash());
  }

  private send<T>(life: Life, msgs: T[], deliver: (from: SimMachine, msgs: T[]) => void): void {
    if (!life.alive) return;
    if (this.sendCrashCountdown !== undefined) {
      // Killed at this send: the messages before it in this call left, the rest did not.
      const left = this.sendCrashCountdown;
      if (left < msgs.length) {
        if (left > 0) deliver(this, msgs.slice(0, left));
        this.sendCrashCountdown = undefined;
        this.kill(life);
        throw new SimCrashError(`simulated kill at a send (${left} of ${msgs.length} messages left)`);
      }
      this.sendCrashCountdown = left - msgs.length;
    }
    deliver(this, msgs);
  }

  /** Simulated clock and timers for one life: skewed per host, tick periods jittered. */
  private runtime(life: Life): ReplicaRuntime {
    const sched = this.sched;
    const jitter = this.cfg.tickJitterMs;
    const rng = this.rng;
    return {
      nowMs: () => 1_700_000_000_000 + sched.now + this.skewMs,
      every: (ms, fn) => {
        if (this.cfg.manualTicks === true) {
          const tickFns = this.tickFns;
          tickFns.push(fn);
          return () => {
            const i = tickFns.indexOf(fn);
            if (i >= 0) tickFns.splice(i, 1);
          };
        }
        let cancelled = false;
        const next = () => {
          if (cancelled) return;
          fn();
          sched.at(sched.now + Math.max(1, ms + (jitter > 0 ? rng.range(-jitter, jitter) : 0)), next, life);
        };
        sched.at(sched.now + ms, next, life);
        return () => {
          cancelled = true;
        };
      },
      after: (ms, fn) => {
        let cancelled = false;
        sched.at(
          sched.now + ms,
          () => {
            if (!cancelled) fn();
          },
          life,
        );
        return () => {
          cancelled = true;
        };
      },
      defer: (fn) => sched.defer(fn, life),
      entropy: () => rng.int(2 ** 32),
    };
  }
}
