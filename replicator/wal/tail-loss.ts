// The `tail-lost` marker: recovery found that the log lost entries this replica may have
// acknowledged (README, "Recovery"). Written durably before the damaged tail is cut, kept
// across restarts until the host calls clearTailLost() (the node caught up with a leader).
//
// Content: one JSON line
//   { mustReach, term, segment, offset, removedBytes, reason }
// `mustReach` is the sync mark at the loss (the log had acknowledged entries up to there), null
// when unknown (no readable sync mark); `term` is the hard state's term at that open. A second
// loss before the node caught up combines with the first: mustReach is the higher, or null if
// either is unknown (an unknown loss may reach anywhere); term is the higher. The other fields
// describe the latest loss, for the operator. Encoding and decoding are pure.
//
// A marker this code cannot read (an older format, or damage) still means "lost": it reads as
// { mustReach: undefined, term: 0 }.

export const TAIL_LOST_FILE = 'tail-lost';

/** What the host needs to know about a lost tail. */
export interface TailLoss {
  /** The sync mark when the loss was found: the log must reach it again; undefined if unknown. */
  mustReach: number | undefined;
  /** The hard state's term at the open that found the loss (the highest, over several). */
  term: number;
}

export interface TailLostRecord {
  mustReach: number | null;
  term: number;
  /** The segment cut (or the last segment, when the log ends early on a record boundary); null with no segment. */
  segment: string | null;
  /** Byte offset in `segment` where the log now ends. */
  offset: number;
  /** Bytes cut off (0 when nothing damaged was found, only a log that ends below the mark). */
  removedBytes: number;
  reason: string;
}

export function encodeTailLost(record: TailLostRecord): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(record)}\n`);
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Reads a marker's content; anything unreadable is an unknown loss (never an error). */
export function decodeTailLost(bytes: Uint8Array): TailLoss {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { mustReach: undefined, term: 0 };
  }
  const o = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  return { mustReach: isIndex(o.mustReach) ? o.mustReach : undefined, term: isIndex(o.term) ? o.term : 0 };
}

/** Two losses not yet caught up with, as one: the higher bound (unknown wins), the higher term. */
export function mergeTailLoss(a: TailLoss, b: TailLoss): TailLoss {
  const mustReach =
    a.mustReach === undefined || b.mustReach === undefined ? undefined : Math.max(a.mustReach, b.mustReach);
  return { mustReach, term: Math.max(a.term, b.term) };
}
