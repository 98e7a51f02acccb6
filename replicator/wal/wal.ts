// The durable write-ahead log of one Raft replica: log entries in CRC32C-checked segment
// files, the Raft hard state, and snapshots. The Raft core calls it through this class; see
// README.md beside this file for the formats, the durability rules and the limits.
//
// I/O model: appends are written with one blocking pwrite per batch (into the page cache,
// microseconds), sync() runs fdatasync on the libuv thread pool so the event loop keeps
// accepting work while the disk flushes (group commit: every sync() that arrives while one
// fdatasync is in flight shares the next one). Rare structural operations (segment roll,
// truncation, compaction, hard state) use blocking calls: simpler, and their ordering is then
// obvious. Snapshots are saved asynchronously because they are large.
//
// Any failed write, fsync, fdatasync, ftruncate, rename or unlink puts the WAL in a failed
// state for good: after a failed fsync the kernel may have dropped the dirty pages and a
// retry can report success without the data being on disk ("fsyncgate"). The host must exit
// and the replica be repaired from its peers.

import fs from 'node:fs';
import path from 'node:path';
import { HARD_STATE_FILE, decodeHardState, encodeHardState, validateHardState, type HardState } from './hard-state.js';
import { TMP_SUFFIX, atomicWriteFileSync, fsyncDir, nodeIo, writeAll, type WalIo } from './io.js';
import { ENTRY_DATA_BYTES_MAX, RECORD_BYTES_MAX, RecordType, encodeEntryRecord, entryRecordBytes, type LogEntry } from './record.js';
import {
  OFFSET_INDEX_STRIDE,
  listSegments,
  offsetOfEntry,
  readSegmentEntries,
  scanSegment,
  segmentFileName,
  type Segment,
} from './segment.js';
import { SNAPSHOTS_KEPT, SNAPSHOT_BYTES_MAX, SNAPSHOT_HEADER_BYTES, decodeSnapshot, listSnapshots, snapshotFileName, writeSnapshotFile, type Snapshot } from './snapshot-file.js';

export type { HardState } from './hard-state.js';
export type { WalIo } from './io.js';
export type { LogEntry } from './record.js';
export type { Snapshot } from './snapshot-file.js';
export { HARD_STATE_BYTES } from './hard-state.js';
export { ENTRY_DATA_BYTES_MAX, RECORD_BYTES_MAX, RECORD_HEADER_BYTES } from './record.js';
export { OFFSET_INDEX_STRIDE, READ_CHUNK_BYTES } from './segment.js';
export { SNAPSHOTS_KEPT, SNAPSHOT_BYTES_MAX } from './snapshot-file.js';

/** Default segment size (64 MiB): a new segment is started before a record would pass it. */
export const SEGMENT_BYTES_MAX = 64 * 1024 * 1024;
/** Largest configurable segment size (1 GiB): recovery reads a whole segment into memory. */
export const SEGMENT_BYTES_LIMIT = 1024 * 1024 * 1024;
/** Largest batch one append() accepts (64 MiB, records included): it is encoded in one buffer. */
export const APPEND_BYTES_MAX = 64 * 1024 * 1024;
/** Default memory for the tail cache of recently appended entries (32 MiB). */
export const TAIL_CACHE_BYTES_MAX = 32 * 1024 * 1024;
/** Memory charged per cached entry on top of its data: object, array slot, view. */
export const CACHE_ENTRY_OVERHEAD_BYTES = 96;

export interface WalOptions {
  /** Default SEGMENT_BYTES_MAX; 1..SEGMENT_BYTES_LIMIT. Tests use tiny values. */
  segmentBytesMax?: number;
  /** Default TAIL_CACHE_BYTES_MAX; 0 disables the cache. */
  tailCacheBytesMax?: number;
  /** Default SNAPSHOTS_KEPT; at least 1. */
  snapshotsKept?: number;
  /** Replaces the fallible file-system calls, for tests (inject EIO). */
  io?: Partial<WalIo>;
  /** Where repairs and skipped snapshots are reported. Default console.warn. */
  warn?: (message: string) => void;
}

export interface TailRepair {
  segment: string;
  /** Byte offset the segment was truncated at: the end of its last good record. */
  offset: number;
  removedBytes: number;
  /** File name (in the WAL directory) holding a copy of the removed bytes. */
  corruptCopy: string;
  reason: string;
}

export interface WalRecovery {
  firstIndex: number;
  lastIndex: number;
  segments: number;
  repairedTail: TailRepair | undefined;
  /**
   * A damaged tail was cut off, at this open or at an earlier one whose node has not caught up
   * since (the TAIL_LOST_FILE marker is present): the log may lack entries this replica
   * acknowledged. The host starts its Raft core with RecoveredState.logTailLost.
   */
  tailLost: boolean;
  /** Stale temp files of interrupted hard-state or snapshot saves, deleted. */
  removedTempFiles: string[];
}

/**
 * Marker file: this log lost a damaged tail at recovery and the node has not caught up with a
 * leader since. Written (durably) before the tail is cut, removed by clearTailLost(). An
 * operator may delete it by hand only when most replicas lost their tails together (see
 * replicator/README.md): that accepts the loss of whatever they had acknowledged.
 */
export const TAIL_LOST_FILE = 'tail-lost';

/** The WAL hit an I/O error and refuses every further call; the host must exit. */
export class WalFailedError extends Error {
  override name = 'WalFailedError';
  constructor(readonly operation: string, cause: unknown) {
    super(
      `WAL failed in ${operation}: ${cause instanceof Error ? cause.message : String(cause)}; ` +
        'the process must exit and this replica be repaired from its peers (do not retry)',
      { cause },
    );
  }
}

/** Found at open (or when loading the snapshot): damage that cannot be repaired locally. */
export class WalCorruptionError extends Error {
  override name = 'WalCorruptionError';
  constructor(readonly file: string, readonly offset: number, reason: string) {
    super(`WAL corrupt: ${file} at byte offset ${offset}: ${reason}; repair this replica from its peers`);
  }
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

function assert(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(`WAL invariant broken: ${message}`);
}

export class Wal {
  readonly dir: string;
  readonly recovery: WalRecovery;
  private readonly io: WalIo;
  private readonly warn: (message: string) => void;
  private readonly segmentBytesMax: number;
  private readonly tailCacheBytesMax: number;
  private readonly snapshotsKept: number;

  private first: number;
  private last: number;
  private segments: Segment[];
  /** The fd of the last segment, open for writing; undefined only while there is no segment. */
  private fd: number | undefined;
  /** fds of segments no longer current, closed once no fdatasync may still be using them. */
  private retired: number[] = [];

  /** Term runs over [first, last]: entries from runFirst[i] on have term runTerm[i]. */
  private runFirst: number[] = [];
  private runTerm: number[] = [];

  /** Recently appended entries, a contiguous range ending at `last`; cache[cacheHead] is the oldest. */
  private cache: (LogEntry | undefined)[] = [];
  private cacheHead = 0;
  private cacheBytes = 0;

  /** Bumped by every append and truncation; durableSeq is the highest one known durable. */
  private appendSeq = 0;
  private durableSeq = 0;
  private waiters: Waiter[] = [];
  private roundInFlight: Promise<void> | undefined;

  private hardState: HardState | undefined;
  /** Index of the newest snapshot saved or loaded by this process; compaction may not pass it. */
  private snapshotIndex: number | undefined;
  private snapshotChain: Promise<void> = Promise.resolve();

  private failure: WalFailedError | undefined;
  private closed = false;

  /**
   * Opens (creating if needed) the WAL in `dir` and recovers it: verifies every record,
   * repairs a torn or corrupt tail of the last segment, and throws WalCorruptionError for
   * anything else that is damaged.
   */
  static open(dir: string, options: WalOptions = {}): Wal {
    return new Wal(dir, options);
  }

  private constructor(dir: string, options: WalOptions) {
    this.dir = dir;
    this.io = { ...nodeIo, ...options.io };
    this.warn = options.warn ?? ((m) => console.warn(m));
    this.segmentBytesMax = options.segmentBytesMax ?? SEGMENT_BYTES_MAX;
    this.tailCacheBytesMax = options.tailCacheBytesMax ?? TAIL_CACHE_BYTES_MAX;
    this.snapshotsKept = options.snapshotsKept ?? SNAPSHOTS_KEPT;
    if (!Number.isSafeInteger(this.segmentBytesMax) || this.segmentBytesMax < 1 || this.segmentBytesMax > SEGMENT_BYTES_LIMIT) {
      throw new RangeError(`WAL: segmentBytesMax ${this.segmentBytesMax} outside 1..${SEGMENT_BYTES_LIMIT}`);
    }
    if (!Number.isSafeInteger(this.tailCacheBytesMax) || this.tailCacheBytesMax < 0) {
      throw new RangeError(`WAL: bad tailCacheBytesMax ${this.tailCacheBytesMax}`);
    }
    if (!Number.isSafeInteger(this.snapshotsKept) || this.snapshotsKept < 1) throw new RangeError(`WAL: bad snapshotsKept ${this.snapshotsKept}`);

    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      fsyncDir(this.io, path.dirname(path.resolve(dir)));
    }

    const removedTempFiles = fs.readdirSync(dir).filter((n) => n.endsWith(TMP_SUFFIX));
    for (const name of removedTempFiles) fs.unlinkSync(path.join(dir, name));
    if (removedTempFiles.length > 0) fsyncDir(this.io, dir);

    const hardStatePath = path.join(dir, HARD_STATE_FILE);
    if (fs.existsSync(hardStatePath)) {
      const hs = decodeHardState(fs.readFileSync(hardStatePath));
      // Never guessed: a lost vote or term could let this replica vote twice in a term.
      if (typeof hs === 'string') throw new WalCorruptionError(HARD_STATE_FILE, 0, hs);
      this.hardState = hs;
    }

    const listed = listSegments(dir);
    this.segments = [];
    let repairedTail: TailRepair | undefined;
    if (listed.length === 0) {
      // No segment file: a new log, or a crash between deleting the old segments and
      // creating the new one in compactThrough's reset. Either way the log is empty and
      // starts after the snapshot, whose index loadLatestSnapshot() sets.
      this.first = 1;
      this.last = 0;
    } else {
      this.first = listed[0]!.firstIndex;
      this.last = this.first - 1;
      for (let i = 0; i < listed.length; i++) {
        const { name, firstIndex } = listed[i]!;
        const isLast = i === listed.length - 1;
        if (firstIndex !== this.last + 1) {
          throw new WalCorruptionError(name, 0, `index gap: the previous segment ends at entry ${this.last}, this one starts at ${firstIndex}`);
        }
        const file = path.join(dir, name);
        const buf = fs.readFileSync(file);
        const scan = scanSegment(buf, firstIndex, this.lastTerm(), (index, term) => this.noteTerm(index, term));
        if (scan.stop.kind === 'invalid' || (scan.stop.kind === 'bad' && !isLast)) {
          throw new WalCorruptionError(name, scan.stop.offset, scan.stop.reason);
        }
        if (scan.stop.kind === 'bad') repairedTail = this.repairTail(name, buf, scan.validEnd, scan.stop.reason);
        this.segments.push({ name, path: file, firstIndex, lastIndex: scan.lastIndex, size: scan.validEnd, offsets: scan.offsets });
        this.last = scan.lastIndex;
      }
      this.fd = fs.openSync(this.segments[this.segments.length - 1]!.path, 'r+');
    }
    const tailLost = fs.existsSync(path.join(dir, TAIL_LOST_FILE));
    this.recovery = { firstIndex: this.first, lastIndex: this.last, segments: this.segments.length, repairedTail, tailLost, removedTempFiles };
  }

  /** Truncates the last segment at `validEnd`, after saving the removed bytes for inspection. */
  private repairTail(name: string, buf: Uint8Array, validEnd: number, reason: string): TailRepair {
    let n = 1;
    while (fs.existsSync(path.join(this.dir, `${name}.corrupt-${n}`))) n++;
    const corruptCopy = `${name}.corrupt-${n}`;
    const removed = buf.subarray(validEnd);
    // First the marker: once the tail is cut nothing else shows that entries may be missing,
    // and a crash before the node has caught up must not let it forget.
    const marker = new TextEncoder().encode(`${JSON.stringify({ segment: name, offset: validEnd, removedBytes: removed.byteLength, reason })}\n`);
    atomicWriteFileSync(this.io, this.dir, TAIL_LOST_FILE, [marker]);
    // The copy is durable before the segment shrinks: a crash in between repeats the repair.
    const copyFd = fs.openSync(path.join(this.dir, corruptCopy), 'wx');
    try {
      writeAll(this.io, copyFd, removed, 0, removed.byteLength, 0);
      this.io.fsyncSync(copyFd);
    } finally {
      fs.closeSync(copyFd);
    }
    fsyncDir(this.io, this.dir);
    const fd = fs.openSync(path.join(this.dir, name), 'r+');
    try {
      this.io.ftruncateSync(fd, validEnd);
      this.io.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.warn(`WAL: ${name}: ${reason} at byte offset ${validEnd}; truncated there, ${removed.byteLength} bytes kept in ${corruptCopy}`);
    return { segment: name, offset: validEnd, removedBytes: removed.byteLength, corruptCopy, reason };
  }

  // ---------------------------------------------------------------------------------------
  // reading
  // ---------------------------------------------------------------------------------------

  /** Index of the first entry held (lastIndex() + 1 when the log is empty). */
  firstIndex(): number {
    this.check();
    return this.first;
  }

  /** Index of the last entry held (firstIndex() - 1 when the log is empty). */
  lastIndex(): number {
    this.check();
    return this.last;
  }

  /** Term of entry `index`, or undefined outside [firstIndex(), lastIndex()]. */
  term(index: number): number | undefined {
    this.check();
    if (!(index >= this.first && index <= this.last)) return undefined;
    let lo = 0;
    let hi = this.runFirst.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runFirst[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    const term = this.runTerm[lo];
    assert(term !== undefined && this.runFirst[lo]! <= index, `no term run covers entry ${index}`);
    return term;
  }

  /**
   * Entries [lo, hi), stopping before the total data bytes would pass `maxBytes` (at least
   * one entry is returned when lo < hi). Served from the tail cache or read from disk.
   * The returned data must be treated as read-only: cached entries share memory with the WAL.
   */
  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): LogEntry[] {
    this.check();
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < this.first || hi > this.last + 1 || lo > hi) {
      throw new RangeError(`WAL: entries [${lo}, ${hi}) outside the log [${this.first}, ${this.last + 1})`);
    }
    const out: LogEntry[] = [];
    let bytes = 0;
    let full = false;
    const take = (entry: LogEntry): boolean => {
      if (out.length > 0 && bytes + entry.data.byteLength > maxBytes) {
        full = true;
        return false;
      }
      out.push(entry);
      bytes += entry.data.byteLength;
      return true;
    };
    const cacheFirst = this.cacheFirstIndex();
    let index = lo;
    const diskHi = Math.min(hi, cacheFirst);
    try {
      while (index < diskHi && !full) {
        const segment = this.segmentOf(index);
        const segmentHi = Math.min(diskHi, segment.lastIndex + 1);
        readSegmentEntries(segment, index, segmentHi, take);
        index = segmentHi;
      }
    } catch (err) {
      // The bytes were verified at open or written by this process: this is damage after the
      // fact (or a failing disk), and an acknowledged entry may be gone.
      throw this.fail(err, 'entries');
    }
    for (; index < hi && !full; index++) {
      const entry = this.cache[this.cacheHead + index - cacheFirst];
      assert(entry !== undefined && entry.index === index, `tail cache has no entry ${index}`);
      take({ index: entry.index, term: entry.term, type: entry.type ?? RecordType.entry, data: entry.data });
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // appending and syncing
  // ---------------------------------------------------------------------------------------

  /**
   * Writes entries (the first must be lastIndex() + 1, then consecutive, terms never
   * decreasing) with one write per segment touched. Not durable until sync() resolves.
   * A bad batch is refused whole, before anything is written. The WAL keeps references to
   * nothing the caller passed.
   */
  append(entries: readonly LogEntry[]): void {
    this.check();
    if (entries.length === 0) return;
    let expected = this.last + 1;
    let previousTerm = this.lastTerm();
    let total = 0;
    for (const e of entries) {
      if (e.index !== expected) throw new RangeError(`WAL: append of entry ${e.index}, expected ${expected}`);
      if (!Number.isSafeInteger(e.term) || e.term < previousTerm) {
        throw new RangeError(`WAL: entry ${e.index} has term ${e.term}, below the previous entry's ${previousTerm} or not an integer`);
      }
      if (!(e.data instanceof Uint8Array)) throw new TypeError(`WAL: entry ${e.index} data is not a Uint8Array`);
      if (e.type !== undefined && (e.type < RecordType.entry || e.type > RecordType.entryLast || !Number.isInteger(e.type))) {
        throw new RangeError(`WAL: entry ${e.index} has type ${e.type}, expected 1..${RecordType.entryLast}`);
      }
      if (e.data.byteLength > ENTRY_DATA_BYTES_MAX) {
        throw new RangeError(`WAL: entry ${e.index} record of ${entryRecordBytes(e.data.byteLength)} bytes is over RECORD_BYTES_MAX (${RECORD_BYTES_MAX})`);
      }
      total += entryRecordBytes(e.data.byteLength);
      previousTerm = e.term;
      expected++;
    }
    if (!Number.isSafeInteger(expected - 1)) throw new RangeError('WAL: index past the safe-integer range');
    if (total > APPEND_BYTES_MAX) throw new RangeError(`WAL: batch of ${total} bytes is over APPEND_BYTES_MAX (${APPEND_BYTES_MAX})`);

    // Encode the whole batch into one fresh buffer; cached entries keep views into it, so
    // it is never reused.
    const buf = new Uint8Array(total);
    const view = new DataView(buf.buffer);
    const starts = new Array<number>(entries.length + 1);
    let at = 0;
    for (let i = 0; i < entries.length; i++) {
      starts[i] = at;
      at = encodeEntryRecord(buf, view, at, entries[i]!);
    }
    starts[entries.length] = at;

    try {
      if (this.fd === undefined) this.createSegment(entries[0]!.index);
      let chunkFrom = 0; // first entry of the chunk not yet written
      for (let i = 0; i < entries.length; i++) {
        const segment = this.current();
        const pending = starts[i]! - starts[chunkFrom]!;
        const recordBytes = starts[i + 1]! - starts[i]!;
        if (segment.size + pending > 0 && segment.size + pending + recordBytes > this.segmentBytesMax) {
          this.writeChunk(buf, entries, starts, chunkFrom, i);
          this.roll(entries[i]!.index);
          chunkFrom = i;
        }
      }
      this.writeChunk(buf, entries, starts, chunkFrom, entries.length);
    } catch (err) {
      throw this.fail(err, 'append');
    }
    this.appendSeq++;
  }

  /** Writes entries [from, to) of the encoded batch to the current segment and records them. */
  private writeChunk(buf: Uint8Array, entries: readonly LogEntry[], starts: number[], from: number, to: number): void {
    if (from === to) return;
    const segment = this.current();
    const fd = this.fd;
    assert(fd !== undefined, 'no open segment');
    const base = starts[from]!;
    writeAll(this.io, fd, buf, base, starts[to]! - base, segment.size);
    for (let i = from; i < to; i++) {
      const e = entries[i]!;
      const start = starts[i]!;
      const end = starts[i + 1]!;
      if ((e.index - segment.firstIndex) % OFFSET_INDEX_STRIDE === 0) segment.offsets.push(segment.size + start - base);
      this.noteTerm(e.index, e.term);
      this.cachePush({ index: e.index, term: e.term, type: e.type ?? RecordType.entry, data: buf.subarray(end - e.data.byteLength, end) });
    }
    segment.size += starts[to]! - base;
    segment.lastIndex = entries[to - 1]!.index;
    this.last = segment.lastIndex;
  }

  /**
   * Starts a new segment at `firstIndex`. The old one is fsynced first: were the new file to
   * exist while the old one's tail was not durable, a crash could leave a torn record in a
   * segment that is no longer the last, which recovery must refuse to repair.
   */
  private roll(firstIndex: number): void {
    const fd = this.fd;
    assert(fd !== undefined, 'roll without a segment');
    this.io.fsyncSync(fd);
    this.retire(fd);
    this.fd = undefined;
    this.createSegment(firstIndex);
  }

  private createSegment(firstIndex: number): void {
    assert(this.fd === undefined, 'a segment is already open');
    assert(firstIndex === this.last + 1, `new segment at ${firstIndex}, log ends at ${this.last}`);
    const name = segmentFileName(firstIndex);
    const file = path.join(this.dir, name);
    // 'wx': a segment file is never overwritten; an existing one here is a bug.
    this.fd = fs.openSync(file, 'wx');
    fsyncDir(this.io, this.dir);
    this.segments.push({ name, path: file, firstIndex, lastIndex: firstIndex - 1, size: 0, offsets: [] });
  }

  /**
   * Resolves once everything appended before the call is durable (fdatasync). Calls made
   * while an fdatasync is in flight share the next one. Rejects with WalFailedError if the
   * WAL has failed or fails now.
   */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('WAL: closed'));
    if (this.durableSeq >= this.appendSeq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ seq: this.appendSeq, resolve, reject });
      if (this.roundInFlight === undefined) this.startRound();
    });
  }

  /** append(entries) then sync(). */
  appendAndSync(entries: readonly LogEntry[]): Promise<void> {
    try {
      this.append(entries);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.sync();
  }

  private startRound(): void {
    const fd = this.fd;
    // Every append leaves a segment open; truncation and compaction, which may close it,
    // make everything durable themselves.
    assert(fd !== undefined, 'sync round without an open segment');
    const target = this.appendSeq;
    this.roundInFlight = this.io.fdatasync(fd).then(
      () => {
        this.roundInFlight = undefined;
        this.closeRetired();
        if (this.failure) return;
        this.durableSeq = Math.max(this.durableSeq, target);
        this.settleWaiters();
        if (this.waiters.length > 0) this.startRound();
      },
      (err: unknown) => {
        this.roundInFlight = undefined;
        this.closeRetired();
        this.fail(err, 'fdatasync');
      },
    );
  }

  private settleWaiters(): void {
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq <= this.durableSeq) n++;
    if (n === 0) return;
    const done = this.waiters.splice(0, n);
    for (const w of done) w.resolve();
  }

  // ---------------------------------------------------------------------------------------
  // truncation and compaction
  // ---------------------------------------------------------------------------------------

  /**
   * Removes every entry with index > `index` (a conflicting suffix), durably: later segments
   * are deleted newest first (directory fsync after each, so a crash leaves a prefix), then
   * the segment holding `index` is truncated and fsynced. Refuses to remove an entry at or
   * below the commit index of the saved hard state.
   */
  truncateAfter(index: number): void {
    this.check();
    if (!Number.isSafeInteger(index) || index < this.first - 1 || index > this.last) {
      throw new RangeError(`WAL: truncateAfter(${index}) outside [${this.first - 1}, ${this.last}]`);
    }
    const commit = this.hardState?.commit ?? 0;
    if (index < commit) throw new RangeError(`WAL: truncateAfter(${index}) would remove committed entries (commit ${commit})`);
    if (index === this.last) return;
    try {
      // The keeper is the segment holding `index`, or the first segment when everything goes
      // (it stays, emptied, so the directory still says where the log starts).
      let k = this.segments.length - 1;
      while (k > 0 && this.segments[k]!.firstIndex > index) k--;
      const keeper = this.segments[k]!;
      const cut = offsetOfEntry(keeper, index + 1);
      for (let i = this.segments.length - 1; i > k; i--) {
        fs.unlinkSync(this.segments[i]!.path);
        fsyncDir(this.io, this.dir);
      }
      if (k < this.segments.length - 1) {
        this.retire(this.fd!);
        this.fd = fs.openSync(keeper.path, 'r+');
        this.segments.length = k + 1;
      }
      this.io.ftruncateSync(this.fd!, cut);
      this.io.fsyncSync(this.fd!);
      keeper.size = cut;
      keeper.lastIndex = index;
      keeper.offsets.length = Math.ceil((index - keeper.firstIndex + 1) / OFFSET_INDEX_STRIDE);
    } catch (err) {
      throw this.fail(err, 'truncateAfter');
    }
    this.last = index;
    while (this.runFirst.length > 0 && this.runFirst[this.runFirst.length - 1]! > index) {
      this.runFirst.pop();
      this.runTerm.pop();
    }
    while (this.cache.length > this.cacheHead && this.cache[this.cache.length - 1]!.index > index) {
      this.cacheBytes -= this.cache.pop()!.data.byteLength + CACHE_ENTRY_OVERHEAD_BYTES;
    }
    // Earlier segments were fsynced when they rolled, the keeper just now: all is durable.
    this.appendSeq++;
    this.durableSeq = this.appendSeq;
    this.settleWaiters();
  }

  /**
   * Deletes whole segments whose entries are all <= `index` (oldest first, directory fsync
   * after each, so a crash leaves a contiguous suffix). `index` may not pass the newest
   * snapshot saved or loaded by this process. When every entry goes (index >= lastIndex(),
   * e.g. after installing a snapshot), the log restarts empty at index + 1 in a new segment.
   */
  compactThrough(index: number): void {
    this.check();
    if (!Number.isSafeInteger(index)) throw new RangeError(`WAL: compactThrough(${index})`);
    if (this.snapshotIndex === undefined || index > this.snapshotIndex) {
      throw new RangeError(`WAL: compactThrough(${index}) passes the newest snapshot (${this.snapshotIndex ?? 'none'})`);
    }
    if (index < this.first) return;
    try {
      if (index >= this.last) {
        for (const segment of this.segments) {
          fs.unlinkSync(segment.path);
          fsyncDir(this.io, this.dir);
        }
        if (this.fd !== undefined) this.retire(this.fd);
        this.fd = undefined;
        this.segments = [];
        this.last = index;
        this.createSegment(index + 1);
        this.first = index + 1;
        this.runFirst = [];
        this.runTerm = [];
        this.cache = [];
        this.cacheHead = 0;
        this.cacheBytes = 0;
        this.appendSeq++;
        this.durableSeq = this.appendSeq;
        this.settleWaiters();
        return;
      }
      let n = 0;
      while (n < this.segments.length - 1 && this.segments[n]!.lastIndex <= index) {
        fs.unlinkSync(this.segments[n]!.path);
        fsyncDir(this.io, this.dir);
        n++;
      }
      if (n === 0) return;
      this.segments.splice(0, n);
      this.first = this.segments[0]!.firstIndex;
    } catch (err) {
      throw this.fail(err, 'compactThrough');
    }
    let drop = 0;
    while (drop + 1 < this.runFirst.length && this.runFirst[drop + 1]! <= this.first) drop++;
    this.runFirst.splice(0, drop);
    this.runTerm.splice(0, drop);
    if (this.runFirst.length > 0) this.runFirst[0] = Math.max(this.runFirst[0]!, this.first);
    while (this.cacheHead < this.cache.length && this.cache[this.cacheHead]!.index < this.first) this.cacheEvictOldest();
  }

  // ---------------------------------------------------------------------------------------
  // hard state and snapshots
  // ---------------------------------------------------------------------------------------

  /** The hard state last saved (read at open), or undefined if none was ever saved. */
  loadHardState(): HardState | undefined {
    this.check();
    return this.hardState === undefined ? undefined : { ...this.hardState };
  }

  /**
   * Saves the hard state atomically and durably (blocking: temp file, fsync, rename,
   * directory fsync). Refuses a lower term, a different vote in the same term, or a lower
   * commit: each would be a Raft safety bug in the caller.
   */
  saveHardState(hs: HardState): void {
    this.check();
    validateHardState(hs);
    const prev = this.hardState;
    if (prev) {
      if (hs.term < prev.term) throw new RangeError(`WAL: hard state term ${hs.term} below the saved ${prev.term}`);
      if (hs.term === prev.term && prev.vote !== 0 && hs.vote !== prev.vote) {
        throw new RangeError(`WAL: vote in term ${hs.term} changed from ${prev.vote} to ${hs.vote}`);
      }
      if (hs.commit < prev.commit) throw new RangeError(`WAL: commit ${hs.commit} below the saved ${prev.commit}`);
    }
    const bytes = encodeHardState(hs);
    try {
      atomicWriteFileSync(this.io, this.dir, HARD_STATE_FILE, [bytes]);
    } catch (err) {
      throw this.fail(err, 'saveHardState');
    }
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /** The node caught up after a lost tail (Ready.logTailRecovered): removes TAIL_LOST_FILE, durably. */
  clearTailLost(): void {
    this.check();
    try {
      fs.rmSync(path.join(this.dir, TAIL_LOST_FILE), { force: true });
      fsyncDir(this.io, this.dir);
    } catch (err) {
      throw this.fail(err, 'clearTailLost');
    }
  }

  /**
   * Saves a snapshot atomically and durably, asynchronously, then keeps only the newest
   * `snapshotsKept` snapshot files. Saves run one at a time in call order. `bytes` must not
   * change until the promise settles.
   */
  saveSnapshot(index: number, term: number, bytes: Uint8Array): Promise<void> {
    try {
      this.check();
      if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) {
        throw new RangeError(`WAL: snapshot index ${index} / term ${term}`);
      }
      if (!(bytes instanceof Uint8Array)) throw new TypeError('WAL: snapshot bytes are not a Uint8Array');
      if (bytes.byteLength > SNAPSHOT_BYTES_MAX) throw new RangeError(`WAL: snapshot of ${bytes.byteLength} bytes is over SNAPSHOT_BYTES_MAX`);
      if (this.snapshotIndex !== undefined && index < this.snapshotIndex) {
        throw new RangeError(`WAL: snapshot at ${index} is older than the saved one at ${this.snapshotIndex}`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const save = this.snapshotChain.then(async () => {
      this.check();
      try {
        await writeSnapshotFile(this.io, this.dir, index, term, bytes, this.snapshotsKept);
      } catch (err) {
        throw this.fail(err, 'saveSnapshot');
      }
      this.snapshotIndex = Math.max(this.snapshotIndex ?? index, index);
    });
    this.snapshotChain = save.catch(() => undefined);
    return save;
  }

  /**
   * The newest snapshot whose file verifies, or undefined if there is none. A bad file is
   * skipped with a warning (and kept for inspection). Throws WalCorruptionError if the log
   * does not continue where the snapshot ends (the entries in between are lost).
   */
  loadLatestSnapshot(): Snapshot | undefined {
    this.check();
    let found: Snapshot | undefined;
    for (const { name, index } of listSnapshots(this.dir)) {
      const file = path.join(this.dir, name);
      const size = fs.statSync(file).size;
      if (size > SNAPSHOT_HEADER_BYTES + SNAPSHOT_BYTES_MAX + 4) {
        this.warn(`WAL: snapshot ${name}: ${size} bytes, over SNAPSHOT_BYTES_MAX; skipped`);
        continue;
      }
      const snapshot = decodeSnapshot(fs.readFileSync(file));
      if (typeof snapshot === 'string' || snapshot.index !== index) {
        const why = typeof snapshot === 'string' ? snapshot : `holds index ${snapshot.index}`;
        this.warn(`WAL: snapshot ${name}: ${why}; skipped, trying an older one`);
        continue;
      }
      found = snapshot;
      break;
    }
    const covered = found?.index ?? 0;
    if (this.segments.length === 0) {
      // An empty log with no segment file yet starts right after the snapshot.
      this.first = covered + 1;
      this.last = covered;
    } else if (this.first > covered + 1) {
      throw new WalCorruptionError(found ? snapshotFileName(found.index) : segmentFileName(this.first), 0,
        `the log starts at entry ${this.first} but the newest valid snapshot ends at ${covered}`);
    }
    if (found) this.snapshotIndex = Math.max(this.snapshotIndex ?? found.index, found.index);
    return found;
  }

  // ---------------------------------------------------------------------------------------
  // state and shutdown
  // ---------------------------------------------------------------------------------------

  /** The error that failed the WAL, or undefined while it is healthy. */
  get failedWith(): WalFailedError | undefined {
    return this.failure;
  }

  /**
   * Waits for in-flight syncs and snapshot saves, then closes the files. Does not sync
   * anything by itself. Never throws, even when the WAL has failed, so a host can release
   * the files on its way out; every other call throws afterwards.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.roundInFlight !== undefined) await this.roundInFlight;
    await this.snapshotChain;
    for (const w of this.waiters.splice(0)) w.reject(this.failure ?? new Error('WAL: closed'));
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    this.closeRetired();
  }

  // ---------------------------------------------------------------------------------------
  // internals
  // ---------------------------------------------------------------------------------------

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('WAL: closed');
  }

  /** Enters the failed state (once) and rejects every pending sync. Returns the error to throw. */
  private fail(cause: unknown, operation: string): WalFailedError {
    if (!this.failure) this.failure = new WalFailedError(operation, cause);
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
    return this.failure;
  }

  private current(): Segment {
    const segment = this.segments[this.segments.length - 1];
    assert(segment !== undefined, 'no current segment');
    return segment;
  }

  private segmentOf(index: number): Segment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segments[mid]!.firstIndex <= index) lo = mid;
      else hi = mid - 1;
    }
    const segment = this.segments[lo];
    assert(segment !== undefined && segment.firstIndex <= index && index <= segment.lastIndex, `no segment holds entry ${index}`);
    return segment;
  }

  private lastTerm(): number {
    return this.runTerm[this.runTerm.length - 1] ?? 0;
  }

  private noteTerm(index: number, term: number): void {
    if (this.runTerm.length === 0 || this.runTerm[this.runTerm.length - 1] !== term) {
      this.runFirst.push(index);
      this.runTerm.push(term);
    }
  }

  private retire(fd: number): void {
    // An fdatasync on the thread pool may still hold this fd; closing it now could let the
    // number be reused and the fdatasync land on another file.
    this.retired.push(fd);
    if (this.roundInFlight === undefined) this.closeRetired();
  }

  private closeRetired(): void {
    for (const fd of this.retired.splice(0)) fs.closeSync(fd);
  }

  private cacheFirstIndex(): number {
    return this.cache[this.cacheHead]?.index ?? this.last + 1;
  }

  private cachePush(entry: LogEntry): void {
    if (this.tailCacheBytesMax === 0) return;
    this.cache.push(entry);
    this.cacheBytes += entry.data.byteLength + CACHE_ENTRY_OVERHEAD_BYTES;
    while (this.cacheBytes > this.tailCacheBytesMax && this.cacheHead < this.cache.length) this.cacheEvictOldest();
  }

  private cacheEvictOldest(): void {
    const entry = this.cache[this.cacheHead];
    assert(entry !== undefined, 'evicting from an empty cache');
    this.cache[this.cacheHead] = undefined; // let the data go now
    this.cacheHead++;
    this.cacheBytes -= entry.data.byteLength + CACHE_ENTRY_OVERHEAD_BYTES;
    // Compact the array once the dead prefix dominates, so eviction stays O(1) amortised.
    if (this.cacheHead > 1024 && this.cacheHead * 2 > this.cache.length) {
      this.cache = this.cache.slice(this.cacheHead);
      this.cacheHead = 0;
    }
  }
}
