// Test kit for the feed over real sockets: an in-process engine driven by a random flow (on
// flowConfig(), or a variant of it with the same symbols),
// feeding a real MarketDataFeed (uWS on an ephemeral loopback port), and helpers to wait
// (bounded, by condition, never by sleeping a fixed time) and to compare a client's books with
// the engine's, level by level and order by order.

import { expect } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { Side, type ShardConfig } from '../../engine/types.js';
import type { FeedClient } from '../../feed/client/feed-client.js';
import { MarketDataFeed } from '../../feed/feed-service.js';
import type { FeedLimits } from '../../feed/feed-server.js';
import { Channel } from '../../feed/types.js';
import { FlowRunner, flowConfig } from './flow.js';

export const WAIT_MS = 20_000;

export interface FeedHarness {
  engine: Engine;
  feed: MarketDataFeed;
  url: string;
  http: string;
  runner: FlowRunner;
  /** Runs `commands` more flow commands, yielding to the event loop every `entriesPerTurn` entries. */
  drive(commands: number, entriesPerTurn?: number): Promise<void>;
  /**
   * Drives the flow until the server marks connection `id` (a paused reader) as lagging. How
   * much that takes depends on the kernel's socket buffers (tcp_rmem/tcp_wmem autotuning), so
   * the bound is a time, not a count of commands.
   */
  driveUntilLagging(id: number, timeoutMs?: number): Promise<void>;
  /** Waits until the server has closed (or is closing) connection `id`. */
  serverClosed(id: number): Promise<void>;
  stop(): Promise<void>;
}

export const tick = () => new Promise<void>((r) => setImmediate(r));

export async function startFeedHarness(
  opts: { seed?: number; limits?: Partial<FeedLimits>; config?: ShardConfig } = {},
): Promise<FeedHarness> {
  const engine = new Engine(opts.config ?? flowConfig());
  const feed = new MarketDataFeed({
    instruments: engine.config.instruments,
    host: '127.0.0.1',
    port: 0,
    debug: true,
    ...(opts.limits !== undefined ? { limits: opts.limits } : {}),
  });
  feed.onStateReset(engine);
  const port = await feed.start();
  const runner = new FlowRunner(opts.seed ?? 1, engine);
  const h: FeedHarness = {
    engine,
    feed,
    runner,
    url: `ws://127.0.0.1:${port}/v1/ws`,
    http: `http://127.0.0.1:${port}`,
    async drive(commands, entriesPerTurn = 10) {
      let done = 0;
      let entries = 0;
      while (done < commands) {
        done += runner.nextEntry(commands - done);
        feed.applyEvents(runner.buf, 0, runner.buf.count, runner.flow.tsUs);
        if (++entries % entriesPerTurn === 0) await tick();
      }
      await tick();
    },
    async driveUntilLagging(id, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (let commands = 0; ; commands += 500) {
        const c = feed.server.connection(id);
        if (c === undefined || c.closed) throw new Error(`connection ${id} was closed before it lagged`);
        if (c.lagging) return;
        if (Date.now() > deadline)
          throw new Error(
            `connection ${id} not lagging after ${timeoutMs} ms (${commands} commands driven); server stats ${JSON.stringify(feed.server.stats)}`,
          );
        await h.drive(500, 5);
      }
    },
    async serverClosed(id) {
      await until(`server closing connection ${id}`, () => feed.server.connection(id)?.closed ?? true);
    },
    async stop() {
      await feed.stop();
    },
  };
  return h;
}

export async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const levelsOf = (engine: Engine, symbol: string, side: Side) =>
  engine.bookLevels(symbol, side).map((l) => [l.price, l.qty, l.orderCount]);
export const ordersOf = (engine: Engine, symbol: string, side: Side) =>
  engine.bookOrders(symbol, side).map((o) => [o.orderId, o.price, o.visibleQty]);

/** Waits until the client has applied the server's last message on (symbol, channel). */
export async function caughtUp(h: FeedHarness, c: FeedClient, symbol: string, channel: Channel): Promise<void> {
  await until(
    `${channel} ${symbol} caught up (client ${c.lastSeq(symbol, channel)}, server ${h.feed.projector.lastSeq(symbol, channel)})`,
    () => c.isSynced(symbol, channel) && c.lastSeq(symbol, channel) === h.feed.projector.lastSeq(symbol, channel),
  );
}

/** The client's l2 book (and l3, when subscribed) equal the engine's, every level, every order. */
export function expectClientBook(
  c: FeedClient,
  engine: Engine,
  symbol: string,
  opts: { l3?: boolean; channel?: 'l2' | 'l2.throttled' } = {},
): void {
  const book = c.book(symbol, opts.channel ?? Channel.L2)!;
  expect(book.levels('BUY'), `${symbol} bids`).toEqual(levelsOf(engine, symbol, Side.BUY));
  expect(book.levels('SELL'), `${symbol} asks`).toEqual(levelsOf(engine, symbol, Side.SELL));
  if (opts.l3 === true) {
    const l3 = c.l3(symbol)!;
    expect(l3.ordersOf('BUY'), `${symbol} l3 bids`).toEqual(ordersOf(engine, symbol, Side.BUY));
    expect(l3.ordersOf('SELL'), `${symbol} l3 asks`).toEqual(ordersOf(engine, symbol, Side.SELL));
    expect(l3.unknownOrders).toBe(0);
  }
}
