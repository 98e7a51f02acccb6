// Read-only access to one replica's data directory (replicator/wal/README.md "Files"): the hard
// state, the snapshot files, and the log's segments read front to back.
//
// Why not `Wal.open`: recovery repairs what it finds (truncates a torn tail, moves the cut bytes
// to `.corrupt-<n>`, deletes `.tmp` files) and refuses a damaged middle segment outright. An
// auditor must change nothing, and must go on past a damaged record to find everything else
// that differs. So this reader only opens files for reading, checks every record (CRC32C, index
// = previous + 1, term never lower), and turns each defect into a `LogProblem` naming the file,
// the byte offset and the entry index, then resynchronises on the next record it can verify.

import fs from 'node:fs';
import path from 'node:path';
import { HARD_STATE_FILE, decodeHardState, type HardState } from '../replicator/wal/hard-state.js';
import {
  ENTRY_PAYLOAD_HEADER_BYTES,
  RECORD_BYTES_MAX,
  RECORD_HEADER_BYTES,
  RecordType,
  decodeRecord,
  readU64,
} from '../replicator/wal/record.js';
import { listSegments } from '../replicator/wal/segment.js';
import { decodeSnapshot, listSnapshots, type Snapshot } from '../replicator/wal/snapshot-file.js';

/** Bytes read from a segment at a time (grown for a larger record). */
export const READ_WINDOW_BYTES = 8 * 1024 * 1024;
/** How far past a damaged record the reader looks for the next verifiable one (one record's worth). */
export const RESYNC_SCAN_BYTES_MAX = RECORD_BYTES_MAX;
/** A record found while resynchronising is accepted only this far ahead of the expected index. */
const RESYNC_INDEX_AHEAD_MAX = 1 << 24;

export interface SegmentFile {
  name: string;
  path: string;
  firstIndex: number;
  size: number;
}

export interface SnapshotFile {
  name: string;
  path: string;
  /** Index in the file name (the header's is checked when it is loaded). */
  index: number;
}

export interface ReplicaFiles {
  dir: string;
  /** Short name for messages: the directory's base name (`node-2`). */
  name: string;
  hardState: HardState | undefined;
  /** Why the hard state file could not be read (it exists but is damaged). */
  hardStateProblem: string | undefined;
  /** In index order. */
  segments: SegmentFile[];
  /** Oldest first. */
  snapshots: SnapshotFile[];
  /** First index of the log (the first segment's name); 1 for an uncompacted log. */
  firstIndex: number;
  /** Last entry by a quick walk of the record headers of the last non-empty segment (no CRC: the replay checks that). */
  last: { index: number; term: number } | undefined;
}

/** A replica directory holds a hard state, WAL segments or snapshots. */
export function isReplicaDir(dir: string): boolean {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return false;
  }
  return names.some((n) => n === HARD_STATE_FILE || /^wal-\d{20}\.log$/.test(n) || /^snap-\d{20}\.snap$/.test(n));
}

export function openReplicaFiles(dir: string): ReplicaFiles {
  const hsPath = path.join(dir, HARD_STATE_FILE);
  let hardState: HardState | undefined;
  let hardStateProblem: string | undefined;
  if (fs.existsSync(hsPath)) {
    const hs = decodeHardState(fs.readFileSync(hsPath));
    if (typeof hs === 'string') hardStateProblem = hs;
    else hardState = hs;
  }
  const segments = listSegments(dir).map((s) => {
    const p = path.join(dir, s.name);
    return { name: s.name, path: p, firstIndex: s.firstIndex, size: fs.statSync(p).size };
  });
  const snapshots = listSnapshots(dir)
    .map((s) => ({ name: s.name, path: path.join(dir, s.name), index: s.index }))
    .sort((a, b) => a.index - b.index);
  const files: ReplicaFiles = {
    dir,
    name: path.basename(path.resolve(dir)),
    hardState,
    hardStateProblem,
    segments,
    snapshots,
    firstIndex: segments[0]?.firstIndex ?? 1,
    last: undefined,
  };
  files.last = walkLast(files);
  return files;
}

/** Loads and checks one snapshot file: the decoded snapshot, or why it is not valid. */
export function loadSnapshotFile(s: SnapshotFile): Snapshot | string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(s.path);
  } catch (err) {
    return `cannot read: ${(err as Error).message}`;
  }
  const snap = decodeSnapshot(bytes);
  if (typeof snap === 'string') return snap;
  if (snap.index !== s.index) return `header says index ${snap.index}, file name ${s.index}`;
  return snap;
}

/**
 * The last entry of the log, from the record headers of the last non-empty segment (lengths
 * followed, nothing checksummed): enough to tell which replica's log is the longest and of
 * which term before the checked pass.
 */
function walkLast(files: ReplicaFiles): { index: number; term: number } | undefined {
  for (let k = files.segments.length - 1; k >= 0; k--) {
    const seg = files.segments[k]!;
    if (seg.size === 0) continue;
    const fd = fs.openSync(seg.path, 'r');
    try {
      const head = Buffer.alloc(RECORD_HEADER_BYTES + ENTRY_PAYLOAD_HEADER_BYTES);
      const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
      let pos = 0;
      let last: { index: number; term: number } | undefined;
      while (pos + head.length <= seg.size) {
        if (fs.readSync(fd, head, 0, head.length, pos) !== head.length) break;
        const len = view.getUint32(0, true);
        if (len < ENTRY_PAYLOAD_HEADER_BYTES || len > RECORD_BYTES_MAX || pos + RECORD_HEADER_BYTES + len > seg.size)
          break;
        const index = readU64(view, RECORD_HEADER_BYTES);
        const term = readU64(view, RECORD_HEADER_BYTES + 8);
        if (index < 0 || term < 0) break;
        last = { index, term };
        pos += RECORD_HEADER_BYTES + len;
      }
      if (last !== undefined) return last;
    } finally {
      fs.closeSync(fd);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The checked front-to-back read
// ---------------------------------------------------------------------------------------------

export type LogProblemKind =
  /** A record whose CRC or length is wrong with readable records after it: damage, never a crash artifact. */
  | 'corrupt'
  /** Entries missing between two good records, or between segments (a dropped record or file). */
  | 'gap'
  /** A record that verifies but cannot be there (index going back, term going down, unknown type). */
  | 'invalid'
  /** Unreadable bytes at the very end of the last segment: what a torn write looks like. */
  | 'tail';

export interface LogProblem {
  kind: LogProblemKind;
  replica: string;
  file: string;
  /** Byte offset in `file` of the damaged or unexpected record. */
  offset: number;
  /** First entry index this replica cannot provide. */
  index: number;
  /** Index of the next entry this replica can provide again (entries [index, resumeIndex) are missing); undefined if none. */
  resumeIndex: number | undefined;
  reason: string;
}

export type ReadItem =
  | { kind: 'entry'; index: number; term: number; type: number; data: Uint8Array; file: string; offset: number }
  | { kind: 'problem'; problem: LogProblem }
  | { kind: 'end' };

/**
 * Entries of one replica's log in index order, each record verified. `data` of an entry is a
 * view into the reader's window: use it before the next call to next().
 */
export class LogReader {
  private segIdx = -1;
  private seg: SegmentFile | undefined;
  private fd: number | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  /** File offset of buf[0], and how many bytes of buf are valid. */
  private bufStart = 0;
  private bufLen = 0;
  /** File offset of the next record. */
  private pos = 0;
  /** Index the next record should carry (undefined before the first segment is opened). */
  private expected: number | undefined;
  private lastTerm = 0;
  private queued: ReadItem | undefined;
  private done = false;

  constructor(readonly files: ReplicaFiles) {}

  /** Index the next entry should have. */
  get nextIndex(): number {
    return this.expected ?? this.files.firstIndex;
  }

  next(): ReadItem {
    if (this.queued !== undefined) {
      const q = this.queued;
      this.queued = undefined;
      return q;
    }
    for (;;) {
      if (this.done) return { kind: 'end' };
      if (this.seg === undefined) {
        const p = this.openNextSegment();
        if (p !== undefined) return p;
        continue;
      }
      const seg = this.seg;
      if (this.pos >= seg.size) {
        this.closeSegment();
        continue;
      }
      const expected = this.expected!;
      const at = this.pos;
      if (!this.ensure(at, RECORD_HEADER_BYTES))
        return this.damaged(at, `${seg.size - at} bytes left, less than a record header`);
      const len = this.buf.readUInt32LE(at - this.bufStart);
      if (len > RECORD_BYTES_MAX - RECORD_HEADER_BYTES)
        return this.damaged(at, `payload length ${len} over the record limit`);
      if (!this.ensure(at, RECORD_HEADER_BYTES + len))
        return this.damaged(at, `payload length ${len} runs past the end of the file (${seg.size - at} bytes left)`);
      const r = decodeRecord(this.buf, this.view, at - this.bufStart, this.bufLen);
      if (r.kind === 'bad') return this.damaged(at, r.reason);
      this.pos = at + RECORD_HEADER_BYTES + len;
      if (r.kind === 'invalid') {
        return this.problem('invalid', at, expected, expected, r.reason);
      }
      if (r.index < expected) {
        return this.problem(
          'invalid',
          at,
          expected,
          expected,
          `record holds entry ${r.index}, expected ${expected} (duplicate or out of order)`,
        );
      }
      if (r.term < this.lastTerm) {
        // Still an entry: report it and hand it out, the replay decides which copy to trust.
        this.queued = this.accept(r.index, r.term, r.type, r.data, at);
        return this.problem(
          'invalid',
          at,
          r.index,
          r.index,
          `entry ${r.index} has term ${r.term}, below the previous entry's ${this.lastTerm}`,
        );
      }
      if (r.index > expected) {
        this.queued = this.accept(r.index, r.term, r.type, r.data, at);
        return this.problem(
          'gap',
          at,
          expected,
          r.index,
          `entries ${range(expected, r.index)} missing: the record at this offset holds entry ${r.index}`,
        );
      }
      return this.accept(r.index, r.term, r.type, r.data, at);
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    this.done = true;
  }

  private accept(index: number, term: number, type: number, data: Uint8Array, offset: number): ReadItem {
    this.expected = index + 1;
    this.lastTerm = term;
    return { kind: 'entry', index, term, type, data, file: this.seg!.name, offset };
  }

  private problem(
    kind: LogProblemKind,
    offset: number,
    index: number,
    resumeIndex: number | undefined,
    reason: string,
  ): ReadItem {
    return {
      kind: 'problem',
      problem: { kind, replica: this.files.name, file: this.seg?.name ?? '', offset, index, resumeIndex, reason },
    };
  }

  /** Opens the next segment; a problem if its first index does not continue the log. */
  private openNextSegment(): ReadItem | undefined {
    this.segIdx++;
    const seg = this.files.segments[this.segIdx];
    if (seg === undefined) {
      this.done = true;
      return undefined;
    }
    this.seg = seg;
    this.fd = fs.openSync(seg.path, 'r');
    this.bufStart = 0;
    this.bufLen = 0;
    this.pos = 0;
    const expected = this.expected ?? seg.firstIndex;
    this.expected = expected;
    if (seg.firstIndex > expected) {
      const p = this.problem(
        'gap',
        0,
        expected,
        seg.firstIndex,
        `entries ${range(expected, seg.firstIndex)} missing: no segment holds them (the next one starts at ${seg.firstIndex})`,
      );
      this.expected = seg.firstIndex;
      return p;
    }
    if (seg.firstIndex < expected) {
      // Overlapping segments: the records below `expected` come out as 'invalid' one by one.
      return undefined;
    }
    return undefined;
  }

  private closeSegment(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    this.seg = undefined;
  }

  /** Makes file bytes [at, at + n) available in buf; false if they run past the end of the file. */
  private ensure(at: number, n: number): boolean {
    const seg = this.seg!;
    if (at + n > seg.size) return false;
    if (at >= this.bufStart && at + n <= this.bufStart + this.bufLen) return true;
    const size = Math.min(Math.max(n, READ_WINDOW_BYTES), seg.size - at);
    if (this.buf.length < size) {
      this.buf = Buffer.allocUnsafe(Math.max(size, READ_WINDOW_BYTES));
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
    let done = 0;
    while (done < size) {
      const got = fs.readSync(this.fd!, this.buf, done, size - done, at + done);
      if (got <= 0) throw new Error(`${seg.path}: file shorter than its size while reading at ${at + done}`);
      done += got;
    }
    this.bufStart = at;
    this.bufLen = size;
    return true;
  }

  /**
   * A record at `at` that does not verify. Looks for the next record that does (CRC matches,
   * index ahead of the expected one) within one record's length; entries in between are lost
   * from this replica. With nothing verifiable after it in the last segment, it is a tail.
   */
  private damaged(at: number, reason: string): ReadItem {
    const seg = this.seg!;
    const expected = this.expected!;
    const found = this.resync(at + 1, expected);
    if (found !== undefined) {
      this.pos = found.offset;
      this.expected = found.index;
      return this.problem(
        'corrupt',
        at,
        expected,
        found.index,
        `${reason}; entries ${range(expected, found.index)} unreadable, next verifiable record at offset ${found.offset} (entry ${found.index})`,
      );
    }
    const nextSeg = this.files.segments[this.segIdx + 1];
    if (nextSeg !== undefined) {
      const p = this.problem(
        'corrupt',
        at,
        expected,
        nextSeg.firstIndex,
        `${reason}; nothing verifiable after it in ${seg.name}, entries ${range(expected, nextSeg.firstIndex)} unreadable`,
      );
      this.expected = nextSeg.firstIndex;
      this.closeSegment();
      return p;
    }
    this.closeSegment();
    this.done = true;
    return {
      kind: 'problem',
      problem: {
        kind: 'tail',
        replica: this.files.name,
        file: seg.name,
        offset: at,
        index: expected,
        resumeIndex: undefined,
        reason: `${reason}; nothing verifiable after it (end of the log)`,
      },
    };
  }

  private resync(from: number, expected: number): { offset: number; index: number } | undefined {
    const seg = this.seg!;
    const limit = Math.min(seg.size, from + RESYNC_SCAN_BYTES_MAX);
    const minRecord = RECORD_HEADER_BYTES + ENTRY_PAYLOAD_HEADER_BYTES;
    for (let o = from; o + minRecord <= limit; o++) {
      if (!this.ensure(o, minRecord)) return undefined;
      const b = o - this.bufStart;
      const len = this.buf.readUInt32LE(b);
      if (
        len < ENTRY_PAYLOAD_HEADER_BYTES ||
        len > RECORD_BYTES_MAX - RECORD_HEADER_BYTES ||
        o + RECORD_HEADER_BYTES + len > seg.size
      )
        continue;
      const type = this.buf[b + 8]!;
      if (type < RecordType.entry || type > RecordType.entryLast) continue;
      const index = readU64(this.view, b + RECORD_HEADER_BYTES);
      if (index <= expected || index > expected + RESYNC_INDEX_AHEAD_MAX) continue;
      if (!this.ensure(o, RECORD_HEADER_BYTES + len)) continue;
      const r = decodeRecord(this.buf, this.view, o - this.bufStart, this.bufLen);
      if (r.kind === 'entry') return { offset: o, index: r.index };
    }
    return undefined;
  }
}

/** "57" or "57..60" for [lo, hi). */
export function range(lo: number, hi: number): string {
  return hi - lo <= 1 ? String(lo) : `${lo}..${hi - 1}`;
}
