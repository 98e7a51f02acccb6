// Raft hard state (current term, vote, commit index) in one small file, replaced atomically
// (io.ts atomicWriteFileSync). Encoding is pure; the Wal does the I/O. The shape is the Raft
// core's HardState (replicator/raft/types.ts), so a Ready's hard state can be saved as is.
//
// Layout (little-endian), 36 bytes:
//   u32 magic 'MBHS' | u16 version | u16 zero | u64 term | u64 vote | u64 commit
//   u32 crc32c(everything before it)

import { crc32c } from './crc32c.js';
import { readU64, writeU64 } from './record.js';

export interface HardState {
  term: number;
  /** The node voted for in `term`; 0 for none. */
  vote: number;
  /** A commit index known to this node; a lower bound of the cluster's (see README). */
  commit: number;
}

export const HARD_STATE_FILE = 'hardstate';
export const HARD_STATE_BYTES = 36;

const MAGIC = 0x5348424d; // 'MBHS' read as a little-endian u32
const VERSION = 1;
const CRC_AT = HARD_STATE_BYTES - 4;

export function validateHardState(hs: HardState): void {
  for (const key of ['term', 'vote', 'commit'] as const) {
    const v = hs[key];
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`hard state: bad ${key} ${v}`);
  }
}

export function encodeHardState(hs: HardState): Uint8Array {
  validateHardState(hs);
  const buf = new Uint8Array(HARD_STATE_BYTES);
  const view = new DataView(buf.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, VERSION, true);
  writeU64(view, 8, hs.term);
  writeU64(view, 16, hs.vote);
  writeU64(view, 24, hs.commit);
  view.setUint32(CRC_AT, crc32c(buf.subarray(0, CRC_AT)), true);
  return buf;
}

/** Decodes a hard-state file, or returns a reason why it is not one. */
export function decodeHardState(buf: Uint8Array): HardState | string {
  if (buf.byteLength !== HARD_STATE_BYTES) return `${buf.byteLength} bytes, expected ${HARD_STATE_BYTES}`;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(CRC_AT, true) !== crc32c(buf.subarray(0, CRC_AT))) return 'CRC mismatch';
  if (view.getUint32(0, true) !== MAGIC) return 'bad magic';
  const version = view.getUint16(4, true);
  if (version !== VERSION) return `unknown version ${version}`;
  const term = readU64(view, 8);
  const vote = readU64(view, 16);
  const commit = readU64(view, 24);
  if (term < 0 || vote < 0 || commit < 0) return 'term, vote or commit is not a safe integer';
  return { term, vote, commit };
}
