// The batch entry: the bytes of one log entry of a shard, carrying the client commands the
// leader packed into it (the leader packs whatever proposals queued while it was busy into one
// entry, so Raft, the WAL and the network pay per batch, not per command). The one definition of
// the layout: the state machine, the feed, the audit export and the tools walk it through
// BatchCursor, never by hand.
//
// Layout (little-endian; proto/client-frames.md shares the command encoding):
//   u8 version (3) | u32 count | count × ( f64 clientId | f64 requestSeq | f64 tsUs | u32 length | command bytes )
// Version 3 has version 2's layout; the number changed with the session rules of
// state-machine.ts, so a replica refuses a log written under the old rules instead of re-reading
// it under the new ones (version 2 created sessions implicitly: its client ids were never
// registered).

/** Largest encoded command accepted (bytes of the command codec). */
export const COMMAND_BYTES_MAX = 64 * 1024;
/** Commands packed into one log entry at most. */
export const BATCH_COMMANDS_MAX = 4096;
/** Bytes of one batch entry at most (1 MiB = the Raft core's APPEND_BYTES_MAX, so an entry always fits one APPEND). */
export const BATCH_BYTES_MAX = 1024 * 1024;

/** Batch entry format version (first byte of every batch entry). */
export const BATCH_VERSION = 3;
/** The batch version this code refuses to apply: logs written before sessions were registered. */
export const BATCH_VERSION_OLD = 2;
/** u8 version, u32 count: where the first command record starts. */
export const BATCH_HEADER_BYTES = 1 + 4;
/** Per command in a batch: clientId, requestSeq, tsUs (f64 each) and the body length (u32). */
export const BATCH_COMMAND_OVERHEAD_BYTES = 8 + 8 + 8 + 4;

/** One client command as the leader logs it: who, which request, the leader's clock, the encoded engine command. */
export interface LoggedCommand {
  clientId: number;
  requestSeq: number;
  tsUs: number;
  /** engine/command-codec.ts encoding of the command (without seq/tsUs). */
  body: Uint8Array;
}

/** The command that registers a new session (clientId 0, requestSeq 0, empty body); answered REGISTERED with the allocated clientId. */
export function registerCommand(tsUs: number): LoggedCommand {
  return { clientId: 0, requestSeq: 0, tsUs, body: EMPTY_BODY };
}
const EMPTY_BODY = new Uint8Array(0);

/** Bytes a batch of these commands takes in a log entry. */
export function batchBytes(commands: readonly LoggedCommand[]): number {
  let n = BATCH_HEADER_BYTES;
  for (const c of commands) n += BATCH_COMMAND_OVERHEAD_BYTES + c.body.length;
  return n;
}

export function encodeBatch(commands: readonly LoggedCommand[]): Uint8Array {
  const out = new Uint8Array(batchBytes(commands));
  const v = new DataView(out.buffer);
  v.setUint8(0, BATCH_VERSION);
  v.setUint32(1, commands.length, true);
  let o = BATCH_HEADER_BYTES;
  for (const c of commands) {
    v.setFloat64(o, c.clientId, true);
    v.setFloat64(o + 8, c.requestSeq, true);
    v.setFloat64(o + 16, c.tsUs, true);
    v.setUint32(o + 24, c.body.length, true);
    out.set(c.body, o + BATCH_COMMAND_OVERHEAD_BYTES);
    o += BATCH_COMMAND_OVERHEAD_BYTES + c.body.length;
  }
  return out;
}

/** Decodes a batch entry (tests, tools); undefined if the bytes are not one (of this version). */
export function decodeBatch(data: Uint8Array): LoggedCommand[] | undefined {
  const count = batchCommandCount(data);
  if (count < 0) return undefined;
  const out: LoggedCommand[] = [];
  for (const c = new BatchCursor(data, count); c.next(); ) {
    out.push({
      clientId: c.clientId,
      requestSeq: c.requestSeq,
      tsUs: c.tsUs,
      body: data.slice(c.bodyOffset, c.bodyOffset + c.bodyLength),
    });
  }
  return out;
}

/**
 * The number of commands if `data` is a well-formed batch entry of this version (lengths add
 * up exactly, within the limits), else -1. Check an entry with this before walking it with
 * BatchCursor.
 */
export function batchCommandCount(data: Uint8Array): number {
  if (data.length < BATCH_HEADER_BYTES || data[0] !== BATCH_VERSION) return -1;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = v.getUint32(1, true);
  if (count > BATCH_COMMANDS_MAX) return -1;
  let o = BATCH_HEADER_BYTES;
  for (let k = 0; k < count; k++) {
    if (o + BATCH_COMMAND_OVERHEAD_BYTES > data.length) return -1;
    const len = v.getUint32(o + 24, true);
    if (len > COMMAND_BYTES_MAX) return -1;
    o += BATCH_COMMAND_OVERHEAD_BYTES + len;
  }
  return o === data.length ? count : -1;
}

/**
 * Walks the commands of a batch entry without allocating: `next()` moves to the next command
 * and fills the fields. Check the entry first with batchCommandCount (the cursor trusts the
 * lengths): `for (const c = new BatchCursor(data, count); c.next(); ) use(c.clientId, …)`.
 */
export class BatchCursor {
  clientId = 0;
  requestSeq = 0;
  tsUs = 0;
  /** Where the command's body (engine/command-codec.ts bytes) starts in `data`, and its length. */
  bodyOffset = 0;
  bodyLength = 0;
  private readonly view: DataView;
  private at = BATCH_HEADER_BYTES;
  private left: number;

  constructor(
    readonly data: Uint8Array,
    count: number,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.left = count;
  }

  next(): boolean {
    if (this.left === 0) return false;
    this.left--;
    const v = this.view;
    const o = this.at;
    this.clientId = v.getFloat64(o, true);
    this.requestSeq = v.getFloat64(o + 8, true);
    this.tsUs = v.getFloat64(o + 16, true);
    this.bodyLength = v.getUint32(o + 24, true);
    this.bodyOffset = o + BATCH_COMMAND_OVERHEAD_BYTES;
    this.at = this.bodyOffset + this.bodyLength;
    return true;
  }
}

/** The newest command time (µs) of a batch entry: the entry's time for the feed. 0 for an empty or malformed entry. */
export function batchTimeUs(data: Uint8Array): number {
  const count = batchCommandCount(data);
  let ts = 0;
  if (count <= 0) return ts;
  for (const c = new BatchCursor(data, count); c.next(); ) if (Number.isSafeInteger(c.tsUs) && c.tsUs > ts) ts = c.tsUs;
  return ts;
}
