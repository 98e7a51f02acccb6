// Snapshot files: the engine's snapshot bytes with the Raft index and term they cover.
//
// Name: snap-<index, 20 digits>.snap. Layout (little-endian):
//   u32 magic 'MBSN' | u16 version | u16 zero | u64 index | u64 term | u64 byteLength
//   bytes | u32 crc32c(header + bytes)
//
// Saving is asynchronous and in small steps (a snapshot may be hundreds of MiB: writing,
// fsyncing and checksumming it in one blocking call would stall the Raft host past its
// election timeout), all through WalFs (fs.ts), with callbacks rather than promises so the
// simulator can run it step by step. Loading is synchronous: it happens at start-up.

import path from 'node:path';
import { crc32c } from './crc32c.js';
import { nodeFs, type Fd, type WalFs } from './fs.js';
import { TMP_SUFFIX, fsyncDir, writeAll } from './io.js';
import { readU64, writeU64 } from './record.js';
import { assertFor, type Assert } from '../../ops/assert.js';

export interface Snapshot {
  index: number;
  term: number;
  bytes: Uint8Array;
}

/** Largest snapshot (1 GiB): the whole file is read into memory to load it. */
export const SNAPSHOT_BYTES_MAX = 1024 * 1024 * 1024;
/** Snapshot files kept: the newest and the one before, the fallback if the newest is bad. */
export const SNAPSHOTS_KEPT = 2;
/** Bytes checksummed between yields (fs.defer) while saving: about 2 ms of CPU (pure-JS CRC32C). */
export const SNAPSHOT_CRC_CHUNK_BYTES = 1024 * 1024;
/** Bytes written between yields (fs.defer) while saving: one blocking pwrite into the page cache. */
export const SNAPSHOT_WRITE_CHUNK_BYTES = 4 * 1024 * 1024;

const MAGIC = 0x4e53424d; // 'MBSN' read as a little-endian u32
const VERSION = 1;
export const SNAPSHOT_HEADER_BYTES = 32;
const SNAPSHOT_NAME = /^snap-(\d{20})\.snap$/;

export function snapshotFileName(index: number): string {
  return `snap-${String(index).padStart(20, '0')}.snap`;
}

/** Snapshot files in `dir`, newest (highest index) first. `fs` defaults to node:fs for the read-only tools (audit/). */
export function listSnapshots(dir: string, fs: WalFs = nodeFs): { name: string; index: number }[] {
  const out: { name: string; index: number }[] = [];
  for (const name of fs.readdir(dir)) {
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

/**
 * Writes the snapshot atomically, in steps separated by fs.defer() so that neither a 1 GiB
 * snapshot nor its CRC holds the event loop for long, and a simulated crash can land between
 * any two steps: the CRC in SNAPSHOT_CRC_CHUNK_BYTES chunks; the temp file in
 * SNAPSHOT_WRITE_CHUNK_BYTES chunks; fdatasync (asynchronous); close, rename, directory fsync;
 * then all but the newest `kept` snapshot files are deleted (directory fsync).
 *
 * `done` is called exactly once, never synchronously, with the first error (the caller treats
 * any as fatal). Before each step `abort()` is asked whether to stop (the Wal failed
 * meanwhile: nothing more may be written); its error is then passed to `done`. `bytes` must
 * not change until `done` is called.
 */
export function writeSnapshotFile(
  fs: WalFs,
  dir: string,
  index: number,
  term: number,
  bytes: Uint8Array,
  kept: number,
  abort: () => Error | undefined,
  done: (err?: Error) => void,
): void {
  const header = encodeSnapshotHeader(index, term, bytes.byteLength);
  const trailer = new Uint8Array(4);
  const name = snapshotFileName(index);
  const tmp = path.join(dir, `${name}${TMP_SUFFIX}`);
  let crc = crc32c(header);
  let fd: Fd | undefined;
  let finished = false;

  const finish = (err?: unknown): void => {
    assert(!finished, 'snapshot save finished twice');
    finished = true;
    if (err !== undefined && fd !== undefined) {
      try {
        fs.close(fd);
      } catch {
        // The save has failed already; this error is the one to report.
      }
      fd = undefined;
    }
    done(err === undefined ? undefined : err instanceof Error ? err : new Error(String(err)));
  };
  // One step per deferred call; a throw ends the save. `done` is never called inside the try,
  // so an exception from the caller's callback is not taken for a failed step.
  const step = (fn: () => void): void =>
    fs.defer(() => {
      const stop = abort();
      if (stop !== undefined) {
        finish(stop);
        return;
      }
      let failed = false;
      let error: unknown;
      try {
        fn();
      } catch (err) {
        failed = true;
        error = err;
      }
      if (failed) finish(error);
    });

  const checksum = (at: number): void => {
    const end = Math.min(at + SNAPSHOT_CRC_CHUNK_BYTES, bytes.byteLength);
    crc = crc32c(bytes.subarray(at, end), crc);
    if (end < bytes.byteLength) step(() => checksum(end));
    else step(create);
  };
  const create = (): void => {
    new DataView(trailer.buffer).setUint32(0, crc, true);
    fd = fs.open(tmp, 'w');
    writeAll(fs, fd, header, 0, header.byteLength, 0);
    if (bytes.byteLength > 0) writeFrom(0);
    else step(flush);
  };
  const writeFrom = (at: number): void => {
    assert(fd !== undefined, 'snapshot write without a file');
    const length = Math.min(SNAPSHOT_WRITE_CHUNK_BYTES, bytes.byteLength - at);
    writeAll(fs, fd, bytes, at, length, SNAPSHOT_HEADER_BYTES + at);
    if (at + length < bytes.byteLength) step(() => writeFrom(at + length));
    else step(flush);
  };
  const flush = (): void => {
    const file = fd;
    assert(file !== undefined, 'snapshot flush without a file');
    writeAll(fs, file, trailer, 0, trailer.byteLength, SNAPSHOT_HEADER_BYTES + bytes.byteLength);
    fs.fdatasync(file, (syncErr) => {
      let failed = false;
      let error: unknown = syncErr ?? abort();
      try {
        if (error !== undefined) throw error;
        fd = undefined;
        fs.close(file);
        fs.rename(tmp, path.join(dir, name));
        fsyncDir(fs, dir);
        const old = listSnapshots(dir, fs).slice(kept);
        for (const s of old) fs.unlink(path.join(dir, s.name));
        if (old.length > 0) fsyncDir(fs, dir);
      } catch (err) {
        failed = true;
        error = err;
      }
      finish(failed ? error : undefined);
    });
  };

  step(() => checksum(0));
}

const assert: Assert = assertFor('WAL');
