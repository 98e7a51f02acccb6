// The gateway process's limits, in one place (TigerBeetle's constants.zig): every bound on
// connections, requests, sessions, queues and timeouts at the edges and in the core, with its
// unit in its name. How they must relate to each other and to the replica client protocol's and
// the shard's limits is asserted when the process loads, in limits-check.ts. Config-file
// settings (risk limits, the receive window, the slow-order threshold) are in
// config/gateway-config.ts.

// The core: replica clients, sessions, the order cache, readiness (gateway.ts)
/** Replica client sessions per shard (each pipelines up to CLIENT_WINDOW_MAX commands; commands of one gateway session always use the same one, so they apply in order). */
export const SHARD_CLIENTS = 4;
/** Commands in flight to one shard at most; more are refused OVERLOADED. */
export const SHARD_INFLIGHT_MAX = 65_536;
/** A command not acknowledged by then is answered UNAVAILABLE (it may still take effect, at most once). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Orders in the gateway's view (order-view.ts: the last report seen per order, GetOrder of done orders), LRU; its client-order-id index holds at most as many. */
export const ORDER_CACHE_MAX = 200_000;
/** GetOrder: how long one replica may take to answer a book read (op 'order') before the next one is asked. */
export const BOOK_READ_TIMEOUT_MS = 2_000;
/**
 * Live orders one order session with cancel scope SESSION tracks (the orders it placed: what its
 * cancel-on-disconnect and dead-man's switch cancel). A PlaceOrder that would go beyond (live +
 * places in flight) is refused RISK_MAX_OPEN_ORDERS; the account's own maxOpenOrders usually binds first.
 */
export const SESSION_LIVE_ORDERS_MAX = 65_536;
/**
 * Cancels by order id sent at once when a SESSION-scope session's orders are canceled; the next
 * chunk goes when this one is answered, so that a session with many orders does not fill the
 * shard's window (SHARD_INFLIGHT_MAX) for everyone else.
 */
export const SESSION_CANCEL_BATCH_MAX = 1024;
/** Order sessions open at once. */
export const SESSIONS_MAX = 10_000;
/** Requests of one session waiting for their replies; more are refused OVERLOADED. */
export const SESSION_PENDING_MAX = 4_096;
/**
 * Body bytes of one session's requests waiting for their replies; beyond, OVERLOADED. A request
 * may carry up to 1,024 commands, so a count of requests alone would let one session queue
 * millions of commands (and the gateway's heap, and its garbage collection, grow with them)
 * when a client sends faster than the shard commits. 1 MiB ≈ 16,000 ~60-byte orders.
 */
export const SESSION_PENDING_BYTES_MAX = 1024 * 1024;
/** How long a readiness probe result is reused (ms). */
export const READINESS_CACHE_MS = 1_000;
/** Per replica status request of a readiness probe (ms). */
export const READINESS_PROBE_TIMEOUT_MS = 500;
/**
 * Per replica `instruments` request of ListInstruments / GET /v1/instruments (ms): a ReadIndex,
 * one quorum round trip; the replicas are asked leader first, each at most this long.
 */
export const INSTRUMENTS_READ_TIMEOUT_MS = 2_000;
/** Retry hint (ms) when no replica of a shard answered ListInstruments (UNAVAILABLE). */
export const INSTRUMENTS_RETRY_AFTER_MS = 100;
/** Slow orders the dump returns when the request does not say (`limit`, at most SLOW_ORDERS_MAX). */
export const SLOW_ORDERS_DUMP_DEFAULT = 50;

/**
 * Largest dead-man's switch (ms): a session's `x-mb-dead-man-ms` and the `timeout_ms` of
 * CancelAllAfter (`POST /v1/orders/cancel-all-after`, one timer per API key at most). The
 * largest setTimeout delay (2^31 − 1, ~24.8 days): Node runs a longer one after 1 ms.
 */
export const DEAD_MAN_MS_MAX = 2 ** 31 - 1;

// The gRPC edge (grpc-server.ts)
/** Messages of one OrderSession stream submitted to the core and not yet answered (or written); reading pauses at this many and resumes below half. */
export const SESSION_INFLIGHT_MAX = 1024;
/** Server keepalive: ping an idle connection after this long. */
export const KEEPALIVE_TIME_MS = 30_000;
/** Server keepalive: drop the connection when a ping is not acknowledged within this. */
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** Keepalive pings also on connections without calls (grpc-js servers ping idle connections regardless; passed for clarity and for C-core interop). */
export const KEEPALIVE_PERMIT_WITHOUT_CALLS = 1;
/**
 * Smallest interval between client pings the server should accept without data. grpc-js 1.14 does
 * not enforce it (it reads no `grpc.http2.*` server option; Node's HTTP/2 flood protection still
 * applies); it is passed under the C-core option names so the policy is explicit, and clients of
 * this gateway must not ping more often than this.
 */
export const MIN_PING_INTERVAL_MS = 10_000;
/** Largest request message accepted (bytes); larger ones fail with RESOURCE_EXHAUSTED before reaching the core. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;
/** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls (unary or session streams) open at once per connection. */
export const MAX_CONCURRENT_STREAMS = 1024;
/** stop(): how long in-flight calls may take to finish before they are cancelled. */
export const STOP_GRACE_MS = 5_000;
/** Unary calls end with DEADLINE_EXCEEDED this long before the deadline, so that our reply (with x-mb-error-code) beats grpc-js's own deadline timer and reaches the client in time. */
export const DEADLINE_REPLY_MARGIN_MS = 5;
/**
 * Replies and unsolicited reports queued in one session stream at most. Requests are bounded by
 * the session's own limits; unsolicited reports are not, so a client that stops reading while
 * its resting orders fill is cut off here (OVERLOADED) instead of growing the gateway's memory.
 */
export const SESSION_STREAM_QUEUE_MAX = 16_384;
/**
 * Response metadata (headers + trailers, bytes) we assume every gRPC client accepts: C-core's
 * default `grpc.max_metadata_size` (Python, C++, Ruby… clients), the smallest in common use.
 */
export const CLIENT_METADATA_BYTES_ASSUMED = 8 * 1024;
/**
 * Largest encoded exchange.v1.OrderResult packed into the google.rpc.Status of a command the
 * engine refused after sequencing (the `grpc-status-details-bin` trailer, base64 on the wire).
 * A refused order has one report (~350 bytes) and a refused cancel or amend none, so only a
 * refusal whose command also produced many reports (a multi-shard mass cancel refused by one
 * shard) can pass it; then the OrderResult is left out of the details (the reports are chained
 * all the same: the client sees a gap in its chain_seq and reads the orders back).
 */
export const STATUS_DETAILS_RESULT_BYTES_MAX = 4 * 1024;

// The REST edge (rest-server.ts)
/** Requests between their arrival and the core's answer, at most; beyond: 503 OVERLOADED. */
export const REST_INFLIGHT_MAX = 65_536;
/** Largest request body (bytes); beyond: 413 without calling the core. */
export const REST_BODY_BYTES_MAX_DEFAULT = 64 * 1024;

// The private user stream (user-stream.ts: the per-account rings; user-stream-server.ts: the WebSocket edge)
/**
 * Execution reports held per account for resuming (a ring: the newest replace the oldest). A
 * client that resumes from further back gets RESUME_GAP; a connection whose unsent reports fall
 * out of the ring (it reads slower than its account trades) is closed SLOW_CONSUMER (4008). An
 * account's ring exists from its first login on this gateway and is restored from the journal at a restart
 * (~1 KiB a report: ≤ ~10 MiB an account).
 */
export const USER_STREAM_REPORTS_HELD_MAX = 10_000;
/** User-stream WebSocket connections open at once (logged in or not); more are refused at the upgrade (HTTP 503, USER_STREAM_CONNECTIONS_MAX). */
export const USER_STREAM_CONNECTIONS_MAX = 1_000;
/** Logged-in user-stream connections of one account; one more login is refused (USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX) and closed 4029. */
export const USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX = 16;
/**
 * Bytes uWS may hold for one user-stream connection (what the kernel did not take yet): reports
 * are sent while the connection's buffered amount is below this and the rest wait in the
 * account's ring until uWS drains; memory per connection is this plus one message.
 */
export const USER_STREAM_SEND_BYTES_MAX = 1024 * 1024;
/**
 * Reports a user-stream connection may have unsent before it is pumped at once: below this (and
 * below half its ring) the publishes of one event-loop turn are sent together at the end of the
 * turn, in one corked write (one send(2) instead of one per report);
 * at it, they are sent right away, so that a burst (a mass cancel) never overtakes a reading connection.
 */
export const USER_STREAM_SEND_DEFER_REPORTS_MAX = 256;
/** Largest message a client may send (a login is ~300 bytes); beyond, uWS drops the connection (no close frame: the client sees 1006). */
export const USER_STREAM_CLIENT_MESSAGE_BYTES_MAX = 4 * 1024;
/** A connection that has not logged in by then is closed LOGIN_TIMEOUT (4002). */
export const USER_STREAM_LOGIN_TIMEOUT_MS = 10_000;
/** uWS idleTimeout (s): it pings idle connections automatically and closes one that stays silent this long. */
export const USER_STREAM_IDLE_TIMEOUT_S = 60;
/**
 * The user stream's journal (user-stream-store.ts, `<dataDir>/user-stream/`): a segment is
 * closed once it holds this many bytes and a new one starts with a checkpoint of every stream
 * (its last stream_seq, where a re-sync starts); a single report line may overshoot it.
 */
export const USER_STREAM_SEGMENT_BYTES_MAX = 64 * 1024 * 1024;
/**
 * Journal segments kept (the newest): older ones are deleted at rotation, so the journal takes at
 * most about this × USER_STREAM_SEGMENT_BYTES_MAX on disk and in memory while it is read at start.
 * Reports only in a deleted segment are not held after a restart (a resume from there: RESUME_GAP).
 */
export const USER_STREAM_SEGMENTS_KEPT = 4;

// Request sizes (validate.ts)
/** Largest unary request body (JSON or protobuf). */
export const REQUEST_BODY_BYTES_MAX = 64 * 1024;
/** Largest number of commands in one OrderSessionRequest. */
export const SESSION_BATCH_COMMANDS_MAX = 1024;
/** Largest OrderSessionRequest message (1,024 commands of up to ~1 KiB each). */
export const SESSION_REQUEST_BYTES_MAX = 1024 * 1024;
export const CLIENT_ORDER_ID_MAX = 36;

// The validation and signing pool (worker-pool.ts)
export const BATCH_MAX_DEFAULT = 256;
/**
 * A sign batch of at most this many report payloads is signed on the main thread when it is
 * dispatched instead of in a worker: one HMAC-SHA256 costs ~5.6 µs inline, one task costs the
 * main thread ~100 µs here (postTask self time, mostly waking the worker: 620 ms over 5,859
 * tasks in a profile of bench:rest at ~7k orders/s), so small batches are cheaper inline, in
 * main-thread time and in total CPU. Large ones (busy order sessions) still go to the workers.
 */
export const SIGN_INLINE_PAYLOADS_MAX_DEFAULT = 16;
/**
 * Items validated on the main thread per event-loop turn while the pool is idle (see the file
 * header): a turn with a few requests (a quiet exchange, sequential clients) pays no worker
 * hand-off; a busier turn (≈ 20 µs each here, 8 ≈ 160 µs of main thread) goes to the workers.
 */
export const INLINE_ITEMS_PER_TURN_MAX_DEFAULT = 8;
/**
 * …and at most this many per INLINE_WINDOW_MS (1,000 a second): above that rate the items go to
 * the workers even when each turn brings only one. Measured (bench:grpc, single orders at
 * 10,000/s): with the per-turn budget alone every order was validated and signed inline — each
 * gRPC message came in its own turn, so the pool never looked busy — and the gateway's main
 * thread, the bottleneck at that rate, spent 20–50 µs more per order than with worker batches.
 */
export const INLINE_ITEMS_PER_WINDOW_MAX_DEFAULT = 100;
/** The window of INLINE_ITEMS_PER_WINDOW_MAX_DEFAULT (ms). */
export const INLINE_WINDOW_MS = 100;
/** A batch is also dispatched once its bodies (or report payloads) reach this many bytes: one session message may carry 1,024 commands. */
export const BATCH_BYTES_MAX_DEFAULT = 256 * 1024;
export const QUEUE_MAX_DEFAULT = 65_536;
/** retry_after_ms of an OVERLOADED refusal when the queue is full. */
export const OVERLOADED_RETRY_AFTER_MS = 50;

// The latency trace (trace.ts)
/** Slow orders kept for the dump (a ring: the newest replace the oldest). */
export const SLOW_ORDERS_MAX = 256;

// The browser page's operator console (ui-cluster-view.ts: GET /v1/ui/cluster)
/**
 * A gathered cluster view (every member's status and /metrics, the publishers', the query
 * service's) is answered again for this long: any number of open consoles cost one gathering per
 * interval. Requests during a gathering wait for it (one in flight at a time).
 */
export const UI_CLUSTER_CACHE_MS = 500;
/** One /metrics or /readyz scrape of another process; past it the process is reported unreachable ("timeout"). */
export const UI_SCRAPE_TIMEOUT_MS = 1_000;
/** A /metrics answer longer than this is cut off and the process reported unreachable ("too large"). */
export const UI_SCRAPE_BODY_MAX_BYTES = 4 * 1024 * 1024;
