// JSON text for values that may hold a bigint: the notional of a wide instrument's order
// (engine/notional.ts) passes 2^53 and is a bigint at the edges. JSON has no limit on an
// integer's digits, so such a value is written as the exact integer literal — the field keeps
// its one type (an integer) whatever its size; a client that parses JSON numbers as doubles
// loses digits above 2^53, which is why every notional also has an exact `*_decimal` string.
//
// JSON.stringify refuses a bigint (TypeError) and is the fast path: a value without one never
// pays for the fallback, lossless-json's stringify, which writes a bigint as its digits.

import { stringify as losslessStringify } from 'lossless-json';

/** JSON.stringify, except that a bigint anywhere in `value` is written as its exact integer literal. */
export function jsonStringifyExact(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError) || !/BigInt/i.test(err.message)) throw err;
    const text = losslessStringify(value);
    if (text === undefined) throw new TypeError('jsonStringifyExact: value has no JSON form');
    return text;
  }
}
