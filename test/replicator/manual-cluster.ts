// A hand-driven cluster of PRODUCTION replicas for scenario tests: each node is a real
// ReplicaNode (replicator/node.ts) with the real WAL on a simulated disk
// (replicator/sim/sim-machine.ts), but the test decides which node ticks and which messages
// are delivered, dropped or altered, and disk writes complete at once. A restarted node
// recovers from its disk only. Election timeouts are fixed per node unless a test asks for
// randomness, so "who times out first" is the test's choice.
//
// The host loop is the production one: nothing here persists, sends or applies on a node's
// behalf. `process(id)`/`settle()` just let each node run until it waits for input.

import { encodeJsonCommand } from '../../shard/json-command.js';
import type { RaftCore } from '../../replicator/raft/raft-core.js';
import {
  MessageType,
  Role,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type ReadState,
} from '../../replicator/raft/types.js';
import { Prng } from '../../replicator/prng.js';
import { SIM_SHARD_CONFIG } from '../../replicator/sim/cluster-sim.js';
import { SimScheduler } from '../../replicator/sim/scheduler.js';
import { SIM_DATA_DIR, SimMachine, type MachineConfig } from '../../replicator/sim/sim-machine.js';
import { copyMessage } from '../../replicator/sim/sim-network.js';
import { decodeHardState, HARD_STATE_FILE, type HardState } from '../../replicator/wal/hard-state.js';
import { decodeRecord } from '../../replicator/wal/record.js';
import { decodeTailLost, TAIL_LOST_FILE, type TailLoss } from '../../replicator/wal/tail-loss.js';

export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 1;
/** Delivery rounds before stabilize() gives up (a livelock in the scenario). */
export const ROUNDS_MAX = 1000;

export interface ManualOptions {
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Per node: the value `random(n)` returns (clamped to n-1), i.e. timeout = electionTicks + value. Default: node 1 → 0, others → n-1. */
  timeoutOffset?: (id: NodeId) => number;
  snapshotChunkBytes?: number;
  appendBytesMax?: number;
  inflightMessagesMax?: number;
  uncommittedEntriesMax?: number;
  /** Applied entries between snapshots (default: never in a scenario). */
  snapshotIntervalEntries?: number;
}

export class ManualNode {
  /** Entries applied in this life. */
  applied: Entry[] = [];
  readStates: ReadState[] = [];
  constructor(readonly machine: SimMachine) {}

  get id(): NodeId {
    return this.machine.id;
  }

  get c(): RaftCore {
    const n = this.machine.node;
    if (n === undefined) throw new Error(`node ${this.id} is down`);
    return n.raft;
  }

  get up(): boolean {
    return this.machine.node !== undefined;
  }

  /** The configuration as of the applied index. */
  get conf(): ConfState {
    return this.c.confAt(Math.max(this.machine.node!.stateMachine.appliedIndex, this.c.firstIndex - 1));
  }

  /** The state machine of the running process. */
  get sm(): { stateHash(): string; appliedIndex: number } {
    const n = this.machine.node;
    if (n === undefined) throw new Error(`node ${this.id} is down`);
    return { stateHash: () => n.stateHash(), appliedIndex: n.stateMachine.appliedIndex };
  }

  /** What the node's disk holds durably (a power loss now would keep this). */
  get disk(): { hardState: HardState; tailLost: TailLoss | undefined; snapshotIndex: number } {
    const fs = this.machine.fs;
    const dir = `${SIM_DATA_DIR}/node-${this.id}`;
    const hsBytes = fs.durableBytes(`${dir}/${HARD_STATE_FILE}`);
    const hs = hsBytes === undefined ? { term: 0, vote: 0, commit: 0 } : decodeHardState(hsBytes);
    if (typeof hs === 'string') throw new Error(`node ${this.id}: hard state does not decode: ${hs}`);
    const marker = fs.durableBytes(`${dir}/${TAIL_LOST_FILE}`);
    const snaps = fs
      .files(dir)
      .filter((f) => /^snap-\d{20}\.snap$/.test(f) && fs.durableBytes(`${dir}/${f}`) !== undefined);
    const snapshotIndex = snaps.length === 0 ? 0 : Math.max(...snaps.map((f) => Number(f.slice(5, 25))));
    return { hardState: hs, tailLost: marker === undefined ? undefined : decodeTailLost(marker), snapshotIndex };
  }
}

/** What a delivery filter returns: deliver the message, a replacement, or drop it (false). */
export type Filter = (m: Message) => boolean | Message;

export class ManualCluster {
  readonly nodes = new Map<NodeId, ManualNode>();
  /** Messages sent and not delivered yet, in send order. */
  queue: Message[] = [];
  /** Every message ever sent (for assertions). */
  readonly sent: Message[] = [];
  private readonly cut = new Set<string>();
  private readonly sched = new SimScheduler();
  private readonly cfg: MachineConfig;
  private reqSeq = 0;
  /** Processes that died of a real error (not a planned kill): a test expects none unless it says so. */
  readonly failures: { id: NodeId; err: unknown }[] = [];

  constructor(
    ids: NodeId[],
    opts: ManualOptions = {},
    readonly genesis: ConfState = { voters: [...ids], learners: [] },
  ) {
    const offset = opts.timeoutOffset ?? ((i: NodeId) => (i === 1 ? 0 : 1_000));
    this.cfg = {
      shardConfig: SIM_SHARD_CONFIG,
      members: [...genesis.voters],
      tickMs: 10,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      snapshotIntervalEntries: opts.snapshotIntervalEntries ?? 1_000_000,
      timeTickMs: 0,
      raft: {
        inflightMessagesMax: opts.inflightMessagesMax ?? 8,
        inflightBytesMax: 1 << 20,
        appendBytesMax: opts.appendBytesMax ?? 1 << 20,
        uncommittedEntriesMax: opts.uncommittedEntriesMax ?? 1000,
        snapshotChunkBytes: opts.snapshotChunkBytes ?? 1 << 20,
        preVote: opts.preVote ?? false,
        checkQuorum: opts.checkQuorum ?? false,
      },
      wal: { segmentBytesMax: 4096 },
      diskLatencyMs: [0, 0],
      diskStallP: 0,
      diskStallMs: [0, 0],
      tickJitterMs: 0,
      manualTicks: true,
      random: (id) => (n) => Math.min(n - 1, offset(id)),
    };
    for (const id of ids) this.add(id);
  }

  /** A new host running a replica (a node not in the genesis membership starts as nobody's voter). */
  add(id: NodeId): ManualNode {
    const machine = new SimMachine(id, this.sched, this.cfg, new Prng(1000 + id), {
      send: (from, msgs) => {
        for (const m of msgs) {
          // Every message that carries a term leaves only once that term is on disk (pre-votes
          // carry the term they would campaign in, not one they hold).
          const preVote = m.type === MessageType.PRE_VOTE || (m.type === MessageType.PRE_VOTE_RESP && !m.reject);
          const durable = this.nodes.get(from.id)?.disk.hardState.term ?? 0;
          if (!preVote && durable < m.term)
            throw new Error(
              `node ${from.id} sent a message of term ${m.term} before that term was durable (durable term ${durable})`,
            );
          this.queue.push(m);
          this.sent.push(m);
        }
      },
      applied: (m, _results, _events, entry) => this.nodes.get(m.id)?.applied.push(entry),
      fatal: (m, err) => {
        this.failures.push({ id: m.id, err });
      },
    });
    const node = new ManualNode(machine);
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  node(id: NodeId): ManualNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).c;
  }

  // ---- Network ----

  /** Cuts both directions between `a` and every node in `others` (default: all). */
  isolate(a: NodeId, others: NodeId[] = [...this.nodes.keys()]): void {
    for (const b of others)
      if (b !== a) {
        this.cut.add(`${a}>${b}`);
        this.cut.add(`${b}>${a}`);
      }
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Delivers the messages queued now (not those they cause), then lets every node run. Returns how many were delivered. */
  deliver(filter: Filter = () => true): number {
    const batch = this.queue;
    this.queue = [];
    let n = 0;
    for (const m0 of batch) {
      if (this.cut.has(`${m0.from}>${m0.to}`)) continue;
      const f = filter(m0);
      if (f === false) continue;
      const m = f === true ? m0 : f;
      const node = this.nodes.get(m.to)?.machine.node;
      if (node === undefined) continue;
      node.receive([copyMessage(m)]);
      n++;
      this.settle();
    }
    this.processAll();
    return n;
  }

  /** Delivers until no message is left (or ROUNDS_MAX rounds). */
  stabilize(filter: Filter = () => true): void {
    this.processAll();
    for (let r = 0; this.queue.length > 0; r++) {
      if (r >= ROUNDS_MAX) throw new Error(`stabilize: still ${this.queue.length} messages after ${ROUNDS_MAX} rounds`);
      this.deliver(filter);
    }
  }

  /** Removes and returns the queued messages matching `pred` (the test delivers them itself). */
  take(pred: (m: Message) => boolean): Message[] {
    const out = this.queue.filter(pred);
    this.queue = this.queue.filter((m) => !pred(m));
    return out;
  }

  /**
   * Like stabilize(), but messages matching `hold` are kept aside instead of delivered (a slow
   * link, not a lossy one). Returns them; release() puts them back in the queue.
   */
  stabilizeHolding(hold: (m: Message) => boolean, held: Message[] = []): Message[] {
    this.processAll();
    for (let r = 0; ; r++) {
      held.push(...this.take(hold));
      if (this.queue.length === 0) return held;
      if (r >= ROUNDS_MAX)
        throw new Error(`stabilizeHolding: still ${this.queue.length} messages after ${ROUNDS_MAX} rounds`);
      this.deliver();
    }
  }

  release(held: Message[]): void {
    this.queue.push(...held);
    held.length = 0;
  }

  /** Drops every queued message. */
  dropQueued(): void {
    this.queue = [];
  }

  // ---- Time ----

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).machine.tick();
      this.settle();
    }
  }

  /** Ticks every live node once (in id order). */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) for (const node of this.nodes.values()) if (node.up) this.tick(node.id);
  }

  /** Ticks `id` until `pred` holds; throws after `max` ticks. */
  tickUntil(id: NodeId, pred: () => boolean, max = 4 * ELECTION_TICKS): number {
    for (let i = 1; i <= max; i++) {
      this.tick(id);
      if (pred()) return i;
    }
    throw new Error(`node ${id}: condition not reached within ${max} ticks`);
  }

  /** Node `id` times out, campaigns, and everything is delivered: it must end up leader. */
  elect(id: NodeId): void {
    const start = this.core(id).term;
    this.tickUntil(id, () => this.core(id).role !== Role.FOLLOWER || this.core(id).term > start, 4 * ELECTION_TICKS);
    this.stabilize();
    if (this.core(id).role !== Role.LEADER)
      throw new Error(`node ${id} did not become leader (role ${this.core(id).role}, term ${this.core(id).term})`);
  }

  leader(): ManualNode | undefined {
    let best: ManualNode | undefined;
    for (const n of this.nodes.values())
      if (n.up && n.c.role === Role.LEADER && (best === undefined || n.c.term > best.c.term)) best = n;
    return best;
  }

  // ---- Letting the replicas run ----

  /** Every node runs until it waits for input (its disk writes complete at once). */
  processAll(): void {
    for (const id of this.nodes.keys()) this.process(id);
  }

  /** Node `id` picks up whatever a test did to its core directly, then everything settles. */
  process(id: NodeId): void {
    this.nodes.get(id)?.machine.node?.receive([]);
    this.settle();
  }

  /** Lets everything run until it waits; a replica that died of a real error fails the test here. */
  settle(): void {
    this.sched.settle();
    const f = this.failures[0];
    if (f !== undefined)
      throw new Error(`node ${f.id} died: ${f.err instanceof Error ? (f.err.stack ?? f.err.message) : String(f.err)}`);
  }

  // ---- Faults ----

  /** The process is killed; its disk (page cache included) stays. */
  crash(id: NodeId): void {
    this.node(id).machine.crash();
    this.queue = this.queue.filter((m) => m.from !== id);
  }

  /** The host loses power: what was not fsynced may be lost or torn (`tearLast`: kept, but its last write torn). */
  powerLoss(id: NodeId, tearLast = false): void {
    this.node(id).machine.powerLoss(tearLast);
    this.queue = this.queue.filter((m) => m.from !== id);
  }

  /** Starts a new process on the node's disk. */
  restart(id: NodeId): void {
    this.boot(this.node(id));
  }

  private boot(node: ManualNode): void {
    node.applied = [];
    node.readStates = [];
    if (!node.machine.boot()) throw new Error(`node ${node.id} died while starting`);
    this.settle();
  }

  /**
   * The process is killed at its `n`-th mutating disk call from now (0: the next one), while it
   * handles what the test does next; returns a function that tells whether it died yet.
   */
  killAtDiskCall(id: NodeId, n: number): () => boolean {
    const m = this.node(id).machine;
    m.armCrash(n, false);
    return () => m.node === undefined;
  }

  /**
   * Crashes the node, cuts its `n` newest durable records off the end of its last WAL segment
   * (acknowledged entries lost: a damaged tail, or with `onBoundary` a cut no damaged record
   * shows) and restarts it.
   */
  loseTail(id: NodeId, n: number, onBoundary = false): void {
    this.crash(id);
    const m = this.node(id).machine;
    const dir = `${SIM_DATA_DIR}/node-${id}`;
    const segs = m.fs.files(dir).filter((f) => /^wal-\d{20}\.log$/.test(f));
    const file = `${dir}/${segs[segs.length - 1]!}`;
    const bytes = m.fs.durableBytes(file)!;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const starts: number[] = [];
    for (let at = 0; at < bytes.length; ) {
      const r = decodeRecord(bytes, view, at, bytes.length);
      if (r.kind !== 'entry') break;
      starts.push(at);
      at = r.end;
    }
    if (starts.length < n)
      throw new Error(`node ${id}: its last segment holds ${starts.length} records, cannot lose ${n}`);
    const cut = starts[starts.length - n]!;
    // Not on a boundary: a few bytes of the first lost record stay, so recovery sees a torn one.
    m.fs.truncate(file, onBoundary ? cut : cut + 5);
    this.restart(id);
  }

  // ---- Clients ----

  /**
   * Proposes a fresh command on node `id` and lets the cluster run: ok if the node took it (its
   * log grew), with the index it got; else the refusal's code. (The session is not registered:
   * the state machine refuses it, but the entry is replicated and committed like any other.)
   */
  propose(id: NodeId, payload = 1): { ok: true; index: number } | { ok: false; error: string } {
    const seq = ++this.reqSeq;
    const node = this.node(id).machine.node!;
    let refused: string | undefined;
    const before = node.raft.lastIndex;
    node.proposeEncoded(
      {
        clientId: 1,
        requestSeq: seq,
        body: encodeJsonCommand({ type: 'cancel', account: 1, clOrdId: `p${payload}-${seq}` }),
      },
      (err) => {
        if (err !== undefined && refused === undefined && node.raft.lastIndex === before) refused = err.code;
      },
    );
    this.settle();
    if (refused !== undefined) return { ok: false, error: refused };
    if (node.raft.lastIndex <= before) return { ok: false, error: 'NOT_PROPOSED' };
    return { ok: true, index: node.raft.lastIndex };
  }

  /** A linearizable read on node `id` (ReplicaNode.readIndex); its answer goes to readStates with `context`. */
  read(id: NodeId, context: number): void {
    const n = this.node(id);
    n.machine.node!.readIndex((err, index) => {
      if (err === undefined) n.readStates.push({ index, context });
    });
    this.settle();
  }

  /** (index, term) of every entry in the node's log from firstIndex. */
  logOf(id: NodeId): string[] {
    const c = this.core(id);
    const out: string[] = [];
    for (let i = c.firstIndex; i <= c.lastIndex; i++) out.push(`${i}/${c.termAt(i)}`);
    return out;
  }

  sentOfType(type: MessageType, pred: (m: Message) => boolean = () => true): Message[] {
    return this.sent.filter((m) => m.type === type && pred(m));
  }
}
