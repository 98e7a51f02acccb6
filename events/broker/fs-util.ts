// The few file-system helpers the broker's storage shares: full writes at a position,
// directory fsync, atomic file replacement, fdatasync off the event loop.

import fs from 'node:fs';
import path from 'node:path';

/** Writes all of `buf` at `position`, looping over short writes. */
export function writeAllSync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.byteLength) {
    const n = fs.writeSync(fd, buf, done, buf.byteLength - done, position + done);
    // A zero-byte write of a non-empty range would loop forever; regular files never do it.
    if (n <= 0) throw new Error(`write returned ${n} with ${buf.byteLength - done} bytes left`);
    done += n;
  }
}

/** Reads exactly `length` bytes at `position` (fewer only if the file ends first). */
export function readAtSync(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n <= 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** fsync of a directory, so that creating, renaming or deleting an entry in it is durable. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fdatasync on the libuv thread pool, so the event loop keeps serving while the disk works. */
export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export const TMP_SUFFIX = '.tmp';

/**
 * Replaces `file` atomically: write `file.tmp`, fsync it, rename over `file`, fsync the
 * directory. A crash leaves the old content or the new one (plus perhaps a stale .tmp).
 */
export function atomicWriteFileSync(file: string, data: Uint8Array | string): void {
  const tmp = `${file}${TMP_SUFFIX}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAllSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDirSync(path.dirname(file));
}
