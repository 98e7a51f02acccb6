// The in-memory slots of one Multi-Paxos replica: what its acceptor accepted per slot (holes
// allowed, any slot order), what its learner knows is chosen, the contiguous chosen prefix, and
// what a snapshot has folded away. Pure data structure with its invariants; the record log
// (README.md, "Durable state") holds the durable copy.

import { assertFor, type Assert } from '../../ops/assert.js';
import type { Ballot, PaxosValue, SlotValue } from './types.js';

export const invariant: Assert = assertFor('Paxos');

/** <0, 0, >0 as a is below, equal to, above b: rounds first, then leader ids. */
export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.leader !== b.leader) return a.leader < b.leader ? -1 : 1;
  return 0;
}

export function ballotEquals(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.leader === b.leader;
}

/** Same value: same kind, same origin ballot (one value per slot per ballot), same bytes. */
export function valuesEqual(a: PaxosValue, b: PaxosValue): boolean {
  if (a.type !== b.type || !ballotEquals(a.origin, b.origin) || a.data.length !== b.data.length) return false;
  for (let k = 0; k < a.data.length; k++) if (a.data[k] !== b.data[k]) return false;
  return true;
}

interface Stamped {
  ballot: Ballot;
  value: PaxosValue;
}

export class SlotStore {
  /** Every slot ≤ compacted is chosen and folded into a snapshot; nothing about it is kept here. */
  compacted = 0;
  /** Every slot ≤ chosen is chosen and its value known here (or compacted). */
  chosen = 0;
  private readonly accepted = new Map<number, Stamped>();
  private readonly learned = new Map<number, Stamped>();
  /** Highest slot this acceptor accepted anything in (0: none above the snapshot). */
  highestAccepted = 0;

  acceptedAt(slot: number): Stamped | undefined {
    return this.accepted.get(slot);
  }

  learnedAt(slot: number): Stamped | undefined {
    return this.learned.get(slot);
  }

  /** The acceptor accepts (slot, ballot, value): ballots per slot never go down, and a chosen slot only ever accepts its chosen value (P2). */
  accept(sv: SlotValue): void {
    invariant(sv.slot > this.compacted, `accept: slot ${sv.slot} is compacted (through ${this.compacted})`);
    const prev = this.accepted.get(sv.slot);
    if (prev !== undefined) {
      invariant(compareBallots(sv.ballot, prev.ballot) >= 0, `accept: slot ${sv.slot} ballot went down`);
      invariant(
        compareBallots(sv.ballot, prev.ballot) > 0 || valuesEqual(sv.value, prev.value),
        `accept: slot ${sv.slot} got two values in one ballot`,
      );
    }
    const known = this.learned.get(sv.slot);
    invariant(
      known === undefined || valuesEqual(known.value, sv.value),
      `P2 violated: slot ${sv.slot} is chosen but accepts another value at ballot ${sv.ballot.round}.${sv.ballot.leader}`,
    );
    this.accepted.set(sv.slot, { ballot: sv.ballot, value: sv.value });
    if (sv.slot > this.highestAccepted) this.highestAccepted = sv.slot;
  }

  /** Learns that `value` is chosen in `slot`; false if already known (or compacted). At most one value is ever chosen per slot. */
  learn(sv: SlotValue): boolean {
    if (sv.slot <= this.compacted) return false;
    const known = this.learned.get(sv.slot);
    if (known !== undefined) {
      invariant(valuesEqual(known.value, sv.value), `two values chosen in slot ${sv.slot}`);
      return false;
    }
    this.learned.set(sv.slot, { ballot: sv.ballot, value: sv.value });
    return true;
  }

  /** Grows the contiguous chosen prefix over learned slots; returns the new prefix. */
  advanceChosen(): number {
    while (this.learned.has(this.chosen + 1)) this.chosen++;
    return this.chosen;
  }

  /** The acceptor's proposals above `slot`, in slot order (what a PROMISE reports). */
  acceptedAbove(slot: number): SlotValue[] {
    const out: SlotValue[] = [];
    for (let s = slot + 1; s <= this.highestAccepted; s++) {
      const a = this.accepted.get(s);
      if (a !== undefined) out.push({ slot: s, ballot: a.ballot, value: a.value });
    }
    return out;
  }

  /** Chosen values from `from`, contiguous, at most `max` (catch-up). */
  chosenFrom(from: number, max: number): SlotValue[] {
    invariant(from > this.compacted, `chosenFrom: slot ${from} is compacted`);
    const out: SlotValue[] = [];
    for (let s = from; s <= this.chosen && out.length < max; s++) {
      const l = this.learned.get(s)!;
      out.push({ slot: s, ballot: l.ballot, value: l.value });
    }
    return out;
  }

  /** Drops everything through `slot` (chosen, applied and in a durable snapshot). */
  compact(slot: number): void {
    invariant(slot <= this.chosen, `compact: slot ${slot} is above the chosen prefix ${this.chosen}`);
    for (let s = this.compacted + 1; s <= slot; s++) {
      this.accepted.delete(s);
      this.learned.delete(s);
    }
    if (slot > this.compacted) this.compacted = slot;
  }

  /** A snapshot covering every slot ≤ `slot` replaces them (it may pass the chosen prefix). */
  installSnapshot(slot: number): void {
    for (const s of [...this.accepted.keys()]) if (s <= slot) this.accepted.delete(s);
    for (const s of [...this.learned.keys()]) if (s <= slot) this.learned.delete(s);
    if (slot > this.compacted) this.compacted = slot;
    if (slot > this.chosen) this.chosen = slot;
    if (this.highestAccepted < slot) this.highestAccepted = slot;
    this.advanceChosen();
  }
}
