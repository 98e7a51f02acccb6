// WAL record encoding: pure functions, no I/O.
//
// Record (little-endian):
//   u32 payloadLength | u32 crc32c(type byte + payload) | u8 type | payload
// Entry payload (record type 1, 2 or 3 = the Raft entry type: normal, no-op, membership change):
//   u64 index | u64 term | data bytes
// u64 fields hold safe integers (< 2^53) and are written as two u32 halves, so no BigInt is
// needed on the hot path; a high half above 2^21 - 1 is refused when decoding.
//
// The CRC covers the type byte and the payload, which sit next to each other, so it is one
// pass over one contiguous range. It does not cover the length field: a corrupted length
// either points past the end of the file or makes the CRC range wrong, and both read as a
// bad record.

import { crc32c } from './crc32c.js';

export interface LogEntry {
  index: number;
  term: number;
  /** Raft entry type (1 normal, 2 no-op, 3 membership change), stored as the record type byte. Default 1. */
  type?: number;
  data: Uint8Array;
}

/** Bytes of the fixed record header: payload length, CRC, type. */
export const RECORD_HEADER_BYTES = 9;
/** Bytes an entry payload adds before its data: index and term. */
export const ENTRY_PAYLOAD_HEADER_BYTES = 16;
/** Largest record, header included (16 MiB). A larger entry is refused at append. */
export const RECORD_BYTES_MAX = 16 * 1024 * 1024;
/** Largest entry data that fits in one record. */
export const ENTRY_DATA_BYTES_MAX = RECORD_BYTES_MAX - RECORD_HEADER_BYTES - ENTRY_PAYLOAD_HEADER_BYTES;

export const RecordType = {
  entry: 1,
  /** Highest record type that is an entry (types 1..3 carry the Raft entry type). */
  entryLast: 3,
} as const;

const TWO_POW_32 = 0x1_0000_0000;
const U64_SAFE_HIGH_MAX = 0x1f_ffff; // 2^53 = 2^21 * 2^32

export function entryRecordBytes(dataBytes: number): number {
  return RECORD_HEADER_BYTES + ENTRY_PAYLOAD_HEADER_BYTES + dataBytes;
}

export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_POW_32), true);
}

/** Returns the value, or -1 when the high half makes it unsafe. */
export function readU64(view: DataView, offset: number): number {
  const high = view.getUint32(offset + 4, true);
  if (high > U64_SAFE_HIGH_MAX) return -1;
  return high * TWO_POW_32 + view.getUint32(offset, true);
}

/** Encodes one entry record at `offset`; returns the offset after it. The caller sized `buf`. */
export function encodeEntryRecord(buf: Uint8Array, view: DataView, offset: number, entry: LogEntry): number {
  const payloadLength = ENTRY_PAYLOAD_HEADER_BYTES + entry.data.byteLength;
  view.setUint32(offset, payloadLength, true);
  buf[offset + 8] = entry.type ?? RecordType.entry;
  writeU64(view, offset + RECORD_HEADER_BYTES, entry.index);
  writeU64(view, offset + RECORD_HEADER_BYTES + 8, entry.term);
  buf.set(entry.data, offset + RECORD_HEADER_BYTES + ENTRY_PAYLOAD_HEADER_BYTES);
  const end = offset + RECORD_HEADER_BYTES + payloadLength;
  view.setUint32(offset + 4, crc32c(buf.subarray(offset + 8, end)), true);
  return end;
}

export type DecodeResult =
  /** A whole record whose CRC matches. `data` is a view into the input buffer. */
  | { kind: 'entry'; index: number; term: number; type: number; data: Uint8Array; end: number }
  /** Fewer bytes than a header, a length running past the end, or a CRC mismatch:
   *  what a torn write or a flipped bit looks like. */
  | { kind: 'bad'; reason: string }
  /** The CRC matches but the content is not a record this code writes (unknown type, short
   *  entry payload, unsafe integer): not a torn write, never repaired by truncation. */
  | { kind: 'invalid'; reason: string };

/** Decodes the record at `offset` of `buf[0, limit)`. The caller checks offset < limit. */
export function decodeRecord(buf: Uint8Array, view: DataView, offset: number, limit: number): DecodeResult {
  const available = limit - offset;
  if (available < RECORD_HEADER_BYTES)
    return { kind: 'bad', reason: `${available} bytes left, less than a record header` };
  const payloadLength = view.getUint32(offset, true);
  if (payloadLength > RECORD_BYTES_MAX - RECORD_HEADER_BYTES) {
    return { kind: 'bad', reason: `payload length ${payloadLength} over the record limit` };
  }
  const end = offset + RECORD_HEADER_BYTES + payloadLength;
  if (end > limit)
    return { kind: 'bad', reason: `payload length ${payloadLength} runs past the end (${available} bytes left)` };
  const stored = view.getUint32(offset + 4, true);
  const actual = crc32c(buf.subarray(offset + 8, end));
  if (stored !== actual)
    return { kind: 'bad', reason: `CRC mismatch (stored ${hex(stored)}, computed ${hex(actual)})` };
  const type = buf[offset + 8]!;
  if (type < RecordType.entry || type > RecordType.entryLast)
    return { kind: 'invalid', reason: `unknown record type ${type}` };
  if (payloadLength < ENTRY_PAYLOAD_HEADER_BYTES)
    return { kind: 'invalid', reason: `entry payload of ${payloadLength} bytes` };
  const index = readU64(view, offset + RECORD_HEADER_BYTES);
  const term = readU64(view, offset + RECORD_HEADER_BYTES + 8);
  if (index < 0 || term < 0) return { kind: 'invalid', reason: 'index or term is not a safe integer' };
  const dataStart = offset + RECORD_HEADER_BYTES + ENTRY_PAYLOAD_HEADER_BYTES;
  return { kind: 'entry', index, term, type, data: buf.subarray(dataStart, end), end };
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}
