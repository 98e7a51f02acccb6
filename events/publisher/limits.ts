// The publisher process's limits, in one place: how much it reads from the replicas at once,
// how much it sends to Kafka at once, how often it writes progress and checkpoints, how it
// retries, with units in the names. How they relate to each other and to the replica client
// protocol's limits is asserted when the process loads, in limits-check.ts.

import { CLIENT_REPLY_BYTES_MAX } from '../../replicator/client/protocol.js';

// Reading entries, sending records, progress and checkpoints (publisher.ts)
/** Entry bytes pulled from a replica per request (one full batch entry). */
export const ENTRIES_CHUNK_BYTES = 1024 * 1024;
/** Entry bytes per request while replaying silently up to the published index (no records to build). */
export const ENTRIES_REPLAY_CHUNK_BYTES = 8 * 1024 * 1024;
/**
 * When caught up, how long a request waits at the replica for the next entry (ms). A committed
 * entry ends the wait at once, so this adds no latency; it is the idle publisher's round-trip
 * rate (the leader's time ticks end most waits anyway, one a second).
 */
export const ENTRIES_WAIT_MS = 2_000;
/** Records in one sendBatch at most; a chunk that makes more is sent in several. */
export const RECORDS_PER_SEND_MAX = 20_000;
/**
 * When idle, a progress record for client commands without published events (a cancel reject:
 * a read with that seq as min_seq waits for it) at most this often (ms).
 */
export const PROGRESS_IDLE_INTERVAL_MS = 1_000;
/**
 * …and for entries that are only the leader's time ticks at most this often (ms). No reader
 * waits for a tick's seq (min_seq is a client command's), so their progress only moves the
 * resume point (a restart replays at most this many seconds of ticks silently) and the
 * read models' as_of; at one a second it cost a produce, an fsync at the broker and a snapshot
 * of the read models every few seconds on an idle exchange.
 */
export const PROGRESS_TICKS_INTERVAL_MS = 60_000;
/** A local checkpoint after this many applied entries… */
export const CHECKPOINT_INTERVAL_ENTRIES = 20_000;
/** …or this long (ms), whichever comes first (and only once something new is published). */
export const CHECKPOINT_INTERVAL_MS = 30_000;
/** First delay before a new session after a failure (ms); doubles up to SESSION_RETRY_DELAY_MS_MAX. */
export const SESSION_RETRY_DELAY_MS = 100;
export const SESSION_RETRY_DELAY_MS_MAX = 5_000;
/**
 * A publisher that refused its resume point (the replicas' log is not the one the progress
 * record is about, or cannot be shown to be) reads the progress record again this often (ms):
 * once the operator has deleted the topics (or pointed it at a fresh broker) it goes on by itself.
 * Each recheck is one session start (a progress read, a replay up to where the logs differ).
 */
export const LOG_RECHECK_DELAY_MS = 30_000;
/** Gaps remembered in status() (the count and entries are totals). */
export const GAPS_KEPT = 16;
/** kafkajs produce timeout (ms): the broker acknowledges after its fsync. */
export const PRODUCE_TIMEOUT_MS = 30_000;

// The replicas as a source of committed entries (entry-source.ts)
/** A request unanswered this long beyond its own wait (ms) counts as a failure of the replica. */
export const ENTRY_REQUEST_TIMEOUT_MS = 5_000;
/** A replica whose applied index has not moved for this long (ms) is left for the next one (> the leader's 1 s time tick). */
export const ENTRY_SOURCE_STALE_MS = 5_000;
/** First delay before trying the next replica after a failure (ms); doubles per round over all replicas. */
export const ENTRY_RETRY_DELAY_MS = 25;
/** Cap of that delay (ms). */
export const ENTRY_RETRY_DELAY_MS_MAX = 1_000;
/**
 * Largest reply accepted (bytes): a snapshot of a full book travels in one frame. Bounded by
 * the client protocol's reply limit (64 MiB); a bigger snapshot is refused as a failure.
 */
export const ENTRY_REPLY_BYTES_MAX = CLIENT_REPLY_BYTES_MAX;

// Record keys (records.ts)
/** Keys whose bytes and partitions are remembered at most (accounts, symbols); beyond, the cache restarts empty. */
export const KEY_CACHE_ENTRIES_MAX = 100_000;

// Finding the last progress record at start (progress.ts)
/** Records read per backward step. */
export const PROGRESS_SCAN_WINDOW_RECORDS = 1_024;
/** Backward steps at most (then: no progress found — the publisher starts from the beginning, duplicates are dropped downstream). */
export const PROGRESS_SCAN_STEPS_MAX = 64;
/** One window's read (join + fetch) must finish within this (ms), else the session fails and is retried. */
export const PROGRESS_READ_TIMEOUT_MS = 30_000;

// Readiness (metrics.ts)
/**
 * /readyz: ready while publishing with at most this many entries unpublished. A publisher in
 * steady state trails by one chunk at most (a few entries); one catching up on a backlog, or
 * one that cannot reach the brokers, is not ready. A tenth of the replicas' default snapshot
 * interval (100,000 entries): far enough from the point where compaction makes a gap.
 */
export const PUBLISHER_READY_LAG_ENTRIES_MAX = 10_000;
