// The feed over real sockets (uWS server on loopback, the project's FeedClient and raw
// WebSocket connections), fed by an in-process engine running a random order flow: books equal
// the engine's after the flow (JSON, protobuf, REST-synced and throttled clients); an injected
// gap and a tampered update are detected and repaired by the client's own resync; a paused
// consumer is resynced (or closed) while a fast one receives every sequence; malformed
// requests get error replies; limits and timeouts close what they should, with their codes.
// Every wait is bounded and waits for a condition, never for a fixed time.

import { afterEach, describe, expect, it } from 'vitest';
import { Side } from '../../engine/types.js';
import { FeedClient } from '../../feed/client/feed-client.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { FeedProtoCodec } from '../../feed/proto-codec.js';
import { Channel, CHANNELS, FeedCloseCode, type L2Message, type ServerMessage } from '../../feed/types.js';
import { SYM_A, SYM_B } from './flow.js';
import { caughtUp, expectClientBook, levelsOf, startFeedHarness, tick, until, type FeedHarness } from './harness.js';
import { readSnapshot, writeSnapshot } from '../../engine/snapshot.js';

let h: FeedHarness | undefined;
const clients: FeedClient[] = [];
const raws: WsConnection[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  for (const r of raws.splice(0)) r.destroy();
  await h?.stop();
  h = undefined;
});

async function client(opts: Partial<Parameters<typeof FeedClient.connect>[0]> = {}): Promise<FeedClient> {
  const c = await FeedClient.connect({ url: h!.url, ...opts });
  clients.push(c);
  return c;
}

/** A raw WebSocket that records every message (decoded) and its close. */
async function raw(url = h!.url) {
  const got: ServerMessage[] = [];
  const closed: { code?: number; reason?: string } = {};
  const codec = FeedProtoCodec.get();
  const ws = await WsConnection.connect(url, {
    onMessage: (d, bin) => got.push(bin ? codec.decodeMessage(d) : (JSON.parse(d.toString('utf8')) as ServerMessage)),
    onClose: (code, reason) => Object.assign(closed, { code, reason }),
  });
  raws.push(ws);
  return { ws, got, closed };
}

describe('books over sockets', () => {
  it('after a random flow, JSON, protobuf and REST-synced clients hold the engine book (every level, every order); throttled ends the same', async () => {
    h = await startFeedHarness({ seed: 3 });
    // How long each drive took: the only time l2.throttled updates can be due (see below).
    const driveMs: number[] = [];
    const drive = async (commands: number) => {
      const t0 = performance.now();
      await h!.drive(commands);
      driveMs.push(performance.now() - t0);
    };
    await drive(1500); // a book exists before anyone subscribes
    const json = await client();
    const proto = await client({ encoding: 'protobuf' });
    const rest = await client({ l2Sync: 'rest' });
    const throttled = await client();
    await json.subscribe([SYM_A, SYM_B], [...CHANNELS]);
    await proto.subscribe([SYM_A, SYM_B], [Channel.L2, Channel.L3, Channel.TRADES, Channel.L1]);
    await drive(300);
    await rest.subscribe([SYM_A, SYM_B], [Channel.L2]);
    await throttled.subscribe([SYM_A, SYM_B], [Channel.L2_THROTTLED]);
    const trades: number[] = [];
    json.on('trades', (m: { trades: { trade_id: number }[] }) => trades.push(...m.trades.map((t) => t.trade_id)));
    await drive(4000);
    // l2.throttled is conflated: at most one update per symbol per throttle interval, and only for
    // an interval in which the book changed (it changes only during a drive). The interval is a
    // setInterval timer: two flushes are at least (interval - 1) ms apart (the loop clock counts
    // whole ms; one more ms of margin below), so a drive of T ms contains at most
    // floor(T / (interval - 2)) + 1 flushes, and one more flush after it can carry its last
    // changes. The bound follows the measured time, so it holds on a machine of any speed; one
    // update per l2 change (thousands here) would exceed it by far.
    const interval = h.feed.server.limits.throttleIntervalMs;
    const throttledMax = driveMs.reduce((n, ms) => n + Math.floor(ms / (interval - 2)) + 2, 0);
    for (const s of [SYM_A, SYM_B]) {
      for (const c of [json, proto, rest]) await caughtUp(h, c, s, Channel.L2);
      await caughtUp(h, json, s, Channel.L3);
      await caughtUp(h, proto, s, Channel.L3);
      expectClientBook(json, h.engine, s, { l3: true });
      expectClientBook(proto, h.engine, s, { l3: true });
      expectClientBook(rest, h.engine, s);
      // l2.throttled: conflated at 100 ms, lands on the same book once its interval has passed.
      const engine = h.engine;
      await until(
        `throttled ${s} converged`,
        () =>
          JSON.stringify(throttled.book(s, Channel.L2_THROTTLED)!.levels('BUY')) ===
            JSON.stringify(levelsOf(engine, s, Side.BUY)) &&
          JSON.stringify(throttled.book(s, Channel.L2_THROTTLED)!.levels('SELL')) ===
            JSON.stringify(levelsOf(engine, s, Side.SELL)),
      );
      const throttledSeq = h.feed.projector.lastSeq(s, Channel.L2_THROTTLED); // throttled updates published for s
      expect(
        throttledSeq,
        `${s} l2.throttled updates (drives ${driveMs.map((ms) => ms.toFixed(0)).join('+')} ms, l2 updates ${h.feed.projector.lastSeq(s, Channel.L2)})`,
      ).toBeLessThanOrEqual(throttledMax);
      expect(throttledSeq, `${s} l2.throttled updates`).toBeGreaterThanOrEqual(1);
      expect(throttled.lastSeq(s, Channel.L2_THROTTLED)).toBeLessThanOrEqual(throttledSeq);
    }
    for (const c of [json, proto, rest, throttled]) {
      expect(c.stats.gaps, 'gaps').toBe(0);
      expect(c.stats.checksumMismatches, 'checksum mismatches').toBe(0);
      expect(c.stats.resyncs, 'resyncs').toBe(0);
      expect(c.stats.errors, 'errors').toBe(0);
    }
    expect(rest.stats.restSnapshots).toBe(2);
    expect(rest.stats.snapshots).toBe(2); // no snapshot came over the socket
    // Trades: dense ids, no loss (the flow's trades are all on these two symbols).
    expect(trades.length).toBeGreaterThan(50);
    expect(new Set(trades).size).toBe(trades.length);
    expect(h.feed.stats.failures).toBe(0);
    expect(h.feed.projector.stats.anomalies).toBe(0);
  });

  it('an injected gap (one l2 update dropped for one connection) is detected by seq; the client resyncs by itself and is right again', async () => {
    h = await startFeedHarness({ seed: 5, limits: { heartbeatIntervalMs: 600_000 } });
    await h.drive(500);
    const c = await client();
    const other = await client();
    await c.subscribe([SYM_A], [Channel.L2, Channel.L3]);
    await other.subscribe([SYM_A], [Channel.L2]);
    const gaps: unknown[] = [];
    c.on('gap', (g) => gaps.push(g));
    h.feed.server.debugIntercept(c.connectionId, SYM_A, Channel.L2, () => undefined);
    h.feed.server.debugIntercept(c.connectionId, SYM_A, Channel.L3, () => undefined);
    await h.drive(2000);
    await caughtUp(h, c, SYM_A, Channel.L2);
    await caughtUp(h, c, SYM_A, Channel.L3);
    await caughtUp(h, other, SYM_A, Channel.L2);
    expect(c.stats.gaps).toBe(2);
    expect(gaps).toContainEqual(expect.objectContaining({ symbol: SYM_A, channel: Channel.L2 }));
    expect(c.stats.resyncs).toBe(2);
    expect(c.stats.snapshots).toBe(4); // two on subscribe, two on resync
    expectClientBook(c, h.engine, SYM_A, { l3: true });
    // Nobody else noticed.
    expect(other.stats.gaps).toBe(0);
    expectClientBook(other, h.engine, SYM_A);
  });

  it('a gap at the end of the stream (the last update lost, nothing after it) is revealed by the heartbeat', async () => {
    h = await startFeedHarness({ seed: 7, limits: { heartbeatIntervalMs: 20 } });
    await h.drive(300);
    const c = await client();
    await c.subscribe([SYM_A], [Channel.L2]);
    await caughtUp(h, c, SYM_A, Channel.L2);
    const gaps: { expected: number; got: number }[] = [];
    c.on('gap', (g: { expected: number; got: number }) => gaps.push(g));
    h.feed.server.debugIntercept(c.connectionId, SYM_A, Channel.L2, () => undefined);
    // One entry that changes the SYM_A book, then silence.
    const before = h.feed.projector.lastSeq(SYM_A, Channel.L2);
    while (h.feed.projector.lastSeq(SYM_A, Channel.L2) === before) await h.drive(1);
    await caughtUp(h, c, SYM_A, Channel.L2);
    expect(gaps).toEqual([{ symbol: SYM_A, channel: Channel.L2, expected: before + 1, got: before + 1 }]);
    expect(c.stats.resyncs).toBe(1);
    expectClientBook(c, h.engine, SYM_A);
  });

  it('a tampered l2 update fails its checksum; the client resyncs and is right again', async () => {
    h = await startFeedHarness({ seed: 6, limits: { heartbeatIntervalMs: 600_000 } });
    await h.drive(800);
    const c = await client();
    await c.subscribe([SYM_A], [Channel.L2]);
    const mismatches: unknown[] = [];
    c.on('checksum_mismatch', (x) => mismatches.push(x));
    const best = h.engine.bookLevels(SYM_A, Side.SELL)[0]?.price ?? 2_000_000;
    // A bogus best ask one tick below the real one: the top 10 change, the checksum cannot match.
    h.feed.server.debugIntercept(c.connectionId, SYM_A, Channel.L2, (m) => ({
      ...(m as L2Message),
      asks: [...(m as L2Message).asks, [best - 5, 12_340, 1]],
    }));
    await h.drive(1000);
    await caughtUp(h, c, SYM_A, Channel.L2);
    expect(c.stats.checksumMismatches).toBe(1);
    expect(mismatches).toEqual([expect.objectContaining({ symbol: SYM_A, channel: Channel.L2 })]);
    expect(c.stats.resyncs).toBe(1);
    expect(c.stats.gaps).toBe(0);
    expectClientBook(c, h.engine, SYM_A);
  });
});

describe('state reset', () => {
  it("after the replica's engine is replaced (a leader's snapshot installed), subscribers get a resync notice and a fresh snapshot", async () => {
    h = await startFeedHarness({ seed: 12 });
    await h.drive(600);
    const c = await client();
    await c.subscribe([SYM_A, SYM_B], [Channel.L2, Channel.L3]);
    const reasons: string[] = [];
    c.on('resync', (r: { reason: string }) => reasons.push(r.reason));
    // Another replica ran further; this one installs its snapshot.
    const { FlowRunner } = await import('./flow.js');
    const ahead = readSnapshot(h.engine.config, writeSnapshot(h.engine));
    const r = new FlowRunner(99, ahead);
    for (let k = 0; k < 300; k++) r.nextEntry();
    const installed = readSnapshot(ahead.config, writeSnapshot(ahead));
    const before = h.feed.projector.lastSeq(SYM_A, Channel.L2);
    h.feed.onStateReset(installed);
    expect(h.feed.projector.lastSeq(SYM_A, Channel.L2)).toBe(before + 1);
    await until('resync notices', () => reasons.length === 4);
    expect(reasons).toEqual(['SOURCE_RESET', 'SOURCE_RESET', 'SOURCE_RESET', 'SOURCE_RESET']);
    for (const s of [SYM_A, SYM_B]) {
      await caughtUp(h, c, s, Channel.L2);
      await caughtUp(h, c, s, Channel.L3);
      expectClientBook(c, installed, s, { l3: true });
    }
    expect(c.stats.gaps + c.stats.checksumMismatches).toBe(0);
  });
});

describe('backpressure', () => {
  it('a paused consumer gets a resync notice and a fresh snapshot; a fast one receives every sequence', async () => {
    h = await startFeedHarness({
      seed: 8,
      limits: {
        slowBytesMax: 256 * 1024,
        resumeBytesMax: 32 * 1024,
        slowConsumerTimeoutMs: 60_000,
        backpressureCheckMs: 10,
      },
    });
    const fast = await client();
    const slow = await client();
    await fast.subscribe([SYM_A, SYM_B], [Channel.L2, Channel.L3, Channel.TRADES]);
    await slow.subscribe([SYM_A, SYM_B], [Channel.L2, Channel.L3, Channel.TRADES]);
    const seen = new Map<string, number[]>();
    fast.on('message', (m: ServerMessage) => {
      if (m.type === 'update')
        seen.set(`${m.channel}/${m.symbol}`, [...(seen.get(`${m.channel}/${m.symbol}`) ?? []), m.seq]);
    });
    const resyncs: { reason: string }[] = [];
    slow.on('resync', (r: { reason: string }) => resyncs.push(r));
    slow.pause();
    // Drive until the server has marked the paused connection itself as lagging (bounded).
    await h!.driveUntilLagging(slow.connectionId);
    expect(h.feed.server.stats.lagging).toBeGreaterThanOrEqual(1);
    await h.drive(500);
    slow.resume();
    for (const s of [SYM_A, SYM_B]) {
      for (const c of [fast, slow]) {
        await caughtUp(h, c, s, Channel.L2);
        await caughtUp(h, c, s, Channel.L3);
        expectClientBook(c, h.engine, s, { l3: true });
      }
    }
    // The fast one: every update of every subscription, in order, none missing.
    for (const [k, seqs] of seen) {
      const [ch, s] = [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)];
      expect(seqs, k).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      expect(seqs.at(-1), k).toBe(h.feed.projector.lastSeq(s, ch as Channel));
    }
    expect(fast.stats.gaps + fast.stats.resyncs + fast.stats.serverResyncs).toBe(0);
    // The slow one was told, and carried on from fresh snapshots.
    expect(slow.stats.serverResyncs).toBeGreaterThanOrEqual(1);
    expect(resyncs.some((r) => r.reason === 'SLOW_CONSUMER')).toBe(true);
    expect(slow.closed).toBeUndefined();
  });

  it('a consumer that stays paused is disconnected with 4008 (slow consumer); the others are not', async () => {
    h = await startFeedHarness({
      seed: 9,
      limits: {
        slowBytesMax: 256 * 1024,
        resumeBytesMax: 32 * 1024,
        slowConsumerTimeoutMs: 200,
        backpressureCheckMs: 10,
      },
    });
    const fast = await client();
    const slow = await client();
    await fast.subscribe([SYM_A], [Channel.L2, Channel.L3]);
    await slow.subscribe([SYM_A], [Channel.L2, Channel.L3]);
    slow.pause();
    await h!.driveUntilLagging(slow.connectionId);
    // Still paused, its buffer cannot drain: after slowConsumerTimeoutMs the sweep closes it.
    await h!.serverClosed(slow.connectionId);
    expect(h.feed.server.stats.closedSlow).toBe(1);
    slow.resume();
    await until('slow client closed', () => slow.closed);
    expect(slow.closed!.code).toBe(FeedCloseCode.SLOW_CONSUMER);
    expect(slow.closed!.reason).toMatch(/slow consumer/);
    await caughtUp(h, fast, SYM_A, Channel.L2);
    expectClientBook(fast, h.engine, SYM_A, { l3: true });
    expect(fast.closed).toBeUndefined();
    expect(fast.stats.gaps).toBe(0);
  });
});

describe('protocol', () => {
  it('malformed and invalid requests get error replies, the connection stays usable', async () => {
    h = await startFeedHarness({ limits: { subscriptionsPerConnectionMax: 4 } });
    const r = await raw();
    const send = (x: string | Uint8Array) => r.ws.send(x);
    const cases: [string | Uint8Array, string][] = [
      ['not json', 'BAD_REQUEST'],
      ['[1,2]', 'BAD_REQUEST'],
      ['{}', 'UNKNOWN_OP'],
      ['{"op":"dance","id":7}', 'UNKNOWN_OP'],
      ['{"op":"subscribe","id":8}', 'BAD_REQUEST'],
      ['{"op":"subscribe","id":9,"channels":["l2"],"symbols":[]}', 'BAD_REQUEST'],
      ['{"op":"subscribe","id":10,"channels":["l5"],"symbols":["BTC-USD"]}', 'UNKNOWN_CHANNEL'],
      ['{"op":"subscribe","id":11,"channels":["l2"],"symbols":["DOGE-USD"]}', 'UNKNOWN_SYMBOL'],
      ['{"op":"subscribe","id":12,"channels":["l2"],"symbols":[42]}', 'UNKNOWN_SYMBOL'],
      ['{"op":"subscribe","id":-1,"channels":["l2"],"symbols":["BTC-USD"]}', 'BAD_REQUEST'],
      [
        '{"op":"subscribe","id":13,"channels":["l2","l3","l1"],"symbols":["BTC-USD","ETH-USD"]}',
        'TOO_MANY_SUBSCRIPTIONS',
      ],
      ['{"op":"subscribe","id":14,"channels":["l2"],"symbols":["BTC-USD"],"no_snapshot":"yes"}', 'BAD_REQUEST'],
      [new Uint8Array([0xff, 0xff, 0xff, 0x01]), 'BAD_REQUEST'],
    ];
    for (const [msg] of cases) send(msg);
    await until('every error reply', () => r.got.filter((m) => m.type === 'error').length === cases.length);
    const errors = r.got.filter((m) => m.type === 'error') as { code: string; id: number }[];
    expect(errors.map((e) => e.code)).toEqual(cases.map((c) => c[1]));
    expect(errors.find((e) => e.id === 11)?.code).toBe('UNKNOWN_SYMBOL');
    // Still usable: a valid subscribe works, then an encoding switch is refused.
    send('{"op":"subscribe","id":20,"channels":["l2","status"],"symbols":["BTC-USD"]}');
    send('{"op":"subscribe","id":21,"channels":["l1"],"symbols":["BTC-USD"],"encoding":"protobuf"}');
    send('{"op":"ping","id":22}');
    await until('replies', () => r.got.some((m) => m.type === 'pong'));
    expect(r.got.find((m) => m.type === 'subscribed')).toMatchObject({
      id: 20,
      subscriptions: [
        { symbol: SYM_A, channel: 'l2', seq: 0 },
        { symbol: SYM_A, channel: 'status', seq: 0 },
      ],
    });
    expect(r.got.filter((m) => m.type === 'snapshot').map((m) => (m as { channel: string }).channel)).toEqual([
      'l2',
      'status',
    ]);
    expect(r.got.find((m) => m.type === 'error' && m.id === 21)).toMatchObject({ code: 'ENCODING_LOCKED' });
    expect(r.closed.code).toBeUndefined();
    expect(h.feed.server.stats.handlerErrors).toBe(0);
  });

  it('protobuf requests in binary frames work like JSON ones', async () => {
    h = await startFeedHarness();
    await h.drive(300);
    const r = await raw(`${h.url}?encoding=protobuf`);
    const codec = FeedProtoCodec.get();
    r.ws.send(codec.encodeRequest({ op: 'subscribe', id: 5, channels: [Channel.L2, Channel.L1], symbols: [SYM_A] }));
    await until('snapshots', () => r.got.filter((m) => m.type === 'snapshot').length === 2);
    expect(r.got[0]).toMatchObject({ type: 'subscribed', id: 5 });
    const snap = r.got[1] as L2Message;
    expect(snap.bids).toEqual(levelsOf(h.engine, SYM_A, Side.BUY));
  });

  it('a connection that does not subscribe in time is closed (4001)', async () => {
    // `active` connects and subscribes under a timeout no machine can hit; only once its
    // subscription is acknowledged does the timeout drop to 100 ms (the sweep reads the limits
    // live) and `idle` connect: the 100 ms then applies to `idle` alone.
    h = await startFeedHarness({ limits: { subscribeTimeoutMs: 600_000, backpressureCheckMs: 10 } });
    const active = await client();
    await active.subscribe([SYM_A], [Channel.L1]);
    h.feed.server.limits.subscribeTimeoutMs = 100;
    const idle = await raw();
    await until('idle connection closed', () => idle.closed.code);
    expect(idle.closed.code).toBe(FeedCloseCode.SUBSCRIBE_TIMEOUT);
    // The sweep that closed `idle` would have closed `active` (opened earlier) in the same pass, had its subscription not counted.
    expect(h.feed.server.stats.closedIdle).toBe(1);
    expect(active.closed).toBeUndefined();
  });

  it('heartbeats carry the last seq of each subscription', async () => {
    h = await startFeedHarness({ limits: { heartbeatIntervalMs: 50 } });
    const c = await client();
    await c.subscribe([SYM_A, SYM_B], [Channel.L2, Channel.TRADES]);
    await h.drive(800);
    await caughtUp(h, c, SYM_A, Channel.L2);
    const hb = await new Promise<{ seqs: { symbol: string; channel: Channel; seq: number }[] }>((resolve) =>
      c.once('heartbeat', resolve),
    );
    expect(hb.seqs).toHaveLength(4);
    for (const s of hb.seqs) {
      expect(s.seq).toBe(h.feed.projector.lastSeq(s.symbol, s.channel));
      expect(s.seq).toBe(c.lastSeq(s.symbol, s.channel));
    }
  });

  it('limits: connections beyond the maximum are refused at the upgrade; a request flood is closed (4029); oversized messages close the connection', async () => {
    h = await startFeedHarness({
      limits: { connectionsMax: 2, clientMessagesPerSecondMax: 5, clientMessageBytesMax: 1024 },
    });
    const a = await raw();
    const b = await raw();
    await expect(raw()).rejects.toThrow(/503/);
    for (let k = 0; k < 25; k++) a.ws.send('{"op":"ping"}');
    await until('flood closed', () => a.closed.code);
    expect(a.closed.code).toBe(FeedCloseCode.RATE_LIMITED);
    expect(a.got.some((m) => m.type === 'error' && m.code === 'RATE_LIMITED')).toBe(true);
    b.ws.send(JSON.stringify({ op: 'ping', pad: 'x'.repeat(2000) }));
    await until('oversized closed', () => b.closed.code);
    expect(b.closed.code).not.toBe(1000);
    expect(h.feed.server.stats.connectionsRefused).toBe(1);
  });

  it('status: halt and resume reach subscribers', async () => {
    h = await startFeedHarness();
    const c = await client();
    const got: string[] = [];
    c.on('status', (m: { status: string; type: string }) => got.push(`${m.type}:${m.status}`));
    await c.subscribe([SYM_B], [Channel.STATUS]);
    await until('status snapshot', () => got.length === 1);
    const { EventBuffer } = await import('../../engine/event-buffer.js');
    const buf = new EventBuffer();
    for (const type of ['halt', 'resume'] as const) {
      buf.clear();
      h.engine.apply({ type, symbol: SYM_B, seq: h.engine.lastSeq + 1, tsUs: h.engine.nowUs + 1 }, buf);
      h.feed.applyEvents(buf, 0, buf.count);
      await tick();
    }
    await until('status updates', () => got.length === 3);
    expect(got).toEqual(['snapshot:TRADING', 'update:HALTED', 'update:TRADING']);
  });
});

describe('REST', () => {
  it('GET /v1/book/{symbol}?depth=N: a depth snapshot with its seq and checksum; errors for bad input', async () => {
    h = await startFeedHarness({ seed: 4 });
    await h.drive(2000);
    const r = await fetch(`${h.http}/v1/book/${SYM_A}?depth=5`);
    expect(r.status).toBe(200);
    const b = (await r.json()) as L2Message;
    expect(b).toMatchObject({
      channel: 'l2',
      type: 'snapshot',
      symbol: SYM_A,
      seq: h.feed.projector.lastSeq(SYM_A, Channel.L2),
    });
    expect(b.bids).toEqual(levelsOf(h.engine, SYM_A, Side.BUY).slice(0, 5));
    expect(b.asks).toEqual(levelsOf(h.engine, SYM_A, Side.SELL).slice(0, 5));
    const full = (await (await fetch(`${h.http}/v1/book/${SYM_A}`)).json()) as L2Message;
    expect(b.checksum).toBe(full.checksum); // covers the top 10 whatever the depth asked
    expect((await fetch(`${h.http}/v1/book/NOPE`)).status).toBe(404);
    for (const d of ['0', '-1', 'abc', '99999999'])
      expect((await fetch(`${h.http}/v1/book/${SYM_A}?depth=${d}`)).status, d).toBe(400);
    expect(await (await fetch(`${h.http}/v1/instruments`)).json()).toEqual({
      symbols: [SYM_A, SYM_B],
      instruments: [
        { symbol: SYM_A, price_decimals: 2, quantity_decimals: 4 },
        { symbol: SYM_B, price_decimals: 2, quantity_decimals: 0 },
      ],
    });
    expect((await fetch(`${h.http}/healthz`)).status).toBe(200);
    expect((await fetch(`${h.http}/nothing`)).status).toBe(404);
  });
});
