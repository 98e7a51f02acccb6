// The write-ahead log: round trips across segments and reopens, crash and corruption
// recovery, truncation, compaction, hard state, snapshots, limits and the failed state.
// Every test works in its own temp directory, removed afterwards. No test asserts on time.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { HardState as RaftHardState } from '../../replicator/raft/types.js';
import { decodeSyncMark } from '../../replicator/wal/sync-mark.js';
import {
  SYNCED_FILE,
  TAIL_LOST_FILE,
  ENTRY_DATA_BYTES_MAX,
  RECORD_HEADER_BYTES,
  SNAPSHOT_WRITE_CHUNK_BYTES,
  Wal,
  WalCorruptionError,
  WalFailedError,
  nodeFs,
  type LogEntry,
  type WalOptions,
} from '../../replicator/wal/wal.js';

const dirs: string[] = [];
const wals: Wal[] = [];

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'matchbook-wal-'));
  dirs.push(dir);
  return dir;
}

function open(dir: string, options: WalOptions = {}): Wal {
  const wal = Wal.open(dir, { warn: () => undefined, ...options });
  wals.push(wal);
  return wal;
}

afterEach(async () => {
  for (const wal of wals.splice(0)) await wal.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Deterministic data for an entry: its length and bytes depend on index, term and a salt. */
function entry(index: number, term: number, size = 20 + (index % 7), salt = 0): LogEntry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + term * 7 + salt + i) & 0xff;
  return { index, term, data };
}

function range(lo: number, hi: number, term: (i: number) => number, salt = 0): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = lo; i <= hi; i++) out.push(entry(i, term(i), undefined, salt));
  return out;
}

function plain(entries: LogEntry[]): { index: number; term: number; data: number[] }[] {
  return entries.map((e) => ({ index: e.index, term: e.term, data: Array.from(e.data) }));
}

function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => /^wal-\d{20}\.log$/.test(n))
    .sort();
}

/** Byte offsets of each record in a segment file, by walking the length fields. */
function recordOffsets(file: string): number[] {
  const buf = fs.readFileSync(file);
  const out: number[] = [];
  for (let at = 0; at < buf.length; at += RECORD_HEADER_BYTES + buf.readUInt32LE(at)) out.push(at);
  return out;
}

const termOf = (i: number): number => 1 + Math.floor(i / 10);
const SMALL_SEGMENTS: WalOptions = { segmentBytesMax: 200 };

describe('append and read back', () => {
  it('round-trips entries across several segments, from the cache and from disk', async () => {
    const dir = tmpDir();
    const wal = open(dir, SMALL_SEGMENTS);
    expect(wal.recovery).toMatchObject({ firstIndex: 1, lastIndex: 0, segments: 0 });
    const all = range(1, 60, termOf);
    for (const size of [1, 7, 13, 2, 20, 17]) {
      const batch = all.slice(wal.lastIndex(), wal.lastIndex() + size);
      await wal.appendAndSync(batch);
    }
    expect(wal.firstIndex()).toBe(1);
    expect(wal.lastIndex()).toBe(60);
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(5);
    expect(files[0]).toBe('wal-00000000000000000001.log');
    for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(200);

    expect(plain(wal.entries(1, 61))).toEqual(plain(all));
    expect(plain(wal.entries(17, 44))).toEqual(plain(all.slice(16, 43)));
    expect(wal.entries(5, 5)).toEqual([]);
    for (let i = 1; i <= 60; i++) expect(wal.term(i)).toBe(termOf(i));
    expect(wal.term(0)).toBeUndefined();
    expect(wal.term(61)).toBeUndefined();
    expect(() => wal.entries(0, 3)).toThrow(RangeError);
    expect(() => wal.entries(3, 62)).toThrow(RangeError);

    // maxBytes: stops before passing the budget, but always returns at least one entry.
    const limited = wal.entries(1, 61, 3 * all[0]!.data.byteLength);
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect(limited.reduce((n, e) => n + e.data.byteLength, 0)).toBeLessThanOrEqual(3 * all[0]!.data.byteLength);
    expect(wal.entries(1, 61, 1)).toHaveLength(1);

    // The same reads with no tail cache go to disk (sparse offset index, stride 64 > 60,
    // and a second log long enough to use several index slots).
    const dir2 = tmpDir();
    const uncached = open(dir2, { segmentBytesMax: 4096, tailCacheBytesMax: 0 });
    const many = range(1, 300, termOf);
    uncached.append(many);
    await uncached.sync();
    expect(plain(uncached.entries(1, 301))).toEqual(plain(many));
    expect(plain(uncached.entries(130, 200))).toEqual(plain(many.slice(129, 199)));
    expect(plain(uncached.entries(64, 66))).toEqual(plain(many.slice(63, 65)));
  });

  it('gives the same entries after close and reopen, and appends continue', async () => {
    const dir = tmpDir();
    const wal = open(dir, SMALL_SEGMENTS);
    const all = range(1, 45, termOf);
    await wal.appendAndSync(all.slice(0, 30));
    await wal.appendAndSync(all.slice(30));
    await wal.close();

    const again = open(dir, SMALL_SEGMENTS);
    expect(again.recovery).toMatchObject({ firstIndex: 1, lastIndex: 45, repairedTail: undefined });
    expect(again.recovery.segments).toBe(segmentFiles(dir).length);
    expect(plain(again.entries(1, 46))).toEqual(plain(all));
    for (let i = 1; i <= 45; i++) expect(again.term(i)).toBe(termOf(i));
    const more = range(46, 70, termOf);
    await again.appendAndSync(more);
    await again.close();
    const third = open(dir, SMALL_SEGMENTS);
    expect(plain(third.entries(1, 71))).toEqual(plain([...all, ...more]));
  });

  it('one read of more than the read chunk (1 MiB) from disk gives every entry its own bytes', async () => {
    // Regression: entries read from disk were Buffer.slice() views into the reader's buffer,
    // which the next chunk overwrote: a replica recovering a log over 1 MiB at restart applied
    // other entries' bytes (found by the full chaos run: replicas' state hashes differed).
    const dir = tmpDir();
    const wal = open(dir);
    const all: LogEntry[] = [];
    for (let i = 1; i <= 3_000; i++) all.push(entry(i, 1, 1_000 + (i % 13), 5));
    for (let k = 0; k < all.length; k += 500) await wal.appendAndSync(all.slice(k, k + 500));
    await wal.close();
    const again = open(dir); // nothing cached: every read is from the file
    const read = again.entries(1, 3_001);
    expect(read).toHaveLength(3_000);
    expect(read.reduce((n, e) => n + e.data.byteLength, 0)).toBeGreaterThan(2 * 1024 * 1024);
    expect(plain(read)).toEqual(plain(all));
    // Held entries stay as they were after more reads reuse the reader's memory.
    again.entries(1, 3_001);
    again.entries(1_500, 2_000);
    expect(plain(read)).toEqual(plain(all));
  });
  it('refuses a non-contiguous append or a decreasing term, writing nothing', async () => {
    const wal = open(tmpDir());
    await wal.appendAndSync(range(1, 5, () => 3));
    expect(() => wal.append([entry(7, 3)])).toThrow(RangeError);
    expect(() => wal.append([entry(6, 3), entry(8, 3)])).toThrow(RangeError);
    expect(() => wal.append([entry(6, 2)])).toThrow(RangeError);
    expect(wal.lastIndex()).toBe(5);
    wal.append([entry(6, 4)]);
    expect(wal.term(6)).toBe(4);
  });

  it('shares one fdatasync among the syncs that arrive while one is in flight (group commit)', async () => {
    let fdatasyncs = 0;
    const wal = open(tmpDir(), {
      fs: {
        ...nodeFs,
        fdatasync: (fd, done) => {
          fdatasyncs++;
          nodeFs.fdatasync(fd, done);
        },
      },
    });
    wal.append([entry(1, 1)]);
    const first = wal.sync();
    wal.append([entry(2, 1)]);
    const second = wal.sync();
    wal.append([entry(3, 1)]);
    const third = wal.sync();
    await Promise.all([first, second, third]);
    expect(fdatasyncs).toBe(2);
    await wal.sync(); // nothing new: no fdatasync
    expect(fdatasyncs).toBe(2);
  });
});

describe('syncs in flight', () => {
  it('truncation, rolls and compaction while an fdatasync is in flight keep its fd open and settle every sync', async () => {
    // fdatasync is held until released, to interleave deterministically. On release the fd
    // must still be the file it was when the call was made: a closed fd (EBADF) or one whose
    // number was reused for another file would fail the WAL.
    const held: (() => void)[] = [];
    let calls = 0;
    const dir = tmpDir();
    const wal = open(dir, {
      ...SMALL_SEGMENTS,
      fs: {
        ...nodeFs,
        fdatasync: (fd, done) => {
          calls++;
          const inode = fs.fstatSync(fd).ino;
          held.push(() => {
            try {
              if (fs.fstatSync(fd).ino !== inode) throw new Error(`fd ${fd} now names another file`);
            } catch (err) {
              done(err as Error);
              return;
            }
            nodeFs.fdatasync(fd, done);
          });
        },
      },
    });
    const release = async (): Promise<void> => {
      // The next round starts only once the previous real fdatasync returned, which under a
      // loaded machine (other suites fsyncing in parallel) can take a while: wait up to 10 s.
      const deadline = Date.now() + 10_000;
      while (held.length === 0) {
        if (Date.now() > deadline) throw new Error('no fdatasync is pending');
        await new Promise((r) => setTimeout(r, 1));
      }
      held.shift()!();
    };
    wal.append(range(1, 30, () => 1));
    const first = wal.sync(); // round 1 on the last segment's fd
    wal.truncateAfter(5); // deletes that segment: its fd must stay open until round 1 ends
    let firstSettled = false;
    void first.then(() => (firstSettled = true));
    await new Promise((r) => setImmediate(r));
    expect(firstSettled).toBe(true); // the truncation's fsync made everything durable
    wal.append(range(6, 20, () => 2)); // rolls several times
    const second = wal.sync(); // queued behind round 1
    await release(); // round 1 completes on the retired fd
    await release(); // round 2, on the current segment
    await second;
    expect(calls).toBe(2);
    expect(wal.failedWith).toBeUndefined();
    const snapshot = wal.saveSnapshot(21, 2, new Uint8Array([1]));
    await release(); // the snapshot's own fdatasync goes through the same hook
    await snapshot;
    wal.append([entry(21, 2)]);
    const third = wal.sync(); // round 3 on the current segment's fd
    wal.compactThrough(21); // reset: deletes every segment, the current one too
    await release();
    await third;
    const fourth = wal.appendAndSync([entry(22, 3)]);
    await release();
    await fourth;
    expect(calls).toBe(5);
    expect(wal.failedWith).toBeUndefined();
    await wal.close();
    const again = open(dir, SMALL_SEGMENTS);
    again.loadLatestSnapshot();
    expect([again.firstIndex(), again.lastIndex(), again.term(22)]).toEqual([22, 22, 3]);
  });
});

describe('recovery', () => {
  async function writeLog(dir: string, last: number): Promise<LogEntry[]> {
    const wal = open(dir, SMALL_SEGMENTS);
    const all = range(1, last, termOf);
    await wal.appendAndSync(all);
    await wal.close();
    return all;
  }

  it('truncates a torn final write at the last full record and keeps a .corrupt copy', async () => {
    const dir = tmpDir();
    const all = await writeLog(dir, 40);
    const last = path.join(dir, segmentFiles(dir).at(-1)!);
    const offsets = recordOffsets(last);
    const size = fs.statSync(last).size;
    const lastRecord = offsets.at(-1)!;
    const cut = lastRecord + 5; // mid-header of the final record
    fs.truncateSync(last, cut);

    const warnings: string[] = [];
    const wal = open(dir, { ...SMALL_SEGMENTS, warn: (m) => warnings.push(m) });
    expect(wal.lastIndex()).toBe(39);
    expect(wal.recovery.repairedTail).toMatchObject({
      segment: path.basename(last),
      offset: lastRecord,
      removedBytes: 5,
    });
    expect(warnings).toHaveLength(1);
    expect(fs.statSync(last).size).toBe(lastRecord);
    const copy = `${path.basename(last)}.corrupt-1`;
    expect(fs.readdirSync(dir)).toContain(copy);
    expect(fs.statSync(path.join(dir, copy)).size).toBe(5);
    expect(size).toBeGreaterThan(cut);
    expect(plain(wal.entries(1, 40))).toEqual(plain(all.slice(0, 39)));

    // Appending continues at 40 and survives a reopen with no further repair.
    await wal.appendAndSync([entry(40, 9, 20, 1)]);
    await wal.close();
    const again = open(dir, SMALL_SEGMENTS);
    expect(again.recovery.repairedTail).toBeUndefined();
    expect(again.term(40)).toBe(9);
    expect(plain(again.entries(40, 41))).toEqual(plain([entry(40, 9, 20, 1)]));
  });

  it('truncates a torn payload, and numbers a second .corrupt copy after the first', async () => {
    const dir = tmpDir();
    await writeLog(dir, 30);
    const last = path.join(dir, segmentFiles(dir).at(-1)!);
    fs.truncateSync(last, fs.statSync(last).size - 3);
    let wal = open(dir, SMALL_SEGMENTS);
    expect(wal.lastIndex()).toBe(29);
    await wal.close();
    fs.truncateSync(last, fs.statSync(last).size - 1);
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.lastIndex()).toBe(28);
    expect(wal.recovery.repairedTail?.corruptCopy).toBe(`${path.basename(last)}.corrupt-2`);
  });

  it('truncates at a flipped byte in the last record', async () => {
    const dir = tmpDir();
    const all = await writeLog(dir, 40);
    const last = path.join(dir, segmentFiles(dir).at(-1)!);
    const lastRecord = recordOffsets(last).at(-1)!;
    const buf = fs.readFileSync(last);
    buf[lastRecord + RECORD_HEADER_BYTES + 20]! ^= 0x40; // inside the data
    fs.writeFileSync(last, buf);

    const wal = open(dir, SMALL_SEGMENTS);
    expect(wal.lastIndex()).toBe(39);
    expect(wal.recovery.repairedTail?.offset).toBe(lastRecord);
    expect(wal.recovery.repairedTail?.reason).toMatch(/CRC/);
    expect(fs.existsSync(`${last}.corrupt-1`)).toBe(true);
    expect(plain(wal.entries(1, 40))).toEqual(plain(all.slice(0, 39)));
  });

  it('a cut tail leaves the tail-lost marker until clearTailLost(), across reopens', async () => {
    const dir = tmpDir();
    await writeLog(dir, 30);
    let wal = open(dir, SMALL_SEGMENTS);
    expect(wal.recovery.tailLost).toBeUndefined(); // an intact log
    await wal.close();
    const last = path.join(dir, segmentFiles(dir).at(-1)!);
    fs.truncateSync(last, fs.statSync(last).size - 7);
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.recovery.repairedTail).toBeDefined();
    // The cut entry 30 was synced (so perhaps acknowledged): below the sync mark.
    expect(wal.recovery.tailLost).toEqual({ mustReach: 30, term: 0 });
    expect(JSON.parse(fs.readFileSync(path.join(dir, TAIL_LOST_FILE), 'utf8'))).toMatchObject({
      mustReach: 30,
      term: 0,
      segment: path.basename(last),
      removedBytes: expect.any(Number),
    });
    await wal.close();
    // Reopened with nothing left to repair: the marker still says entries may be missing.
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.recovery.repairedTail).toBeUndefined();
    expect(wal.recovery.tailLost).toEqual({ mustReach: 30, term: 0 });
    wal.clearTailLost();
    await wal.close();
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.recovery.tailLost).toBeUndefined();
    await wal.close();
  });

  it('refuses to open when a non-last segment is corrupt, naming the file and offset', async () => {
    const dir = tmpDir();
    await writeLog(dir, 40);
    const name = segmentFiles(dir)[2]!;
    const file = path.join(dir, name);
    const second = recordOffsets(file)[1]!;
    const buf = fs.readFileSync(file);
    buf[second + RECORD_HEADER_BYTES + 3]! ^= 0x01;
    fs.writeFileSync(file, buf);

    let error: unknown;
    try {
      open(dir, SMALL_SEGMENTS);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WalCorruptionError);
    const e = error as WalCorruptionError;
    expect(e.file).toBe(name);
    expect(e.offset).toBe(second);
    expect(e.message).toContain(name);
    expect(e.message).toContain(`offset ${second}`);
    // Nothing was "repaired".
    expect(fs.readdirSync(dir).some((n) => n.includes('.corrupt-'))).toBe(false);
  });

  it('refuses to open when a segment is missing (index gap)', async () => {
    const dir = tmpDir();
    await writeLog(dir, 40);
    const files = segmentFiles(dir);
    fs.unlinkSync(path.join(dir, files[3]!));
    expect(() => open(dir, SMALL_SEGMENTS)).toThrow(new RegExp(`${files[4]!}.*index gap`));
  });

  it('opens an empty last segment (crash right after a roll)', async () => {
    const dir = tmpDir();
    await writeLog(dir, 10);
    fs.writeFileSync(path.join(dir, 'wal-00000000000000000011.log'), new Uint8Array(0));
    const wal = open(dir, SMALL_SEGMENTS);
    expect(wal.lastIndex()).toBe(10);
    await wal.appendAndSync([entry(11, 2)]);
    expect(wal.term(11)).toBe(2);
  });
});

describe('sync mark (real disk)', () => {
  function mark(dir: string): { counter: number; index: number } | string {
    return decodeSyncMark(fs.readFileSync(path.join(dir, SYNCED_FILE)));
  }

  it('is written after each sync round, alternating its two slots, in the documented layout', async () => {
    const dir = tmpDir();
    const wal = open(dir);
    expect(mark(dir)).toEqual({ counter: 0, index: 0 });
    await wal.appendAndSync(range(1, 5, () => 1));
    expect(mark(dir)).toEqual({ counter: 1, index: 5 });
    await wal.appendAndSync(range(6, 7, () => 1));
    expect(mark(dir)).toEqual({ counter: 2, index: 7 });
    const bytes = fs.readFileSync(path.join(dir, SYNCED_FILE));
    expect(bytes.byteLength).toBe(64);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('MBSY');
    expect([bytes.readUInt32LE(8), bytes.readUInt32LE(16), bytes.readUInt32LE(24)]).toEqual([2, 7, 0]); // slot 0: counter 2
    expect([bytes.readUInt32LE(40), bytes.readUInt32LE(48)]).toEqual([1, 5]); // slot 1: counter 1
    // A torn slot leaves the other one: the previous mark.
    bytes[20] = bytes[20]! ^ 0xff;
    expect(decodeSyncMark(bytes)).toEqual({ counter: 1, index: 5 });
  });

  it('(a) a torn write after the last sync is cut without tail-lost', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    await wal.appendAndSync(range(1, 20, termOf));
    wal.append(range(21, 24, termOf));
    await wal.close();
    const last = path.join(dir, segmentFiles(dir).at(-1)!);
    fs.truncateSync(last, fs.statSync(last).size - 5);
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.lastIndex()).toBe(23);
    expect(wal.recovery.repairedTail).toBeDefined();
    expect(wal.recovery.tailLost).toBeUndefined();
    expect(fs.existsSync(path.join(dir, TAIL_LOST_FILE))).toBe(false);
  });

  it('(b) a synced tail bit-flipped at rest marks tail-lost with mustReach = the mark', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    wal.saveHardState({ term: 4, vote: 2, commit: 0 });
    await wal.appendAndSync(range(1, 25, () => 4));
    await wal.close();
    const last = path.join(dir, segmentFiles(dir).at(-1)!);
    const offsets = recordOffsets(last);
    const buf = fs.readFileSync(last);
    buf[offsets.at(-1)! + RECORD_HEADER_BYTES + 3]! ^= 0x08; // in the last (synced) record
    fs.writeFileSync(last, buf);
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.lastIndex()).toBe(24);
    expect(wal.recovery.tailLost).toEqual({ mustReach: 25, term: 4 });
    expect(JSON.parse(fs.readFileSync(path.join(dir, TAIL_LOST_FILE), 'utf8'))).toMatchObject({
      mustReach: 25,
      term: 4,
      offset: offsets.at(-1),
    });
    expect(mark(dir)).toMatchObject({ index: 24 }); // the mark follows the log; the marker keeps the loss
  });

  it('(c) a log cut exactly on a record boundary below the mark marks tail-lost', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    await wal.appendAndSync(range(1, 25, () => 1));
    await wal.close();
    const last = path.join(dir, segmentFiles(dir).at(-1)!);
    fs.truncateSync(last, recordOffsets(last).at(-1)!);
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.lastIndex()).toBe(24);
    expect(wal.recovery.repairedTail).toBeUndefined();
    expect(wal.recovery.tailLost).toEqual({ mustReach: 25, term: 0 });
    await wal.close();
    // A whole last segment gone is the same loss.
    fs.unlinkSync(path.join(dir, segmentFiles(dir).at(-1)!));
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.recovery.tailLost).toEqual({ mustReach: 25, term: 0 });
  });

  it('(d) truncateAfter lowers the mark first; a later torn tail above it is not a loss', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    await wal.appendAndSync(range(1, 30, () => 1));
    expect(mark(dir)).toMatchObject({ index: 30 });
    wal.truncateAfter(12);
    expect(mark(dir)).toMatchObject({ index: 12 });
    wal.append(range(13, 16, () => 2));
    await wal.close();
    const last = path.join(dir, segmentFiles(dir).at(-1)!);
    fs.truncateSync(last, fs.statSync(last).size - 2);
    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.lastIndex()).toBe(15);
    expect(wal.recovery.tailLost).toBeUndefined();
  });
});

describe('truncateAfter', () => {
  it('removes a conflicting suffix across segments; appends continue and survive reopen', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    await wal.appendAndSync(range(1, 50, () => 1));
    const before = segmentFiles(dir);

    wal.truncateAfter(22);
    expect(wal.lastIndex()).toBe(22);
    expect(wal.term(23)).toBeUndefined();
    const after = segmentFiles(dir);
    expect(after.length).toBeLessThan(before.length);
    expect(after).toEqual(before.slice(0, after.length));
    const replacement = range(23, 35, () => 2, 99);
    await wal.appendAndSync(replacement);
    expect(plain(wal.entries(20, 36))).toEqual(plain([...range(20, 22, () => 1), ...replacement]));

    // Within the current segment.
    wal.truncateAfter(34);
    await wal.appendAndSync([entry(35, 3, 10, 5)]);
    await wal.close();

    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.recovery.repairedTail).toBeUndefined();
    expect(wal.lastIndex()).toBe(35);
    expect(plain(wal.entries(1, 36))).toEqual(
      plain([...range(1, 22, () => 1), ...replacement.slice(0, 12), entry(35, 3, 10, 5)]),
    );
    expect([wal.term(22), wal.term(23), wal.term(34), wal.term(35)]).toEqual([1, 2, 2, 3]);
  });

  it('can remove every entry, keeping the first segment so the log still starts there', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    await wal.appendAndSync(range(1, 20, () => 1));
    wal.truncateAfter(0);
    expect([wal.firstIndex(), wal.lastIndex()]).toEqual([1, 0]);
    expect(segmentFiles(dir)).toEqual(['wal-00000000000000000001.log']);
    await wal.close();
    wal = open(dir, SMALL_SEGMENTS);
    expect([wal.firstIndex(), wal.lastIndex()]).toEqual([1, 0]);
    await wal.appendAndSync(range(1, 3, () => 2));
    expect(wal.term(3)).toBe(2);
  });

  it('refuses to remove committed entries', async () => {
    const wal = open(tmpDir());
    await wal.appendAndSync(range(1, 10, () => 1));
    wal.saveHardState({ term: 1, vote: 1, commit: 8 });
    expect(() => wal.truncateAfter(7)).toThrow(/committed/);
    wal.truncateAfter(8);
    expect(wal.lastIndex()).toBe(8);
  });
});

describe('compactThrough', () => {
  it('deletes only whole segments at or below the index, and only behind a snapshot', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    const all = range(1, 50, termOf);
    await wal.appendAndSync(all);
    expect(() => wal.compactThrough(20)).toThrow(/snapshot/);
    await wal.saveSnapshot(20, termOf(20), new Uint8Array([1, 2, 3]));
    expect(() => wal.compactThrough(21)).toThrow(/snapshot/);

    const before = segmentFiles(dir).map((name) => ({ name, first: Number(name.slice(4, 24)) }));
    wal.compactThrough(20);
    // The segment holding 20 survives unless 20 is its last entry; everything before goes.
    const holder = before.filter((s) => s.first <= 20).at(-1)!;
    const next = before.find((s) => s.first > holder.first)!;
    const expectedFirst = next.first === 21 ? 21 : holder.first;
    expect(wal.firstIndex()).toBe(expectedFirst);
    expect(segmentFiles(dir)).toEqual(before.filter((s) => s.first >= expectedFirst).map((s) => s.name));
    expect(wal.term(expectedFirst - 1)).toBeUndefined();
    expect(wal.term(expectedFirst)).toBe(termOf(expectedFirst));
    expect(() => wal.entries(expectedFirst - 1, 30)).toThrow(RangeError);
    expect(plain(wal.entries(expectedFirst, 51))).toEqual(plain(all.slice(expectedFirst - 1)));
    await wal.close();

    wal = open(dir, SMALL_SEGMENTS);
    expect(wal.firstIndex()).toBe(expectedFirst);
    expect(wal.loadLatestSnapshot()?.index).toBe(20);
    expect(plain(wal.entries(expectedFirst, 51))).toEqual(plain(all.slice(expectedFirst - 1)));
  });

  it('restarts an empty log after a snapshot beyond its end (snapshot install)', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    await wal.appendAndSync(range(1, 30, () => 1));
    await wal.saveSnapshot(100, 4, new Uint8Array([9]));
    wal.compactThrough(100);
    expect([wal.firstIndex(), wal.lastIndex()]).toEqual([101, 100]);
    expect(segmentFiles(dir)).toEqual(['wal-00000000000000000101.log']);
    await wal.appendAndSync([entry(101, 4)]);
    await wal.close();
    wal = open(dir, SMALL_SEGMENTS);
    expect([wal.firstIndex(), wal.lastIndex(), wal.term(101)]).toEqual([101, 101, 4]);
  });
});

describe('hard state', () => {
  it('round-trips through a reopen', async () => {
    const dir = tmpDir();
    let wal = open(dir);
    expect(wal.loadHardState()).toBeUndefined();
    wal.saveHardState({ term: 3, vote: 0, commit: 0 });
    // The Raft core's HardState type goes in and comes out as is (the typecheck guards drift).
    const fromRaft: RaftHardState = { term: 3, vote: 2, commit: 7 };
    wal.saveHardState(fromRaft);
    const back: RaftHardState | undefined = wal.loadHardState();
    expect(back).toEqual({ term: 3, vote: 2, commit: 7 });
    await wal.close();
    wal = open(dir);
    expect(wal.loadHardState()).toEqual({ term: 3, vote: 2, commit: 7 });
    // Raft safety: no lower term, no second vote in a term, no lower commit.
    expect(() => wal.saveHardState({ term: 2, vote: 0, commit: 7 })).toThrow(RangeError);
    expect(() => wal.saveHardState({ term: 3, vote: 3, commit: 7 })).toThrow(RangeError);
    expect(() => wal.saveHardState({ term: 3, vote: 2, commit: 6 })).toThrow(RangeError);
    wal.saveHardState({ term: 4, vote: 3, commit: 9 });
    expect(wal.loadHardState()).toEqual({ term: 4, vote: 3, commit: 9 });
  });

  it('a corrupt temp file from an interrupted save does not replace the good one', async () => {
    const dir = tmpDir();
    let wal = open(dir);
    wal.saveHardState({ term: 5, vote: 4, commit: 2 });
    await wal.close();
    fs.writeFileSync(path.join(dir, 'hardstate.tmp'), Buffer.from('garbage, half written'));
    wal = open(dir);
    expect(wal.recovery.removedTempFiles).toEqual(['hardstate.tmp']);
    expect(fs.existsSync(path.join(dir, 'hardstate.tmp'))).toBe(false);
    expect(wal.loadHardState()).toEqual({ term: 5, vote: 4, commit: 2 });
  });

  it('a corrupt hard-state file refuses to open (the vote is never guessed)', async () => {
    const dir = tmpDir();
    const wal = open(dir);
    wal.saveHardState({ term: 5, vote: 4, commit: 2 });
    await wal.close();
    const file = path.join(dir, 'hardstate');
    const buf = fs.readFileSync(file);
    buf[9]! ^= 0xff;
    fs.writeFileSync(file, buf);
    expect(() => open(dir)).toThrow(WalCorruptionError);
  });
});

describe('snapshots', () => {
  it('round-trips, keeps the newest two, and falls back when the newest is corrupt', async () => {
    const dir = tmpDir();
    const warnings: string[] = [];
    let wal = open(dir, { warn: (m) => warnings.push(m) });
    expect(wal.loadLatestSnapshot()).toBeUndefined();
    const payload = (n: number): Uint8Array => Uint8Array.from({ length: 3000 + n }, (_, i) => (i * n) & 0xff);
    await wal.saveSnapshot(10, 1, payload(1));
    await wal.saveSnapshot(20, 2, payload(2));
    await wal.saveSnapshot(30, 2, payload(3));
    expect(
      fs
        .readdirSync(dir)
        .filter((n) => n.endsWith('.snap'))
        .sort(),
    ).toEqual(['snap-00000000000000000020.snap', 'snap-00000000000000000030.snap']);
    let latest = wal.loadLatestSnapshot();
    expect(latest?.index).toBe(30);
    expect(latest?.term).toBe(2);
    expect(Array.from(latest!.bytes)).toEqual(Array.from(payload(3)));
    await wal.close();

    const newest = path.join(dir, 'snap-00000000000000000030.snap');
    const buf = fs.readFileSync(newest);
    buf[100]! ^= 0x10;
    fs.writeFileSync(newest, buf);
    wal = open(dir, { warn: (m) => warnings.push(m) });
    latest = wal.loadLatestSnapshot();
    expect(latest?.index).toBe(20);
    expect(Array.from(latest!.bytes)).toEqual(Array.from(payload(2)));
    expect(warnings.some((w) => w.includes('snap-00000000000000000030.snap') && w.includes('CRC'))).toBe(true);
    expect(fs.existsSync(newest)).toBe(true); // kept for inspection
  });

  it('saves in deferred steps (several CRC and write chunks), an empty snapshot too, one save at a time in call order', async () => {
    const dir = tmpDir();
    let wal = open(dir);
    const big = new Uint8Array(2 * SNAPSHOT_WRITE_CHUNK_BYTES + 12345);
    for (let i = 0; i < big.length; i += 4099) big[i] = (i / 4099) & 0xff;
    const order: number[] = [];
    const saves = [
      wal.saveSnapshot(3, 1, new Uint8Array(0)).then(() => order.push(3)),
      wal.saveSnapshot(7, 1, big).then(() => order.push(7)),
    ];
    let callbackRan = false;
    wal.saveSnapshotThen(8, 2, new Uint8Array([8]), (err) => {
      expect(err).toBeUndefined();
      callbackRan = true;
      order.push(8);
    });
    expect(callbackRan).toBe(false); // never synchronously
    await Promise.all(saves);
    await new Promise<void>((resolve) => {
      const poll = (): void => (callbackRan ? resolve() : void setImmediate(poll));
      poll();
    });
    expect(order).toEqual([3, 7, 8]);
    await wal.close();
    fs.rmSync(path.join(dir, 'snap-00000000000000000008.snap'));
    wal = open(dir);
    const snap = wal.loadLatestSnapshot();
    expect(snap?.index).toBe(7);
    expect(Buffer.from(snap!.bytes).equals(Buffer.from(big))).toBe(true);
  });

  it('refuses a snapshot that leaves a gap before the log', async () => {
    const dir = tmpDir();
    let wal = open(dir, SMALL_SEGMENTS);
    await wal.appendAndSync(range(1, 40, () => 1));
    await wal.saveSnapshot(10, 1, new Uint8Array([1]));
    await wal.saveSnapshot(30, 1, new Uint8Array([2]));
    wal.compactThrough(30); // through the newest: the older one no longer meets the log
    await wal.close();
    const newest = path.join(dir, 'snap-00000000000000000030.snap');
    fs.truncateSync(newest, 10);
    wal = open(dir, SMALL_SEGMENTS);
    expect(() => wal.loadLatestSnapshot()).toThrow(WalCorruptionError);
  });
});

describe('limits', () => {
  it('refuses a record over RECORD_BYTES_MAX and stays usable', async () => {
    const dir = tmpDir();
    const wal = open(dir);
    await wal.appendAndSync([entry(1, 1)]);
    const big = { index: 2, term: 1, data: new Uint8Array(ENTRY_DATA_BYTES_MAX + 1) };
    expect(() => wal.append([big])).toThrow(/RECORD_BYTES_MAX/);
    await expect(wal.appendAndSync([entry(2, 1), { ...big, index: 3 }])).rejects.toThrow(/RECORD_BYTES_MAX/);
    expect(wal.lastIndex()).toBe(1);
    expect(fs.statSync(path.join(dir, segmentFiles(dir)[0]!)).size).toBe(
      RECORD_HEADER_BYTES + 16 + entry(1, 1).data.byteLength,
    );
    const largest = { index: 2, term: 1, data: new Uint8Array(ENTRY_DATA_BYTES_MAX).fill(7) };
    await wal.appendAndSync([largest]);
    expect(wal.entries(2, 3)[0]!.data.byteLength).toBe(ENTRY_DATA_BYTES_MAX);
  });
});

describe('failed state', () => {
  const eio = (): Error => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });

  it('an fdatasync error fails the WAL for good: every later call throws', async () => {
    let failNext = false;
    const dir = tmpDir();
    const wal = open(dir, {
      fs: {
        ...nodeFs,
        fdatasync: (fd, done) => {
          if (failNext) setImmediate(() => done(eio()));
          else nodeFs.fdatasync(fd, done);
        },
      },
    });
    await wal.appendAndSync([entry(1, 1)]);
    wal.saveHardState({ term: 1, vote: 0, commit: 0 });
    failNext = true;
    wal.append([entry(2, 1)]);
    const a = wal.sync();
    wal.append([entry(3, 1)]);
    const b = wal.sync(); // waits for the next round, rejected with the first
    await expect(a).rejects.toBeInstanceOf(WalFailedError);
    await expect(b).rejects.toBeInstanceOf(WalFailedError);
    expect(wal.failedWith?.cause).toMatchObject({ code: 'EIO' });

    failNext = false; // the disk "recovers": the WAL must still refuse (no retry)
    await expect(wal.sync()).rejects.toBeInstanceOf(WalFailedError);
    await expect(wal.appendAndSync([entry(4, 1)])).rejects.toBeInstanceOf(WalFailedError);
    await expect(wal.saveSnapshot(1, 1, new Uint8Array(1))).rejects.toBeInstanceOf(WalFailedError);
    const calls: (() => unknown)[] = [
      () => wal.append([entry(4, 1)]),
      () => wal.entries(1, 2),
      () => wal.term(1),
      () => wal.firstIndex(),
      () => wal.lastIndex(),
      () => wal.truncateAfter(1),
      () => wal.compactThrough(1),
      () => wal.loadHardState(),
      () => wal.saveHardState({ term: 2, vote: 0, commit: 0 }),
      () => wal.loadLatestSnapshot(),
    ];
    for (const call of calls) expect(call).toThrow(WalFailedError);
    await wal.close(); // releases the files without throwing
  });

  it('a write error in append fails the WAL', async () => {
    let fail = false;
    const wal = open(tmpDir(), {
      fs: {
        ...nodeFs,
        write: (fd, buf, offset, length, position) => {
          if (fail) throw eio();
          return nodeFs.write(fd, buf, offset, length, position);
        },
      },
    });
    await wal.appendAndSync([entry(1, 1)]);
    fail = true;
    expect(() => wal.append([entry(2, 1)])).toThrow(WalFailedError);
    fail = false;
    expect(() => wal.append([entry(2, 1)])).toThrow(WalFailedError);
    await expect(wal.sync()).rejects.toBeInstanceOf(WalFailedError);
  });

  it('an fsync error while saving the hard state fails the WAL and keeps the old file', async () => {
    let fail = false;
    const dir = tmpDir();
    const wal = open(dir, {
      fs: {
        ...nodeFs,
        fsync: (fd) => {
          if (fail) throw eio();
          nodeFs.fsync(fd);
        },
      },
    });
    wal.saveHardState({ term: 1, vote: 5, commit: 0 });
    fail = true;
    expect(() => wal.saveHardState({ term: 2, vote: 6, commit: 0 })).toThrow(WalFailedError);
    expect(() => wal.loadHardState()).toThrow(WalFailedError);
    await wal.close();
    const again = open(dir);
    expect(again.loadHardState()).toEqual({ term: 1, vote: 5, commit: 0 });
  });
});

describe('model check', () => {
  type Op =
    | { kind: 'append'; sizes: number[]; termBump: number }
    | { kind: 'truncate'; back: number }
    | { kind: 'sync' }
    | { kind: 'reopen' }
    | { kind: 'compact'; back: number };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('append' as const),
        sizes: fc.array(fc.integer({ min: 0, max: 90 }), { minLength: 1, maxLength: 12 }),
        termBump: fc.integer({ min: 0, max: 2 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('truncate' as const), back: fc.integer({ min: 0, max: 15 }) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('sync' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.integer({ min: 0, max: 20 }) }),
    },
  );

  it('matches an in-memory log through appends, truncations, compactions and reopens', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 120, max: 900 }),
        fc.integer({ min: 0, max: 2000 }),
        async (ops, segmentBytesMax, cacheBytes) => {
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'matchbook-wal-model-'));
          const options: WalOptions = { segmentBytesMax, tailCacheBytesMax: cacheBytes, warn: () => undefined };
          let wal = Wal.open(dir, options);
          try {
            let model: LogEntry[] = []; // model[i] has index first + i
            let first = 1;
            let term = 1;
            let salt = 0;
            let snapshot = 0; // snapshots never go back
            for (const op of ops) {
              const last = first + model.length - 1;
              if (op.kind === 'append') {
                term += op.termBump;
                const batch = op.sizes.map((size, i) => entry(last + 1 + i, term, size, ++salt));
                wal.append(batch);
                model.push(...batch);
              } else if (op.kind === 'truncate') {
                const to = Math.max(first - 1, last - op.back);
                wal.truncateAfter(to);
                model = model.slice(0, to - first + 1);
              } else if (op.kind === 'sync') {
                await wal.sync();
              } else if (op.kind === 'reopen') {
                await wal.sync();
                await wal.close();
                wal = Wal.open(dir, options);
              } else {
                const through = Math.max(snapshot, last - op.back);
                snapshot = through;
                await wal.saveSnapshot(through, 1, new Uint8Array([1]));
                wal.compactThrough(through);
                const newFirst = wal.firstIndex();
                expect(newFirst).toBeLessThanOrEqual(Math.max(through + 1, first));
                if (through >= last) {
                  model = [];
                  first = through + 1;
                } else {
                  model = model.slice(newFirst - first);
                  first = newFirst;
                }
              }
              expect(wal.firstIndex()).toBe(first);
              expect(wal.lastIndex()).toBe(first + model.length - 1);
            }
            const lastIndex = first + model.length - 1;
            expect(plain(wal.entries(first, lastIndex + 1))).toEqual(plain(model));
            for (const e of model) expect(wal.term(e.index)).toBe(e.term);
            await wal.sync();
            await wal.close();
            wal = Wal.open(dir, options);
            expect(wal.recovery.repairedTail).toBeUndefined();
            expect([wal.firstIndex(), wal.lastIndex()]).toEqual([first, lastIndex]);
            expect(plain(wal.entries(first, lastIndex + 1))).toEqual(plain(model));
          } finally {
            await wal.close();
            fs.rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 40, seed: 20240611 },
    );
  });
});

describe('crash model', () => {
  it('after a torn or garbled unsynced tail, recovery keeps every synced entry and a prefix of the rest', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        async (synced, unsynced, where, flip) => {
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'matchbook-wal-crash-'));
          const options: WalOptions = { segmentBytesMax: 300, warn: () => undefined };
          try {
            const all = range(1, synced + unsynced, termOf);
            let wal = Wal.open(dir, options);
            await wal.appendAndSync(all.slice(0, synced));
            const atSync = segmentFiles(dir).at(-1);
            const sizeAtSync = atSync === undefined ? 0 : fs.statSync(path.join(dir, atSync)).size;
            wal.append(all.slice(synced));
            await wal.close(); // no sync: the crash below only touches bytes written since
            const lastName = segmentFiles(dir).at(-1)!;
            const last = path.join(dir, lastName);
            const size = fs.statSync(last).size;
            const from = lastName === atSync ? sizeAtSync : 0;
            const at = from + Math.floor(where * (size - from));
            if (flip && at < size) {
              const buf = fs.readFileSync(last);
              buf[at]! ^= 0x20;
              fs.writeFileSync(last, buf);
            } else {
              fs.truncateSync(last, at);
            }
            wal = Wal.open(dir, options);
            const n = wal.lastIndex();
            expect(n).toBeGreaterThanOrEqual(synced);
            expect(n).toBeLessThanOrEqual(synced + unsynced);
            // Only bytes written after the last sync were damaged: a torn write, nothing acknowledged lost.
            expect(wal.recovery.tailLost).toBeUndefined();
            expect(plain(wal.entries(1, n + 1))).toEqual(plain(all.slice(0, n)));
            await wal.appendAndSync([entry(n + 1, 99)]);
            await wal.close();
            wal = Wal.open(dir, options);
            expect(wal.recovery.repairedTail).toBeUndefined();
            expect(wal.term(n + 1)).toBe(99);
            await wal.close();
          } finally {
            fs.rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 60, seed: 424242 },
    );
  });
});

describe('WAL entry types', () => {
  it('stores the Raft entry type and reads it back after reopen', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { Wal } = await import('../../replicator/wal/wal.js');
    const dir = mkdtempSync(join(tmpdir(), 'wal-types-'));
    try {
      const wal = Wal.open(dir, { tailCacheBytesMax: 0 });
      await wal.appendAndSync([
        { index: 1, term: 1, type: 2, data: new Uint8Array(0) },
        { index: 2, term: 1, type: 1, data: new Uint8Array([1]) },
        { index: 3, term: 1, type: 3, data: new Uint8Array([3, 3]) },
      ]);
      expect(() => wal.append([{ index: 4, term: 1, type: 9, data: new Uint8Array(0) }])).toThrow(RangeError);
      const cached = Wal.open(join(dir, 'cached'));
      await cached.appendAndSync([{ index: 1, term: 1, type: 3, data: new Uint8Array(0) }]);
      expect(cached.entries(1, 2)[0]!.type).toBe(3); // served from the tail cache
      await cached.close();
      await wal.close();
      const again = Wal.open(dir, { tailCacheBytesMax: 0 });
      expect(again.entries(1, 4).map((e) => e.type)).toEqual([2, 1, 3]);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
