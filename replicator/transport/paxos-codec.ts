// Multi-Paxos wire codec: frames of HELLO / PAXOS_MESSAGE / PAXOS_BATCH carrying the core's
// PaxosMessage (paxos/types.ts) and the host's snapshot chunks, pure functions and a streaming
// decoder, no I/O. The format is specified in proto/paxos-frames.md; the frame header, the HELLO
// and the streaming decoder are Raft's (frame-codec.ts), with the Multi-Paxos magic in the HELLO,
// so a Raft replica and a Multi-Paxos replica refuse each other with WRONG_PROTOCOL.
//
// Encoding checks every item first (a value the format cannot carry is a local bug: RangeError),
// sizes the frame, then writes every byte once into one buffer. Decoding never copies value or
// snapshot data: they are subarrays of the buffer the frame arrived in. Input from a peer is
// untrusted: every count and length is checked against the bytes left before anything is
// allocated for it, and every refusal is a FrameDecodeError with a code.

import { PAXOS_ACCEPT_WINDOW_SLOTS, PAXOS_LEARN_SLOTS_MAX } from '../limits.js';
import {
  type Ballot,
  type NodeId,
  type PaxosMessage,
  PaxosMessageType,
  type PaxosValue,
  type SlotValue,
  ValueType,
} from '../paxos/types.js';
import {
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FRAME_LENGTH_BYTES,
  FrameDecodeError,
  type FrameDecoderOptions,
  FrameErrorCode,
  FrameStreamDecoder,
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

const CODEC = 'paxos-codec';

/** Version carried in a Multi-Paxos HELLO. */
export const PAXOS_PROTOCOL_VERSION: number = WireProtocol.MULTIPAXOS.version;

/** Frame types: HELLO is shared; the others are far from Raft's (2, 3), which a Paxos decoder refuses as WRONG_PROTOCOL. */
export const PaxosFrameType = {
  HELLO: HELLO_FRAME_TYPE,
  PAXOS_MESSAGE: 16,
  PAXOS_BATCH: 17,
} as const;
export type PaxosFrameType = (typeof PaxosFrameType)[keyof typeof PaxosFrameType];
/** Raft's frame types, recognized only to refuse them clearly. */
const RAFT_FRAME_TYPES: readonly number[] = [2, 3];

/** First byte of an item: a PaxosMessageType (1..8, 10, 11), or this for a snapshot chunk. */
export const SNAPSHOT_CHUNK_KIND = 9;
/** Bytes a PAXOS_BATCH adds after the header: the item count. */
export const PAXOS_BATCH_HEADER_BYTES = 4;
/** Fixed part of an encoded message: kind, from, to, ballot (round, leader), index, slot, value count. */
export const PAXOS_MESSAGE_FIXED_BYTES = 53;
/** Bytes a value adds before its data: slot, ballot, type, origin ballot, data length. */
export const SLOT_VALUE_HEADER_BYTES = 45;
/** Fixed part of an encoded snapshot chunk: kind, from, to, slot, size, offset, done, data length. */
export const SNAPSHOT_CHUNK_FIXED_BYTES = 46;
/**
 * Values in one PROMISE or LEARN at most (16): an acceptor reports at most its accept window in a
 * PROMISE, and a LEARN carries at most PAXOS_LEARN_SLOTS_MAX values. A decoder refuses more
 * before reading them (a host with larger windows passes its own limit).
 */
export const PAXOS_MESSAGE_VALUES_MAX = Math.max(PAXOS_ACCEPT_WINDOW_SLOTS, PAXOS_LEARN_SLOTS_MAX);

/** Every PaxosMessageType (9 is the snapshot chunk's item kind, not a message). */
const MESSAGE_TYPES: ReadonlySet<number> = new Set(Object.values(PaxosMessageType));
const isMessageType = (t: number): t is PaxosMessageType => MESSAGE_TYPES.has(t);
const isRecoverType = (t: number): boolean =>
  t === PaxosMessageType.RECOVER_QUERY || t === PaxosMessageType.RECOVER_REPLY;

/**
 * What RECOVER_QUERY and RECOVER_REPLY must hold (null: fine): a nonce (slot) ≥ 1, and a query
 * carries no ballot nor index. The core compares nonces only; a zero one would be a host bug.
 */
function recoverFieldsError(m: Pick<PaxosMessage, 'type' | 'slot' | 'index' | 'ballot'>): string | null {
  if (!isRecoverType(m.type)) return null;
  if (m.slot < 1) return `message type ${m.type} with nonce ${m.slot}`;
  if (m.type === PaxosMessageType.RECOVER_QUERY && (m.index !== 0 || m.ballot.round !== 0 || m.ballot.leader !== 0))
    return 'RECOVER_QUERY with a ballot or an index';
  return null;
}
const VALUE_TYPE_MAX = ValueType.NOOP;

/** Part of a snapshot (the host's catch-up past what it retains): bytes [offset, offset + data) of `size`. */
export interface PaxosSnapshotChunk {
  from: NodeId;
  to: NodeId;
  /** The slot the snapshot covers. */
  slot: number;
  /** Bytes of the whole snapshot. */
  size: number;
  offset: number;
  /** The last chunk: offset + data.byteLength = size. */
  done: boolean;
  data: Uint8Array;
}

/** One item of a frame: a core message or a snapshot chunk. */
export type PaxosWireItem =
  | { kind: 'message'; message: PaxosMessage }
  | { kind: 'snapshotChunk'; chunk: PaxosSnapshotChunk };

export type PaxosDecodedFrame =
  | { kind: 'hello'; hello: Hello }
  /** PAXOS_MESSAGE (one item) or PAXOS_BATCH. `frameBytes` counts the whole frame, header included. */
  | {
      kind: 'items';
      frameType: typeof PaxosFrameType.PAXOS_MESSAGE | typeof PaxosFrameType.PAXOS_BATCH;
      items: PaxosWireItem[];
      frameBytes: number;
    };

// ---------------------------------------------------------------------------------------------
// Encoding

/** Bytes `item` takes inside a frame. */
export function paxosItemEncodedBytes(item: PaxosWireItem): number {
  if (item.kind === 'snapshotChunk') return SNAPSHOT_CHUNK_FIXED_BYTES + item.chunk.data.byteLength;
  let n = PAXOS_MESSAGE_FIXED_BYTES;
  const values = item.message.values;
  for (let i = 0; i < values.length; i++) n += SLOT_VALUE_HEADER_BYTES + values[i]!.value.data.byteLength;
  return n;
}

/** Frame bytes of a frame holding `count` items whose encoded sizes sum to `itemsBytes`. */
export function paxosItemsFrameBytes(count: number, itemsBytes: number): number {
  return FRAME_HEADER_BYTES + (count === 1 ? 0 : PAXOS_BATCH_HEADER_BYTES) + itemsBytes;
}

function checkBallot(b: Ballot, field: string): void {
  checkU64(b.round, `${field}.round`, CODEC);
  checkU64(b.leader, `${field}.leader`, CODEC);
}

function checkMessageValues(m: PaxosMessage, valuesMax: number): void {
  const n = m.values.length;
  if (m.type === PaxosMessageType.ACCEPT) {
    const sv = m.values[0];
    if (n !== 1 || sv === undefined || sv.slot !== m.slot || !sameBallot(sv.ballot, m.ballot))
      throw new RangeError(`${CODEC}: ACCEPT must carry one value of its slot and ballot`);
  } else if (m.type === PaxosMessageType.PROMISE || m.type === PaxosMessageType.LEARN) {
    if (n > valuesMax) throw new RangeError(`${CODEC}: ${n} values exceed ${valuesMax}`);
  } else if (n !== 0) {
    throw new RangeError(`${CODEC}: message type ${m.type} with values`);
  }
  for (const sv of m.values) {
    checkU64(sv.slot, 'value.slot', CODEC);
    checkBallot(sv.ballot, 'value.ballot');
    checkValue(sv.value);
  }
}

function checkValue(v: PaxosValue): void {
  if (!Number.isInteger(v.type) || v.type < 1 || v.type > VALUE_TYPE_MAX)
    throw new RangeError(`${CODEC}: value type ${v.type}`);
  if (v.type === ValueType.NOOP && v.data.byteLength !== 0) throw new RangeError(`${CODEC}: a no-op with data`);
  checkBallot(v.origin, 'value.origin');
  if (v.data.byteLength > U32_MAX) throw new RangeError(`${CODEC}: value of ${v.data.byteLength} bytes`);
}

/**
 * Throws RangeError if `item` holds something the format cannot carry or the decoder refuses (an
 * enum out of range, a number that is not a u64 safe integer, an ACCEPT without exactly its one
 * value, more values than `valuesMax`, a chunk outside its snapshot).
 */
export function checkPaxosItem(item: PaxosWireItem, valuesMax: number = PAXOS_MESSAGE_VALUES_MAX): void {
  if (item.kind === 'snapshotChunk') {
    const c = item.chunk;
    for (const [field, v] of [
      ['from', c.from],
      ['to', c.to],
      ['slot', c.slot],
      ['size', c.size],
      ['offset', c.offset],
    ] as const)
      checkU64(v, `chunk.${field}`, CODEC);
    if (c.offset + c.data.byteLength > c.size || c.done !== (c.offset + c.data.byteLength === c.size))
      throw new RangeError(`${CODEC}: chunk [${c.offset}, +${c.data.byteLength}) of ${c.size} bytes, done ${c.done}`);
    return;
  }
  const m = item.message;
  if (!isMessageType(m.type)) throw new RangeError(`${CODEC}: message type ${m.type}`);
  for (const [field, v] of [
    ['from', m.from],
    ['to', m.to],
    ['index', m.index],
    ['slot', m.slot],
  ] as const)
    checkU64(v, field, CODEC);
  checkBallot(m.ballot, 'ballot');
  checkMessageValues(m, valuesMax);
  const bad = recoverFieldsError(m);
  if (bad !== null) throw new RangeError(`${CODEC}: ${bad}`);
}

function writeBallot(view: DataView, o: number, b: Ballot): number {
  writeU64(view, o, b.round);
  writeU64(view, o + 8, b.leader);
  return o + 16;
}

/** Writes a checked message at `o`; returns the offset after it. */
function writeMessage(buf: Uint8Array, view: DataView, o: number, m: PaxosMessage): number {
  buf[o] = m.type;
  writeU64(view, o + 1, m.from);
  writeU64(view, o + 9, m.to);
  writeBallot(view, o + 17, m.ballot);
  writeU64(view, o + 33, m.index);
  writeU64(view, o + 41, m.slot);
  view.setUint32(o + 49, m.values.length, true);
  o += PAXOS_MESSAGE_FIXED_BYTES;
  for (const sv of m.values) {
    writeU64(view, o, sv.slot);
    writeBallot(view, o + 8, sv.ballot);
    buf[o + 24] = sv.value.type;
    writeBallot(view, o + 25, sv.value.origin);
    view.setUint32(o + 41, sv.value.data.byteLength, true);
    buf.set(sv.value.data, o + SLOT_VALUE_HEADER_BYTES);
    o += SLOT_VALUE_HEADER_BYTES + sv.value.data.byteLength;
  }
  return o;
}

/** Writes a checked snapshot chunk at `o`; returns the offset after it. */
function writeChunk(buf: Uint8Array, view: DataView, o: number, c: PaxosSnapshotChunk): number {
  buf[o] = SNAPSHOT_CHUNK_KIND;
  writeU64(view, o + 1, c.from);
  writeU64(view, o + 9, c.to);
  writeU64(view, o + 17, c.slot);
  writeU64(view, o + 25, c.size);
  writeU64(view, o + 33, c.offset);
  buf[o + 41] = c.done ? 1 : 0;
  view.setUint32(o + 42, c.data.byteLength, true);
  buf.set(c.data, o + SNAPSHOT_CHUNK_FIXED_BYTES);
  return o + SNAPSHOT_CHUNK_FIXED_BYTES + c.data.byteLength;
}

/**
 * Encodes `items` as one frame: PAXOS_MESSAGE for one item, PAXOS_BATCH for several, in one
 * buffer. Throws RangeError on an empty array, a frame over `frameBytesMax`, or an item
 * checkPaxosItem refuses: all local bugs, since callers size batches with paxosItemEncodedBytes().
 */
export function encodePaxosItems(items: PaxosWireItem[], frameBytesMax: number = FRAME_BYTES_MAX): Uint8Array {
  if (items.length === 0) throw new RangeError(`${CODEC}: encodePaxosItems of no items`);
  let bytes = 0;
  for (const item of items) {
    checkPaxosItem(item, Number.MAX_SAFE_INTEGER); // the value count is the decoder's limit, not the format's
    bytes += paxosItemEncodedBytes(item);
  }
  const frameBytes = paxosItemsFrameBytes(items.length, bytes);
  if (frameBytes > frameBytesMax || frameBytes - FRAME_LENGTH_BYTES > U32_MAX)
    throw new RangeError(`${CODEC}: frame of ${frameBytes} bytes exceeds ${frameBytesMax}`);
  // allocUnsafe: every byte is written below (the round-trip tests compare two encodings).
  const buf = Buffer.allocUnsafe(frameBytes);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, frameBytes - FRAME_LENGTH_BYTES, true);
  let o = FRAME_HEADER_BYTES;
  buf[4] = items.length === 1 ? PaxosFrameType.PAXOS_MESSAGE : PaxosFrameType.PAXOS_BATCH;
  if (items.length > 1) {
    view.setUint32(o, items.length, true);
    o += PAXOS_BATCH_HEADER_BYTES;
  }
  for (const item of items)
    o = item.kind === 'message' ? writeMessage(buf, view, o, item.message) : writeChunk(buf, view, o, item.chunk);
  if (o !== frameBytes) throw new Error(`${CODEC}: encoded ${o} bytes, sized ${frameBytes}`); // a sizing bug
  return plainView(buf);
}

/** Encodes the HELLO a Multi-Paxos dialler sends first (Raft's layout, the Multi-Paxos magic). */
export function encodePaxosHello(hello: Hello): Uint8Array {
  return encodeHelloFrame(WireProtocol.MULTIPAXOS, hello, CODEC);
}

/**
 * A whole snapshot (what PaxosNode sends) cut into chunks of at most `chunkBytes` data bytes,
 * views into `data`; an empty snapshot is one empty chunk.
 */
export function snapshotChunks(
  from: NodeId,
  to: NodeId,
  slot: number,
  data: Uint8Array,
  chunkBytes: number,
): PaxosSnapshotChunk[] {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`${CODEC}: chunkBytes ${chunkBytes}`);
  const size = data.byteLength;
  const chunks: PaxosSnapshotChunk[] = [];
  let offset = 0;
  do {
    const end = Math.min(size, offset + chunkBytes);
    chunks.push({ from, to, slot, size, offset, done: end === size, data: data.subarray(offset, end) });
    offset = end;
  } while (offset < size);
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// Decoding

function sameBallot(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.leader === b.leader;
}

function readBallot(r: Reader, what: string): Ballot {
  return { round: r.u64(`${what}.round`), leader: r.u64(`${what}.leader`) };
}

function readSlotValue(r: Reader): SlotValue {
  const slot = r.u64('value.slot');
  const ballot = readBallot(r, 'value.ballot');
  const type = r.u8('value.type');
  if (type < 1 || type > VALUE_TYPE_MAX) throw malformed(`value type ${type}`);
  const origin = readBallot(r, 'value.origin');
  const data = r.bytes(r.u32('value.dataLength'), 'value.data');
  if (type === ValueType.NOOP && data.byteLength !== 0) throw malformed('a no-op with data');
  return { slot, ballot, value: { type: type as ValueType, origin, data } };
}

/** The value counts a message type may carry: ACCEPT exactly one, PROMISE and LEARN up to the limit, the others none. */
function valueCountAllowed(type: PaxosMessageType, n: number, valuesMax: number): boolean {
  if (type === PaxosMessageType.ACCEPT) return n === 1;
  if (type === PaxosMessageType.PROMISE || type === PaxosMessageType.LEARN) return n <= valuesMax;
  return n === 0;
}

function readMessage(r: Reader, type: number, valuesMax: number): PaxosMessage {
  if (!isMessageType(type)) throw malformed(`item kind ${type}`);
  const from = r.u64('message.from');
  const to = r.u64('message.to');
  const ballot = readBallot(r, 'message.ballot');
  const index = r.u64('message.index');
  const slot = r.u64('message.slot');
  const n = r.count(SLOT_VALUE_HEADER_BYTES, 'message.valueCount');
  if (!valueCountAllowed(type as PaxosMessageType, n, valuesMax))
    throw malformed(`message type ${type} with ${n} values (limit ${valuesMax})`);
  const values: SlotValue[] = [];
  for (let i = 0; i < n; i++) values.push(readSlotValue(r));
  // The core asserts this of an ACCEPT (a broken one would be fatal there): refuse it here.
  const sv = values[0];
  if (type === PaxosMessageType.ACCEPT && (sv!.slot !== slot || !sameBallot(sv!.ballot, ballot)))
    throw malformed('ACCEPT value of another slot or ballot');
  const bad = recoverFieldsError({ type, slot, index, ballot });
  if (bad !== null) throw malformed(bad);
  return { type, from, to, ballot, index, slot, values };
}

function readChunk(r: Reader): PaxosSnapshotChunk {
  const from = r.u64('chunk.from');
  const to = r.u64('chunk.to');
  const slot = r.u64('chunk.slot');
  const size = r.u64('chunk.size');
  const offset = r.u64('chunk.offset');
  const done = r.bool('chunk.done');
  const data = r.bytes(r.u32('chunk.dataLength'), 'chunk.data');
  const end = offset + data.byteLength; // < 2^54: exact
  if (end > size || done !== (end === size))
    throw malformed(`chunk [${offset}, ${end}) of a ${size}-byte snapshot, done ${done}`);
  return { from, to, slot, size, offset, done, data };
}

function readItem(r: Reader, valuesMax: number): PaxosWireItem {
  const kind = r.u8('item.kind');
  if (kind === SNAPSHOT_CHUNK_KIND) return { kind: 'snapshotChunk', chunk: readChunk(r) };
  return { kind: 'message', message: readMessage(r, kind, valuesMax) };
}

/** Decodes one frame body (frame type byte + payload, without the length field). */
function decodePaxosBody(body: Uint8Array, valuesMax: number): PaxosDecodedFrame {
  const r = new Reader(body, 1);
  const frameType = body[0]!;
  const frameBytes = FRAME_LENGTH_BYTES + body.byteLength;
  let frame: PaxosDecodedFrame;
  if (frameType === PaxosFrameType.HELLO) {
    frame = { kind: 'hello', hello: decodeHelloPayload(r, WireProtocol.MULTIPAXOS) };
  } else if (frameType === PaxosFrameType.PAXOS_MESSAGE) {
    frame = { kind: 'items', frameType, items: [readItem(r, valuesMax)], frameBytes };
  } else if (frameType === PaxosFrameType.PAXOS_BATCH) {
    // Every item is at least a snapshot chunk's fixed part (the smaller of the two kinds).
    const n = r.count(SNAPSHOT_CHUNK_FIXED_BYTES, 'batch.count');
    if (n === 0) throw malformed('empty batch');
    const items: PaxosWireItem[] = [];
    for (let i = 0; i < n; i++) items.push(readItem(r, valuesMax));
    frame = { kind: 'items', frameType, items, frameBytes };
  } else if (RAFT_FRAME_TYPES.includes(frameType)) {
    throw new FrameDecodeError(FrameErrorCode.WRONG_PROTOCOL, `Raft frame type ${frameType} on a Multi-Paxos stream`);
  } else {
    throw new FrameDecodeError(FrameErrorCode.UNKNOWN_FRAME_TYPE, `frame type ${frameType}`);
  }
  r.finish();
  return frame;
}

export interface PaxosFrameDecoderOptions extends FrameDecoderOptions {
  /** Values in one PROMISE or LEARN at most. Default PAXOS_MESSAGE_VALUES_MAX. */
  valuesPerMessageMax?: number;
}

/**
 * The streaming decoder of Multi-Paxos frames (see FrameStreamDecoder in frame-codec.ts for
 * chunking, memory and errors): HELLO, PAXOS_MESSAGE, PAXOS_BATCH.
 */
export class PaxosFrameDecoder extends FrameStreamDecoder<PaxosDecodedFrame> {
  constructor(options: PaxosFrameDecoderOptions = {}) {
    const valuesMax = options.valuesPerMessageMax ?? PAXOS_MESSAGE_VALUES_MAX;
    super((body) => decodePaxosBody(body, valuesMax), options);
  }
}
