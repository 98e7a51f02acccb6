// RecentResults (replicator/recent-results.ts): kept results come back byte for byte; the ring
// forgets what it has overwritten; per-session and session bounds hold.

import { describe, expect, it } from 'vitest';
import { RECENT_RESULTS_PER_SESSION_MAX, RecentResults } from '../../replicator/recent-results.js';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('recent results', () => {
  it('returns what was kept, until the ring comes round over it', () => {
    const r = new RecentResults(100);
    r.keep(1, 1, 10, 7, bytes(40, 1));
    r.keep(1, 2, 11, 8, bytes(40, 2));
    expect(r.find(1, 1)).toEqual({ index: 10, seq: 7, events: bytes(40, 1) });
    expect(r.find(1, 2)?.events).toEqual(bytes(40, 2));
    expect(r.find(1, 3)).toBeUndefined();
    expect(r.find(2, 1)).toBeUndefined();
    // 40 more bytes do not fit before the end (80 + 40 > 100): they start at 100, overwriting result 1 only.
    r.keep(1, 3, 12, 9, bytes(40, 3));
    expect(r.find(1, 1)).toBeUndefined();
    expect(r.find(1, 2)?.events).toEqual(bytes(40, 2));
    expect(r.find(1, 3)?.events).toEqual(bytes(40, 3));
    // A result larger than the ring is not kept.
    r.keep(1, 4, 13, 10, bytes(101, 4));
    expect(r.find(1, 4)).toBeUndefined();
  });

  it('keeps at most RECENT_RESULTS_PER_SESSION_MAX per session, the newest', () => {
    const r = new RecentResults(1 << 20);
    for (let k = 1; k <= RECENT_RESULTS_PER_SESSION_MAX + 10; k++) r.keep(5, k, k, k, bytes(1, k & 0xff));
    expect(r.find(5, 10)).toBeUndefined();
    expect(r.find(5, 11)?.seq).toBe(11);
    expect(r.find(5, RECENT_RESULTS_PER_SESSION_MAX + 10)?.seq).toBe(RECENT_RESULTS_PER_SESSION_MAX + 10);
  });
});
