// The replica process's limits, in one place (TigerBeetle's constants.zig): every bound the
// replicated log, its WAL and its transport apply, with its unit in its name. How they must relate
// (an entry fits one APPEND, an APPEND fits one frame, …) is asserted when the process loads, in
// limits-check.ts. Format constants (header sizes) stay with their codecs; the client protocol's
// limits are in client/protocol.ts, and the shard's (command and batch sizes) in
// shard/batch-codec.ts — limits-check.ts checks them against these.

/** One Raft tick (ms). Election and heartbeat timeouts are counted in ticks. */
export const TICK_MS = 10;
/** Follower timeout before campaigning: randomized in [15, 30) ticks = 150–300 ms. */
export const ELECTION_TICKS = 15;
/** Leader heartbeat every 3 ticks = 30 ms (well under the election timeout, so one lost heartbeat is harmless). */
export const HEARTBEAT_TICKS = 3;
/** APPEND messages in flight per follower (pipelining depth). */
export const INFLIGHT_MESSAGES_MAX = 256;
/** Bytes of entries in flight per follower (64 MiB). */
export const INFLIGHT_BYTES_MAX = 64 * 1024 * 1024;
/** Bytes of entries in one APPEND (1 MiB; the transport coalesces messages up to its batch size). */
export const RAFT_APPEND_BYTES_MAX = 1024 * 1024;
/** Entries the leader holds uncommitted before refusing proposals with PROPOSAL_QUEUE_FULL. */
export const UNCOMMITTED_ENTRIES_MAX = 65_536;
/** Snapshot bytes per SNAPSHOT message (4 MiB, far under the transport's 32 MiB frame limit). */
export const SNAPSHOT_CHUNK_BYTES = 4 * 1024 * 1024;
/** Commands waiting to be applied on this node (queued for the core or in the log); more are refused at once. */
export const PENDING_PROPOSALS_MAX = 262_144;
/** Applied entries between two snapshots of the state machine. */
export const SNAPSHOT_INTERVAL_ENTRIES = 100_000;
/** The leader proposes an engine `tick` this often (ms), so GTD/DAY orders expire on log time even without traffic. */
export const TIME_TICK_MS = 1_000;
/**
 * Raft messages queued for the loop at most; more are dropped (Raft treats it as loss and
 * retransmits). Peers' in-flight windows normally keep the queue far below this.
 */
export const INBOX_MESSAGES_MAX = 262_144;
/** Linearizable reads waiting on one node at most (readIndex); more are refused PROPOSAL_QUEUE_FULL. */
export const READS_PENDING_MAX = 4096;
/** Largest batch handed to one wal.append() (32 MiB, half of WAL_APPEND_BYTES_MAX). */
export const WAL_APPEND_BATCH_BYTES_MAX = 32 * 1024 * 1024;
/** Bytes of entries in one WAL append() at most (64 MiB, records included): it is encoded in one buffer. */
export const WAL_APPEND_BYTES_MAX = 64 * 1024 * 1024;
/** Target size of one RAFT_BATCH transport frame when coalescing messages (1 MiB); one larger message is sent alone. */
export const TRANSPORT_BATCH_BYTES_MAX = 1024 * 1024;
/**
 * Multi-Paxos (replicator/paxos/, "consensus": "multipaxos"): the leader proposes slots up to its
 * chosen prefix + this (phase 2 pipelining; propose() refuses PROPOSAL_QUEUE_FULL beyond).
 */
export const PAXOS_PIPELINE_SLOTS_MAX = 8;
/**
 * Multi-Paxos: an acceptor accepts slots up to its chosen prefix + this (further ones wait for
 * catch-up), which bounds the accepted values one PROMISE reports. ≥ the pipeline, so a follower
 * one round trip behind the leader still accepts the whole window.
 */
export const PAXOS_ACCEPT_WINDOW_SLOTS = 16;
/** Multi-Paxos: chosen values in one LEARN (catch-up) message. */
export const PAXOS_LEARN_SLOTS_MAX = 16;
/**
 * Multi-Paxos: bytes of one snapshot received from a peer (its chunks reassembled,
 * transport/paxos-snapshot-assembly.ts): 1 GiB − 64 KiB, so that with the record log's snapshot
 * header it stays under the WAL's snapshot limit. A peer announcing more is not listened to
 * (its chunks are dropped and counted; the replica then cannot catch up through snapshots).
 */
export const PAXOS_SNAPSHOT_BYTES_MAX = 1024 * 1024 * 1024 - 64 * 1024;
/**
 * Multi-Paxos: snapshot chunks queued for one peer at once (2 chunks, 8 MiB; transport/paxos-transport.ts).
 * The rest of the snapshot waits in the sender and is queued as these leave, so a snapshot larger
 * than the transport's peer queue (PEER_QUEUE_BYTES_MAX) still goes through instead of being cut
 * by its drops, and other messages are not shut out of that queue meanwhile.
 */
export const PAXOS_SNAPSHOT_QUEUED_BYTES_MAX = 2 * SNAPSHOT_CHUNK_BYTES;
/** Multi-Paxos: how often a snapshot waiting to be queued checks the peer queue again (ms). */
export const PAXOS_SNAPSHOT_PACE_MS = 10;
/**
 * Multi-Paxos on the WAL (paxos/record-log.ts): a ballot is saved as one WAL term,
 * round × PAXOS_BALLOT_LEADER_SPAN + leader id, so that promises keep the WAL's order (terms never
 * go down) and two ballots of one round with different leaders are different terms. Hence node
 * ids of a Multi-Paxos cluster are at most PAXOS_NODE_ID_MAX (refused at start above it), and a
 * round at most PAXOS_ROUND_MAX (2^33 − 1: 27 years of a campaign every 100 ms); a promise above
 * it is refused (RangeError, fatal for the replica).
 */
export const PAXOS_BALLOT_LEADER_SPAN = 2 ** 20;
export const PAXOS_NODE_ID_MAX = PAXOS_BALLOT_LEADER_SPAN - 1;
export const PAXOS_ROUND_MAX = 2 ** 33 - 1;
/**
 * A TLS handshake on a replica or client-protocol port (TLS on, the cluster file's "tls") that has
 * not completed within this (ms) is dropped, so half-open handshakes cannot hold sockets.
 */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
