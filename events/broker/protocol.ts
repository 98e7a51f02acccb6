// Kafka wire-protocol primitives: a bounds-checked big-endian reader whose every refusal is a
// ProtocolError, a writer that keeps large byte ranges (record batches) as references
// instead of copying them, the request header, API keys and the error codes this broker
// returns. Pure: no sockets, files or clocks.
//
// Only non-flexible versions are advertised (see messages.ts), so the codec has no compact
// strings, unsigned varints in headers or tagged fields. Record-level varints live in
// record-batch.ts.

import { assertFor, type Assert } from '../../ops/assert.js';

/** Malformed input from a client: the connection is closed, the broker carries on. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** A broken internal invariant: a bug, not bad input. Hosts treat it as fatal. */
export const assert: Assert = assertFor('broker');

export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  ApiVersions: 18,
  CreateTopics: 19,
  InitProducerId: 22,
} as const;
export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey];

/** The Kafka error codes this broker sends (numbering from the Kafka protocol guide). */
export const ErrorCode = {
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  MESSAGE_TOO_LARGE: 10,
  OFFSET_METADATA_TOO_LARGE: 12,
  COORDINATOR_NOT_AVAILABLE: 15,
  INVALID_TOPIC_EXCEPTION: 17,
  INVALID_REQUIRED_ACKS: 21,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REPLICA_ASSIGNMENT: 39,
  INVALID_CONFIG: 40,
  INVALID_REQUEST: 42,
  POLICY_VIOLATION: 44,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  INVALID_PRODUCER_EPOCH: 47,
  KAFKA_STORAGE_ERROR: 56,
  FETCH_SESSION_ID_NOT_FOUND: 70,
  UNSUPPORTED_COMPRESSION_TYPE: 76,
  GROUP_MAX_SIZE_REACHED: 81,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const TEXT_DECODER = new TextDecoder('utf-8', { fatal: true });

/** Big-endian reader over one request body. Every read checks bounds. */
export class Reader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    offset = 0,
    private readonly end = buf.byteLength,
  ) {
    this.pos = offset;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private take(n: number): number {
    if (n < 0 || this.pos + n > this.end)
      throw new ProtocolError(`read of ${n} bytes at ${this.pos} runs past the end (${this.end})`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  int8(): number {
    return this.buf.readInt8(this.take(1));
  }

  bool(): boolean {
    return this.int8() !== 0;
  }

  int16(): number {
    return this.buf.readInt16BE(this.take(2));
  }

  int32(): number {
    return this.buf.readInt32BE(this.take(4));
  }

  /** An int64 that must be a safe integer (offsets, timestamps, producer ids all are in practice). */
  int64(): number {
    const v = this.buf.readBigInt64BE(this.take(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw new ProtocolError(`int64 ${v} is beyond 2^53`);
    return Number(v);
  }

  nullableString(): string | null {
    const len = this.int16();
    if (len === -1) return null;
    if (len < 0) throw new ProtocolError(`string length ${len}`);
    const at = this.take(len);
    try {
      return TEXT_DECODER.decode(this.buf.subarray(at, at + len));
    } catch {
      throw new ProtocolError('string is not valid UTF-8');
    }
  }

  string(): string {
    const s = this.nullableString();
    if (s === null) throw new ProtocolError('null where a string is required');
    return s;
  }

  /** A view into the request buffer (not a copy): valid while the request is. */
  nullableBytes(): Buffer | null {
    const len = this.int32();
    if (len === -1) return null;
    if (len < 0) throw new ProtocolError(`bytes length ${len}`);
    const at = this.take(len);
    return this.buf.subarray(at, at + len);
  }

  bytes(): Buffer {
    const b = this.nullableBytes();
    if (b === null) throw new ProtocolError('null where bytes are required');
    return b;
  }

  /** Array of at most `remaining` elements (each is at least one byte), so a huge count is refused before any allocation. */
  nullableArray<T>(item: (r: Reader) => T): T[] | null {
    const len = this.int32();
    if (len === -1) return null;
    if (len < 0 || len > this.remaining)
      throw new ProtocolError(`array length ${len} with ${this.remaining} bytes left`);
    const out: T[] = [];
    for (let i = 0; i < len; i++) out.push(item(this));
    return out;
  }

  array<T>(item: (r: Reader) => T): T[] {
    const a = this.nullableArray(item);
    if (a === null) throw new ProtocolError('null where an array is required');
    return a;
  }
}

/** Bytes at or above this size are kept by reference instead of being copied into the scratch buffer. */
const WRITER_REF_BYTES_MIN = 4096;
const WRITER_CHUNK_BYTES = 16 * 1024;

/**
 * Big-endian writer producing a list of chunks: scalars go into scratch chunks, large byte
 * ranges (record batches from the log) are referenced, so a fetch response is not copied.
 */
export class Writer {
  private readonly chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafe(WRITER_CHUNK_BYTES);
  private pos = 0;
  private doneBytes = 0;

  get length(): number {
    return this.doneBytes + this.pos;
  }

  private room(n: number): void {
    if (this.pos + n <= this.cur.byteLength) return;
    this.flushCur();
    this.cur = Buffer.allocUnsafe(Math.max(WRITER_CHUNK_BYTES, n));
  }

  private flushCur(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.doneBytes += this.pos;
    this.cur = this.cur.subarray(this.pos);
    this.pos = 0;
  }

  int8(v: number): this {
    this.room(1);
    this.pos = this.cur.writeInt8(v, this.pos);
    return this;
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  int16(v: number): this {
    this.room(2);
    this.pos = this.cur.writeInt16BE(v, this.pos);
    return this;
  }

  int32(v: number): this {
    this.room(4);
    this.pos = this.cur.writeInt32BE(v, this.pos);
    return this;
  }

  int64(v: number): this {
    assert(Number.isSafeInteger(v), `int64 ${v} is not a safe integer`);
    this.room(8);
    this.pos = this.cur.writeBigInt64BE(BigInt(v), this.pos);
    return this;
  }

  nullableString(s: string | null): this {
    if (s === null) return this.int16(-1);
    const len = Buffer.byteLength(s, 'utf8');
    assert(len <= 0x7fff, `string of ${len} bytes does not fit an int16 length`);
    this.int16(len);
    this.room(len);
    this.pos += this.cur.write(s, this.pos, 'utf8');
    return this;
  }

  string(s: string): this {
    return this.nullableString(s);
  }

  nullableBytes(b: Uint8Array | null): this {
    if (b === null) return this.int32(-1);
    this.int32(b.byteLength);
    return this.raw(b);
  }

  bytes(b: Uint8Array): this {
    return this.nullableBytes(b);
  }

  /** Appends bytes with no length prefix; large ones by reference. */
  raw(b: Uint8Array): this {
    if (b.byteLength >= WRITER_REF_BYTES_MIN) {
      this.flushCur();
      this.chunks.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      this.doneBytes += b.byteLength;
      return this;
    }
    this.room(b.byteLength);
    this.cur.set(b, this.pos);
    this.pos += b.byteLength;
    return this;
  }

  array<T>(items: readonly T[], item: (w: Writer, v: T) => void): this {
    this.int32(items.length);
    for (const v of items) item(this, v);
    return this;
  }

  int32Array(items: readonly number[]): this {
    return this.array(items, (w, v) => w.int32(v));
  }

  /** The chunks written so far; the writer must not be used afterwards. */
  finish(): Buffer[] {
    this.flushCur();
    return this.chunks;
  }
}

/** Non-flexible request header (v1): the only kind this broker parses beyond the first 8 bytes. */
export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/** Bytes every request header starts with: api key, api version, correlation id. */
export const REQUEST_HEADER_FIXED_BYTES = 8;

/** The first 8 bytes, which every header version shares. */
export function readHeaderPrefix(r: Reader): Omit<RequestHeader, 'clientId'> {
  return { apiKey: r.int16(), apiVersion: r.int16(), correlationId: r.int32() };
}

/** Encodes a whole response frame: size prefix, response header v0 (correlation id), body. */
export function frameResponse(correlationId: number, body: Buffer[]): Buffer[] {
  let size = 4;
  for (const b of body) size += b.byteLength;
  const head = Buffer.allocUnsafe(8);
  head.writeInt32BE(size, 0);
  head.writeInt32BE(correlationId, 4);
  return [head, ...body];
}
