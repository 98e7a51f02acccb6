// The Multi-Paxos replica's durable state on the WAL (README.md, "Durable state and the WAL"):
// the promised ballot as the WAL's hard state, the record log as WAL entries (index = record
// sequence number, data = one record, records.ts), snapshots as WAL snapshots, and the
// copy-forward compaction. The WAL itself (../wal/) knows nothing of Paxos; this file is the only
// place that maps one onto the other.
//
// Mapping:
// - promise (round, leader) → hard state { term: round × PAXOS_BALLOT_LEADER_SPAN + leader,
//   vote: leader, commit: 0 }: one integer per ballot, ordered as ballots are, so the WAL's own
//   checks (a term never goes down, one vote per term) are the promise's;
// - record k → WAL entry { index: k, term: the promise (as above) when it was written, data };
// - snapshot through slot S → WAL snapshot { index: the last record before the copies, term:
//   the promise, bytes: 'MBPX' | u32 version | u64 S | state bytes }.
// I/O runs on callbacks through the WAL's own scheduling (no promises), like node.ts.

import { PAXOS_BALLOT_LEADER_SPAN, PAXOS_NODE_ID_MAX, PAXOS_ROUND_MAX, WAL_APPEND_BATCH_BYTES_MAX } from '../limits.js';
import { Wal, nodeFs, type LogEntry, type TailLoss, type WalFs, type WalOptions } from '../wal/wal.js';
import { PaxosRecordCorruptError, decodeRecord, encodeRecord, recoverRecords, type DecodedRecord } from './records.js';
import { BALLOT_ZERO, type Ballot, type PaxosRecord, type PaxosRecoveredState } from './types.js';

const SNAPSHOT_MAGIC = 0x5850424d; // 'MBPX' read as a little-endian u32
const SNAPSHOT_VERSION = 1;
/** Bytes the record log puts before a snapshot's state ('MBPX' | u32 version | u64 slot). */
export const PAXOS_SNAPSHOT_HEADER_BYTES = 16;
const SNAPSHOT_HEADER_BYTES = PAXOS_SNAPSHOT_HEADER_BYTES;
/** Records read back from the WAL per call during recovery and compaction (bounded memory per read). */
const READ_BATCH_BYTES = 1024 * 1024;
/** WAL entry data bytes beyond the record itself, counted against WAL_APPEND_BATCH_BYTES_MAX (the WAL's record header). */
const ENTRY_OVERHEAD_BYTES = 25;

/** The directory holds records or a snapshot but no promise (hard state file lost): starting could promise a lower ballot. */
export class PaxosHardStateMissingError extends Error {
  override name = 'PaxosHardStateMissingError';
  readonly code = 'PAXOS_HARD_STATE_MISSING';
  constructor(dir: string) {
    super(`${dir} holds a record log or snapshot but no hard state (the promised ballot): refusing to start`);
  }
}

export function ballotToTerm(b: Ballot): number {
  if (b.round === 0 && b.leader === 0) return 0;
  if (!Number.isSafeInteger(b.round) || b.round < 1 || b.round > PAXOS_ROUND_MAX)
    throw new RangeError(`paxos: ballot round ${b.round} outside 1..PAXOS_ROUND_MAX`);
  if (!Number.isInteger(b.leader) || b.leader < 1 || b.leader > PAXOS_NODE_ID_MAX)
    throw new RangeError(`paxos: ballot leader ${b.leader} outside 1..PAXOS_NODE_ID_MAX`);
  return b.round * PAXOS_BALLOT_LEADER_SPAN + b.leader;
}

export function termToBallot(term: number): Ballot {
  if (term === 0) return BALLOT_ZERO;
  return { round: Math.floor(term / PAXOS_BALLOT_LEADER_SPAN), leader: term % PAXOS_BALLOT_LEADER_SPAN };
}

export function encodePaxosSnapshot(slot: number, state: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(slot) || slot < 1) throw new RangeError(`paxos snapshot: slot ${slot}`);
  const out = new Uint8Array(SNAPSHOT_HEADER_BYTES + state.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, SNAPSHOT_MAGIC, true);
  view.setUint32(4, SNAPSHOT_VERSION, true);
  view.setUint32(8, slot % 0x1_0000_0000, true);
  view.setUint32(12, Math.floor(slot / 0x1_0000_0000), true);
  out.set(state, SNAPSHOT_HEADER_BYTES);
  return out;
}

/** Decodes a WAL snapshot written by encodePaxosSnapshot; anything else is an error (the WAL checked its CRC). */
export function decodePaxosSnapshot(bytes: Uint8Array): { slot: number; state: Uint8Array } {
  if (bytes.byteLength < SNAPSHOT_HEADER_BYTES) throw new Error(`paxos snapshot: ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== SNAPSHOT_MAGIC)
    throw new Error('paxos snapshot: bad magic (not a Multi-Paxos snapshot)');
  const version = view.getUint32(4, true);
  if (version !== SNAPSHOT_VERSION) throw new Error(`paxos snapshot: unknown version ${version}`);
  const slot = view.getUint32(8, true) + view.getUint32(12, true) * 0x1_0000_0000;
  if (!Number.isSafeInteger(slot) || slot < 1) throw new Error(`paxos snapshot: slot ${slot}`);
  return { slot, state: bytes.subarray(SNAPSHOT_HEADER_BYTES) };
}

/** What a replica starts from: the core's recovered state and the state machine's snapshot, if any. */
export interface RecordLogRecovery {
  recovered: PaxosRecoveredState;
  snapshot?: { slot: number; state: Uint8Array };
  /**
   * The WAL lost records this replica may have acknowledged (its `tail-lost` marker, written now
   * or at an earlier open and not cleared since): the host starts the core recovering
   * (PaxosRecoveredState.logTailLost, README.md departure 8) and calls clearTailLost() when the
   * core's Ready says logTailRecovered.
   */
  tailLost?: TailLoss;
}

export type RecordLogOptions = Pick<WalOptions, 'segmentBytesMax' | 'tailCacheBytesMax' | 'warn'> & { fs?: WalFs };

export class PaxosRecordLog {
  private promised: Ballot;
  /** WAL index of the newest snapshot saved or loaded (0: none) and of the one before it. */
  private snapshotIndex = 0;
  private snapshotIndexPrev = 0;
  private snapshotSlot = 0;
  private compacting = false;

  private constructor(
    readonly wal: Wal,
    private readonly fs: WalFs,
    promised: Ballot,
  ) {
    this.promised = promised;
  }

  /** Opens the WAL in `dir` and recovers the record log (a lost tail is reported, not refused); throws on a lost hard state or a corrupt record. */
  static open(dir: string, opts: RecordLogOptions = {}): { log: PaxosRecordLog; recovery: RecordLogRecovery } {
    const fs = opts.fs ?? nodeFs;
    const wal = Wal.open(dir, opts);
    const lost = wal.recovery.tailLost;
    const snap = wal.loadLatestSnapshot();
    const hs = wal.loadHardState();
    if (hs === undefined && (snap !== undefined || wal.lastIndex() > 0)) throw new PaxosHardStateMissingError(dir);
    const promised = termToBallot(hs?.term ?? 0);
    if (hs !== undefined && hs.term !== 0 && hs.vote !== promised.leader)
      throw new Error(`${dir}: hard state term ${hs.term} names leader ${promised.leader} but vote ${hs.vote}`);
    const log = new PaxosRecordLog(wal, fs, promised);
    const decoded = snap === undefined ? undefined : decodePaxosSnapshot(snap.bytes);
    if (snap !== undefined && decoded !== undefined) {
      // Records at or below snap.index stay until the next compaction (the fallback snapshot's).
      log.snapshotIndex = snap.index;
      log.snapshotSlot = decoded.slot;
      // A lost tail can end the log below the snapshot's index: new records must go after it, or
      // the next recovery (which reads from snap.index + 1) would skip them — acknowledged
      // acceptances forgotten without a marker. The log restarts empty at snap.index + 1 (as
      // node.ts does for Raft).
      if (wal.lastIndex() < snap.index) wal.compactThrough(snap.index);
    }
    const from = snap === undefined ? wal.firstIndex() : snap.index + 1;
    const records = log.readRecords(from, hs?.term ?? 0);
    const recovered = recoverRecords(promised, log.snapshotSlot, records, from);
    return {
      log,
      recovery: {
        recovered,
        ...(decoded !== undefined ? { snapshot: decoded } : {}),
        ...(lost !== undefined ? { tailLost: lost } : {}),
      },
    };
  }

  /** The records at WAL indexes [from, last], decoded; an entry term above the saved promise is corruption. */
  private readRecords(from: number, termMax: number): DecodedRecord[] {
    const out: DecodedRecord[] = [];
    const hi = this.wal.lastIndex() + 1;
    for (let lo = from; lo < hi; ) {
      const batch = this.wal.entries(lo, hi, READ_BATCH_BYTES);
      for (const e of batch) {
        if (e.term > termMax)
          throw new PaxosRecordCorruptError(
            e.index,
            `written under term ${e.term}, above the saved promise ${termMax}`,
          );
        out.push(decodeRecord(e.data, e.index));
      }
      lo += batch.length;
    }
    return out;
  }

  /**
   * Ready steps 1 and 3: saves `promised` (atomically, fsynced) before anything else, appends the
   * records, and calls `done` once they are durable (one fdatasync), never synchronously.
   * Messages of the Ready may leave as soon as this returns (the promise is durable then);
   * messagesAfterPersist only in `done`.
   */
  persist(promised: Ballot | undefined, records: readonly PaxosRecord[], done: (err?: Error) => void): void {
    if (promised !== undefined) {
      const term = ballotToTerm(promised);
      this.wal.saveHardState({ term, vote: promised.leader, commit: 0 });
      this.promised = promised;
    }
    if (records.length === 0) {
      this.fs.defer(() => done());
      return;
    }
    this.appendRecords(records);
    this.wal.syncThen(done);
  }

  private appendRecords(records: readonly PaxosRecord[]): void {
    const term = ballotToTerm(this.promised);
    let next = this.wal.lastIndex() + 1;
    let batch: LogEntry[] = [];
    let bytes = 0;
    for (const r of records) {
      const data = encodeRecord(r);
      if (batch.length > 0 && bytes + data.byteLength + ENTRY_OVERHEAD_BYTES > WAL_APPEND_BATCH_BYTES_MAX) {
        this.wal.append(batch);
        batch = [];
        bytes = 0;
      }
      batch.push({ index: next++, term, data });
      bytes += data.byteLength + ENTRY_OVERHEAD_BYTES;
    }
    if (batch.length > 0) this.wal.append(batch);
  }

  /** The slot of the newest snapshot saved or recovered (0: none). */
  get snapshotThroughSlot(): number {
    return this.snapshotSlot;
  }

  get busy(): boolean {
    return this.compacting;
  }

  /**
   * Saves a snapshot of the state through `slot` (this replica's own, or one received from a peer)
   * and compacts the record log by copying forward (README.md): (1) appends, in one synchronous
   * step, the live state of every slot above `slot` as fresh records (per slot its highest
   * acceptance and its chosen value) and syncs them; (2) saves the snapshot at the WAL index of
   * the last record before the copies; (3) compacts the WAL through the previous snapshot's
   * index, so an unreadable newest snapshot still falls back on the previous one. A crash at any
   * point recovers the same state (before (2): the originals and the copies replay to the same
   * slots; after it: the copies alone). Returns false, doing nothing, while a compaction runs or
   * for a slot not above the newest snapshot's; otherwise calls `done` once, never synchronously.
   */
  saveSnapshotAndCompact(slot: number, state: Uint8Array, done: (err?: Error) => void): boolean {
    if (this.compacting || slot <= this.snapshotSlot) return false;
    const bytes = encodePaxosSnapshot(slot, state);
    const last = this.wal.lastIndex();
    const live = recoverRecords(
      this.promised,
      slot,
      this.readRecords(this.snapshotIndex + 1, ballotToTerm(this.promised)),
      this.snapshotIndex + 1,
    ).records;
    this.compacting = true;
    // A snapshot makes the directory a replica's: it must hold a hard state from then on.
    if (this.wal.loadHardState() === undefined) this.wal.saveHardState({ term: 0, vote: 0, commit: 0 });
    const finish = (err?: Error): void => {
      this.compacting = false;
      done(err);
    };
    if (live.length > 0) this.appendRecords(live);
    this.wal.syncThen((err) => {
      if (err !== undefined) return finish(err);
      this.wal.saveSnapshotThen(last, ballotToTerm(this.promised), bytes, (err2) => {
        if (err2 !== undefined) return finish(err2);
        this.snapshotIndexPrev = this.snapshotIndex;
        this.snapshotIndex = last;
        this.snapshotSlot = slot;
        try {
          if (this.snapshotIndexPrev > 0) this.wal.compactThrough(this.snapshotIndexPrev);
        } catch (e) {
          return finish(e as Error);
        }
        finish();
      });
    });
    return true;
  }

  /** The core is caught up after a lost tail (PaxosReady.logTailRecovered): removes the marker, durably, before the core promises again. */
  clearTailLost(): void {
    this.wal.clearTailLost();
  }

  close(): Promise<void> {
    return this.wal.close();
  }
}
