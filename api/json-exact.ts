// JSON text for values that may hold a bigint: the notional of a wide instrument's order
// (engine/notional.ts) passes 2^53 and is a bigint at the edges. JSON has no limit on an
// integer's digits, so such a value is written as the exact integer literal — the field keeps
// its one type (an integer) whatever its size; a client that parses JSON numbers as doubles
// loses digits above 2^53, which is why every notional also has an exact `*_decimal` string.
//
// JSON.stringify refuses a bigint (TypeError) and is the fast path: a value without one never
// pays for the fallback, lossless-json's stringify, which writes a bigint as its digits.

import { parse as losslessParse, stringify as losslessStringify } from 'lossless-json';

/** JSON.stringify, except that a bigint anywhere in `value` is written as its exact integer literal (`space`: indentation, as JSON.stringify's). */
export function jsonStringifyExact(value: unknown, space?: number): string {
  try {
    return JSON.stringify(value, null, space);
  } catch (err) {
    if (!(err instanceof TypeError) || !/BigInt/i.test(err.message)) throw err;
    const text = losslessStringify(value, undefined, space);
    if (text === undefined) throw new TypeError('jsonStringifyExact: value has no JSON form');
    return text;
  }
}

/** A JSON number literal as parsed exactly: an integer above 2^53 − 1 in magnitude as a bigint, any other value as JSON.parse gives it. */
export function exactJsonNumber(literal: string): number | bigint {
  const n = Number(literal);
  if (Number.isSafeInteger(n) || !/^-?\d+$/.test(literal)) return n;
  return BigInt(literal);
}

// An integer literal of at most 15 digits is below 2^53 and JSON.parse reads it exactly; one of
// 16 or more may not be. A match may also be digits inside a string (a client order id after a
// comma): that only costs the slower exact parse, never a wrong value.
const MAYBE_WIDE_INTEGER = /[:,[]\s*-?\d{16}/;

/**
 * JSON.parse, except that an integer literal above 2^53 − 1 becomes a bigint with its exact
 * value rather than a rounded number (the counterpart of jsonStringifyExact). Text without a
 * 16-digit number takes JSON.parse itself.
 */
export function jsonParseExact(text: string): unknown {
  if (!MAYBE_WIDE_INTEGER.test(text)) return JSON.parse(text);
  return losslessParse(text, undefined, exactJsonNumber);
}
