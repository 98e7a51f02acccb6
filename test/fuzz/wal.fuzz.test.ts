// Fuzz of WAL recovery (replicator/wal/): a WAL written by this code (entries over several
// segments, all synced, so the sync mark is at the last entry; a hard state, two snapshots,
// the log compacted through the older one) is copied, one of its files is damaged — bytes
// flipped, set, inserted, deleted, duplicated, truncated, the file emptied, deleted, renamed to
// another index, or a stray segment added; the sync-mark file is a target too — and opened.
//
// Asserted per damaged copy: open() and loadLatestSnapshot() either throw WalCorruptionError
// (nothing else: no RangeError, TypeError or plain Error), or succeed with what was written:
// every entry read back is byte for byte the one written, the hard state is the one saved, the
// snapshot is one of the two saved; entries may be missing only at the end of the log, and
// only when the damage hit the last segment. Every entry was synced (so perhaps acknowledged):
// recovery reports tailLost (mustReach = the last entry, the hard state's term) exactly when
// entries are missing — also when the cut fell on a record boundary or the whole segment went —
// and never for damage that leaves every entry (bytes added after the last record, a damaged
// sync-mark file). After a successful open the log still takes an append, and a reopen gives
// the same log.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/wal.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SYNCED_FILE,
  Wal,
  WalCorruptionError,
  nodeFs,
  type HardState,
  type LogEntry,
  type Snapshot,
  type WalFs,
} from '../../replicator/wal/wal.js';
import { fcParams, mutationsArb, mutate, type Mutation } from './harness.js';

/** fsync is irrelevant to what is checked here (no crash is simulated); skipping it keeps a run fast. */
const NO_SYNC_FS: WalFs = { ...nodeFs, fsync: () => undefined, fdatasync: (_fd, done) => setImmediate(() => done()) };
const OPTIONS = { segmentBytesMax: 400, fs: NO_SYNC_FS, warn: () => undefined };

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-fuzz-wal-'));
const pristine = path.join(root, 'pristine');
let written: LogEntry[] = [];
let hardState: HardState;
const snapshots = new Map<number, { term: number; bytes: string }>();
let runDir = 0;

const LAST = 60;
const termOf = (i: number) => 1 + Math.floor(i / 12);

beforeAll(async () => {
  const wal = Wal.open(pristine, OPTIONS);
  wal.loadLatestSnapshot();
  written = Array.from({ length: LAST }, (_, k) => {
    const index = k + 1;
    const data = new Uint8Array(10 + ((index * 7) % 23));
    for (let i = 0; i < data.length; i++) data[i] = (index * 31 + i) & 0xff;
    return { index, term: termOf(index), type: 1 + (index % 3 === 0 ? 1 : 0), data };
  });
  for (let at = 0; at < LAST; at += 7) wal.append(written.slice(at, at + 7));
  await wal.sync();
  for (const index of [20, 33]) {
    const bytes = Buffer.from(`state machine at ${index}`);
    await wal.saveSnapshot(index, termOf(index), bytes);
    snapshots.set(index, { term: termOf(index), bytes: bytes.toString('hex') });
  }
  wal.compactThrough(20);
  hardState = { term: termOf(LAST), vote: 1, commit: LAST - 2 };
  wal.saveHardState(hardState);
  await wal.close();
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

const segmentNames = () =>
  fs
    .readdirSync(pristine)
    .filter((n) => /^wal-\d{20}\.log$/.test(n))
    .sort();
const snapshotNames = () =>
  fs
    .readdirSync(pristine)
    .filter((n) => /^snap-\d{20}\.snap$/.test(n))
    .sort();

type Damage =
  | { kind: 'bytes'; file: number; mutations: Mutation[] }
  | { kind: 'empty'; file: number }
  | { kind: 'delete'; file: number }
  | { kind: 'rename'; file: number; index: number }
  | { kind: 'stray'; index: number; bytes: Uint8Array };

const damageArb: fc.Arbitrary<Damage> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({ kind: fc.constant('bytes' as const), file: fc.nat(), mutations: mutationsArb }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('empty' as const), file: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), file: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('rename' as const),
      file: fc.nat(),
      // 1e20 is the double the former literal 99_999_999_999_999_999_999 rounded to; it has 21 digits, so
      // the name applyDamage gives keeps the last 20: all zeros (index 0), not twenty nines.
      index: fc.oneof(fc.integer({ min: 0, max: LAST + 5 }), fc.constant(100_000_000_000_000_000_000)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('stray' as const),
      index: fc.integer({ min: 0, max: LAST + 5 }),
      bytes: fc.uint8Array({ maxLength: 100 }),
    }),
  },
);

/** Every file a damage may hit: the segments, then the hard state, the sync mark, then the snapshots. */
function targets(): string[] {
  return [...segmentNames(), 'hardstate', SYNCED_FILE, ...snapshotNames()];
}

function applyDamage(dir: string, d: Damage): { file: string; isLastSegment: boolean; isSegment: boolean } {
  const files = targets();
  const segs = segmentNames();
  if (d.kind === 'stray') {
    const name = `wal-${String(d.index).padStart(20, '0')}.log`;
    if (!fs.existsSync(path.join(dir, name))) fs.writeFileSync(path.join(dir, name), d.bytes);
    return { file: name, isLastSegment: d.index > Number(segs[segs.length - 1]!.slice(4, 24)), isSegment: true };
  }
  const file = files[d.file % files.length]!;
  const p = path.join(dir, file);
  const isSegment = file.startsWith('wal-');
  const isLastSegment = file === segs[segs.length - 1];
  switch (d.kind) {
    case 'bytes':
      fs.writeFileSync(p, mutate(fs.readFileSync(p), d.mutations));
      break;
    case 'empty':
      fs.writeFileSync(p, new Uint8Array(0));
      break;
    case 'delete':
      fs.rmSync(p);
      break;
    case 'rename': {
      const prefix = file.startsWith('snap-') ? 'snap-' : 'wal-';
      const suffix = file.startsWith('snap-') ? '.snap' : file.startsWith('wal-') ? '.log' : '';
      if (suffix === '') break; // the hard state has no index in its name
      const to = path.join(dir, `${prefix}${String(d.index).padStart(20, '0').slice(-20)}${suffix}`);
      if (!fs.existsSync(to)) fs.renameSync(p, to);
      break;
    }
  }
  return { file, isLastSegment, isSegment };
}

const hex = (e: LogEntry) => `${e.index}/${e.term}/${e.type ?? 1}/${Buffer.from(e.data).toString('hex')}`;

describe('WAL recovery fuzz', () => {
  // Regression (found by this fuzz, seed 20261122): a segment renamed to index 0 made open()
  // throw a plain Error from listSegments instead of WalCorruptionError.
  it('a segment file named with index 0 is a WalCorruptionError', () => {
    const dir = path.join(root, 'renamed-to-zero');
    fs.cpSync(pristine, dir, { recursive: true });
    const first = segmentNames()[0]!;
    fs.renameSync(path.join(dir, first), path.join(dir, `wal-${'0'.repeat(20)}.log`));
    expect(() => Wal.open(dir, OPTIONS)).toThrow(WalCorruptionError);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a damaged file: WalCorruptionError, or exactly what was written (only the tail may be cut)', async () => {
    await fc.assert(
      fc.asyncProperty(damageArb, async (d) => {
        const dir = path.join(root, `run-${++runDir}`);
        fs.cpSync(pristine, dir, { recursive: true });
        const hit = applyDamage(dir, d);
        const what = `${JSON.stringify(d, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))} on ${hit.file}`;
        let wal: Wal | undefined;
        try {
          let snap: Snapshot | undefined;
          try {
            wal = Wal.open(dir, OPTIONS);
            snap = wal.loadLatestSnapshot();
          } catch (err) {
            expect(err, `${what}: ${String(err)}`).toBeInstanceOf(WalCorruptionError);
            return;
          }
          // What was written, and nothing else.
          // A deleted hard-state file reads as never saved, as after a crash before the first save
          // (the log's own terms then bound the term; undetectable from the files alone).
          expect(wal.loadHardState(), what).toEqual(
            d.kind === 'delete' && hit.file === 'hardstate' ? undefined : hardState,
          );
          if (snap !== undefined) {
            const s = snapshots.get(snap.index);
            expect(s, `${what}: snapshot at ${snap.index}`).toBeDefined();
            expect({ term: snap.term, bytes: Buffer.from(snap.bytes).toString('hex') }, what).toEqual(s);
          }
          const first = wal.firstIndex();
          const last = wal.lastIndex();
          const got = last >= first ? wal.entries(first, last + 1) : [];
          for (const e of got) expect(hex(e), `${what}: entry ${e.index}`).toBe(hex(written[e.index - 1]!));
          // Only the end of the log may be missing (what a torn write leaves), and only when the
          // last segment was hit. When that takes committed entries, the hard state's commit is
          // beyond the log's end: ReplicaNode.recover() refuses to start on it (with fsync on).
          if (last < LAST)
            expect(hit.isLastSegment, `${what}: entries ${last + 1}… gone, but the last segment was not damaged`).toBe(
              true,
            );
          // The sync mark tells lost acknowledged entries from a torn write, whatever the damage.
          if (last < LAST)
            expect(wal.recovery.tailLost, `${what}: entries ${last + 1}… gone without tailLost`).toEqual({
              mustReach: LAST,
              term: hardState.term,
            });
          else expect(wal.recovery.tailLost, `${what}: tailLost with every entry there`).toBeUndefined();
          // Usable: an append continues the log, and a reopen gives the same log.
          const next: LogEntry = {
            index: last + 1,
            term: Math.max(termOf(LAST), wal.term(last) ?? 0),
            data: Uint8Array.of(1, 2, 3),
          };
          await wal.appendAndSync([next]);
          await wal.close();
          wal = Wal.open(dir, OPTIONS);
          wal.loadLatestSnapshot();
          expect(wal.lastIndex(), what).toBe(last + 1);
          expect(wal.entries(last + 1, last + 2).map(hex), what).toEqual([hex(next)]);
        } finally {
          await wal?.close();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      fcParams(400),
    );
  });
});
