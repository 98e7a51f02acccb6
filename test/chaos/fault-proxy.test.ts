// The chaos suite's TCP fault proxy (chaos/fault-proxy.ts) in front of a collecting server:
// bytes pass in order (also delayed with jitter), a blackhole swallows them and healing resets
// the connection, a lossy link resets instead of losing part of a stream, reset() cuts now.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../chaos/fault-proxy.js';
import { Prng } from '../../replicator/prng.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function sink(): Promise<{ port: number; received: () => string; closes: () => number }> {
  let data = '';
  let closes = 0;
  const server = net.createServer((s) => {
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('close', () => closes++);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, received: () => data, closes: () => closes };
}

async function through(proxy: FaultProxy): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port: proxy.port });
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.once('connect', () => r()));
  cleanup.push(() => void s.destroy());
  return s;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let k = 0; k < 400 && !cond(); k++) await sleep(10);
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

async function setup(seed = 1): Promise<{ proxy: FaultProxy; target: Awaited<ReturnType<typeof sink>> }> {
  const target = await sink();
  const proxy = new FaultProxy('a→b', { host: '127.0.0.1', port: target.port }, new Prng(seed));
  await proxy.start();
  cleanup.push(() => proxy.stop());
  return { proxy, target };
}

describe('fault proxy', () => {
  it('forwards in order, also with delay and jitter', async () => {
    const { proxy, target } = await setup();
    const s = await through(proxy);
    s.write('ab');
    await until(() => target.received() === 'ab', 'plain bytes');
    proxy.set({ delayMs: 5, jitterMs: 20 });
    const chunks = Array.from({ length: 50 }, (_, k) => `<${k}>`);
    for (const c of chunks) {
      s.write(c);
      await sleep(1);
    }
    await until(() => target.received().length === 2 + chunks.join('').length, 'delayed bytes');
    expect(target.received()).toBe(`ab${chunks.join('')}`);
    expect(proxy.stats.bytesDropped).toBe(0);
  });

  it('a blackhole swallows; healing resets the connection so the next one starts clean', async () => {
    const { proxy, target } = await setup();
    const s = await through(proxy);
    proxy.set({ blackhole: true });
    s.write('lost');
    await sleep(50);
    expect(target.received()).toBe('');
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    proxy.heal();
    await closed;
    const s2 = await through(proxy);
    s2.write('fresh');
    await until(() => target.received() === 'fresh', 'bytes after healing');
    expect(proxy.stats.bytesDropped).toBe(4);
    expect(proxy.stats.resets).toBe(1);
  });

  it('a lossy link resets the connection rather than losing part of the stream', async () => {
    const { proxy, target } = await setup();
    proxy.set({ dropRate: 1 });
    const s = await through(proxy);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write('x');
    await closed;
    expect(target.received()).toBe('');
    await until(() => target.closes() === 1, 'the upstream side closed too');
  });
});
