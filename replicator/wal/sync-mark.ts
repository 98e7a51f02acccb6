// The sync mark: the highest log index this replica may have acknowledged (README, "Sync
// mark"). Recovery compares it with the log's end to tell a torn, never-acknowledged tail
// (cut it, nothing lost) from lost acknowledged entries (mark the replica `tail-lost`).
//
// File `synced`, 64 bytes: two 32-byte slots, each (little-endian)
//   u32 magic 'MBSY' | u32 crc32c(the 24 bytes after it) | u64 counter | u64 index | u64 zero
// A new mark goes to slot counter % 2 with one in-place pwrite and no fsync: it only has to be
// in the page cache before the host can acknowledge anything (a killed process keeps it). A
// power cut may tear that one 32-byte write, but the other slot still holds the previous mark:
// the reader takes the valid slot with the higher counter. Lowering the mark is made durable
// (fsync) by the caller before the entries above it go, so a power cut cannot bring back a
// mark above the log. The file is created, or replaced when unreadable, atomically.
//
// Encoding and decoding are pure; SyncMark does the I/O through WalFs.

import path from 'node:path';
import { crc32c } from './crc32c.js';
import type { Fd, WalFs } from './fs.js';
import { atomicWriteFileSync, writeAll } from './io.js';
import { readU64, writeU64 } from './record.js';

export const SYNCED_FILE = 'synced';
export const SYNC_MARK_SLOT_BYTES = 32;
export const SYNCED_FILE_BYTES = 2 * SYNC_MARK_SLOT_BYTES;

const MAGIC = 0x5953424d; // 'MBSY' read as a little-endian u32
const CRC_FROM = 8; // the CRC covers counter, index and the zero field

export interface SyncMarkSlot {
  /** Bumped by every write; picks the slot (counter % 2) and the newer of the two. */
  counter: number;
  index: number;
}

/** Encodes one slot into `slot` (SYNC_MARK_SLOT_BYTES long). */
export function encodeSyncMarkSlot(slot: Uint8Array, mark: SyncMarkSlot): void {
  if (slot.byteLength !== SYNC_MARK_SLOT_BYTES) throw new RangeError(`sync mark slot of ${slot.byteLength} bytes`);
  if (!Number.isSafeInteger(mark.counter) || mark.counter < 0 || !Number.isSafeInteger(mark.index) || mark.index < 0) {
    throw new RangeError(`sync mark: bad counter ${mark.counter} or index ${mark.index}`);
  }
  const view = new DataView(slot.buffer, slot.byteOffset, slot.byteLength);
  view.setUint32(0, MAGIC, true);
  writeU64(view, 8, mark.counter);
  writeU64(view, 16, mark.index);
  writeU64(view, 24, 0);
  view.setUint32(4, crc32c(slot.subarray(CRC_FROM)), true);
}

function decodeSlot(slot: Uint8Array): SyncMarkSlot | undefined {
  const view = new DataView(slot.buffer, slot.byteOffset, slot.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return undefined;
  if (view.getUint32(4, true) !== crc32c(slot.subarray(CRC_FROM))) return undefined;
  const counter = readU64(view, 8);
  const index = readU64(view, 16);
  if (counter < 0 || index < 0 || readU64(view, 24) !== 0) return undefined;
  return { counter, index };
}

/** The newer valid slot of a `synced` file's bytes, or a reason why neither is usable. */
export function decodeSyncMark(buf: Uint8Array): SyncMarkSlot | string {
  // The file is only ever created whole and written in place: another length is damage.
  if (buf.byteLength !== SYNCED_FILE_BYTES) return `${buf.byteLength} bytes, expected ${SYNCED_FILE_BYTES}`;
  const a = decodeSlot(buf.subarray(0, SYNC_MARK_SLOT_BYTES));
  const b = decodeSlot(buf.subarray(SYNC_MARK_SLOT_BYTES));
  if (a === undefined && b === undefined) return 'no valid slot';
  if (a === undefined) return b!;
  if (b === undefined) return a;
  return b.counter > a.counter ? b : a;
}

/** The mark stored in `dir`, or why there is none (missing file, damage). */
export function readSyncMark(fs: WalFs, dir: string): SyncMarkSlot | string {
  const file = path.join(dir, SYNCED_FILE);
  if (!fs.exists(file)) return 'no sync-mark file';
  return decodeSyncMark(fs.readFile(file));
}

/** The open `synced` file of a Wal. Every error is passed to the caller (fatal to the Wal). */
export class SyncMark {
  private readonly slot = new Uint8Array(SYNC_MARK_SLOT_BYTES);

  private constructor(
    private readonly fs: WalFs,
    private fd: Fd | undefined,
    private counter: number,
    /** The mark as last written by this process (or read at open). */
    public index: number,
  ) {}

  /**
   * Opens the file in `dir` holding `stored` (what readSyncMark gave) and sets the mark to
   * `index`, durably if it changes. A missing or unreadable file is replaced atomically.
   */
  static open(fs: WalFs, dir: string, stored: SyncMarkSlot | undefined, index: number): SyncMark {
    const file = path.join(dir, SYNCED_FILE);
    if (stored === undefined) {
      const bytes = new Uint8Array(SYNCED_FILE_BYTES); // slot 1 stays zero: invalid, never newer
      encodeSyncMarkSlot(bytes.subarray(0, SYNC_MARK_SLOT_BYTES), { counter: 0, index });
      atomicWriteFileSync(fs, dir, SYNCED_FILE, [bytes]);
      return new SyncMark(fs, fs.open(file, 'r+'), 0, index);
    }
    const mark = new SyncMark(fs, fs.open(file, 'r+'), stored.counter, stored.index);
    if (index !== stored.index) mark.set(index, true);
    return mark;
  }

  /** Writes `index` into the next slot (pwrite); with `durable`, fsyncs the file after it. */
  set(index: number, durable: boolean): void {
    const fd = this.fd;
    if (fd === undefined) throw new Error('sync mark: file closed');
    const counter = this.counter + 1;
    encodeSyncMarkSlot(this.slot, { counter, index });
    writeAll(this.fs, fd, this.slot, 0, SYNC_MARK_SLOT_BYTES, (counter % 2) * SYNC_MARK_SLOT_BYTES);
    this.counter = counter;
    this.index = index;
    if (durable) this.fs.fsync(fd);
  }

  close(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) this.fs.close(fd);
  }
}
