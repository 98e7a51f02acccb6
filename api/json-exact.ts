// JSON text for values that may hold a bigint: the notional of a wide instrument's order
// (engine/notional.ts) passes 2^53 and is a bigint at the edges. JSON has no limit on an
// integer's digits, so such a value is written as the exact integer literal — the field keeps
// its one type (an integer) whatever its size; a client that parses JSON numbers as doubles
// loses digits above 2^53, which is why every notional also has an exact `*_decimal` string.
//
// JSON.stringify refuses a bigint (TypeError) and is the fast path: a value without one never
// pays for the fallback, lossless-json's stringify, which writes a bigint as its digits.
//
// jsonParseExact is the way back: JSON.parse would round such a literal to a double, so a
// report compared, verified or summed after it would differ from the one sent.

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

/** A run of 16 digits: every integer above Number.MAX_SAFE_INTEGER (16 digits) has one. */
const LONG_DIGIT_RUN = /\d{16}/;
const INTEGER_LITERAL = /^-?\d+$/;

/** A JSON number: a number, except an integer literal beyond Number.MAX_SAFE_INTEGER, a bigint. */
function exactNumber(text: string): number | bigint {
  const n = Number(text);
  return INTEGER_LITERAL.test(text) && !Number.isSafeInteger(n) ? BigInt(text) : n;
}

/**
 * JSON.parse, except that an integer beyond Number.MAX_SAFE_INTEGER becomes a bigint (exact).
 * Text without a 16-digit run cannot hold one and takes JSON.parse itself; otherwise
 * lossless-json, with JSON.parse's rule for a duplicate key (the last one wins). Throws a
 * SyntaxError on text that is not JSON, as JSON.parse does.
 */
export function jsonParseExact(text: string): unknown {
  if (!LONG_DIGIT_RUN.test(text)) return JSON.parse(text);
  return losslessParse(text, null, { parseNumber: exactNumber, onDuplicateKey: (d) => d.newValue });
}
