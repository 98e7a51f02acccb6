// The simulation's oracle: what the cluster as a whole has shown, and the safety properties it
// checks at every message sent, every entry applied and every step. It reads the replicas
// only from outside — their messages, their applied results, the Raft core's public state, and
// what their simulated disks hold durably (decoded with the WAL's own record format) — never
// through the code under test's own bookkeeping.
//
// Checked:
// - election safety: at most one leader per term (APPEND, HEARTBEAT, SNAPSHOT and TIMEOUT_NOW
//   senders, and roles seen at step ends);
// - leader completeness: a leader of term T holds every entry known committed by term < T;
// - log matching: an (index, term) has one content and one previous term everywhere;
// - state machine safety: every replica applies the same entry at each index, in order, once
//   per life, with the same results (a digest of outcomes, sequence numbers, event counts);
// - durability before messages: a message of term T leaves only once T is durable; a granted
//   vote only once that vote is durable; an acknowledgement only for entries durable there;
//   the durable commit index never names an entry the durable log lacks; term and vote never go
//   back on disk; a restarted replica starts from what its disk holds;
// - sessions: a (clientId, requestSeq) takes effect at one index, cluster-wide; a session id
//   is allocated once; an acknowledgement matches what took effect;
// - after healing: every acknowledged command is applied on every live member, and members at
//   the same applied index have the same state hash.

import { EntryType, MessageType, Role, type Entry, type Message, type NodeId } from '../raft/types.js';
import { decodeConfChange } from '../raft/membership.js';
import { ApplyOutcome, type ApplyResult } from '../../shard/state-machine.js';
import { HARD_STATE_FILE, decodeHardState, type HardState } from '../wal/hard-state.js';
import { scanSegment } from '../wal/segment.js';
import { TAIL_LOST_FILE } from '../wal/tail-loss.js';
import { SIM_DATA_DIR, type SimMachine } from './sim-machine.js';

export class SimInvariantError extends Error {
  override name = 'SimInvariantError';
}

export function check(ok: boolean, message: string | (() => string)): asserts ok {
  if (!ok) throw new SimInvariantError(typeof message === 'string' ? message : message());
}

interface CommittedRecord {
  term: number;
  /** Content key ('' when only the term is known, from a snapshot). */
  key: string;
  by: NodeId;
  /**
   * An upper bound of the term in which the entry was committed: the lowest current term of a
   * node seen holding it committed. Leaders of later terms must hold it (leader completeness).
   */
  commitTermMax: number;
}

/** Per machine, per life: what the oracle saw of it. */
export interface Seen {
  life: number;
  applied: number;
  digest: number;
  commitSeen: number;
  commitChecked: number;
  termSeen: number;
  leaderCheckedTerm: number;
  /** Commands applied in this life: "clientId:requestSeq". */
  appliedCmds: Set<string>;
  /** Durable hard state as last read, and the disk generation it was read at. */
  durableHs: HardState;
  durableHsGen: number;
  /** Durable segments (first index → name) and their decoded terms, at a disk generation. */
  durableLogGen: number;
  durableSegments: { first: number; name: string }[];
  /** Index of the newest durable snapshot file (0 for none). */
  durableSnapshot: number;
  durableTerms: Map<string, number[]>;
}

export interface Ack {
  clientId: number;
  reqSeq: number;
  index: number;
  step: number;
}

export interface OracleHooks {
  fail(reason: string): never;
  trace(line: string): void;
  stats: { leaders: number; maxTerm: number; confChangesApplied: number; snapshotsInstalled: number };
}

const SEGMENT_NAME = /^wal-(\d{20})\.log$/;
const SNAPSHOT_NAME = /^snap-(\d{20})\.snap$/;

export class Oracle {
  private readonly leaders = new Map<number, NodeId>();
  private readonly committed = new Map<number, CommittedRecord>();
  commitMax = 0;
  /** Log matching: "index:term" → content and the term of the entry before it. */
  private readonly logEntries = new Map<string, { key: string; prevTerm: number; by: NodeId }>();
  /** Results digest of the applies up to and including each index (the same everywhere). */
  protected readonly digests = new Map<number, { digest: number; by: NodeId }>();
  /** Index at which each command took effect: "clientId:requestSeq" → index. */
  private readonly effective = new Map<string, number>();
  /** Index at which each session was registered. */
  private readonly sessions = new Map<number, number>();
  /** Granted votes: "voter:term" → candidate. */
  private readonly votes = new Map<string, NodeId>();
  private readonly seen = new Map<NodeId, Seen>();
  readonly acks: Ack[] = [];
  maxAckedIndex = 0;
  /** Nodes that ever appeared in a configuration entry, and removals applied but not yet acted on. */
  private readonly members_ = new Set<NodeId>();
  private readonly removals = new Set<NodeId>();
  /** Hosts whose WAL was damaged and that have not booted on it yet. */
  private readonly damaged = new Set<NodeId>();

  constructor(protected readonly h: OracleHooks) {}

  // ---- messages -----------------------------------------------------------------------------

  onSend(from: SimMachine, m: Message, now: number): void {
    check(m.from === from.id, () => `node ${from.id} sent a message from ${m.from}`);
    const node = from.node;
    if (node === undefined) return;
    const hs = this.durableHardState(from);
    const preVote = m.type === MessageType.PRE_VOTE || (m.type === MessageType.PRE_VOTE_RESP && !m.reject);
    if (!preVote) {
      check(
        hs.term >= m.term,
        () =>
          `node ${from.id} sent ${MESSAGE_NAME[m.type]} of term ${m.term} before that term was durable (durable term ${hs.term})`,
      );
    }
    switch (m.type) {
      case MessageType.APPEND:
      case MessageType.HEARTBEAT:
      case MessageType.SNAPSHOT:
      case MessageType.TIMEOUT_NOW:
        this.noteLeader(m.term, m.from, `it sent ${MESSAGE_NAME[m.type]}`);
        if (m.type === MessageType.SNAPSHOT && m.snapshot !== undefined)
          this.noteCommitted(m.snapshot.meta.index, m.snapshot.meta.term, '', m.from, 'sent in a snapshot', m.term);
        if (m.type === MessageType.APPEND) this.noteAppend(m);
        break;
      case MessageType.VOTE_RESP:
        if (!m.reject) {
          check(
            hs.term > m.term || (hs.term === m.term && hs.vote === m.to),
            () =>
              `node ${from.id} granted its vote to ${m.to} in term ${m.term} before it was durable (durable term ${hs.term} vote ${hs.vote})`,
          );
          const k = `${from.id}:${m.term}`;
          const prior = this.votes.get(k);
          check(
            prior === undefined || prior === m.to,
            () => `node ${from.id} voted twice in term ${m.term}: for ${prior} and for ${m.to}`,
          );
          this.votes.set(k, m.to);
        }
        break;
      case MessageType.APPEND_RESP:
        if (!m.reject && m.index > 0 && m.term === node.raft.term) {
          // An acknowledgement promises that the entries through m.index are on this node's disk.
          const mem = node.raft.termAt(m.index);
          const durable = this.durableTermAt(from, m.index);
          check(
            durable === 'compacted' || (durable !== undefined && durable === mem),
            () =>
              `node ${from.id} acknowledged index ${m.index} (term ${mem}) to ${m.to} at step ${now}, but its disk holds ${durable === undefined ? 'nothing' : `term ${durable}`} there durably`,
          );
        }
        break;
    }
  }

  private noteAppend(m: Message): void {
    let prev = m.index;
    let prevTerm = m.logTerm;
    for (const e of m.entries) {
      check(
        e.index === prev + 1 && e.term >= prevTerm && e.term <= m.term,
        () => `node ${m.from}: APPEND with entry ${e.index}/${e.term} after ${prev}/${prevTerm} in term ${m.term}`,
      );
      const k = `${e.index}:${e.term}`;
      const key = entryKey(e);
      const r = this.logEntries.get(k);
      if (r === undefined) this.logEntries.set(k, { key, prevTerm, by: m.from });
      else {
        check(r.key === key, () => `log matching: entry ${k} sent by node ${m.from} differs from node ${r.by}'s`);
        check(
          r.prevTerm === prevTerm,
          () =>
            `log matching: entry ${k} follows term ${prevTerm} at node ${m.from} but term ${r.prevTerm} at node ${r.by}`,
        );
      }
      prev = e.index;
      prevTerm = e.term;
    }
  }

  // ---- applies ------------------------------------------------------------------------------

  onApplied(mc: SimMachine, results: ApplyResult[], entry: Entry): void {
    const s = this.seenOf(mc);
    const node = mc.node!;
    const id = mc.id;
    check(
      entry.index === s.applied + 1,
      () => `node ${id} applied entry ${entry.index} after ${s.applied} (not exactly once, in order)`,
    );
    check(
      entry.index <= node.raft.commitIndex,
      () => `node ${id} applied entry ${entry.index} beyond its commit index ${node.raft.commitIndex}`,
    );
    this.noteCommitted(entry.index, entry.term, entryKey(entry), id, 'applied', node.raft.term);
    this.noteApplied(mc, s, results, entry);
    if (entry.type === EntryType.CONF_CHANGE) {
      const cc = decodeConfChange(entry.data);
      this.h.stats.confChangesApplied++;
      this.members_.add(cc.node);
      if (cc.type === 3 /* REMOVE */) this.removals.add(cc.node);
    }
  }

  /**
   * The protocol-independent part of an apply: the results digest (the same everywhere at each
   * index) and what each command did (once cluster-wide, sessions once).
   */
  protected noteApplied(mc: SimMachine, s: Seen, results: ApplyResult[], entry: Entry): void {
    const id = mc.id;
    s.applied = entry.index;
    let d = mix(s.digest, entry.index);
    d = mix(d, entry.term);
    for (const r of results) {
      d = mix(mix(mix(mix(d, r.outcome), r.clientId), r.requestSeq), r.seq);
      d = mix(d, r.eventsTo - r.eventsFrom);
      this.noteResult(mc, s, r, entry.index);
    }
    s.digest = d;
    const prior = this.digests.get(entry.index);
    if (prior === undefined) this.digests.set(entry.index, { digest: d, by: id });
    else
      check(
        prior.digest === d,
        () => `state machine safety: node ${id} applied entry ${entry.index} with other results than node ${prior.by}`,
      );
  }

  private noteResult(mc: SimMachine, s: Seen, r: ApplyResult, index: number): void {
    if (r.outcome === ApplyOutcome.REGISTERED) {
      const at = this.sessions.get(r.clientId);
      check(
        at === undefined || at === index,
        () => `session ${r.clientId} registered at ${index} on node ${mc.id} but at ${at} elsewhere`,
      );
      this.sessions.set(r.clientId, index);
      return;
    }
    if (r.outcome !== ApplyOutcome.APPLIED || r.clientId <= 0) return;
    const k = `${r.clientId}:${r.requestSeq}`;
    check(!s.appliedCmds.has(k), () => `node ${mc.id} applied command ${k} twice (again at ${index})`);
    s.appliedCmds.add(k);
    const prior = this.effective.get(k);
    check(
      prior === undefined || prior === index,
      () => `command ${k} took effect at ${index} on node ${mc.id} but at ${prior} elsewhere (applied twice)`,
    );
    this.effective.set(k, index);
  }

  onAck(clientId: number, reqSeq: number, result: ApplyResult, by: NodeId, step: number): void {
    const k = `${clientId}:${reqSeq}`;
    const at = this.effective.get(k);
    check(
      at !== undefined,
      () =>
        `client session ${clientId} request ${reqSeq} acknowledged by node ${by} (${result.outcome}) but it never took effect anywhere`,
    );
    if (result.outcome === ApplyOutcome.APPLIED || result.appliedIndex > 0)
      check(
        result.appliedIndex === at,
        () => `command ${k} acknowledged at index ${result.appliedIndex} but it took effect at ${at}`,
      );
    this.acks.push({ clientId, reqSeq, index: at, step });
    if (at > this.maxAckedIndex) this.maxAckedIndex = at;
    this.h.trace(`ACK ${k} by n${by} (effective at ${at})`);
  }

  /** An installed snapshot (not the one a boot restores) moves the state machine forward. */
  protected checkInstalled(mc: SimMachine, s: Seen, at: number, installed: boolean): void {
    if (!installed) return;
    check(
      at > s.applied,
      () => `node ${mc.id} installed a snapshot at ${at}, not after its applied index ${s.applied}`,
    );
    this.h.stats.snapshotsInstalled++;
  }

  /** The state machine was rebuilt from a snapshot: at boot (`installed` false) or from the leader's. */
  onStateReset(mc: SimMachine, installed: boolean): void {
    const s = this.seenOf(mc);
    const node = mc.node;
    if (node === undefined) return;
    const at = node.stateMachine.appliedIndex;
    this.checkInstalled(mc, s, at, installed);
    this.noteStateReset(s, at);
    if (at > 0)
      this.noteCommitted(at, node.raft.termAt(at) ?? 0, '', mc.id, 'restored from a snapshot', node.raft.term);
  }

  /** The state machine now stands at `at` (a snapshot restored): the digest continues from there. */
  protected noteStateReset(s: Seen, at: number): void {
    s.applied = at;
    s.digest = at === 0 ? 0 : (this.digests.get(at)?.digest ?? 0);
  }

  // ---- boots and steps ----------------------------------------------------------------------

  /** A replica process started on its disk: it must start from exactly what the disk holds. */
  onBoot(mc: SimMachine): void {
    const node = mc.node!;
    this.damaged.delete(mc.id);
    const s = this.seenOf(mc);
    const hs = this.durableHardState(mc);
    const r = node.raft;
    check(r.term === hs.term, () => `node ${mc.id} restarted at term ${r.term}, durable term ${hs.term}`);
    check(
      r.commitIndex >= Math.min(hs.commit, r.lastIndex),
      () => `node ${mc.id} restarted with commit ${r.commitIndex} below its durable commit ${hs.commit}`,
    );
    // Everything it believes committed must be what the cluster committed.
    for (let i = Math.max(1, r.firstIndex); i <= r.commitIndex; i++) {
      const e = r.entryAt(i);
      if (e !== undefined) this.noteCommitted(i, e.term, entryKey(e), mc.id, 'recovered as committed', r.term);
    }
    s.commitSeen = r.commitIndex;
    s.commitChecked = r.commitIndex;
    s.termSeen = r.term;
    s.leaderCheckedTerm = -1;
  }

  checkStep(machines: Iterable<SimMachine>, _now: number): void {
    for (const mc of machines) {
      const node = mc.node;
      if (node === undefined || mc.status !== 'up') continue;
      const s = this.seenOf(mc);
      const r = node.raft;
      check(r.term >= s.termSeen, () => `node ${mc.id}: term went back ${s.termSeen} -> ${r.term}`);
      s.termSeen = r.term;
      const c = r.commitIndex;
      check(c >= s.commitSeen, () => `node ${mc.id}: commit index went back ${s.commitSeen} -> ${c}`);
      check(c <= r.lastIndex, () => `node ${mc.id}: commit index ${c} beyond its last index ${r.lastIndex}`);
      s.commitSeen = c;
      for (let i = s.commitChecked + 1; i <= c; i++) {
        const e = r.entryAt(i);
        if (e !== undefined) this.noteCommitted(i, e.term, entryKey(e), mc.id, 'committed', r.term);
        else {
          const t = r.termAt(i);
          if (t !== undefined) this.noteCommitted(i, t, '', mc.id, 'committed', r.term);
        }
      }
      if (c > s.commitChecked) s.commitChecked = c;
      if (r.role === Role.LEADER) this.observeLeader(mc);
    }
  }

  private observeLeader(mc: SimMachine): void {
    const r = mc.node!.raft;
    this.noteLeader(r.term, mc.id, 'its role');
    const s = this.seenOf(mc);
    if (s.leaderCheckedTerm === r.term) return;
    s.leaderCheckedTerm = r.term;
    for (let i = this.commitMax; i >= 1; i--) {
      const c = this.committed.get(i);
      if (c === undefined || c.commitTermMax >= r.term) continue;
      if (i < r.firstIndex - 1) break; // compacted into its snapshot, which holds only committed entries
      const t = r.termAt(i);
      check(
        t === c.term,
        () =>
          `leader completeness: node ${mc.id} leads term ${r.term} with entry ${i}/${t ?? 'none'} (last index ${r.lastIndex}), but ${i}/${c.term} was committed by term ${c.commitTermMax} (node ${c.by})`,
      );
      const e = r.entryAt(i);
      if (e !== undefined && c.key !== '')
        check(
          entryKey(e) === c.key,
          () => `leader completeness: node ${mc.id} leads term ${r.term} with other content at committed index ${i}`,
        );
    }
  }

  private noteLeader(term: number, id: NodeId, how: string): void {
    const prior = this.leaders.get(term);
    check(
      prior === undefined || prior === id,
      () => `two leaders in term ${term}: node ${prior} and node ${id} (${how})`,
    );
    if (prior !== undefined) return;
    this.leaders.set(term, id);
    this.h.stats.leaders++;
    this.h.stats.maxTerm = Math.max(this.h.stats.maxTerm, term);
    this.h.trace(`LEADER n${id} term ${term} (${how})`);
  }

  private noteCommitted(index: number, term: number, key: string, by: NodeId, how: string, byTerm: number): void {
    if (index <= 0) return;
    const r = this.committed.get(index);
    if (r === undefined) {
      this.committed.set(index, { term, key, by, commitTermMax: byTerm });
      if (index > this.commitMax) this.commitMax = index;
      return;
    }
    check(
      r.term === term && (r.key === '' || key === '' || r.key === key),
      () =>
        `state machine safety: node ${by} ${how} entry ${index}/${term} but node ${r.by} committed ${index}/${r.term}${r.key !== key && key !== '' && r.key !== '' ? ' with other content' : ''}`,
    );
    if (r.key === '' && key !== '') r.key = key;
    if (byTerm < r.commitTermMax) r.commitTermMax = byTerm;
  }

  // ---- durable state, read from the simulated disk --------------------------------------------

  walDir(mc: SimMachine): string {
    return `${SIM_DATA_DIR}/node-${mc.id}`;
  }

  protected durableHardState(mc: SimMachine): HardState {
    const s = this.seenOf(mc);
    const gen = mc.fs.durableGeneration;
    if (s.durableHsGen === gen) return s.durableHs;
    const bytes = mc.fs.durableView(`${this.walDir(mc)}/${HARD_STATE_FILE}`);
    s.durableHsGen = gen;
    if (bytes === undefined) return s.durableHs;
    const hs = decodeHardState(bytes);
    check(typeof hs !== 'string', () => `node ${mc.id}: its durable hard state does not decode: ${String(hs)}`);
    const old = s.durableHs;
    check(hs.term >= old.term, () => `node ${mc.id}: durable term went back ${old.term} -> ${hs.term}`);
    check(
      !(hs.term === old.term && old.vote !== 0 && hs.vote !== old.vote),
      () => `node ${mc.id}: durable vote changed within term ${hs.term}: ${old.vote} -> ${hs.vote}`,
    );
    if (hs.commit > old.commit && !this.tailMarked(mc)) {
      // The durable commit may never name an entry the durable log lacks or holds differently
      // (unless the disk was damaged on purpose: then recovery clamps it, and says so).
      const t = this.durableTermAt(mc, hs.commit);
      const c = this.committed.get(hs.commit);
      check(t !== undefined, () => `node ${mc.id}: durable commit ${hs.commit} is beyond its durable log`);
      if (t !== 'compacted' && c !== undefined)
        check(
          t === c.term,
          () => `node ${mc.id}: durable commit ${hs.commit} names term ${t} there, but ${c.term} was committed`,
        );
    }
    s.durableHs = hs;
    return hs;
  }

  /** Term of entry `index` in the durable WAL ('compacted' before its first segment; undefined if absent). */
  private durableTermAt(mc: SimMachine, index: number): number | 'compacted' | undefined {
    const s = this.seenOf(mc);
    const dir = this.walDir(mc);
    const gen = mc.fs.durableGeneration;
    if (s.durableLogGen !== gen) {
      s.durableLogGen = gen;
      s.durableSegments = [];
      s.durableSnapshot = 0;
      s.durableTerms.clear();
      for (const name of mc.fs.durableFiles(dir)) {
        const m = SEGMENT_NAME.exec(name);
        if (m !== null) s.durableSegments.push({ first: Number(m[1]), name });
        const sn = SNAPSHOT_NAME.exec(name);
        if (sn !== null) s.durableSnapshot = Math.max(s.durableSnapshot, Number(sn[1]));
      }
      s.durableSegments.sort((a, b) => a.first - b.first);
    }
    const segs = s.durableSegments;
    if (index <= s.durableSnapshot) return 'compacted';
    if (segs.length === 0 || index < segs[0]!.first) return segs.length === 0 ? undefined : 'compacted';
    let k = segs.length - 1;
    while (k > 0 && segs[k]!.first > index) k--;
    const seg = segs[k]!;
    let terms = s.durableTerms.get(seg.name);
    if (terms === undefined) {
      const t: number[] = [];
      scanSegment(mc.fs.durableView(`${dir}/${seg.name}`)!, seg.first, 0, (_i, term) => {
        t.push(term);
      });
      s.durableTerms.set(seg.name, (terms = t));
    }
    return terms[index - seg.first];
  }

  // ---- membership and damage bookkeeping for the simulator ------------------------------------

  everMember(id: NodeId): boolean {
    return this.members_.has(id);
  }

  takeRemovals(): NodeId[] {
    const out = [...this.removals];
    this.removals.clear();
    return out;
  }

  markDamaged(mc: SimMachine): void {
    this.damaged.add(mc.id);
  }

  /** The host's WAL lost acknowledged entries and it has not caught up yet (or not booted on the damage yet). */
  tailMarked(mc: SimMachine): boolean {
    return this.damaged.has(mc.id) || mc.fs.files(this.walDir(mc)).includes(TAIL_LOST_FILE);
  }

  /** Live members per the most advanced node's configuration. */
  members(machines: Map<NodeId, SimMachine>): SimMachine[] {
    let best: SimMachine | undefined;
    for (const m of machines.values()) {
      if (m.node === undefined || m.status !== 'up') continue;
      if (best === undefined || m.node.raft.lastIndex > best.node!.raft.lastIndex) best = m;
    }
    if (best === undefined) return [];
    const conf = best.node!.raft.conf();
    return [...conf.voters, ...conf.learners]
      .map((id) => machines.get(id))
      .filter((m): m is SimMachine => m !== undefined && m.status !== 'removed');
  }

  finalChecks(machines: Map<NodeId, SimMachine>): void {
    const members = this.members(machines);
    for (const m of members)
      check(m.replica !== undefined && m.status === 'up', () => `member ${m.id} is ${m.status} after healing`);
    for (const a of this.acks) {
      for (const m of members) {
        const applied = m.replica!.stateMachine.appliedIndex;
        check(
          applied >= a.index,
          () =>
            `acknowledged command ${a.clientId}:${a.reqSeq} (effective at ${a.index}, acked at step ${a.step}) is missing on node ${m.id} (applied ${applied})`,
        );
      }
    }
    for (const a of members)
      for (const b of members)
        if (a.id < b.id && a.replica!.stateMachine.appliedIndex === b.replica!.stateMachine.appliedIndex)
          check(
            a.replica!.stateHash() === b.replica!.stateHash(),
            () =>
              `nodes ${a.id} and ${b.id} both applied ${a.replica!.stateMachine.appliedIndex} but their state hashes differ`,
          );
  }

  protected seenOf(mc: SimMachine): Seen {
    let s = this.seen.get(mc.id);
    if (s === undefined || s.life !== mc.lives) {
      const durableHs = s?.durableHs ?? { term: 0, vote: 0, commit: 0 };
      s = {
        life: mc.lives,
        applied: 0,
        digest: 0,
        commitSeen: 0,
        commitChecked: 0,
        termSeen: 0,
        leaderCheckedTerm: -1,
        appliedCmds: new Set(),
        durableHs,
        durableHsGen: -1,
        durableLogGen: -1,
        durableSegments: [],
        durableSnapshot: 0,
        durableTerms: new Map(),
      };
      this.seen.set(mc.id, s);
    }
    return s;
  }
}

const MESSAGE_NAME: Record<number, string> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]));

/** A 32-bit FNV-1a step over one number (the result digest). */
export function mix(h: number, v: number): number {
  let x = h ^ (v >>> 0);
  x = Math.imul(x, 0x01000193);
  x ^= Math.floor(v / 0x1_0000_0000) >>> 0;
  return Math.imul(x, 0x01000193) >>> 0;
}

function entryKey(e: Entry): string {
  let h = 0x811c9dc5;
  const d = e.data;
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return `${e.type}:${d.length}:${(h >>> 0).toString(16)}`;
}
