// The simulated durable storage of one node: what survives a crash. The host persists a
// Ready as an ordered sequence of durable writes (snapshot, then each entry, then the hard
// state, the order a WAL appends them); a crash before the "fsync" completes keeps only a
// prefix of that sequence (a torn final write). A restarted node recovers from this, never
// from memory. Every write is checked against the storage invariants.

import type { Entry, HardState, RecoveredState, SnapshotMeta, TailLoss } from '../raft/types.js';

export class SimInvariantError extends Error {
  override name = 'SimInvariantError';
}

export function check(ok: boolean, message: string | (() => string)): asserts ok {
  if (!ok) throw new SimInvariantError(typeof message === 'string' ? message : message());
}

export function copyEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, type: e.type, data: e.data.slice() };
}

export interface DurableSnapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/** One durable write of a Ready, in WAL order. */
export type DurableOp =
  | { kind: 'snapshot'; snapshot: DurableSnapshot }
  | { kind: 'entry'; entry: Entry }
  | { kind: 'hardState'; hardState: HardState };

export class SimDisk {
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  snapshot: DurableSnapshot | undefined;
  /** Contiguous; entries[0].index === snapshotIndex() + 1. */
  entries: Entry[] = [];
  /** Durable writes so far (statistics). */
  writes = 0;
  /** The marker the real WAL writes when it cuts off a damaged tail (loseTail): what may be lost. */
  tailLost: TailLoss | undefined;

  constructor(readonly nodeId: number) {}

  snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  lastIndex(): number {
    return this.snapshotIndex() + this.entries.length;
  }

  /** Term of the entry at `index` (the snapshot's term at its index, 0 at index 0), or undefined. */
  termAt(index: number): number | undefined {
    const si = this.snapshotIndex();
    if (index === si) return this.snapshot?.meta.term ?? 0;
    if (index < si || index > this.lastIndex()) return undefined;
    return this.entries[index - si - 1]!.term;
  }

  entryAt(index: number): Entry | undefined {
    const si = this.snapshotIndex();
    if (index <= si || index > this.lastIndex()) return undefined;
    return this.entries[index - si - 1];
  }

  isEmpty(): boolean {
    return this.hardState.term === 0 && this.hardState.vote === 0 && this.hardState.commit === 0 && this.snapshot === undefined && this.entries.length === 0;
  }

  /** The durable writes for one Ready, in the order they reach the disk. */
  static opsOf(snapshot: DurableSnapshot | undefined, entries: readonly Entry[], hardState: HardState | undefined): DurableOp[] {
    const ops: DurableOp[] = [];
    // Hard state first, as replicator/node.ts does: an entry on disk implies its term on disk.
    if (hardState) ops.push({ kind: 'hardState', hardState });
    if (snapshot) ops.push({ kind: 'snapshot', snapshot });
    for (const entry of entries) ops.push({ kind: 'entry', entry });
    return ops;
  }

  write(op: DurableOp): void {
    this.writes++;
    switch (op.kind) {
      case 'snapshot':
        return this.writeSnapshot(op.snapshot);
      case 'entry':
        return this.appendEntry(op.entry);
      case 'hardState':
        return this.writeHardState(op.hardState);
    }
  }

  /** Appends one entry; an entry at or before the last index first truncates the log from there. */
  appendEntry(e: Entry): void {
    const n = this.nodeId;
    check(Number.isSafeInteger(e.index) && Number.isSafeInteger(e.term) && e.term > 0, () => `disk ${n}: bad entry index ${e.index} term ${e.term}`);
    check(e.index > this.snapshotIndex(), () => `disk ${n}: entry ${e.index} at or below the snapshot index ${this.snapshotIndex()}`);
    check(e.index <= this.lastIndex() + 1, () => `disk ${n}: entry ${e.index} leaves a gap after last index ${this.lastIndex()}`);
    check(e.index > this.hardState.commit || this.termAt(e.index) === e.term, () =>
      `disk ${n}: entry ${e.index}/${e.term} overwrites committed entry ${e.index}/${this.termAt(e.index)} (durable commit ${this.hardState.commit})`,
    );
    const prevTerm = this.termAt(e.index - 1)!;
    check(e.term >= prevTerm, () => `disk ${n}: entry ${e.index} has term ${e.term} below the previous entry's term ${prevTerm}`);
    this.entries.length = e.index - this.snapshotIndex() - 1;
    this.entries.push(copyEntry(e));
  }

  writeHardState(hs: HardState): void {
    const n = this.nodeId;
    const old = this.hardState;
    check(hs.term >= old.term, () => `disk ${n}: durable term decreases ${old.term} -> ${hs.term}`);
    check(hs.commit >= old.commit, () => `disk ${n}: durable commit decreases ${old.commit} -> ${hs.commit}`);
    check(!(hs.term === old.term && old.vote !== 0 && hs.vote !== old.vote), () => `disk ${n}: vote changes within term ${hs.term}: ${old.vote} -> ${hs.vote}`);
    check(hs.commit <= this.lastIndex(), () => `disk ${n}: durable commit ${hs.commit} beyond the durable log (last index ${this.lastIndex()})`);
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /** A snapshot from the leader: keep the log after it only if the log holds the snapshot's last entry. */
  writeSnapshot(s: DurableSnapshot): void {
    const n = this.nodeId;
    const { index, term } = s.meta;
    check(index > this.snapshotIndex(), () => `disk ${n}: snapshot at ${index} not after the current snapshot at ${this.snapshotIndex()}`);
    const keep = this.termAt(index) === term ? this.entries.slice(index - this.snapshotIndex()) : [];
    this.snapshot = { meta: copyMeta(s.meta), data: s.data.slice() };
    this.entries = keep;
    if (this.hardState.commit < index) this.hardState = { ...this.hardState, commit: index };
  }

  /** The host compacted its log at meta.index (state machine snapshot taken at ≤ applied). Atomic. */
  compact(meta: SnapshotMeta, data: Uint8Array): void {
    const n = this.nodeId;
    check(meta.index > this.snapshotIndex(), () => `disk ${n}: compaction at ${meta.index} not after the snapshot at ${this.snapshotIndex()}`);
    check(meta.index <= this.hardState.commit, () => `disk ${n}: compaction at ${meta.index} beyond the durable commit ${this.hardState.commit}`);
    check(this.termAt(meta.index) === meta.term, () => `disk ${n}: compaction at ${meta.index}/${meta.term} but the log has term ${this.termAt(meta.index)}`);
    this.entries = this.entries.slice(meta.index - this.snapshotIndex());
    this.snapshot = { meta: copyMeta(meta), data: data.slice() };
  }

  /**
   * Damage: the last `n` durable entries are lost (a WAL tail cut off). Like the real WAL's
   * recovery, the disk then marks the log as having lost its tail until the core reports that
   * it has caught up (Ready.logTailRecovered), and the durable commit is clamped to what is left.
   */
  loseTail(n: number, detected = true): void {
    check(n > 0 && n <= this.entries.length, () => `disk ${this.nodeId}: cannot lose ${n} of ${this.entries.length} entries`);
    const mustReach = Math.max(this.lastIndex(), this.tailLost?.mustReach ?? 0);
    this.entries.length -= n;
    // Undetected: a cut exactly on a record boundary leaves a log that looks whole.
    if (detected) this.tailLost = { mustReach, term: this.hardState.term };
    if (this.hardState.commit > this.lastIndex()) this.hardState = { ...this.hardState, commit: this.lastIndex() };
  }

  /** What a restarted node reads back; undefined for a node that never wrote anything. */
  recovered(): RecoveredState | undefined {
    if (this.isEmpty()) return undefined;
    const r: RecoveredState = { hardState: { ...this.hardState }, entries: this.entries.map(copyEntry) };
    if (this.tailLost) r.logTailLost = { ...this.tailLost };
    if (this.snapshot) {
      r.snapshot = copyMeta(this.snapshot.meta);
      r.snapshotData = this.snapshot.data.slice();
    }
    return r;
  }
}

export function copyMeta(m: SnapshotMeta): SnapshotMeta {
  return { index: m.index, term: m.term, conf: { voters: [...m.conf.voters], learners: [...m.conf.learners] } };
}
