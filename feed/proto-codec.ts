// The optional binary encoding of the feed: proto/exchange/v1/market_data.proto with
// protobufjs (loaded once, keepCase). Converts between the JSON-shaped messages of
// feed/types.ts and the protobuf ones, both ways, so the server builds one message and the
// client handles one shape whatever the encoding.

import path from 'node:path';
import protobuf from 'protobufjs';
import { packagePath } from '../ops/package-root.js';
import {
  CHANNELS,
  isDataMessage,
  type Candle,
  type Channel,
  type ChannelSeq,
  type DataMessage,
  type FeedRequest,
  type L3Event,
  type Level,
  type OrderEntry,
  type ServerMessage,
  type Trade,
} from './types.js';

// Read from the package root, not next to this file: from dist/ it is the same folder (package-root.ts).
const PROTO_ROOT = packagePath('proto');
export const MARKET_DATA_PROTO_PATH = path.join(PROTO_ROOT, 'exchange/v1/market_data.proto');

/** Channel name ↔ FeedChannel number (the enum's order is CHANNELS' order, from 1). */
const CHANNEL_NUMBER = new Map<string, number>(CHANNELS.map((c, k) => [c, k + 1]));
const channelName = (n: number): Channel => {
  const c = CHANNELS[n - 1];
  if (c === undefined) throw new Error(`feed proto: unknown channel ${n}`);
  return c;
};
const TYPE_SNAPSHOT = 1;
const TYPE_UPDATE = 2;
const SIDE_BUY = 1;
const SIDE_SELL = 2;
const L3_OPS = ['', 'add', 'modify', 'remove', 'execute'] as const;
const INTERVALS = ['', '1s', '1m'] as const;
const OPS = ['', 'subscribe', 'unsubscribe', 'ping'] as const;

type Obj = Record<string, unknown>;

export class FeedProtoCodec {
  private readonly message: protobuf.Type;
  private readonly request: protobuf.Type;

  constructor(protoPath: string = MARKET_DATA_PROTO_PATH) {
    const root = new protobuf.Root();
    // Imports are relative to proto/ (buf style), not to the importing file.
    root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target));
    root.loadSync(protoPath, { keepCase: true });
    root.resolveAll();
    this.message = root.lookupType('exchange.v1.FeedMessage');
    this.request = root.lookupType('exchange.v1.FeedRequest');
  }

  private static shared: FeedProtoCodec | undefined;
  static get(): FeedProtoCodec {
    return (FeedProtoCodec.shared ??= new FeedProtoCodec());
  }

  // -------------------------------------------------------------------------------------------
  // Server messages
  // -------------------------------------------------------------------------------------------

  encodeMessage(m: ServerMessage): Uint8Array {
    return this.message.encode(toProto(m)).finish();
  }

  /** Throws on bytes that are not a FeedMessage. */
  decodeMessage(bytes: Uint8Array): ServerMessage {
    const o = this.message.toObject(this.message.decode(bytes), {
      longs: Number,
      enums: Number,
      defaults: true,
      arrays: true,
      oneofs: true,
    }) as Obj;
    return fromProto(o);
  }

  // -------------------------------------------------------------------------------------------
  // Client requests
  // -------------------------------------------------------------------------------------------

  encodeRequest(r: FeedRequest): Uint8Array {
    return this.request
      .encode({
        id: r.id ?? 0,
        op: OPS.indexOf(r.op),
        channels: (r.channels ?? []).map((c) => CHANNEL_NUMBER.get(c) ?? 0),
        symbols: r.symbols ?? [],
        no_snapshot: r.no_snapshot === true,
      })
      .finish();
  }

  /** A FeedRequest as the JSON request it stands for; throws on bytes that are not one. Unknown channel numbers become '' (refused by the server's validation). */
  decodeRequest(bytes: Uint8Array): Obj {
    const o = this.request.toObject(this.request.decode(bytes), {
      longs: Number,
      enums: Number,
      defaults: true,
      arrays: true,
    }) as Obj;
    return {
      op: OPS[o.op as number] ?? '',
      id: o.id,
      channels: (o.channels as number[]).map((n) => CHANNELS[n - 1] ?? ''),
      symbols: o.symbols,
      ...(o.no_snapshot === true ? { no_snapshot: true } : {}),
    };
  }
}

const header = (m: DataMessage): Obj => ({
  channel: CHANNEL_NUMBER.get(m.channel),
  type: m.type === 'snapshot' ? TYPE_SNAPSHOT : TYPE_UPDATE,
  symbol: m.symbol,
  seq: m.seq,
  ts_us: m.ts_us,
});
const levelsTo = (ls: Level[]) => ls.map((l) => ({ price: l[0], qty: l[1], order_count: l[2] }));
const levelsFrom = (ls: Obj[]): Level[] => ls.map((l) => [l.price as number, l.qty as number, l.order_count as number]);
const ordersTo = (os: OrderEntry[]) => os.map((o) => ({ order_id: o[0], price: o[1], qty: o[2] }));
const ordersFrom = (os: Obj[]): OrderEntry[] =>
  os.map((o) => [o.order_id as number, o.price as number, o.qty as number]);
const seqsTo = (ss: ChannelSeq[]) =>
  ss.map((s) => ({ symbol: s.symbol, channel: CHANNEL_NUMBER.get(s.channel), seq: s.seq }));
const seqsFrom = (ss: Obj[]): ChannelSeq[] =>
  ss.map((s) => ({ symbol: s.symbol as string, channel: channelName(s.channel as number), seq: s.seq as number }));
const sideTo = (s: string) => (s === 'BUY' ? SIDE_BUY : SIDE_SELL);
const sideFrom = (n: unknown) => (n === SIDE_BUY ? 'BUY' : 'SELL') as 'BUY' | 'SELL';

/** An L3 event as its protobuf message (op numbered as in L3_OPS); the switch covers every op of L3Event. */
function l3EventTo(e: L3Event) {
  switch (e.op) {
    case 'add':
      return { op: 1, order_id: e.order_id, side: sideTo(e.side), price: e.price, qty: e.qty };
    case 'modify':
      return { op: 2, order_id: e.order_id, qty: e.qty };
    case 'remove':
      return { op: 3, order_id: e.order_id };
    case 'execute':
      return {
        op: 4,
        order_id: e.order_id,
        price: e.price,
        qty: e.qty,
        remaining: e.remaining,
        trade_id: e.trade_id,
      };
  }
}

function toProto(m: ServerMessage): Obj {
  if (isDataMessage(m)) {
    switch (m.channel) {
      case 'l2':
      case 'l2.throttled':
        return { l2: { ...header(m), bids: levelsTo(m.bids), asks: levelsTo(m.asks), checksum: m.checksum } };
      case 'l1':
        return {
          l1: {
            ...header(m),
            ...(m.bid !== null ? { bid: { price: m.bid[0], qty: m.bid[1] } } : {}),
            ...(m.ask !== null ? { ask: { price: m.ask[0], qty: m.ask[1] } } : {}),
          },
        };
      case 'l3':
        return {
          l3: {
            ...header(m),
            bids: ordersTo(m.bids ?? []),
            asks: ordersTo(m.asks ?? []),
            events: (m.events ?? []).map(l3EventTo),
          },
        };
      case 'trades':
        return {
          trades: {
            ...header(m),
            trades: m.trades.map((t) => ({
              trade_id: t.trade_id,
              price: t.price,
              qty: t.qty,
              side: sideTo(t.side),
              ts_us: t.ts_us,
            })),
          },
        };
      case 'candles':
        return {
          candles: { ...header(m), candles: m.candles.map((c) => ({ ...c, interval: INTERVALS.indexOf(c.interval) })) },
        };
      case 'status':
        return { status: { ...header(m), status: m.status === 'HALTED' ? 2 : 1, reference_price: m.reference_price } };
    }
  }
  switch (m.type) {
    case 'heartbeat':
      return { heartbeat: { ts_us: m.ts_us, seqs: seqsTo(m.seqs) } };
    case 'subscribed':
      return { subscribed: { id: m.id, connection_id: m.connection_id, subscriptions: seqsTo(m.subscriptions) } };
    case 'unsubscribed':
      return { unsubscribed: { id: m.id, subscriptions: seqsTo(m.subscriptions) } };
    case 'resync':
      return { resync: { symbol: m.symbol, channel: CHANNEL_NUMBER.get(m.channel), reason: m.reason, seq: m.seq } };
    case 'error':
      return { error: { id: m.id, code: m.code, message: m.message } };
    case 'pong':
      return { pong: { id: m.id, ts_us: m.ts_us } };
  }
}

const l3EventFrom = (e: Obj): L3Event => {
  const op = L3_OPS[e.op as number];
  switch (op) {
    case 'add':
      return {
        op,
        order_id: e.order_id as number,
        side: sideFrom(e.side),
        price: e.price as number,
        qty: e.qty as number,
      };
    case 'modify':
      return { op, order_id: e.order_id as number, qty: e.qty as number };
    case 'remove':
      return { op, order_id: e.order_id as number };
    case 'execute':
      return {
        op,
        order_id: e.order_id as number,
        price: e.price as number,
        qty: e.qty as number,
        remaining: e.remaining as number,
        trade_id: e.trade_id as number,
      };
    default:
      throw new Error(`feed proto: unknown L3 op ${e.op}`);
  }
};
const tradeFrom = (t: Obj): Trade => ({
  trade_id: t.trade_id as number,
  price: t.price as number,
  qty: t.qty as number,
  side: sideFrom(t.side),
  ts_us: t.ts_us as number,
});
const candleFrom = (c: Obj): Candle => ({
  interval: (INTERVALS[c.interval as number] || '1s') as Candle['interval'],
  start_us: c.start_us as number,
  open: c.open as number,
  high: c.high as number,
  low: c.low as number,
  close: c.close as number,
  volume: c.volume as number,
  trade_count: c.trade_count as number,
  closed: c.closed as boolean,
});

function fromProto(o: Obj): ServerMessage {
  const which = o.payload as string | undefined;
  if (which === undefined) throw new Error('feed proto: empty FeedMessage');
  const p = o[which] as Obj;
  const head = () =>
    ({
      channel: channelName(p.channel as number),
      type: p.type === TYPE_SNAPSHOT ? 'snapshot' : 'update',
      symbol: p.symbol as string,
      seq: p.seq as number,
      ts_us: p.ts_us as number,
    }) as const;
  switch (which) {
    case 'l2': {
      const h = head();
      if (h.channel !== 'l2' && h.channel !== 'l2.throttled')
        throw new Error(`feed proto: L2Book on channel ${h.channel}`);
      return {
        ...h,
        channel: h.channel,
        bids: levelsFrom(p.bids as Obj[]),
        asks: levelsFrom(p.asks as Obj[]),
        checksum: p.checksum as number,
      };
    }
    case 'l1': {
      const q = (x: unknown): [number, number] | null =>
        x === null || x === undefined ? null : [(x as Obj).price as number, (x as Obj).qty as number];
      return { ...head(), channel: 'l1', bid: q(p.bid), ask: q(p.ask) };
    }
    case 'l3': {
      const h = head();
      if (h.type === 'snapshot')
        return { ...h, channel: 'l3', bids: ordersFrom(p.bids as Obj[]), asks: ordersFrom(p.asks as Obj[]) };
      const events = (p.events as Obj[]).map(l3EventFrom);
      return { ...h, channel: 'l3', events };
    }
    case 'trades':
      return {
        ...head(),
        channel: 'trades',
        trades: (p.trades as Obj[]).map(tradeFrom),
      };
    case 'candles':
      return {
        ...head(),
        channel: 'candles',
        candles: (p.candles as Obj[]).map(candleFrom),
      };
    case 'status':
      return {
        ...head(),
        channel: 'status',
        status: p.status === 2 ? 'HALTED' : 'TRADING',
        reference_price: p.reference_price as number,
      };
    case 'heartbeat':
      return { type: 'heartbeat', ts_us: p.ts_us as number, seqs: seqsFrom(p.seqs as Obj[]) };
    case 'subscribed':
      return {
        type: 'subscribed',
        id: p.id as number,
        connection_id: p.connection_id as number,
        subscriptions: seqsFrom(p.subscriptions as Obj[]),
      };
    case 'unsubscribed':
      return { type: 'unsubscribed', id: p.id as number, subscriptions: seqsFrom(p.subscriptions as Obj[]) };
    case 'resync':
      return {
        type: 'resync',
        symbol: p.symbol as string,
        channel: channelName(p.channel as number),
        reason: p.reason as 'SLOW_CONSUMER',
        seq: p.seq as number,
      };
    case 'error':
      return { type: 'error', id: p.id as number, code: p.code as 'BAD_REQUEST', message: p.message as string };
    case 'pong':
      return { type: 'pong', id: p.id as number, ts_us: p.ts_us as number };
    default:
      throw new Error(`feed proto: unknown payload ${which}`);
  }
}
