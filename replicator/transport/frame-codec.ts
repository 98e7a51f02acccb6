// The frame machinery both replica wire codecs share (raft-codec.ts, paxos-codec.ts): the frame
// header, the HELLO, the error type, a bounds-checked reader and the streaming decoder. Pure, no
// I/O. Layouts: proto/raft-frames.md (frame, HELLO) and proto/paxos-frames.md.
//
// Input from a peer is untrusted: every read is bounds-checked, every refusal is a
// FrameDecodeError with a code. Encoding input is ours: a value the format cannot carry is a
// local bug and throws a RangeError.

import type { NodeId } from '../raft/types.js';

/** Bytes of the length field. */
export const FRAME_LENGTH_BYTES = 4;
/** Bytes of the frame header: length and frame type. */
export const FRAME_HEADER_BYTES = 5;
/**
 * Largest frame, header included (32 MiB): one APPEND carrying the largest WAL entry (16 MiB)
 * fits with room. A larger announced length closes the connection before its body is read.
 */
export const FRAME_BYTES_MAX = 32 * 1024 * 1024;
/** Largest first frame of a connection (the HELLO): bounds what an unidentified peer makes us buffer. */
export const HELLO_FRAME_BYTES_MAX = 512;
/** Longest cluster id in a HELLO, in UTF-8 bytes (a u8 length). */
export const CLUSTER_ID_BYTES_MAX = 255;
/** HELLO payload without the cluster id: magic, version, node id, cluster id length. */
export const HELLO_FIXED_BYTES = 15;
/** Frame type of the HELLO, the same in every protocol (its magic says which protocol). */
export const HELLO_FRAME_TYPE = 1;

/**
 * The consensus protocols a replica may speak, each known by its HELLO magic, so that a decoder
 * can tell "another of our protocols" (WRONG_PROTOCOL) from "not ours at all" (BAD_MAGIC).
 */
export const WireProtocol = {
  /** Magic: the bytes "MBRF" read as a little-endian u32. */
  RAFT: { name: 'Raft', magic: 0x4652424d, version: 1 },
  /** Magic: the bytes "MBPF". */
  MULTIPAXOS: { name: 'Multi-Paxos', magic: 0x4650424d, version: 1 },
} as const;
export type WireProtocol = (typeof WireProtocol)[keyof typeof WireProtocol];

export interface Hello {
  protocolVersion: number;
  nodeId: NodeId;
  clusterId: string;
}

export const FrameErrorCode = {
  /** The announced length exceeds the decoder's limit (FRAME_BYTES_MAX, or HELLO_FRAME_BYTES_MAX for the first frame). */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** Length 0: not even a frame type. */
  FRAME_TOO_SMALL: 'FRAME_TOO_SMALL',
  UNKNOWN_FRAME_TYPE: 'UNKNOWN_FRAME_TYPE',
  /** A count or length past the end of the frame, a bad enum, flag or bool, an unsafe u64, trailing bytes. */
  MALFORMED_PAYLOAD: 'MALFORMED_PAYLOAD',
  /** A HELLO without a known magic: not our protocol at all. */
  BAD_MAGIC: 'BAD_MAGIC',
  /** A HELLO of a protocol version this decoder does not speak. */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  /** A HELLO (or a frame type) of another of our consensus protocols: a Raft replica dialling a Multi-Paxos one, or the reverse. */
  WRONG_PROTOCOL: 'WRONG_PROTOCOL',
} as const;
export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode];

/** The only error a frame decoder's push() throws: the stream is unusable from here on (close the connection). */
export class FrameDecodeError extends Error {
  override readonly name = 'FrameDecodeError';
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

const U16_MAX = 0xffff;
export const U32_MAX = 0xffff_ffff;
const TWO_POW_32 = 0x1_0000_0000;
const U64_SAFE_HIGH_MAX = 0x1f_ffff; // 2^53 = 2^21 * 2^32

// ---------------------------------------------------------------------------------------------
// Encoding

/** Throws RangeError unless `value` is a u64 the format carries (a non-negative safe integer). */
export function checkU64(value: number, field: string, codec = 'raft-codec'): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${codec}: ${field} = ${value} is not a u64 safe integer`);
}

export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_POW_32), true);
}

/**
 * A plain Uint8Array over a Buffer's bytes: Buffer#slice() returns a view where Uint8Array#slice()
 * copies, and callers of a function typed Uint8Array expect the latter.
 */
export function plainView(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Encodes the HELLO frame a dialler sends first, with `protocol`'s magic. */
export function encodeHelloFrame(protocol: WireProtocol, hello: Hello, codec: string): Uint8Array {
  const id = Buffer.from(hello.clusterId, 'utf8');
  if (id.byteLength > CLUSTER_ID_BYTES_MAX)
    throw new RangeError(`${codec}: cluster id of ${id.byteLength} bytes exceeds ${CLUSTER_ID_BYTES_MAX}`);
  if (!Number.isInteger(hello.protocolVersion) || hello.protocolVersion < 0 || hello.protocolVersion > U16_MAX) {
    throw new RangeError(`${codec}: protocol version ${hello.protocolVersion}`);
  }
  checkU64(hello.nodeId, 'hello.nodeId', codec);
  const frameBytes = FRAME_HEADER_BYTES + HELLO_FIXED_BYTES + id.byteLength;
  const buf = Buffer.alloc(frameBytes);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(0, frameBytes - FRAME_LENGTH_BYTES, true);
  buf[4] = HELLO_FRAME_TYPE;
  view.setUint32(5, protocol.magic, true);
  view.setUint16(9, hello.protocolVersion, true);
  writeU64(view, 11, hello.nodeId);
  buf[19] = id.byteLength;
  buf.set(id, 20);
  return plainView(buf);
}

// ---------------------------------------------------------------------------------------------
// Decoding

export function malformed(what: string): FrameDecodeError {
  return new FrameDecodeError(FrameErrorCode.MALFORMED_PAYLOAD, what);
}

/** A bounds-checked cursor over one frame body (frame type byte + payload). */
export class Reader {
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

  /** Throws unless the whole body was consumed. */
  finish(): void {
    if (this.pos !== this.end) throw malformed(`${this.end - this.pos} trailing bytes`);
  }
}

function protocolOfMagic(magic: number): WireProtocol | undefined {
  return Object.values(WireProtocol).find((p) => p.magic === magic);
}

/** Decodes a HELLO payload (after the frame type) of `protocol`; another protocol's HELLO is WRONG_PROTOCOL. */
export function decodeHelloPayload(r: Reader, protocol: WireProtocol): Hello {
  const magic = r.u32('hello.magic');
  if (magic !== protocol.magic) {
    const other = protocolOfMagic(magic);
    if (other !== undefined)
      throw new FrameDecodeError(
        FrameErrorCode.WRONG_PROTOCOL,
        `the peer speaks ${other.name}, this replica speaks ${protocol.name}`,
      );
    throw new FrameDecodeError(FrameErrorCode.BAD_MAGIC, `hello magic 0x${magic.toString(16)}`);
  }
  const protocolVersion = r.u16('hello.protocolVersion');
  // Checked before the rest: another version may lay the rest out differently.
  if (protocolVersion !== protocol.version) {
    throw new FrameDecodeError(
      FrameErrorCode.UNSUPPORTED_VERSION,
      `protocol version ${protocolVersion}, this replica speaks ${protocol.version}`,
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

export interface FrameDecoderOptions {
  /** Largest frame, header included. Default FRAME_BYTES_MAX. */
  frameBytesMax?: number;
  /** Largest first frame (a HELLO on a transport connection). Default: frameBytesMax. */
  firstFrameBytesMax?: number;
}

/**
 * Streaming frame decoder: push() the bytes of a stream in chunks of any size; it returns the
 * frames completed by each chunk, in order, each decoded by the protocol's `decodeBody` (which
 * gets the frame type byte and the payload, and throws only FrameDecodeError).
 *
 * Memory: a frame that lies within one chunk is decoded in place, and its data are subarrays of
 * that chunk; a frame split across chunks is assembled into one buffer of its exact size (only
 * once all of it has arrived, so a peer that announces a large frame and stalls costs what it
 * actually sent), and its data are subarrays of that buffer. push() takes ownership of the
 * chunk: do not modify it afterwards.
 *
 * Errors: push() throws only FrameDecodeError. A frame over the limit is refused as soon as its
 * length arrives. After an error the decoder is failed and every later push() throws the same
 * error; the frames of the failing chunk before the bad one are not returned (the connection
 * is closed anyway, and consensus treats their loss like any network loss).
 */
export class FrameStreamDecoder<F> {
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

  constructor(
    private readonly decodeBody: (body: Uint8Array) => F,
    options: FrameDecoderOptions = {},
  ) {
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

  push(chunk: Uint8Array): F[] {
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

  /** The next frame's body length once its length field is complete, else -1 (all of the chunk consumed). */
  private readLength(chunk: Uint8Array, at: { pos: number }): number {
    const end = chunk.byteLength;
    let length: number;
    if (this.lengthFill === 0 && end - at.pos >= FRAME_LENGTH_BYTES) {
      const p = at.pos;
      length = (chunk[p]! | (chunk[p + 1]! << 8) | (chunk[p + 2]! << 16)) + chunk[p + 3]! * 0x100_0000;
      at.pos += FRAME_LENGTH_BYTES;
    } else {
      while (this.lengthFill < FRAME_LENGTH_BYTES && at.pos < end) this.lengthBuf[this.lengthFill++] = chunk[at.pos++]!;
      if (this.lengthFill < FRAME_LENGTH_BYTES) return -1;
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
    return length;
  }

  private pushChunk(chunk: Uint8Array): F[] {
    const out: F[] = [];
    const end = chunk.byteLength;
    const at = { pos: 0 };
    for (;;) {
      if (this.bodyLength < 0) {
        const length = this.readLength(chunk, at);
        if (length < 0) break;
        this.bodyLength = length;
        this.bodyFill = 0;
      }
      const need = this.bodyLength - this.bodyFill;
      const avail = end - at.pos;
      if (this.bodyFill === 0 && avail >= need) {
        // The whole body is in this chunk: decode in place.
        out.push(this.decodeBody(chunk.subarray(at.pos, at.pos + need)));
        at.pos += need;
      } else {
        if (avail === 0) break;
        const take = Math.min(need, avail);
        this.bodyPieces.push(chunk.subarray(at.pos, at.pos + take));
        this.bodyFill += take;
        at.pos += take;
        if (this.bodyFill < this.bodyLength) break;
        const body = Buffer.concat(this.bodyPieces, this.bodyLength);
        this.bodyPieces = [];
        this.bodyFill = 0;
        out.push(this.decodeBody(body));
      }
      this.bodyLength = -1;
      this.frames++;
    }
    return out;
  }
}
