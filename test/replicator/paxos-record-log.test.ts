// The Multi-Paxos record log on the real WAL (replicator/paxos/record-log.ts): promises as hard
// state, records as entries, snapshots with the copy-forward compaction, recovery at open. On a
// temp directory with node:fs, and on SimFs (replicator/sim/sim-fs.ts) with process kills at any
// file-system call and power cuts that tear unsynced writes: every restart recovers a state the
// core accepts, which is what some prefix of the records written holds, never less than what was
// acknowledged durable.

import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PaxosCore } from '../../replicator/paxos/paxos-core.js';
import {
  PaxosRecordLog,
  ballotToTerm,
  termToBallot,
  type RecordLogRecovery,
} from '../../replicator/paxos/record-log.js';
import { recoverRecords } from '../../replicator/paxos/records.js';
import { compareBallots } from '../../replicator/paxos/slot-store.js';
import { RecordKind, ValueType, type Ballot, type PaxosRecord, type PaxosValue } from '../../replicator/paxos/types.js';
import { Prng } from '../../replicator/prng.js';
import { SimFs } from '../../replicator/sim/sim-fs.js';
import { paxosConfig } from './paxos-harness.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const WINDOW_SLOTS = 6;
const DIR = '/data/paxos-1';
/** Completions run per operation at most: an operation that never completes is a bug. */
const STEPS_MAX = 100_000;

/** A generator of what one replica's cores would write: promises that only go up, acceptances at the promise, each slot chosen once. */
class Model {
  promised: Ballot = { round: 0, leader: 0 };
  accepted = new Map<number, { ballot: Ballot; value: PaxosValue }>();
  chosen = new Set<number>();
  prefix = 0;
  /** Every record persisted so far, in order, and how many of them are acknowledged durable. */
  issued: PaxosRecord[] = [];
  acked = 0;
  promisedAcked: Ballot = { round: 0, leader: 0 };
  snapshotSlotAcked = 0;
  snapshotSlotAsked = 0;

  constructor(readonly rng: Prng) {}

  nextPromise(): Ballot | undefined {
    if (this.promised.round > 0 && !this.rng.chance(0.2)) return undefined;
    const sameRound = this.promised.leader < 3 && this.promised.round > 0 && this.rng.chance(0.5);
    const b = sameRound
      ? { round: this.promised.round, leader: this.promised.leader + 1 }
      : { round: this.promised.round + 1, leader: 1 + this.rng.int(3) };
    this.promised = b;
    return b;
  }

  nextRecords(): PaxosRecord[] {
    const out: PaxosRecord[] = [];
    for (let k = this.rng.int(4); k >= 0; k--) {
      const slot = this.prefix + 1 + this.rng.int(WINDOW_SLOTS);
      if (this.chosen.has(slot)) continue;
      const a = this.accepted.get(slot);
      if (this.rng.chance(0.6)) {
        if (a !== undefined && compareBallots(a.ballot, this.promised) === 0) continue;
        const value = {
          type: ValueType.NORMAL,
          origin: this.promised,
          data: enc.encode(`v${slot}.${this.promised.round}`),
        };
        this.accepted.set(slot, { ballot: this.promised, value });
        out.push({ kind: RecordKind.ACCEPTED, slot, ballot: this.promised, value, valueInAccepted: false });
      } else {
        const noop = { type: ValueType.NOOP, origin: this.promised, data: new Uint8Array(0) };
        const c = a ?? { ballot: this.promised, value: noop };
        out.push({ kind: RecordKind.CHOSEN, slot, ...c, valueInAccepted: a !== undefined });
        this.chosen.add(slot);
        while (this.chosen.has(this.prefix + 1)) this.prefix++;
      }
    }
    return out;
  }

  /** After a restart: continue from what was recovered (records not recovered were never acknowledged). */
  resetTo(r: RecordLogRecovery, issuedKept: number): void {
    const rec = r.recovered;
    this.promised = rec.promised;
    this.accepted.clear();
    this.chosen.clear();
    this.prefix = rec.snapshotSlot;
    for (const x of rec.records) {
      if (x.kind === RecordKind.ACCEPTED) this.accepted.set(x.slot, { ballot: x.ballot, value: x.value });
      else this.chosen.add(x.slot);
    }
    while (this.chosen.has(this.prefix + 1)) this.prefix++;
    this.issued = this.issued.slice(0, issuedKept);
    this.acked = issuedKept;
    this.promisedAcked = rec.promised;
    this.snapshotSlotAcked = rec.snapshotSlot;
    this.snapshotSlotAsked = rec.snapshotSlot;
  }
}

const stateText = (slot: number): Uint8Array => enc.encode(`state through ${slot}`);

/** Recovery must be what some prefix of the issued records holds, at least the acknowledged ones; returns that prefix's length. */
function checkRecovery(m: Model, r: RecordLogRecovery): number {
  const rec = r.recovered;
  expect(compareBallots(rec.promised, m.promisedAcked)).toBeGreaterThanOrEqual(0);
  expect(compareBallots(rec.promised, m.promised)).toBeLessThanOrEqual(0);
  expect(rec.snapshotSlot).toBeGreaterThanOrEqual(m.snapshotSlotAcked);
  expect(rec.snapshotSlot).toBeLessThanOrEqual(m.snapshotSlotAsked);
  if (r.snapshot !== undefined) expect(dec.decode(r.snapshot.state)).toBe(dec.decode(stateText(r.snapshot.slot)));
  // The core accepts it.
  new PaxosCore(
    paxosConfig(1, [1, 2, 3], () => 0),
    rec,
  );
  for (let n = m.issued.length; n >= m.acked; n--) {
    const want = recoverRecords(rec.promised, rec.snapshotSlot, m.issued.slice(0, n));
    if (JSON.stringify(want.records) === JSON.stringify(rec.records)) return n;
  }
  throw new Error(
    `recovered ${rec.records.length} records matching no prefix of the ${m.issued.length} issued (${m.acked} acknowledged)`,
  );
}

class SimMachine {
  queue: (() => void)[] = [];
  readonly fs: SimFs;
  killed = false;
  constructor(readonly rng: Prng) {
    this.fs = new SimFs({
      prng: rng.fork(1),
      schedule: (run) => this.queue.push(run),
      onKill: () => {
        this.killed = true;
      },
      shortWriteP: 0.05,
    });
  }

  open(): { log: PaxosRecordLog; recovery: RecordLogRecovery } {
    return PaxosRecordLog.open(DIR, { fs: this.fs, segmentBytesMax: 400, warn: () => {} });
  }

  /** Runs completions until `done()` or the process was killed; false if killed. */
  runUntil(done: () => boolean): boolean {
    for (let n = 0; !done() && !this.killed; n++) {
      if (n > STEPS_MAX || this.queue.length === 0) throw new Error('operation never completes');
      const [run] = this.queue.splice(this.rng.int(this.queue.length), 1);
      run!();
    }
    return !this.killed;
  }
}

/** One operation of the workload; false if the process was killed during it. */
function operate(sim: SimMachine, log: PaxosRecordLog, m: Model): boolean {
  let finished = false;
  let failure: Error | undefined;
  const done = (err?: Error): void => {
    finished = true;
    failure = err;
  };
  try {
    if (sim.rng.chance(0.15) && m.prefix > m.snapshotSlotAsked) {
      const slot = m.prefix;
      m.snapshotSlotAsked = slot;
      expect(log.saveSnapshotAndCompact(slot, stateText(slot), done)).toBe(true);
      if (!sim.runUntil(() => finished)) return false;
      if (failure !== undefined) throw failure;
      m.snapshotSlotAcked = slot;
      return true;
    }
    const promised = m.nextPromise();
    const records = m.nextRecords();
    m.issued.push(...records); // before: a kill during the append may leave any prefix of them on disk
    log.persist(promised, records, done);
    if (promised !== undefined) m.promisedAcked = promised; // durable once persist() returns
    if (!sim.runUntil(() => finished)) return false;
    if (failure !== undefined) throw failure;
    m.acked = m.issued.length;
    return true;
  } catch (err) {
    if (sim.killed) return false;
    throw err;
  }
}

describe('paxos record log on SimFs: kills at any file-system call, power cuts', () => {
  it('every restart recovers a prefix of what was written, at least what was acknowledged', () => {
    let restarts = 0;
    let compactions = 0;
    for (let seed = 1; seed <= 120; seed++) {
      const rng = new Prng(seed);
      const sim = new SimMachine(rng);
      const m = new Model(rng.fork(2));
      let { log, recovery } = sim.open();
      m.resetTo(recovery, 0);
      for (let step = 0; step < 150; step++) {
        if (rng.chance(0.08)) sim.fs.armCrash(rng.int(12));
        const before = m.snapshotSlotAcked;
        if (operate(sim, log, m) && m.snapshotSlotAcked > before) compactions++;
        if (!sim.killed && !rng.chance(0.03)) continue;
        // The process dies (or the machine loses power): restart from the disk.
        sim.queue = [];
        if (rng.chance(0.5)) sim.fs.powerLoss();
        else sim.fs.crash();
        sim.killed = false;
        ({ log, recovery } = sim.open());
        m.resetTo(recovery, checkRecovery(m, recovery));
        restarts++;
      }
    }
    expect(restarts).toBeGreaterThan(300);
    expect(compactions).toBeGreaterThan(300);
  }, 120_000);
});

describe('paxos record log on node:fs', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('maps ballots onto WAL terms in ballot order, and round-trips promises, records and snapshots', async () => {
    expect(ballotToTerm({ round: 5, leader: 1 })).toBeLessThan(ballotToTerm({ round: 5, leader: 3 }));
    expect(ballotToTerm({ round: 5, leader: 0xf_ffff })).toBeLessThan(ballotToTerm({ round: 6, leader: 1 }));
    expect(termToBallot(ballotToTerm({ round: 2 ** 33 - 1, leader: 7 }))).toEqual({ round: 2 ** 33 - 1, leader: 7 });
    expect(() => ballotToTerm({ round: 2 ** 33, leader: 1 })).toThrow(RangeError);
    expect(() => ballotToTerm({ round: 1, leader: 2 ** 20 })).toThrow(RangeError);

    const dir = mkdtempSync(path.join(tmpdir(), 'paxos-record-log-'));
    dirs.push(dir);
    const rng = new Prng(3);
    const m = new Model(rng);
    let { log, recovery } = PaxosRecordLog.open(dir, { segmentBytesMax: 2048 });
    expect(recovery.recovered).toEqual({ promised: { round: 0, leader: 0 }, snapshotSlot: 0, records: [] });
    const persist = (promised: Ballot | undefined, records: PaxosRecord[]): Promise<void> =>
      new Promise((resolve, reject) => log.persist(promised, records, (err) => (err ? reject(err) : resolve())));
    // Two ballots of one round with different leaders: the WAL refuses a second vote in one term,
    // so this is what the term encoding is for.
    await persist({ round: 1, leader: 1 }, []);
    await persist({ round: 1, leader: 3 }, []);
    m.promised = { round: 1, leader: 3 };
    for (let k = 0; k < 400; k++) {
      const p = m.nextPromise();
      const records = m.nextRecords();
      await persist(p, records);
      m.issued.push(...records);
      if (k % 100 === 99) {
        const slot = m.prefix;
        await new Promise<void>((resolve, reject) =>
          expect(log.saveSnapshotAndCompact(slot, stateText(slot), (e) => (e ? reject(e) : resolve()))).toBe(true),
        );
      }
    }
    const firstIndex = log.wal.firstIndex();
    await log.close();
    ({ log, recovery } = PaxosRecordLog.open(dir, { segmentBytesMax: 2048 }));
    expect(firstIndex).toBeGreaterThan(1); // compacted
    const slot = recovery.recovered.snapshotSlot;
    expect(slot).toBeGreaterThan(0);
    expect(recovery.snapshot?.slot).toBe(slot);
    expect(recovery.recovered.promised).toEqual(m.promised);
    expect(JSON.stringify(recovery.recovered.records)).toBe(
      JSON.stringify(recoverRecords(m.promised, slot, m.issued).records),
    );
    await log.close();
  });

  it('a synced tail cut at rest is reported tail-lost (the promise kept, a prefix of the records), across reopens until clearTailLost()', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'paxos-record-log-'));
    dirs.push(dir);
    const m = new Model(new Prng(5));
    let { log, recovery } = PaxosRecordLog.open(dir);
    expect(recovery.tailLost).toBeUndefined();
    const persist = (promised: Ballot | undefined, records: PaxosRecord[]): Promise<void> =>
      new Promise((resolve, reject) => log.persist(promised, records, (err) => (err ? reject(err) : resolve())));
    await persist({ round: 1, leader: 2 }, []);
    m.promised = { round: 1, leader: 2 };
    for (let k = 0; k < 30; k++) {
      const records = m.nextRecords();
      await persist(m.nextPromise(), records);
      m.issued.push(...records);
    }
    await log.close();
    // Cut the last segment as chaos/faults.ts's wal-truncate does: acknowledged (synced) records go.
    const seg = readdirSync(dir)
      .filter((f) => /^wal-\d+\.log$/.test(f))
      .sort()
      .at(-1)!;
    truncateSync(path.join(dir, seg), statSync(path.join(dir, seg)).size - 100);
    ({ log, recovery } = PaxosRecordLog.open(dir));
    expect(recovery.tailLost?.mustReach).toBeGreaterThan(log.wal.lastIndex());
    expect(recovery.recovered.promised).toEqual(m.promised); // the hard state is a separate file
    // What a strict prefix of the records written replays to.
    const kept = JSON.stringify(recovery.recovered.records);
    const prefix = m.issued.findIndex(
      (_r, n) => JSON.stringify(recoverRecords(m.promised, 0, m.issued.slice(0, n)).records) === kept,
    );
    expect(prefix).toBeGreaterThanOrEqual(0);
    await log.close();
    ({ log, recovery } = PaxosRecordLog.open(dir)); // the marker stays until the replica caught up
    expect(recovery.tailLost).toBeDefined();
    log.clearTailLost();
    await log.close();
    ({ log, recovery } = PaxosRecordLog.open(dir));
    expect(recovery.tailLost).toBeUndefined();
    await log.close();
  });
});
