// SimFs (replicator/sim/sim-fs.ts), the simulated file system the WAL runs on in the
// simulator: page cache against durable image, directory durability, what a power loss keeps
// (a prefix of the unsynced writes, the last one possibly torn; a rename whole or not at all),
// armed crashes, dropped completions, determinism per seed, and the memory bound.

import { describe, expect, it } from 'vitest';
import { Prng } from '../../replicator/prng.js';
import {
  SIMFS_SECTOR_BYTES,
  SimCrashError,
  SimFs,
  isSimCrash,
  type SimFsOptions,
} from '../../replicator/sim/sim-fs.js';
import { WalFailedError } from '../../replicator/wal/wal.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

/** A SimFs whose completions queue up until run() (in order) or are inspected. */
function machine(
  seed: number,
  options: Partial<SimFsOptions> = {},
): { fs: SimFs; queue: (() => void)[]; run: () => void } {
  const queue: (() => void)[] = [];
  const fs = new SimFs({ prng: new Prng(seed), schedule: (run) => queue.push(run), ...options });
  const run = (): void => {
    while (queue.length > 0) queue.shift()!();
  };
  return { fs, queue, run };
}

function writeFile(fs: SimFs, p: string, content: string, flags: 'w' | 'wx' = 'w'): number {
  const fd = fs.open(p, flags);
  const bytes = enc(content);
  let done = 0;
  while (done < bytes.byteLength) done += fs.write(fd, bytes, done, bytes.byteLength - done, done);
  return fd;
}

function fsyncDir(fs: SimFs, dir: string): void {
  const fd = fs.open(dir, 'r');
  fs.fsync(fd);
  fs.close(fd);
}

describe('SimFs: page cache and durable image', () => {
  it('reads see writes at once; only fsync (file) and a directory fsync (entry) make them survive a power loss', () => {
    const { fs } = machine(1);
    fs.mkdirp('/d');
    fsyncDir(fs, '/');
    const fd = writeFile(fs, '/d/a', 'hello');
    expect(dec(fs.readFile('/d/a'))).toBe('hello');
    expect(fs.size('/d/a')).toBe(5);
    expect(fs.durableBytes('/d/a')).toBeUndefined(); // the entry is not durable yet
    fs.fsync(fd);
    expect(fs.durableBytes('/d/a')).toBeUndefined(); // a file's fsync does not make its entry durable
    fsyncDir(fs, '/d');
    expect(dec(fs.durableBytes('/d/a'))).toBe('hello');
    fs.write(fd, enc('J'), 0, 1, 0);
    expect(dec(fs.readFile('/d/a'))).toBe('Jello');
    expect(dec(fs.durableBytes('/d/a'))).toBe('hello');
    fs.ftruncate(fd, 2);
    expect(dec(fs.readFile('/d/a'))).toBe('Je');
    fs.fsync(fd);
    expect(dec(fs.durableBytes('/d/a'))).toBe('Je');
    fs.close(fd);
    fs.powerLoss();
    expect(dec(fs.readFile('/d/a'))).toBe('Je');
  });

  it('fdatasync makes durable the content as of the call, when it completes', () => {
    const { fs, queue, run } = machine(2);
    const fd = writeFile(fs, '/a', 'one');
    fsyncDir(fs, '/');
    let done = 0;
    fs.fdatasync(fd, (err) => {
      expect(err).toBeUndefined();
      done++;
    });
    expect(done).toBe(0); // never synchronous
    expect(queue).toHaveLength(1);
    fs.write(fd, enc('-two'), 0, 4, 3);
    expect(fs.durableBytes('/a')).toEqual(new Uint8Array(0));
    run();
    expect(done).toBe(1);
    expect(dec(fs.durableBytes('/a'))).toBe('one');
    expect(dec(fs.readFile('/a'))).toBe('one-two');
  });

  it("an fdatasync whose fd was closed and reused before it ran fails with EBADF (the Wal's retired fds prevent it)", () => {
    const { fs, run } = machine(3);
    const fd = writeFile(fs, '/a', 'x');
    let error: Error | undefined;
    fs.fdatasync(fd, (err) => (error = err));
    fs.close(fd);
    expect(writeFile(fs, '/b', 'y')).toBe(fd); // the lowest free number again
    run();
    expect(error).toMatchObject({ code: 'EBADF' });
  });

  it('behaves like node:fs on misuse: ENOENT, EEXIST, EBADF, EISDIR', () => {
    const { fs } = machine(4);
    expect(() => fs.open('/nope', 'r')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => fs.open('/nope', 'r+')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => fs.open('/no/such', 'w')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    writeFile(fs, '/a', 'x');
    expect(() => fs.open('/a', 'wx')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    const ro = fs.open('/a', 'r');
    expect(() => fs.write(ro, enc('z'), 0, 1, 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    fs.mkdirp('/d/e');
    expect(() => fs.unlink('/d')).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(fs.readdir('/')).toEqual(['a', 'd']);
    expect(() => fs.close(99)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(fs.exists('/d/e')).toBe(true);
    expect(fs.exists('/d/e/f')).toBe(false);
  });
});

describe('SimFs: power loss', () => {
  it('a directory keeps its durable entries plus a prefix of its unsynced changes', () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const { fs } = machine(seed);
      for (const name of ['a', 'b']) {
        const fd = writeFile(fs, `/${name}`, name);
        fs.fsync(fd);
        fs.close(fd);
      }
      fsyncDir(fs, '/');
      for (const name of ['c', 'd', 'e']) {
        const fd = writeFile(fs, `/${name}`, name);
        fs.fsync(fd); // content durable, entry not
        fs.close(fd);
      }
      fs.unlink('/a');
      fs.powerLoss();
      const names = fs.readdir('/').join('');
      // Changes in order: +c, +d, +e, -a. Any prefix of them, nothing else.
      expect(['abc', 'abcd', 'abcde', 'ab', 'bcde'].includes(names), `seed ${seed}: ${names}`).toBe(true);
      for (const n of names) expect(dec(fs.readFile(`/${n}`))).toBe(n);
      outcomes.add(names);
    }
    expect(outcomes.size).toBeGreaterThanOrEqual(4);
  });

  it('a file keeps its durable image plus a prefix of its unsynced writes, the last one possibly torn', () => {
    const WRITE_BYTES = 700;
    const WRITES = 6;
    const pattern = (k: number): Uint8Array =>
      Uint8Array.from({ length: WRITE_BYTES }, (_, i) => (k * 37 + i * 11 + 1) & 0xff || 1);
    const all = new Uint8Array(WRITE_BYTES * WRITES);
    for (let k = 0; k < WRITES; k++) all.set(pattern(k), k * WRITE_BYTES);
    const seen = { whole: 0, torn: 0, sector: 0, none: 0 };
    for (let seed = 1; seed <= 300; seed++) {
      const { fs } = machine(seed);
      const fd = fs.open('/f', 'w');
      fs.write(fd, pattern(0), 0, WRITE_BYTES, 0);
      fs.fsync(fd);
      fsyncDir(fs, '/');
      for (let k = 1; k < WRITES; k++) fs.write(fd, pattern(k), 0, WRITE_BYTES, k * WRITE_BYTES);
      fs.powerLoss();
      const got = fs.readFile('/f');
      expect(got.byteLength).toBeGreaterThanOrEqual(WRITE_BYTES); // the fsynced write is always there
      // The bytes are the written ones, except within one sector of the last write kept.
      const lastWrite = Math.floor((got.byteLength - 1) / WRITE_BYTES);
      const bad: number[] = [];
      for (let i = 0; i < got.byteLength; i++) if (got[i] !== all[i]) bad.push(i);
      if (bad.length > 0) {
        const sector = Math.floor(bad[0]! / SIMFS_SECTOR_BYTES);
        for (const i of bad) {
          expect(Math.floor(i / SIMFS_SECTOR_BYTES), `seed ${seed}`).toBe(sector);
          expect(Math.floor(i / WRITE_BYTES), `seed ${seed}`).toBe(lastWrite);
        }
        expect(lastWrite).toBeGreaterThan(0);
        seen.sector++;
      }
      if (got.byteLength === WRITE_BYTES) seen.none++;
      else if (got.byteLength % WRITE_BYTES === 0) seen.whole++;
      else seen.torn++;
    }
    expect(seen.none).toBeGreaterThan(0);
    expect(seen.whole).toBeGreaterThan(0);
    expect(seen.torn).toBeGreaterThan(0);
    expect(seen.sector).toBeGreaterThan(0);
  });

  it('a rename is all or nothing: the old file or the new one, never both or neither', () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const { fs } = machine(seed);
      let fd = writeFile(fs, '/state', 'old');
      fs.fsync(fd);
      fs.close(fd);
      fsyncDir(fs, '/');
      fd = writeFile(fs, '/state.tmp', 'new');
      fs.fsync(fd);
      fs.close(fd);
      fs.rename('/state.tmp', '/state');
      expect(fs.readdir('/')).toEqual(['state']);
      fs.powerLoss();
      const names = fs.readdir('/');
      const state = dec(fs.readFile('/state'));
      // Changes: +state.tmp, state.tmp -> state. The rename is one of them.
      if (names.includes('state.tmp')) expect([state, dec(fs.readFile('/state.tmp'))]).toEqual(['old', 'new']);
      else expect(state === 'old' || state === 'new').toBe(true);
      expect(names.includes('state')).toBe(true);
      outcomes.add(`${names.join(',')}=${state}`);
    }
    expect([...outcomes].sort()).toEqual(['state,state.tmp=old', 'state=new', 'state=old']);
  });

  it('is deterministic per seed', () => {
    const script = (seed: number): string => {
      const { fs } = machine(seed);
      fs.mkdirp('/x');
      for (let k = 0; k < 8; k++) {
        const fd = writeFile(fs, `/x/f${k}`, `${'abcdefgh'.repeat(200)}${k}`);
        if (k % 3 === 0) fs.fsync(fd);
        if (k === 4) fsyncDir(fs, '/x');
        fs.write(fd, enc('tail'.repeat(300)), 0, 1200, 1601);
        fs.close(fd);
      }
      fs.powerLoss();
      return fs
        .files('/x')
        .map((n) => `${n}:${Array.from(fs.readFile(`/x/${n}`)).join('.')}`)
        .join('|');
    };
    expect(script(7)).toBe(script(7));
    const distinct = new Set([1, 2, 3, 4, 5, 6].map(script));
    expect(distinct.size).toBeGreaterThan(1);
  });
});

describe('SimFs: crashes', () => {
  it('crash() keeps the page cache, closes every fd and drops pending completions', () => {
    const { fs, queue, run } = machine(5);
    const fd = writeFile(fs, '/a', 'kept');
    let ran = 0;
    fs.fdatasync(fd, () => ran++);
    fs.defer(() => ran++);
    expect(queue).toHaveLength(2);
    fs.crash();
    run();
    expect(ran).toBe(0);
    expect(dec(fs.readFile('/a'))).toBe('kept');
    expect(fs.durableBytes('/a')).toBeUndefined(); // the fdatasync never happened
    expect(() => fs.write(fd, enc('x'), 0, 1, 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('power loss drops pending completions too', () => {
    const { fs, run } = machine(6);
    const fd = writeFile(fs, '/a', 'x');
    let ran = false;
    fs.fdatasync(fd, () => (ran = true));
    fs.powerLoss();
    run();
    expect(ran).toBe(false);
  });

  it('armCrash(n): the (n+1)-th mutating call throws SimCrashError, then every call until crash()', () => {
    let kills = 0;
    const { fs, queue } = machine(7, { onKill: () => kills++ });
    fs.mkdirp('/d');
    const fd = fs.open('/d/a', 'w');
    fs.write(fd, enc('12345678'), 0, 8, 0);
    fs.fdatasync(fd, () => undefined);
    expect(queue).toHaveLength(1);
    fs.armCrash(2);
    fs.write(fd, enc('abcd'), 0, 4, 8); // 1st
    expect(fs.exists('/d/a')).toBe(true); // reads do not count
    fs.fsync(fd); // 2nd
    expect(kills).toBe(0);
    expect(() => fs.ftruncate(fd, 0)).toThrow(SimCrashError); // 3rd: stopped
    expect(fs.killed).toBe(true);
    expect(kills).toBe(1); // the owner hears of the kill even if the code under test swallows the error
    expect(() => fs.readFile('/d/a')).toThrow(SimCrashError);
    expect(() => fs.close(fd)).toThrow(SimCrashError);
    let deferred = false;
    fs.defer(() => (deferred = true)); // dropped, does not throw
    queue.shift()!(); // the fdatasync of the dead process: dropped
    fs.crash();
    for (const r of queue.splice(0)) r();
    expect(deferred).toBe(false);
    expect(dec(fs.readFile('/d/a'))).toBe('12345678abcd'); // the ftruncate never happened
    expect(dec(fs.durableBytes('/d/a'))).toBe(undefined); // the entry of /d/a was never made durable
  });

  it('a write stopped by an armed crash writes a random prefix of its bytes first', () => {
    const lengths = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const { fs } = machine(seed);
      const fd = fs.open('/a', 'w');
      fs.armCrash(0);
      expect(() => fs.write(fd, enc('0123456789'), 0, 10, 0)).toThrow(SimCrashError);
      fs.crash();
      const got = dec(fs.readFile('/a'))!;
      expect('0123456789'.startsWith(got)).toBe(true);
      lengths.add(got.length);
    }
    expect(lengths.size).toBeGreaterThan(3);
  });

  it('isSimCrash finds a SimCrashError in a cause chain (the Wal wraps I/O errors)', () => {
    const crash = new SimCrashError('killed');
    expect(isSimCrash(crash)).toBe(true);
    expect(isSimCrash(new WalFailedError('append', crash))).toBe(true);
    expect(isSimCrash(new Error('outer', { cause: new WalFailedError('fdatasync', crash) }))).toBe(true);
    expect(isSimCrash(new WalFailedError('append', new Error('EIO')))).toBe(false);
    expect(isSimCrash(undefined)).toBe(false);
    const cyclic: { cause?: unknown } = new Error('cycle');
    cyclic.cause = cyclic;
    expect(isSimCrash(cyclic)).toBe(false);
  });
});

describe('SimFs: damage and bounds', () => {
  it('truncate() and corrupt() damage the page cache and the durable image alike', () => {
    const { fs } = machine(8);
    const fd = writeFile(fs, '/a', 'abcdefgh');
    fs.fsync(fd);
    fsyncDir(fs, '/');
    fs.corrupt('/a', 2, 3);
    const now = dec(fs.readFile('/a'))!;
    expect(now.slice(0, 2) + now.slice(5)).toBe('abfgh');
    for (let i = 2; i < 5; i++) expect(now[i]).not.toBe('abcdefgh'[i]);
    expect(fs.durableBytes('/a')).toEqual(fs.readFile('/a'));
    fs.truncate('/a', 4);
    expect(fs.size('/a')).toBe(4);
    expect(fs.durableBytes('/a')).toEqual(fs.readFile('/a'));
  });

  it('refuses to hold more than bytesMax, and gives back the memory of deleted files', () => {
    const { fs } = machine(9, { bytesMax: 64 * 1024 });
    const big = new Uint8Array(20 * 1024);
    const fd = fs.open('/a', 'w');
    fs.write(fd, big, 0, big.byteLength, 0); // page cache + unsynced write: 40 KiB
    fs.close(fd);
    expect(fs.bytesInUse).toBe(40 * 1024);
    const fd2 = fs.open('/b', 'w');
    expect(() => fs.write(fd2, big, 0, big.byteLength, 0)).toThrow(/bytesMax/);
    fs.crash();
    fs.unlink('/b');
    fs.unlink('/a');
    const root = fs.open('/', 'r');
    fs.fsync(root);
    fs.close(root);
    expect(fs.bytesInUse).toBe(0);
  });
});
