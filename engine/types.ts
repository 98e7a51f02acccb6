// The engine's contract: commands in, events out, configuration, and reject codes.
// Enumerations are small integers on the hot path; the JSON codec (json-codec.ts)
// translates them to and from the strings users see.

import type { Notional } from './notional.js';

export const Side = { BUY: 1, SELL: 2 } as const;
export type Side = (typeof Side)[keyof typeof Side];

export const OrdType = { LIMIT: 1, MARKET: 2, STOP_MARKET: 3, STOP_LIMIT: 4 } as const;
export type OrdType = (typeof OrdType)[keyof typeof OrdType];

export const Tif = { GTC: 1, IOC: 2, FOK: 3, GTD: 4, DAY: 5 } as const;
export type Tif = (typeof Tif)[keyof typeof Tif];

/** Post-only handling when a post-only order would cross: reject it, or reprice it one tick behind the opposite best. */
export const PostOnly = { NONE: 0, REJECT: 1, REPRICE: 2 } as const;
export type PostOnly = (typeof PostOnly)[keyof typeof PostOnly];

/** Self-trade prevention; the taker's mode decides. NONE allows self-trades. */
export const Stp = { NONE: 0, EXPIRE_TAKER: 1, EXPIRE_MAKER: 2, EXPIRE_BOTH: 3, DECREMENT_AND_CANCEL: 4 } as const;
export type Stp = (typeof Stp)[keyof typeof Stp];

/** FIX 4.4 ExecType (tag 150). */
export const ExecType = {
  NEW: 1,
  TRADE: 2,
  CANCELED: 3,
  REPLACED: 4,
  REJECTED: 5,
  EXPIRED: 6,
  TRIGGERED: 7,
  RESTATED: 8,
} as const;
export type ExecType = (typeof ExecType)[keyof typeof ExecType];

/** FIX 4.4 OrdStatus (tag 39). PENDING_TRIGGER is a stop order waiting for its trigger (FIX: New, not in book). */
export const OrdStatus = {
  NEW: 1,
  PARTIALLY_FILLED: 2,
  FILLED: 3,
  CANCELED: 4,
  REJECTED: 5,
  EXPIRED: 6,
  PENDING_TRIGGER: 7,
} as const;
export type OrdStatus = (typeof OrdStatus)[keyof typeof OrdStatus];

/** FIX 4.4 LastLiquidityInd (tag 851), on TRADE reports only: did this fill's order rest in the book (maker) or take from it (taker). */
export const LiquidityInd = { ADDED_LIQUIDITY: 1, REMOVED_LIQUIDITY: 2 } as const;
export type LiquidityInd = (typeof LiquidityInd)[keyof typeof LiquidityInd];

/** Reject and cancel reasons. Numeric for the hot path; names are the public codes. */
export const Reason = {
  NONE: 0,
  // validation of a NewOrder / Amend
  UNKNOWN_INSTRUMENT: 1,
  INVALID_SIDE: 2,
  INVALID_ORDER_TYPE: 3,
  INVALID_TIME_IN_FORCE: 4,
  INVALID_QUANTITY: 5,
  QUANTITY_NOT_LOT_MULTIPLE: 6,
  QUANTITY_BELOW_MIN: 7,
  QUANTITY_ABOVE_MAX: 8,
  INVALID_PRICE: 9,
  PRICE_NOT_TICK_MULTIPLE: 10,
  PRICE_OUT_OF_BAND: 11,
  INVALID_STOP_PRICE: 12,
  STOP_PRICE_WOULD_TRIGGER: 13,
  INVALID_DISPLAY_QUANTITY: 14,
  INVALID_EXPIRE_TIME: 15,
  INVALID_CLIENT_ORDER_ID: 16,
  DUPLICATE_CLIENT_ORDER_ID: 17,
  INVALID_ACCOUNT: 18,
  INVALID_POST_ONLY: 19,
  INVALID_STP_MODE: 20,
  POST_ONLY_WOULD_CROSS: 21,
  // state
  INSTRUMENT_HALTED: 22,
  ACCOUNT_BLOCKED: 23,
  ORDER_NOT_FOUND: 24,
  BOOK_FULL: 25,
  // command envelope
  INVALID_SEQUENCE: 26,
  INVALID_TIMESTAMP: 27,
  UNKNOWN_COMMAND: 28,
  MALFORMED_COMMAND: 29,
  AMEND_NOT_ALLOWED: 30,
  // why an accepted order stopped working (on Canceled / Expired / Restated reports)
  CANCELED_BY_USER: 40,
  MASS_CANCELED: 41,
  KILL_SWITCH: 42,
  IMMEDIATE_OR_CANCEL: 43,
  FILL_OR_KILL: 44,
  NO_LIQUIDITY: 45,
  PRICE_BAND_REACHED: 46,
  SELF_TRADE_PREVENTED: 47,
  EXPIRED_GTD: 48,
  EXPIRED_DAY: 49,
  ICEBERG_REFRESH: 50,
  AMENDED_BELOW_FILLED: 51,
  /** Resting the remainder would take its price level's displayed quantity past 2^53 − 1 (engine.ts rest). */
  LEVEL_QUANTITY_LIMIT: 52,
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

// ---------------------------------------------------------------------------
// Commands. Every command carries the log sequence number and the log's
// timestamp: the engine takes time only from here.
// ---------------------------------------------------------------------------

interface Envelope {
  /** Command sequence number: strictly increasing (the replicator numbers the commands of its log densely). The orderId of a NewOrder is its seq. */
  seq: number;
  /** Log time, integer microseconds since the Unix epoch. Never decreases in effect (see README). */
  tsUs: number;
}

export interface NewOrderCommand extends Envelope {
  type: 'new';
  account: number;
  clOrdId: string;
  symbol: string;
  side: Side;
  ordType: OrdType;
  /** Integer price units; required for LIMIT and STOP_LIMIT. */
  price?: number;
  /** Trigger price (price units) for STOP_MARKET and STOP_LIMIT, compared with the last trade price. */
  stopPrice?: number;
  /** Integer quantity units. */
  qty: number;
  /** Default GTC for limit orders, IOC for market orders. */
  tif?: Tif;
  /** GTD only: expiry, microseconds since the epoch. */
  expireTsUs?: number;
  postOnly?: PostOnly;
  /** Iceberg: quantity shown at a time (multiple of the lot size, below qty). */
  displayQty?: number;
  /** Overrides the account's default STP mode. */
  stp?: Stp;
}

export interface CancelCommand extends Envelope {
  type: 'cancel';
  account: number;
  /** By order id, or by the account's client order id. */
  orderId?: number;
  clOrdId?: string;
}

export interface AmendCommand extends Envelope {
  type: 'amend';
  account: number;
  orderId?: number;
  origClOrdId?: string;
  /** New client order id for the amended order (optional). */
  clOrdId?: string;
  /** New total order quantity (FIX OrderQty: filled quantity included). */
  qty?: number;
  price?: number;
  stopPrice?: number;
}

export interface MassCancelCommand extends Envelope {
  type: 'mass_cancel';
  account: number;
  symbol?: string;
  side?: Side;
}

export interface HaltCommand extends Envelope {
  type: 'halt' | 'resume';
  symbol: string;
}

export interface KillSwitchCommand extends Envelope {
  type: 'kill_switch';
  account: number;
  /** true: cancel every order of the account and block new ones; false: release. */
  active: boolean;
}

export interface SetReferencePriceCommand extends Envelope {
  type: 'set_reference_price';
  symbol: string;
  price: number;
}

export interface SetAccountCommand extends Envelope {
  type: 'set_account';
  account: number;
  stp: Stp;
}

/** Advances the log's time only (expires GTD/DAY orders); the replicator appends one on a timer. */
export interface TickCommand extends Envelope {
  type: 'tick';
}

export type Command =
  | NewOrderCommand
  | CancelCommand
  | AmendCommand
  | MassCancelCommand
  | HaltCommand
  | KillSwitchCommand
  | SetReferencePriceCommand
  | SetAccountCommand
  | TickCommand;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

export interface InstrumentConfig {
  symbol: string;
  /** Price increment in price units (a price must be a multiple of it). */
  tickSize: number;
  /** Quantity increment in quantity units. */
  lotSize: number;
  minQty: number;
  maxQty: number;
  /** Highest accepted price, in price units; at most 2^53 − 1 (as is maxQty). maxPrice * maxQty may pass 2^53 (a wide instrument): notionals stay exact (notional.ts). */
  maxPrice: number;
  /** Band half-width in ticks around the reference price; 0 disables the band. */
  priceBandTicks: number;
  /** Initial reference price (price units); null: no band until one is set. */
  referencePrice: number | null;
  /** Session close as microseconds after 00:00 UTC; DAY orders expire at the next close. */
  sessionCloseUtcUs: number;
  /** Decimal places of one price unit / quantity unit, used only at the edges (display). */
  priceDecimals: number;
  qtyDecimals: number;
}

export interface AccountConfig {
  id: number;
  stp: Stp;
}

export interface ShardConfig {
  shardId: number;
  instruments: InstrumentConfig[];
  accounts: AccountConfig[];
  /** STP mode for accounts not configured. */
  defaultStp: Stp;
  /** Live orders (resting plus pending stops) the shard holds at most; beyond it new orders are rejected BOOK_FULL. */
  orderCountMax: number;
}

// ---------------------------------------------------------------------------
// Events (materialized form; the engine writes them column-wise into an EventBuffer)
// ---------------------------------------------------------------------------

export const EventKind = {
  EXEC: 1,
  TRADE: 2,
  BOOK: 3,
  CANCEL_REJECT: 4,
  MASS_CANCEL: 5,
  INSTRUMENT_STATUS: 6,
  ACCOUNT_STATUS: 7,
  COMMAND_REJECT: 8,
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

export const InstrumentStatus = { TRADING: 1, HALTED: 2 } as const;
export type InstrumentStatus = (typeof InstrumentStatus)[keyof typeof InstrumentStatus];

/** Which request an OrderCancelReject answers. */
export const CxlRejResponseTo = { CANCEL: 1, AMEND: 2, MASS_CANCEL: 3 } as const;
export type CxlRejResponseTo = (typeof CxlRejResponseTo)[keyof typeof CxlRejResponseTo];

export interface ExecReport {
  kind: 'exec';
  seq: number;
  tsUs: number;
  execId: number;
  orderId: number;
  clOrdId: string;
  /** On Replaced: the client order id before the amend. */
  origClOrdId?: string;
  account: number;
  symbol: string;
  side: Side;
  ordType: OrdType;
  /** The order's time in force (resolved: GTC for limit, IOC for market orders without one); on REJECTED the command's, 0 if it had none or an invalid one. */
  tif: Tif | 0;
  execType: ExecType;
  ordStatus: OrdStatus;
  /** Working limit price (0 for market orders). */
  price: number;
  stopPrice: number;
  orderQty: number;
  cumQty: number;
  leavesQty: number;
  lastQty: number;
  lastPx: number;
  /**
   * Sum of price*qty over fills, exact: a safe integer, or a bigint when above
   * Number.MAX_SAFE_INTEGER (only a wide instrument's orders get there, notional.ts).
   * AvgPx = cumNotional / cumQty (avg-px.ts).
   */
  cumNotional: Notional;
  /** Iceberg display quantity, 0 otherwise. */
  displayQty: number;
  reason: Reason;
  /** On Trade reports: the trade id; 0 otherwise. */
  tradeId: number;
  /** On Trade reports: ADDED_LIQUIDITY for the maker, REMOVED_LIQUIDITY for the taker; 0 otherwise. */
  lastLiquidityInd: LiquidityInd | 0;
}

export interface TradeEvent {
  kind: 'trade';
  seq: number;
  tsUs: number;
  tradeId: number;
  symbol: string;
  price: number;
  qty: number;
  aggressorSide: Side;
  takerOrderId: number;
  takerAccount: number;
  makerOrderId: number;
  makerAccount: number;
}

export interface BookEvent {
  kind: 'book';
  seq: number;
  tsUs: number;
  symbol: string;
  side: Side;
  price: number;
  /** New aggregate displayed quantity at the level (absolute; 0 removes the level). */
  qty: number;
  /** Orders resting at the level. */
  orderCount: number;
}

export interface CancelRejectEvent {
  kind: 'cancel_reject';
  seq: number;
  tsUs: number;
  account: number;
  orderId: number;
  clOrdId: string;
  responseTo: CxlRejResponseTo;
  reason: Reason;
}

export interface MassCancelEvent {
  kind: 'mass_cancel';
  seq: number;
  tsUs: number;
  account: number;
  symbol: string;
  side: Side | 0;
  canceledCount: number;
}

export interface InstrumentStatusEvent {
  kind: 'instrument_status';
  seq: number;
  tsUs: number;
  symbol: string;
  status: InstrumentStatus;
  referencePrice: number;
}

export interface AccountStatusEvent {
  kind: 'account_status';
  seq: number;
  tsUs: number;
  account: number;
  blocked: boolean;
  stp: Stp;
  canceledCount: number;
}

export interface CommandRejectEvent {
  kind: 'command_reject';
  seq: number;
  tsUs: number;
  command: string;
  reason: Reason;
}

export type EngineEvent =
  | ExecReport
  | TradeEvent
  | BookEvent
  | CancelRejectEvent
  | MassCancelEvent
  | InstrumentStatusEvent
  | AccountStatusEvent
  | CommandRejectEvent;
