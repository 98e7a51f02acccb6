// Byte stream → lines, with a hard bound on memory: pipe mode's input framing. Pure (no I/O):
// pipe.ts feeds it stdin's chunks. Only `\n` ends a line; a `\r` right before the `\n` is
// dropped (CRLF input works), a `\r` anywhere else is an ordinary byte of the line, so a stray
// carriage return can never split one command into two. Node's readline is not used because it
// ends lines at a lone `\r` too and holds a line of any length.

const LF = 0x0a;
const CR = 0x0d;

/** One line without its terminator (a view, valid until the next push), or null: longer than the limit. */
export type LineSink = (line: Uint8Array | null) => void;

export class LineSplitter {
  private readonly buf: Uint8Array;
  private len = 0;
  /** The current line is over the limit: its bytes are dropped until its `\n`. */
  private discarding = false;
  /**
   * The line holds exactly `lineBytesMax` bytes and one `\r` came after them, not stored: the
   * line is still within the limit if a `\n` follows (the `\r` is then its terminator's).
   */
  private crAfterFull = false;

  constructor(readonly lineBytesMax: number) {
    this.buf = new Uint8Array(lineBytesMax);
  }

  /** Splits `chunk`, calling `sink` once per line it completes. */
  push(chunk: Uint8Array, sink: LineSink): void {
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      const end = lf === -1 ? chunk.length : lf;
      this.append(chunk, start, end);
      if (lf === -1) return;
      this.finish(sink, true);
      start = lf + 1;
    }
  }

  /** End of input: a last line without `\n` is still a line (its trailing `\r`, if any, stays). */
  end(sink: LineSink): void {
    if (this.len > 0 || this.discarding || this.crAfterFull) this.finish(sink, false);
  }

  private append(chunk: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.discarding || n === 0) return;
    const room = this.lineBytesMax - this.len;
    if (!this.crAfterFull && n <= room) {
      this.buf.set(chunk.subarray(from, to), this.len);
      this.len += n;
      return;
    }
    if (!this.crAfterFull && n === room + 1 && chunk[to - 1] === CR) {
      this.buf.set(chunk.subarray(from, to - 1), this.len);
      this.len += room;
      this.crAfterFull = true;
      return;
    }
    // Over the limit: forget what was held; the rest of the line is skipped as it arrives.
    this.discarding = true;
    this.len = 0;
    this.crAfterFull = false;
  }

  private finish(sink: LineSink, byLf: boolean): void {
    // At end of input a withheld `\r` had no `\n` after it: it belongs to the line, one byte too many.
    const tooLong = this.discarding || (this.crAfterFull && !byLf);
    let len = this.len;
    if (byLf && !this.crAfterFull && len > 0 && this.buf[len - 1] === CR) len--;
    this.len = 0;
    this.discarding = false;
    this.crAfterFull = false;
    sink(tooLong ? null : this.buf.subarray(0, len));
  }
}
