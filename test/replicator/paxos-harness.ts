// An in-memory cluster of Multi-Paxos cores for tests: a host per replica that does what the
// core's Ready asks (saves the promise, appends records to its "disk", sends, applies), a message
// pump with drops, duplicates, reordering and partitions, crashes that lose everything the core
// did not ask to persist (a replica restarts from its disk only), crashes that also lose records
// it had made durable (a lost WAL tail: the replica restarts recovering, README.md departure 8;
// never on a majority at once), snapshots and compaction, and an
// oracle that checks at every step: at most one value chosen per slot across all replicas ever
// (counted from the acceptances themselves), every replica applies the same sequence, nothing is
// applied twice. Deterministic: one seed replays a run.

import { PaxosCore } from '../../replicator/paxos/paxos-core.js';
import {
  PaxosMessageType,
  PaxosRole,
  RecordKind,
  ValueType,
  type Ballot,
  type NodeId,
  type PaxosConfig,
  type PaxosMessage,
  type PaxosReady,
  type PaxosRecord,
  type PaxosValue,
} from '../../replicator/paxos/types.js';
import type { Prng } from '../../replicator/prng.js';

export const PIPELINE_SLOTS_MAX = 4;
export const ACCEPT_WINDOW_SLOTS = 8;
export const LEARN_SLOTS_MAX = 3;

/** The windows: small by default, so that tests reach their edges in few steps. */
export interface PaxosWindows {
  pipelineSlotsMax: number;
  acceptWindowSlots: number;
  learnSlotsMax: number;
}

export const SMALL_WINDOWS: PaxosWindows = {
  pipelineSlotsMax: PIPELINE_SLOTS_MAX,
  acceptWindowSlots: ACCEPT_WINDOW_SLOTS,
  learnSlotsMax: LEARN_SLOTS_MAX,
};

export function paxosConfig(
  id: NodeId,
  members: NodeId[],
  random: (n: number) => number,
  windows: PaxosWindows = SMALL_WINDOWS,
): PaxosConfig {
  return { id, members, electionTicks: 10, heartbeatTicks: 2, random, ...windows };
}

const enc = new TextEncoder();
const dec = new TextDecoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (v: PaxosValue): string => (v.type === ValueType.NOOP ? '<noop>' : dec.decode(v.data));
const key = (slot: number, b: Ballot): string => `${slot}@${b.round}.${b.leader}`;

interface Disk {
  promised: Ballot;
  records: PaxosRecord[];
  snapshot: { slot: number; applied: string[] };
  /** The WAL's `tail-lost` marker: durable records were lost and the replica has not caught up since. */
  tailLost: boolean;
}

interface Host {
  id: NodeId;
  core: PaxosCore | undefined;
  disk: Disk;
  /** The state machine: every applied value, slot 1 first. */
  applied: string[];
  /** Proposals this host made and waits on: "slot@ballot" → id. */
  pending: Map<string, string>;
}

type Wire =
  | { kind: 'msg'; m: PaxosMessage }
  | { kind: 'snap'; from: NodeId; to: NodeId; slot: number; applied: string[] };

export interface Faults {
  drop: number;
  duplicate: number;
  crash: number;
  partition: number;
  crashMidReady: number;
  /** A crash that also loses durable records from the end of the log (at most a minority marked at once). */
  crashLostTail: number;
}

export const NO_FAULTS: Faults = {
  drop: 0,
  duplicate: 0,
  crash: 0,
  partition: 0,
  crashMidReady: 0,
  crashLostTail: 0,
};
/** Records a lost-tail crash cuts at most. */
const LOST_RECORDS_MAX = 8;

/** What the core promises about a Ready's shape: acknowledgements wait for the persist step; LEARNs are bounded. */
function checkReadyContract(rd: PaxosReady, learnSlotsMax: number): void {
  for (const m of rd.messages) {
    if (m.type === PaxosMessageType.PROMISE || m.type === PaxosMessageType.ACCEPTED) {
      throw new Error(`message type ${m.type} offered before the records are durable`);
    }
    if (m.type === PaxosMessageType.LEARN && m.values.length > learnSlotsMax) throw new Error('LEARN over its limit');
  }
  for (let k = 1; k < rd.chosen.length; k++) {
    if (rd.chosen[k]!.slot !== rd.chosen[k - 1]!.slot + 1) throw new Error('chosen entries out of slot order');
  }
}

export class PaxosCluster {
  readonly hosts = new Map<NodeId, Host>();
  readonly net: Wire[] = [];
  /** Oracle: who accepted what, per (slot, ballot); the value chosen per slot (from a quorum of acceptances). */
  private readonly acceptValue = new Map<string, string>();
  private readonly acceptors = new Map<string, Set<NodeId>>();
  readonly chosenTruth = new Map<number, string>();
  /** The one applied sequence every replica must follow (index 0 = slot 1). */
  readonly sequence: string[] = [];
  readonly acked = new Set<string>();
  /** What the run went through, so a test can check its faults happened. */
  readonly stats = { crashes: 0, snapshotsInstalled: 0, noops: 0, tailsLost: 0, tailRecoveries: 0 };
  /** Every ballot that led at some point. */
  readonly leaderBallots = new Set<string>();
  private readonly quorum: number;
  private cut = new Set<NodeId>();
  private proposalSeq = 0;
  /** Lives started: each recovering life gets a nonce no earlier life had. */
  private lives = 0;

  constructor(
    readonly members: NodeId[],
    readonly rng: Prng,
    public faults: Faults = NO_FAULTS,
    readonly windows: PaxosWindows = SMALL_WINDOWS,
  ) {
    this.quorum = Math.floor(members.length / 2) + 1;
    for (const id of members) {
      const disk: Disk = {
        promised: { round: 0, leader: 0 },
        records: [],
        snapshot: { slot: 0, applied: [] },
        tailLost: false,
      };
      const host: Host = { id, core: undefined, disk, applied: [], pending: new Map() };
      this.hosts.set(id, host);
      this.start(host);
    }
  }

  core(id: NodeId): PaxosCore {
    const c = this.hosts.get(id)!.core;
    if (c === undefined) throw new Error(`node ${id} is down`);
    return c;
  }

  /** Restart from the disk only (everything the core did not ask to persist is gone). */
  start(host: Host): void {
    const fork = this.rng.fork(host.id * 1000 + this.rng.int(1000));
    host.core = new PaxosCore(
      paxosConfig(host.id, this.members, (n) => fork.int(n), this.windows),
      {
        promised: host.disk.promised,
        snapshotSlot: host.disk.snapshot.slot,
        records: [...host.disk.records],
        ...(host.disk.tailLost ? { logTailLost: { recoveryNonce: ++this.lives } } : {}),
      },
    );
    host.applied = [...host.disk.snapshot.applied];
    host.pending.clear();
    this.process(host);
  }

  crash(id: NodeId): void {
    this.stats.crashes++;
    this.hosts.get(id)!.core = undefined;
  }

  /**
   * A crash that loses the last records it had made durable (a WAL tail cut at rest), which
   * marks its disk tail-lost — unless that would leave no quorum of unmarked disks (nothing can
   * recover a value a majority forgot): then a plain crash.
   */
  crashLosingTail(id: NodeId): void {
    const host = this.hosts.get(id)!;
    const marked = [...this.hosts.values()].filter((h) => h.id !== id && h.disk.tailLost).length;
    this.crash(id);
    if (marked + 1 > this.members.length - this.quorum || host.disk.records.length === 0) return;
    const cut = 1 + this.rng.int(Math.min(LOST_RECORDS_MAX, host.disk.records.length));
    host.disk.records = host.disk.records.slice(0, host.disk.records.length - cut);
    host.disk.tailLost = true;
    this.stats.tailsLost++;
  }

  leaders(): NodeId[] {
    return [...this.hosts.values()].filter((h) => h.core?.role === PaxosRole.LEADER).map((h) => h.id);
  }

  /** Proposes a fresh value at `id` if it leads; returns the id of the value or undefined. */
  propose(id: NodeId): string | undefined {
    const host = this.hosts.get(id)!;
    if (host.core === undefined) return undefined;
    const value = `v${++this.proposalSeq}`;
    const r = host.core.propose(bytes(value));
    if (!r.ok) return undefined;
    host.pending.set(key(r.slot, r.ballot), value);
    this.process(host);
    return value;
  }

  tick(id: NodeId): void {
    const host = this.hosts.get(id)!;
    if (host.core === undefined) return;
    host.core.tick();
    this.process(host);
  }

  /** Delivers the message at position k of the network (reordering: any position). */
  deliver(k: number): void {
    const [w] = this.net.splice(k, 1);
    if (w === undefined) return;
    const from = w.kind === 'msg' ? w.m.from : w.from;
    const to = w.kind === 'msg' ? w.m.to : w.to;
    if (this.cut.has(from) !== this.cut.has(to)) return; // partitioned: lost
    const host = this.hosts.get(to)!;
    if (host.core === undefined) return;
    if (w.kind === 'msg') host.core.step(structuredClone(w.m));
    else this.installSnapshot(host, w.slot, w.applied);
    this.process(host);
  }

  private installSnapshot(host: Host, slot: number, applied: string[]): void {
    const core = host.core!;
    if (slot <= core.status().applied) return;
    // The host saves the snapshot durably, drops the records it covers, restores the state machine.
    host.disk.snapshot = { slot, applied: [...applied] };
    host.disk.records = host.disk.records.filter((r) => r.slot > slot);
    host.applied = [...applied];
    core.installSnapshot(slot);
    this.stats.snapshotsInstalled++;
  }

  /** Snapshot the applied state and compact the core and the disk through it. */
  compact(id: NodeId): void {
    const host = this.hosts.get(id)!;
    if (host.core === undefined) return;
    const slot = host.applied.length;
    if (slot <= host.disk.snapshot.slot) return;
    host.disk.snapshot = { slot, applied: [...host.applied] };
    host.disk.records = host.disk.records.filter((r) => r.slot > slot);
    host.core.compact(slot);
  }

  setPartition(cut: Set<NodeId>): void {
    this.cut = cut;
  }

  /** The host loop for one Ready, in the order the core requires. */
  process(host: Host): void {
    for (let guard = 0; host.core?.hasReady() === true; guard++) {
      if (guard > 1000) throw new Error('ready loop does not settle');
      const core = host.core;
      const rd = core.ready();
      if (rd.soft.role === PaxosRole.LEADER) this.leaderBallots.add(key(0, rd.soft.ballot));
      if (rd.promised !== undefined) host.disk.promised = rd.promised;
      checkReadyContract(rd, this.windows.learnSlotsMax);
      this.send(rd.messages);
      if (this.rng.chance(this.faults.crashMidReady)) {
        // Killed during the record write: a prefix of the records made it to disk.
        const written = rd.records.slice(0, this.rng.int(rd.records.length + 1));
        host.disk.records.push(...written);
        this.observeRecords(host.id, written);
        host.core = undefined;
        this.stats.crashes++;
        return;
      }
      host.disk.records.push(...rd.records);
      this.observeRecords(host.id, rd.records);
      this.observeAccepted(rd.messagesAfterPersist);
      if (rd.logTailRecovered === true) {
        host.disk.tailLost = false; // the marker's removal, durable before advance()
        this.stats.tailRecoveries++;
      }
      this.send(rd.messagesAfterPersist);
      this.apply(host, rd);
      for (const r of rd.snapshotRequests) {
        this.net.push({
          kind: 'snap',
          from: host.id,
          to: r.to,
          slot: host.disk.snapshot.slot,
          applied: [...host.disk.snapshot.applied],
        });
      }
      core.advance();
    }
  }

  private send(ms: PaxosMessage[]): void {
    for (const m of ms) {
      if (m.type === PaxosMessageType.ACCEPT) this.observeAccept(m);
      if (this.rng.chance(this.faults.drop)) continue;
      this.net.push({ kind: 'msg', m });
      if (this.rng.chance(this.faults.duplicate)) this.net.push({ kind: 'msg', m });
    }
  }

  private observeAccept(m: PaxosMessage): void {
    const sv = m.values[0]!;
    this.noteValue(key(sv.slot, sv.ballot), text(sv.value));
  }

  private noteValue(k: string, v: string): void {
    const prev = this.acceptValue.get(k);
    if (prev !== undefined && prev !== v) throw new Error(`two values proposed in one ballot: ${k}: ${prev} and ${v}`);
    this.acceptValue.set(k, v);
  }

  private observeRecords(id: NodeId, records: PaxosRecord[]): void {
    for (const r of records) {
      if (r.kind !== RecordKind.ACCEPTED) continue;
      this.noteValue(key(r.slot, r.ballot), text(r.value));
      this.noteAcceptor(r.slot, r.ballot, id);
    }
  }

  private observeAccepted(ms: PaxosMessage[]): void {
    for (const m of ms) if (m.type === PaxosMessageType.ACCEPTED) this.noteAcceptor(m.slot, m.ballot, m.from);
  }

  /** One more acceptance of (slot, ballot); a quorum of them chooses its value: it must be the only one ever chosen there. */
  private noteAcceptor(slot: number, ballot: Ballot, id: NodeId): void {
    const k = key(slot, ballot);
    let set = this.acceptors.get(k);
    if (set === undefined) this.acceptors.set(k, (set = new Set()));
    set.add(id);
    const v = this.acceptValue.get(k);
    if (set.size < this.quorum || v === undefined) return;
    const prev = this.chosenTruth.get(slot);
    if (prev !== undefined && prev !== v) throw new Error(`two values chosen in slot ${slot}: ${prev} and ${v}`);
    this.chosenTruth.set(slot, v);
  }

  private apply(host: Host, rd: PaxosReady): void {
    for (const e of rd.chosen) {
      if (e.slot !== host.applied.length + 1)
        throw new Error(`node ${host.id} applies slot ${e.slot} after ${host.applied.length}`);
      const v = text(e.value);
      const truth = this.chosenTruth.get(e.slot);
      if (truth !== v) throw new Error(`node ${host.id} applies ${v} in slot ${e.slot}, chosen: ${truth ?? 'nothing'}`);
      const seen = this.sequence[e.slot - 1];
      if (seen === undefined) {
        if (v === '<noop>') this.stats.noops++;
        else if (this.sequence.includes(v)) throw new Error(`${v} applied twice (slot ${e.slot})`);
        this.sequence[e.slot - 1] = v;
      } else if (seen !== v) throw new Error(`node ${host.id} applies ${v} in slot ${e.slot}, others ${seen}`);
      host.applied.push(v);
      const mine = host.pending.get(key(e.slot, e.value.origin));
      if (mine !== undefined) {
        if (mine !== v) throw new Error(`slot ${e.slot}: origin matches our proposal ${mine} but value is ${v}`);
        this.acked.add(v);
      }
      for (const k of [...host.pending.keys()]) if (Number(k.split('@')[0]) <= e.slot) host.pending.delete(k);
    }
  }

  /** Runs one random step of the workload under the faults. */
  randomStep(): void {
    const r = this.rng.next() / 0x1_0000_0000;
    const ids = this.members;
    if (r < 0.55 && this.net.length > 0) return this.deliver(this.rng.int(this.net.length));
    if (r < 0.75) return this.tick(this.rng.pick(ids));
    if (r < 0.87) {
      for (const l of this.leaders()) this.propose(l);
      return;
    }
    if (r < 0.9) return this.compact(this.rng.pick(ids));
    if (r < 0.95) return this.randomFault();
    const down = [...this.hosts.values()].filter((h) => h.core === undefined);
    if (down.length > 0) this.start(this.rng.pick(down));
  }

  private randomFault(): void {
    if (this.rng.chance(this.faults.crash)) {
      const up = [...this.hosts.values()].filter((h) => h.core !== undefined);
      if (up.length > 0) this.crash(this.rng.pick(up).id);
    }
    if (this.rng.chance(this.faults.crashLostTail)) {
      const up = [...this.hosts.values()].filter((h) => h.core !== undefined);
      if (up.length > 0) this.crashLosingTail(this.rng.pick(up).id);
    }
    if (this.rng.chance(this.faults.partition)) {
      const cut = new Set<NodeId>();
      for (const id of this.members) if (this.rng.chance(0.3)) cut.add(id);
      this.setPartition(cut);
    }
  }

  /** Heals everything and runs until every replica has applied the same prefix and a fresh proposal is acknowledged. */
  healAndConverge(stepsMax: number): void {
    this.faults = NO_FAULTS;
    this.setPartition(new Set());
    for (const h of this.hosts.values()) if (h.core === undefined) this.start(h);
    let probe: string | undefined;
    for (let step = 0; step < stepsMax; step++) {
      if (this.net.length > 0 && this.rng.chance(0.8)) this.deliver(this.rng.int(this.net.length));
      else this.tick(this.rng.pick(this.members));
      if (probe !== undefined && this.acked.has(probe)) {
        if (this.converged()) return;
        continue;
      }
      if (probe === undefined || !this.stillPending(probe)) {
        const l = this.leaders();
        if (l.length > 0) probe = this.propose(l[this.rng.int(l.length)]!) ?? probe;
      }
    }
    const st = [...this.hosts.values()].map((h) => `${h.id}:${JSON.stringify(h.core?.status())}/${h.applied.length}`);
    throw new Error(
      `no progress after healing: probe ${probe}, acked ${probe !== undefined && this.acked.has(probe)}; ${st.join(' ')}`,
    );
  }

  /** Still waited on by a replica that leads (a deposed leader's proposal may never be chosen: nobody re-proposes a slot no promise reported). */
  private stillPending(v: string): boolean {
    for (const h of this.hosts.values()) {
      if (h.core?.role !== PaxosRole.LEADER) continue;
      for (const p of h.pending.values()) if (p === v) return true;
    }
    return false;
  }

  /** Every replica applied the same prefix, and none is still recovering from a lost tail. */
  private converged(): boolean {
    if ([...this.hosts.values()].some((h) => h.disk.tailLost)) return false;
    const lens = [...this.hosts.values()].map((h) => h.applied.length);
    return lens.every((n) => n === lens[0]) && lens[0] === this.sequence.length;
  }
}
