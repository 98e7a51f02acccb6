// The wire of the replicas' client protocol (proto/client-frames.md): frame types, limits,
// the frame reader and writers, the SUBMIT / RESULTS / ENTRIES codecs and the reply shapes.
// The server (server.ts) and every client (client.ts, the events publisher's entry source,
// tools) share it; it holds no sockets and no state.
//
// TCP, frames of `u32 big-endian length | u8 frame type | body`:
//
//   JSON (1)     {id, op:'register'}                  → {id, ok:true, clientId} | {id, ok:false, error, leader, retryable}
//                {id, clientId, requestSeq, command}  → {id, ok:true, outcome, appliedIndex, seq, events}
//                                                      | {id, ok:false, error, leader, retryable}
//                {id, op:'status', hash?:boolean}     → {id, ok:true, status}
//                {id, op:'orders'}                    → {id, ok:true, applied, stateHash, execIdLast, orders:[…]}  (tests, debugging)
//                {id, op:'order', orderId}            → {id, ok:true, applied, order | null}  (a live order; the gateway's GetOrder)
//                {id, op:'order', account, clOrdId}   → the same, for the account's live order with that client order id
//                {id, op:'trace', indexes:[…]}         → {id, ok:true, entries:[EntryStages | {index, unknown:true}]}
//                                                       (stage times of recent leader entries, replicator/entry-trace.ts)
//                {id, op:'entries', fromIndex, bytesMax?, waitMs?}
//                                                     → ENTRIES (4): committed log entries from fromIndex, or the
//                                                       newest snapshot if they are compacted (the events publisher)
//   SUBMIT (2)   a batch of binary commands of one client session (engine/command-codec.ts)
//                → RESULTS (3): one result per command, with its events in the binary event
//                  codec (engine/event-codec.ts). This is the fast path: no JSON on either side,
//                  and one frame carries a whole batch each way.
//
// A client session is registered first (op 'register': logged like a command, answered once
// applied with the clientId the state machine allocated). `ok`/APPLIED or DUPLICATE means the
// command is in effect: APPLIED now, or DUPLICATE (an earlier copy of the same (clientId,
// requestSeq) was applied; no events then). SEQUENCE_GAP is an error: an earlier request of the
// client is not in the log yet (typically lost with a leader), so the client resends everything
// unacknowledged, in order. SESSION_EXPIRED (the session was evicted) and UNKNOWN_SESSION (never
// registered) are final: nothing changed now, but an earlier copy of the request may have taken
// effect, so it must not be resent under another session.

import { ByteWriter, ByteReader, copyBytes } from '../../engine/byte-writer.js';
import type { EventBuffer } from '../../engine/event-buffer.js';
import { encodeEventsTo } from '../../engine/event-codec.js';
import { ApplyOutcome, OUTCOME_NAMES } from '../../shard/state-machine.js';
import { COMMAND_BYTES_MAX } from '../../shard/batch-codec.js';
import type { CommittedRead } from '../log.js';
import type { NodeId } from '../raft/types.js';

/** Largest request frame the server accepts, length prefix excluded (8 MiB: a full SUBMIT batch of 64 KiB commands would not fit; typical ones are ~100 bytes each). */
export const CLIENT_FRAME_BYTES_MAX = 8 * 1024 * 1024;
/** Largest reply frame the client accepts (64 MiB: a sweeping order can produce many events; a status dump too). */
export const CLIENT_REPLY_BYTES_MAX = 64 * 1024 * 1024;
/** Commands in progress per connection on the server; more → the socket is paused. */
export const CLIENT_INFLIGHT_MAX = 8192;
/** Commands in one SUBMIT frame at most. */
export const CLIENT_BATCH_COMMANDS_MAX = 4096;
/** op 'entries': entry bytes per reply when the reader does not say (1 MiB: one full batch entry). */
export const ENTRIES_BYTES_DEFAULT = 1024 * 1024;
/** op 'entries': entry bytes per reply at most, whatever the reader asks (8 MiB). */
export const ENTRIES_BYTES_MAX = 8 * 1024 * 1024;
/** op 'entries': longest a reader that is caught up may wait for the next entry (ms) before an empty answer. */
export const ENTRIES_WAIT_MS_MAX = 5_000;

/** op 'trace': log indexes per request at most. */
export const TRACE_INDEXES_MAX = 1024;

/** Bytes of the length prefix in front of every frame. */
const LENGTH_BYTES = 4;
/** Error messages in RESULTS are cut to this many characters (the u16-length string holds 64 KiB). */
const ERROR_MESSAGE_CHARS_MAX = 1000;

export const FrameType = { JSON: 1, SUBMIT: 2, RESULTS: 3, ENTRIES: 4 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Result status in a RESULTS frame. */
/** DUPLICATE_WITH_RESULT: a resent command already applied, answered with the original's index, seq and events. */
export const ResultStatus = { APPLIED: 1, DUPLICATE: 2, ERROR: 3, DUPLICATE_WITH_RESULT: 4 } as const;

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

/** A JSON frame. */
export function encodeFrame(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const out = Buffer.allocUnsafe(LENGTH_BYTES + 1 + json.length);
  out.writeUInt32BE(json.length + 1, 0);
  out[LENGTH_BYTES] = FrameType.JSON;
  json.copy(out, LENGTH_BYTES + 1);
  return out;
}

export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError';
}

export interface RawFrame {
  type: number;
  /** A view into the reader's buffer, valid until the next push(). */
  body: Buffer;
}

/** Splits a byte stream into length-prefixed frames; pull-based so the reader can stop (backpressure). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  /** Chunks received behind buf, joined once a whole frame is there (one copy per frame, not one per chunk). */
  private more: Buffer[] = [];
  private moreBytes = 0;
  constructor(private readonly frameBytesMax: number) {}

  push(chunk: Buffer): void {
    if (this.off >= this.buf.length && this.moreBytes === 0) {
      this.buf = chunk;
      this.off = 0;
    } else {
      this.more.push(chunk);
      this.moreBytes += chunk.length;
    }
  }

  /** Buffered bytes not yet returned as frames. */
  get pendingBytes(): number {
    return this.buf.length - this.off + this.moreBytes;
  }

  /** Makes at least n bytes contiguous at off, if that many are buffered. */
  private contiguous(n: number): boolean {
    const have = this.buf.length - this.off;
    if (have >= n) return true;
    if (have + this.moreBytes < n) return false;
    this.buf = Buffer.concat([this.buf.subarray(this.off), ...this.more]);
    this.off = 0;
    this.more = [];
    this.moreBytes = 0;
    return true;
  }

  /** The next complete frame, or undefined. Throws FrameTooLargeError on an announced length over the limit (or an empty frame). */
  next(): RawFrame | undefined {
    if (!this.contiguous(LENGTH_BYTES)) return undefined;
    const len = this.buf.readUInt32BE(this.off);
    if (len > this.frameBytesMax) throw new FrameTooLargeError(`frame of ${len} bytes, limit ${this.frameBytesMax}`);
    if (len === 0) throw new FrameTooLargeError('empty frame (no type byte)');
    if (!this.contiguous(LENGTH_BYTES + len)) return undefined;
    const type = this.buf[this.off + LENGTH_BYTES]!;
    const body = this.buf.subarray(this.off + LENGTH_BYTES + 1, this.off + LENGTH_BYTES + len);
    this.off += LENGTH_BYTES + len;
    return { type, body };
  }
}

export type ReadFrame = { ok: true; value: unknown } | { ok: false; error: 'BAD_JSON' | 'NOT_JSON' };

/** FrameReader for JSON frames only (tools, tests): other frame types read as NOT_JSON. */
export class JsonFrameReader {
  private readonly frames: FrameReader;
  constructor(frameBytesMax: number) {
    this.frames = new FrameReader(frameBytesMax);
  }
  push(chunk: Buffer): void {
    this.frames.push(chunk);
  }
  get pendingBytes(): number {
    return this.frames.pendingBytes;
  }
  next(): ReadFrame | undefined {
    const f = this.frames.next();
    if (f === undefined) return undefined;
    return parseJsonFrame(f);
  }
}

export function parseJsonFrame(f: RawFrame): ReadFrame {
  if (f.type !== FrameType.JSON) return { ok: false, error: 'NOT_JSON' };
  try {
    return { ok: true, value: JSON.parse(f.body.toString('utf8')) as unknown };
  } catch {
    return { ok: false, error: 'BAD_JSON' };
  }
}

/** A SUBMIT frame: commands of one client session, `bodies` in the command codec. */
export function encodeSubmitFrame(
  clientId: number,
  requests: readonly { requestSeq: number; body: Uint8Array }[],
  w = new ByteWriter(),
): Buffer {
  w.reset();
  w.u32(0); // length, patched below (big-endian)
  w.u8(FrameType.SUBMIT);
  w.f64(clientId);
  w.u32(requests.length);
  for (const r of requests) {
    w.f64(r.requestSeq);
    w.u32(r.body.length);
    w.bytes(r.body);
  }
  const out = Buffer.from(w.view()); // one copy: the writer is reused
  out.writeUInt32BE(out.length - LENGTH_BYTES, 0);
  return out;
}

/** A SUBMIT frame as the server reads it, or why it is refused (the message of a BAD_REQUEST reply). */
export type SubmitFrame =
  | { ok: true; clientId: number; requests: { requestSeq: number; body: Uint8Array }[] }
  | { ok: false; message: string };

/**
 * The body of a SUBMIT frame: `f64 clientId | u32 count | count × (f64 requestSeq | u32 length | command)`.
 * Checks the framing and the limits, not the commands (a body the command codec cannot decode
 * is still logged). The command bodies are copies: the frame's bytes belong to the socket's
 * read buffer, the log keeps these.
 */
export function decodeSubmitFrame(body: Buffer): SubmitFrame {
  const bad = (message: string): SubmitFrame => ({ ok: false, message });
  const r = new ByteReader(body, 0, body.length);
  const requests: { requestSeq: number; body: Uint8Array }[] = [];
  try {
    const clientId = r.f64();
    const count = r.u32();
    if (!Number.isSafeInteger(clientId) || clientId < 1)
      return bad('clientId must be a positive safe integer (from op register)');
    if (count > CLIENT_BATCH_COMMANDS_MAX)
      return bad(`${count} commands in one SUBMIT, limit ${CLIENT_BATCH_COMMANDS_MAX}`);
    for (let k = 0; k < count; k++) {
      const requestSeq = r.f64();
      const len = r.u32();
      if (!Number.isSafeInteger(requestSeq) || requestSeq < 1) return bad('requestSeq must be a positive safe integer');
      if (len > COMMAND_BYTES_MAX) return bad(`command of ${len} bytes, limit ${COMMAND_BYTES_MAX}`);
      requests.push({ requestSeq, body: copyBytes(r.bytes(len)) });
    }
    if (r.remaining !== 0) return bad('trailing bytes after the commands');
    return { ok: true, clientId, requests };
  } catch {
    return bad('truncated SUBMIT frame');
  }
}

// ---------------------------------------------------------------------------------------------
// RESULTS: `u32 count | count × (f64 clientId | f64 requestSeq | u8 status | by status:)`
//   APPLIED, DUPLICATE_WITH_RESULT  f64 appliedIndex | f64 seq | u32 length | events (engine/event-codec.ts)
//   DUPLICATE                       f64 appliedIndex | f64 seq
//   ERROR                           str code | f64 leader | u8 retryable | str message
// The server fills one frame per connection and event-loop turn, result by result, in a
// reused writer: begin, write…Result per applied command, finish.
// ---------------------------------------------------------------------------------------------

/** Starts a RESULTS frame in `w` (reset first); finishResultsFrame() patches its length and count. */
export function beginResultsFrame(w: ByteWriter): void {
  w.reset();
  w.u32(0); // frame length, patched at finish
  w.u8(FrameType.RESULTS);
  w.u32(0); // result count, patched at finish
}

/** The RESULTS frame begun in `w`, holding `count` results (one copy: the writer is reused). */
export function finishResultsFrame(w: ByteWriter, count: number): Buffer {
  const out = Buffer.from(w.view());
  out.writeUInt32BE(out.length - LENGTH_BYTES, 0);
  out.writeUInt32LE(count, LENGTH_BYTES + 1);
  return out;
}

/**
 * An APPLIED result, its events encoded now from `events` (the buffer is reused). Returns where
 * the event bytes start in `w` (they end at w.length), for a copy kept to answer resends.
 */
export function writeAppliedResult(
  w: ByteWriter,
  clientId: number,
  requestSeq: number,
  appliedIndex: number,
  seq: number,
  events: EventBuffer,
  eventsFrom: number,
  eventsTo: number,
): number {
  w.f64(clientId);
  w.f64(requestSeq);
  w.u8(ResultStatus.APPLIED);
  w.f64(appliedIndex);
  w.f64(seq);
  const lengthAt = w.length;
  w.u32(0); // byte length of the event list, patched below
  encodeEventsTo(w, events, eventsFrom, eventsTo);
  w.patchU32(lengthAt, w.length - lengthAt - 4);
  return lengthAt + 4;
}

/** A DUPLICATE_WITH_RESULT: a resent command already applied, with the original's index, seq and event bytes. */
export function writeDuplicateWithResult(
  w: ByteWriter,
  clientId: number,
  requestSeq: number,
  appliedIndex: number,
  seq: number,
  eventBytes: Uint8Array,
): void {
  w.f64(clientId);
  w.f64(requestSeq);
  w.u8(ResultStatus.DUPLICATE_WITH_RESULT);
  w.f64(appliedIndex);
  w.f64(seq);
  w.u32(eventBytes.length);
  w.bytes(eventBytes);
}

/** A DUPLICATE without the original's result (the server does not hold it). */
export function writeDuplicateResult(
  w: ByteWriter,
  clientId: number,
  requestSeq: number,
  appliedIndex: number,
  seq: number,
): void {
  w.f64(clientId);
  w.f64(requestSeq);
  w.u8(ResultStatus.DUPLICATE);
  w.f64(appliedIndex);
  w.f64(seq);
}

/** An ERROR result; the message is cut to ERROR_MESSAGE_CHARS_MAX characters. */
export function writeErrorResult(
  w: ByteWriter,
  clientId: number,
  requestSeq: number,
  code: string,
  leader: number,
  retryable: boolean,
  message: string,
): void {
  w.f64(clientId);
  w.f64(requestSeq);
  w.u8(ResultStatus.ERROR);
  w.str(code);
  w.f64(leader);
  w.u8(retryable ? 1 : 0);
  w.str(message.slice(0, ERROR_MESSAGE_CHARS_MAX));
}

/** One result of a RESULTS frame as the client reads it; `events` is a view into the frame (copy it to keep it). */
const NO_EVENTS = new Uint8Array(0);

/**
 * Reads a RESULTS frame body one result at a time, in place (no object per result: the client
 * reads one per order), so the reader can act on each (and stop) before the next. `next()` fills
 * the fields of the result it read: `ok` with outcome, appliedIndex, seq and events (a view into
 * the body), or not `ok` with code, leader, retryable and message. The constructor and next()
 * throw DecodeError (engine/byte-writer.ts) on malformed bytes. A status other than APPLIED,
 * DUPLICATE and DUPLICATE_WITH_RESULT reads as ERROR.
 */
export class ResultsReader {
  private readonly r: ByteReader;
  /** Results in the frame. */
  readonly count: number;
  clientId = 0;
  requestSeq = 0;
  ok = false;
  outcome: 'APPLIED' | 'DUPLICATE' = 'APPLIED';
  appliedIndex = 0;
  seq = 0;
  events: Uint8Array = NO_EVENTS;
  code = '';
  leader = 0;
  retryable = false;
  message = '';

  constructor(body: Uint8Array) {
    this.r = new ByteReader(body, 0, body.length);
    this.count = this.r.u32();
  }

  next(): void {
    const r = this.r;
    this.clientId = r.f64();
    this.requestSeq = r.f64();
    const status = r.u8();
    this.ok =
      status === ResultStatus.APPLIED ||
      status === ResultStatus.DUPLICATE ||
      status === ResultStatus.DUPLICATE_WITH_RESULT;
    if (this.ok) {
      this.outcome = status === ResultStatus.APPLIED ? 'APPLIED' : 'DUPLICATE';
      this.appliedIndex = r.f64();
      this.seq = r.f64();
      this.events = status === ResultStatus.DUPLICATE ? NO_EVENTS : r.bytes(r.u32());
      return;
    }
    this.code = r.str();
    this.leader = r.f64();
    this.retryable = r.u8() === 1;
    this.message = r.str();
  }
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

export type RequestId = number | string | null;

export type CommandReply =
  | { id: RequestId; ok: true; outcome: 'APPLIED' | 'DUPLICATE'; appliedIndex: number; seq: number; events: unknown[] }
  | { id: RequestId; ok: false; error: string; leader: NodeId; retryable: boolean; message?: string };

/** The reply to op 'orders', after {id, ok:true} (ReplicaNode.ordersDump builds it). */
export type { OrdersDump } from '../log.js';

/**
 * Codes with which a request fails when its session was lost at the replicas: nothing changed
 * then, but the request was sent before and an earlier copy may have taken effect. The outcome
 * is unknown; check (the gateway: GetOrder) before sending the command again.
 */
export const SESSION_LOST_CODES: ReadonlySet<string> = new Set([
  OUTCOME_NAMES[ApplyOutcome.SESSION_EXPIRED]!,
  OUTCOME_NAMES[ApplyOutcome.UNKNOWN_SESSION]!,
]);

// ---------------------------------------------------------------------------------------------
// Entries (op 'entries')
// ---------------------------------------------------------------------------------------------

/**
 * ENTRIES frame (proto/client-frames.md), body little-endian:
 *   f64 id | u8 kind (1 entries, 2 snapshot) | f64 appliedIndex | f64 firstIndex |
 *   entries:  u32 count | count × (f64 index | f64 term | u8 type | u32 length | data)
 *   snapshot: f64 index | f64 term | u32 length | node snapshot (replicator/node.ts encodeSnapshotEnvelope)
 */
export function encodeEntriesFrame(id: number, read: CommittedRead): Buffer {
  const w = new ByteWriter();
  w.u32(0); // length, patched below (big-endian)
  w.u8(FrameType.ENTRIES);
  w.f64(id);
  w.u8(read.kind === 'entries' ? EntriesKind.ENTRIES : EntriesKind.SNAPSHOT);
  w.f64(read.applied);
  w.f64(read.firstIndex);
  if (read.kind === 'entries') {
    w.u32(read.entries.length);
    for (const e of read.entries) {
      w.f64(e.index);
      w.f64(e.term);
      w.u8(e.type);
      w.u32(e.data.length);
      w.bytes(e.data);
    }
  } else {
    w.f64(read.index);
    w.f64(read.term);
    w.u32(read.data.length);
    w.bytes(read.data);
  }
  const out = Buffer.from(w.view());
  out.writeUInt32BE(out.length - LENGTH_BYTES, 0);
  return out;
}

export const EntriesKind = { ENTRIES: 1, SNAPSHOT: 2 } as const;

/** A decoded ENTRIES frame body (the reader's side). Throws DecodeError (engine/byte-writer.ts) on malformed bytes. */
export type EntriesReply =
  | {
      id: number;
      kind: 'entries';
      applied: number;
      firstIndex: number;
      entries: { index: number; term: number; type: number; data: Uint8Array }[];
    }
  | {
      id: number;
      kind: 'snapshot';
      applied: number;
      firstIndex: number;
      index: number;
      term: number;
      data: Uint8Array;
    };

export function decodeEntriesFrame(body: Uint8Array): EntriesReply {
  const r = new ByteReader(body, 0, body.length);
  const id = r.f64();
  const kind = r.u8();
  const applied = r.f64();
  const firstIndex = r.f64();
  if (kind === EntriesKind.ENTRIES) {
    const count = r.u32();
    const entries: { index: number; term: number; type: number; data: Uint8Array }[] = [];
    for (let k = 0; k < count; k++) {
      const index = r.f64();
      const term = r.f64();
      const type = r.u8();
      const data = copyBytes(r.bytes(r.u32()));
      entries.push({ index, term, type, data });
    }
    if (r.remaining !== 0) throw new RangeError('ENTRIES frame: trailing bytes');
    return { id, kind: 'entries', applied, firstIndex, entries };
  }
  if (kind !== EntriesKind.SNAPSHOT) throw new RangeError(`ENTRIES frame: unknown kind ${kind}`);
  const index = r.f64();
  const term = r.f64();
  const data = copyBytes(r.bytes(r.u32()));
  if (r.remaining !== 0) throw new RangeError('ENTRIES frame: trailing bytes');
  return { id, kind: 'snapshot', applied, firstIndex, index, term, data };
}
