// The results a replica's client port answered APPLIED, kept so that a copy of the same request
// resent later (after a client timeout: DUPLICATE in the session table) is answered with the
// original log index, engine seq and events instead of an empty acknowledgement — or the gateway
// would have nothing to tell its client (no order id, no reports).
//
// Cost on the reply path: one copy of the events' encoding (already written into the reply
// frame) into a ring, and five numbers into the session's slots; nothing is allocated per
// result. Bounded three ways: the ring's bytes (an overwritten result is simply gone), results
// per session (a client resends at most its window, CLIENT_WINDOW_MAX), and sessions.
// Not replicated: a resend that reaches another replica (a new leader) finds nothing there and
// is answered DUPLICATE without events, which the gateway reports as "took effect; check it".

/** Bytes of encoded events kept (the ring). */
export const RECENT_RESULTS_BYTES = 16 * 1024 * 1024;
/** Results kept per session (client id): two windows of CLIENT_WINDOW_MAX (256). */
export const RECENT_RESULTS_PER_SESSION_MAX = 512;
/** Sessions with kept results; the oldest goes first. */
export const RECENT_RESULTS_SESSIONS_MAX = 1_024;

/** Per session, slot requestSeq % RECENT_RESULTS_PER_SESSION_MAX holds: requestSeq, ring offset, length, index, seq. */
const FIELDS = 5;

export class RecentResults {
  /** Allocated at the first result kept (a follower's port never keeps any). */
  private ring: Uint8Array | undefined;
  /** Absolute offset where the next result's bytes go. */
  private written = 0;
  private readonly sessions = new Map<number, Float64Array>();

  constructor(private readonly ringBytes = RECENT_RESULTS_BYTES) {}

  /**
   * Keeps bytes [from, to) of `src` (copied) as the result of (clientId, requestSeq). Taking a
   * range rather than a view spares the reply path an allocation per result.
   */
  keep(
    clientId: number,
    requestSeq: number,
    index: number,
    seq: number,
    src: Uint8Array,
    from = 0,
    to = src.length,
  ): void {
    const length = to - from;
    if (length > this.ringBytes) return;
    // A result never wraps: if it does not fit before the ring's end, it starts at the next turn.
    let at = this.written;
    if ((at % this.ringBytes) + length > this.ringBytes) at += this.ringBytes - (at % this.ringBytes);
    const ring = (this.ring ??= new Uint8Array(this.ringBytes));
    const p = at % this.ringBytes;
    for (let k = 0; k < length; k++) ring[p + k] = src[from + k]!;
    this.written = at + length;
    let slots = this.sessions.get(clientId);
    if (slots === undefined) {
      if (this.sessions.size >= RECENT_RESULTS_SESSIONS_MAX) this.sessions.delete(this.sessions.keys().next().value!);
      this.sessions.set(clientId, (slots = new Float64Array(RECENT_RESULTS_PER_SESSION_MAX * FIELDS)));
    }
    const i = (requestSeq % RECENT_RESULTS_PER_SESSION_MAX) * FIELDS;
    slots[i] = requestSeq;
    slots[i + 1] = at;
    slots[i + 2] = length;
    slots[i + 3] = index;
    slots[i + 4] = seq;
  }

  /** The kept result of (clientId, requestSeq), or undefined (never kept, or overwritten since). */
  find(clientId: number, requestSeq: number): { index: number; seq: number; events: Uint8Array } | undefined {
    const slots = this.sessions.get(clientId);
    if (slots === undefined) return undefined;
    const i = (requestSeq % RECENT_RESULTS_PER_SESSION_MAX) * FIELDS;
    if (slots[i] !== requestSeq || slots[i + 1]! + this.ringBytes < this.written) return undefined;
    const from = slots[i + 1]! % this.ringBytes;
    return { index: slots[i + 3]!, seq: slots[i + 4]!, events: this.ring!.subarray(from, from + slots[i + 2]!) };
  }
}
