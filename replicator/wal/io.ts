// Small blocking helpers over WalFs (fs.ts): a write that loops over short writes, a directory
// fsync, and atomic file replacement. Every error is passed to the caller, which treats a
// failed write, fsync or rename as fatal (README, durability rule 6).

import path from 'node:path';
import type { Fd, WalFs } from './fs.js';

export const TMP_SUFFIX = '.tmp';

/** Writes all of buf[offset, offset+length) at `position`, looping over short writes. */
export function writeAll(fs: WalFs, fd: Fd, buf: Uint8Array, offset: number, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = fs.write(fd, buf, offset + done, length - done, position + done);
    // A zero-byte write of a non-empty range would loop forever; the kernel never does it
    // for regular files, so it means something is badly wrong.
    if (n <= 0) throw new Error(`write returned ${n} with ${length - done} bytes left`);
    done += n;
  }
}

/** fsync of a directory, so that creating, renaming or deleting a file in it is durable. */
export function fsyncDir(fs: WalFs, dir: string): void {
  const fd = fs.open(dir, 'r');
  try {
    fs.fsync(fd);
  } finally {
    fs.close(fd);
  }
}

/**
 * Replaces `dir/name` atomically: write `name.tmp`, fsync it, rename over `name`, fsync the
 * directory. A crash leaves either the old file or the new one, plus perhaps a stale
 * `.tmp` that open() removes.
 */
export function atomicWriteFileSync(fs: WalFs, dir: string, name: string, chunks: readonly Uint8Array[]): void {
  const tmp = path.join(dir, `${name}${TMP_SUFFIX}`);
  const fd = fs.open(tmp, 'w');
  try {
    let position = 0;
    for (const chunk of chunks) {
      writeAll(fs, fd, chunk, 0, chunk.byteLength, position);
      position += chunk.byteLength;
    }
    fs.fsync(fd);
  } finally {
    fs.close(fd);
  }
  fs.rename(tmp, path.join(dir, name));
  fsyncDir(fs, dir);
}
