// The durable write-ahead log of one Raft replica: log entries in CRC32C-checked segment
// files, the Raft hard state, snapshots, and the sync mark. The Raft core calls it through
// this class; see README.md beside this file for the formats, the durability rules and the
// limits.
//
// I/O model: every file-system call goes through the injected WalFs (fs.ts: node:fs in
// production, SimFs in the simulator). Appends are written with one blocking pwrite per batch
// (into the page cache, microseconds); syncThen() runs fdatasync asynchronously (the libuv
// thread pool) so the event loop keeps accepting work while the disk flushes (group commit:
// every sync that arrives while one fdatasync is in flight shares the next one). Rare
// structural operations (segment roll, truncation, compaction, hard state) use blocking calls:
// simpler, and their ordering is then obvious. Snapshots are saved in small deferred steps
// because they are large. Completion is reported through callbacks that are never called
// synchronously (fs.defer when there is nothing to wait for); sync() and saveSnapshot() are
// promise wrappers for hosts that want them. Nothing but close() uses promises, so the
// simulator runs the Wal on its own deterministic schedule, without the microtask queue.
//
// Sync mark: after each fdatasync round completes, before its waiters hear of it, the last
// index the round covered is written to the `synced` file (sync-mark.ts). Recovery compares it
// with the log's end: a cut tail at or above the mark was never acknowledged (a torn write);
// below it, acknowledged entries are gone and the `tail-lost` marker is written.
//
// Any failed write, fsync, fdatasync, ftruncate, rename or unlink puts the WAL in a failed
// state for good: after a failed fsync the kernel may have dropped the dirty pages and a
// retry can report success without the data being on disk ("fsyncgate"). The host must exit
// and the replica be repaired from its peers.

import { WAL_APPEND_BYTES_MAX } from '../limits.js';
import { WalCorruptionError } from './errors.js';

export { WalCorruptionError };
import path from 'node:path';
import { nodeFs, type Fd, type WalFs } from './fs.js';
import { HARD_STATE_FILE, decodeHardState, encodeHardState, validateHardState, type HardState } from './hard-state.js';
import { TMP_SUFFIX, atomicWriteFileSync, fsyncDir, writeAll } from './io.js';
import {
  ENTRY_DATA_BYTES_MAX,
  RECORD_BYTES_MAX,
  RecordType,
  encodeEntryRecord,
  entryRecordBytes,
  type LogEntry,
} from './record.js';
import {
  OFFSET_INDEX_STRIDE,
  listSegments,
  offsetOfEntry,
  readSegmentEntries,
  scanSegment,
  segmentFileName,
  type Segment,
} from './segment.js';
import {
  SNAPSHOTS_KEPT,
  SNAPSHOT_BYTES_MAX,
  SNAPSHOT_HEADER_BYTES,
  decodeSnapshot,
  listSnapshots,
  snapshotFileName,
  writeSnapshotFile,
  type Snapshot,
} from './snapshot-file.js';
import { SYNCED_FILE, SyncMark, readSyncMark } from './sync-mark.js';
import {
  TAIL_LOST_FILE,
  decodeTailLost,
  encodeTailLost,
  mergeTailLoss,
  type TailLoss,
  type TailLostRecord,
} from './tail-loss.js';
import { assertFor, type Assert } from '../../ops/assert.js';

export type { Fd, WalFs } from './fs.js';
export type { HardState } from './hard-state.js';
export type { LogEntry } from './record.js';
export type { Snapshot } from './snapshot-file.js';
export type { TailLoss } from './tail-loss.js';
export { nodeFs } from './fs.js';
export { HARD_STATE_BYTES } from './hard-state.js';
export { ENTRY_DATA_BYTES_MAX, RECORD_BYTES_MAX, RECORD_HEADER_BYTES } from './record.js';
export { OFFSET_INDEX_STRIDE, READ_CHUNK_BYTES } from './segment.js';
export {
  SNAPSHOTS_KEPT,
  SNAPSHOT_BYTES_MAX,
  SNAPSHOT_CRC_CHUNK_BYTES,
  SNAPSHOT_WRITE_CHUNK_BYTES,
} from './snapshot-file.js';
export { SYNCED_FILE } from './sync-mark.js';
export { TAIL_LOST_FILE } from './tail-loss.js';

/** Default segment size (64 MiB): a new segment is started before a record would pass it. */
export const SEGMENT_BYTES_MAX = 64 * 1024 * 1024;
/** Largest configurable segment size (1 GiB): recovery reads a whole segment into memory. */
export const SEGMENT_BYTES_LIMIT = 1024 * 1024 * 1024;
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
  /** The file system. Default nodeFs; the simulator passes a SimFs, tests wrap nodeFs to inject EIO. */
  fs?: WalFs;
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
   * The log lost entries this replica may have acknowledged, found at this open (its end is
   * below the sync mark, or a damaged tail was cut with no readable mark) or at an earlier one
   * whose node has not caught up since (the TAIL_LOST_FILE marker is present). The host starts
   * its Raft core with RecoveredState.logTailLost. A torn tail above the mark is only
   * `repairedTail`.
   */
  tailLost: TailLoss | undefined;
  /** Stale temp files of interrupted hard-state or snapshot saves, deleted. */
  removedTempFiles: string[];
}

/** The WAL hit an I/O error and refuses every further call; the host must exit. */
export class WalFailedError extends Error {
  override name = 'WalFailedError';
  constructor(
    readonly operation: string,
    cause: unknown,
  ) {
    super(
      `WAL failed in ${operation}: ${cause instanceof Error ? cause.message : String(cause)}; ` +
        'the process must exit and this replica be repaired from its peers (do not retry)',
      { cause },
    );
  }
}

interface Waiter {
  seq: number;
  done: (err?: Error) => void;
}

/** The last segment's damaged tail found at open: its bytes, where the good records end, why. */
interface DamagedTail {
  name: string;
  buf: Uint8Array;
  validEnd: number;
  reason: string;
}

interface SnapshotJob {
  index: number;
  term: number;
  bytes: Uint8Array;
  done: (err?: Error) => void;
}

const assert: Assert = assertFor('WAL');

/** Calls every callback, even when one throws; then rethrows the first exception. */
function callAll(waiters: readonly Waiter[], err: Error | undefined): void {
  let thrown = false;
  let first: unknown;
  for (const w of waiters) {
    try {
      w.done(err);
    } catch (e) {
      if (!thrown) first = e;
      thrown = true;
    }
  }
  if (thrown) throw first;
}

export class Wal {
  readonly dir: string;
  readonly recovery: WalRecovery;
  private readonly fs: WalFs;
  private readonly warn: (message: string) => void;
  private readonly segmentBytesMax: number;
  private readonly tailCacheBytesMax: number;
  private readonly snapshotsKept: number;

  private first: number;
  private last: number;
  private segments: Segment[];
  /** The fd of the last segment, open for writing; undefined only while there is no segment. */
  private fd: Fd | undefined;
  /** fds of segments no longer current, closed once no fdatasync may still be using them. */
  private retired: Fd[] = [];
  /** The `synced` file: the highest index the host may have seen synced (README, "Sync mark"). */
  private readonly mark: SyncMark;

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
  private roundInFlight = false;
  /** Last index the round in flight covers: the log's end when it started, lowered by a truncation since. */
  private roundLast = 0;

  private hardState: HardState | undefined;
  /** Index of the newest snapshot saved or loaded by this process; compaction may not pass it. */
  private snapshotIndex: number | undefined;
  /** Saves not started yet, in call order; one runs at a time. */
  private snapshotQueue: SnapshotJob[] = [];
  private snapshotBusy = false;
  /** close() waiting for the round and the snapshot save in flight to end. */
  private idleWaiters: (() => void)[] = [];

  private failure: WalFailedError | undefined;
  private closed = false;

  /**
   * Opens (creating if needed) the WAL in `dir` and recovers it: verifies every record,
   * repairs a torn or corrupt tail of the last segment, compares the log's end with the sync
   * mark (writing the `tail-lost` marker when acknowledged entries are gone), and throws
   * WalCorruptionError for anything else that is damaged.
   */
  static open(dir: string, options: WalOptions = {}): Wal {
    return new Wal(dir, options);
  }

  private constructor(dir: string, options: WalOptions) {
    this.dir = dir;
    this.fs = options.fs ?? nodeFs;
    this.warn = options.warn ?? ((m) => console.warn(m));
    this.segmentBytesMax = options.segmentBytesMax ?? SEGMENT_BYTES_MAX;
    this.tailCacheBytesMax = options.tailCacheBytesMax ?? TAIL_CACHE_BYTES_MAX;
    this.snapshotsKept = options.snapshotsKept ?? SNAPSHOTS_KEPT;
    this.checkLimits();
    const fs = this.fs;

    this.createDirectory(dir);

    const removedTempFiles = this.removeTempFiles(dir);

    this.readHardStateFile(dir);

    const read = readSyncMark(fs, dir);
    const stored = typeof read === 'string' ? undefined : read;
    // The saved commit index is durable (fsynced with the hard state) and only ever names entries
    // that were durable then: a second lower bound of what was synced, which also survives a power
    // cut that lost the newest mark (a write to the page cache only).
    const commitSaved = this.hardState?.commit ?? 0;
    const synced = stored === undefined ? undefined : Math.max(stored.index, commitSaved); // W: undefined when unknown

    const listed = listSegments(dir, fs);
    this.segments = [];
    let damaged: DamagedTail | undefined;
    if (listed.length === 0) {
      // No segment file: a new log, or a crash between deleting the old segments and
      // creating the new one in compactThrough's reset. Either way the log is empty and
      // starts after the snapshot, whose index loadLatestSnapshot() sets.
      this.first = 1;
      this.last = 0;
    } else {
      this.first = listed[0]!.firstIndex;
      this.last = this.first - 1;
      damaged = this.scanSegments(dir, listed);
    }

    // Did the log lose entries the host may have acknowledged? It acknowledges an entry only
    // once a sync of it completed, and every completed sync round wrote the mark first: an
    // end below the mark has lost some. At or above it, a damaged tail is a write the crash
    // tore before any sync covered it. Without a readable mark, any cut may have lost some.
    // With no segment the log ends where the newest snapshot does (its name is enough here;
    // loadLatestSnapshot() verifies it).
    const end = listed.length === 0 ? (listSnapshots(dir, fs)[0]?.index ?? 0) : this.last;
    const lost = synced !== undefined ? end < synced : damaged !== undefined || end < commitSaved;
    let tailLost: TailLoss | undefined;
    if (lost) {
      const lastSegment = this.segments[this.segments.length - 1];
      tailLost = this.markTailLost({
        mustReach: synced ?? null,
        term: this.hardState?.term ?? 0,
        segment: damaged?.name ?? lastSegment?.name ?? null,
        offset: damaged?.validEnd ?? lastSegment?.size ?? 0,
        removedBytes: damaged === undefined ? 0 : damaged.buf.byteLength - damaged.validEnd,
        reason:
          damaged !== undefined
            ? `${damaged.reason}${synced === undefined ? ' (no readable sync mark)' : `; the log now ends at entry ${end}, below the sync mark ${synced}`}`
            : `the log ends at entry ${end}, below the sync mark ${synced}`,
      });
    } else if (fs.exists(path.join(dir, TAIL_LOST_FILE))) {
      tailLost = decodeTailLost(fs.readFile(path.join(dir, TAIL_LOST_FILE)));
    }
    const lossNote = lost
      ? `; entries it may have acknowledged are lost (up to ${synced ?? 'an unknown index'}): marker ${TAIL_LOST_FILE} written`
      : '; a torn write never synced (at or above the sync mark): nothing acknowledged is lost';
    const repairedTail =
      damaged === undefined
        ? undefined
        : this.repairTail(damaged.name, damaged.buf, damaged.validEnd, damaged.reason, lossNote);
    if (lost && damaged === undefined)
      this.warn(`WAL: the log ends at entry ${end}, below the sync mark ${synced}${lossNote}`);
    if (typeof read === 'string' && (listed.length > 0 || fs.exists(path.join(dir, SYNCED_FILE))))
      this.warn(`WAL: sync mark unknown (${read}); rewritten`);

    // The host treats the recovered log as durable and may acknowledge all of it. After a
    // killed process, the page cache may still hold what was never flushed: the last segment's
    // tail (an unsynced append, or a truncation killed before its fsync) and directory changes
    // (a segment created or deleted, a rename). Flush both now (earlier segments were fsynced
    // when they rolled), so a later power cut cannot take back what this open returns.
    if (listed.length > 0) {
      this.fd = fs.open(this.segments[this.segments.length - 1]!.path, 'r+');
      fs.fsync(this.fd);
    }
    fsyncDir(fs, dir);
    // From here the mark tracks this log: it is set to the log's end (a loss found above is
    // recorded in the marker, which an operator may delete; a mark left above the log would
    // bring the loss back at every open). With no segment it only comes down to the
    // snapshot's end: it never claims more than the files hold.
    this.mark = SyncMark.open(fs, dir, stored, listed.length > 0 ? this.last : Math.min(synced ?? 0, end));
    this.recovery = {
      firstIndex: this.first,
      lastIndex: this.last,
      segments: this.segments.length,
      repairedTail,
      tailLost,
      removedTempFiles,
    };
  }

  /** At open: throws RangeError when an option (already defaulted) is outside its bounds (WalOptions). */
  private checkLimits(): void {
    if (
      !Number.isSafeInteger(this.segmentBytesMax) ||
      this.segmentBytesMax < 1 ||
      this.segmentBytesMax > SEGMENT_BYTES_LIMIT
    ) {
      throw new RangeError(`WAL: segmentBytesMax ${this.segmentBytesMax} outside 1..${SEGMENT_BYTES_LIMIT}`);
    }
    if (!Number.isSafeInteger(this.tailCacheBytesMax) || this.tailCacheBytesMax < 0) {
      throw new RangeError(`WAL: bad tailCacheBytesMax ${this.tailCacheBytesMax}`);
    }
    if (!Number.isSafeInteger(this.snapshotsKept) || this.snapshotsKept < 1)
      throw new RangeError(`WAL: bad snapshotsKept ${this.snapshotsKept}`);
  }

  /** At open: deletes the temp files of interrupted saves, then fsyncs `dir` if there were any; returns their names, sorted. */
  private removeTempFiles(dir: string): string[] {
    const fs = this.fs;
    const removedTempFiles = fs
      .readdir(dir)
      .filter((n) => n.endsWith(TMP_SUFFIX))
      .sort();
    for (const name of removedTempFiles) fs.unlink(path.join(dir, name));
    if (removedTempFiles.length > 0) fsyncDir(fs, dir);
    return removedTempFiles;
  }

  /** At open: reads the hard state file into this.hardState if it exists; a damaged one throws WalCorruptionError. */
  private readHardStateFile(dir: string): void {
    const fs = this.fs;
    const hardStatePath = path.join(dir, HARD_STATE_FILE);
    if (fs.exists(hardStatePath)) {
      const hs = decodeHardState(fs.readFile(hardStatePath));
      // Never guessed: a lost vote or term could let this replica vote twice in a term.
      if (typeof hs === 'string') throw new WalCorruptionError(HARD_STATE_FILE, 0, hs);
      this.hardState = hs;
    }
  }

  /**
   * At open: verifies the listed segments in order (this.first set, this.last = first - 1,
   * this.segments empty), pushing each to this.segments, noting its term runs and advancing
   * this.last. Throws WalCorruptionError on an index gap, on an invalid record, or on a bad
   * record anywhere but in the last segment; returns the last segment's bad tail, if any.
   */
  private scanSegments(dir: string, listed: { name: string; firstIndex: number }[]): DamagedTail | undefined {
    const fs = this.fs;
    let damaged: DamagedTail | undefined;
    for (let i = 0; i < listed.length; i++) {
      const { name, firstIndex } = listed[i]!;
      const isLast = i === listed.length - 1;
      if (firstIndex !== this.last + 1) {
        throw new WalCorruptionError(
          name,
          0,
          `index gap: the previous segment ends at entry ${this.last}, this one starts at ${firstIndex}`,
        );
      }
      const file = path.join(dir, name);
      const buf = fs.readFile(file);
      const scan = scanSegment(buf, firstIndex, this.lastTerm(), (index, term) => this.noteTerm(index, term));
      if (scan.stop.kind === 'invalid' || (scan.stop.kind === 'bad' && !isLast)) {
        throw new WalCorruptionError(name, scan.stop.offset, scan.stop.reason);
      }
      if (scan.stop.kind === 'bad') damaged = { name, buf, validEnd: scan.validEnd, reason: scan.stop.reason };
      this.segments.push({
        name,
        path: file,
        firstIndex,
        lastIndex: scan.lastIndex,
        size: scan.validEnd,
        offsets: scan.offsets,
      });
      this.last = scan.lastIndex;
    }
    return damaged;
  }

  /** Creates `dir` if missing, with every directory it creates made durable in its parent. */
  private createDirectory(dir: string): void {
    const created: string[] = [];
    for (let d = path.resolve(dir); !this.fs.exists(d); d = path.dirname(d)) created.push(d);
    if (created.length === 0) return;
    this.fs.mkdirp(dir);
    for (const d of created) fsyncDir(this.fs, path.dirname(d));
  }

  /** Writes (durably) the tail-lost marker, combined with one already there; returns what it holds. */
  private markTailLost(record: TailLostRecord): TailLoss {
    const file = path.join(this.dir, TAIL_LOST_FILE);
    let loss: TailLoss = { mustReach: record.mustReach ?? undefined, term: record.term };
    if (this.fs.exists(file)) loss = mergeTailLoss(loss, decodeTailLost(this.fs.readFile(file)));
    // First the marker: once the tail is cut nothing else shows that entries may be missing,
    // and a crash before the node has caught up must not let it forget.
    atomicWriteFileSync(this.fs, this.dir, TAIL_LOST_FILE, [
      encodeTailLost({ ...record, mustReach: loss.mustReach ?? null, term: loss.term }),
    ]);
    return loss;
  }

  /** Truncates the last segment at `validEnd`, after saving the removed bytes for inspection. */
  private repairTail(name: string, buf: Uint8Array, validEnd: number, reason: string, note: string): TailRepair {
    const fs = this.fs;
    let n = 1;
    while (fs.exists(path.join(this.dir, `${name}.corrupt-${n}`))) n++;
    const corruptCopy = `${name}.corrupt-${n}`;
    const removed = buf.subarray(validEnd);
    // The copy is durable before the segment shrinks: a crash in between repeats the repair.
    const copyFd = fs.open(path.join(this.dir, corruptCopy), 'wx');
    try {
      writeAll(fs, copyFd, removed, 0, removed.byteLength, 0);
      fs.fsync(copyFd);
    } finally {
      fs.close(copyFd);
    }
    fsyncDir(fs, this.dir);
    const fd = fs.open(path.join(this.dir, name), 'r+');
    try {
      fs.ftruncate(fd, validEnd);
      fs.fsync(fd);
    } finally {
      fs.close(fd);
    }
    this.warn(
      `WAL: ${name}: ${reason} at byte offset ${validEnd}; truncated there, ${removed.byteLength} bytes kept in ${corruptCopy}${note}`,
    );
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
        readSegmentEntries(this.fs, segment, index, segmentHi, take);
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
   * decreasing) with one write per segment touched. Not durable until a later sync completes.
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
        throw new RangeError(
          `WAL: entry ${e.index} has term ${e.term}, below the previous entry's ${previousTerm} or not an integer`,
        );
      }
      if (!(e.data instanceof Uint8Array)) throw new TypeError(`WAL: entry ${e.index} data is not a Uint8Array`);
      if (
        e.type !== undefined &&
        (e.type < RecordType.entry || e.type > RecordType.entryLast || !Number.isInteger(e.type))
      ) {
        throw new RangeError(`WAL: entry ${e.index} has type ${e.type}, expected 1..${RecordType.entryLast}`);
      }
      if (e.data.byteLength > ENTRY_DATA_BYTES_MAX) {
        throw new RangeError(
          `WAL: entry ${e.index} record of ${entryRecordBytes(e.data.byteLength)} bytes is over RECORD_BYTES_MAX (${RECORD_BYTES_MAX})`,
        );
      }
      total += entryRecordBytes(e.data.byteLength);
      previousTerm = e.term;
      expected++;
    }
    if (!Number.isSafeInteger(expected - 1)) throw new RangeError('WAL: index past the safe-integer range');
    if (total > WAL_APPEND_BYTES_MAX)
      throw new RangeError(`WAL: batch of ${total} bytes is over WAL_APPEND_BYTES_MAX (${WAL_APPEND_BYTES_MAX})`);

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
    writeAll(this.fs, fd, buf, base, starts[to]! - base, segment.size);
    for (let i = from; i < to; i++) {
      const e = entries[i]!;
      const start = starts[i]!;
      const end = starts[i + 1]!;
      if ((e.index - segment.firstIndex) % OFFSET_INDEX_STRIDE === 0) segment.offsets.push(segment.size + start - base);
      this.noteTerm(e.index, e.term);
      this.cachePush({
        index: e.index,
        term: e.term,
        type: e.type ?? RecordType.entry,
        data: buf.subarray(end - e.data.byteLength, end),
      });
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
    this.fs.fsync(fd);
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
    this.fd = this.fs.open(file, 'wx');
    fsyncDir(this.fs, this.dir);
    this.segments.push({ name, path: file, firstIndex, lastIndex: firstIndex - 1, size: 0, offsets: [] });
  }

  /**
   * Calls `done` once everything appended before the call is durable (fdatasync), and the
   * sync mark covers it; with a WalFailedError if the WAL has failed or fails now. Calls made
   * while an fdatasync is in flight share the next one (group commit). `done` is never called
   * synchronously: with nothing to sync, it runs through fs.defer. Successful syncs complete
   * in call order, whatever order the file system runs its completions in.
   */
  syncThen(done: (err?: Error) => void): void {
    if (this.failure || this.closed) {
      const err = this.failure ?? new Error('WAL: closed');
      this.fs.defer(() => done(err));
      return;
    }
    // Queued even when nothing needs syncing, behind any earlier sync still to be told.
    this.waiters.push({ seq: this.appendSeq, done });
    if (this.durableSeq >= this.appendSeq) this.settleLater();
    else if (!this.roundInFlight) this.startRound();
  }

  /** syncThen() as a promise: resolves once everything appended before the call is durable. */
  sync(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.syncThen((err) => (err ? reject(err) : resolve())));
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
    assert(!this.roundInFlight, 'two sync rounds in flight');
    const target = this.appendSeq;
    this.roundLast = this.last;
    this.roundInFlight = true;
    try {
      this.fs.fdatasync(fd, (err) => this.endRound(target, err));
    } catch (err) {
      // node:fs reports through the callback; a simulated kill (SimFs) throws here.
      this.roundInFlight = false;
      this.closeRetired();
      this.fail(err, 'fdatasync');
      this.notifyIdle();
    }
  }

  private endRound(target: number, err: Error | undefined): void {
    assert(this.roundInFlight, 'a sync round ended twice');
    if (err === undefined && !this.failure && this.roundLast > this.mark.index) {
      // Before any waiter hears of it: the host acknowledges entries only after that, so the
      // mark is in the page cache before any acknowledgement leaves (README, "Sync mark").
      try {
        this.mark.set(this.roundLast, false);
      } catch (markErr) {
        this.fail(markErr, 'sync mark');
      }
    }
    this.roundInFlight = false;
    this.closeRetired();
    if (err !== undefined) this.fail(err, 'fdatasync');
    if (this.failure) {
      this.notifyIdle();
      return;
    }
    this.durableSeq = Math.max(this.durableSeq, target);
    const settled = this.takeSettled();
    // The next round starts before the callbacks run (they may append and sync again, and
    // join it or start one themselves); their exceptions cannot leave the Wal half updated.
    if (this.waiters.length > 0) this.startRound();
    else this.notifyIdle();
    callAll(settled, undefined);
  }

  /** Removes and returns the waiters whose appends are durable. */
  private takeSettled(): Waiter[] {
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq <= this.durableSeq) n++;
    return n === 0 ? [] : this.waiters.splice(0, n);
  }

  /** Settles durable waiters later: truncation and compaction must not call back into the host. */
  private settleLater(): void {
    if (this.waiters.length === 0) return;
    this.fs.defer(() => callAll(this.takeSettled(), undefined));
  }

  // ---------------------------------------------------------------------------------------
  // truncation and compaction
  // ---------------------------------------------------------------------------------------

  /**
   * Removes every entry with index > `index` (a conflicting suffix), durably: later segments
   * are deleted newest first (directory fsync after each, so a crash leaves a prefix), then
   * the segment holding `index` is truncated and fsynced. Refuses to remove an entry at or
   * below the commit index of the saved hard state. The sync mark becomes `index`: lowered
   * durably before anything is removed (a mark left above the new, unsynced entries would
   * make a later recovery see a loss that is not one), raised after the fsync otherwise
   * (every entry up to `index` is durable then, and pending syncs complete).
   */
  truncateAfter(index: number): void {
    this.check();
    if (!Number.isSafeInteger(index) || index < this.first - 1 || index > this.last) {
      throw new RangeError(`WAL: truncateAfter(${index}) outside [${this.first - 1}, ${this.last}]`);
    }
    const commit = this.hardState?.commit ?? 0;
    if (index < commit)
      throw new RangeError(`WAL: truncateAfter(${index}) would remove committed entries (commit ${commit})`);
    if (index === this.last) return;
    try {
      // The keeper is the segment holding `index`, or the first segment when everything goes
      // (it stays, emptied, so the directory still says where the log starts).
      let k = this.segments.length - 1;
      while (k > 0 && this.segments[k]!.firstIndex > index) k--;
      const keeper = this.segments[k]!;
      const cut = offsetOfEntry(this.fs, keeper, index + 1);
      if (this.mark.index > index) this.mark.set(index, true);
      for (let i = this.segments.length - 1; i > k; i--) {
        this.fs.unlink(this.segments[i]!.path);
        fsyncDir(this.fs, this.dir);
      }
      if (k < this.segments.length - 1) {
        this.retire(this.fd!);
        this.fd = this.fs.open(keeper.path, 'r+');
        this.segments.length = k + 1;
      }
      this.fs.ftruncate(this.fd!, cut);
      this.fs.fsync(this.fd!);
      keeper.size = cut;
      keeper.lastIndex = index;
      keeper.offsets.length = Math.ceil((index - keeper.firstIndex + 1) / OFFSET_INDEX_STRIDE);
      if (this.mark.index < index) this.mark.set(index, false);
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
    // A round in flight covers no entry above `index` any more: it must not raise the mark
    // past it when it completes.
    this.roundLast = Math.min(this.roundLast, index);
    // Earlier segments were fsynced when they rolled, the keeper just now: all is durable.
    this.appendSeq++;
    this.durableSeq = this.appendSeq;
    this.settleLater();
  }

  /**
   * Deletes whole segments whose entries are all <= `index` (oldest first, directory fsync
   * after each, so a crash leaves a contiguous suffix). `index` may not pass the newest
   * snapshot saved or loaded by this process. When every entry goes (index >= lastIndex(),
   * e.g. after installing a snapshot), the log restarts empty at index + 1 in a new segment,
   * and the sync mark becomes `index` (the snapshot holds everything up to it, durably).
   */
  compactThrough(index: number): void {
    this.check();
    if (!Number.isSafeInteger(index)) throw new RangeError(`WAL: compactThrough(${index})`);
    if (this.snapshotIndex === undefined || index > this.snapshotIndex) {
      throw new RangeError(
        `WAL: compactThrough(${index}) passes the newest snapshot (${this.snapshotIndex ?? 'none'})`,
      );
    }
    if (index < this.first) return;
    try {
      if (index >= this.last) {
        // The mark is at most the log's end, so at most `index`; kept exact all the same.
        if (this.mark.index > index) this.mark.set(index, true);
        for (const segment of this.segments) {
          this.fs.unlink(segment.path);
          fsyncDir(this.fs, this.dir);
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
        // After the new segment is durable: a power cut then leaves a log ending at `index`
        // (or, before it, no segment and the snapshot), never below the mark.
        if (this.mark.index < index) this.mark.set(index, false);
        this.appendSeq++;
        this.durableSeq = this.appendSeq;
        this.settleLater();
        return;
      }
      let n = 0;
      while (n < this.segments.length - 1 && this.segments[n]!.lastIndex <= index) {
        this.fs.unlink(this.segments[n]!.path);
        fsyncDir(this.fs, this.dir);
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
    while (this.cacheHead < this.cache.length && this.cache[this.cacheHead]!.index < this.first)
      this.cacheEvictOldest();
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
      atomicWriteFileSync(this.fs, this.dir, HARD_STATE_FILE, [bytes]);
    } catch (err) {
      throw this.fail(err, 'saveHardState');
    }
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /** The node caught up after a lost tail (Ready.logTailRecovered): removes TAIL_LOST_FILE, durably. */
  clearTailLost(): void {
    this.check();
    try {
      const file = path.join(this.dir, TAIL_LOST_FILE);
      if (this.fs.exists(file)) this.fs.unlink(file);
      fsyncDir(this.fs, this.dir);
    } catch (err) {
      throw this.fail(err, 'clearTailLost');
    }
  }

  /**
   * Saves a snapshot atomically and durably, in small deferred steps (snapshot-file.ts), then
   * keeps only the newest `snapshotsKept` snapshot files; then calls `done`, never
   * synchronously, with the error if it failed (a WalFailedError for an I/O error, a
   * RangeError or TypeError for a bad call). Saves run one at a time in call order. `bytes`
   * must not change until `done` is called.
   */
  saveSnapshotThen(index: number, term: number, bytes: Uint8Array, done: (err?: Error) => void): void {
    let refused: Error | undefined;
    try {
      this.check();
      if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) {
        throw new RangeError(`WAL: snapshot index ${index} / term ${term}`);
      }
      if (!(bytes instanceof Uint8Array)) throw new TypeError('WAL: snapshot bytes are not a Uint8Array');
      if (bytes.byteLength > SNAPSHOT_BYTES_MAX)
        throw new RangeError(`WAL: snapshot of ${bytes.byteLength} bytes is over SNAPSHOT_BYTES_MAX`);
      if (this.snapshotIndex !== undefined && index < this.snapshotIndex) {
        throw new RangeError(`WAL: snapshot at ${index} is older than the saved one at ${this.snapshotIndex}`);
      }
    } catch (err) {
      refused = err as Error;
    }
    if (refused !== undefined) {
      const err = refused;
      this.fs.defer(() => done(err));
      return;
    }
    this.snapshotQueue.push({ index, term, bytes, done });
    if (!this.snapshotBusy) this.nextSnapshot();
  }

  /** saveSnapshotThen() as a promise. */
  saveSnapshot(index: number, term: number, bytes: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.saveSnapshotThen(index, term, bytes, (err) => (err ? reject(err) : resolve())),
    );
  }

  private nextSnapshot(): void {
    const job = this.snapshotQueue.shift();
    if (job === undefined) {
      this.snapshotBusy = false;
      this.notifyIdle();
      return;
    }
    this.snapshotBusy = true;
    const finish = (err: Error | undefined): void => {
      // The next save starts (its first step is deferred) before this callback runs, so an
      // exception from it cannot stall the queue.
      this.nextSnapshot();
      job.done(err);
    };
    if (this.failure || this.closed) {
      const err = this.failure ?? new Error('WAL: closed');
      this.fs.defer(() => finish(err));
      return;
    }
    writeSnapshotFile(
      this.fs,
      this.dir,
      job.index,
      job.term,
      job.bytes,
      this.snapshotsKept,
      () => this.failure,
      (err) => {
        if (err !== undefined) {
          finish(this.fail(err, 'saveSnapshot'));
          return;
        }
        this.snapshotIndex = Math.max(this.snapshotIndex ?? job.index, job.index);
        finish(undefined);
      },
    );
  }

  /**
   * The newest snapshot whose file verifies, or undefined if there is none. A bad file is
   * skipped with a warning (and kept for inspection). Throws WalCorruptionError if the log
   * does not continue where the snapshot ends (the entries in between are lost).
   */
  loadLatestSnapshot(): Snapshot | undefined {
    this.check();
    let found: Snapshot | undefined;
    for (const { name, index } of listSnapshots(this.dir, this.fs)) {
      const file = path.join(this.dir, name);
      const size = this.fs.size(file);
      if (size > SNAPSHOT_HEADER_BYTES + SNAPSHOT_BYTES_MAX + 4) {
        this.warn(`WAL: snapshot ${name}: ${size} bytes, over SNAPSHOT_BYTES_MAX; skipped`);
        continue;
      }
      const snapshot = decodeSnapshot(this.fs.readFile(file));
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
      throw new WalCorruptionError(
        found ? snapshotFileName(found.index) : segmentFileName(this.first),
        0,
        `the log starts at entry ${this.first} but the newest valid snapshot ends at ${covered}`,
      );
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
    await new Promise<void>((resolve) => {
      if (!this.roundInFlight && !this.snapshotBusy) resolve();
      else this.idleWaiters.push(resolve);
    });
    const durable = this.failure ? [] : this.takeSettled();
    const waiters = this.waiters.splice(0);
    const fds = [...this.retired.splice(0), ...(this.fd === undefined ? [] : [this.fd])];
    this.fd = undefined;
    for (const fd of fds) {
      try {
        this.fs.close(fd);
      } catch {
        // Nothing more can go wrong with a file no longer written; the host is on its way out.
      }
    }
    try {
      this.mark.close();
    } catch {
      // As above.
    }
    try {
      callAll(durable, undefined);
    } catch {
      // A caller's callback; close() never throws.
    }
    try {
      callAll(waiters, this.failure ?? new Error('WAL: closed'));
    } catch {
      // As above.
    }
  }

  // ---------------------------------------------------------------------------------------
  // internals
  // ---------------------------------------------------------------------------------------

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('WAL: closed');
  }

  /**
   * Enters the failed state (once) and fails every pending sync (later, through fs.defer:
   * fail() runs inside calls of the host). Returns the error to throw.
   */
  private fail(cause: unknown, operation: string): WalFailedError {
    if (!this.failure) this.failure = new WalFailedError(operation, cause);
    const failure = this.failure;
    const waiters = this.waiters.splice(0);
    if (waiters.length > 0) this.fs.defer(() => callAll(waiters, failure));
    return failure;
  }

  /** Wakes close() once no sync round and no snapshot save is in flight. */
  private notifyIdle(): void {
    if (this.roundInFlight || this.snapshotBusy) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
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
    assert(
      segment !== undefined && segment.firstIndex <= index && index <= segment.lastIndex,
      `no segment holds entry ${index}`,
    );
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

  private retire(fd: Fd): void {
    // An fdatasync on the thread pool may still hold this fd; closing it now could let the
    // number be reused and the fdatasync land on another file.
    this.retired.push(fd);
    if (!this.roundInFlight) this.closeRetired();
  }

  private closeRetired(): void {
    for (const fd of this.retired.splice(0)) this.fs.close(fd);
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
