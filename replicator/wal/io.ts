// The file-system calls whose failure the WAL must treat as fatal, behind an interface so a
// test can inject an EIO, plus small helpers built on them. Everything else (open, read,
// readdir, rename, unlink) is called on node:fs directly.

import fs from 'node:fs';
import path from 'node:path';

export interface WalIo {
  /** Like fs.writeSync with an explicit position; returns the bytes written (may be fewer). */
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** fdatasync on the libuv thread pool, so the event loop keeps running (group commit). */
  fdatasync(fd: number): Promise<void>;
  /** fsync of a file or a directory, blocking: for rare structural operations. */
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
}

export const nodeIo: WalIo = {
  writeSync: (fd, buf, offset, length, position) => fs.writeSync(fd, buf, offset, length, position),
  fdatasync: (fd) =>
    new Promise<void>((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()));
    }),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  ftruncateSync: (fd, length) => fs.ftruncateSync(fd, length),
};

/** Writes all of buf[offset, offset+length) at `position`, looping over short writes. */
export function writeAll(io: WalIo, fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = io.writeSync(fd, buf, offset + done, length - done, position + done);
    // A zero-byte write of a non-empty range would loop forever; the kernel never does it
    // for regular files, so it means something is badly wrong.
    if (n <= 0) throw new Error(`write returned ${n} with ${length - done} bytes left`);
    done += n;
  }
}

/** fsync of a directory, so that creating, renaming or deleting a file in it is durable. */
export function fsyncDir(io: WalIo, dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    io.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replaces `dir/name` atomically: write `name.tmp`, fsync it, rename over `name`, fsync the
 * directory. A crash leaves either the old file or the new one, plus perhaps a stale
 * `.tmp` that open() removes.
 */
export function atomicWriteFileSync(io: WalIo, dir: string, name: string, chunks: readonly Uint8Array[]): void {
  const tmp = path.join(dir, `${name}${TMP_SUFFIX}`);
  const fd = fs.openSync(tmp, 'w');
  try {
    let position = 0;
    for (const chunk of chunks) {
      writeAll(io, fd, chunk, 0, chunk.byteLength, position);
      position += chunk.byteLength;
    }
    io.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path.join(dir, name));
  fsyncDir(io, dir);
}

export const TMP_SUFFIX = '.tmp';
