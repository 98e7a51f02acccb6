// The FIX 4.4 tag=value codec (pure): FixFramer splits a TCP byte stream into messages,
// encodeFix writes one. Framing follows FIX's rules: a message starts `8=FIX.4.4<SOH>9=<len><SOH>`,
// BodyLength counts the bytes after that SOH up to and including the SOH before `10=`, and
// `10=NNN<SOH>` is the sum of every byte before `10=` mod 256. Anything else is garbled: FIX says
// such data is ignored (no Reject, the expected MsgSeqNum does not move), so the framer drops it
// and resynchronises at the next `8=FIX`. Values stay the wire's text (latin1), never numbers.

import type { FixField, FixMessage } from './message.js';
import { FIX_FIELDS_PER_MESSAGE_MAX, FIX_MESSAGE_BYTES_MAX } from './limits.js';

export const SOH = 0x01;
const BEGIN = Buffer.from('8=FIX.4.4\x019=', 'latin1');
const RESYNC = Buffer.from('8=FIX', 'latin1');
/** `10=NNN<SOH>` */
const TRAILER_BYTES = 7;
/** BodyLength digits accepted (FIX_MESSAGE_BYTES_MAX has 4; leading zeros are legal). */
const BODY_LENGTH_DIGITS_MAX = 7;

/** FIX 4.4's length+data pairs (length tag → data tag): the data may hold SOH, so it is read by length. */
export const DEFAULT_DATA_FIELDS: ReadonlyMap<number, number> = new Map([
  [95, 96],
  [90, 91],
  [93, 89],
  [212, 213],
  [348, 349],
  [350, 351],
  [352, 353],
  [354, 355],
  [356, 357],
  [358, 359],
  [360, 361],
  [362, 363],
  [364, 365],
  [445, 446],
  [618, 619],
  [621, 622],
]);

export type FrameResult =
  | { kind: 'message'; msg: FixMessage; bytes: Buffer }
  | { kind: 'garbled'; reason: string; bytesDropped: number };

export interface FramerOptions {
  dataFields?: ReadonlyMap<number, number>;
  messageBytesMax?: number;
  fieldsMax?: number;
}

type Step = FrameResult | 'wait';

export class FixFramer {
  private buf: Buffer = Buffer.alloc(0);
  private readonly dataByLength: ReadonlyMap<number, number>;
  private readonly messageBytesMax: number;
  private readonly fieldsMax: number;

  constructor(options: FramerOptions = {}) {
    this.dataByLength = options.dataFields ?? DEFAULT_DATA_FIELDS;
    this.messageBytesMax = options.messageBytesMax ?? FIX_MESSAGE_BYTES_MAX;
    this.fieldsMax = options.fieldsMax ?? FIX_FIELDS_PER_MESSAGE_MAX;
  }

  /** Bytes held waiting for the rest of a message (at most about one message). */
  get bufferedBytes(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): FrameResult[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: FrameResult[] = [];
    for (;;) {
      const step = this.step();
      if (step === 'wait') break;
      out.push(step);
    }
    return out;
  }

  /** Drops `n` bytes from the front. */
  private drop(n: number, reason: string): FrameResult {
    this.buf = this.buf.subarray(n);
    return { kind: 'garbled', reason, bytesDropped: n };
  }

  /** Drops everything before the next `8=FIX` after the first byte (or all but a possible partial prefix). */
  private resync(reason: string): FrameResult {
    const at = this.buf.indexOf(RESYNC, 1);
    if (at > 0) return this.drop(at, reason);
    return this.drop(Math.max(1, this.buf.length - (RESYNC.length - 1)), reason);
  }

  private step(): Step {
    const buf = this.buf;
    if (buf.length === 0) return 'wait';
    const prefix = Math.min(buf.length, BEGIN.length);
    if (buf.compare(BEGIN, 0, prefix, 0, prefix) !== 0) {
      if (buf.compare(RESYNC, 0, Math.min(prefix, RESYNC.length), 0, Math.min(prefix, RESYNC.length)) === 0)
        return this.resync('bad BeginString');
      return this.resyncAny();
    }
    if (buf.length < BEGIN.length) return 'wait';
    let bodyLength = 0;
    let i = BEGIN.length;
    for (; i < buf.length && buf[i] !== SOH; i++) {
      const c = buf[i] as number;
      if (c < 0x30 || c > 0x39 || i - BEGIN.length >= BODY_LENGTH_DIGITS_MAX) return this.resync('bad BodyLength');
      bodyLength = bodyLength * 10 + (c - 0x30);
    }
    if (i === buf.length) return 'wait';
    if (i === BEGIN.length) return this.resync('bad BodyLength');
    const bodyStart = i + 1;
    const bodyEnd = bodyStart + bodyLength;
    const total = bodyEnd + TRAILER_BYTES;
    if (total > this.messageBytesMax) return this.resync('BodyLength over FIX_MESSAGE_BYTES_MAX');
    if (buf.length < total) return 'wait';
    return this.checkTrailer(bodyStart, bodyEnd, total);
  }

  /** Data that does not start with `8=FIX`: drop up to the next `8=FIX` (or a partial one at the end). */
  private resyncAny(): Step {
    const at = this.buf.indexOf(RESYNC, 0);
    if (at > 0) return this.drop(at, 'bad BeginString');
    // Keep a tail that could be the start of `8=FIX` split over two chunks.
    let keep = 0;
    for (let k = Math.min(RESYNC.length - 1, this.buf.length); k > 0; k--) {
      if (this.buf.compare(RESYNC, 0, k, this.buf.length - k) === 0) {
        keep = k;
        break;
      }
    }
    const n = this.buf.length - keep;
    return n > 0 ? this.drop(n, 'bad BeginString') : 'wait';
  }

  private checkTrailer(bodyStart: number, bodyEnd: number, total: number): Step {
    const buf = this.buf;
    const trailerOk =
      buf[bodyEnd - 1] === SOH &&
      buf[bodyEnd] === 0x31 &&
      buf[bodyEnd + 1] === 0x30 &&
      buf[bodyEnd + 2] === 0x3d &&
      isDigit(buf[bodyEnd + 3]) &&
      isDigit(buf[bodyEnd + 4]) &&
      isDigit(buf[bodyEnd + 5]) &&
      buf[total - 1] === SOH;
    if (!trailerOk) return this.resync('BodyLength does not end at CheckSum');
    let sum = 0;
    for (let k = 0; k < bodyEnd; k++) sum += buf[k] as number;
    const stated = Number(buf.toString('latin1', bodyEnd + 3, bodyEnd + 6));
    if (sum % 256 !== stated) return this.drop(total, 'wrong CheckSum');
    const bytes = buf.subarray(0, total);
    const parsed = parseFields(bytes, bodyStart, this.dataByLength, this.fieldsMax);
    if (typeof parsed === 'string') return this.drop(total, parsed);
    this.buf = buf.subarray(total);
    return { kind: 'message', msg: parsed, bytes };
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/**
 * The fields of one framed message (8 and 9 included; `from` is where 35 starts), or why they are
 * garbled: a tag that is not a positive integer without leading zeros, a field without `=`, more
 * than fieldsMax fields, 35 not the third field.
 */
function parseFields(
  bytes: Buffer,
  from: number,
  dataByLength: ReadonlyMap<number, number>,
  fieldsMax: number,
): FixMessage | string {
  const fields: FixField[] = [
    [8, 'FIX.4.4'],
    [9, bytes.toString('latin1', BEGIN.length, from - 1)],
  ];
  let pos = from;
  let dataTag = -1;
  let dataLength = 0;
  while (pos < bytes.length) {
    if (fields.length >= fieldsMax) return 'too many fields';
    let tag = 0;
    const tagStart = pos;
    for (; pos < bytes.length && bytes[pos] !== 0x3d; pos++) {
      const c = bytes[pos] as number;
      if (c < 0x30 || c > 0x39 || (pos === tagStart && c === 0x30) || pos - tagStart >= 9) return 'bad tag';
      tag = tag * 10 + (c - 0x30);
    }
    if (pos === tagStart || pos === bytes.length) return 'bad tag';
    const valueStart = pos + 1;
    let valueEnd: number;
    if (tag === dataTag) {
      valueEnd = valueStart + dataLength;
      if (valueEnd >= bytes.length || bytes[valueEnd] !== SOH) return 'data field length does not match';
    } else {
      valueEnd = bytes.indexOf(SOH, valueStart);
      if (valueEnd < 0) return 'missing SOH';
    }
    const value = bytes.toString('latin1', valueStart, valueEnd);
    fields.push([tag, value]);
    const next = dataByLength.get(tag);
    dataTag = next ?? -1;
    dataLength = next === undefined ? 0 : /^[0-9]{1,5}$/.test(value) ? Number(value) : -1;
    if (dataLength < 0) return 'bad data length';
    pos = valueEnd + 1;
  }
  const third = fields[2];
  if (third === undefined || third[0] !== 35 || third[1] === '') return 'MsgType is not the third field';
  return { fields, msgType: third[1] };
}

/** Parses one complete message (a stored one, for a resend); undefined when it is not exactly one. */
export function parseFix(bytes: Buffer): FixMessage | undefined {
  const results = new FixFramer().push(bytes);
  const only = results[0];
  return results.length === 1 && only?.kind === 'message' ? only.msg : undefined;
}

/**
 * One message: `8=FIX.4.4`, BodyLength, then `header` (starting with 35) and `body` in order, then
 * CheckSum. Values are written as latin1; a value must not hold SOH (except a data field's).
 */
export function encodeFix(header: readonly FixField[], body: readonly FixField[]): Buffer {
  let inner = '';
  for (const [tag, value] of header) inner += `${tag}=${value}\x01`;
  for (const [tag, value] of body) inner += `${tag}=${value}\x01`;
  const innerBytes = Buffer.byteLength(inner, 'latin1');
  const head = `8=FIX.4.4\x019=${innerBytes}\x01`;
  const out = Buffer.allocUnsafe(head.length + innerBytes + TRAILER_BYTES);
  out.write(head, 0, 'latin1');
  out.write(inner, head.length, 'latin1');
  const end = head.length + innerBytes;
  let sum = 0;
  for (let k = 0; k < end; k++) sum += out[k] as number;
  out.write(`10=${String(sum % 256).padStart(3, '0')}\x01`, end, 'latin1');
  return out;
}

/** The message's text with `|` for SOH, for logs and test messages. */
export function fixToText(bytes: Buffer): string {
  return bytes.toString('latin1').replaceAll('\x01', '|');
}
