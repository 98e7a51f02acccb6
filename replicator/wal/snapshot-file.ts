// Snapshot files: the engine's snapshot bytes with the Raft index and term they cover.
//
// Name: snap-<index, 20 digits>.snap. Layout (little-endian):
//   u32 magic 'MBSN' | u16 version | u16 zero | u64 index | u64 term | u64 byteLength
//   bytes | u32 crc32c(header + bytes)
//
// Saving is asynchronous (a snapshot may be hundreds of MiB: writing, fsyncing and
// checksumming it in one blocking call would stall the Raft host past its election
// timeout). Loading is synchronous: it happens at start-up.

import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { crc32c } from './crc32c.js';
import { TMP_SUFFIX, fsyncDir, type WalIo } from './io.js';
import { readU64, writeU64 } from './record.js';

export interface Snapshot {
  index: number;
  term: number;
  bytes: Uint8Array;
}

/** Largest snapshot (1 GiB): the whole file is read into memory to load it. */
export const SNAPSHOT_BYTES_MAX = 1024 * 1024 * 1024;
/** Snapshot files kept: the newest and the one before, the fallback if the newest is bad. */
export const SNAPSHOTS_KEPT = 2;
/** Bytes checksummed between yields to the event loop while saving. */
const CRC_CHUNK_BYTES = 1024 * 1024;

const MAGIC = 0x4e53424d; // 'MBSN' read as a little-endian u32
const VERSION = 1;
export const SNAPSHOT_HEADER_BYTES = 32;
const SNAPSHOT_NAME = /^snap-(\d{20})\.snap$/;

export function snapshotFileName(index: number): string {
  return `snap-${String(index).padStart(20, '0')}.snap`;
}

/** Snapshot files in `dir`, newest (highest index) first. */
export function listSnapshots(dir: string): { name: string; index: number }[] {
  const out: { name: string; index: number }[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = SNAPSHOT_NAME.exec(name);
    if (m) out.push({ name, index: Number(m[1]) });
  }
  return out.sort((a, b) => b.index - a.index);
}

export function encodeSnapshotHeader(index: number, term: number, byteLength: number): Uint8Array {
  const buf = new Uint8Array(SNAPSHOT_HEADER_BYTES);
  const view = new DataView(buf.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint16(4, VERSION, true);
  writeU64(view, 8, index);
  writeU64(view, 16, term);
  writeU64(view, 24, byteLength);
  return buf;
}

/** Decodes a snapshot file, or returns a reason why it is not a valid one. */
export function decodeSnapshot(buf: Uint8Array): Snapshot | string {
  if (buf.byteLength < SNAPSHOT_HEADER_BYTES + 4) return `${buf.byteLength} bytes, too short`;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return 'bad magic';
  const version = view.getUint16(4, true);
  if (version !== VERSION) return `unknown version ${version}`;
  const index = readU64(view, 8);
  const term = readU64(view, 16);
  const length = readU64(view, 24);
  if (index < 0 || term < 0 || length < 0) return 'index, term or length is not a safe integer';
  const crcAt = SNAPSHOT_HEADER_BYTES + length;
  if (buf.byteLength !== crcAt + 4) return `${buf.byteLength} bytes, header says ${crcAt + 4}`;
  if (view.getUint32(crcAt, true) !== crc32c(buf.subarray(0, crcAt))) return 'CRC mismatch';
  return { index, term, bytes: buf.subarray(SNAPSHOT_HEADER_BYTES, crcAt) };
}

async function crc32cYielding(header: Uint8Array, bytes: Uint8Array): Promise<number> {
  let crc = crc32c(header);
  for (let at = 0; at < bytes.byteLength; at += CRC_CHUNK_BYTES) {
    crc = crc32c(bytes.subarray(at, at + CRC_CHUNK_BYTES), crc);
    if (at + CRC_CHUNK_BYTES < bytes.byteLength) await yieldToEventLoop();
  }
  return crc;
}

/**
 * Writes the snapshot atomically (temp file, fdatasync, rename, directory fsync), then
 * deletes all but the newest `kept` snapshot files (directory fsync). Every failure is
 * passed to the caller, which treats it as fatal.
 */
export async function writeSnapshotFile(io: WalIo, dir: string, index: number, term: number, bytes: Uint8Array, kept: number): Promise<void> {
  const header = encodeSnapshotHeader(index, term, bytes.byteLength);
  const crc = new Uint8Array(4);
  new DataView(crc.buffer).setUint32(0, await crc32cYielding(header, bytes), true);
  const name = snapshotFileName(index);
  const tmp = path.join(dir, `${name}${TMP_SUFFIX}`);
  const handle = await fs.promises.open(tmp, 'w');
  try {
    let position = 0;
    for (const chunk of [header, bytes, crc]) {
      // FileHandle.write loops over short writes only per call; check the count anyway.
      let done = 0;
      while (done < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, position + done);
        if (bytesWritten <= 0) throw new Error(`snapshot write returned ${bytesWritten}`);
        done += bytesWritten;
      }
      position += chunk.byteLength;
    }
    await io.fdatasync(handle.fd);
  } finally {
    await handle.close();
  }
  fs.renameSync(tmp, path.join(dir, name));
  fsyncDir(io, dir);
  const old = listSnapshots(dir).slice(kept);
  for (const s of old) fs.unlinkSync(path.join(dir, s.name));
  if (old.length > 0) fsyncDir(io, dir);
}
