// uint64 fields that may pass 2^53 (a wide instrument's cum_notional, engine/notional.ts),
// exact through protobufjs. protobufjs reads a uint64 as a Long (its `util.Long`, the `long`
// package, set when it loads) and converts it to a double with `longs: Number` — rounded above
// 2^53; on the way in it takes a number, a decimal string or a Long-like {low, high}, but a
// bigint is silently written as 0 (LongBits.from reads .low/.high of it). So a bigint goes in
// as its two 32-bit halves, and a value comes out as a number when it is a safe integer, as a
// bigint above: the edges' Notional.

import protobuf from 'protobufjs';
import { notionalMax, notionalOfBigint, type Notional } from '../engine/notional.js';
import type { ShardConfig } from '../engine/types.js';
import { NOTIONAL_MAX } from './limits.js';

export { notionalOfBigint };

/** The largest uint64: a notional above it has no protobuf form (order_entry.proto, events.proto, query.proto). */
export const UINT64_MAX = NOTIONAL_MAX;

/** What protobufjs reads a 64-bit field from, and what it decodes one to (its Long has these fields). */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

const U32_MASK = 0xffff_ffffn;
/** A uint64's high 32 bits below this: the value is below 2^53, a safe integer. */
const HIGH_SAFE_LIMIT = 2 ** 21;

/**
 * Throws unless protobufjs decodes 64-bit fields as Longs: without its `long` dependency it
 * decodes them straight to doubles, which no later step can make exact again.
 */
export function assertProtobufLongs(): void {
  if (!protobuf.util.Long) throw new Error('protobufjs has no Long (package long): 64-bit fields would not be exact');
}

/**
 * A uint64 as protobufjs writes it exactly: a number as it is, a bigint as its two 32-bit
 * halves. Throws a RangeError for a value outside [0, 2^64) rather than writing it wrapped.
 */
export function uint64Wire(value: Notional): number | LongLike {
  if (typeof value === 'number') return value;
  if (value < 0n || value > UINT64_MAX) throw new RangeError(`${value} is not a uint64`);
  return { low: Number(value & U32_MASK) | 0, high: Number((value >> 32n) & U32_MASK) | 0, unsigned: true };
}

/** The int64 range: a signed sum beyond it has no protobuf form. */
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/**
 * A signed 64-bit value as protobufjs writes it exactly (an int64 field: a position's quantity,
 * negative when short): a number as it is, a bigint as the two 32-bit halves of its two's
 * complement. Throws a RangeError outside the int64 range.
 */
export function int64Wire(value: Notional): number | LongLike {
  if (typeof value === 'number') return value;
  if (value < INT64_MIN || value > INT64_MAX) throw new RangeError(`${value} is not an int64`);
  const bits = BigInt.asUintN(64, value);
  return { low: Number(bits & U32_MASK) | 0, high: Number((bits >> 32n) & U32_MASK) | 0, unsigned: false };
}

/** A decoded uint64 (protobufjs gives a Long, or a number) as a Notional, exactly. */
export function notionalOfUint64(value: number | bigint | LongLike): Notional {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return notionalOfBigint(value);
  const high = value.high >>> 0;
  // Below 2^53 (high < 2^21): an exact double, without a BigInt (every narrow record).
  if (high < HIGH_SAFE_LIMIT) return high * 2 ** 32 + (value.low >>> 0);
  return notionalOfBigint((BigInt(high) << 32n) | BigInt(value.low >>> 0));
}

/**
 * A plain object decoded with `longs: BigInt` with every bigint that is a safe integer turned
 * back into a number (the rest stay bigints: exact). For replies whose 64-bit fields are
 * numbers everywhere except a wide notional.
 */
export function safeIntegersAsNumbers(v: unknown): unknown {
  if (typeof v === 'bigint') return notionalOfBigint(v);
  if (Array.isArray(v)) return v.map(safeIntegersAsNumbers);
  if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = safeIntegersAsNumbers(x);
  return out;
}

/**
 * Why shard config `config` cannot be served, if one of its instruments' notionals (at most
 * maxPrice × maxQty for one order) could pass 2^64 − 1: no report or record (uint64
 * cum_notional) could carry it. Undefined when all fit. The gateway, the query service and the
 * event publisher refuse such a config at startup; below it a wide instrument is exact everywhere.
 */
export function notionalBeyondUint64(config: Pick<ShardConfig, 'instruments'>): string | undefined {
  for (const [i, x] of config.instruments.entries()) {
    const max = notionalMax(x.maxPrice, x.maxQty);
    if (max > UINT64_MAX)
      return (
        `instruments[${i}]: ${x.symbol}'s maxPrice * maxQty = ${max} exceeds 2^64-1, the largest ` +
        'cum_notional an execution report or event record carries (uint64)'
      );
  }
  return undefined;
}
