// The query service's limits, in one place: waits, page sizes, requests in flight and message
// sizes at its REST and gRPC edges, readiness. How they relate to each other, to the read models'
// and to the broker's is asserted when the process loads, in limits-check.ts.

// Reads (service.ts)
/** How long a read-your-writes query waits by default (ms). */
export const READ_AFTER_WAIT_MS_DEFAULT = 2_000;
/** The longest wait a query may ask for (ms). */
export const READ_AFTER_WAIT_MS_MAX = 10_000;
/** Queries waiting for their min_seq at once; more are refused OVERLOADED. */
export const READ_AFTER_WAITERS_MAX = 10_000;
/** Retry hint of NOT_YET_CONSISTENT (ms). */
export const NOT_YET_CONSISTENT_RETRY_MS = 500;
export const FILLS_LIMIT_DEFAULT = 100;
export const CANDLES_LIMIT_DEFAULT = 100;
export const CANDLES_LIMIT_MAX = 3_600;
/** Orders in one GetOrders answer at most (an account holds at most 10,000 finished plus its open ones). */
export const ORDERS_LIMIT_MAX = 100_000;

// Public market data (service.ts, rest-server.ts: /v1/market/*, no signature)
export const PUBLIC_TRADES_LIMIT_DEFAULT = 100;
/** At most this many trades per answer (the read models keep TRADES_PER_SYMBOL_MAX per instrument). */
export const PUBLIC_TRADES_LIMIT_MAX = 1_000;
/**
 * Token buckets in front of the unsigned routes, so an open endpoint cannot overload the
 * service: one per client IP (refill per second, capacity) and one for all of them together.
 * An empty bucket is 429 RATE_LIMITED (reason PUBLIC_RATE_PER_IP / PUBLIC_RATE_TOTAL) with
 * retry_after_ms = until a token is back. Signed routes are not counted here.
 */
export const PUBLIC_RATE_PER_IP_PER_SEC = 20;
export const PUBLIC_BURST_PER_IP = 40;
export const PUBLIC_RATE_TOTAL_PER_SEC = 1_000;
export const PUBLIC_BURST_TOTAL = 2_000;
/** Client IPs with a bucket at once; beyond, the least recently seen IP's bucket is forgotten (it starts full again). */
export const PUBLIC_CLIENT_IPS_MAX = 10_000;

// The REST edge (rest-server.ts)
/** Queries between arrival and answer at most (read-your-writes ones wait); beyond: 503 OVERLOADED. */
export const QUERY_REST_INFLIGHT_MAX = 16_384;
/**
 * CORS: how long (s) a browser may reuse a preflight's answer (OPTIONS: access-control-max-age)
 * before preflighting a signed GET again. Chromium caps it at 7,200 s, Firefox at 86,400.
 */
export const QUERY_CORS_MAX_AGE_S = 600;

// The gRPC edge (grpc-server.ts)
/** Largest request message (bytes); queries are small. */
export const QUERY_GRPC_RECEIVE_BYTES_MAX = 64 * 1024;
/** Largest reply (bytes): up to 10,000 fills or orders. */
export const QUERY_GRPC_SEND_BYTES_MAX = 64 * 1024 * 1024;
/**
 * How often (ms) the gRPC health status (grpc.health.v1) is refreshed from readiness: NOT_SERVING
 * until the read models are ready (as /readyz), SERVING after; a Check sees a change within this.
 */
export const QUERY_HEALTH_REFRESH_MS = 250;

// Readiness (metrics.ts)
/**
 * /readyz: ready once the read models consume and every read model is at most this many
 * records behind its topics. In steady state they trail by a fetch (tens of records at most);
 * one rebuilding from offset zero, or one whose broker is away, is not ready.
 */
export const QUERY_READY_LAG_RECORDS_MAX = 10_000;
