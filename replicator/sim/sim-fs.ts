// SimFs: an in-memory file system (the WalFs of replicator/wal/fs.ts) for one simulated
// machine, so the simulator runs the production Wal unchanged and kills the process or cuts
// the machine's power at any point. Deterministic: every random choice comes from the injected
// Prng, and nothing runs unless the owner (the simulator) runs it.
//
// Model (Linux/ext4-like; what the WAL may rely on, not more):
// - A file has what reads see (the page cache) and what survives a power loss (its durable
//   image). write, ftruncate and open('w') of an existing file change the page cache at once
//   and are remembered, in order, as the file's unsynced writes. fsync makes the current
//   content durable; fdatasync makes durable the content as of the call, when it completes.
// - A directory has its visible entries and its durable ones. Creating a file (open 'w'/'wx'),
//   mkdirp, rename and unlink change the visible entries at once and are remembered, in order,
//   as the directory's unsynced changes; they become durable only when the directory itself is
//   fsynced (an fd from open(dir, 'r'), then fsync). fsync of a file does not make its entry
//   durable (POSIX does not promise it; ext4 often does). A file whose entry is not durable
//   disappears at a power loss, whatever its content. Renames stay within one directory.
// - Completions (fdatasync's done, defer's fn) are not run here: each is handed to the owner's
//   `schedule(run)` once, and the owner decides when to call run (latency, stalls, order).
//   A completion of a process that has died since (crash(), powerLoss(), or an armed crash
//   that fired) is dropped: run does nothing.
// - crash(): the process dies (SIGKILL). Every fd is closed, pending completions are dropped,
//   file contents and directory entries stay as the page cache had them (nothing is lost).
// - powerLoss(): the machine loses power. Each directory keeps its durable entries plus a
//   random prefix of its unsynced changes (a rename is one change: all or nothing); each file
//   still reachable keeps its durable image plus a random prefix of its unsynced writes, in
//   order, the last one kept possibly torn (a random byte prefix of it, sometimes with one
//   512-byte sector of it zeroed or garbage). Then as crash().
// - armCrash(n): the (n+1)-th mutating call from now (write, fsync, ftruncate, rename, unlink,
//   mkdirp, open for writing or creating, fdatasync's start) throws SimCrashError instead of
//   completing; a write first writes a random prefix of its bytes (a short write cut by the
//   kill). From then on every call throws SimCrashError until the owner calls crash(), except
//   defer(), which drops what it is given (the process is dead: nothing it schedules runs).
//
// Limits of the model: writes reach the disk in the order they were made, per file, and a
// directory's changes in order; real disks and file systems may reorder writes between
// fsyncs, tear inside any sector, or lose or corrupt data that was durable (only the damage
// calls truncate() and corrupt() do that here). Background writeback is modelled only as a
// bound: beyond SIMFS_PENDING_OPS_MAX unsynced changes to one file or directory, the oldest
// become durable, in order, as the kernel's writeback would have done by then.
//
// Bounded: the page cache, the durable images and the unsynced writes of one machine together
// stay under `bytesMax` (at most SIMFS_BYTES_MAX); passing it is a simulator configuration bug
// and throws (an assertion, not a SimCrashError).

import path from 'node:path';
import type { Fd, WalFs } from '../wal/fs.js';
import type { Prng } from '../prng.js';
import { assertFor, type Assert } from '../../ops/assert.js';

/** Memory one simulated machine's files may hold (512 MiB): page cache + durable images + unsynced writes. */
export const SIMFS_BYTES_MAX = 512 * 1024 * 1024;
/** Unsynced changes remembered per file or directory; older ones are written back (become durable). */
export const SIMFS_PENDING_OPS_MAX = 4096;
/** The unit a torn write may damage whole: one disk sector. */
export const SIMFS_SECTOR_BYTES = 512;
/** Default chance that the last write a power loss keeps is torn. */
export const SIMFS_TORN_WRITE_P = 0.5;
/** Default chance that a torn write also has one sector zeroed or garbage. */
export const SIMFS_TORN_SECTOR_P = 0.25;
/** fds start here, as in a process whose stdin, stdout and stderr are open. */
const FD_FIRST = 3;
/** How deep isSimCrash follows `cause` (a cycle must not hang it). */
const CAUSE_DEPTH_MAX = 16;

/** Thrown by every call of a SimFs whose process has been killed (armCrash). */
export class SimCrashError extends Error {
  override name = 'SimCrashError';
}

/** True if `err` or an error in its `cause` chain is a SimCrashError (the Wal wraps I/O errors). */
export function isSimCrash(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < CAUSE_DEPTH_MAX && e !== undefined && e !== null; depth++) {
    if (e instanceof SimCrashError) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export interface SimFsOptions {
  prng: Prng;
  /** Called once per pending completion; the owner calls `run` when the completion happens. */
  schedule(run: () => void): void;
  /**
   * Called when an armed crash fires, before the SimCrashError is thrown: the code under test
   * may catch that error (the Wal turns I/O errors into its failed state), so the owner learns
   * of the kill here and ends the process itself.
   */
  onKill?(): void;
  /** Chance that a write writes only a prefix (the caller must loop). Default 0. */
  shortWriteP?: number;
  /** Default SIMFS_TORN_WRITE_P. */
  tornWriteP?: number;
  /** Default SIMFS_TORN_SECTOR_P. */
  tornSectorP?: number;
  /** Default and maximum SIMFS_BYTES_MAX. */
  bytesMax?: number;
}

const assert: Assert = assertFor('SimFs');

function fsError(code: string, syscall: string, p: string | number): Error {
  return Object.assign(new Error(`${code}: simulated, ${syscall} '${p}'`), { code, syscall, path: String(p) });
}

/** A growable byte buffer: bytes [0, size) are the content, the rest zero. */
class Bytes {
  buf: Uint8Array;
  size = 0;

  constructor(content?: Uint8Array) {
    this.buf = new Uint8Array(content === undefined ? 0 : content.byteLength);
    if (content !== undefined) {
      this.buf.set(content);
      this.size = content.byteLength;
    }
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }

  copy(): Bytes {
    return new Bytes(this.view());
  }

  write(position: number, src: Uint8Array): void {
    const end = position + src.byteLength;
    if (end > this.buf.byteLength) {
      const grown = new Uint8Array(Math.max(end, this.buf.byteLength * 2, 4096));
      grown.set(this.view());
      this.buf = grown;
    }
    this.buf.set(src, position);
    this.size = Math.max(this.size, end);
  }

  truncate(length: number): void {
    if (length < this.size)
      this.buf.fill(0, length, this.size); // a later extension reads zeros
    else if (length > this.buf.byteLength) this.write(length, new Uint8Array(0));
    this.size = length;
  }
}

type FileOp =
  | { kind: 'write'; seq: number; position: number; bytes: Uint8Array }
  | { kind: 'truncate'; seq: number; length: number };
type DirOp =
  | { kind: 'link'; name: string; node: SimNode }
  | { kind: 'unlink'; name: string }
  | { kind: 'rename'; from: string; to: string };

interface FileNode {
  kind: 'file';
  id: number;
  data: Bytes;
  durable: Bytes;
  /** Unsynced writes and truncations, oldest first; `seq` increases. */
  pending: FileOp[];
  pendingBytes: number;
  /** Sequence number of the last op made (durable through every op with seq ≤ what fsync saw). */
  seq: number;
  /** fdatasyncs in flight on this file: it stays alive until they complete or are dropped. */
  syncsInFlight: number;
}

interface DirNode {
  kind: 'dir';
  id: number;
  entries: Map<string, SimNode>;
  durable: Map<string, SimNode>;
  pending: DirOp[];
  syncsInFlight: number;
}

type SimNode = FileNode | DirNode;

interface OpenFile {
  node: SimNode;
  readable: boolean;
  writable: boolean;
}

function applyDirOp(map: Map<string, SimNode>, op: DirOp): void {
  if (op.kind === 'link') map.set(op.name, op.node);
  else if (op.kind === 'unlink') map.delete(op.name);
  else {
    const node = map.get(op.from);
    // The source's creation may itself be among the changes a power loss dropped.
    if (node === undefined) return;
    map.delete(op.from);
    map.set(op.to, node);
  }
}

function applyFileOp(bytes: Bytes, op: FileOp): void {
  if (op.kind === 'write') bytes.write(op.position, op.bytes);
  else bytes.truncate(op.length);
}

export class SimFs implements WalFs {
  private readonly prng: Prng;
  private readonly scheduleRun: (run: () => void) => void;
  private readonly onKill: (() => void) | undefined;
  private readonly shortWriteP: number;
  private readonly tornWriteP: number;
  private readonly tornSectorP: number;
  private readonly bytesMax: number;

  private root: DirNode;
  private nodes = new Set<SimNode>();
  private nextId = 1;
  private fds = new Map<Fd, OpenFile>();
  /** Bumped by crash() and powerLoss(): completions scheduled before are dropped. */
  private epoch = 0;
  /** The process was killed by an armed crash and crash() has not been called yet. */
  private dead = false;
  /** Mutating calls still allowed before the armed crash fires; undefined when none is armed. */
  private crashCountdown: number | undefined;
  /** Bumped whenever anything durable changes (the oracle caches what it decoded of the disk by it). */
  durableGeneration = 0;
  private bytesHeld = 0;

  /** Mutating calls made (statistics; also what armCrash counts). */
  mutatingOps = 0;

  constructor(options: SimFsOptions) {
    this.prng = options.prng;
    this.scheduleRun = options.schedule;
    this.onKill = options.onKill;
    this.shortWriteP = options.shortWriteP ?? 0;
    this.tornWriteP = options.tornWriteP ?? SIMFS_TORN_WRITE_P;
    this.tornSectorP = options.tornSectorP ?? SIMFS_TORN_SECTOR_P;
    this.bytesMax = options.bytesMax ?? SIMFS_BYTES_MAX;
    assert(
      Number.isSafeInteger(this.bytesMax) && this.bytesMax > 0 && this.bytesMax <= SIMFS_BYTES_MAX,
      `bytesMax ${this.bytesMax} outside 1..SIMFS_BYTES_MAX`,
    );
    this.root = this.newDir();
  }

  // ---------------------------------------------------------------------------------------
  // WalFs
  // ---------------------------------------------------------------------------------------

  exists(p: string): boolean {
    this.alive();
    return this.lookup(p) !== undefined;
  }

  mkdirp(p: string): void {
    this.alive();
    this.mutation();
    let dir = this.root;
    for (const name of this.parts(p)) {
      const next = dir.entries.get(name);
      if (next === undefined) {
        const created = this.newDir();
        this.dirChange(dir, { kind: 'link', name, node: created });
        dir = created;
      } else if (next.kind === 'dir') dir = next;
      else throw fsError('ENOTDIR', 'mkdir', p);
    }
  }

  readdir(p: string): string[] {
    this.alive();
    const node = this.lookup(p);
    if (node === undefined) throw fsError('ENOENT', 'scandir', p);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', p);
    return [...node.entries.keys()].sort();
  }

  unlink(p: string): void {
    this.alive();
    const { dir, name } = this.parentOf(p, 'unlink');
    const node = dir.entries.get(name);
    if (node === undefined) throw fsError('ENOENT', 'unlink', p);
    if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', p);
    this.mutation();
    this.dirChange(dir, { kind: 'unlink', name });
    this.gc();
  }

  rename(from: string, to: string): void {
    this.alive();
    const src = this.parentOf(from, 'rename');
    const dst = this.parentOf(to, 'rename');
    // Modelled as one all-or-nothing change of one directory; the WAL never needs more.
    if (src.dir !== dst.dir) throw fsError('EXDEV', 'rename', `${from} -> ${to}`);
    const node = src.dir.entries.get(src.name);
    if (node === undefined) throw fsError('ENOENT', 'rename', from);
    if (dst.dir.entries.get(dst.name)?.kind === 'dir') throw fsError('EISDIR', 'rename', to);
    this.mutation();
    if (src.name === dst.name) return;
    this.dirChange(src.dir, { kind: 'rename', from: src.name, to: dst.name });
    this.gc();
  }

  readFile(p: string): Uint8Array {
    this.alive();
    const node = this.lookup(p);
    if (node === undefined) throw fsError('ENOENT', 'open', p);
    if (node.kind !== 'file') throw fsError('EISDIR', 'read', p);
    return node.data.view().slice();
  }

  size(p: string): number {
    this.alive();
    const node = this.lookup(p);
    if (node === undefined) throw fsError('ENOENT', 'stat', p);
    if (node.kind !== 'file') throw fsError('EISDIR', 'stat', p);
    return node.data.size;
  }

  open(p: string, flags: 'r' | 'r+' | 'w' | 'wx'): Fd {
    this.alive();
    let node = this.lookup(p);
    if (flags === 'r') {
      if (node === undefined) throw fsError('ENOENT', 'open', p);
      return this.newFd({ node, readable: true, writable: false });
    }
    if (node === undefined && flags === 'r+') throw fsError('ENOENT', 'open', p);
    if (node !== undefined && flags === 'wx') throw fsError('EEXIST', 'open', p);
    if (node?.kind === 'dir') throw fsError('EISDIR', 'open', p);
    const { dir, name } = this.parentOf(p, 'open');
    this.mutation();
    if (node === undefined) {
      node = this.newFile();
      this.dirChange(dir, { kind: 'link', name, node });
    } else if (flags === 'w' && node.data.size > 0) {
      this.fileChange(node, { kind: 'truncate', seq: 0, length: 0 });
    }
    return this.newFd({ node, readable: flags === 'r+', writable: true });
  }

  close(fd: Fd): void {
    this.alive();
    if (!this.fds.delete(fd)) throw fsError('EBADF', 'close', fd);
    this.gc();
  }

  read(fd: Fd, buf: Uint8Array, offset: number, length: number, position: number): number {
    this.alive();
    const f = this.openFile(fd, 'read');
    if (!f.readable) throw fsError('EBADF', 'read', fd);
    if (f.node.kind !== 'file') throw fsError('EISDIR', 'read', fd);
    this.checkRange(buf, offset, length, position);
    const data = f.node.data;
    const n = Math.max(0, Math.min(length, data.size - position));
    buf.set(data.buf.subarray(position, position + n), offset);
    return n;
  }

  write(fd: Fd, buf: Uint8Array, offset: number, length: number, position: number): number {
    this.alive();
    const f = this.openFile(fd, 'write');
    if (!f.writable || f.node.kind !== 'file') throw fsError('EBADF', 'write', fd);
    this.checkRange(buf, offset, length, position);
    const node = f.node;
    const cut = this.mutationCrashes();
    let n = length;
    if (cut)
      n = this.prng.int(length + 1); // the kill lands mid-write
    else if (length > 1 && this.prng.chance(this.shortWriteP)) n = this.prng.range(1, length - 1);
    if (n > 0) this.fileChange(node, { kind: 'write', seq: 0, position, bytes: buf.slice(offset, offset + n) });
    if (cut) throw new SimCrashError(`simulated kill during a write of ${length} bytes (${n} written)`);
    return n;
  }

  fsync(fd: Fd): void {
    this.alive();
    const f = this.openFile(fd, 'fsync');
    this.mutation();
    this.makeDurable(f.node, Number.POSITIVE_INFINITY);
  }

  ftruncate(fd: Fd, length: number): void {
    this.alive();
    const f = this.openFile(fd, 'ftruncate');
    if (!f.writable || f.node.kind !== 'file') throw fsError('EINVAL', 'ftruncate', fd);
    assert(Number.isSafeInteger(length) && length >= 0, `ftruncate to ${length}`);
    this.mutation();
    this.fileChange(f.node, { kind: 'truncate', seq: 0, length });
  }

  fdatasync(fd: Fd, done: (err?: Error) => void): void {
    this.alive();
    const f = this.fds.get(fd);
    if (f === undefined) {
      // As node:fs: a bad fd is reported through the callback.
      this.enqueue(() => done(fsError('EBADF', 'fdatasync', fd)));
      return;
    }
    this.mutation();
    const node = f.node;
    const through = node.kind === 'file' ? node.seq : Number.POSITIVE_INFINITY;
    node.syncsInFlight++;
    this.enqueue(() => {
      node.syncsInFlight--;
      // A thread-pool fdatasync runs later on whatever the fd number names then: an fd closed
      // (or reused) before it ran is the bug the Wal's retired list prevents.
      if (this.fds.get(fd)?.node !== node) {
        this.gc();
        done(fsError('EBADF', 'fdatasync', fd));
        return;
      }
      this.makeDurable(node, through);
      done();
    });
  }

  defer(fn: () => void): void {
    if (this.dead) return; // the process is dead: nothing it schedules runs
    this.enqueue(fn);
  }

  // ---------------------------------------------------------------------------------------
  // faults
  // ---------------------------------------------------------------------------------------

  /** The (afterOps + 1)-th mutating call from now throws SimCrashError, and every call after it. */
  armCrash(afterOps: number): void {
    assert(Number.isSafeInteger(afterOps) && afterOps >= 0, `armCrash(${afterOps})`);
    assert(!this.dead, 'armCrash on a dead process: call crash() first');
    this.crashCountdown = afterOps;
  }

  /** An armed crash has fired and crash() has not been called since. */
  get killed(): boolean {
    return this.dead;
  }

  /** The process dies (SIGKILL): fds closed, completions dropped, contents as the page cache had them. */
  crash(): void {
    this.epoch++;
    this.dead = false;
    this.crashCountdown = undefined;
    this.fds.clear();
    for (const node of this.nodes) node.syncsInFlight = 0;
    this.gc();
  }

  /** The machine loses power: durable state plus a random prefix of what was not synced; then crash(). */
  /**
   * `tearLast` (scenario tests): instead of a random prefix, every unsynced change is kept and
   * every file's last unsynced write is torn — a strict, non-empty byte prefix of it survives.
   */
  powerLoss(tearLast = false): void {
    this.durableGeneration++;
    const visited = new Set<SimNode>();
    const settleDir = (dir: DirNode): void => {
      visited.add(dir);
      const map = new Map(dir.durable);
      const kept = tearLast ? dir.pending.length : this.prng.int(dir.pending.length + 1);
      for (let i = 0; i < kept; i++) applyDirOp(map, dir.pending[i]!);
      dir.entries = map;
      dir.durable = new Map(map);
      dir.pending = [];
      for (const name of [...map.keys()].sort()) {
        const node = map.get(name)!;
        assert(!visited.has(node), `node ${node.id} reachable twice after a power loss`);
        if (node.kind === 'dir') settleDir(node);
        else settleFile(node);
      }
    };
    const settleFile = (file: FileNode): void => {
      visited.add(file);
      const content = file.durable.copy();
      const kept = tearLast ? file.pending.length : this.prng.int(file.pending.length + 1);
      for (let i = 0; i < kept; i++) {
        const op = file.pending[i]!;
        if (tearLast && i === kept - 1 && op.kind === 'write' && op.bytes.byteLength > 1)
          content.write(op.position, op.bytes.subarray(0, 1 + this.prng.int(op.bytes.byteLength - 1)));
        else if (i === kept - 1 && op.kind === 'write' && this.prng.chance(this.tornWriteP))
          this.applyTorn(content, op);
        else applyFileOp(content, op);
      }
      this.account(file, () => {
        file.data = content;
        file.durable = content.copy();
        file.pending = [];
        file.pendingBytes = 0;
      });
    };
    settleDir(this.root);
    this.crash(); // collects whatever is no longer reachable
  }

  /** Damage at rest: the file is cut (or zero-extended) to `length`, in the page cache and on disk. */
  truncate(p: string, length: number): void {
    const node = this.lookup(p);
    assert(node?.kind === 'file', `truncate: no file ${p}`);
    assert(Number.isSafeInteger(length) && length >= 0, `truncate to ${length}`);
    this.durableGeneration++;
    this.account(node, () => {
      node.data.truncate(length);
      node.durable.truncate(length);
    });
  }

  /** Damage at rest: bytes [offset, offset + length) get random bits flipped, in the page cache and on disk. */
  corrupt(p: string, offset: number, length: number): void {
    const node = this.lookup(p);
    assert(node?.kind === 'file', `corrupt: no file ${p}`);
    assert(
      Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0,
      `corrupt [${offset}, +${length})`,
    );
    this.durableGeneration++;
    for (let i = offset; i < offset + length; i++) {
      const flip = 1 + this.prng.int(255);
      if (i < node.data.size) node.data.buf[i]! ^= flip;
      if (i < node.durable.size) node.durable.buf[i]! ^= flip;
    }
  }

  // ---------------------------------------------------------------------------------------
  // introspection (for the oracle; never fails, never counts as a call of the process)
  // ---------------------------------------------------------------------------------------

  /** The durable content of the file at `p` through durable entries only: what a power loss losing every unsynced change would leave. */
  durableBytes(p: string): Uint8Array | undefined {
    return this.durableView(p)?.slice();
  }

  /** Like durableBytes() but without a copy: read it at once, never write to it. */
  durableView(p: string): Uint8Array | undefined {
    const node = this.lookup(p, true);
    return node?.kind === 'file' ? node.durable.view() : undefined;
  }

  /** Durable entry names in `dir` (sorted): what a power loss losing every unsynced change would leave. */
  durableFiles(dir: string): string[] {
    const node = this.lookup(dir, true);
    return node?.kind === 'dir' ? [...node.durable.keys()].sort() : [];
  }

  /** Visible entry names in `dir` (sorted), or [] if it does not exist. */
  files(dir: string): string[] {
    const node = this.lookup(dir);
    return node?.kind === 'dir' ? [...node.entries.keys()].sort() : [];
  }

  /** Bytes held: page cache + durable images + unsynced writes. */
  get bytesInUse(): number {
    return this.bytesHeld;
  }

  // ---------------------------------------------------------------------------------------
  // internals
  // ---------------------------------------------------------------------------------------

  private alive(): void {
    if (this.dead) throw new SimCrashError('simulated kill: the process is dead');
  }

  /** Counts a mutating call; throws if it is the one an armed crash stops at. */
  private mutation(): void {
    if (this.mutationCrashes()) throw new SimCrashError('simulated kill');
  }

  private mutationCrashes(): boolean {
    this.mutatingOps++;
    if (this.crashCountdown === undefined) return false;
    if (this.crashCountdown > 0) {
      this.crashCountdown--;
      return false;
    }
    this.crashCountdown = undefined;
    this.dead = true;
    this.onKill?.();
    return true;
  }

  private enqueue(fn: () => void): void {
    const epoch = this.epoch;
    this.scheduleRun(() => {
      if (this.epoch !== epoch || this.dead) return;
      fn();
    });
  }

  private parts(p: string): string[] {
    assert(typeof p === 'string' && p.startsWith('/'), `SimFs paths are absolute: ${p}`);
    return path.posix
      .normalize(p)
      .split('/')
      .filter((s) => s.length > 0);
  }

  /** The node at `p` through visible directory entries, or durable ones only (what a power loss would leave). */
  private lookup(p: string, durable = false): SimNode | undefined {
    let node: SimNode = this.root;
    for (const name of this.parts(p)) {
      if (node.kind !== 'dir') return undefined;
      const next: SimNode | undefined = (durable ? node.durable : node.entries).get(name);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  private parentOf(p: string, syscall: string): { dir: DirNode; name: string } {
    const parts = this.parts(p);
    const name = parts.pop();
    if (name === undefined) throw fsError('EPERM', syscall, p);
    const dir = this.lookup(`/${parts.join('/')}`);
    if (dir === undefined) throw fsError('ENOENT', syscall, p);
    if (dir.kind !== 'dir') throw fsError('ENOTDIR', syscall, p);
    return { dir, name };
  }

  private openFile(fd: Fd, syscall: string): OpenFile {
    const f = this.fds.get(fd);
    if (f === undefined) throw fsError('EBADF', syscall, fd);
    return f;
  }

  private newFd(f: OpenFile): Fd {
    let fd = FD_FIRST;
    while (this.fds.has(fd)) fd++; // the lowest free number, as the kernel gives
    this.fds.set(fd, f);
    return fd;
  }

  private checkRange(buf: Uint8Array, offset: number, length: number, position: number): void {
    assert(
      Number.isSafeInteger(offset) &&
        Number.isSafeInteger(length) &&
        Number.isSafeInteger(position) &&
        offset >= 0 &&
        length >= 0 &&
        position >= 0 &&
        offset + length <= buf.byteLength,
      `bad range: offset ${offset}, length ${length}, position ${position}, buffer ${buf.byteLength}`,
    );
  }

  private newFile(): FileNode {
    const node: FileNode = {
      kind: 'file',
      id: this.nextId++,
      data: new Bytes(),
      durable: new Bytes(),
      pending: [],
      pendingBytes: 0,
      seq: 0,
      syncsInFlight: 0,
    };
    this.nodes.add(node);
    return node;
  }

  private newDir(): DirNode {
    const node: DirNode = {
      kind: 'dir',
      id: this.nextId++,
      entries: new Map(),
      durable: new Map(),
      pending: [],
      syncsInFlight: 0,
    };
    this.nodes.add(node);
    return node;
  }

  private held(node: SimNode): number {
    return node.kind === 'file' ? node.data.size + node.durable.size + node.pendingBytes : 0;
  }

  /** Runs `change` on `node` and keeps the machine's byte count, asserting the bound. */
  private account(node: SimNode, change: () => void): void {
    const before = this.held(node);
    change();
    this.bytesHeld += this.held(node) - before;
    assert(
      this.bytesHeld <= this.bytesMax,
      `${this.bytesHeld} bytes held, over bytesMax ${this.bytesMax} (SIMFS_BYTES_MAX): shrink the simulated workload`,
    );
  }

  private fileChange(node: FileNode, op: FileOp): void {
    this.account(node, () => {
      op.seq = ++node.seq;
      applyFileOp(node.data, op);
      node.pending.push(op);
      if (op.kind === 'write') node.pendingBytes += op.bytes.byteLength;
      // Background writeback: the oldest unsynced writes reach the disk, in order.
      while (node.pending.length > SIMFS_PENDING_OPS_MAX) this.writeBackOldest(node);
    });
  }

  private writeBackOldest(node: FileNode): void {
    this.durableGeneration++;
    const op = node.pending.shift()!;
    applyFileOp(node.durable, op);
    if (op.kind === 'write') node.pendingBytes -= op.bytes.byteLength;
  }

  private dirChange(dir: DirNode, op: DirOp): void {
    applyDirOp(dir.entries, op);
    dir.pending.push(op);
    while (dir.pending.length > SIMFS_PENDING_OPS_MAX) {
      this.durableGeneration++;
      applyDirOp(dir.durable, dir.pending.shift()!);
    }
  }

  /** Makes durable every change to `node` with seq ≤ `through` (a directory: all of them). */
  private makeDurable(node: SimNode, through: number): void {
    this.durableGeneration++;
    if (node.kind === 'dir') {
      node.durable = new Map(node.entries);
      node.pending = [];
      this.gc();
      return;
    }
    this.account(node, () => {
      while (node.pending.length > 0 && node.pending[0]!.seq <= through) this.writeBackOldest(node);
    });
  }

  /** A write torn by the power cut: a byte prefix of it, sometimes with one sector of it zeroed or garbage. */
  private applyTorn(content: Bytes, op: { position: number; bytes: Uint8Array }): void {
    const kept = this.prng.int(op.bytes.byteLength + 1);
    if (kept === 0) return;
    const bytes = op.bytes.slice(0, kept);
    if (this.prng.chance(this.tornSectorP)) {
      const at = op.position + this.prng.int(kept);
      const sectorStart = at - (at % SIMFS_SECTOR_BYTES);
      const from = Math.max(sectorStart, op.position) - op.position;
      const to = Math.min(sectorStart + SIMFS_SECTOR_BYTES, op.position + kept) - op.position;
      const garbage = this.prng.chance(0.5);
      for (let i = from; i < to; i++) bytes[i] = garbage ? this.prng.int(256) : 0;
    }
    content.write(op.position, bytes);
  }

  /** Drops every node nothing can reach any more: no entry (visible, durable or pending), no fd, no fdatasync in flight. */
  private gc(): void {
    const live = new Set<SimNode>();
    const mark = (node: SimNode): void => {
      if (live.has(node)) return;
      live.add(node);
      if (node.kind !== 'dir') return;
      for (const n of node.entries.values()) mark(n);
      for (const n of node.durable.values()) mark(n);
      for (const op of node.pending) if (op.kind === 'link') mark(op.node);
    };
    mark(this.root);
    for (const f of this.fds.values()) mark(f.node);
    for (const node of this.nodes) if (node.syncsInFlight > 0) mark(node);
    for (const node of this.nodes) {
      if (live.has(node)) continue;
      this.bytesHeld -= this.held(node);
      this.nodes.delete(node);
    }
  }
}
