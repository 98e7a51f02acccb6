// The in-memory view of a replica's Raft log: entries after the last snapshot, which
// of them are durable (stable), and the commit index. Pure data structure; the WAL
// holds the durable copy.

import type { Entry } from './types.js';
import { assertFor, type Assert } from '../../ops/assert.js';

export const invariant: Assert = assertFor('Raft');

export class RaftLog {
  /** Index and term of the last entry folded into the snapshot (0, 0 for none). */
  snapIndex = 0;
  snapTerm = 0;
  /** entries[k].index === snapIndex + 1 + k */
  entries: Entry[] = [];
  /** Highest index known durable on this node. */
  stable = 0;
  committed = 0;
  /** Highest index handed to the host for applying. */
  applying = 0;

  get firstIndex(): number {
    return this.snapIndex + 1;
  }

  get lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  get lastTerm(): number {
    return this.termAt(this.lastIndex)!;
  }

  /** Term of the entry at `index`, or undefined if compacted away or beyond the end. */
  termAt(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.lastIndex) return undefined;
    return this.entries[index - this.snapIndex - 1]!.term;
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.snapIndex || index > this.lastIndex) return undefined;
    return this.entries[index - this.snapIndex - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** Entries [lo, hi] inclusive, at most `bytesMax` of data (but at least one entry). */
  slice(lo: number, hi: number, bytesMax = Number.MAX_SAFE_INTEGER): Entry[] {
    invariant(lo > this.snapIndex, `slice: index ${lo} is compacted (first ${this.firstIndex})`);
    if (hi > this.lastIndex) hi = this.lastIndex;
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi; i++) {
      const e = this.entries[i - this.snapIndex - 1]!;
      bytes += e.data.length + ENTRY_OVERHEAD_BYTES;
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(e);
    }
    return out;
  }

  /** Raft §5.4.1: is a log ending at (index, term) at least as up to date as ours? */
  isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.lastTerm;
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex);
  }

  /** Index of the first entry of `ents` that conflicts with (or extends) the log; 0 if all already present. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** Largest index ≤ `index` whose term is ≤ `term` (fast backtracking, etcd's findConflictByTerm). */
  findConflictByTerm(index: number, term: number): number {
    if (index > this.lastIndex) return index;
    for (;;) {
      const t = this.termAt(index);
      if (t === undefined || t <= term) return index;
      index--;
    }
  }

  /** Appends entries, replacing any suffix from ents[0].index on. Never touches committed entries. */
  truncateAndAppend(ents: Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0]!.index;
    invariant(first > this.committed, `append: would overwrite committed index ${this.committed} from ${first}`);
    invariant(
      first > this.snapIndex && first <= this.lastIndex + 1,
      `append: gap, first ${first}, last ${this.lastIndex}`,
    );
    if (first <= this.lastIndex) {
      this.entries.length = first - this.snapIndex - 1;
      if (this.stable >= first) this.stable = first - 1;
    }
    for (const e of ents) {
      invariant(e.index === this.lastIndex + 1, `append: entry index ${e.index} after ${this.lastIndex}`);
      this.entries.push(e);
    }
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex, `commit ${index} beyond last index ${this.lastIndex}`);
    this.committed = index;
  }

  /** Drops entries ≤ index (they are in a snapshot now). */
  compact(index: number, term: number): void {
    if (index <= this.snapIndex) return;
    invariant(index <= this.lastIndex, `compact: index ${index} beyond last ${this.lastIndex}`);
    invariant(this.termAt(index) === term, `compact: term mismatch at ${index}`);
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
  }

  /** Replaces the whole log with a snapshot (a follower far behind). */
  restore(index: number, term: number): void {
    this.entries = [];
    this.snapIndex = index;
    this.snapTerm = term;
    this.stable = index;
    this.committed = index;
    this.applying = index;
  }
}

/** Bookkeeping bytes counted per entry besides its data (index, term, type, framing). */
export const ENTRY_OVERHEAD_BYTES = 24;
