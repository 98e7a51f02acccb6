// JSON read exactly where it may hold a wide instrument's notional: a client's received reports
// (`replay --reports`) carry cum_notional as an integer literal above 2^53 − 1
// (api/json-exact.ts jsonStringifyExact), which JSON.parse would round to a double; the report
// compared with the log's would then differ where the client's does not.

import { parse } from 'lossless-json';

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
export function parseJsonExact(text: string): unknown {
  if (!LONG_DIGIT_RUN.test(text)) return JSON.parse(text);
  return parse(text, null, { parseNumber: exactNumber, onDuplicateKey: (d) => d.newValue });
}
