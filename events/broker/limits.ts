// The broker process's limits, in one place: every bound on connections, requests, batches,
// fetches, groups, topics and files, with its unit in its name. How they must relate is asserted
// when the process loads, in limits-check.ts. Kafka's own format constants (header sizes) stay
// with their codecs.

// Connections and requests (server.ts)
/** Largest request accepted (Kafka's socket.request.max.bytes is 100 MiB); a larger size prefix closes the connection. */
export const KAFKA_REQUEST_BYTES_MAX = 64 * 1024 * 1024;
/** Connections served at once; further ones are closed by the server on accept. */
export const CONNECTIONS_MAX = 1024;
/** Unprocessed bytes a connection may buffer (pipelined requests) before reading pauses. */
export const CONNECTION_BUFFER_BYTES_MAX = KAFKA_REQUEST_BYTES_MAX + 64 * 1024;

// Record batches (record-batch.ts)
/** Largest record batch accepted from a producer or found in a log, header included (Kafka's message.max.bytes is about 1 MiB; this is roomier for batched event publishing). */
export const KAFKA_BATCH_BYTES_MAX = 8 * 1024 * 1024;

// Fetches and group timers (broker.ts)
/** Largest fetch response body, whatever the client asks (Kafka's fetch.max.bytes default is 50 MiB). */
export const FETCH_BYTES_MAX = 32 * 1024 * 1024;
/** Longest a Fetch waits for min_bytes (clients ask for 100 ms to 5 s; kafkajs's default is 5 s). */
export const FETCH_WAIT_MS_MAX = 30_000;
/** Fetches waiting at once, broker-wide (one per consumer connection is typical); beyond it a fetch answers at once. */
export const FETCH_WAITERS_MAX = 4096;
/**
 * Group session and rebalance timeouts are checked by one timer armed for the earliest deadline
 * (groups.ts nextDeadlineMs), re-armed after every group request and every check: no wake-ups
 * while nothing can expire (a polling tick here cost the idle broker 10 wake-ups a second). It
 * sleeps at most this long (ms) at a time, which bounds the effect of an injected clock (nowMs)
 * that does not follow real time.
 */
export const GROUP_TIMER_MAX_MS = 60_000;

// Partition logs on disk (log.ts)
/** Default segment size. */
export const BROKER_SEGMENT_BYTES_MAX = 64 * 1024 * 1024;
/** Largest configurable segment. */
export const BROKER_SEGMENT_BYTES_LIMIT = 1024 * 1024 * 1024;
/** One sparse-index entry per this many log bytes (Kafka's index.interval.bytes): a read scans at most this much plus one batch before the wanted offset. */
export const INDEX_INTERVAL_BYTES = 4096;
/** Bytes read at a time when walking batch headers (grown for a larger batch during recovery). */
export const BROKER_READ_WINDOW_BYTES = 64 * 1024;

// Consumer groups (groups.ts)
/** Members per group (Kafka's group.max.size); one more gets GROUP_MAX_SIZE_REACHED. */
export const GROUP_MEMBERS_MAX = 256;
/** Groups held in memory; a JoinGroup for a new group beyond it gets COORDINATOR_NOT_AVAILABLE. */
export const GROUPS_MAX = 1024;
/** Session timeout bounds (Kafka's group.min/max.session.timeout.ms defaults are 6 s and 30 min; the floor here is lower so tests need not wait). */
export const GROUP_SESSION_TIMEOUT_MS_MIN = 1_000;
export const GROUP_SESSION_TIMEOUT_MS_MAX = 30 * 60_000;
/** Longest group id, protocol type or protocol name (bytes of UTF-16 code units; an int16 string holds 32 KiB). */
export const GROUP_NAME_CHARS_MAX = 255;

// Topics and partitions (topics.ts)
/** Topics per broker; CreateTopics (or auto-creation) beyond it gets POLICY_VIOLATION. */
export const TOPICS_MAX = 256;
/** Partitions per topic; more gets INVALID_PARTITIONS. */
export const PARTITIONS_PER_TOPIC_MAX = 256;
/** Partitions per broker, all topics together: each partition keeps its active segment open (one file descriptor). */
export const PARTITIONS_TOTAL_MAX = 4096;
/** Kafka's limit on a topic name (it must also fit a file name). */
export const TOPIC_NAME_CHARS_MAX = 249;

// Committed offsets (offsets.ts)
/** Size past which the commits file is considered for compaction. */
export const OFFSETS_FILE_BYTES_MAX = 4 * 1024 * 1024;
/** Longest metadata string kept with a committed offset (Kafka's offset.metadata.max.bytes); longer gets OFFSET_METADATA_TOO_LARGE. */
export const OFFSET_METADATA_CHARS_MAX = 4096;

// Idempotent producers (producer-state.ts)
/** Batches remembered per producer for duplicate detection (Kafka's value: clients keep at most 5 in flight). */
export const PRODUCER_BATCHES_CACHED = 5;
/** Producers remembered per partition; the least recently appending one is forgotten beyond it (its next non-zero sequence is then refused). */
export const PRODUCERS_PER_PARTITION_MAX = 10_000;
