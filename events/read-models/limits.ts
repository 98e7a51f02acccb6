// The read models' limits (they run in the query process): what each view keeps per account and
// order, and how the consumer paces itself against the broker. Checked with the query service's
// limits when the process loads (events/query/limits-check.ts).

// What the views keep (model.ts)
/** Finished orders (filled, canceled, rejected, expired) kept per account; the oldest finished are forgotten first. */
export const DONE_ORDERS_PER_ACCOUNT_MAX = 10_000;
/** Fills kept per account (the most recent). */
export const FILLS_PER_ACCOUNT_MAX = 10_000;
/** Client order ids remembered per order (the current one and those it was amended from). */
export const CLIENT_ORDER_IDS_PER_ORDER_MAX = 16;
/** Public trades kept per instrument (the most recent): what GET /v1/market/trades/{symbol} can return. */
export const TRADES_PER_SYMBOL_MAX = 1_000;
/** Read-your-writes marks waiting per shard; beyond, the oldest are dropped (a later mark covers them, only later). */
export const PROGRESS_MARKS_PER_SHARD_MAX = 1_024;

// The consumer (consumer.ts)
/** How often the model is written to its snapshot file when it changed (ms). */
export const SNAPSHOT_INTERVAL_MS = 5_000;
/**
 * How often high watermarks are fetched for the lag figures (ms). Between polls, every batch
 * consumed brings its partition's high watermark, so the figures of partitions that receive
 * records stay current; the poll covers partitions the consumer is not getting records from
 * (not assigned yet, or a stuck consumer): four ListOffsets round trips to the broker each time.
 */
export const LAG_POLL_MS = 5_000;
/** Seeks to the model's offset tried per partition and group join before a batch that starts later is accepted (a gap: retention deleted records). */
export const SEEK_ATTEMPTS_MAX = 5;
/**
 * kafkajs fetch long-poll (ms): how long the broker may hold a fetch with nothing new. A record
 * produced meanwhile ends the wait at once (min bytes 1), so this adds no latency; it is the
 * idle consumer's fetch rate (1 round trip a second instead of 10 at 100 ms), how late an idle
 * member heartbeats at worst (kafkajs heartbeats between fetches: keep it well under
 * SESSION_TIMEOUT_MS), and how long stop() may wait for the fetch in flight.
 */
export const FETCH_MAX_WAIT_MS = 1_000;
export const SESSION_TIMEOUT_MS = 10_000;
export const HEARTBEAT_INTERVAL_MS = 1_000;
/**
 * After a crash kafkajs does not restart itself from (a non-retriable error: the broker
 * unreachable longer than its retries, say), the consumer is started again after this delay
 * (ms), doubling up to the max, until it runs or is stopped.
 */
export const CONSUMER_RESTART_DELAY_MS = 500;
export const CONSUMER_RESTART_DELAY_MS_MAX = 5_000;
