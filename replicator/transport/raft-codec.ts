// Raft wire codec: frames of HELLO / RAFT_MESSAGE / RAFT_BATCH, pure functions and a streaming
// decoder, no I/O. The format is specified in proto/raft-frames.md.
//
// Encoding writes one batch into one buffer (sizes are computed first, then every byte is
// written exactly once). Decoding never copies entry or snapshot data: those are subarrays of
// the buffer the frame arrived in, which they keep alive (see FrameDecoder).
//
// Input from a peer is untrusted: every count and length is checked against the bytes left in
// the frame before anything is allocated for it, and every refusal is a FrameDecodeError with
// a code. Encoding input is ours: a value the format cannot carry is a local bug and throws a
// RangeError.

import { EntryType, MessageType, type Entry, type Message, type NodeId, type SnapshotChunk } from '../raft/types.js';
import {
  CLUSTER_ID_BYTES_MAX,
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FRAME_LENGTH_BYTES,
  FrameDecodeError,
  type FrameDecoderOptions,
  FrameErrorCode,
  FrameStreamDecoder,
  HELLO_FIXED_BYTES,
  HELLO_FRAME_BYTES_MAX,
  HELLO_FRAME_TYPE,
  type Hello,
  Reader,
  U32_MAX,
  WireProtocol,
  checkU64,
  decodeHelloPayload,
  encodeHelloFrame,
  malformed,
  plainView,
  writeU64,
} from './frame-codec.js';

// The shared frame machinery, re-exported: the transport and its tests import it from here.
export {
  CLUSTER_ID_BYTES_MAX,
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FRAME_LENGTH_BYTES,
  FrameDecodeError,
  type FrameDecoderOptions,
  FrameErrorCode,
  HELLO_FIXED_BYTES,
  HELLO_FRAME_BYTES_MAX,
  type Hello,
};

/** Version carried in HELLO; a peer speaking another version is refused. */
export const PROTOCOL_VERSION: number = WireProtocol.RAFT.version;
/** First 4 bytes of a HELLO payload: the bytes "MBRF" read as a little-endian u32. */
export const HELLO_MAGIC: number = WireProtocol.RAFT.magic;

export const FrameType = {
  HELLO: HELLO_FRAME_TYPE,
  RAFT_MESSAGE: 2,
  RAFT_BATCH: 3,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Bytes a RAFT_BATCH adds after the header: the message count. */
export const BATCH_HEADER_BYTES = 4;
/** Fixed part of an encoded Message. */
export const MESSAGE_FIXED_BYTES = 70;
/** Bytes an entry adds before its data: index, term, type, data length. */
export const ENTRY_HEADER_BYTES = 21;
/** Fixed part of a snapshot chunk (without voters, learners and data). */
export const SNAPSHOT_FIXED_BYTES = 45;
const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_SNAPSHOT;
const MESSAGE_TYPE_MAX = MessageType.READ_INDEX_RESP;
const ENTRY_TYPE_MAX = EntryType.CONF_CHANGE;

export type DecodedFrame =
  | { kind: 'hello'; hello: Hello }
  /** RAFT_MESSAGE (one message) or RAFT_BATCH. `frameBytes` counts the whole frame, header included. */
  | {
      kind: 'messages';
      frameType: typeof FrameType.RAFT_MESSAGE | typeof FrameType.RAFT_BATCH;
      messages: Message[];
      frameBytes: number;
    };

// ---------------------------------------------------------------------------------------------
// Encoding

/** Bytes `m` takes inside a frame (RAFT_MESSAGE payload, or one element of a RAFT_BATCH). */
export function messageEncodedBytes(m: Message): number {
  let n = MESSAGE_FIXED_BYTES;
  const entries = m.entries;
  for (let i = 0; i < entries.length; i++) n += ENTRY_HEADER_BYTES + entries[i]!.data.byteLength;
  const s = m.snapshot;
  if (s !== undefined)
    n += SNAPSHOT_FIXED_BYTES + 8 * (s.meta.conf.voters.length + s.meta.conf.learners.length) + s.data.byteLength;
  return n;
}

/** Throws RangeError if `m` holds a value the format cannot carry (an enum out of range, a number that is not a u64 safe integer). */
export function checkMessage(m: Message): void {
  if (!Number.isInteger(m.type) || m.type < 1 || m.type > MESSAGE_TYPE_MAX)
    throw new RangeError(`raft-codec: message type ${m.type}`);
  checkU64(m.from, 'from');
  checkU64(m.to, 'to');
  checkU64(m.term, 'term');
  checkU64(m.logTerm, 'logTerm');
  checkU64(m.index, 'index');
  checkU64(m.commit, 'commit');
  checkU64(m.rejectHint, 'rejectHint');
  checkU64(m.context, 'context');
  const entries = m.entries;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    checkU64(e.index, 'entry.index');
    checkU64(e.term, 'entry.term');
    if (!Number.isInteger(e.type) || e.type < 1 || e.type > ENTRY_TYPE_MAX)
      throw new RangeError(`raft-codec: entry type ${e.type}`);
  }
  const s = m.snapshot;
  if (s !== undefined) {
    checkU64(s.meta.index, 'snapshot.meta.index');
    checkU64(s.meta.term, 'snapshot.meta.term');
    for (const id of s.meta.conf.voters) checkU64(id, 'snapshot.meta.conf.voters');
    for (const id of s.meta.conf.learners) checkU64(id, 'snapshot.meta.conf.learners');
    checkU64(s.size, 'snapshot.size');
    checkU64(s.offset, 'snapshot.offset');
  }
}

/** Frame bytes of a frame holding messages whose encoded sizes sum to `messagesBytes`. */
export function messagesFrameBytes(count: number, messagesBytes: number): number {
  return FRAME_HEADER_BYTES + (count === 1 ? 0 : BATCH_HEADER_BYTES) + messagesBytes;
}

function encodeMessage(buf: Uint8Array, view: DataView, o: number, m: Message): number {
  if (!Number.isInteger(m.type) || m.type < 1 || m.type > MESSAGE_TYPE_MAX)
    throw new RangeError(`raft-codec: message type ${m.type}`);
  const s = m.snapshot;
  buf[o] = m.type;
  buf[o + 1] = (m.reject ? FLAG_REJECT : 0) | (s !== undefined ? FLAG_SNAPSHOT : 0);
  checkU64(m.from, 'from');
  writeU64(view, o + 2, m.from);
  checkU64(m.to, 'to');
  writeU64(view, o + 10, m.to);
  checkU64(m.term, 'term');
  writeU64(view, o + 18, m.term);
  checkU64(m.logTerm, 'logTerm');
  writeU64(view, o + 26, m.logTerm);
  checkU64(m.index, 'index');
  writeU64(view, o + 34, m.index);
  checkU64(m.commit, 'commit');
  writeU64(view, o + 42, m.commit);
  checkU64(m.rejectHint, 'rejectHint');
  writeU64(view, o + 50, m.rejectHint);
  checkU64(m.context, 'context');
  writeU64(view, o + 58, m.context);
  const entries = m.entries;
  view.setUint32(o + 66, entries.length, true);
  o += MESSAGE_FIXED_BYTES;
  for (let i = 0; i < entries.length; i++) {
    const e: Entry = entries[i]!;
    checkU64(e.index, 'entry.index');
    writeU64(view, o, e.index);
    checkU64(e.term, 'entry.term');
    writeU64(view, o + 8, e.term);
    if (!Number.isInteger(e.type) || e.type < 1 || e.type > ENTRY_TYPE_MAX)
      throw new RangeError(`raft-codec: entry type ${e.type}`);
    buf[o + 16] = e.type;
    view.setUint32(o + 17, e.data.byteLength, true);
    buf.set(e.data, o + ENTRY_HEADER_BYTES);
    o += ENTRY_HEADER_BYTES + e.data.byteLength;
  }
  if (s !== undefined) o = encodeSnapshot(buf, view, o, s);
  return o;
}

function encodeSnapshot(buf: Uint8Array, view: DataView, o: number, s: SnapshotChunk): number {
  checkU64(s.meta.index, 'snapshot.meta.index');
  writeU64(view, o, s.meta.index);
  checkU64(s.meta.term, 'snapshot.meta.term');
  writeU64(view, o + 8, s.meta.term);
  o += 16;
  for (const ids of [s.meta.conf.voters, s.meta.conf.learners]) {
    view.setUint32(o, ids.length, true);
    o += 4;
    for (let i = 0; i < ids.length; i++) {
      checkU64(ids[i]!, 'snapshot.meta.conf');
      writeU64(view, o, ids[i]!);
      o += 8;
    }
  }
  checkU64(s.size, 'snapshot.size');
  writeU64(view, o, s.size);
  checkU64(s.offset, 'snapshot.offset');
  writeU64(view, o + 8, s.offset);
  buf[o + 16] = s.done ? 1 : 0;
  view.setUint32(o + 17, s.data.byteLength, true);
  buf.set(s.data, o + 21);
  return o + 21 + s.data.byteLength;
}

/**
 * Encodes `msgs` as one frame: RAFT_MESSAGE for one message, RAFT_BATCH for several, in one
 * buffer (small ones are views into Node's Buffer pool). Throws RangeError on an empty array, a
 * frame over `frameBytesMax`, or a field the format cannot carry: all local bugs, since callers
 * size their batches with messageEncodedBytes() first.
 */
export function encodeMessages(msgs: Message[], frameBytesMax: number = FRAME_BYTES_MAX): Uint8Array {
  if (msgs.length === 0) throw new RangeError('raft-codec: encodeMessages of no messages');
  let bytes = 0;
  for (let i = 0; i < msgs.length; i++) bytes += messageEncodedBytes(msgs[i]!);
  const frameBytes = messagesFrameBytes(msgs.length, bytes);
  if (frameBytes > frameBytesMax || frameBytes - FRAME_LENGTH_BYTES > U32_MAX) {
    throw new RangeError(`raft-codec: frame of ${frameBytes} bytes exceeds ${frameBytesMax}`);
  }
  // allocUnsafe: every byte is written below (the round-trip tests compare two encodings).
  const buf = Buffer.allocUnsafe(frameBytes);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, frameBytes - FRAME_LENGTH_BYTES, true);
  let o = FRAME_HEADER_BYTES;
  if (msgs.length === 1) {
    buf[4] = FrameType.RAFT_MESSAGE;
  } else {
    buf[4] = FrameType.RAFT_BATCH;
    view.setUint32(o, msgs.length, true);
    o += BATCH_HEADER_BYTES;
  }
  for (let i = 0; i < msgs.length; i++) o = encodeMessage(buf, view, o, msgs[i]!);
  if (o !== frameBytes) throw new Error(`raft-codec: encoded ${o} bytes, sized ${frameBytes}`); // a sizing bug
  return plainView(buf);
}

/** Encodes the HELLO frame a dialler sends first. */
export function encodeHello(hello: Hello): Uint8Array {
  return encodeHelloFrame(WireProtocol.RAFT, hello, 'raft-codec');
}

// ---------------------------------------------------------------------------------------------
// Decoding

function decodeIds(r: Reader, what: string): NodeId[] {
  const n = r.count(8, what);
  const ids: NodeId[] = [];
  for (let i = 0; i < n; i++) ids.push(r.u64(what));
  return ids;
}

function decodeMessage(r: Reader): Message {
  const type = r.u8('message.type');
  if (type < 1 || type > MESSAGE_TYPE_MAX) throw malformed(`message type ${type}`);
  const flags = r.u8('message.flags');
  if ((flags & ~FLAGS_KNOWN) !== 0) throw malformed(`message flags 0x${flags.toString(16)}`);
  const from = r.u64('message.from');
  const to = r.u64('message.to');
  const term = r.u64('message.term');
  const logTerm = r.u64('message.logTerm');
  const index = r.u64('message.index');
  const commit = r.u64('message.commit');
  const rejectHint = r.u64('message.rejectHint');
  const context = r.u64('message.context');
  const entryCount = r.count(ENTRY_HEADER_BYTES, 'message.entryCount');
  const entries: Entry[] = [];
  for (let i = 0; i < entryCount; i++) {
    const eIndex = r.u64('entry.index');
    const eTerm = r.u64('entry.term');
    const eType = r.u8('entry.type');
    if (eType < 1 || eType > ENTRY_TYPE_MAX) throw malformed(`entry type ${eType}`);
    const data = r.bytes(r.u32('entry.dataLength'), 'entry.data');
    entries.push({ index: eIndex, term: eTerm, type: eType as EntryType, data });
  }
  const m: Message = {
    type: type as MessageType,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    context,
  };
  if ((flags & FLAG_SNAPSHOT) !== 0) {
    const metaIndex = r.u64('snapshot.meta.index');
    const metaTerm = r.u64('snapshot.meta.term');
    const voters = decodeIds(r, 'snapshot.voters');
    const learners = decodeIds(r, 'snapshot.learners');
    const size = r.u64('snapshot.size');
    const offset = r.u64('snapshot.offset');
    const done = r.bool('snapshot.done');
    const data = r.bytes(r.u32('snapshot.dataLength'), 'snapshot.data');
    m.snapshot = { meta: { index: metaIndex, term: metaTerm, conf: { voters, learners } }, size, offset, data, done };
  }
  return m;
}

/** Decodes one frame body (frame type byte + payload, without the length field). */
function decodeBody(body: Uint8Array): DecodedFrame {
  const r = new Reader(body, 1);
  const frameType = body[0]!;
  let frame: DecodedFrame;
  if (frameType === FrameType.HELLO) {
    frame = { kind: 'hello', hello: decodeHelloPayload(r, WireProtocol.RAFT) };
  } else if (frameType === FrameType.RAFT_MESSAGE) {
    frame = {
      kind: 'messages',
      frameType,
      messages: [decodeMessage(r)],
      frameBytes: FRAME_LENGTH_BYTES + body.byteLength,
    };
  } else if (frameType === FrameType.RAFT_BATCH) {
    const n = r.count(MESSAGE_FIXED_BYTES, 'batch.count');
    if (n === 0) throw malformed('empty batch');
    const messages: Message[] = [];
    for (let i = 0; i < n; i++) messages.push(decodeMessage(r));
    frame = { kind: 'messages', frameType, messages, frameBytes: FRAME_LENGTH_BYTES + body.byteLength };
  } else {
    throw new FrameDecodeError(FrameErrorCode.UNKNOWN_FRAME_TYPE, `frame type ${frameType}`);
  }
  r.finish();
  return frame;
}

/**
 * The streaming decoder of Raft frames (see FrameStreamDecoder in frame-codec.ts for chunking,
 * memory and errors): HELLO, RAFT_MESSAGE, RAFT_BATCH.
 */
export class FrameDecoder extends FrameStreamDecoder<DecodedFrame> {
  constructor(options: FrameDecoderOptions = {}) {
    super(decodeBody, options);
  }
}
