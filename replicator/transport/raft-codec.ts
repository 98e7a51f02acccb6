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

/** Version carried in HELLO; a peer speaking another version is refused. */
export const PROTOCOL_VERSION = 1;
/** First 4 bytes of a HELLO payload: the bytes "MBRF" read as a little-endian u32. */
export const HELLO_MAGIC = 0x4652424d;

export const FrameType = {
  HELLO: 1,
  RAFT_MESSAGE: 2,
  RAFT_BATCH: 3,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Bytes of the length field. */
export const FRAME_LENGTH_BYTES = 4;
/** Bytes of the frame header: length and frame type. */
export const FRAME_HEADER_BYTES = 5;
/** Bytes a RAFT_BATCH adds after the header: the message count. */
export const BATCH_HEADER_BYTES = 4;
/**
 * Largest frame, header included (32 MiB): one APPEND carrying the largest WAL entry (16 MiB)
 * fits with room. A larger announced length closes the connection before its body is read.
 */
export const FRAME_BYTES_MAX = 32 * 1024 * 1024;
/** Largest first frame of a connection (the HELLO): bounds what an unidentified peer makes us buffer. */
export const HELLO_FRAME_BYTES_MAX = 512;
/** Longest cluster id in a HELLO, in UTF-8 bytes (a u8 length). */
export const CLUSTER_ID_BYTES_MAX = 255;
/** Fixed part of an encoded Message. */
export const MESSAGE_FIXED_BYTES = 70;
/** Bytes an entry adds before its data: index, term, type, data length. */
export const ENTRY_HEADER_BYTES = 21;
/** Fixed part of a snapshot chunk (without voters, learners and data). */
export const SNAPSHOT_FIXED_BYTES = 45;
/** HELLO payload without the cluster id: magic, version, node id, cluster id length. */
export const HELLO_FIXED_BYTES = 15;

const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_SNAPSHOT;
const MESSAGE_TYPE_MAX = MessageType.READ_INDEX_RESP;
const ENTRY_TYPE_MAX = EntryType.CONF_CHANGE;
const U32_MAX = 0xffff_ffff;
const TWO_POW_32 = 0x1_0000_0000;
const U64_SAFE_HIGH_MAX = 0x1f_ffff; // 2^53 = 2^21 * 2^32

export interface Hello {
  protocolVersion: number;
  nodeId: NodeId;
  clusterId: string;
}

export type DecodedFrame =
  | { kind: 'hello'; hello: Hello }
  /** RAFT_MESSAGE (one message) or RAFT_BATCH. `frameBytes` counts the whole frame, header included. */
  | {
      kind: 'messages';
      frameType: typeof FrameType.RAFT_MESSAGE | typeof FrameType.RAFT_BATCH;
      messages: Message[];
      frameBytes: number;
    };

export const FrameErrorCode = {
  /** The announced length exceeds the decoder's limit (FRAME_BYTES_MAX, or HELLO_FRAME_BYTES_MAX for the first frame). */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** Length 0: not even a frame type. */
  FRAME_TOO_SMALL: 'FRAME_TOO_SMALL',
  UNKNOWN_FRAME_TYPE: 'UNKNOWN_FRAME_TYPE',
  /** A count or length past the end of the frame, a bad enum, flag or bool, an unsafe u64, trailing bytes. */
  MALFORMED_PAYLOAD: 'MALFORMED_PAYLOAD',
  /** A HELLO without the magic: not our protocol at all. */
  BAD_MAGIC: 'BAD_MAGIC',
  /** A HELLO of a protocol version this decoder does not speak. */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
} as const;
export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode];

/** The only error FrameDecoder.push throws: the stream is unusable from here on (close the connection). */
export class FrameDecodeError extends Error {
  override readonly name = 'FrameDecodeError';
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

function checkU64(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`raft-codec: ${field} = ${value} is not a u64 safe integer`);
}

function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_POW_32), true);
}

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
 * A plain Uint8Array over a Buffer's bytes: Buffer#slice() returns a view where Uint8Array#slice()
 * copies, and callers of a function typed Uint8Array expect the latter.
 */
function plainView(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
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
  const id = Buffer.from(hello.clusterId, 'utf8');
  if (id.byteLength > CLUSTER_ID_BYTES_MAX)
    throw new RangeError(`raft-codec: cluster id of ${id.byteLength} bytes exceeds ${CLUSTER_ID_BYTES_MAX}`);
  if (!Number.isInteger(hello.protocolVersion) || hello.protocolVersion < 0 || hello.protocolVersion > 0xffff) {
    throw new RangeError(`raft-codec: protocol version ${hello.protocolVersion}`);
  }
  checkU64(hello.nodeId, 'hello.nodeId');
  const frameBytes = FRAME_HEADER_BYTES + HELLO_FIXED_BYTES + id.byteLength;
  const buf = Buffer.alloc(frameBytes);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, frameBytes - FRAME_LENGTH_BYTES, true);
  buf[4] = FrameType.HELLO;
  view.setUint32(5, HELLO_MAGIC, true);
  view.setUint16(9, hello.protocolVersion, true);
  writeU64(view, 11, hello.nodeId);
  buf[19] = id.byteLength;
  buf.set(id, 20);
  return plainView(buf);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function malformed(what: string): FrameDecodeError {
  return new FrameDecodeError(FrameErrorCode.MALFORMED_PAYLOAD, what);
}

/** A bounds-checked cursor over one frame body (frame type byte + payload). */
class Reader {
  readonly view: DataView;
  pos: number;
  readonly end: number;

  constructor(
    readonly buf: Uint8Array,
    start: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = buf.byteLength;
  }

  need(n: number, what: string): void {
    if (n > this.end - this.pos) throw malformed(`${what}: needs ${n} bytes, ${this.end - this.pos} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what: string): number {
    this.need(8, what);
    const high = this.view.getUint32(this.pos + 4, true);
    if (high > U64_SAFE_HIGH_MAX) throw malformed(`${what}: u64 above 2^53`);
    const v = high * TWO_POW_32 + this.view.getUint32(this.pos, true);
    this.pos += 8;
    return v;
  }

  bool(what: string): boolean {
    const v = this.u8(what);
    if (v > 1) throw malformed(`${what}: bool ${v}`);
    return v === 1;
  }

  /** A view into the frame, not a copy; a plain Uint8Array even over a Buffer (whose slice() would not copy). */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return b;
  }

  /** A count of items of at least `itemBytes` each: refused before allocating if they cannot fit. */
  count(itemBytes: number, what: string): number {
    const n = this.u32(what);
    if (n * itemBytes > this.end - this.pos)
      throw malformed(`${what}: ${n} items cannot fit in ${this.end - this.pos} bytes`);
    return n;
  }
}

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

function decodeHello(r: Reader): Hello {
  const magic = r.u32('hello.magic');
  if (magic !== HELLO_MAGIC)
    throw new FrameDecodeError(FrameErrorCode.BAD_MAGIC, `hello magic 0x${magic.toString(16)}`);
  const protocolVersion = r.u16('hello.protocolVersion');
  // Checked before the rest: another version may lay the rest out differently.
  if (protocolVersion !== PROTOCOL_VERSION) {
    throw new FrameDecodeError(
      FrameErrorCode.UNSUPPORTED_VERSION,
      `protocol version ${protocolVersion}, this replica speaks ${PROTOCOL_VERSION}`,
    );
  }
  const nodeId = r.u64('hello.nodeId');
  const idBytes = r.bytes(r.u8('hello.clusterIdLength'), 'hello.clusterId');
  let clusterId: string;
  try {
    clusterId = new TextDecoder('utf-8', { fatal: true }).decode(idBytes);
  } catch {
    throw malformed('hello cluster id is not UTF-8');
  }
  return { protocolVersion, nodeId, clusterId };
}

/** Decodes one frame body (frame type byte + payload, without the length field). */
function decodeBody(body: Uint8Array): DecodedFrame {
  const r = new Reader(body, 1);
  const frameType = body[0]!;
  let frame: DecodedFrame;
  if (frameType === FrameType.HELLO) {
    frame = { kind: 'hello', hello: decodeHello(r) };
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
  if (r.pos !== r.end) throw malformed(`${r.end - r.pos} trailing bytes`);
  return frame;
}

export interface FrameDecoderOptions {
  /** Largest frame, header included. Default FRAME_BYTES_MAX. */
  frameBytesMax?: number;
  /** Largest first frame (a HELLO on a transport connection). Default: frameBytesMax. */
  firstFrameBytesMax?: number;
}

/**
 * Streaming frame decoder: push() the bytes of a stream in chunks of any size; it returns the
 * frames completed by each chunk, in order.
 *
 * Memory: a frame that lies within one chunk is decoded in place, and its entries' data are
 * subarrays of that chunk; a frame split across chunks is assembled into one buffer of its
 * exact size (only once all of it has arrived, so a peer that announces a large frame and stalls
 * costs what it actually sent), and its data are subarrays of that buffer. push() takes
 * ownership of the chunk: do not modify it afterwards.
 *
 * Errors: push() throws only FrameDecodeError. A frame over the limit is refused as soon as its
 * length arrives. After an error the decoder is failed and every later push() throws the same
 * error; the frames of the failing chunk before the bad one are not returned (the connection
 * is closed anyway, and Raft treats their loss like any network loss).
 */
export class FrameDecoder {
  private readonly frameBytesMax: number;
  private readonly firstFrameBytesMax: number;
  /** Bytes of a length field split across chunks. */
  private readonly lengthBuf = new Uint8Array(FRAME_LENGTH_BYTES);
  private lengthFill = 0;
  /** Body length (frame type + payload) of the frame being read, -1 between frames. */
  private bodyLength = -1;
  private bodyFill = 0;
  private bodyPieces: Uint8Array[] = [];
  private failed: FrameDecodeError | undefined;
  private frames = 0;

  constructor(options: FrameDecoderOptions = {}) {
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
    this.firstFrameBytesMax = options.firstFrameBytesMax ?? this.frameBytesMax;
    if (!(this.frameBytesMax > FRAME_HEADER_BYTES) || !(this.firstFrameBytesMax > FRAME_HEADER_BYTES)) {
      throw new RangeError('FrameDecoder: frame limits must exceed the frame header');
    }
  }

  /** Frames decoded so far. */
  get framesDecoded(): number {
    return this.frames;
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.lengthFill + this.bodyFill;
  }

  /** The error that failed the decoder, if any. */
  get error(): FrameDecodeError | undefined {
    return this.failed;
  }

  push(chunk: Uint8Array): DecodedFrame[] {
    if (this.failed !== undefined) throw this.failed;
    try {
      return this.pushChunk(chunk);
    } catch (e) {
      // Anything else escaping the decoder would be a decoder bug; still report it as a bad frame
      // so that a peer can never turn it into a crash.
      this.failed =
        e instanceof FrameDecodeError
          ? e
          : new FrameDecodeError(FrameErrorCode.MALFORMED_PAYLOAD, `decoder: ${String(e)}`);
      this.bodyPieces = [];
      throw this.failed;
    }
  }

  private pushChunk(chunk: Uint8Array): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    const end = chunk.byteLength;
    let pos = 0;
    for (;;) {
      if (this.bodyLength < 0) {
        let length: number;
        if (this.lengthFill === 0 && end - pos >= FRAME_LENGTH_BYTES) {
          length = (chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16)) + chunk[pos + 3]! * 0x100_0000;
          pos += FRAME_LENGTH_BYTES;
        } else {
          while (this.lengthFill < FRAME_LENGTH_BYTES && pos < end) this.lengthBuf[this.lengthFill++] = chunk[pos++]!;
          if (this.lengthFill < FRAME_LENGTH_BYTES) break;
          const b = this.lengthBuf;
          length = (b[0]! | (b[1]! << 8) | (b[2]! << 16)) + b[3]! * 0x100_0000;
          this.lengthFill = 0;
        }
        if (length < 1) throw new FrameDecodeError(FrameErrorCode.FRAME_TOO_SMALL, 'frame length 0');
        const max = this.frames === 0 ? this.firstFrameBytesMax : this.frameBytesMax;
        if (FRAME_LENGTH_BYTES + length > max) {
          throw new FrameDecodeError(
            FrameErrorCode.FRAME_TOO_LARGE,
            `frame of ${FRAME_LENGTH_BYTES + length} bytes exceeds ${max}`,
          );
        }
        this.bodyLength = length;
        this.bodyFill = 0;
      }
      const need = this.bodyLength - this.bodyFill;
      const avail = end - pos;
      if (this.bodyFill === 0 && avail >= need) {
        // The whole body is in this chunk: decode in place.
        out.push(decodeBody(chunk.subarray(pos, pos + need)));
        pos += need;
      } else {
        if (avail === 0) break;
        const take = Math.min(need, avail);
        this.bodyPieces.push(chunk.subarray(pos, pos + take));
        this.bodyFill += take;
        pos += take;
        if (this.bodyFill < this.bodyLength) break;
        const body = Buffer.concat(this.bodyPieces, this.bodyLength);
        this.bodyPieces = [];
        this.bodyFill = 0;
        out.push(decodeBody(body));
      }
      this.bodyLength = -1;
      this.frames++;
    }
    return out;
  }
}
