// `npm run broker` as a process: the ready line on stdout, serving, and a graceful SIGTERM
// that keeps what was written for the next start.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiKey, ErrorCode } from '../../../events/broker/protocol.js';
import { RawClient, removeTmpDirs, tmpDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  removeTmpDirs();
});

function startProcess(dataDir: string): Promise<{ child: ChildProcess; ready: { port: number; host: string } }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'events/broker/main.ts', '--data-dir', dataDir, '--port', '0'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  child.stderr?.resume();
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => resolve({ child, ready: JSON.parse(line) as { port: number; host: string } }));
    child.once('exit', (code) => reject(new Error(`broker exited with ${code} before ready`)));
  });
}

describe('broker process', () => {
  it('prints a ready line, serves, stops on SIGTERM with exit 0, and restarts on the same data', async () => {
    const dataDir = tmpDir();
    const { child, ready } = await startProcess(dataDir);
    expect(ready).toMatchObject({ host: '127.0.0.1' });
    expect(ready.port).toBeGreaterThan(0);
    const c = await RawClient.connect(ready.port);
    const r = await c.request(ApiKey.CreateTopics, 3, (w) => {
      w.array(['kept'], (w2, n) => w2.string(n).int32(2).int16(1).int32(0).int32(0));
      w.int32(5_000).bool(false);
    });
    r.int32();
    expect(r.array((x) => ({ name: x.string(), error: x.int16(), message: x.nullableString() }))[0]?.error).toBe(
      ErrorCode.NONE,
    );
    c.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const second = await startProcess(dataDir);
    const c2 = await RawClient.connect(second.ready.port);
    const meta = await c2.request(ApiKey.Metadata, 1, (w) => w.int32(-1));
    meta.array((x) => [x.int32(), x.string(), x.int32(), x.nullableString()]);
    meta.int32();
    const topics = meta.array((x) => ({
      error: x.int16(),
      name: x.string(),
      internal: x.bool(),
      partitions: x.array((y) => [
        y.int16(),
        y.int32(),
        y.int32(),
        y.array((z) => z.int32()),
        y.array((z) => z.int32()),
      ]),
    }));
    expect(topics.map((t) => [t.name, t.partitions.length])).toEqual([['kept', 2]]);
    c2.close();
  }, 30_000);
});
