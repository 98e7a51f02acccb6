// The feed's codecs: protobuf ↔ the JSON message shapes (every message kind, both ways), and
// the WebSocket client's frame parser (any split of the byte stream, extended lengths, limits,
// protocol errors).

import { describe, expect, it } from 'vitest';
import { WsFrameParser, WsProtocolError } from '../../feed/client/ws-connection.js';
import { batchTimeUs } from '../../shard/batch-codec.js';
import { FeedProtoCodec } from '../../feed/proto-codec.js';
import { encodeBatch } from '../../shard/batch-codec.js';
import { CHANNELS, type FeedRequest, type ServerMessage } from '../../feed/types.js';

const T = 1_700_000_000_123_456;
const messages: ServerMessage[] = [
  {
    channel: 'l2',
    type: 'snapshot',
    symbol: 'BTC-USD',
    seq: 41,
    ts_us: T,
    bids: [
      [100, 5, 1],
      [99, 2, 2],
    ],
    asks: [[101, 7, 3]],
    checksum: 4_000_000_000,
  },
  {
    channel: 'l2.throttled',
    type: 'update',
    symbol: 'BTC-USD',
    seq: 42,
    ts_us: T,
    bids: [[100, 0, 0]],
    asks: [],
    checksum: 0,
  },
  { channel: 'l1', type: 'update', symbol: 'ETH-USD', seq: 3, ts_us: T, bid: [100, 5], ask: null },
  { channel: 'l1', type: 'snapshot', symbol: 'ETH-USD', seq: 3, ts_us: T, bid: null, ask: [101, 1] },
  {
    channel: 'l3',
    type: 'snapshot',
    symbol: 'BTC-USD',
    seq: 9,
    ts_us: T,
    bids: [
      [7, 100, 5],
      [9, 100, 1],
    ],
    asks: [[8, 101, 2]],
  },
  {
    channel: 'l3',
    type: 'update',
    symbol: 'BTC-USD',
    seq: 10,
    ts_us: T,
    events: [
      { op: 'add', order_id: 11, side: 'SELL', price: 102, qty: 4 },
      { op: 'modify', order_id: 7, qty: 3 },
      { op: 'remove', order_id: 9 },
      { op: 'execute', order_id: 8, price: 101, qty: 2, remaining: 0, trade_id: 77 },
    ],
  },
  {
    channel: 'trades',
    type: 'update',
    symbol: 'BTC-USD',
    seq: 5,
    ts_us: T,
    trades: [{ trade_id: 77, price: 101, qty: 2, side: 'BUY', ts_us: T }],
  },
  {
    channel: 'candles',
    type: 'update',
    symbol: 'BTC-USD',
    seq: 6,
    ts_us: T,
    candles: [
      {
        interval: '1m',
        start_us: 1_700_000_040_000_000,
        open: 1,
        high: 3,
        low: 1,
        close: 2,
        volume: 9,
        trade_count: 4,
        closed: true,
      },
    ],
  },
  {
    channel: 'status',
    type: 'update',
    symbol: 'BTC-USD',
    seq: 2,
    ts_us: T,
    status: 'HALTED',
    reference_price: 5_000_000,
  },
  { type: 'heartbeat', ts_us: T, seqs: [{ symbol: 'BTC-USD', channel: 'l2', seq: 42 }] },
  {
    type: 'subscribed',
    id: 4,
    connection_id: 12,
    subscriptions: CHANNELS.map((c, k) => ({ symbol: 'X', channel: c, seq: k })),
  },
  { type: 'unsubscribed', id: 5, subscriptions: [] },
  { type: 'resync', symbol: 'BTC-USD', channel: 'l3', reason: 'SLOW_CONSUMER', seq: 99 },
  { type: 'error', id: 0, code: 'UNKNOWN_SYMBOL', message: 'unknown symbol "X"' },
  { type: 'pong', id: 3, ts_us: T },
];

describe('protobuf encoding', () => {
  const codec = FeedProtoCodec.get();
  it('every server message survives encode → decode unchanged', () => {
    for (const m of messages) expect(codec.decodeMessage(codec.encodeMessage(m)), JSON.stringify(m)).toEqual(m);
  });
  it('requests round-trip; unknown channel numbers become names the server refuses', () => {
    const r: FeedRequest = {
      op: 'subscribe',
      id: 9,
      channels: ['l2', 'candles', 'status'],
      symbols: ['BTC-USD', 'ETH-USD'],
      no_snapshot: true,
    };
    expect(codec.decodeRequest(codec.encodeRequest(r))).toEqual(r);
    expect(codec.decodeRequest(codec.encodeRequest({ op: 'ping' }))).toEqual({
      op: 'ping',
      id: 0,
      channels: [],
      symbols: [],
    });
    expect(() => codec.decodeRequest(new Uint8Array([0xff, 0xff, 0xff]))).toThrow();
  });
});

/** A server frame (unmasked). */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, len])
      : len < 65536
        ? Buffer.from([(fin ? 0x80 : 0) | opcode, 126, len >> 8, len & 255])
        : Buffer.concat([
            Buffer.from([(fin ? 0x80 : 0) | opcode, 127]),
            (() => {
              const b = Buffer.alloc(8);
              b.writeUInt32BE(Math.floor(len / 2 ** 32), 0);
              b.writeUInt32BE(len >>> 0, 4);
              return b;
            })(),
          ]);
  return Buffer.concat([head, payload]);
}

describe('WebSocket frame parser', () => {
  const payloads = [
    Buffer.from('a'),
    Buffer.alloc(125, 1),
    Buffer.alloc(126, 2),
    Buffer.alloc(70_000, 3),
    Buffer.alloc(0),
    Buffer.from('{"x":1}'),
  ];
  const stream = Buffer.concat(payloads.map((p) => frame(1, p)));

  it('yields the same frames however the stream is split, from a read buffer reused after each push', () => {
    for (const size of [1, 2, 3, 7, 100, 4096, stream.length]) {
      const p = new WsFrameParser();
      const got: Buffer[] = [];
      const readBuffer = Buffer.alloc(size);
      for (let o = 0; o < stream.length; o += size) {
        const n = stream.copy(readBuffer, 0, o, o + size);
        p.push(readBuffer.subarray(0, n), (_op, _fin, payload) => got.push(Buffer.from(payload)));
        readBuffer.fill(0xaa); // the socket's next read overwrites it
      }
      expect(
        got.map((b) => b.length),
        `chunks of ${size}`,
      ).toEqual(payloads.map((b) => b.length));
      expect(Buffer.concat(got).equals(Buffer.concat(payloads))).toBe(true);
    }
  });

  it('refuses masked frames, reserved bits and frames over the limit', () => {
    expect(() => new WsFrameParser().push(Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0]), () => undefined)).toThrow(
      WsProtocolError,
    );
    expect(() => new WsFrameParser().push(Buffer.from([0xc1, 0x00]), () => undefined)).toThrow(/reserved/);
    expect(() => new WsFrameParser(1000).push(frame(2, Buffer.alloc(1001)), () => undefined)).toThrow(/limit/);
  });
});

describe("log time of an entry (candles close on the leader's time ticks)", () => {
  it('is the newest command time of a batch entry, 0 for anything else', () => {
    const body = new Uint8Array([1, 10, 0]); // a tick, say; the body is not read
    const data = encodeBatch([
      { clientId: -1, requestSeq: 1, tsUs: T, body },
      { clientId: 2, requestSeq: 9, tsUs: T + 5, body },
      { clientId: 3, requestSeq: 1, tsUs: T + 2, body },
    ]);
    expect(batchTimeUs(data)).toBe(T + 5);
    expect(batchTimeUs(new Uint8Array(0))).toBe(0);
    expect(batchTimeUs(data.subarray(0, 20))).toBe(0);
  });
});
