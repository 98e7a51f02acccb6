// Byte-level building blocks of the binary codecs (command-codec.ts, event-codec.ts):
// a growable little-endian writer, reused across messages, and a bounds-checked reader
// whose every refusal is a DecodeError.
//
// Strings are UTF-8 — more exactly WTF-8: a well-formed string gives the standard UTF-8
// bytes, and a lone surrogate (which a JS string may hold, e.g. JSON.parse('"\ud800"'))
// is written as its 3-byte sequence instead of being replaced by U+FFFD, so that every
// JS string survives a round trip exactly. The reader accepts exactly what the writer
// produces (shortest forms only; a surrogate pair must be one 4-byte sequence).
// Short ASCII strings take a manual fast path: for the 2–20 byte strings of this domain it
// measured about 3x faster than TextEncoder.encodeInto / Buffer#utf8Write on encode, and
// 1.3–2.5x faster than TextDecoder / Buffer#utf8Slice on decode (Node 20). The reader
// assembles integers from bytes and makes a DataView only for f64 reads.

/** A read past the end of the input, or bytes that are not a valid encoding. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

/** Longest string (in UTF-8 bytes) that str() writes: its length prefix is a u16. */
export const STR_BYTES_MAX = 0xffff;

const CAPACITY_INITIAL = 256;

export class ByteWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private pos = 0;

  constructor(capacity = CAPACITY_INITIAL) {
    this.buf = new Uint8Array(Math.max(16, capacity));
    this.dv = new DataView(this.buf.buffer);
  }

  /** Bytes written since the last reset(). */
  get length(): number {
    return this.pos;
  }

  /** Bytes the internal buffer holds before it grows again. */
  get capacity(): number {
    return this.buf.length;
  }

  /** Forgets what was written; keeps the buffer. */
  reset(): void {
    this.pos = 0;
  }

  /** Drops everything written after the first `length` bytes (to undo a partial write). */
  truncate(length: number): void {
    if (!(length >= 0 && length <= this.pos))
      throw new RangeError(`ByteWriter.truncate(${length}) with length ${this.pos}`);
    this.pos = length;
  }

  /** Makes room for n more bytes (growing by doubling). */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(this.pos + n);
  }

  private grow(needed: number): void {
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  u8(v: number): void {
    if ((v & 0xff) !== v) throw new RangeError(`u8 out of range: ${v}`);
    if (this.pos + 1 > this.buf.length) this.grow(this.pos + 1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    if ((v & 0xffff) !== v) throw new RangeError(`u16 out of range: ${v}`);
    if (this.pos + 2 > this.buf.length) this.grow(this.pos + 2);
    this.dv.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    if (v >>> 0 !== v) throw new RangeError(`u32 out of range: ${v}`);
    if (this.pos + 4 > this.buf.length) this.grow(this.pos + 4);
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  i32(v: number): void {
    if ((v | 0) !== v) throw new RangeError(`i32 out of range: ${v}`);
    if (this.pos + 4 > this.buf.length) this.grow(this.pos + 4);
    this.dv.setInt32(this.pos, v, true);
    this.pos += 4;
  }

  /** Any double, bit for bit (-0, NaN, ±Infinity included). */
  f64(v: number): void {
    if (this.pos + 8 > this.buf.length) this.grow(this.pos + 8);
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** Overwrites one byte already written (e.g. a count known only afterwards). */
  patchU8(at: number, v: number): void {
    if ((v & 0xff) !== v || !(at >= 0 && at < this.pos)) throw new RangeError(`patchU8(${at}, ${v})`);
    this.buf[at] = v;
  }

  /** Overwrites a little-endian u32 already written (a length known only afterwards). */
  patchU32(at: number, v: number): void {
    if (v >>> 0 !== v || !(at >= 0 && at + 4 <= this.pos)) throw new RangeError(`patchU32(${at}, ${v})`);
    this.buf[at] = v & 0xff;
    this.buf[at + 1] = (v >>> 8) & 0xff;
    this.buf[at + 2] = (v >>> 16) & 0xff;
    this.buf[at + 3] = v >>> 24;
  }

  /** u16 byte length + UTF-8 (WTF-8, see above). RangeError over STR_BYTES_MAX bytes (nothing is written then). */
  str(s: string): void {
    const n = s.length;
    if (n > STR_BYTES_MAX) throw new RangeError(`string of ${n} UTF-16 units is over ${STR_BYTES_MAX} UTF-8 bytes`);
    this.ensure(2 + 3 * n);
    const start = this.pos + 2;
    const end = this.utf8At(s, start);
    const len = end - start;
    if (len > STR_BYTES_MAX) throw new RangeError(`string of ${len} UTF-8 bytes is over ${STR_BYTES_MAX}`);
    this.dv.setUint16(this.pos, len, true);
    this.pos = end;
  }

  /** u32 byte length + UTF-8 (WTF-8): any string. */
  lstr(s: string): void {
    const n = s.length;
    this.ensure(4 + 3 * n);
    const start = this.pos + 4;
    const end = this.utf8At(s, start);
    this.dv.setUint32(this.pos, end - start, true);
    this.pos = end;
  }

  /** Raw bytes, no length prefix. */
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** The backing array itself (bytes [0, length) are what was written): no view allocated; valid until the next write. */
  bytesRef(): Uint8Array {
    return this.buf;
  }

  /** What was written, without a copy: valid until the next write or reset(). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** Writes s as WTF-8 at p (room for 3 bytes per UTF-16 unit is ensured by the caller); returns the end. */
  private utf8At(s: string, p: number): number {
    const b = this.buf;
    const n = s.length;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[p++] = c;
    }
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        b[p++] = c;
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
        b[p++] = 0xf0 | (cp >> 18);
        b[p++] = 0x80 | ((cp >> 12) & 0x3f);
        b[p++] = 0x80 | ((cp >> 6) & 0x3f);
        b[p++] = 0x80 | (cp & 0x3f);
      } else {
        // BMP character, or a lone surrogate (WTF-8)
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      }
    }
    return p;
  }
}

const EMPTY = new Uint8Array(0);

const STRING_CACHE_BYTES = 64;

/** The last string read through ByteReader.utf8Cached (strings up to 64 bytes). */
export class StringCache {
  readonly bytes = new Uint8Array(STRING_CACHE_BYTES);
  length = -1;
  value = '';
}

/**
 * A copy of `b` in its own memory. Not `b.slice()`: on a Node Buffer (what sockets and
 * fs.readSync fill) slice() is a view that shares memory, so the "copy" changes when the
 * buffer is reused for the next read (the WAL reader reuses its read buffer; a view taken
 * from it silently became other records' bytes).
 */
export function copyBytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out;
}

/**
 * Reads what a ByteWriter wrote, from bytes[offset, offset + length). Every read past the
 * end and every invalid string throws DecodeError; nothing else is thrown. reset() points it
 * at other bytes without allocating.
 */
export class ByteReader {
  private u8a: Uint8Array = EMPTY;
  /** For f64 reads only, over dvSource; made lazily: a DataView per message (log entries are often
   *  separate ArrayBuffers) cost a third of a new-order decode, whose numbers are rarely f64. */
  private dv: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer);
  private dvSource: Uint8Array = EMPTY;
  /** Absolute index into the underlying Uint8Array of the next byte to read. */
  pos = 0;
  /** Absolute index one past the last readable byte. */
  end = 0;

  constructor(bytes: Uint8Array = EMPTY, offset = 0, length = bytes.length - offset) {
    this.reset(bytes, offset, length);
  }

  reset(bytes: Uint8Array, offset = 0, length = bytes.length - offset): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > bytes.length
    ) {
      throw new DecodeError(`range [${offset}, +${length}) outside ${bytes.length} bytes`);
    }
    this.u8a = bytes;
    this.pos = offset;
    this.end = offset + length;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws DecodeError unless every byte was read. */
  expectEnd(what = 'input'): void {
    if (this.pos !== this.end) throw new DecodeError(`${what}: ${this.end - this.pos} trailing bytes`);
  }

  private need(n: number): never {
    throw new DecodeError(`read of ${n} bytes at ${this.pos} past the end (${this.end})`);
  }

  u8(): number {
    if (this.pos + 1 > this.end) this.need(1);
    return this.u8a[this.pos++]!;
  }

  u16(): number {
    const p = this.pos;
    if (p + 2 > this.end) this.need(2);
    const b = this.u8a;
    this.pos = p + 2;
    return b[p]! | (b[p + 1]! << 8);
  }

  u32(): number {
    const p = this.pos;
    if (p + 4 > this.end) this.need(4);
    const b = this.u8a;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x100_0000;
  }

  i32(): number {
    const p = this.pos;
    if (p + 4 > this.end) this.need(4);
    const b = this.u8a;
    this.pos = p + 4;
    return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
  }

  f64(): number {
    const p = this.pos;
    if (p + 8 > this.end) this.need(8);
    const b = this.u8a;
    if (this.dvSource !== b) this.view(b);
    this.pos = p + 8;
    return this.dv.getFloat64(p, true);
  }

  /** The DataView for f64 reads, made when the first f64 of other bytes is read. */
  private view(b: Uint8Array): void {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.dvSource = b;
  }

  /** A str(): u16 length + UTF-8. */
  str(): string {
    return this.utf8(this.u16());
  }

  /** An lstr(): u32 length + UTF-8. */
  lstr(): string {
    return this.utf8(this.u32());
  }

  /** The next n bytes as a UTF-8 (WTF-8) string. */
  utf8(n: number): string {
    if (this.pos + n > this.end) this.need(n);
    const a = this.pos;
    const s = decodeUtf8(this.u8a, a, a + n);
    this.pos = a + n;
    return s;
  }

  /**
   * Like utf8(n), but returns the cache's string, without decoding or allocating, when the n
   * bytes are those of the last string decoded through the same cache (symbols repeat).
   */
  utf8Cached(n: number, cache: StringCache): string {
    if (this.pos + n > this.end) this.need(n);
    const b = this.u8a;
    const a = this.pos;
    if (n === cache.length) {
      const cb = cache.bytes;
      let i = 0;
      while (i < n && b[a + i] === cb[i]) i++;
      if (i === n) {
        this.pos = a + n;
        return cache.value;
      }
    }
    const s = decodeUtf8(b, a, a + n);
    this.pos = a + n;
    if (n <= STRING_CACHE_BYTES) {
      cache.bytes.set(b.subarray(a, a + n));
      cache.length = n;
      cache.value = s;
    }
    return s;
  }

  /** The next n bytes, without a copy. */
  bytes(n: number): Uint8Array {
    if (!(n >= 0) || this.pos + n > this.end) this.need(n);
    const b = this.u8a.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/** Decodes b[a, e) as WTF-8 (exactly the writer's output); DecodeError otherwise. */
export function decodeUtf8(b: Uint8Array, a: number, e: number): string {
  const n = e - a;
  if (n <= 8) {
    // Short ASCII: one fromCharCode call (the most common case by far: symbols, client order ids).
    switch (n) {
      case 0:
        return '';
      case 1:
        if (b[a]! < 0x80) return String.fromCharCode(b[a]!);
        break;
      case 2:
        if ((b[a]! | b[a + 1]!) < 0x80) return String.fromCharCode(b[a]!, b[a + 1]!);
        break;
      case 3:
        if ((b[a]! | b[a + 1]! | b[a + 2]!) < 0x80) return String.fromCharCode(b[a]!, b[a + 1]!, b[a + 2]!);
        break;
      case 4:
        if ((b[a]! | b[a + 1]! | b[a + 2]! | b[a + 3]!) < 0x80)
          return String.fromCharCode(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!);
        break;
      case 5:
        if ((b[a]! | b[a + 1]! | b[a + 2]! | b[a + 3]! | b[a + 4]!) < 0x80) {
          return String.fromCharCode(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!);
        }
        break;
      case 6:
        if ((b[a]! | b[a + 1]! | b[a + 2]! | b[a + 3]! | b[a + 4]! | b[a + 5]!) < 0x80) {
          return String.fromCharCode(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!);
        }
        break;
      case 7:
        if ((b[a]! | b[a + 1]! | b[a + 2]! | b[a + 3]! | b[a + 4]! | b[a + 5]! | b[a + 6]!) < 0x80) {
          return String.fromCharCode(b[a]!, b[a + 1]!, b[a + 2]!, b[a + 3]!, b[a + 4]!, b[a + 5]!, b[a + 6]!);
        }
        break;
      case 8:
        if ((b[a]! | b[a + 1]! | b[a + 2]! | b[a + 3]! | b[a + 4]! | b[a + 5]! | b[a + 6]! | b[a + 7]!) < 0x80) {
          return String.fromCharCode(
            b[a]!,
            b[a + 1]!,
            b[a + 2]!,
            b[a + 3]!,
            b[a + 4]!,
            b[a + 5]!,
            b[a + 6]!,
            b[a + 7]!,
          );
        }
        break;
    }
  }
  if (n <= ASCII_ARRAY_MAX) {
    // Up to 64 ASCII bytes: copy into a reused array of exactly that length, one fromCharCode.
    const arr = ASCII_ARRAYS[n]!;
    let or = 0;
    for (let i = 0; i < n; i++) or |= arr[i] = b[a + i]!;
    if (or < 0x80) return String.fromCharCode.apply(null, arr);
  }
  return decodeUtf8Slow(b, a, e);
}

const ASCII_ARRAY_MAX = 64;
const ASCII_ARRAYS: number[][] = Array.from({ length: ASCII_ARRAY_MAX + 1 }, (_, n) => new Array<number>(n).fill(0));

const CHUNK = 4096;
/** Reused code-unit scratch for the general path. */
let units = new Uint16Array(CHUNK);

function invalid(at: number): never {
  throw new DecodeError(`invalid UTF-8 at byte ${at}`);
}

function decodeUtf8Slow(b: Uint8Array, a: number, e: number): string {
  if (units.length < e - a) units = new Uint16Array(Math.max(e - a, units.length * 2));
  const u = units;
  let k = 0;
  /** The previous unit was a high surrogate written alone (3 bytes): a low one may not follow in 3 bytes. */
  let loneHigh = false;
  let i = a;
  while (i < e) {
    const c = b[i]!;
    if (c < 0x80) {
      u[k++] = c;
      i++;
      loneHigh = false;
      continue;
    }
    if (c < 0xc2) invalid(i); // continuation byte, or overlong 2-byte lead
    if (c < 0xe0) {
      if (i + 2 > e) invalid(i);
      const c1 = b[i + 1]!;
      if ((c1 & 0xc0) !== 0x80) invalid(i);
      u[k++] = ((c & 0x1f) << 6) | (c1 & 0x3f);
      i += 2;
      loneHigh = false;
      continue;
    }
    if (c < 0xf0) {
      if (i + 3 > e) invalid(i);
      const c1 = b[i + 1]!;
      const c2 = b[i + 2]!;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) invalid(i);
      const v = ((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
      if (v < 0x800) invalid(i); // overlong
      if (v >= 0xdc00 && v <= 0xdfff && loneHigh) invalid(i); // a pair must be one 4-byte sequence
      loneHigh = v >= 0xd800 && v <= 0xdbff;
      u[k++] = v;
      i += 3;
      continue;
    }
    if (c > 0xf4 || i + 4 > e) invalid(i);
    const c1 = b[i + 1]!;
    const c2 = b[i + 2]!;
    const c3 = b[i + 3]!;
    if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80) invalid(i);
    const cp = ((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f);
    if (cp < 0x10000 || cp > 0x10ffff) invalid(i);
    u[k++] = 0xd800 + ((cp - 0x10000) >> 10);
    u[k++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
    i += 4;
    loneHigh = false;
  }
  if (k <= CHUNK) return String.fromCharCode.apply(null, u.subarray(0, k) as unknown as number[]);
  let s = '';
  for (let j = 0; j < k; j += CHUNK)
    s += String.fromCharCode.apply(null, u.subarray(j, Math.min(k, j + CHUNK)) as unknown as number[]);
  return s;
}
