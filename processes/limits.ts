// Limits of the processes this folder composes (`npm start`), each defined once here.

/**
 * `npm start -- --shards N`: at most this many shards (one Raft group of three replica
 * processes each, so 3 × SHARDS_MAX replica processes on one machine). A larger N exits 2.
 */
export const SHARDS_MAX = 8;

/**
 * Shard s of `npm start` adds s × SHARD_PORT_STRIDE to its replicas' raft, client, feed and ops
 * ports and to its publisher's ops port: shard 0 keeps the documented ports (7101–7103,
 * 7201–7203, 8091–8093, 9101–9103, publisher 9105). With SHARDS_MAX shards the highest shard
 * adds 70, which clashes with no other port of the exchange (processes/README.md, port table).
 */
export const SHARD_PORT_STRIDE = 10;
