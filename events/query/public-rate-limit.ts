// The budget of the unsigned public routes (/v1/market/*): a token bucket per client IP and one
// for all of them, so an open endpoint cannot be used to overload the query service. Pure: the
// clock is passed in (the REST edge passes Date.now; tests a fake clock). The IP table is
// bounded (PUBLIC_CLIENT_IPS_MAX): the least recently seen IP's bucket is forgotten first (Map
// iteration order is insertion order, and every use re-inserts), and starts full if it returns.

import {
  PUBLIC_BURST_PER_IP,
  PUBLIC_BURST_TOTAL,
  PUBLIC_CLIENT_IPS_MAX,
  PUBLIC_RATE_PER_IP_PER_SEC,
  PUBLIC_RATE_TOTAL_PER_SEC,
} from './limits.js';

export interface PublicRateLimits {
  perIpPerSec: number;
  perIpBurst: number;
  totalPerSec: number;
  totalBurst: number;
  ipsMax: number;
}

export const PUBLIC_RATE_LIMITS: PublicRateLimits = {
  perIpPerSec: PUBLIC_RATE_PER_IP_PER_SEC,
  perIpBurst: PUBLIC_BURST_PER_IP,
  totalPerSec: PUBLIC_RATE_TOTAL_PER_SEC,
  totalBurst: PUBLIC_BURST_TOTAL,
  ipsMax: PUBLIC_CLIENT_IPS_MAX,
};

interface Bucket {
  tokens: number;
  atMs: number;
}

/** The outcome of one request: allowed, or refused by which bucket and for how long (ms). */
export type PublicRateVerdict = { ok: true } | { ok: false; which: 'ip' | 'total'; retryAfterMs: number };

function refill(b: Bucket, nowMs: number, perSec: number, burst: number): void {
  const elapsedMs = Math.max(0, nowMs - b.atMs);
  b.atMs = Math.max(b.atMs, nowMs);
  b.tokens = Math.min(burst, b.tokens + (elapsedMs * perSec) / 1_000);
}

/** Time (ms, ≥ 1) until a bucket holds one whole token again. */
function untilOneMs(b: Bucket, perSec: number): number {
  return Math.max(1, Math.ceil(((1 - b.tokens) * 1_000) / perSec));
}

export class PublicRateLimiter {
  private readonly byIp = new Map<string, Bucket>();
  private readonly total: Bucket;

  constructor(
    readonly limits: PublicRateLimits = PUBLIC_RATE_LIMITS,
    nowMs = 0,
  ) {
    this.total = { tokens: limits.totalBurst, atMs: nowMs };
  }

  /** Takes one token from the IP's bucket and from the total, or neither. */
  take(ip: string, nowMs: number): PublicRateVerdict {
    const l = this.limits;
    let mine = this.byIp.get(ip);
    if (mine === undefined) {
      if (this.byIp.size >= l.ipsMax) this.byIp.delete(this.byIp.keys().next().value!);
      mine = { tokens: l.perIpBurst, atMs: nowMs };
    } else this.byIp.delete(ip);
    this.byIp.set(ip, mine); // most recently seen last
    refill(mine, nowMs, l.perIpPerSec, l.perIpBurst);
    refill(this.total, nowMs, l.totalPerSec, l.totalBurst);
    if (mine.tokens < 1) return { ok: false, which: 'ip', retryAfterMs: untilOneMs(mine, l.perIpPerSec) };
    if (this.total.tokens < 1)
      return { ok: false, which: 'total', retryAfterMs: untilOneMs(this.total, l.totalPerSec) };
    mine.tokens -= 1;
    this.total.tokens -= 1;
    return { ok: true };
  }

  /** Client IPs with a bucket now (≤ ipsMax). */
  get trackedIps(): number {
    return this.byIp.size;
  }
}
