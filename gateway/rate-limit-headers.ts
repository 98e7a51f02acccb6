// The rate-limit state the gateway reports with every authenticated reply, and its header
// names: REST response headers and gRPC trailing metadata carry the same keys and values
// (docs/errors.md "Rate limits"). The state comes from the API key's token bucket (risk.ts).

/**
 * A token bucket's state as the edges report it to the client after a request (REST headers,
 * gRPC trailing metadata; rateLimitHeaders): the capacity, the whole tokens left, and the ms
 * until the bucket is full again.
 */
export interface RateLimitState {
  limit: number;
  remaining: number;
  resetMs: number;
}

/** REST response headers and gRPC metadata keys of RateLimitState (IETF draft RateLimit-* names, lower case). */
export const HEADER_RATELIMIT_LIMIT = 'ratelimit-limit';
export const HEADER_RATELIMIT_REMAINING = 'ratelimit-remaining';
/** Whole seconds (rounded up) until the bucket is full again. */
export const HEADER_RATELIMIT_RESET = 'ratelimit-reset';
/** The same in ms (exact), for clients that pace themselves finer than seconds. */
export const HEADER_RATELIMIT_RESET_MS = 'x-mb-ratelimit-reset-ms';

/** The headers (name → value) of a rate-limit state. */
export function rateLimitHeaders(s: RateLimitState): [string, string][] {
  return [
    [HEADER_RATELIMIT_LIMIT, String(s.limit)],
    [HEADER_RATELIMIT_REMAINING, String(s.remaining)],
    [HEADER_RATELIMIT_RESET, String(Math.ceil(s.resetMs / 1000))],
    [HEADER_RATELIMIT_RESET_MS, String(s.resetMs)],
  ];
}
