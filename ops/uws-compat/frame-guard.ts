// The native uWS closes a connection whose client sends a frame over maxPayloadLength by dropping
// it, without a close frame (clients see 1006; gateway/README.md and docs/errors.md document
// that). The `ws` package would answer such a frame with a 1009 close frame instead, so the compat
// layer watches the incoming frame headers itself, ahead of `ws`, and cuts the socket first.
// Pure: fed the bytes as they arrive, it says whether a frame header declared too large a payload.
// (A message fragmented into frames each under the bound but over it in total is left to `ws`,
// which closes it with 1009.)

/** Bytes of a frame header at most: 2, 8 of extended length, 4 of mask. */
const FRAME_HEADER_BYTES_MAX = 14;

export class FrameLengthGuard {
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES_MAX);
  private headerLen = 0;

  constructor(private readonly payloadBytesMax: number) {}

  /** Takes the next bytes from the client; false once a frame declared more than payloadBytesMax. */
  feed(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      this.header[this.headerLen++] = chunk[i++]!;
      const need = this.headerBytes();
      if (need === undefined || this.headerLen < need) continue;
      const payload = this.payloadLength();
      if (payload > this.payloadBytesMax) return false;
      this.skip = payload;
      this.headerLen = 0;
    }
    return true;
  }

  /** The header's full size once its first two bytes are in. */
  private headerBytes(): number | undefined {
    if (this.headerLen < 2) return undefined;
    const len7 = this.header[1]! & 0x7f;
    const mask = this.header[1]! & 0x80 ? 4 : 0;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + mask;
  }

  private payloadLength(): number {
    const len7 = this.header[1]! & 0x7f;
    if (len7 < 126) return len7;
    if (len7 === 126) return (this.header[2]! << 8) | this.header[3]!;
    // 64-bit length: anything past 2^32 is over every bound anyway.
    let hi = 0;
    for (let k = 2; k < 6; k++) hi = hi * 256 + this.header[k]!;
    if (hi > 0) return Number.POSITIVE_INFINITY;
    let lo = 0;
    for (let k = 6; k < 10; k++) lo = lo * 256 + this.header[k]!;
    return lo;
  }
}
