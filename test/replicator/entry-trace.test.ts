// The leader's entry trace (replicator/entry-trace.ts): stages stamped in order and reported
// relative to the first command's arrival; acknowledgements per follower; a new leader's
// proposals start the stages over; the ring forgets old entries; durations go to the observer
// once an entry is applied.

import { describe, expect, it } from 'vitest';
import { ENTRY_TRACE_ENTRIES_MAX, EntryTrace, type EntryStageDurations } from '../../replicator/entry-trace.js';

describe('EntryTrace', () => {
  it('stamps each stage of an entry, relative to its first command, and reports durations once applied', () => {
    const seen: EntryStageDurations[] = [];
    const t = new EntryTrace((d) => seen.push(d));
    t.proposedEntry(5, 3, 100, 100.5);
    t.acked(2, 4, 100.7); // below the entry: nothing
    t.durableUpTo(5, 101);
    t.acked(3, 5, 101.5);
    t.acked(2, 6, 102); // beyond what was proposed: covers 5 only
    t.committedUpTo(5, 101.6);
    expect(seen).toEqual([]);
    t.appliedEntry(5, 101.8);
    expect(t.stages(5)).toEqual({
      index: 5,
      commands: 3,
      proposedMs: 0.5,
      durableMs: 1,
      acksMs: { 3: 1.5, 2: 2 },
      committedMs: 1.6,
      appliedMs: 1.8,
    });
    expect(seen).toHaveLength(1);
    const d = seen[0]!;
    expect(d.queued).toBeCloseTo(0.0005);
    expect(d.leaderDurable).toBeCloseTo(0.0005);
    expect(d.firstAck).toBeCloseTo(0.001);
    expect(d.committed).toBeCloseTo(0.0011);
    expect(d.applied).toBeCloseTo(0.0002);
    // Applied twice (a restart re-applies): reported once.
    t.appliedEntry(5, 200);
    expect(seen).toHaveLength(1);
  });

  it('a later stamp never moves an earlier one; an entry not proposed here is unknown', () => {
    const t = new EntryTrace();
    t.proposedEntry(1, 1, 0, 0);
    t.proposedEntry(2, 1, 1, 1);
    t.durableUpTo(1, 2);
    t.durableUpTo(2, 3);
    t.durableUpTo(2, 9);
    expect(t.stages(1)!.durableMs).toBe(2);
    expect(t.stages(2)!.durableMs).toBe(2); // 3 - 1
    expect(t.stages(3)).toBeUndefined();
  });

  it('a new leader proposing at an index it had seen before starts that entry over', () => {
    const t = new EntryTrace();
    t.proposedEntry(7, 1, 0, 0);
    t.durableUpTo(7, 1);
    t.acked(2, 7, 1);
    t.committedUpTo(7, 1);
    // Leadership lost and won again; index 7 proposed anew (the old one was overwritten).
    t.proposedEntry(7, 2, 50, 50);
    expect(t.stages(7)).toEqual({
      index: 7,
      commands: 2,
      proposedMs: 0,
      durableMs: undefined,
      acksMs: {},
      committedMs: undefined,
      appliedMs: undefined,
    });
    t.durableUpTo(7, 51);
    t.acked(2, 7, 52);
    t.committedUpTo(7, 53);
    expect(t.stages(7)).toMatchObject({ durableMs: 1, acksMs: { 2: 2 }, committedMs: 3 });
  });

  it('keeps the last ENTRY_TRACE_ENTRIES_MAX entries only', () => {
    const t = new EntryTrace();
    const n = ENTRY_TRACE_ENTRIES_MAX + 10;
    for (let i = 1; i <= n; i++) t.proposedEntry(i, 1, i, i);
    t.committedUpTo(n, n + 1);
    expect(t.stages(1)).toBeUndefined();
    expect(t.stages(10)).toBeUndefined();
    expect(t.stages(11)!.committedMs).toBe(n + 1 - 11);
    expect(t.stages(n)!.committedMs).toBe(1);
  });
});
