// The file system as the WAL sees it: every file-system call of replicator/wal/ goes through
// one injected WalFs, so the same Wal runs over node:fs in production and over an in-memory,
// crashable file system in the simulator (replicator/sim/sim-fs.ts).
//
// Contract (what the WAL relies on, and what an implementation must give):
// - Synchronous calls throw on failure (a Node-style Error with `code`); the WAL treats a
//   failed write, fsync, fdatasync, ftruncate, rename or unlink as fatal (README, rule 6).
// - `write` may write fewer bytes than asked (the caller loops); never 0 for a non-empty range.
// - `open(dir, 'r')` on a directory gives an fd whose `fsync` makes the directory's entries
//   (creations, renames, deletions) durable.
// - `fdatasync` is asynchronous (the libuv thread pool in production) and makes durable at
//   least the file's content as of the call. `done` is never called from inside fdatasync().
// - `defer(fn)` runs fn soon, after other pending work, never synchronously. It is how the WAL
//   yields during long work (snapshot CRC and writes) and how it calls a callback "later".
// Nothing here may call back synchronously: the simulator runs the replica, its WAL and the
// file system on one deterministic schedule, without the microtask queue.
//
// This is the only file of replicator/wal/ that imports node:fs.

import fs from 'node:fs';

export type Fd = number;

export interface WalFs {
  exists(path: string): boolean;
  /** Like mkdirSync(path, { recursive: true }). */
  mkdirp(path: string): void;
  readdir(dir: string): string[];
  unlink(path: string): void;
  /** Replaces `to` if it exists. The WAL renames only within one directory. */
  rename(from: string, to: string): void;
  readFile(path: string): Uint8Array;
  size(path: string): number;
  /** 'r' read only (also a directory, for fsync), 'r+' read/write, 'w' create or empty, 'wx' create, failing if it exists. */
  open(path: string, flags: 'r' | 'r+' | 'w' | 'wx'): Fd;
  close(fd: Fd): void;
  read(fd: Fd, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** pwrite: may write fewer bytes than asked. */
  write(fd: Fd, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** Blocking fsync of a file or a directory. */
  fsync(fd: Fd): void;
  ftruncate(fd: Fd, length: number): void;
  /** Async, on the thread pool in production. `done` is NEVER called synchronously from inside fdatasync(). */
  fdatasync(fd: Fd, done: (err?: Error) => void): void;
  /** Run `fn` soon, after other pending work (production: setImmediate). Never synchronous. */
  defer(fn: () => void): void;
}

/** node:fs, the production file system. */
export const nodeFs: WalFs = {
  exists: (p) => fs.existsSync(p),
  mkdirp: (p) => {
    fs.mkdirSync(p, { recursive: true });
  },
  readdir: (dir) => fs.readdirSync(dir),
  unlink: (p) => fs.unlinkSync(p),
  rename: (from, to) => fs.renameSync(from, to),
  readFile: (p) => fs.readFileSync(p),
  size: (p) => fs.statSync(p).size,
  open: (p, flags) => fs.openSync(p, flags),
  close: (fd) => fs.closeSync(fd),
  read: (fd, buf, offset, length, position) => fs.readSync(fd, buf, offset, length, position),
  write: (fd, buf, offset, length, position) => fs.writeSync(fd, buf, offset, length, position),
  fsync: (fd) => fs.fsyncSync(fd),
  ftruncate: (fd, length) => fs.ftruncateSync(fd, length),
  fdatasync: (fd, done) => fs.fdatasync(fd, (err) => done(err ?? undefined)),
  defer: (fn) => {
    setImmediate(fn);
  },
};
