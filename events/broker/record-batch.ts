// Kafka record batches (message format v2, "magic 2"): header parsing, validation of what a
// producer sends (CRC32C, structure, one batch per partition), offset assignment, and an
// encoder/decoder for records (tests, tools, timestamp lookups). Pure: no I/O.
//
// Layout (big-endian), from the Kafka protocol guide:
//   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 |
//   17 crc u32 | 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 |
//   35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 |
//   57 recordCount i32 | 61 records…
// batchLength counts the bytes after itself. The CRC covers attributes to the end, so the
// broker can rewrite baseOffset and partitionLeaderEpoch without recomputing it: the batch
// is stored and served byte for byte as the producer sent it, apart from those two fields.

import { crc32c } from '@aws-crypto/crc32c';
import { ErrorCode } from './protocol.js';
import { KAFKA_BATCH_BYTES_MAX } from './limits.js';

export const BATCH_HEADER_BYTES = 61;
/** baseOffset + batchLength: the bytes of a batch not counted by batchLength. */
export const BATCH_LOG_OVERHEAD_BYTES = 12;
const CRC_START = 21;
const MAGIC_V2 = 2;

export const Attributes = {
  COMPRESSION_MASK: 0x07,
  TIMESTAMP_LOG_APPEND: 0x08,
  TRANSACTIONAL: 0x10,
  CONTROL: 0x20,
} as const;

export const Compression = { NONE: 0, GZIP: 1, SNAPPY: 2, LZ4: 3, ZSTD: 4 } as const;

export interface BatchHeader {
  baseOffset: number;
  /** Whole batch size in bytes, including the 12-byte log overhead. */
  sizeBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);

function readSafeInt64(dv: DataView, at: number): number {
  const v = dv.getBigInt64(at);
  // Offsets, timestamps and producer ids are always far below 2^53; beyond it is corruption.
  if (v > SAFE_MAX || v < SAFE_MIN) return Number.NaN;
  return Number(v);
}

/**
 * Parses the fixed 61-byte header at `at`. Returns undefined if fewer than 61 bytes remain
 * or an int64 field is beyond 2^53; field values are not otherwise checked.
 */
export function readBatchHeader(buf: Uint8Array, at: number): BatchHeader | undefined {
  if (at < 0 || at + BATCH_HEADER_BYTES > buf.byteLength) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const h: BatchHeader = {
    baseOffset: readSafeInt64(dv, at),
    sizeBytes: dv.getInt32(at + 8) + BATCH_LOG_OVERHEAD_BYTES,
    partitionLeaderEpoch: dv.getInt32(at + 12),
    magic: dv.getInt8(at + 16),
    crc: dv.getUint32(at + 17),
    attributes: dv.getInt16(at + 21),
    lastOffsetDelta: dv.getInt32(at + 23),
    baseTimestamp: readSafeInt64(dv, at + 27),
    maxTimestamp: readSafeInt64(dv, at + 35),
    producerId: readSafeInt64(dv, at + 43),
    producerEpoch: dv.getInt16(at + 51),
    baseSequence: dv.getInt32(at + 53),
    recordCount: dv.getInt32(at + 57),
  };
  if (
    Number.isNaN(h.baseOffset) ||
    Number.isNaN(h.baseTimestamp) ||
    Number.isNaN(h.maxTimestamp) ||
    Number.isNaN(h.producerId)
  )
    return undefined;
  return h;
}

/** Last offset in the batch. */
export function lastOffsetOf(h: BatchHeader): number {
  return h.baseOffset + h.lastOffsetDelta;
}

/** Structural checks shared by produce validation and log recovery (no CRC, no records). */
export function headerProblem(h: BatchHeader): string | undefined {
  if (h.magic !== MAGIC_V2) return `magic ${h.magic}, only 2 is supported`;
  if (h.sizeBytes < BATCH_HEADER_BYTES)
    return `batch length ${h.sizeBytes - BATCH_LOG_OVERHEAD_BYTES} is shorter than a header`;
  if (h.sizeBytes > KAFKA_BATCH_BYTES_MAX) return `batch of ${h.sizeBytes} bytes exceeds ${KAFKA_BATCH_BYTES_MAX}`;
  if (h.lastOffsetDelta < 0) return `lastOffsetDelta ${h.lastOffsetDelta}`;
  if (h.recordCount < 0) return `record count ${h.recordCount}`;
  return undefined;
}

/** CRC32C of the batch at [at, at + sizeBytes) matches its header. */
export function batchCrcOk(buf: Uint8Array, at: number, h: BatchHeader): boolean {
  if (at + h.sizeBytes > buf.byteLength) return false;
  return crc32c(buf.subarray(at + CRC_START, at + h.sizeBytes)) >>> 0 === h.crc;
}

/** Rewrites baseOffset (outside the CRC) in place. */
export function setBaseOffset(buf: Uint8Array, at: number, baseOffset: number): void {
  new DataView(buf.buffer, buf.byteOffset, buf.byteLength).setBigInt64(at, BigInt(baseOffset));
}

/** Rewrites partitionLeaderEpoch (outside the CRC) in place. */
export function setPartitionLeaderEpoch(buf: Uint8Array, at: number, epoch: number): void {
  new DataView(buf.buffer, buf.byteOffset, buf.byteLength).setInt32(at + 12, epoch);
}

export type ProducedBatchCheck = { ok: true; header: BatchHeader } | { ok: false; error: ErrorCode; reason: string };

/**
 * Validates the records of one partition in a Produce request: exactly one v2 batch (as
 * Kafka requires from produce v3 on), whole, CRC32C correct, a supported codec, no
 * transactional or control batch, and — when uncompressed — records that parse with
 * offset deltas 0..n-1 filling the batch exactly. Compressed records are checked only
 * through the header (count = lastOffsetDelta + 1): the broker does not decompress.
 */
export function checkProducedRecords(records: Uint8Array, produceVersion: number): ProducedBatchCheck {
  const bad = (reason: string, error: ErrorCode = ErrorCode.CORRUPT_MESSAGE): ProducedBatchCheck => ({
    ok: false,
    error,
    reason,
  });
  if (records.byteLength > KAFKA_BATCH_BYTES_MAX)
    return bad(`batch of ${records.byteLength} bytes exceeds ${KAFKA_BATCH_BYTES_MAX}`, ErrorCode.MESSAGE_TOO_LARGE);
  const h = readBatchHeader(records, 0);
  if (h === undefined) return bad(`records of ${records.byteLength} bytes do not hold a batch header`);
  const problem = headerProblem(h);
  if (problem !== undefined) return bad(problem);
  if (h.sizeBytes !== records.byteLength) {
    return bad(
      h.sizeBytes < records.byteLength
        ? 'more than one record batch for a partition'
        : 'batch runs past the end of the records',
    );
  }
  if (!batchCrcOk(records, 0, h)) return bad('CRC32C mismatch');
  if ((h.attributes & (Attributes.TRANSACTIONAL | Attributes.CONTROL)) !== 0)
    return bad('transactional and control batches are not supported', ErrorCode.INVALID_REQUEST);
  const codec = h.attributes & Attributes.COMPRESSION_MASK;
  if (codec > Compression.ZSTD || (codec === Compression.ZSTD && produceVersion < 7))
    return bad(`compression codec ${codec}`, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  if (h.recordCount !== h.lastOffsetDelta + 1)
    return bad(`record count ${h.recordCount} with lastOffsetDelta ${h.lastOffsetDelta}`);
  if (h.producerId >= 0 && (h.producerEpoch < 0 || h.baseSequence < 0))
    return bad('idempotent batch without epoch or sequence', ErrorCode.INVALID_REQUEST);
  if (codec === Compression.NONE) {
    const walked = walkRecords(records, BATCH_HEADER_BYTES, h.sizeBytes, h.recordCount, undefined);
    if (walked !== undefined) return bad(walked);
  }
  return { ok: true, header: h };
}

// ---- varints (zigzag), as used inside records -------------------------------------------

/** Reads a zigzag varint of at most `maxBytes` bytes; returns [value, next] or undefined. */
function readVarint(buf: Uint8Array, at: number, end: number, maxBytes: number): [number, number] | undefined {
  let raw = 0;
  let scale = 1;
  for (let i = 0; i < maxBytes; i++) {
    if (at + i >= end) return undefined;
    const b = buf[at + i] as number;
    raw += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      if (!Number.isSafeInteger(raw)) return undefined;
      const value = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      return [value, at + i + 1];
    }
    scale *= 128;
  }
  return undefined;
}

const VARINT_BYTES_MAX = 5;
const VARLONG_BYTES_MAX = 10;

function zigzagBytes(v: number): number[] {
  let raw = v >= 0 ? v * 2 : -v * 2 - 1;
  const out: number[] = [];
  while (raw >= 128) {
    out.push((raw % 128) | 0x80);
    raw = Math.floor(raw / 128);
  }
  out.push(raw);
  return out;
}

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface DecodedRecord {
  offset: number;
  timestampMs: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

/**
 * Walks `count` records in [at, end); returns a reason if they do not parse exactly, else
 * undefined. `emit` (if given) receives each record; base values come from the header.
 */
function walkRecords(
  buf: Uint8Array,
  at: number,
  end: number,
  count: number,
  emit:
    | ((r: {
        offsetDelta: number;
        timestampDelta: number;
        key: Uint8Array | null;
        value: Uint8Array | null;
        headers: RecordHeader[];
      }) => void)
    | undefined,
): string | undefined {
  let pos = at;
  for (let i = 0; i < count; i++) {
    const len = readVarint(buf, pos, end, VARINT_BYTES_MAX);
    if (len === undefined || len[0] < 0) return `record ${i}: bad length`;
    const recEnd = len[1] + len[0];
    if (recEnd > end) return `record ${i} runs past the batch`;
    pos = len[1] + 1; // attributes (unused in v2)
    const ts = readVarint(buf, pos, recEnd, VARLONG_BYTES_MAX);
    if (ts === undefined) return `record ${i}: bad timestamp delta`;
    const od = readVarint(buf, ts[1], recEnd, VARINT_BYTES_MAX);
    if (od === undefined || od[0] !== i) return `record ${i}: offset delta ${od?.[0]} is not ${i}`;
    pos = od[1];
    const key = readNullableVarBytes(buf, pos, recEnd);
    if (key === undefined) return `record ${i}: bad key`;
    const value = readNullableVarBytes(buf, key[1], recEnd);
    if (value === undefined) return `record ${i}: bad value`;
    const hc = readVarint(buf, value[1], recEnd, VARINT_BYTES_MAX);
    if (hc === undefined || hc[0] < 0) return `record ${i}: bad header count`;
    pos = hc[1];
    const headers: RecordHeader[] = [];
    for (let j = 0; j < hc[0]; j++) {
      const hk = readNullableVarBytes(buf, pos, recEnd);
      if (hk === undefined || hk[0] === null) return `record ${i}: bad header key`;
      const hv = readNullableVarBytes(buf, hk[1], recEnd);
      if (hv === undefined) return `record ${i}: bad header value`;
      if (emit !== undefined) headers.push({ key: Buffer.from(hk[0]).toString('utf8'), value: hv[0] });
      pos = hv[1];
    }
    if (pos !== recEnd) return `record ${i}: ${recEnd - pos} bytes left over`;
    emit?.({ offsetDelta: i, timestampDelta: ts[0], key: key[0], value: value[0], headers });
  }
  if (pos !== end) return `${end - pos} bytes after the last record`;
  return undefined;
}

function readNullableVarBytes(buf: Uint8Array, at: number, end: number): [Uint8Array | null, number] | undefined {
  const len = readVarint(buf, at, end, VARINT_BYTES_MAX);
  if (len === undefined) return undefined;
  if (len[0] === -1) return [null, len[1]];
  if (len[0] < 0 || len[1] + len[0] > end) return undefined;
  return [buf.subarray(len[1], len[1] + len[0]), len[1] + len[0]];
}

/** Decodes the records of an uncompressed batch at `at`; throws on anything else. */
export function decodeRecords(buf: Uint8Array, at = 0): DecodedRecord[] {
  const h = readBatchHeader(buf, at);
  if (h === undefined) throw new Error('no batch header');
  if ((h.attributes & Attributes.COMPRESSION_MASK) !== Compression.NONE) throw new Error('compressed batch');
  const out: DecodedRecord[] = [];
  const why = walkRecords(buf, at + BATCH_HEADER_BYTES, at + h.sizeBytes, h.recordCount, (r) => {
    out.push({
      offset: h.baseOffset + r.offsetDelta,
      timestampMs: h.baseTimestamp + r.timestampDelta,
      key: r.key,
      value: r.value,
      headers: r.headers,
    });
  });
  if (why !== undefined) throw new Error(why);
  return out;
}

export interface RecordInput {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers?: RecordHeader[];
  timestampMs?: number;
}

export interface BatchInput {
  records: readonly RecordInput[];
  baseOffset?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  attributes?: number;
  /** Used for records without a timestamp. */
  nowMs?: number;
}

/** Encodes an uncompressed v2 batch with a correct CRC32C. */
export function encodeRecordBatch(input: BatchInput): Buffer {
  if (input.records.length === 0) throw new Error('a batch needs at least one record');
  const now = input.nowMs ?? 0;
  const timestamps = input.records.map((r) => r.timestampMs ?? now);
  const baseTimestamp = Math.min(...timestamps);
  const maxTimestamp = Math.max(...timestamps);
  const recordBufs: Buffer[] = [];
  input.records.forEach((r, i) => {
    const body: (number[] | Uint8Array)[] = [
      [0],
      zigzagBytes((timestamps[i] as number) - baseTimestamp),
      zigzagBytes(i),
    ];
    const pushBytes = (b: Uint8Array | null) => {
      if (b === null) body.push(zigzagBytes(-1));
      else body.push(zigzagBytes(b.byteLength), b);
    };
    pushBytes(r.key);
    pushBytes(r.value);
    const headers = r.headers ?? [];
    body.push(zigzagBytes(headers.length));
    for (const hd of headers) {
      pushBytes(Buffer.from(hd.key, 'utf8'));
      pushBytes(hd.value);
    }
    const bodyBuf = Buffer.concat(body.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));
    recordBufs.push(Buffer.concat([Uint8Array.from(zigzagBytes(bodyBuf.byteLength)), bodyBuf]));
  });
  const records = Buffer.concat(recordBufs);
  const out = Buffer.alloc(BATCH_HEADER_BYTES + records.byteLength);
  out.writeBigInt64BE(BigInt(input.baseOffset ?? 0), 0);
  out.writeInt32BE(out.byteLength - BATCH_LOG_OVERHEAD_BYTES, 8);
  out.writeInt32BE(-1, 12);
  out.writeInt8(MAGIC_V2, 16);
  out.writeInt16BE(input.attributes ?? 0, 21);
  out.writeInt32BE(input.records.length - 1, 23);
  out.writeBigInt64BE(BigInt(baseTimestamp), 27);
  out.writeBigInt64BE(BigInt(maxTimestamp), 35);
  out.writeBigInt64BE(BigInt(input.producerId ?? -1), 43);
  out.writeInt16BE(input.producerEpoch ?? -1, 51);
  out.writeInt32BE(input.baseSequence ?? -1, 53);
  out.writeInt32BE(input.records.length, 57);
  records.copy(out, BATCH_HEADER_BYTES);
  out.writeUInt32BE(crc32c(out.subarray(CRC_START)) >>> 0, 17);
  return out;
}
