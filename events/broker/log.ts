// The log of one partition: append-only segment files of record batches, exactly as Kafka
// lays them out on the wire (a segment is a concatenation of v2 batches), a sparse
// in-memory offset index, recovery at open, group-committed fdatasync, reads bounded by
// the high watermark, optional retention, and the idempotent-producer table.
//
// Files: `<dir>/<base offset, 20 digits>.log`. A new segment starts when a batch would take
// the active one past `segmentBytesMax` (a segment passes it only when one batch alone does).
//
// Durability (FsyncPolicy):
//   'always' — flush() fdatasyncs the active segment; the broker acknowledges a produce only
//              after it, and readers see only flushed batches (the high watermark is the
//              flushed end), so nothing a consumer saw or a producer was told is lost in a
//              crash. Concurrent flushes share one fdatasync (group commit).
//   'never'  — no fdatasync on the produce path: batches are visible and acknowledged once
//              in the page cache; an OS crash or power loss can lose acknowledged batches.
// In both, a segment is fsynced before the next one is created, and the directory after, so
// only the last segment can have a torn tail; close() fsyncs the active segment.
//
// Recovery (open): every segment's batch headers are walked (lengths, magic, contiguous
// offsets); the last segment's CRC32Cs are verified too. A torn or corrupt batch in the last
// segment truncates the file there (the batches after it were never acknowledged under
// 'always'); in any other segment, or a gap between segments, open() throws
// LogCorruptionError and changes nothing.
//
// Any failed write or fdatasync puts the log in a failed state: appends, flushes and reads
// throw LogFailedError from then on (retrying an fsync after a failure is unsafe: the kernel
// may have dropped the dirty pages). The host must restart the broker.

import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, assert } from './protocol.js';
import { ProducerStateTable, type SequenceCheck } from './producer-state.js';
import {
  Attributes,
  BATCH_HEADER_BYTES,
  Compression,
  batchCrcOk,
  decodeRecords,
  headerProblem,
  lastOffsetOf,
  readBatchHeader,
  setBaseOffset,
  setPartitionLeaderEpoch,
  type BatchHeader,
} from './record-batch.js';
import { KAFKA_BATCH_BYTES_MAX } from './limits.js';
import { fdatasync, fsyncDirSync, readAtSync, writeAllSync } from './fs-util.js';
import {
  BROKER_SEGMENT_BYTES_MAX,
  BROKER_SEGMENT_BYTES_LIMIT,
  INDEX_INTERVAL_BYTES,
  BROKER_READ_WINDOW_BYTES,
} from './limits.js';

/** The partition leader epoch written into every stored batch: one broker, never a new leader. */
export const LEADER_EPOCH = 0;

export type FsyncPolicy = 'always' | 'never';

export interface PartitionLogOptions {
  segmentBytesMax?: number;
  fsync?: FsyncPolicy;
  /** Delete the oldest segments while the rest still hold at least this many bytes. Checked at segment roll. */
  retentionBytes?: number;
  /** Delete the oldest segments whose newest batch timestamp is older than this. Checked at segment roll. */
  retentionMs?: number;
  nowMs?: () => number;
  warn?: (message: string) => void;
}

export class LogCorruptionError extends Error {
  override name = 'LogCorruptionError';
}

export class LogFailedError extends Error {
  override name = 'LogFailedError';
}

const SEGMENT_NAME = /^(\d{20})\.log$/;

export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.log`;
}

/** Creates `dir` holding one empty segment at offset 0, durably (for topic creation). */
export function createEmptyLog(dir: string): void {
  fs.mkdirSync(dir);
  fs.closeSync(fs.openSync(path.join(dir, segmentFileName(0)), 'wx'));
  fsyncDirSync(dir);
}

interface Segment {
  readonly baseOffset: number;
  readonly path: string;
  size: number;
  /** Offset after the last batch (baseOffset while empty). */
  nextOffset: number;
  /** Sparse index: base offsets and file positions of some batches, ascending; always holds the first batch. */
  indexOffsets: number[];
  indexPositions: number[];
  bytesSinceIndex: number;
  /** Largest batch maxTimestamp in the segment, -1 while empty. */
  maxTimestamp: number;
}

export interface ReadResult {
  error: ErrorCode;
  /** Whole batches, concatenated; empty at the high watermark. */
  records: Buffer;
}

export type AppendResult =
  | { kind: 'appended'; baseOffset: number }
  | { kind: 'duplicate'; baseOffset: number }
  | { kind: 'error'; error: ErrorCode; reason: string };

function indexBatch(seg: Segment, h: BatchHeader, position: number): void {
  if (seg.indexOffsets.length === 0 || seg.bytesSinceIndex >= INDEX_INTERVAL_BYTES) {
    seg.indexOffsets.push(h.baseOffset);
    seg.indexPositions.push(position);
    seg.bytesSinceIndex = 0;
  }
  seg.bytesSinceIndex += h.sizeBytes;
  seg.nextOffset = lastOffsetOf(h) + 1;
  if (h.maxTimestamp > seg.maxTimestamp) seg.maxTimestamp = h.maxTimestamp;
}

interface ScanResult {
  validEnd: number;
  /** Why the scan stopped before the end of the file, if it did. */
  stop: string | undefined;
}

/** Walks the batches of one segment file, calling onBatch for each good one. */
function scanSegment(
  fd: number,
  fileSize: number,
  seg: Segment,
  verifyCrc: boolean,
  onBatch: (h: BatchHeader, position: number) => void,
): ScanResult {
  let win: Buffer = Buffer.alloc(0);
  let winPos = 0;
  let pos = 0;
  const load = (at: number, length: number): boolean => {
    if (at >= winPos && at + length <= winPos + win.byteLength) return true;
    if (at + length > fileSize) return false;
    win = readAtSync(fd, Math.min(fileSize - at, Math.max(length, BROKER_READ_WINDOW_BYTES)), at);
    winPos = at;
    return win.byteLength >= length;
  };
  while (pos < fileSize) {
    if (!load(pos, BATCH_HEADER_BYTES)) return { validEnd: pos, stop: `torn batch header at byte ${pos}` };
    const h = readBatchHeader(win, pos - winPos);
    if (h === undefined) return { validEnd: pos, stop: `unreadable batch header at byte ${pos}` };
    const problem = headerProblem(h);
    if (problem !== undefined) return { validEnd: pos, stop: `byte ${pos}: ${problem}` };
    if (h.baseOffset !== seg.nextOffset)
      return { validEnd: pos, stop: `byte ${pos}: batch at offset ${h.baseOffset}, expected ${seg.nextOffset}` };
    if (pos + h.sizeBytes > fileSize)
      return { validEnd: pos, stop: `torn batch at byte ${pos} (${h.sizeBytes} bytes, ${fileSize - pos} in the file)` };
    if (verifyCrc) {
      if (!load(pos, h.sizeBytes)) return { validEnd: pos, stop: `torn batch at byte ${pos}` };
      if (!batchCrcOk(win, pos - winPos, h))
        return { validEnd: pos, stop: `CRC32C mismatch in the batch at byte ${pos}` };
    }
    onBatch(h, pos);
    indexBatch(seg, h, pos);
    pos += h.sizeBytes;
    seg.size = pos;
  }
  return { validEnd: pos, stop: undefined };
}

export class PartitionLog {
  readonly producers = new ProducerStateTable();
  private readonly segments: Segment[] = [];
  private activeFd: number;
  private readonly segmentBytesMax: number;
  private readonly fsyncPolicy: FsyncPolicy;
  private durableEnd: number;
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;
  /** Called whenever the high watermark moves (the broker wakes long-polling fetches). */
  onAdvance: (() => void) | undefined;

  private constructor(
    readonly dir: string,
    private readonly options: PartitionLogOptions,
  ) {
    this.segmentBytesMax = options.segmentBytesMax ?? BROKER_SEGMENT_BYTES_MAX;
    assert(
      Number.isSafeInteger(this.segmentBytesMax) &&
        this.segmentBytesMax >= 1 &&
        this.segmentBytesMax <= BROKER_SEGMENT_BYTES_LIMIT,
      `segmentBytesMax ${this.segmentBytesMax}`,
    );
    this.fsyncPolicy = options.fsync ?? 'always';
    this.activeFd = -1;
    this.durableEnd = 0;
  }

  /** Opens (creating if needed) and recovers the log in `dir`. */
  static open(dir: string, options: PartitionLogOptions = {}): PartitionLog {
    const log = new PartitionLog(dir, options);
    fs.mkdirSync(dir, { recursive: true });
    const names = fs
      .readdirSync(dir)
      .map((name) => ({ name, m: SEGMENT_NAME.exec(name) }))
      .filter((e) => e.m !== null)
      .map((e) => ({ name: e.name, baseOffset: Number(e.m?.[1]) }))
      .sort((a, b) => a.baseOffset - b.baseOffset);
    for (let i = 0; i < names.length; i++) {
      const entry = names[i] as { name: string; baseOffset: number };
      if (!Number.isSafeInteger(entry.baseOffset))
        throw new LogCorruptionError(`${dir}/${entry.name}: unusable base offset`);
      const prev = log.segments[log.segments.length - 1];
      if (prev !== undefined && prev.nextOffset !== entry.baseOffset) {
        throw new LogCorruptionError(
          `${dir}: segment ${entry.name} starts at ${entry.baseOffset}, the previous one ends at ${prev.nextOffset}`,
        );
      }
      const seg: Segment = {
        baseOffset: entry.baseOffset,
        path: path.join(dir, entry.name),
        size: 0,
        nextOffset: entry.baseOffset,
        indexOffsets: [],
        indexPositions: [],
        bytesSinceIndex: 0,
        maxTimestamp: -1,
      };
      const last = i === names.length - 1;
      const fd = fs.openSync(seg.path, last ? 'r+' : 'r');
      try {
        const fileSize = fs.fstatSync(fd).size;
        const scan = scanSegment(fd, fileSize, seg, last, (h) =>
          log.producers.record(h.producerId, h.producerEpoch, h.baseSequence, h.recordCount, h.baseOffset),
        );
        if (scan.stop !== undefined) {
          if (!last) throw new LogCorruptionError(`${seg.path}: ${scan.stop}`);
          options.warn?.(
            `${seg.path}: ${scan.stop}; truncating ${fileSize - scan.validEnd} bytes (never acknowledged under fsync 'always')`,
          );
          fs.ftruncateSync(fd, scan.validEnd);
          fs.fsyncSync(fd);
        }
        seg.size = scan.validEnd;
      } finally {
        fs.closeSync(fd);
      }
      log.segments.push(seg);
    }
    if (log.segments.length === 0) log.createSegment(0);
    const active = log.active();
    log.activeFd = fs.openSync(active.path, 'r+');
    log.durableEnd = active.nextOffset;
    return log;
  }

  private active(): Segment {
    const seg = this.segments[this.segments.length - 1];
    assert(seg !== undefined, 'a log always has a segment');
    return seg;
  }

  private createSegment(baseOffset: number): Segment {
    const seg: Segment = {
      baseOffset,
      path: path.join(this.dir, segmentFileName(baseOffset)),
      size: 0,
      nextOffset: baseOffset,
      indexOffsets: [],
      indexPositions: [],
      bytesSinceIndex: 0,
      maxTimestamp: -1,
    };
    fs.closeSync(fs.openSync(seg.path, 'wx'));
    fsyncDirSync(this.dir);
    this.segments.push(seg);
    return seg;
  }

  get logStartOffset(): number {
    return (this.segments[0] as Segment).baseOffset;
  }

  /** Offset the next appended record gets. */
  get logEndOffset(): number {
    return this.active().nextOffset;
  }

  /** Readers see offsets below this: the flushed end under 'always', the log end under 'never'. */
  get highWatermark(): number {
    return this.fsyncPolicy === 'always' ? this.durableEnd : this.logEndOffset;
  }

  /** Bytes in all segments. */
  get sizeBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
    return n;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  private checkUsable(): void {
    if (this.failure !== undefined)
      throw new LogFailedError(`${this.dir}: log failed earlier: ${this.failure.message}`);
    assert(!this.closed, `${this.dir}: log is closed`);
  }

  private fail(err: unknown): LogFailedError {
    this.failure ??= err instanceof Error ? err : new Error(String(err));
    return new LogFailedError(`${this.dir}: ${this.failure.message}`);
  }

  /**
   * Appends a batch that checkProducedRecords() accepted (`records` is exactly the batch):
   * applies the idempotence rules, assigns offsets by rewriting baseOffset in place, writes.
   * Not durable until flush() resolves.
   */
  appendProduced(records: Buffer, h: BatchHeader): AppendResult {
    this.checkUsable();
    assert(
      records.byteLength === h.sizeBytes && h.sizeBytes <= KAFKA_BATCH_BYTES_MAX,
      'appendProduced: records must be exactly one checked batch',
    );
    const seq: SequenceCheck = this.producers.check(h.producerId, h.producerEpoch, h.baseSequence, h.recordCount);
    if (seq.kind === 'duplicate') return seq;
    if (seq.kind === 'error') return seq;
    let active = this.active();
    if (active.size > 0 && active.size + h.sizeBytes > this.segmentBytesMax) active = this.roll();
    const baseOffset = active.nextOffset;
    setBaseOffset(records, 0, baseOffset);
    setPartitionLeaderEpoch(records, 0, LEADER_EPOCH);
    try {
      writeAllSync(this.activeFd, records, active.size);
    } catch (err) {
      throw this.fail(err);
    }
    const stored: BatchHeader = { ...h, baseOffset };
    indexBatch(active, stored, active.size);
    active.size += h.sizeBytes;
    this.producers.record(h.producerId, h.producerEpoch, h.baseSequence, h.recordCount, baseOffset);
    if (this.fsyncPolicy === 'never') this.onAdvance?.();
    return { kind: 'appended', baseOffset };
  }

  /** Closes the active segment (fsynced) and starts a new one; then applies retention. */
  private roll(): Segment {
    const old = this.active();
    try {
      fs.fsyncSync(this.activeFd);
    } catch (err) {
      throw this.fail(err);
    }
    const oldFd = this.activeFd;
    const seg = this.createSegment(old.nextOffset);
    this.activeFd = fs.openSync(seg.path, 'r+');
    // An fdatasync may still be running on the old fd: close it only after, so its number is not reused under it.
    const inflight = this.flushing;
    if (inflight === undefined) fs.closeSync(oldFd);
    else
      void inflight.then(
        () => fs.closeSync(oldFd),
        () => fs.closeSync(oldFd),
      );
    this.enforceRetention();
    return seg;
  }

  private enforceRetention(): void {
    const { retentionBytes, retentionMs } = this.options;
    if (retentionBytes === undefined && retentionMs === undefined) return;
    const now = (this.options.nowMs ?? Date.now)();
    let total = this.sizeBytes;
    while (this.segments.length > 1) {
      const oldest = this.segments[0] as Segment;
      const bySize = retentionBytes !== undefined && total - oldest.size >= retentionBytes;
      const byTime = retentionMs !== undefined && oldest.maxTimestamp >= 0 && now - oldest.maxTimestamp > retentionMs;
      if (!bySize && !byTime) break;
      fs.unlinkSync(oldest.path);
      fsyncDirSync(this.dir);
      this.segments.shift();
      total -= oldest.size;
    }
  }

  /**
   * Makes everything appended so far durable (under 'always'; a no-op under 'never') and
   * moves the high watermark. Calls share an fdatasync in flight and ride the next one.
   */
  async flush(): Promise<void> {
    if (this.fsyncPolicy === 'never') return;
    const target = this.logEndOffset;
    while (this.durableEnd < target) {
      this.checkUsable();
      if (this.flushing === undefined) {
        const end = this.logEndOffset;
        const fd = this.activeFd;
        this.flushing = fdatasync(fd).then(
          () => {
            this.flushing = undefined;
            if (end > this.durableEnd) {
              this.durableEnd = end;
              this.onAdvance?.();
            }
          },
          (err: unknown) => {
            this.flushing = undefined;
            throw this.fail(err);
          },
        );
      }
      await this.flushing;
    }
  }

  /**
   * Whole batches from the one holding `offset` on, below the high watermark, from one
   * segment, up to `maxBytes` — but with `minOneBatch`, at least one batch, so a consumer
   * can pass a batch larger than its limit (as Kafka does since KIP-74).
   */
  read(offset: number, maxBytes: number, minOneBatch = true): ReadResult {
    this.checkUsable();
    if (offset < this.logStartOffset || offset > this.logEndOffset)
      return { error: ErrorCode.OFFSET_OUT_OF_RANGE, records: Buffer.alloc(0) };
    const hw = this.highWatermark;
    if (offset >= hw) return { error: ErrorCode.NONE, records: Buffer.alloc(0) };
    const seg = this.segmentFor(offset);
    const slot = upperBound(seg.indexOffsets, offset) - 1;
    assert(slot >= 0, `offset ${offset} below the first batch of ${seg.path}`);
    let pos = seg.indexPositions[slot] as number;
    const fd = seg === this.active() ? this.activeFd : fs.openSync(seg.path, 'r');
    try {
      let win: Buffer = Buffer.alloc(0);
      let winPos = 0;
      let start = -1;
      let end = -1;
      while (pos < seg.size) {
        if (pos < winPos || pos + BATCH_HEADER_BYTES > winPos + win.byteLength) {
          win = readAtSync(fd, Math.min(seg.size - pos, BROKER_READ_WINDOW_BYTES), pos);
          winPos = pos;
        }
        const h = readBatchHeader(win, pos - winPos);
        if (h === undefined || headerProblem(h) !== undefined)
          throw this.fail(new Error(`${seg.path}: unreadable batch at byte ${pos}`));
        if (h.baseOffset >= hw) break;
        if (start < 0) {
          if (lastOffsetOf(h) >= offset) {
            if (!minOneBatch && h.sizeBytes > maxBytes) return { error: ErrorCode.NONE, records: Buffer.alloc(0) };
            start = pos;
          }
        } else if (pos + h.sizeBytes - start > maxBytes) {
          break;
        }
        pos += h.sizeBytes;
        if (start >= 0) end = pos;
      }
      assert(
        start >= 0 && end > start,
        `${seg.path}: offset ${offset} below the high watermark ${hw} but no batch holds it`,
      );
      const records = readAtSync(fd, end - start, start);
      if (records.byteLength !== end - start) throw this.fail(new Error(`${seg.path}: short read at byte ${start}`));
      return { error: ErrorCode.NONE, records };
    } finally {
      if (fd !== this.activeFd) fs.closeSync(fd);
    }
  }

  private segmentFor(offset: number): Segment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.segments[mid] as Segment).baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo] as Segment;
  }

  /**
   * The first offset whose record timestamp is at least `timestampMs`, below the high
   * watermark (ListOffsets by time). For a compressed batch, its base offset and max
   * timestamp. Scans batch headers segment by segment: O(log size), for rare admin use.
   */
  offsetForTimestamp(timestampMs: number): { offset: number; timestampMs: number } | undefined {
    this.checkUsable();
    const hw = this.highWatermark;
    for (const seg of this.segments) {
      if (seg.maxTimestamp < timestampMs) continue;
      const fd = seg === this.active() ? this.activeFd : fs.openSync(seg.path, 'r');
      try {
        let pos = 0;
        while (pos < seg.size) {
          const head = readAtSync(fd, BATCH_HEADER_BYTES, pos);
          const h = readBatchHeader(head, 0);
          if (h === undefined) throw this.fail(new Error(`${seg.path}: unreadable batch at byte ${pos}`));
          if (h.baseOffset >= hw) return undefined;
          if (h.maxTimestamp >= timestampMs) {
            if ((h.attributes & Attributes.COMPRESSION_MASK) !== Compression.NONE)
              return { offset: h.baseOffset, timestampMs: h.maxTimestamp };
            const batch = readAtSync(fd, h.sizeBytes, pos);
            const rec = decodeRecords(batch).find((r) => r.timestampMs >= timestampMs);
            if (rec !== undefined) return { offset: rec.offset, timestampMs: rec.timestampMs };
          }
          pos += h.sizeBytes;
        }
      } finally {
        if (fd !== this.activeFd) fs.closeSync(fd);
      }
    }
    return undefined;
  }

  /** Waits for a flush in flight, fsyncs the active segment, closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushing !== undefined) await this.flushing.catch(() => undefined);
    this.closed = true;
    try {
      if (this.failure === undefined) fs.fsyncSync(this.activeFd);
    } finally {
      fs.closeSync(this.activeFd);
    }
  }
}

/** Index of the first element greater than `x` in ascending `a`. */
function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((a[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
