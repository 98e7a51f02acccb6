// Segment files: naming, the recovery scan of one segment's bytes (pure), and reading a range
// of entries back from disk through a sparse offset index (through WalFs, fs.ts).

import { copyBytes } from '../../engine/byte-writer.js';
import { nodeFs, type WalFs } from './fs.js';
import { RECORD_HEADER_BYTES, decodeRecord, type LogEntry } from './record.js';
// A cycle (wal.ts imports this file), safe because the class is only used when a call throws.
import { WalCorruptionError } from './errors.js';

/** One sparse-index slot per this many entries: the byte offset of every 64th entry is kept,
 *  so a read starts at most 63 records before the one it wants. */
export const OFFSET_INDEX_STRIDE = 64;
/** Bytes read from disk at a time when reading entries back (grown for a larger record). */
export const READ_CHUNK_BYTES = 1024 * 1024;

const SEGMENT_NAME = /^wal-(\d{20})\.log$/;

export function segmentFileName(firstIndex: number): string {
  return `wal-${String(firstIndex).padStart(20, '0')}.log`;
}

/**
 * Segment files in `dir` in index order, with the first index their name carries. `fs`
 * defaults to node:fs for the read-only tools (audit/); the Wal always passes its own.
 */
export function listSegments(dir: string, fs: WalFs = nodeFs): { name: string; firstIndex: number }[] {
  const out: { name: string; firstIndex: number }[] = [];
  for (const name of fs.readdir(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (!m) continue;
    const firstIndex = Number(m[1]);
    // A damaged directory, like any other: the typed error open() documents, not a plain Error.
    if (!Number.isSafeInteger(firstIndex) || firstIndex < 1)
      throw new WalCorruptionError(name, 0, 'the file name gives an unusable first index');
    out.push({ name, firstIndex });
  }
  return out.sort((a, b) => a.firstIndex - b.firstIndex);
}

export interface Segment {
  readonly name: string;
  readonly path: string;
  readonly firstIndex: number;
  /** firstIndex - 1 while empty. */
  lastIndex: number;
  /** Bytes of whole, verified records; the file is never longer once open() is done. */
  size: number;
  /** offsets[k] = byte offset of entry firstIndex + k * OFFSET_INDEX_STRIDE. */
  offsets: number[];
}

export type ScanStop =
  | { kind: 'end' }
  /** Torn or corrupt record (bad length or CRC): repairable by truncation if in the tail. */
  | { kind: 'bad'; offset: number; reason: string }
  /** A well-formed record that must not be there (wrong index, lower term, unknown type):
   *  never repaired, whatever the segment. */
  | { kind: 'invalid'; offset: number; reason: string };

export interface ScanResult {
  /** Offset just past the last good record. */
  validEnd: number;
  lastIndex: number;
  offsets: number[];
  stop: ScanStop;
}

/**
 * Verifies the records of one segment's bytes, in order: CRC, index = previous + 1 (the
 * first must equal the name's index), term never lower than the previous entry's.
 * `onEntry` sees each good entry's index and term (data is not retained).
 */
export function scanSegment(
  buf: Uint8Array,
  firstIndex: number,
  previousTerm: number,
  onEntry: (index: number, term: number) => void,
): ScanResult {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const offsets: number[] = [];
  let offset = 0;
  let expected = firstIndex;
  let lastTerm = previousTerm;
  let stop: ScanStop = { kind: 'end' };
  while (offset < buf.byteLength) {
    const r = decodeRecord(buf, view, offset, buf.byteLength);
    if (r.kind !== 'entry') {
      stop = { kind: r.kind, offset, reason: r.reason };
      break;
    }
    if (r.index !== expected) {
      stop = { kind: 'invalid', offset, reason: `index gap: expected entry ${expected}, found ${r.index}` };
      break;
    }
    if (r.term < lastTerm) {
      stop = {
        kind: 'invalid',
        offset,
        reason: `entry ${r.index} has term ${r.term}, below the previous entry's ${lastTerm}`,
      };
      break;
    }
    if ((r.index - firstIndex) % OFFSET_INDEX_STRIDE === 0) offsets.push(offset);
    onEntry(r.index, r.term);
    lastTerm = r.term;
    expected++;
    offset = r.end;
  }
  return { validEnd: offset, lastIndex: expected - 1, offsets, stop };
}

/**
 * Reads entries [lo, hi) of one segment (all must be in it) from disk, calling `emit` with a
 * copy of each and its byte offset, until it returns false. Any record that does not decode as the expected entry
 * throws: the segment was verified at open or written by this process, so it is corruption
 * after the fact.
 */
export function readSegmentEntries(
  fs: WalFs,
  segment: Segment,
  lo: number,
  hi: number,
  emit: (entry: LogEntry, offset: number) => boolean,
): void {
  if (!(segment.firstIndex <= lo && lo < hi && hi <= segment.lastIndex + 1)) {
    throw new Error(
      `WAL: read [${lo}, ${hi}) outside segment ${segment.name} [${segment.firstIndex}, ${segment.lastIndex}]`,
    );
  }
  const slot = Math.floor((lo - segment.firstIndex) / OFFSET_INDEX_STRIDE);
  const startOffset = segment.offsets[slot];
  if (startOffset === undefined) throw new Error(`WAL: no offset index slot ${slot} in ${segment.name}`);
  const fd = fs.open(segment.path, 'r');
  try {
    let buf = Buffer.alloc(0); // sized on first use: a small read of a small segment stays small
    let windowStart = 0;
    let windowEnd = 0; // bytes [windowStart, windowEnd) of the file are in buf
    const load = (position: number, length: number): void => {
      if (position >= windowStart && position + length <= windowEnd) return;
      if (position + length > segment.size) {
        throw new Error(
          `WAL: ${segment.name} offset ${position}: record runs past the segment's ${segment.size} bytes`,
        );
      }
      const size = Math.min(Math.max(length, READ_CHUNK_BYTES), segment.size - position);
      if (buf.byteLength < size) buf = Buffer.allocUnsafe(size);
      let done = 0;
      while (done < size) {
        const n = fs.read(fd, buf, done, size - done, position + done);
        if (n <= 0) throw new Error(`WAL: ${segment.name} offset ${position + done}: file shorter than expected`);
        done += n;
      }
      windowStart = position;
      windowEnd = position + size;
    };
    let position = startOffset;
    let index = segment.firstIndex + slot * OFFSET_INDEX_STRIDE;
    while (index < hi) {
      load(position, RECORD_HEADER_BYTES);
      const payloadLength = buf.readUInt32LE(position - windowStart);
      load(position, RECORD_HEADER_BYTES + payloadLength);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const r = decodeRecord(buf, view, position - windowStart, windowEnd - windowStart);
      if (r.kind !== 'entry' || r.index !== index) {
        const why = r.kind === 'entry' ? `found entry ${r.index}` : r.reason;
        throw new Error(`WAL: ${segment.name} offset ${position}: expected entry ${index}: ${why}`);
      }
      if (index >= lo && !emit({ index, term: r.term, type: r.type, data: copyBytes(r.data) }, position)) return;
      position = windowStart + r.end;
      index++;
    }
  } finally {
    fs.close(fd);
  }
}

/** Byte offset of entry `index` in the segment (segment.size for lastIndex + 1). */
export function offsetOfEntry(fs: WalFs, segment: Segment, index: number): number {
  if (index === segment.lastIndex + 1) return segment.size;
  let found = -1;
  readSegmentEntries(fs, segment, index, index + 1, (_entry, offset) => {
    found = offset;
    return false;
  });
  if (found < 0) throw new Error(`WAL: entry ${index} not found in ${segment.name}`);
  return found;
}
