// The production Wal on SimFs (replicator/sim/sim-fs.ts): process kills at any file-system call
// and power cuts at any point, with the sync mark telling a torn, never-acknowledged tail from
// lost acknowledged entries. Everything runs synchronously from one seed: the file system's
// completions (fdatasync, defer) are run by the test, in a random order.
//
//   (a) a power cut during unsynced appends: the tail is cut (torn write), never `tail-lost`;
//   (b) a synced tail truncated or bit-flipped at rest: `tail-lost`, mustReach = the mark;
//   (c) a log cut exactly on a record boundary below the mark: `tail-lost` (undetectable before);
//   (d) truncateAfter lowers the mark durably;
//   a snapshot save killed between any two of its steps leaves the old snapshot or the new one;
//   and a random workload (appends, syncs, truncations, snapshots, compactions) killed or
//   power-cut at random points: no acknowledged entry is ever lost, every entry recovered is
//   one written, and without damage at rest recovery never reports `tail-lost`.

import { describe, expect, it } from 'vitest';
import { Prng } from '../../replicator/prng.js';
import { SimFs, isSimCrash } from '../../replicator/sim/sim-fs.js';
import { decodeSyncMark } from '../../replicator/wal/sync-mark.js';
import {
  RECORD_HEADER_BYTES,
  SYNCED_FILE,
  TAIL_LOST_FILE,
  Wal,
  type LogEntry,
  type WalOptions,
} from '../../replicator/wal/wal.js';

const DIR = '/data/node-1';
const SEGMENT_BYTES = 300;
/** Completions run per drain at most: a Wal that keeps scheduling work forever is a bug. */
const DRAIN_STEPS_MAX = 100_000;

class Machine {
  readonly queue: (() => void)[] = [];
  readonly fs: SimFs;
  readonly rng: Prng;
  warnings: string[] = [];

  constructor(seed: number) {
    this.rng = new Prng(seed);
    this.fs = new SimFs({ prng: this.rng.fork(1), schedule: (run) => this.queue.push(run), shortWriteP: 0.05 });
  }

  open(options: WalOptions = {}): Wal {
    this.warnings = [];
    return Wal.open(DIR, {
      fs: this.fs,
      segmentBytesMax: SEGMENT_BYTES,
      warn: (m) => this.warnings.push(m),
      ...options,
    });
  }

  /** Runs one pending completion, picked at random. */
  step(): void {
    const i = this.rng.int(this.queue.length);
    const [run] = this.queue.splice(i, 1);
    run!();
  }

  drain(): void {
    for (let n = 0; this.queue.length > 0; n++) {
      if (n > DRAIN_STEPS_MAX) throw new Error('completions never end');
      this.step();
    }
  }

  /** The mark in the page cache, or on disk (what a power cut losing every unsynced write leaves). */
  mark(where: 'cache' | 'durable' = 'cache'): number | undefined {
    const bytes =
      where === 'cache' ? this.fs.readFile(`${DIR}/${SYNCED_FILE}`) : this.fs.durableBytes(`${DIR}/${SYNCED_FILE}`);
    if (bytes === undefined) return undefined;
    const m = decodeSyncMark(bytes);
    return typeof m === 'string' ? undefined : m.index;
  }

  lastSegment(): string {
    const names = this.fs.files(DIR).filter((n) => /^wal-\d{20}\.log$/.test(n));
    return `${DIR}/${names[names.length - 1]!}`;
  }
}

function entry(index: number, term: number, salt = 0): LogEntry {
  const data = new Uint8Array(10 + ((index * 7 + salt) % 30));
  for (let i = 0; i < data.length; i++) data[i] = (index * 31 + term * 7 + salt * 13 + i) & 0xff;
  return { index, term, data };
}

const key = (e: LogEntry): string => `${e.index}/${e.term}/${Array.from(e.data).join('.')}`;

/** Appends and syncs through the callback API, running completions until the sync is done. */
function appendAndSync(m: Machine, wal: Wal, entries: LogEntry[]): void {
  wal.append(entries);
  let done = false;
  wal.syncThen((err) => {
    expect(err).toBeUndefined();
    done = true;
  });
  while (!done) m.step();
}

function recordOffsets(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let at = 0; at + RECORD_HEADER_BYTES <= bytes.byteLength; at += RECORD_HEADER_BYTES + view.getUint32(at, true))
    out.push(at);
  return out;
}

describe('sync mark on SimFs', () => {
  it('is written after the fdatasync and before the sync completes, so no acknowledgement precedes it', () => {
    const m = new Machine(1);
    const wal = m.open();
    expect(m.mark()).toBe(0);
    wal.append([entry(1, 1), entry(2, 1)]);
    let seenAtDone: number | undefined;
    wal.syncThen(() => (seenAtDone = m.mark()));
    wal.append([entry(3, 1)]); // rides the next round
    let seenLater: number | undefined;
    wal.syncThen(() => (seenLater = m.mark()));
    m.drain();
    expect(seenAtDone).toBeGreaterThanOrEqual(2);
    expect(seenLater).toBe(3);
    // Nothing to sync: still called, later, never from inside syncThen.
    let called = false;
    wal.syncThen(() => (called = true));
    expect(called).toBe(false);
    m.drain();
    expect(called).toBe(true);
  });

  it('(a) a power cut during unsynced appends cuts a torn tail but never marks tail-lost', () => {
    let torn = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const m = new Machine(seed);
      let wal = m.open();
      const synced = Array.from({ length: 12 }, (_, k) => entry(k + 1, 1));
      appendAndSync(m, wal, synced);
      const unsynced = Array.from({ length: 10 }, (_, k) => entry(k + 13, 2));
      for (let k = 0; k < unsynced.length; k += 3) wal.append(unsynced.slice(k, k + 3));
      m.fs.powerLoss();
      wal = m.open();
      expect(wal.recovery.tailLost, `seed ${seed}`).toBeUndefined();
      const last = wal.lastIndex();
      expect(last).toBeGreaterThanOrEqual(12);
      expect(wal.entries(1, last + 1).map(key)).toEqual([...synced, ...unsynced].slice(0, last).map(key));
      if (wal.recovery.repairedTail !== undefined) {
        torn++;
        expect(m.warnings.join('\n')).toMatch(/torn write never synced/);
      }
      expect(m.fs.exists(`${DIR}/${TAIL_LOST_FILE}`)).toBe(false);
      // The recovered log is durable and marked: another power cut keeps all of it.
      m.fs.powerLoss();
      wal = m.open();
      expect([wal.lastIndex(), wal.recovery.tailLost, wal.recovery.repairedTail]).toEqual([last, undefined, undefined]);
    }
    expect(torn).toBeGreaterThan(5);
  });

  it('(b) a synced tail truncated or bit-flipped at rest marks tail-lost, mustReach = the mark', () => {
    for (const damage of ['truncate', 'flip'] as const) {
      const m = new Machine(2);
      let wal = m.open();
      wal.saveHardState({ term: 3, vote: 1, commit: 0 });
      appendAndSync(
        m,
        wal,
        Array.from({ length: 20 }, (_, k) => entry(k + 1, 3)),
      );
      expect(m.mark()).toBe(20);
      m.fs.crash();
      const file = m.lastSegment();
      const offsets = recordOffsets(m.fs.readFile(file));
      const lastRecord = offsets[offsets.length - 1]!;
      if (damage === 'truncate') m.fs.truncate(file, lastRecord + 4);
      else m.fs.corrupt(file, lastRecord + RECORD_HEADER_BYTES + 2, 1);
      wal = m.open();
      expect(wal.lastIndex()).toBe(19);
      expect(wal.recovery.repairedTail?.offset).toBe(lastRecord);
      expect(wal.recovery.tailLost).toEqual({ mustReach: 20, term: 3 });
      const marker = JSON.parse(new TextDecoder().decode(m.fs.readFile(`${DIR}/${TAIL_LOST_FILE}`))) as Record<
        string,
        unknown
      >;
      expect(marker).toMatchObject({ mustReach: 20, term: 3, offset: lastRecord });
      // The mark follows the log again; the marker alone remembers the loss.
      expect(m.mark('durable')).toBe(19);
      m.fs.powerLoss();
      wal = m.open();
      expect(wal.recovery.tailLost).toEqual({ mustReach: 20, term: 3 });
      wal.clearTailLost();
      m.fs.powerLoss();
      expect(m.open().recovery.tailLost).toBeUndefined();
    }
  });

  it('(c) a log cut exactly on a record boundary below the mark marks tail-lost', () => {
    const m = new Machine(3);
    let wal = m.open();
    appendAndSync(
      m,
      wal,
      Array.from({ length: 20 }, (_, k) => entry(k + 1, 1)),
    );
    m.fs.crash();
    const file = m.lastSegment();
    const offsets = recordOffsets(m.fs.readFile(file));
    m.fs.truncate(file, offsets[offsets.length - 2]!); // the last two records, exactly
    wal = m.open();
    expect(wal.lastIndex()).toBe(18);
    expect(wal.recovery.repairedTail).toBeUndefined(); // nothing damaged to see
    expect(wal.recovery.tailLost).toEqual({ mustReach: 20, term: 0 });
    expect(m.warnings.join('\n')).toMatch(/ends at entry 18, below the sync mark 20/);
    // A second loss before catching up combines with the first.
    appendAndSync(m, wal, [entry(19, 2)]);
    m.fs.crash();
    m.fs.truncate(m.lastSegment(), 0);
    wal = m.open();
    expect(wal.recovery.tailLost?.mustReach).toBe(20);
  });

  it('(d) truncateAfter lowers the mark durably before removing anything', () => {
    const m = new Machine(4);
    let wal = m.open();
    appendAndSync(
      m,
      wal,
      Array.from({ length: 30 }, (_, k) => entry(k + 1, 1)),
    );
    expect(m.mark()).toBe(30);
    wal.truncateAfter(17);
    expect(m.mark('durable')).toBe(17);
    // New entries above, never synced, lost in a power cut: a torn write, nothing acknowledged lost.
    wal.append([entry(18, 2), entry(19, 2)]);
    m.fs.powerLoss();
    wal = m.open();
    expect(wal.recovery.tailLost).toBeUndefined();
    expect(wal.lastIndex()).toBeGreaterThanOrEqual(17);
    // A truncation below an unsynced mark raises it once everything up to the index is durable.
    appendAndSync(m, wal, [entry(wal.lastIndex() + 1, 3)]);
    const synced = wal.lastIndex();
    wal.append([entry(synced + 1, 3), entry(synced + 2, 3), entry(synced + 3, 3)]);
    wal.truncateAfter(synced + 2);
    expect(m.mark()).toBe(synced + 2);
  });

  it('a sync in flight during a truncation does not raise the mark past the truncation', () => {
    const m = new Machine(5);
    const wal = m.open();
    appendAndSync(m, wal, [entry(1, 1), entry(2, 1)]);
    wal.append([entry(3, 1), entry(4, 1), entry(5, 1)]);
    let done = false;
    wal.syncThen(() => (done = true)); // round covering 5 in flight
    wal.truncateAfter(3);
    m.drain();
    expect(done).toBe(true);
    expect(m.mark()).toBe(3);
    expect(wal.lastIndex()).toBe(3);
  });

  it('compaction to an empty log (snapshot install) moves the mark to the snapshot', () => {
    const m = new Machine(6);
    let wal = m.open();
    appendAndSync(
      m,
      wal,
      Array.from({ length: 10 }, (_, k) => entry(k + 1, 1)),
    );
    wal.append([entry(11, 1)]);
    let saved = false;
    wal.saveSnapshotThen(50, 2, new Uint8Array([1, 2, 3]), (err) => {
      expect(err).toBeUndefined();
      saved = true;
    });
    m.drain();
    expect(saved).toBe(true);
    wal.compactThrough(50);
    expect(m.mark()).toBe(50);
    m.fs.powerLoss();
    wal = m.open();
    expect(wal.recovery.tailLost).toBeUndefined();
    expect(wal.loadLatestSnapshot()?.index).toBe(50);
    expect([wal.firstIndex(), wal.lastIndex()]).toEqual([51, 50]);
  });

  it('an old directory without a sync mark: a cut tail counts as lost (unknown), an intact one does not', () => {
    const m = new Machine(7);
    let wal = m.open();
    appendAndSync(
      m,
      wal,
      Array.from({ length: 8 }, (_, k) => entry(k + 1, 1)),
    );
    m.fs.crash();
    m.fs.unlink(`${DIR}/${SYNCED_FILE}`);
    wal = m.open();
    expect(wal.recovery.tailLost).toBeUndefined();
    expect(m.mark()).toBe(8); // written again at open
    m.fs.crash();
    m.fs.unlink(`${DIR}/${SYNCED_FILE}`);
    m.fs.truncate(m.lastSegment(), m.fs.size(m.lastSegment()) - 3);
    wal = m.open();
    expect(wal.recovery.tailLost).toEqual({ mustReach: undefined, term: 0 });
    expect(JSON.parse(new TextDecoder().decode(m.fs.readFile(`${DIR}/${TAIL_LOST_FILE}`)))).toMatchObject({
      mustReach: null,
    });
  });

  it('a kill at any file-system call of a roll, a truncation or a compaction, a restart, then a power cut: nothing acknowledged is lost', () => {
    // What a killed process left in the page cache only (a segment created or deleted but not
    // yet in a durable directory, a truncation not fsynced) must not come back, or go, at a
    // later power cut: the restarted host takes the recovered log as durable and acknowledges it.
    /** Power cuts tried per kill point: each keeps a random prefix of the unsynced changes. */
    const SEEDS_PER_POINT = 6;
    for (const op of ['roll', 'truncate', 'compact'] as const) {
      let kills = 0;
      for (let run = 0; ; run++) {
        const afterOps = Math.floor(run / SEEDS_PER_POINT);
        const m = new Machine(1000 + run);
        let wal = m.open();
        appendAndSync(
          m,
          wal,
          Array.from({ length: 20 }, (_, k) => entry(k + 1, 1)),
        );
        let saved = false;
        wal.saveSnapshotThen(12, 1, new Uint8Array([1]), () => (saved = true));
        m.drain();
        expect(saved).toBe(true);
        m.fs.armCrash(afterOps);
        try {
          if (op === 'roll') {
            wal.append(Array.from({ length: 10 }, (_, k) => entry(k + 21, 2)));
            wal.syncThen(() => undefined);
            m.drain();
          } else if (op === 'truncate') wal.truncateAfter(7);
          else wal.compactThrough(12);
        } catch (err) {
          if (!isSimCrash(err)) throw err;
        }
        const killed = m.fs.killed;
        m.fs.crash();
        if (killed) kills++;
        wal = m.open();
        wal.loadLatestSnapshot();
        const last = wal.lastIndex();
        const more = [entry(last + 1, 3), entry(last + 2, 3)];
        appendAndSync(m, wal, more); // acknowledged, with everything recovered before them
        m.fs.powerLoss();
        wal = m.open();
        wal.loadLatestSnapshot();
        const what = `${op}, killed after ${afterOps} calls`;
        expect(wal.recovery.tailLost, what).toBeUndefined();
        expect(wal.lastIndex(), what).toBe(last + 2);
        expect(wal.entries(last + 1, last + 3).map(key), what).toEqual(more.map(key));
        if (!killed && run % SEEDS_PER_POINT === SEEDS_PER_POINT - 1) break;
      }
      expect(kills, op).toBeGreaterThan(3 * SEEDS_PER_POINT);
    }
  });

  it('a snapshot save killed between any two of its steps leaves the old snapshot or the new one', () => {
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    let stoppedAt = 0;
    for (let afterOps = 0; ; afterOps++) {
      const m = new Machine(100 + afterOps);
      let wal = m.open();
      let ok = false;
      wal.saveSnapshotThen(5, 1, new Uint8Array([9]), () => (ok = true));
      m.drain();
      expect(ok).toBe(true);
      let result: Error | undefined | 'pending' = 'pending';
      m.fs.armCrash(afterOps);
      wal.saveSnapshotThen(9, 2, bytes, (err) => (result = err));
      m.drain();
      const killed = m.fs.killed;
      if (!killed) expect(result).toBeUndefined();
      m.fs.crash(); // also disarms a crash the save did not reach
      if (m.rng.chance(0.5)) m.fs.powerLoss();
      wal = m.open();
      const snap = wal.loadLatestSnapshot();
      expect([5, 9]).toContain(snap?.index);
      if (snap?.index === 9) expect(Array.from(snap.bytes)).toEqual(Array.from(bytes));
      if (!killed) break; // the save ran to its end before the armed crash
      stoppedAt++;
    }
    expect(stoppedAt).toBeGreaterThan(6);
  });
});

describe('random workload on SimFs with kills and power cuts', () => {
  type Model = Map<number, string>;

  it('keeps every acknowledged entry, recovers only written entries, and never marks tail-lost without damage', () => {
    // FUZZ_RUNS_SCALE=10 for a longer run (as the fuzz suites); a failure names its seed.
    const SEEDS = Math.max(1, Math.round(40 * Number(process.env.FUZZ_RUNS_SCALE ?? 1)));
    const STEPS = 400;
    let kills = 0;
    let powerCuts = 0;
    let tornTails = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const m = new Machine(seed);
      const rng = m.rng.fork(2);
      let wal = m.open();
      wal.loadLatestSnapshot();
      /** The log as the host wrote it (index → entry), and as it was before a truncation in progress. */
      let model: Model = new Map();
      let before: Model | undefined;
      /** Every entry up to here in the current log was acknowledged (a sync completed, or recovery gave it). */
      let acked = 0;
      let term = 1;
      let salt = 0;
      let snapshot = 0;
      /** Index of the snapshot being saved, if any: truncations stay above it, as Raft's do (it is committed). */
      let saving: number | undefined;
      /** Syncs not completed yet, with the last index each covers (lowered by truncations since). */
      let syncs: { covers: number }[] = [];

      const check = (what: string): void => {
        const first = wal.firstIndex();
        const last = wal.lastIndex();
        expect(wal.recovery.tailLost, `seed ${seed} ${what}: tail-lost without damage`).toBeUndefined();
        expect(last, `seed ${seed} ${what}: acknowledged entries lost`).toBeGreaterThanOrEqual(acked);
        for (const e of last >= first ? wal.entries(first, last + 1) : []) {
          const k = key(e);
          expect(
            k === model.get(e.index) || k === before?.get(e.index),
            `seed ${seed} ${what}: entry ${e.index} is not one written`,
          ).toBe(true);
        }
        // From here the recovered log is the host's log, all of it durable (the Wal fsynced it).
        const next: Model = new Map();
        for (const e of last >= first ? wal.entries(first, last + 1) : []) next.set(e.index, key(e));
        model = next;
        before = undefined;
        acked = last;
      };

      const restart = (how: 'kill' | 'power'): void => {
        m.fs.crash();
        if (how === 'power') {
          m.fs.powerLoss();
          powerCuts++;
        } else kills++;
        m.queue.length = 0; // dropped anyway; keeps the queue short
        wal = m.open();
        if (wal.recovery.repairedTail) tornTails++;
        const snap = wal.loadLatestSnapshot();
        if (snap !== undefined && wal.lastIndex() < snap.index) wal.compactThrough(snap.index);
        snapshot = snap?.index ?? 0;
        saving = undefined;
        syncs = [];
        check(how);
      };

      for (let step = 0; step < STEPS; step++) {
        if (!m.fs.killed && rng.chance(0.03)) m.fs.armCrash(rng.int(12));
        try {
          const r = rng.int(100);
          const last = wal.lastIndex();
          if (r < 35) {
            if (rng.chance(0.1)) term++;
            const batch = Array.from({ length: 1 + rng.int(6) }, (_, k) => entry(last + 1 + k, term, ++salt));
            for (const e of batch) model.set(e.index, key(e));
            wal.append(batch);
          } else if (r < 55) {
            const sync = { covers: wal.lastIndex() };
            syncs.push(sync);
            wal.syncThen((err) => {
              syncs = syncs.filter((x) => x !== sync);
              if (err === undefined) acked = Math.max(acked, sync.covers);
            });
          } else if (r < 62) {
            const to = Math.max(wal.firstIndex() - 1, snapshot, saving ?? 0, last - rng.int(6));
            if (to < last) {
              before = new Map(model);
              for (const i of [...model.keys()]) if (i > to) model.delete(i);
              acked = Math.min(acked, to);
              for (const x of syncs) x.covers = Math.min(x.covers, to);
              wal.truncateAfter(to);
              before = undefined;
            }
          } else if (r < 66 && saving === undefined && last > snapshot) {
            const at = last - rng.int(Math.min(5, last - snapshot));
            saving = at;
            wal.saveSnapshotThen(at, wal.term(at) ?? term, Uint8Array.of(at & 0xff, 7), (err) => {
              saving = undefined;
              if (err === undefined) snapshot = Math.max(snapshot, at);
            });
          } else if (r < 70 && snapshot >= wal.firstIndex()) {
            const through = rng.chance(0.3) ? snapshot : Math.min(snapshot, last - rng.int(4));
            wal.compactThrough(through);
            if (through >= last) {
              // The log restarts empty after the snapshot, which holds everything up to it.
              model = new Map();
              acked = Math.max(acked, through);
            }
          } else if (r < 97) {
            for (let n = rng.int(4); n > 0 && m.queue.length > 0 && !m.fs.killed; n--) m.step();
          } else {
            restart(rng.chance(0.5) ? 'kill' : 'power');
            continue;
          }
        } catch (err) {
          if (!isSimCrash(err)) throw err;
        }
        if (m.fs.killed) restart(rng.chance(0.5) ? 'kill' : 'power');
      }
    }
    expect(kills).toBeGreaterThan(20);
    expect(powerCuts).toBeGreaterThan(20);
    expect(tornTails).toBeGreaterThan(3);
  });
});
