// Global order ids: what every edge shows for an order (reports, GetOrder, the event records,
// the audit export) and takes back (cancel, amend, get, --order).
//
//   order_id = shard × 2^44 + the order's shard-local id (the engine's sequence number)
//
// A shard numbers its orders by itself; the shard part makes the id unique across the exchange
// and tells the gateway where to route a cancel or amend without a lookup. 44 bits of local id
// (17.6 trillion orders per shard) leave 9 bits of shard (0…511) below 2^53, so that every id
// is a safe integer: a JSON number, a double, exactly. On a one-shard exchange the order id is
// the local id.
//
// toGlobalOrderId/fromGlobalOrderId check their input (the gateway, the event records);
// orderIdOf, shardOfOrderId and localOfOrderId are the same arithmetic unchecked, for ids
// read back from a log (the audit) and for the report chain's journal.

export const ORDER_ID_SHARD_BITS = 44;
/** 2^44: order_id = shard × ORDER_ID_SHARD_FACTOR + local id. */
export const ORDER_ID_SHARD_FACTOR = 2 ** ORDER_ID_SHARD_BITS;
/** Shard ids such that every global order id stays a safe integer: 0 … 2^(53−44) − 1. */
export const SHARD_ID_MAX = 2 ** (53 - ORDER_ID_SHARD_BITS) - 1;

/** shard × 2^44 + local, unchecked. */
export function orderIdOf(shard: number, local: number): number {
  return shard * ORDER_ID_SHARD_FACTOR + local;
}

/** The shard part of a global order id, unchecked. */
export function shardOfOrderId(id: number): number {
  return Math.floor(id / ORDER_ID_SHARD_FACTOR);
}

/** The shard-local part of a global order id, unchecked. */
export function localOfOrderId(id: number): number {
  return id % ORDER_ID_SHARD_FACTOR;
}

/** The global id of a shard's order `seq`; RangeError if the shard or the local id is out of range. */
export function toGlobalOrderId(shard: number, seq: number): number {
  if (!Number.isInteger(shard) || shard < 0 || shard > SHARD_ID_MAX)
    throw new RangeError(`shard ${shard} outside 0…${SHARD_ID_MAX}`);
  if (!Number.isInteger(seq) || seq < 0 || seq >= ORDER_ID_SHARD_FACTOR)
    throw new RangeError(`seq ${seq} outside 0…2^${ORDER_ID_SHARD_BITS}−1`);
  return orderIdOf(shard, seq);
}

/** Shard and local id of a global order id; RangeError unless it is a non-negative safe integer. */
export function fromGlobalOrderId(id: number): { shard: number; seq: number } {
  if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`order id ${id} is not a non-negative safe integer`);
  return { shard: shardOfOrderId(id), seq: localOfOrderId(id) };
}
