// A hand-driven cluster of RaftCore instances for scenario tests: the test decides which
// node ticks and which messages are delivered, dropped or altered. Each node has a
// simulated disk (replicator/sim/sim-disk.ts) and the toy state machine; a restarted node
// recovers from its disk only. Election timeouts are fixed per node unless a test asks
// for randomness, so "who times out first" is the test's choice.

import { RaftCore } from '../../replicator/raft/raft-core.js';
import { SimDisk } from '../../replicator/sim/sim-disk.js';
import { ToyStateMachine, encodeCommand } from '../../replicator/sim/state-machine.js';
import { copyMessage } from '../../replicator/sim/sim-network.js';
import {
  EntryType,
  MessageType,
  Role,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftConfig,
  type ReadState,
  type Ready,
} from '../../replicator/raft/types.js';

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
}

export class ManualNode {
  core: RaftCore | undefined;
  readonly disk: SimDisk;
  sm = new ToyStateMachine();
  /** Entries applied in this life. */
  applied: Entry[] = [];
  readStates: ReadState[] = [];
  conf: ConfState;
  /** Readies processed, for tests that look at what a node wrote. */
  readies: Ready[] = [];
  constructor(
    readonly id: NodeId,
    readonly config: RaftConfig,
  ) {
    this.disk = new SimDisk(id);
    this.conf = { voters: [...config.conf.voters], learners: [...config.conf.learners] };
  }
  get c(): RaftCore {
    if (this.core === undefined) throw new Error(`node ${this.id} is down`);
    return this.core;
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
  private seq = 0;

  constructor(
    ids: NodeId[],
    private readonly opts: ManualOptions = {},
    readonly genesis: ConfState = { voters: [...ids], learners: [] },
  ) {
    for (const id of ids) this.add(id);
  }

  add(id: NodeId): ManualNode {
    const offset = this.opts.timeoutOffset ?? ((i: NodeId) => (i === 1 ? 0 : 1_000));
    const config: RaftConfig = {
      id,
      conf: { voters: [...this.genesis.voters], learners: [...this.genesis.learners] },
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      random: (n) => Math.min(n - 1, offset(id)),
      inflightMessagesMax: this.opts.inflightMessagesMax ?? 8,
      inflightBytesMax: 1 << 20,
      appendBytesMax: this.opts.appendBytesMax ?? 1 << 20,
      uncommittedEntriesMax: this.opts.uncommittedEntriesMax ?? 1000,
      snapshotChunkBytes: this.opts.snapshotChunkBytes ?? 1 << 20,
      preVote: this.opts.preVote ?? false,
      checkQuorum: this.opts.checkQuorum ?? false,
    };
    const node = new ManualNode(id, config);
    node.core = new RaftCore(config);
    this.nodes.set(id, node);
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

  /** Delivers the messages queued now (not those they cause), then processes every node. Returns how many were delivered. */
  deliver(filter: Filter = () => true): number {
    const batch = this.queue;
    this.queue = [];
    let n = 0;
    for (const m0 of batch) {
      if (this.cut.has(`${m0.from}>${m0.to}`)) continue;
      const f = filter(m0);
      if (f === false) continue;
      const m = f === true ? m0 : f;
      const node = this.nodes.get(m.to);
      if (node?.core === undefined) continue;
      node.core.step(copyMessage(m));
      n++;
      this.process(m.to);
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
      if (r >= ROUNDS_MAX) throw new Error(`stabilizeHolding: still ${this.queue.length} messages after ${ROUNDS_MAX} rounds`);
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
      this.node(id).c.tick();
      this.process(id);
    }
  }

  /** Ticks every live node once (in id order). */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) for (const node of this.nodes.values()) if (node.core) this.tick(node.id);
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
    if (this.core(id).role !== Role.LEADER) throw new Error(`node ${id} did not become leader (role ${this.core(id).role}, term ${this.core(id).term})`);
  }

  leader(): ManualNode | undefined {
    let best: ManualNode | undefined;
    for (const n of this.nodes.values()) if (n.core?.role === Role.LEADER && (best === undefined || n.core.term > best.c.term)) best = n;
    return best;
  }

  // ---- Host loop ----

  processAll(): void {
    for (const id of this.nodes.keys()) this.process(id);
  }

  /** The host loop: persist, send, apply, advance, while the core has something. */
  process(id: NodeId): void {
    const node = this.node(id);
    for (let i = 0; node.core?.hasReady(); i++) {
      if (i > ROUNDS_MAX) throw new Error(`node ${id}: endless Readies`);
      const rd = node.core.ready();
      node.readies.push(rd);
      for (const m of rd.messages) this.send(m);
      if (rd.snapshot) node.disk.writeSnapshot({ meta: rd.snapshot.meta, data: rd.snapshot.data });
      for (const e of rd.entries) node.disk.appendEntry(e);
      if (rd.hardState) node.disk.writeHardState(rd.hardState);
      if (rd.logTailRecovered) node.disk.tailLost = undefined;
      for (const m of rd.messagesAfterPersist) this.send(m);
      if (rd.snapshot) {
        node.sm.restore(rd.snapshot.meta, rd.snapshot.data);
        node.conf = rd.snapshot.meta.conf;
      }
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.CONF_CHANGE) node.conf = node.core.confAt(e.index);
        node.sm.apply(e);
        node.applied.push(e);
      }
      node.readStates.push(...rd.readStates);
      node.core.advance(rd);
    }
  }

  private send(m: Message): void {
    this.seq++;
    this.queue.push(m);
    this.sent.push(m);
  }

  // ---- Faults ----

  /** The node stops; its disk stays. */
  crash(id: NodeId): void {
    const node = this.node(id);
    node.core = undefined;
    this.queue = this.queue.filter((m) => m.from !== id);
  }

  /** Restarts from the disk only: a fresh core and state machine. */
  restart(id: NodeId): void {
    const node = this.node(id);
    node.core = new RaftCore(node.config, node.disk.recovered());
    node.sm = new ToyStateMachine();
    node.applied = [];
    node.conf = node.disk.snapshot?.meta.conf ?? node.config.conf;
    if (node.disk.snapshot) node.sm.restore(node.disk.snapshot.meta, node.disk.snapshot.data);
  }

  /**
   * Takes the node's next Ready, sends its early messages, makes only the first `durable`
   * of its writes (snapshot, entries, hard state, in that order) durable, and crashes the
   * node before the fsync completes: a torn write. Returns how many writes the Ready had.
   */
  crashDuringWrite(id: NodeId, durable: number): number {
    const node = this.node(id);
    const rd = node.c.ready();
    for (const m of rd.messages) this.send(m);
    const ops = SimDisk.opsOf(rd.snapshot, rd.entries, rd.hardState);
    for (let i = 0; i < Math.min(durable, ops.length); i++) node.disk.write(ops[i]!);
    this.crash(id);
    return ops.length;
  }

  /** Crashes the node, cuts the last `n` entries off its disk (a damaged WAL tail) and restarts it. */
  loseTail(id: NodeId, n: number, detected = true): void {
    this.crash(id);
    this.node(id).disk.loseTail(n, detected);
    this.restart(id);
  }

  // ---- Clients ----

  private reqSeq = 0;

  /** Proposes a fresh command on `id` and processes its Ready. */
  propose(id: NodeId, payload = 1): ProposeResult {
    const seq = ++this.reqSeq;
    const r = this.core(id).propose(encodeCommand({ clientId: 1, reqSeq: seq, payload: new Uint8Array([payload & 0xff, seq & 0xff]) }));
    this.process(id);
    return r;
  }

  /** Host snapshot at the applied index, then log compaction (what a host does periodically). */
  compact(id: NodeId): number {
    const node = this.node(id);
    const index = node.sm.appliedIndex;
    const term = node.c.termAt(index)!;
    const meta = { index, term, conf: { voters: [...node.conf.voters], learners: [...node.conf.learners] } };
    const data = node.sm.snapshot();
    node.c.compact(meta, data);
    node.disk.compact(meta, data);
    return index;
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
