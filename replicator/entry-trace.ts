// Where a leader's milliseconds go, per log entry: when the first command of the entry arrived,
// when the entry was proposed, when it was durable in the leader's WAL, when each follower
// acknowledged it (its match index reached the entry), when the leader learned it committed,
// and when it was applied and its proposals answered. Stamps are performance.now() of this
// process (ms), kept for the last ENTRY_TRACE_ENTRIES_MAX entries in a ring by index, so an
// operator can ask for the stages of any recent entry (op 'trace', gateway/README.md "Latency
// trace") and the metrics keep a histogram per stage. Observation only: nothing here decides
// anything, and a follower (which proposes nothing) records nothing.

import type { NodeId } from './raft/types.js';

/** Recent leader entries whose stages are kept (a ring by log index). */
export const ENTRY_TRACE_ENTRIES_MAX = 4096;
/** Followers whose acknowledgements are kept per entry (more: the first ones seen). */
export const ENTRY_TRACE_PEERS_MAX = 8;

/** The stages of one entry, in ms since its first command arrived at the leader (undefined: not reached, or not seen). */
export interface EntryStages {
  index: number;
  commands: number;
  proposedMs: number;
  durableMs: number | undefined;
  /** Per follower, when its acknowledgement covering this entry arrived. */
  acksMs: Record<number, number>;
  committedMs: number | undefined;
  appliedMs: number | undefined;
}

/** Stage durations of one entry as the metrics keep them (seconds); reported once the entry is applied. */
export interface EntryStageDurations {
  /** First command arrived → entry proposed (waiting for the loop: a Ready in flight). */
  queued: number;
  /** Proposed → durable in the leader's WAL (its write + fdatasync). */
  leaderDurable: number;
  /** Proposed → the first follower's acknowledgement arrived (network + its fdatasync). */
  firstAck: number;
  /** Proposed → the leader knew it committed. */
  committed: number;
  /** Committed → applied and answered. */
  applied: number;
}

const NONE = -1;

export class EntryTrace {
  private readonly index = new Float64Array(ENTRY_TRACE_ENTRIES_MAX).fill(NONE);
  private readonly commands = new Uint32Array(ENTRY_TRACE_ENTRIES_MAX);
  private readonly arrived = new Float64Array(ENTRY_TRACE_ENTRIES_MAX);
  private readonly proposed = new Float64Array(ENTRY_TRACE_ENTRIES_MAX);
  private readonly durable = new Float64Array(ENTRY_TRACE_ENTRIES_MAX);
  private readonly committed = new Float64Array(ENTRY_TRACE_ENTRIES_MAX);
  private readonly applied = new Float64Array(ENTRY_TRACE_ENTRIES_MAX);
  private readonly acks = new Float64Array(ENTRY_TRACE_ENTRIES_MAX * ENTRY_TRACE_PEERS_MAX);
  /** Follower id by slot of `acks`. */
  private readonly peers: NodeId[] = [];
  /** Per follower slot: the highest index whose acknowledgement is stamped. */
  private readonly ackedThrough: number[] = [];
  private durableThrough = 0;
  private committedThrough = 0;
  /** Highest index proposed (stamps beyond it are for entries this node did not propose). */
  private proposedThrough = 0;

  constructor(private readonly onApplied?: (d: EntryStageDurations) => void) {}

  /** The leader proposed entry `index` holding `commands` commands, the first of which arrived at `arrivedMs`. */
  proposedEntry(index: number, commands: number, arrivedMs: number, nowMs: number): void {
    const s = index % ENTRY_TRACE_ENTRIES_MAX;
    this.index[s] = index;
    this.commands[s] = commands;
    this.arrived[s] = arrivedMs;
    this.proposed[s] = nowMs;
    this.durable[s] = 0;
    this.committed[s] = 0;
    this.applied[s] = 0;
    this.acks.fill(0, s * ENTRY_TRACE_PEERS_MAX, (s + 1) * ENTRY_TRACE_PEERS_MAX);
    if (index > this.proposedThrough) this.proposedThrough = index;
    // A new term's leader starts over from the entries it proposes.
    if (this.durableThrough >= index) this.durableThrough = index - 1;
    if (this.committedThrough >= index) this.committedThrough = index - 1;
    for (let k = 0; k < this.ackedThrough.length; k++)
      if (this.ackedThrough[k]! >= index) this.ackedThrough[k] = index - 1;
  }

  /** The leader's WAL is durable through `through`. */
  durableUpTo(through: number, nowMs: number): void {
    this.durableThrough = this.stampRange(this.durable, this.durableThrough, through, nowMs);
  }

  /** Follower `from` acknowledged everything through `through` (its match index). */
  acked(from: NodeId, through: number, nowMs: number): void {
    let slot = this.peers.indexOf(from);
    if (slot < 0) {
      if (this.peers.length >= ENTRY_TRACE_PEERS_MAX) return;
      slot = this.peers.push(from) - 1;
      this.ackedThrough.push(0);
    }
    const hi = Math.min(through, this.proposedThrough);
    let i = Math.max(this.ackedThrough[slot]! + 1, hi - ENTRY_TRACE_ENTRIES_MAX + 1);
    for (; i <= hi; i++) {
      const s = i % ENTRY_TRACE_ENTRIES_MAX;
      const at = s * ENTRY_TRACE_PEERS_MAX + slot;
      if (this.index[s] === i && this.acks[at] === 0) this.acks[at] = nowMs;
    }
    if (hi > this.ackedThrough[slot]!) this.ackedThrough[slot] = hi;
  }

  /** The leader learned that everything through `through` is committed. */
  committedUpTo(through: number, nowMs: number): void {
    this.committedThrough = this.stampRange(this.committed, this.committedThrough, through, nowMs);
  }

  /** Entry `index` was applied and its proposals answered. */
  appliedEntry(index: number, nowMs: number): void {
    const s = index % ENTRY_TRACE_ENTRIES_MAX;
    if (this.index[s] !== index || this.applied[s] !== 0) return;
    this.applied[s] = nowMs;
    if (this.onApplied === undefined || this.committed[s] === 0) return;
    let firstAck = Infinity;
    for (let k = 0; k < this.peers.length; k++) {
      const a = this.acks[s * ENTRY_TRACE_PEERS_MAX + k]!;
      if (a !== 0 && a < firstAck) firstAck = a;
    }
    const p = this.proposed[s]!;
    this.onApplied({
      queued: (p - this.arrived[s]!) / 1000,
      leaderDurable: this.durable[s] === 0 ? 0 : (this.durable[s]! - p) / 1000,
      firstAck: firstAck === Infinity ? 0 : (firstAck - p) / 1000,
      committed: (this.committed[s]! - p) / 1000,
      applied: (nowMs - this.committed[s]!) / 1000,
    });
  }

  /** The stages of entry `index`, if it is among the recent ones this node proposed. */
  stages(index: number): EntryStages | undefined {
    const s = index % ENTRY_TRACE_ENTRIES_MAX;
    if (this.index[s] !== index) return undefined;
    const t0 = this.arrived[s]!;
    const rel = (v: number): number | undefined => (v === 0 ? undefined : Math.round((v - t0) * 1000) / 1000);
    const acksMs: Record<number, number> = {};
    for (let k = 0; k < this.peers.length; k++) {
      const a = this.acks[s * ENTRY_TRACE_PEERS_MAX + k]!;
      if (a !== 0) acksMs[this.peers[k]!] = rel(a)!;
    }
    return {
      index,
      commands: this.commands[s]!,
      proposedMs: rel(this.proposed[s]!)!,
      durableMs: rel(this.durable[s]!),
      acksMs,
      committedMs: rel(this.committed[s]!),
      appliedMs: rel(this.applied[s]!),
    };
  }

  private stampRange(stamps: Float64Array, from: number, through: number, nowMs: number): number {
    const hi = Math.min(through, this.proposedThrough);
    for (let i = Math.max(from + 1, hi - ENTRY_TRACE_ENTRIES_MAX + 1); i <= hi; i++) {
      const s = i % ENTRY_TRACE_ENTRIES_MAX;
      if (this.index[s] === i && stamps[s] === 0) stamps[s] = nowMs;
    }
    return Math.max(from, hi);
  }
}
