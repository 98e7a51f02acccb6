// Integers in JSON bodies, exactly as written. JSON.parse turns 4700000, 4700000.0, 4.7e6 and
// 47e5 into the same number, so a check on the parsed value cannot refuse the last three —
// yet a price written with a fraction or an exponent is a client that thinks in decimals, and
// money must be exact. The REST edge's integer fields (prices, quantities, ids, times) are
// therefore read in the body's text too: plain decimal digits only, no fraction, no exponent,
// no sign (`-0` included). Strings of digits stay allowed (validate.ts checks them).
//
// Pure: the validation workers (validate.ts) and the admin API (gateway.ts) call it on text
// that JSON.parse has already accepted, so it may assume well-formed JSON.

/** A number literal of an integer field that is not plain digits: which field, and what was written. */
export interface InexactInteger {
  field: string;
  literal: string;
  /** What is wrong with it, for the message. */
  why: 'a fraction' | 'an exponent' | 'a sign';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index of the closing quote of the string that opens at `at`. */
function stringEnd(text: string, at: number): number {
  let j = at + 1;
  while (text.charCodeAt(j) !== QUOTE) j += text.charCodeAt(j) === BACKSLASH ? 2 : 1;
  return j;
}

function isNumberChar(c: number): boolean {
  // 0-9 . e E + -
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
}

function whyInexact(literal: string): InexactInteger['why'] | undefined {
  if (literal.startsWith('-')) return 'a sign';
  if (literal.includes('e') || literal.includes('E')) return 'an exponent';
  if (literal.includes('.')) return 'a fraction';
  return undefined;
}

/**
 * The first number written as the direct value of one of `fields` in the top-level object of
 * `text` (well-formed JSON) that is not plain digits; undefined if there is none. Numbers nested
 * deeper, and numbers of other fields, are left to the schema checks.
 */
export function inexactInteger(text: string, fields: ReadonlySet<string>): InexactInteger | undefined {
  let depth = 0;
  let key = '';
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (depth === 1 && expectKey) {
        // Keys are plain ASCII in practice: unescape only when there is an escape.
        const raw = text.slice(i + 1, end);
        key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = depth === 1 && c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      expectKey = depth === 1;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      // A number starts with a minus or a digit (the e of true / false is no start).
      let j = i + 1;
      while (j < text.length && isNumberChar(text.charCodeAt(j))) j++;
      const literal = text.slice(i, j);
      const why = depth === 1 && fields.has(key) ? whyInexact(literal) : undefined;
      if (why !== undefined)
        return { field: key, literal: literal.length > 40 ? `${literal.slice(0, 40)}…` : literal, why };
      i = j - 1;
    }
  }
  return undefined;
}

/** The INVALID_ARGUMENT message for an inexact integer (the validators' wording for integers). */
export function inexactIntegerMessage(x: InexactInteger): string {
  return `${x.field} must be an integer from 0 to 2^53−1 in plain digits: ${x.literal} has ${x.why}`;
}
