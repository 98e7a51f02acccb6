// FIX 4.4 field types (FIX 4.4 spec, Volume 1, "Data Types"): exact parsers and formatters of
// the wire's text. Pure, never throw, never go through a float: a FIX decimal stays a decimal
// string (api/decimal.ts turns it into instrument units), a timestamp becomes integer
// milliseconds since the epoch. fix/validate.ts checks every incoming value with these.

import { FIX_DECIMAL_CHARS_MAX, FIX_INT_CHARS_MAX } from './limits.js';

const CODE_0 = 48;
const CODE_9 = 57;
const CODE_MINUS = 45;
const CODE_POINT = 46;

const isDigit = (code: number): boolean => code >= CODE_0 && code <= CODE_9;

/**
 * An integer (INT; also SEQNUM, LENGTH, NUMINGROUP, which validateFix further bounds to ≥ 0):
 * an optional "-" then one or more ASCII digits — no "+", no point, no spaces. Leading zeros are
 * allowed ("007" is 7). Undefined when malformed, longer than FIX_INT_CHARS_MAX or not a safe
 * integer (it could not be used exactly); "-0" is 0.
 */
export function parseFixInt(text: string): number | undefined {
  const n = text.length;
  if (n === 0 || n > FIX_INT_CHARS_MAX) return undefined;
  let i = text.charCodeAt(0) === CODE_MINUS ? 1 : 0;
  if (i === n) return undefined;
  for (; i < n; i++) if (!isDigit(text.charCodeAt(i))) return undefined;
  const value = Number(text); // only digits and a sign: exact when it is a safe integer
  return Number.isSafeInteger(value) ? value + 0 : undefined; // + 0: -0 → 0
}

/** A BOOLEAN: "Y" → true, "N" → false, anything else undefined (FIX is case-sensitive). */
export function parseFixBoolean(text: string): boolean | undefined {
  if (text === 'Y') return true;
  if (text === 'N') return false;
  return undefined;
}

/** True when `text` is a FIX decimal: optional "-", digits, optional "." and digits; at least one digit. */
export function isFixDecimal(text: string): boolean {
  const n = text.length;
  if (n === 0 || n > FIX_DECIMAL_CHARS_MAX) return false;
  let i = text.charCodeAt(0) === CODE_MINUS ? 1 : 0;
  let digits = 0;
  let point = false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (c === CODE_POINT && !point) point = true;
    else return false;
  }
  return digits > 0;
}

/**
 * A FIX decimal (PRICE, QTY, AMT, FLOAT, PERCENTAGE, PRICEOFFSET): an optional "-", ASCII
 * digits, an optional "." with digits on either side ("1.5", "1.", ".5", "007.50"); no "+", no
 * exponent, no spaces, at most FIX_DECIMAL_CHARS_MAX characters. Returns the canonical decimal
 * string — no leading zeros before the point (but one "0"), no trailing zeros after it, no
 * point when there is no fraction, no sign on zero: "007.50" → "7.5", ".5" → "0.5", "-0.0" →
 * "0", "1." → "1" — or undefined when malformed. Exact: the digits are only moved, never
 * converted to a number.
 */
export function parseFixDecimal(text: string): string | undefined {
  if (!isFixDecimal(text)) return undefined;
  const negative = text.charCodeAt(0) === CODE_MINUS;
  const body = negative ? text.slice(1) : text;
  const point = body.indexOf('.');
  let whole = point < 0 ? body : body.slice(0, point);
  let fraction = point < 0 ? '' : body.slice(point + 1);
  let start = 0;
  while (start < whole.length - 1 && whole.charCodeAt(start) === CODE_0) start++;
  whole = whole.slice(start) || '0';
  let end = fraction.length;
  while (end > 0 && fraction.charCodeAt(end - 1) === CODE_0) end--;
  fraction = fraction.slice(0, end);
  const magnitude = fraction === '' ? whole : `${whole}.${fraction}`;
  return negative && magnitude !== '0' ? `-${magnitude}` : magnitude;
}

/** Two ASCII digits at `at` as a number, or -1. */
function twoDigits(text: string, at: number): number {
  const a = text.charCodeAt(at);
  const b = text.charCodeAt(at + 1);
  return isDigit(a) && isDigit(b) ? (a - CODE_0) * 10 + (b - CODE_0) : -1;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in `month` (1–12) of `year` (proleptic Gregorian, as Date.UTC). */
function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil): integer
 * arithmetic, no Date object (and none of Date.UTC's mapping of years 0–99 to 1900–1999).
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** YYYYMMDD at `at` → [year, month, day] when a real date (years 0000–9999), else undefined. */
function parseDateAt(text: string, at: number): [number, number, number] | undefined {
  const century = twoDigits(text, at);
  const yy = twoDigits(text, at + 2);
  const month = twoDigits(text, at + 4);
  const day = twoDigits(text, at + 6);
  if (century < 0 || yy < 0 || month < 1 || month > 12 || day < 1) return undefined;
  const year = century * 100 + yy;
  return day <= daysInMonth(year, month) ? [year, month, day] : undefined;
}

/** HH:MM:SS[.sss] from `at` to the end of `text` → milliseconds into the day (a leap second 60 allowed), else undefined. */
function parseTimeAt(text: string, at: number): number | undefined {
  const n = text.length - at;
  if (n !== 8 && n !== 12) return undefined;
  if (text.charCodeAt(at + 2) !== 58 || text.charCodeAt(at + 5) !== 58) return undefined; // ':'
  const hour = twoDigits(text, at);
  const minute = twoDigits(text, at + 3);
  const second = twoDigits(text, at + 6);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return undefined;
  let ms = 0;
  if (n === 12) {
    if (text.charCodeAt(at + 8) !== CODE_POINT) return undefined;
    for (let i = at + 9; i < at + 12; i++) {
      const c = text.charCodeAt(i);
      if (!isDigit(c)) return undefined;
      ms = ms * 10 + (c - CODE_0);
    }
  }
  return ((hour * 60 + minute) * 60 + second) * 1000 + ms;
}

/**
 * A UTCTimestamp, "YYYYMMDD-HH:MM:SS" or "YYYYMMDD-HH:MM:SS.sss" (FIX 4.4 defines exactly these
 * two; the microsecond and nanosecond forms came with FIX 5.0 and are refused), → milliseconds
 * since the epoch, or undefined when malformed or not a real date and time. A leap second
 * ("…:60") is accepted as FIX allows and counts as the first second of the next minute.
 */
export function parseUtcTimestamp(text: string): number | undefined {
  if (text.length !== 17 && text.length !== 21) return undefined;
  if (text.charCodeAt(8) !== CODE_MINUS) return undefined;
  const date = parseDateAt(text, 0);
  if (date === undefined) return undefined;
  const time = parseTimeAt(text, 9);
  if (time === undefined) return undefined;
  return daysFromCivil(date[0], date[1], date[2]) * 86_400_000 + time;
}

/** A UTCTimeOnly, "HH:MM:SS" or "HH:MM:SS.sss" → milliseconds into the day, or undefined. */
export function parseUtcTimeOnly(text: string): number | undefined {
  return parseTimeAt(text, 0);
}

/** A UTCDateOnly or LocalMktDate, "YYYYMMDD" of a real date → true. */
export function isFixDate(text: string): boolean {
  return text.length === 8 && parseDateAt(text, 0) !== undefined;
}

/** A MonthYear: "YYYYMM", "YYYYMMDD" (a real date) or "YYYYMMwN" (week 1–5). */
export function isFixMonthYear(text: string): boolean {
  if (text.length === 8 && text.charCodeAt(6) === 119) {
    // 'w'
    const week = text.charCodeAt(7) - CODE_0;
    return week >= 1 && week <= 5 && parseDateAt(`${text.slice(0, 6)}01`, 0) !== undefined;
  }
  if (text.length === 6) return parseDateAt(`${text}01`, 0) !== undefined;
  return isFixDate(text);
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/**
 * Milliseconds since the epoch → UTCTimestamp "YYYYMMDD-HH:MM:SS.sss" (always with
 * milliseconds). `ms` must be an integer within years 0000–9999 (a RangeError otherwise: our
 * own clock, never client input, is formatted).
 */
export function formatUtcTimestamp(ms: number): string {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!Number.isInteger(ms) || Number.isNaN(d.getTime()) || year < 0 || year > 9999)
    throw new RangeError(`formatUtcTimestamp: ${ms} is not an integer time within years 0000–9999`);
  const millis = d.getUTCMilliseconds();
  const msText = millis < 10 ? `00${millis}` : millis < 100 ? `0${millis}` : `${millis}`;
  return (
    `${String(year).padStart(4, '0')}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}-` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${msText}`
  );
}
