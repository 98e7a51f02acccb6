// Limits of the uWebSockets.js compatibility layer (ops/uws-compat/README.md). Each mirrors the
// bound the native uWS 20.30 build applies, so a server behaves the same on either: what a client
// can make the compat layer hold is bounded here, the rest by the servers' own limits (a ws
// route's maxPayloadLength and maxBackpressure, the servers' connection and inflight limits).

/**
 * Bytes of request line and headers at most (uWS: UWS_HTTP_MAX_HEADERS_SIZE, 4 KiB by default).
 * Beyond, node:http answers 431 and closes the connection.
 */
export const COMPAT_HTTP_HEADER_BYTES_MAX = 4_096;

/**
 * An HTTP connection with nothing to say for this long is closed (uWS: HTTP_IDLE_TIMEOUT_S = 10):
 * as node:http's keep-alive timeout between requests and its headers timeout within one (a
 * request whose headers are not in by then is closed without an answer, as uWS does).
 */
export const COMPAT_HTTP_IDLE_TIMEOUT_MS = 10_000;

/**
 * The whole request (headers and body) must arrive within this (node:http requestTimeout; uWS
 * times a slow body out after HTTP_IDLE_TIMEOUT_S without data; node has no per-chunk idle timer
 * for the body, so the whole request gets a few of those). Beyond, the connection is closed without
 * an answer, as uWS closes a timed-out one.
 */
export const COMPAT_HTTP_REQUEST_TIMEOUT_MS = 30_000;

/**
 * How often node:http checks the two timeouts above (its connectionsCheckingInterval, 30 s by
 * default, would let a slowloris hold a connection for up to 40 s instead of 10).
 */
export const COMPAT_HTTP_TIMEOUT_CHECK_MS = 1_000;

/**
 * Requests one keep-alive connection may carry (node:http maxRequestsPerSocket; 0 = no bound,
 * as uWS). Named so the choice is visible: a connection is bounded by the idle timeout instead.
 */
export const COMPAT_HTTP_REQUESTS_PER_CONNECTION_MAX = 0;

/**
 * A closing WebSocket whose peer never answers our close frame is destroyed after this (the
 * `ws` package's close timeout is 30 s; uWS shuts the socket down at once after its close frame).
 */
export const COMPAT_WS_CLOSE_TIMEOUT_MS = 10_000;
