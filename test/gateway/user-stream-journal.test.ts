// The user stream's journal on disk (gateway/user-stream-store.ts) without sockets: a hub opened
// again on the same directory goes on with the same epoch and numbering and holds exactly the
// reports of the hub that wrote it (compared with that hub, over random sequences, segment sizes
// and restarts, clean or not); what rotation deleted is announced as a gap whose min_seq covers
// it; a torn last line and a lost record are never skipped silently; an unclean stop on another
// boot (a machine crash) and a missing epoch file start a new epoch.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openUserStreams } from '../../gateway/user-stream-store.js';
import type { UserStreamHub } from '../../gateway/user-stream.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import type { Log } from '../../ops/log.js';

const NO_LOG: Log = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Log;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-us-journal-'));
  dirs.push(d);
  return d;
}

/** A report of `account` with engine seq `seq` on shard 0 (only the fields the stream reads matter). */
function report(account: number, seq: number): ExecutionReportOut {
  return { account, seq, order_id: seq, exec_id: seq } as unknown as ExecutionReportOut;
}

function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const open = (dir: string, o: { segmentBytesMax?: number; segmentsKept?: number; held?: number } = {}) =>
  openUserStreams(dir, {
    log: NO_LOG,
    reportsHeldMax: o.held ?? 8,
    ...(o.segmentBytesMax === undefined ? {} : { segmentBytesMax: o.segmentBytesMax }),
    ...(o.segmentsKept === undefined ? {} : { segmentsKept: o.segmentsKept }),
  });

const segmentFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('segment-'));

/** The restored hub agrees with the reference: same last stream_seq, the same reports where it holds them, a gap covering the rest. */
function expectRestored(got: UserStreamHub, ref: UserStreamHub, accounts: number[]): void {
  expect(got.epoch).toBe(ref.epoch);
  for (const a of accounts) {
    const g = got.stream(a)!;
    const r = ref.stream(a)!;
    expect(g.lastSeq).toBe(r.lastSeq);
    expect(g.firstSeq).toBeGreaterThanOrEqual(r.firstSeq);
    for (let q = g.firstSeq; q <= g.lastSeq; q++) {
      expect(g.get(q)!.report.exec_id).toBe(r.get(q)!.report.exec_id);
      expect(g.get(q)!.canonical).toBe(r.get(q)!.canonical);
    }
    const plan = got.plan(g, { fromSeq: 0, epoch: got.epoch });
    expect(plan.fromSeq).toBe(g.firstSeq);
    if (g.firstSeq > 1) {
      // Every report not held any more is covered by min_seq (one shard here).
      const notHeld = Math.max(
        0,
        ...Array.from({ length: g.firstSeq - r.firstSeq }, (_, i) => r.get(r.firstSeq + i)!.report.seq),
      );
      expect(plan.gap!.min_seq['0']).toBeGreaterThanOrEqual(notHeld);
      expect(plan.gap).toMatchObject({ missed_from: 1, missed_to: g.firstSeq - 1, epoch_changed: false });
    } else expect(plan.gap).toBeUndefined();
  }
}

describe('the user stream journal', () => {
  it('restores every stream as written, across restarts, rotations and unclean stops (random sequences)', () => {
    const rand = rng(19);
    for (let trial = 0; trial < 30; trial++) {
      const dir = tempDir();
      const segmentBytesMax = rand() < 0.5 ? 1 << 20 : 200 + Math.floor(rand() * 2000);
      const segmentsKept = 2 + Math.floor(rand() * 3);
      const held = 1 + Math.floor(rand() * 12);
      let gw = open(dir, { segmentBytesMax, segmentsKept, held });
      // The reference: one hub that never restarts, fed the same reports.
      const ref = openUserStreams(undefined, { log: NO_LOG, reportsHeldMax: held }).hub;
      Object.defineProperty(ref, 'epoch', { value: gw.hub.epoch });
      const accounts = [1, 2, 3];
      for (const a of accounts) {
        gw.hub.open(a);
        ref.open(a);
      }
      let engineSeq = 0;
      for (let restart = 0; restart < 4; restart++) {
        const n = Math.floor(rand() * 40);
        for (let k = 0; k < n; k++) {
          const r = report(accounts[Math.floor(rand() * 3)]!, ++engineSeq);
          gw.hub.publish(r, `c${engineSeq}`);
          ref.publish(r, `c${engineSeq}`);
        }
        if (rand() < 0.5) gw.store!.close();
        else gw.store!.abandon(); // a process crash: no stop record
        gw = open(dir, { segmentBytesMax, segmentsKept, held });
        expectRestored(gw.hub, ref, accounts);
        expect(segmentFiles(dir).length).toBeLessThanOrEqual(segmentsKept);
      }
      gw.store!.close();
    }
  });

  it("a wide instrument's cum_notional above 2^53 is restored as the exact bigint (a safe one as a number)", () => {
    const dir = tempDir();
    let gw = open(dir);
    gw.hub.open(1);
    const notionals = [9_999_999_899_900_000_001n, 15_000_100, 2n ** 64n - 1n, 9_007_199_254_740_991];
    for (const [k, n] of notionals.entries())
      gw.hub.publish({ ...report(1, k + 1), cum_notional: n } as ExecutionReportOut, `c${k + 1}`);
    gw.store!.close();
    gw = open(dir);
    const s = gw.hub.stream(1)!;
    expect(notionals.map((_, k) => s.get(k + 1)!.report.cum_notional)).toEqual(notionals);
    gw.store!.close();
  });

  it('a torn last line is cut and what follows is read again; a lost record is a gap, not a skip', () => {
    const dir = tempDir();
    let gw = open(dir);
    const s = gw.hub.open(1);
    for (let k = 1; k <= 5; k++) gw.hub.publish(report(1, k), `c${k}`);
    gw.store!.abandon();
    const file = path.join(dir, segmentFiles(dir)[0]!);
    fs.appendFileSync(file, '{"k":"rep","a":1,"s":6,"c":"c6","r":{"acc'); // a write cut short
    gw = open(dir);
    expect(gw.hub.stream(1)!.lastSeq).toBe(5);
    gw.hub.publish(report(1, 6), 'c6');
    gw.store!.close();
    gw = open(dir);
    expect(gw.hub.stream(1)!.get(6)!.canonical).toBe('c6');
    gw.store!.close();
    // Stream_seq 3 lost from the file: a resume from 2 is told the gap; 4.. are held.
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    fs.writeFileSync(file, lines.filter((l) => !l.includes('"s":3,')).join('\n'));
    gw = open(dir);
    const g = gw.hub.stream(1)!;
    expect(g.lastSeq).toBe(6);
    expect(g.firstSeq).toBe(4);
    expect(gw.hub.plan(g, { fromSeq: 2, epoch: gw.hub.epoch }).gap).toMatchObject({ missed_from: 3, missed_to: 3 });
    expect(gw.hub.plan(g, { fromSeq: 3, epoch: gw.hub.epoch }).gap).toBeUndefined();
    expect(s.lastSeq).toBe(5); // the first run's hub is untouched
    gw.store!.close();
  });

  it('starts a new epoch after an unclean stop on another boot, or without its epoch file', () => {
    const dir = tempDir();
    let gw = open(dir);
    const first = gw.hub.epoch;
    gw.hub.open(1);
    gw.hub.publish(report(1, 1), 'c1');
    gw.store!.close();
    gw = open(dir);
    expect(gw.hub.epoch).toBe(first);
    gw.store!.abandon();
    // The run that did not stop cleanly was on another boot: a machine crash may have lost writes.
    const file = path.join(dir, segmentFiles(dir)[0]!);
    const text = fs.readFileSync(file, 'utf8');
    const lastRun = text.lastIndexOf('"k":"run"');
    fs.writeFileSync(
      file,
      text.slice(0, lastRun) + text.slice(lastRun).replace(/"boot":"[^"]*"/, '"boot":"another-boot"'),
    );
    gw = open(dir);
    expect(gw.hub.epoch).not.toBe(first);
    expect(gw.hub.stream(1)).toBeUndefined();
    const second = gw.hub.epoch;
    gw.store!.close();
    fs.rmSync(path.join(dir, 'epoch'));
    gw = open(dir);
    expect(gw.hub.epoch).not.toBe(second);
    expect(gw.hub.stream(1)).toBeUndefined();
    gw.store!.close();
  });
});
