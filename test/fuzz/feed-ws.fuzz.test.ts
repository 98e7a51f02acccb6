// Fuzz of the market-data WebSocket edge (feed/feed-server.ts) over real sockets, with the feed
// fed by an in-process engine running a random order flow (test/feed/harness.ts): JSON text
// frames (random JSON, subscribe requests with fields of the wrong type, extreme or unicode
// values, byte-mutated requests), binary frames (mutated protobuf FeedRequests, random bytes)
// on both encodings, oversize messages, broken WebSocket framing on a raw socket after the
// handshake, and garbage upgrade requests.
//
// Each request is followed by a ping with a fresh id, so its replies are exactly what arrives
// before that pong. Asserted per request: the replies are an error {id, code of the protocol's
// list, message}, a pong, an unsubscribed, or a subscribed followed by its snapshots; the
// connection stays open (an oversize message closes it: 1009, or 1006 when uWS drops the socket). After every batch: the server
// caught no exception in a handler (stats.handlerErrors 0), the projector's sequence numbers
// did not move, a subscribed bystander still follows the book exactly (every level, after more
// flow), and heapUsed does not keep growing.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/feed-ws.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../../feed/client/feed-client.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { FeedProtoCodec } from '../../feed/proto-codec.js';
import { CHANNELS, Channel, FeedErrorCode, type ServerMessage } from '../../feed/types.js';
import { SYM_A, SYM_B } from '../feed/flow.js';
import { caughtUp, expectClientBook, startFeedHarness, type FeedHarness } from '../feed/harness.js';
import { HeapWatch, fcParams, mutationsArb, mutate, nastyJsonValue, waitFor } from './harness.js';

const MESSAGE_BYTES_MAX = 16 * 1024;
const ERROR_CODES = new Set<string>(Object.values(FeedErrorCode));
const codec = FeedProtoCodec.get();
const heap = new HeapWatch();

let h: FeedHarness;
let bystander: FeedClient;
let sentinel = 1_000_000_000;

beforeAll(async () => {
  // The fuzz sends far more than a client may per second, and never needs to subscribe in time.
  h = await startFeedHarness({
    seed: 7,
    limits: {
      clientMessagesPerSecondMax: 1_000_000,
      subscribeTimeoutMs: 600_000,
      clientMessageBytesMax: MESSAGE_BYTES_MAX,
    },
  });
  await h.drive(500);
  bystander = await FeedClient.connect({ url: h.url });
  await bystander.subscribe([SYM_A, SYM_B], [Channel.L2, Channel.L3]);
}, 30_000);

afterAll(async () => {
  await bystander?.close().catch(() => undefined);
  await h?.stop();
});

// ---------------------------------------------------------------------------------------------
// A raw connection that records every message, and a request → replies exchange

interface Raw {
  ws: WsConnection;
  got: ServerMessage[];
  closed: { code?: number; reason?: string };
}

async function raw(encoding: 'json' | 'protobuf'): Promise<Raw> {
  const got: ServerMessage[] = [];
  const closed: { code?: number; reason?: string } = {};
  const ws = await WsConnection.connect(`${h.url}${encoding === 'protobuf' ? '?encoding=protobuf' : ''}`, {
    onMessage: (d, bin) => got.push(bin ? codec.decodeMessage(d) : (JSON.parse(d.toString('utf8')) as ServerMessage)),
    onClose: (code, reason) => Object.assign(closed, { code, reason }),
  });
  return { ws, got, closed };
}

/** Sends `frame`, then a ping with a fresh id; the replies to the frame are what arrives before that pong. */
async function exchange(r: Raw, frame: string | Uint8Array, pingBinary: boolean): Promise<ServerMessage[] | 'closed'> {
  const id = ++sentinel;
  const from = r.got.length;
  r.ws.send(frame);
  r.ws.send(pingBinary ? codec.encodeRequest({ op: 'ping', id }) : JSON.stringify({ op: 'ping', id }));
  await waitFor(
    `pong ${id}`,
    () => r.closed.code !== undefined || r.got.slice(from).some((m) => m.type === 'pong' && m.id === id),
  );
  if (r.closed.code !== undefined) return 'closed';
  const replies = r.got.slice(from);
  return replies.slice(
    0,
    replies.findIndex((m) => m.type === 'pong' && m.id === id),
  );
}

/** The replies to one request are one of the protocol's answers. */
function checkReplies(what: string, replies: ServerMessage[]): void {
  const own = replies.filter((m) => m.type !== 'heartbeat');
  expect(own.length, `${what}: no reply`).toBeGreaterThan(0);
  const first = own[0]!;
  switch (first.type) {
    case 'error':
      expect(own, what).toHaveLength(1);
      expect(ERROR_CODES.has(first.code), `${what}: code ${first.code}`).toBe(true);
      expect(typeof first.message, what).toBe('string');
      expect(Number.isSafeInteger(first.id) && first.id >= 0, what).toBe(true);
      break;
    case 'pong':
    case 'unsubscribed':
      expect(own, what).toHaveLength(1);
      break;
    case 'subscribed':
      // Then one snapshot per subscription (none with no_snapshot), nothing else.
      for (const m of own.slice(1)) expect(m.type, what).toBe('snapshot');
      expect(
        own.length - 1 === first.subscriptions.length || own.length === 1,
        `${what}: ${own.length - 1} snapshots for ${first.subscriptions.length} subscriptions`,
      ).toBe(true);
      break;
    default:
      throw new Error(`${what}: unexpected reply ${JSON.stringify(first).slice(0, 200)}`);
  }
}

/** The last seq of every (symbol, channel) but l2.throttled, which its own timer publishes after the flow. */
function seqs(): number[] {
  const out: number[] = [];
  for (const s of [SYM_A, SYM_B])
    for (const c of CHANNELS) if (c !== Channel.L2_THROTTLED) out.push(h.feed.projector.lastSeq(s, c));
  return out;
}

async function afterBatch(seqsBefore: number[]): Promise<void> {
  expect(h.feed.server.stats.handlerErrors, 'exceptions caught in feed handlers').toBe(0);
  expect(seqs(), 'projector sequence numbers').toEqual(seqsBefore);
  await h.drive(100);
  await caughtUp(h, bystander, SYM_A, Channel.L2);
  await caughtUp(h, bystander, SYM_B, Channel.L3);
  expectClientBook(bystander, h.engine, SYM_A, { l3: true });
  expectClientBook(bystander, h.engine, SYM_B, { l3: true });
  expect(bystander.closed).toBeUndefined();
  heap.sample();
}

// ---------------------------------------------------------------------------------------------
// Inputs

const VALID = { op: 'subscribe', id: 5, channels: ['l2', 'trades'], symbols: [SYM_A] };
const FIELDS = ['op', 'id', 'channels', 'symbols', 'no_snapshot', 'encoding', 'numbers'];
const valueArb = fc.oneof(
  nastyJsonValue,
  fc.constantFrom<unknown>(
    'subscribe',
    'unsubscribe',
    'ping',
    'SUBSCRIBE',
    SYM_A,
    SYM_B,
    'protobuf',
    'json',
    'decimal',
    'units',
    ['l2'],
    [SYM_A, SYM_A, SYM_A],
    CHANNELS,
    Array.from({ length: 40 }, () => SYM_A),
    Array.from({ length: 33 }, () => 'l2'),
  ),
  fc.array(fc.constantFrom<unknown>(...CHANNELS, SYM_A, SYM_B, '', null, 1, 'L2', 'btc-usd'), { maxLength: 8 }),
);
const mutatedRequestArb = fc
  .record({
    replace: fc.array(fc.tuple(fc.constantFrom(...FIELDS), valueArb), { maxLength: 3 }),
    remove: fc.array(fc.constantFrom(...FIELDS), { maxLength: 2 }),
    extra: fc.option(fc.tuple(fc.string({ maxLength: 10 }), nastyJsonValue), { nil: undefined }),
  })
  .map(({ replace, remove, extra }) => {
    const o: Record<string, unknown> = { ...VALID };
    for (const [k, v] of replace) o[k] = v;
    for (const k of remove) delete o[k];
    if (extra !== undefined) o[extra[0]] = extra[1];
    return JSON.stringify(o);
  });

const textArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: mutatedRequestArb },
  {
    weight: 2,
    arbitrary: mutationsArb.map((ms) => Buffer.from(mutate(Buffer.from(JSON.stringify(VALID)), ms)).toString('utf8')),
  },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 50 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      'null',
      '[]',
      '{"op":"unsubscribe","id":1,"channels":["l2"],"symbols":["BTC-USD"]}',
      `${'['.repeat(5000)}${']'.repeat(5000)}`,
      '{"op":"ping","id":1e400}',
      '{"op":"ping","id":-0}',
      '{"__proto__":{"op":"ping"}}',
    ),
  },
);

const validProto = (): Uint8Array =>
  codec.encodeRequest({ op: 'subscribe', id: 6, channels: [Channel.L1, Channel.STATUS], symbols: [SYM_B] });
const binaryArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: mutationsArb.map((ms) => mutate(validProto(), ms)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 120 }) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        id: fc.oneof(fc.nat(), fc.constant(2 ** 53 - 1)),
        op: fc.constantFrom<'subscribe' | 'unsubscribe' | 'ping'>('subscribe', 'unsubscribe', 'ping'),
        channels: fc.array(fc.constantFrom(...CHANNELS), { maxLength: 40 }),
        symbols: fc.array(fc.oneof(fc.constantFrom(SYM_A, SYM_B), fc.string({ maxLength: 8 })), { maxLength: 40 }),
      })
      .map((r) => codec.encodeRequest(r)),
  },
);

// ---------------------------------------------------------------------------------------------

describe('feed WebSocket fuzz', () => {
  it('JSON text frames: wrong types, extreme values, unicode, mutated and random JSON', async () => {
    heap.sample();
    await fc.assert(
      fc.asyncProperty(fc.array(textArb, { minLength: 15, maxLength: 40 }), async (batch) => {
        const before = seqs();
        const r = await raw('json');
        try {
          for (const frame of batch) {
            const replies = await exchange(r, frame, false);
            expect(replies, `closed (${r.closed.code} ${r.closed.reason}) after ${frame.slice(0, 200)}`).not.toBe(
              'closed',
            );
            checkReplies(frame.slice(0, 200), replies as ServerMessage[]);
          }
        } finally {
          r.ws.destroy();
        }
        await afterBatch(before);
      }),
      fcParams(12),
    );
  });

  it('binary frames: mutated protobuf FeedRequests and random bytes, on both encodings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(binaryArb, fc.boolean()), { minLength: 15, maxLength: 40 }),
        fc.constantFrom<'json' | 'protobuf'>('json', 'protobuf'),
        async (batch, encoding) => {
          const before = seqs();
          const r = await raw(encoding);
          try {
            for (const [frame, pingBinary] of batch) {
              const replies = await exchange(r, frame, pingBinary);
              expect(replies, `closed (${r.closed.code}) after ${Buffer.from(frame).toString('hex')}`).not.toBe(
                'closed',
              );
              checkReplies(Buffer.from(frame).toString('hex'), replies as ServerMessage[]);
            }
          } finally {
            r.ws.destroy();
          }
          await afterBatch(before);
        },
      ),
      fcParams(10),
    );
  });

  it('a message over the size limit closes that connection, nobody else’s', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: MESSAGE_BYTES_MAX + 1, max: 4 * MESSAGE_BYTES_MAX }),
        fc.boolean(),
        async (size, binary) => {
          const before = seqs();
          const r = await raw('json');
          r.ws.send(binary ? new Uint8Array(size) : JSON.stringify({ op: 'ping', pad: 'x'.repeat(size) }));
          await waitFor('oversize closed', () => r.closed.code !== undefined);
          // uWS drops the socket (the client sees 1006) or sends 1009.
          expect([1006, 1009]).toContain(r.closed.code);
          await afterBatch(before);
        },
      ),
      fcParams(4),
    );
  });

  it('broken WebSocket framing after the handshake: the connection is closed, the server keeps serving', async () => {
    const port = Number(new URL(h.url).port);
    const frame = (
      opcode: number,
      payload: Uint8Array,
      opts: { fin?: boolean; mask?: boolean; rsv?: number; len?: number } = {},
    ) => {
      const fin = opts.fin ?? true;
      const mask = opts.mask ?? true;
      const len = opts.len ?? payload.byteLength;
      const head: number[] = [(fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode];
      if (len < 126) head.push((mask ? 0x80 : 0) | len);
      else if (len < 65_536) head.push((mask ? 0x80 : 0) | 126, len >> 8, len & 0xff);
      else
        head.push(
          (mask ? 0x80 : 0) | 127,
          0,
          0,
          0,
          0,
          (len >>> 24) & 0xff,
          (len >>> 16) & 0xff,
          (len >>> 8) & 0xff,
          len & 0xff,
        );
      const key = [1, 2, 3, 4];
      const body = Buffer.from(payload.map((b, i) => (mask ? b ^ key[i % 4]! : b)));
      return Buffer.concat([Buffer.from(head), mask ? Buffer.from(key) : Buffer.alloc(0), body]);
    };
    const ping = Buffer.from('{"op":"ping","id":1}');
    const frameArb = fc.oneof(
      fc
        .record({
          opcode: fc.integer({ min: 0, max: 15 }),
          payload: fc.uint8Array({ maxLength: 200 }),
          fin: fc.boolean(),
          mask: fc.boolean(),
          rsv: fc.integer({ min: 0, max: 7 }),
        })
        .map((f) => frame(f.opcode, f.payload, f)),
      mutationsArb.map((ms) => Buffer.from(mutate(frame(1, ping), ms))),
      fc.constantFrom(
        frame(9, new Uint8Array(200)), // control frame over 125 bytes
        frame(8, Uint8Array.of(0x03)), // close with a 1-byte payload
        frame(8, Uint8Array.of(0x03, 0xe8, 0xff, 0xfe)), // close reason not UTF-8
        frame(1, Uint8Array.of(0xc3, 0x28)), // text frame not UTF-8
        frame(0, ping), // continuation without a start
        Buffer.concat([frame(1, ping, { fin: false }), frame(2, ping)]), // a new message inside a fragmented one
        frame(2, new Uint8Array(0), { len: 0x7fffffff }), // a length it will never get
      ),
      fc.uint8Array({ minLength: 1, maxLength: 100 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { minLength: 5, maxLength: 15 }), async (batch) => {
        const before = seqs();
        await Promise.all(
          batch.map(
            (bytes) =>
              new Promise<void>((resolve) => {
                const s = net.connect({ host: '127.0.0.1', port });
                const timer = setTimeout(() => s.destroy(), 500);
                let upgraded = false;
                s.on('error', () => undefined);
                s.on('close', () => {
                  clearTimeout(timer);
                  resolve();
                });
                s.on('connect', () =>
                  s.write(
                    `GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
                  ),
                );
                s.on('data', (d: Buffer) => {
                  if (!upgraded && d.toString('latin1').startsWith('HTTP/1.1 101')) {
                    upgraded = true;
                    s.write(bytes);
                  }
                });
              }),
          ),
        );
        await afterBatch(before);
      }),
      fcParams(6),
    );
  });

  it('garbage upgrade requests get an HTTP error or a close, never a 500', async () => {
    const port = Number(new URL(h.url).port);
    const reqArb = fc.record({
      path: fc.constantFrom(
        '/v1/ws',
        '/v1/ws?encoding=protobuf',
        '/v1/ws?encoding=xml',
        '/v1/ws?encoding=',
        '/v1/ws?encoding=%ff%fe',
        '/v1/ws?numbers=decimal',
        '/v1/ws?numbers=decimal&encoding=protobuf',
        '/v1/ws?numbers=%00',
        '/v1/wss',
        '/',
        '/v1/book/BTC-USD?depth=-1',
        '/v1/book/%E0%A4%A?depth=5',
        '/v1/book/BTC-USD?depth=99999999999',
        '/v1/book/BTC-USD?depth=5&numbers=decimal',
        '/v1/book/BTC-USD?numbers=1e3',
      ),
      key: fc.constantFrom('dGhlIHNhbXBsZSBub25jZQ==', '', 'short', 'x'.repeat(300)),
      version: fc.constantFrom('13', '8', '', 'abc'),
      upgrade: fc.constantFrom('websocket', 'WebSocket', 'h2c', ''),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(reqArb, { minLength: 5, maxLength: 15 }), async (batch) => {
        const before = seqs();
        const statuses = await Promise.all(
          batch.map(
            (q) =>
              new Promise<string>((resolve) => {
                const s = net.connect({ host: '127.0.0.1', port });
                let buf = '';
                const timer = setTimeout(() => {
                  s.destroy();
                  resolve(buf.slice(0, 12) || 'timeout');
                }, 500);
                s.on('error', () => undefined);
                s.on('connect', () =>
                  s.write(
                    `GET ${q.path} HTTP/1.1\r\nHost: x\r\nUpgrade: ${q.upgrade}\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${q.key}\r\nSec-WebSocket-Version: ${q.version}\r\n\r\n`,
                  ),
                );
                s.on('data', (d: Buffer) => {
                  buf += d.toString('latin1');
                });
                s.on('close', () => {
                  clearTimeout(timer);
                  resolve(buf.slice(0, 12) || 'closed');
                });
              }),
          ),
        );
        for (const [k, st] of statuses.entries()) expect(st, JSON.stringify(batch[k])).not.toBe('HTTP/1.1 500');
        await afterBatch(before);
      }),
      fcParams(4),
    );
  });

  it('heap does not grow across batches', () => {
    heap.sample();
    expect(heap.growthBytes(), heap.describe()).toBeLessThan(heap.slackBytes);
  });
});
