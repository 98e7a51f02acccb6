// The publisher's local checkpoint: its ShardStateMachine's snapshot at a log index whose
// events are all published. At start the publisher restores it and replays the committed log
// from there (silently up to the last published index, read back from Kafka), so it neither
// replays the whole log nor depends on the replicas still holding entries they have compacted.
// It is a cache: without it (a new machine) the publisher starts from the replicas' log or
// snapshot; a corrupt one is ignored (with a warning).
//
// File layout (little-endian): u32 magic 'MBPC' | u32 version | f64 shard | f64 log index |
// u32 length | state machine snapshot (shard/state-machine.ts) | 32 bytes SHA-256 of
// everything before it.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { atomicWriteFile, readFileIfExists } from '../fs-atomic.js';
import type { Log } from '../../ops/log.js';

const MAGIC = 0x4350424d; // 'MBPC'
const VERSION = 1;
const HEAD_BYTES = 4 + 4 + 8 + 8 + 4;
const HASH_BYTES = 32;

export interface Checkpoint {
  shard: number;
  logIndex: number;
  /** ShardStateMachine.snapshot() at logIndex. */
  state: Uint8Array;
}

export function checkpointPath(dataDir: string, shard: number): string {
  return path.join(dataDir, `publisher-shard-${shard}.checkpoint`);
}

export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const out = new Uint8Array(HEAD_BYTES + c.state.length + HASH_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, VERSION, true);
  v.setFloat64(8, c.shard, true);
  v.setFloat64(16, c.logIndex, true);
  v.setUint32(24, c.state.length, true);
  out.set(c.state, HEAD_BYTES);
  out.set(
    createHash('sha256')
      .update(out.subarray(0, HEAD_BYTES + c.state.length))
      .digest(),
    HEAD_BYTES + c.state.length,
  );
  return out;
}

/** The checkpoint in `bytes`, or a reason why not. */
export function decodeCheckpoint(bytes: Uint8Array): Checkpoint | { error: string } {
  if (bytes.length < HEAD_BYTES + HASH_BYTES) return { error: 'too short' };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== MAGIC || v.getUint32(4, true) !== VERSION) return { error: 'bad magic or version' };
  const length = v.getUint32(24, true);
  if (HEAD_BYTES + length + HASH_BYTES !== bytes.length) return { error: 'bad length' };
  const hash = createHash('sha256')
    .update(bytes.subarray(0, HEAD_BYTES + length))
    .digest();
  if (!hash.equals(bytes.subarray(HEAD_BYTES + length))) return { error: 'checksum mismatch' };
  return {
    shard: v.getFloat64(8, true),
    logIndex: v.getFloat64(16, true),
    state: bytes.slice(HEAD_BYTES, HEAD_BYTES + length),
  };
}

export function loadCheckpoint(dataDir: string, shard: number, log: Log): Checkpoint | undefined {
  const file = checkpointPath(dataDir, shard);
  const bytes = readFileIfExists(file);
  if (bytes === undefined) return undefined;
  const c = decodeCheckpoint(bytes);
  if ('error' in c) {
    log.warn('checkpoint ignored', { file, err: c.error });
    return undefined;
  }
  if (c.shard !== shard) {
    log.warn('checkpoint ignored: it is of another shard', { file, checkpointShard: c.shard, shard });
    return undefined;
  }
  return c;
}

export function saveCheckpoint(dataDir: string, c: Checkpoint): Promise<void> {
  return atomicWriteFile(checkpointPath(dataDir, c.shard), encodeCheckpoint(c));
}
