// The market-data protocol: channels, the messages the server sends, the requests a client
// sends. These TypeScript shapes ARE the JSON wire format (snake_case, like the order-entry
// API); the protobuf encoding (proto/exchange/v1/market_data.proto, feed/proto-codec.ts)
// carries the same fields. Prices and quantities are integers in the instrument's units, or,
// on a connection with the decimal numbers option, exact decimal strings (feed/decimal-form.ts):
// the shapes below take the type of those fields as a parameter N (number: units; string:
// decimal). Documented in feed/README.md.

/** Data channels, per instrument. */
export const Channel = {
  /** Full-depth book: snapshot, then the changed levels with absolute quantities (0 removes). */
  L2: 'l2',
  /** The same, conflated: at most one update per throttle interval. */
  L2_THROTTLED: 'l2.throttled',
  /** Best bid and offer. */
  L1: 'l1',
  /** Order by order: add, modify, remove, execute (order ids, no accounts). */
  L3: 'l3',
  TRADES: 'trades',
  /** 1 s and 1 min OHLCV. */
  CANDLES: 'candles',
  /** Trading / halted, reference price. */
  STATUS: 'status',
} as const;
export type Channel = (typeof Channel)[keyof typeof Channel];
export const CHANNELS: readonly Channel[] = Object.values(Channel);
const CHANNEL_SET: ReadonlySet<string> = new Set(CHANNELS);
export function isChannel(v: unknown): v is Channel {
  return typeof v === 'string' && CHANNEL_SET.has(v);
}

/**
 * Channels whose updates are deltas: a client that misses one has a wrong state until it
 * resyncs. l1 and status messages carry the whole state, so a gap there is harmless.
 */
export function isDeltaChannel(ch: Channel): boolean {
  return ch !== Channel.L1 && ch !== Channel.STATUS;
}

/**
 * How a connection receives prices, quantities and volumes: integer units (the default) or exact
 * decimal strings with the instrument's priceDecimals / qtyDecimals ("50000.00", "0.00020000").
 * Counts, ids, seqs, times and checksums are integers in both.
 */
export type Numbers = 'units' | 'decimal';
/** A price / quantity field: units (number) or, in the decimal form, its exact decimal string. */
export type Num = number | string;

/** [price, qty, order_count]; in an update qty 0 (and order_count 0) removes the level. */
export type Level<N extends Num = number> = [price: N, qty: N, orderCount: number];
/** [order_id, price, qty]: a resting order's displayed quantity, in priority order. */
export type OrderEntry<N extends Num = number> = [orderId: number, price: N, qty: N];
export type SideName = 'BUY' | 'SELL';

/** Fields every data message starts with (in this order in JSON). */
interface DataHeader {
  channel: Channel;
  /** snapshot: the whole state as of `seq`; update: the changes that make `seq` from `seq - 1`. */
  type: 'snapshot' | 'update';
  symbol: string;
  /** Dense per (instrument, channel) on one feed server: an update's seq is the previous + 1; a snapshot carries the seq of the last update it includes. */
  seq: number;
  /** Log time (µs since the epoch) of the newest engine event included: never a server clock. */
  ts_us: number;
}

export interface L2Message<N extends Num = number> extends DataHeader {
  channel: 'l2' | 'l2.throttled';
  /** Best first. */
  bids: Level<N>[];
  asks: Level<N>[];
  /** CRC-32 of the top 10 levels after this message (feed/checksum.ts). */
  checksum: number;
}

export interface L1Message<N extends Num = number> extends DataHeader {
  channel: 'l1';
  /** [price, qty] of the best level, or null when the side is empty. */
  bid: [N, N] | null;
  ask: [N, N] | null;
}

export type L3Event<N extends Num = number> =
  /** A new resting order (or an iceberg's new slice) at the tail of its level. */
  | { op: 'add'; order_id: number; side: SideName; price: N; qty: N }
  /** Displayed quantity changed in place (keeps its priority). */
  | { op: 'modify'; order_id: number; qty: N }
  /** Left the book (cancelled, expired, amended away: a price change comes back as an add). */
  | { op: 'remove'; order_id: number }
  /** Traded as maker; `remaining` is its displayed quantity after the fill, 0 removes it from the level. */
  | { op: 'execute'; order_id: number; price: N; qty: N; remaining: N; trade_id: number };

export interface L3Message<N extends Num = number> extends DataHeader {
  channel: 'l3';
  /** Snapshot only: resting orders, best price first, then time priority. */
  bids?: OrderEntry<N>[];
  asks?: OrderEntry<N>[];
  /** Update only, in engine order. */
  events?: L3Event<N>[];
}

export interface Trade<N extends Num = number> {
  trade_id: number;
  price: N;
  qty: N;
  /** The aggressor (taker) side. */
  side: SideName;
  ts_us: number;
}

export interface TradesMessage<N extends Num = number> extends DataHeader {
  channel: 'trades';
  /** Update: the trades of one log entry; snapshot: the most recent ones (up to TRADES_SNAPSHOT_COUNT). */
  trades: Trade<N>[];
}

export const CandleInterval = { S1: '1s', M1: '1m' } as const;
export type CandleInterval = (typeof CandleInterval)[keyof typeof CandleInterval];
export const CANDLE_INTERVALS: readonly { name: CandleInterval; us: number }[] = [
  { name: '1s', us: 1_000_000 },
  { name: '1m', us: 60_000_000 },
];

export interface Candle<N extends Num = number> {
  interval: CandleInterval;
  /** Start of the bucket (µs since the epoch, log time), a multiple of the interval. */
  start_us: number;
  open: N;
  high: N;
  low: N;
  close: N;
  /** Sum of the trades' quantities (qty units). */
  volume: N;
  trade_count: number;
  /** Final: log time has passed the end of the bucket. Sent once closed; open candles are sent on every change. */
  closed: boolean;
}

export interface CandlesMessage<N extends Num = number> extends DataHeader {
  channel: 'candles';
  candles: Candle<N>[];
}

export interface StatusMessage<N extends Num = number> extends DataHeader {
  channel: 'status';
  status: 'TRADING' | 'HALTED';
  /** 0 (decimal form: zero with the price decimals, "0.00"): none set. */
  reference_price: N;
}

/** A data message; DataMessage<string> is its decimal form (feed/decimal-form.ts). */
export type DataMessage<N extends Num = number> =
  | L2Message<N>
  | L1Message<N>
  | L3Message<N>
  | TradesMessage<N>
  | CandlesMessage<N>
  | StatusMessage<N>;

/** (symbol, channel, seq): in heartbeats and subscription replies. */
export interface ChannelSeq {
  symbol: string;
  channel: Channel;
  seq: number;
}

export interface HeartbeatMessage {
  type: 'heartbeat';
  /** The server's wall clock (µs): only for liveness; data messages carry log time. */
  ts_us: number;
  /** The last seq sent on each subscription of this connection. */
  seqs: ChannelSeq[];
}

export interface SubscribedMessage {
  type: 'subscribed';
  id: number;
  /** This connection's id on the server (diagnostics, test hooks). */
  connection_id: number;
  /** The subscriptions this request added or refreshed, with the seq of their snapshot. */
  subscriptions: ChannelSeq[];
}

export interface UnsubscribedMessage {
  type: 'unsubscribed';
  id: number;
  subscriptions: ChannelSeq[];
}

export const ResyncReason = {
  /** This connection's buffered bytes passed the limit: it missed updates. */
  SLOW_CONSUMER: 'SLOW_CONSUMER',
  /** The server's state was rebuilt (the replica installed a snapshot or recovered). */
  SOURCE_RESET: 'SOURCE_RESET',
} as const;
export type ResyncReason = (typeof ResyncReason)[keyof typeof ResyncReason];

/** Discard the local state of (symbol, channel): a snapshot follows. */
export interface ResyncMessage {
  type: 'resync';
  symbol: string;
  channel: Channel;
  reason: ResyncReason;
  /** The seq of the snapshot that follows. */
  seq: number;
}

export const FeedErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNKNOWN_OP: 'UNKNOWN_OP',
  UNKNOWN_CHANNEL: 'UNKNOWN_CHANNEL',
  UNKNOWN_SYMBOL: 'UNKNOWN_SYMBOL',
  TOO_MANY_SUBSCRIPTIONS: 'TOO_MANY_SUBSCRIPTIONS',
  ENCODING_LOCKED: 'ENCODING_LOCKED',
  /** Changing the numbers option while the connection holds subscriptions. */
  NUMBERS_LOCKED: 'NUMBERS_LOCKED',
  RATE_LIMITED: 'RATE_LIMITED',
  UNAVAILABLE: 'UNAVAILABLE',
} as const;
export type FeedErrorCode = (typeof FeedErrorCode)[keyof typeof FeedErrorCode];

export interface ErrorMessage {
  type: 'error';
  /** The request's id (0 if it had none or could not be read). */
  id: number;
  code: FeedErrorCode;
  message: string;
}

export interface PongMessage {
  type: 'pong';
  id: number;
  ts_us: number;
}

export type ControlMessage =
  | HeartbeatMessage
  | SubscribedMessage
  | UnsubscribedMessage
  | ResyncMessage
  | ErrorMessage
  | PongMessage;
export type ServerMessage<N extends Num = number> = DataMessage<N> | ControlMessage;

/**
 * Every control message `type` the server sends. A Record over the union, so the compiler keeps
 * it complete; docs/asyncapi.yaml is checked against it and CHANNELS (test/api/asyncapi.test.ts).
 */
export const CONTROL_MESSAGE_TYPES: Readonly<Record<ControlMessage['type'], true>> = {
  heartbeat: true,
  subscribed: true,
  unsubscribed: true,
  resync: true,
  error: true,
  pong: true,
};

export function isDataMessage<N extends Num>(m: ServerMessage<N>): m is DataMessage<N> {
  return m.type === 'snapshot' || m.type === 'update';
}

/** Client → server (JSON text frame, or FeedRequest in a binary frame). */
export interface FeedRequest {
  op: 'subscribe' | 'unsubscribe' | 'ping';
  /** Echoed in the reply; a non-negative integer. */
  id?: number;
  /** subscribe/unsubscribe: the cross product channels × symbols. */
  channels?: Channel[];
  symbols?: string[];
  /** subscribe: true = no snapshot (sync from GET /v1/book instead, the Binance way). */
  no_snapshot?: boolean;
  /** subscribe: switch this connection's encoding (only while it has no subscription). */
  encoding?: Encoding;
  /** subscribe: switch this connection's numbers to units or decimal strings (only while it has no subscription; decimal is JSON only). */
  numbers?: Numbers;
}

export type Encoding = 'json' | 'protobuf';

/** Every request op (complete by the same Record trick; checked against docs/asyncapi.yaml). */
export const FEED_REQUEST_OPS: Readonly<Record<FeedRequest['op'], true>> = {
  subscribe: true,
  unsubscribe: true,
  ping: true,
};

/** WebSocket close codes the server uses (4000–4999: application codes). */
export const FeedCloseCode = {
  /** No subscription within the subscribe timeout. */
  SUBSCRIBE_TIMEOUT: 4001,
  /** Too far behind for too long, or resynced too often. */
  SLOW_CONSUMER: 4008,
  /** Far more requests than the per-second budget. */
  RATE_LIMITED: 4029,
  /** The server is shutting down (RFC 6455 "going away"). */
  GOING_AWAY: 1001,
} as const;
