// The user stream's journal (I/O edge of user-stream.ts): what the gateway must find again after
// a restart to go on with the same epoch and stream_seq numbering. In `<dataDir>/user-stream/`:
//
//   epoch                    the epoch (16 hex digits), written and fsynced when the journal is new
//   segment-NNNNNNNN.jsonl   one JSON record a line, oldest segment first:
//     {"k":"run","boot":…,"ts_ms":…}   a gateway run starts (boot: the machine's boot id); fdatasynced;
//                                       repeated first in each segment the run rotates to
//     {"k":"ckpt","streams":[{"a","last","min_seq"}]}   second line of a rotated segment: every stream
//     {"k":"open","a":…}                an account's stream opens (its first login)
//     {"k":"rep","a","s","c","r"}       a report: account, stream_seq, canonical form, report
//     {"k":"stop"}                      a clean stop; fdatasynced
//
// Why not the report-chain journal (chain-journal.bin): it names reports by shard and exec_id
// only, is written in batches before each signed head (not before a report is sent), and turning
// its entries back into reports needs the shard's log. This journal is written with one write(2)
// per record before the hub wakes any connection, so a report the stream sent is in the kernel's
// page cache: a crash of the gateway process (kill -9) loses nothing. A crash of the machine may
// lose what was not flushed; the journal tells the two apart by the boot id of the run that did
// not stop cleanly, and after a machine crash it starts a new epoch (clients re-sync: RESUME_GAP,
// epoch_changed) rather than risk numbering reports again that a client already received.
//
// Bounded: a segment is rotated at USER_STREAM_SEGMENT_BYTES_MAX (the new one starts with a
// checkpoint, so the numbering survives the deletion of older ones) and only the newest
// USER_STREAM_SEGMENTS_KEPT are kept. A write error is logged, journaling stops for this run, and
// the epoch file is removed: the next start begins a new epoch (its data is not trustworthy).

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { jsonParseExact, jsonStringifyExact } from '../api/json-exact.js';
import { errorMessage, type Log } from '../ops/log.js';
import { USER_STREAM_SEGMENT_BYTES_MAX, USER_STREAM_SEGMENTS_KEPT } from './limits.js';
import {
  UserStreamHub,
  type HeldReport,
  type StreamCheckpoint,
  type StreamJournalRecord,
  type UserStreamJournal,
} from './user-stream.js';

const SEGMENT_NAME = /^segment-(\d{8})\.jsonl$/;
const segmentName = (n: number) => `segment-${String(n).padStart(8, '0')}.jsonl`;

/** This machine's boot id (Linux); undefined elsewhere, and then any unclean stop counts as a machine crash. */
function bootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface OpenedJournal {
  store: UserStreamStore;
  epoch: string;
  /** The records of the kept segments, oldest first, for UserStreamHub.restore. */
  records: StreamJournalRecord[];
  /** Why the epoch is new ('' when it goes on). */
  newEpochBecause: string;
}

export interface StoreOptions {
  log: Log;
  segmentBytesMax?: number;
  segmentsKept?: number;
}

/** Parses one segment's text; an unparsable line (the torn tail of a crash) is skipped. */
function parseSegment(text: string): StreamJournalRecord[] {
  const out: StreamJournalRecord[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(jsonParseExact(line) as StreamJournalRecord); // a cum_notional above 2^53 back as the bigint it was
    } catch {
      // skipped: a report lost this way shows as a hole in stream_seq, which restore announces as a gap
    }
  }
  return out;
}

/** Whether the journal's data can be trusted for this run, and if not why. */
function untrustedBecause(records: StreamJournalRecord[]): string {
  const last = records.at(-1);
  if (last === undefined || last.k === 'stop') return '';
  let run: StreamJournalRecord | undefined;
  for (let i = records.length - 1; i >= 0 && run === undefined; i--) if (records[i]!.k === 'run') run = records[i];
  const boot = bootId();
  if (run?.k === 'run' && boot !== undefined && run.boot === boot) return ''; // the process crashed: the page cache kept every write
  return 'the previous run did not stop cleanly and the machine restarted since: unflushed reports may be lost';
}

export class UserStreamStore implements UserStreamJournal {
  private fd: number | undefined;
  private segment: number;
  private sizeBytes: number;
  private checkpoint: () => StreamCheckpoint[] = () => [];
  /** This run's record: also the first line of each segment it rotates to, so that the kept segments always name the last run. */
  private readonly run: StreamJournalRecord = { k: 'run', boot: bootId() ?? '', ts_ms: Date.now() };
  private readonly segmentBytesMax: number;
  private readonly segmentsKept: number;

  private constructor(
    private readonly dir: string,
    segment: number,
    private readonly opts: StoreOptions,
  ) {
    this.segmentBytesMax = opts.segmentBytesMax ?? USER_STREAM_SEGMENT_BYTES_MAX;
    this.segmentsKept = opts.segmentsKept ?? USER_STREAM_SEGMENTS_KEPT;
    this.segment = segment;
    const file = path.join(dir, segmentName(segment));
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    // A torn last line would glue onto the next record: cut it before appending.
    this.sizeBytes = Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1));
    if (fs.existsSync(file)) fs.truncateSync(file, this.sizeBytes);
    this.fd = fs.openSync(file, 'a');
  }

  /** Opens (or creates) the journal in `dir`: the epoch and the records to restore. */
  static open(dir: string, opts: StoreOptions): OpenedJournal {
    fs.mkdirSync(dir, { recursive: true });
    const epochFile = path.join(dir, 'epoch');
    const segments = UserStreamStore.segments(dir);
    const records = segments.flatMap((n) => parseSegment(fs.readFileSync(path.join(dir, segmentName(n)), 'utf8')));
    let epoch = fs.existsSync(epochFile) ? fs.readFileSync(epochFile, 'utf8').trim() : '';
    let because = epoch === '' ? 'no journal (a new data dir, or the last run could not write it)' : '';
    if (because === '') because = untrustedBecause(records);
    if (because !== '') {
      for (const n of segments) fs.rmSync(path.join(dir, segmentName(n)));
      epoch = randomBytes(8).toString('hex');
      const fd = fs.openSync(epochFile, 'w');
      fs.writeSync(fd, `${epoch}\n`);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
    const store = new UserStreamStore(dir, because === '' ? (segments.at(-1) ?? 1) : 1, opts);
    return { store, epoch, records: because === '' ? records : [], newEpochBecause: because };
  }

  private static segments(dir: string): number[] {
    return fs
      .readdirSync(dir)
      .map((f) => SEGMENT_NAME.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Starts this run (after the hub restored the records): the run record, flushed, so that a machine crash is told from a process crash. */
  begin(checkpoint: () => StreamCheckpoint[]): void {
    this.checkpoint = checkpoint;
    this.write(this.run);
    this.sync();
  }

  opened(account: number): void {
    this.write({ k: 'open', a: account });
  }

  appended(account: number, streamSeq: number, held: HeldReport): void {
    this.write({ k: 'rep', a: account, s: streamSeq, c: held.canonical, r: held.report });
  }

  /** A clean stop: the stop record, flushed; the next run goes on with this epoch. */
  close(): void {
    this.write({ k: 'stop' });
    this.sync();
    this.abandon();
  }

  /** Closes the file as a crash would leave it (no stop record): tests of a restart after kill -9. */
  abandon(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private write(r: StreamJournalRecord): void {
    if (this.fd === undefined) return;
    try {
      const line = `${jsonStringifyExact(r)}\n`;
      this.sizeBytes += fs.writeSync(this.fd, line);
      if (this.sizeBytes >= this.segmentBytesMax) this.rotate();
    } catch (err) {
      this.fail(err);
    }
  }

  /** The next segment, starting with the run and every stream's checkpoint; segments beyond the kept ones are deleted. */
  private rotate(): void {
    fs.closeSync(this.fd!);
    this.segment++;
    this.fd = fs.openSync(path.join(this.dir, segmentName(this.segment)), 'a');
    const head = `${JSON.stringify(this.run)}\n${JSON.stringify({ k: 'ckpt', streams: this.checkpoint() })}\n`;
    this.sizeBytes = fs.writeSync(this.fd, head);
    // Durable (file and directory entry) before older segments go: after a machine crash the kept
    // segments still name this run, so that the crash is detected (rare: once per segment).
    fs.fdatasyncSync(this.fd);
    const dirFd = fs.openSync(this.dir, 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
    for (const n of UserStreamStore.segments(this.dir))
      if (n <= this.segment - this.segmentsKept) fs.rmSync(path.join(this.dir, segmentName(n)));
  }

  private sync(): void {
    if (this.fd === undefined) return;
    try {
      fs.fdatasyncSync(this.fd);
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    this.opts.log.error('user stream journal: write failed; journaling stops, the next start begins a new epoch', {
      err: errorMessage(err),
    });
    try {
      if (this.fd !== undefined) fs.closeSync(this.fd);
    } catch {
      // already closed by a failed rotation
    }
    this.fd = undefined;
    try {
      fs.rmSync(path.join(this.dir, 'epoch'), { force: true });
    } catch (e) {
      this.opts.log.error('user stream journal: cannot remove the epoch file', { err: errorMessage(e) });
    }
  }
}

/**
 * The gateway's user streams: with a data dir, journaled there and restored from it (same epoch
 * and numbering as the last run when its data is trustworthy); without one (null), in memory only.
 */
export function openUserStreams(
  dir: string | undefined,
  opts: StoreOptions & { reportsHeldMax?: number },
): { hub: UserStreamHub; store: UserStreamStore | undefined } {
  const held = opts.reportsHeldMax === undefined ? {} : { reportsHeldMax: opts.reportsHeldMax };
  if (dir === undefined) return { hub: new UserStreamHub(held), store: undefined };
  const j = UserStreamStore.open(dir, opts);
  if (j.newEpochBecause !== '')
    opts.log.info(`user stream: new epoch ${j.epoch}: ${j.newEpochBecause}`, { epoch: j.epoch });
  const hub = new UserStreamHub({ ...held, epoch: j.epoch, journal: j.store });
  hub.restore(j.records);
  j.store.begin(() => hub.checkpoint());
  return { hub, store: j.store };
}
