// The record log's codec and its recovery, pure (README.md, "Durable state and the WAL"): one
// record of the acceptor/learner per WAL entry's data, decoded strictly (a record that is not
// exactly one of the three layouts below is corruption, never a guess), and the replay of a
// recovered record log into the state PaxosCore's constructor takes.
//
// Layouts (little-endian; a u64 holds a safe integer as two u32 halves, low first):
//   ACCEPTED    u8 1 | u64 slot | ballot | value
//   CHOSEN      u8 2 | u64 slot | ballot | value
//   CHOSEN-REF  u8 3 | u64 slot | ballot          (the value is that of this replica's latest
//                                                   ACCEPTED record of the slot at that ballot)
//   ballot = u64 round | u32 leader;  value = u8 type | ballot origin | u32 length | data

import type { Ballot, PaxosRecord, PaxosRecoveredState, PaxosValue } from './types.js';
import { RecordKind, ValueType } from './types.js';
import { ballotEquals, compareBallots, valuesEqual } from './slot-store.js';

const TAG_ACCEPTED = 1;
const TAG_CHOSEN = 2;
const TAG_CHOSEN_REF = 3;
const BALLOT_BYTES = 12;
const HEAD_BYTES = 1 + 8 + BALLOT_BYTES;
const VALUE_HEAD_BYTES = 1 + BALLOT_BYTES + 4;
const U32_SPAN = 0x1_0000_0000;
/** Largest leader id a ballot holds on disk (u32, as cluster-config.ts allows). */
const LEADER_ID_MAX = 0xffff_ffff;

/** A record the log holds that is not one this codec wrote, or a log whose records contradict each other. */
export class PaxosRecordCorruptError extends Error {
  override name = 'PaxosRecordCorruptError';
  readonly code = 'PAXOS_RECORD_CORRUPT';
  constructor(
    /** The record's sequence number in the record log (its WAL index), 0 when unknown. */
    readonly seq: number,
    reason: string,
  ) {
    super(`paxos record ${seq}: ${reason}`);
  }
}

/** A decoded record: a full one, or a CHOSEN that refers to the replica's own ACCEPTED record. */
export type DecodedRecord =
  | (PaxosRecord & { ref?: undefined })
  | { kind: typeof RecordKind.CHOSEN; ref: true; slot: number; ballot: Ballot };

function checkBallot(b: Ballot, what: string): void {
  if (!Number.isSafeInteger(b.round) || b.round < 1 || !Number.isInteger(b.leader) || b.leader < 1) {
    throw new RangeError(`paxos record: bad ${what} ballot ${b.round}.${b.leader}`);
  }
  if (b.leader > LEADER_ID_MAX) throw new RangeError(`paxos record: ${what} leader ${b.leader} over u32`);
}

function writeU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v % U32_SPAN, true);
  view.setUint32(at + 4, Math.floor(v / U32_SPAN), true);
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * U32_SPAN;
}

function writeBallot(view: DataView, at: number, b: Ballot): void {
  writeU64(view, at, b.round);
  view.setUint32(at + 8, b.leader, true);
}

function readBallot(view: DataView, at: number): Ballot {
  return { round: readU64(view, at), leader: view.getUint32(at + 8, true) };
}

/**
 * Encodes one record as WAL entry data. A CHOSEN record with `valueInAccepted` is written as a
 * reference (slot and ballot only). Throws RangeError on a record no replica can produce.
 */
export function encodeRecord(r: PaxosRecord): Uint8Array {
  if (!Number.isSafeInteger(r.slot) || r.slot < 1) throw new RangeError(`paxos record: bad slot ${r.slot}`);
  checkBallot(r.ballot, 'record');
  const asRef = r.kind === RecordKind.CHOSEN && r.valueInAccepted;
  const tag = r.kind === RecordKind.ACCEPTED ? TAG_ACCEPTED : asRef ? TAG_CHOSEN_REF : TAG_CHOSEN;
  if (r.kind !== RecordKind.ACCEPTED && r.kind !== RecordKind.CHOSEN)
    throw new RangeError(`paxos record: kind ${r.kind}`);
  const valueBytes = asRef ? 0 : VALUE_HEAD_BYTES + r.value.data.length;
  const buf = new Uint8Array(HEAD_BYTES + valueBytes);
  const view = new DataView(buf.buffer);
  view.setUint8(0, tag);
  writeU64(view, 1, r.slot);
  writeBallot(view, 9, r.ballot);
  if (asRef) return buf;
  const v = r.value;
  if (v.type !== ValueType.NORMAL && v.type !== ValueType.NOOP)
    throw new RangeError(`paxos record: value type ${v.type}`);
  if (v.type === ValueType.NOOP && v.data.length > 0) throw new RangeError('paxos record: a no-op with data');
  checkBallot(v.origin, 'origin');
  view.setUint8(HEAD_BYTES, v.type);
  writeBallot(view, HEAD_BYTES + 1, v.origin);
  view.setUint32(HEAD_BYTES + 1 + BALLOT_BYTES, v.data.length, true);
  buf.set(v.data, HEAD_BYTES + VALUE_HEAD_BYTES);
  return buf;
}

function decodeValue(view: DataView, buf: Uint8Array, seq: number): PaxosValue {
  if (buf.length < HEAD_BYTES + VALUE_HEAD_BYTES) throw new PaxosRecordCorruptError(seq, `${buf.length} bytes`);
  const type = view.getUint8(HEAD_BYTES);
  const origin = readBallot(view, HEAD_BYTES + 1);
  const length = view.getUint32(HEAD_BYTES + 1 + BALLOT_BYTES, true);
  if (type !== ValueType.NORMAL && type !== ValueType.NOOP)
    throw new PaxosRecordCorruptError(seq, `value type ${type}`);
  if (!Number.isSafeInteger(origin.round) || origin.round < 1 || origin.leader < 1)
    throw new PaxosRecordCorruptError(seq, `origin ballot ${origin.round}.${origin.leader}`);
  if (buf.length !== HEAD_BYTES + VALUE_HEAD_BYTES + length)
    throw new PaxosRecordCorruptError(seq, `value of ${length} bytes in a record of ${buf.length}`);
  if (type === ValueType.NOOP && length > 0) throw new PaxosRecordCorruptError(seq, 'a no-op with data');
  // A copy: the WAL's buffers are read-only and may be reused.
  const data = buf.slice(HEAD_BYTES + VALUE_HEAD_BYTES);
  return { type, origin, data };
}

/** Decodes WAL entry data written by encodeRecord; anything else throws PaxosRecordCorruptError. */
export function decodeRecord(buf: Uint8Array, seq = 0): DecodedRecord {
  if (buf.length < HEAD_BYTES) throw new PaxosRecordCorruptError(seq, `${buf.length} bytes, shorter than a record`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = view.getUint8(0);
  const slot = readU64(view, 1);
  const ballot = readBallot(view, 9);
  if (!Number.isSafeInteger(slot) || slot < 1) throw new PaxosRecordCorruptError(seq, `slot ${slot}`);
  if (!Number.isSafeInteger(ballot.round) || ballot.round < 1 || ballot.leader < 1)
    throw new PaxosRecordCorruptError(seq, `ballot ${ballot.round}.${ballot.leader}`);
  if (tag === TAG_CHOSEN_REF) {
    if (buf.length !== HEAD_BYTES) throw new PaxosRecordCorruptError(seq, `a reference of ${buf.length} bytes`);
    return { kind: RecordKind.CHOSEN, ref: true, slot, ballot };
  }
  if (tag !== TAG_ACCEPTED && tag !== TAG_CHOSEN) throw new PaxosRecordCorruptError(seq, `unknown record tag ${tag}`);
  const value = decodeValue(view, buf, seq);
  const kind = tag === TAG_ACCEPTED ? RecordKind.ACCEPTED : RecordKind.CHOSEN;
  return { kind, slot, ballot, value, valueInAccepted: false };
}

/** What the replay keeps per slot: the acceptor's highest-ballot acceptance and the learned value. */
interface SlotReplay {
  accepted?: { ballot: Ballot; value: PaxosValue };
  chosen?: { ballot: Ballot; value: PaxosValue };
}

function replayAccepted(st: SlotReplay, r: PaxosRecord, seq: number): void {
  const prev = st.accepted;
  if (prev !== undefined) {
    const c = compareBallots(r.ballot, prev.ballot);
    if (c === 0 && !valuesEqual(r.value, prev.value))
      throw new PaxosRecordCorruptError(seq, `slot ${r.slot}: two values accepted at one ballot`);
    // Lower: a copy of an older record (copy-forward compaction) or a duplicate; the highest wins.
    if (c <= 0) return;
  }
  st.accepted = { ballot: r.ballot, value: r.value };
}

function replayChosen(st: SlotReplay, r: DecodedRecord, seq: number, latestAccepted: Map<number, PaxosRecord>): void {
  let value: PaxosValue;
  if (r.ref === true) {
    const a = latestAccepted.get(r.slot);
    if (a === undefined || !ballotEquals(a.ballot, r.ballot))
      throw new PaxosRecordCorruptError(seq, `slot ${r.slot}: a chosen reference without its accepted record`);
    value = a.value;
  } else value = r.value;
  if (st.chosen !== undefined) {
    if (!valuesEqual(st.chosen.value, value))
      throw new PaxosRecordCorruptError(seq, `slot ${r.slot}: two values chosen`);
    return;
  }
  st.chosen = { ballot: r.ballot, value };
}

/**
 * Replays the record log written after the snapshot (in log order; `firstSeq` = the sequence
 * number of records[0], for error messages) into the state PaxosCore recovers from: per slot
 * above the snapshot the highest-ballot ACCEPTED (ballots per slot only go up, so that is the
 * acceptor's state, also when compaction copied older records after newer ones) and the CHOSEN
 * value, references resolved. Records at or below the snapshot are dropped. The promise is the
 * saved one; the core raises it to the highest accepted ballot. Contradictions throw
 * PaxosRecordCorruptError.
 */
export function recoverRecords(
  promised: Ballot,
  snapshotSlot: number,
  records: readonly DecodedRecord[],
  firstSeq = 0,
): PaxosRecoveredState {
  const slots = new Map<number, SlotReplay>();
  // The latest ACCEPTED record of each slot in log order (what a reference points at).
  const latestAccepted = new Map<number, PaxosRecord>();
  records.forEach((r, k) => {
    const seq = firstSeq === 0 ? 0 : firstSeq + k;
    if (r.slot <= snapshotSlot) return;
    let st = slots.get(r.slot);
    if (st === undefined) slots.set(r.slot, (st = {}));
    if (r.ref !== true && r.kind === RecordKind.ACCEPTED) {
      replayAccepted(st, r, seq);
      latestAccepted.set(r.slot, r);
    } else if (r.ref === true || r.kind === RecordKind.CHOSEN) replayChosen(st, r, seq, latestAccepted);
    else throw new PaxosRecordCorruptError(seq, `kind ${(r as PaxosRecord).kind}`);
  });
  const order = [...slots.keys()].sort((a, b) => a - b);
  const out: PaxosRecord[] = [];
  for (const slot of order) {
    const a = slots.get(slot)!.accepted;
    if (a !== undefined) out.push({ kind: RecordKind.ACCEPTED, slot, ...a, valueInAccepted: false });
  }
  for (const slot of order) {
    const st = slots.get(slot)!;
    const c = st.chosen;
    if (c === undefined) continue;
    const inAccepted = st.accepted !== undefined && ballotEquals(st.accepted.ballot, c.ballot);
    out.push({ kind: RecordKind.CHOSEN, slot, ...c, valueInAccepted: inAccepted });
  }
  return { promised, snapshotSlot, records: out };
}
