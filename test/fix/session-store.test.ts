import { mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FixSessionStore, sessionFileName } from '../../fix/session-store.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fix-store-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('FixSessionStore', () => {
  it('keeps both numbers and the messages across a reopen', () => {
    const dir = tempDir();
    const a = FixSessionStore.open(dir, 'key-1', 'CLIENT1');
    expect([a.nextOutSeq, a.nextInSeq]).toEqual([1, 1]);
    a.append(2, Buffer.from('two'));
    a.append(4, Buffer.from('four'));
    a.setSeqNums(5, 9);
    a.setSeqNums(6, 10);
    a.close();
    const b = FixSessionStore.open(dir, 'key-1', 'CLIENT1');
    expect([b.nextOutSeq, b.nextInSeq]).toEqual([6, 10]);
    expect(b.range(1, 10).map((m) => [m.seqNum, m.bytes.toString()])).toEqual([
      [2, 'two'],
      [4, 'four'],
    ]);
    expect(b.range(3, 3)).toEqual([]);
    b.reset();
    b.close();
    const c = FixSessionStore.open(dir, 'key-1', 'CLIENT1');
    expect([c.nextOutSeq, c.nextInSeq, c.range(1, 100).length]).toEqual([1, 1, 0]);
    c.close();
  });

  it('keeps the newest messagesMax only, and compacts the file', () => {
    const dir = tempDir();
    const s = FixSessionStore.open(dir, 'k', 'C', 3);
    for (let seq = 1; seq <= 20; seq++) s.append(seq, Buffer.from(`m${seq}`));
    expect(s.range(1, 100).map((m) => m.seqNum)).toEqual([18, 19, 20]);
    s.close();
    const again = FixSessionStore.open(dir, 'k', 'C', 3);
    expect(again.range(1, 100).map((m) => m.bytes.toString())).toEqual(['m18', 'm19', 'm20']);
    again.close();
  });

  it('cuts a torn tail left by a crash mid-append', () => {
    const dir = tempDir();
    const s = FixSessionStore.open(dir, 'k', 'C');
    s.append(1, Buffer.from('one'));
    s.close();
    appendFileSync(path.join(dir, `${sessionFileName('k', 'C')}.messages`), Buffer.from([0, 0, 0, 2, 0, 0, 0, 50, 1]));
    const again = FixSessionStore.open(dir, 'k', 'C');
    again.append(2, Buffer.from('two'));
    expect(again.range(1, 5).map((m) => m.bytes.toString())).toEqual(['one', 'two']);
    again.close();
  });

  it('ignores an unreadable numbers file (starts at 1) and never lets the comp id choose a path', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, `${sessionFileName('k', '../../etc')}.seqnums`), 'garbage');
    const s = FixSessionStore.open(dir, 'k', '../../etc');
    expect([s.nextOutSeq, s.nextInSeq]).toEqual([1, 1]);
    s.close();
    expect(readdirSync(dir).every((f) => /^[A-Za-z0-9_-]+\.(seqnums|messages)$/.test(f))).toBe(true);
    expect(sessionFileName('k', 'A')).not.toBe(sessionFileName('k2', 'A'));
  });
});
