// Decoding and validation of order-entry requests: pure functions (no I/O but the one-time
// load of the .proto file), run in the gateway's worker threads (gateway/validation-worker.ts).
//
// Both encodings end in one shape before validation: a plain object keyed by the protobuf field
// names (snake_case), enums as their names without the prefix ("BUY", "LIMIT", "GTC"…), integers
// as numbers. JSON bodies are that shape already (REST uses the same names); protobuf messages
// are decoded with protobufjs and normalized (normalizeProto): proto3 zero values ("" , 0,
// *_UNSPECIFIED, false) mean "unset" and are dropped, uint64 values become numbers when they are
// safe integers and stay decimal strings otherwise (so that the validator refuses them exactly as
// it refuses the same string in JSON; `longs: Number` would round them silently).
//
// Rules (every failure is INVALID_ARGUMENT naming the field, with the rule's reason — the
// engine's reject reason when the engine checks the same rule — except an order id of a shard
// that does not exist: NOT_FOUND, ORDER_NOT_FOUND; docs/errors.md lists them):
//   - JSON: an unknown field is refused ("unknown field x"), so a misspelt field never passes
//     unnoticed; `null` means absent.
//   - protobuf: fields the message does not define are ignored (proto3: a newer client's field
//     reaches an older server harmlessly); the request acts exactly as without them.
//   - integers: a JSON number written in plain decimal digits whose value is a safe integer, or
//     a string of decimal digits whose value is one; anything else is refused — a fraction, an
//     exponent or a sign in the number as written (4700000.0, 4.7e6, 1E2, -0: read in the body's
//     text, json-numbers.ts, since JSON.parse makes them all integers), a value beyond 2^53 − 1,
//     "1e3", "0x10", " 1".
//   - client_order_id: 1–36 characters of [A-Za-z0-9_.:-].
//   - enums: the names of the proto enums without their prefix, UNSPECIFIED excluded.
//   - place: quantity > 0, a multiple of the lot size, within [minQty, maxQty]; price required
//     for LIMIT/STOP_LIMIT and refused for MARKET/STOP_MARKET; stop_price required for STOP_* and
//     refused otherwise; prices > 0, multiples of the tick size, ≤ maxPrice; time_in_force IOC or
//     FOK only for MARKET/STOP_MARKET; expire_time_us required with GTD and refused without it;
//     post_only only on LIMIT orders resting (GTC/GTD/DAY); display_quantity (0 = not an iceberg)
//     < quantity, a lot multiple, only on LIMIT/STOP_LIMIT resting orders.
//   - cancel/amend: exactly one of order_id (body, or the REST path) and client_order_id
//     (amend: orig_client_order_id). A client order id routes to the shard of `symbol`, or to the
//     only shard. Amend: quantity/price/stop_price 0 = unchanged (proto semantics, JSON alike);
//     at least one change; the new values are checked against the instrument when it is known
//     (`symbol` given, or the order's shard has one instrument), else only for being positive.
//   - mass cancel: symbol optional ("" or absent = every instrument, i.e. every shard).
//   - get: exactly one of order_id (body, query or the REST path) and client_order_id (routed
//     like a cancel's); a REST query string is read as the request's fields (GET has no body).
//   - cancel-all-after: timeout_ms from 0 (absent: disarm) to DEAD_MAN_MS_MAX.
// The engine validates everything again (and the state-dependent rules: band, duplicate ids,
// halts…); these checks exist to answer precisely and early, without a round trip to a shard.
//
// Order ids are global: order_id = shard × 2^44 + the shard-local sequence number (api/order-ids.ts).

import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { encodeCommand } from '../engine/command-codec.js';
import { commandFromJson } from '../engine/json-codec.js';
import type { Command, InstrumentConfig } from '../engine/types.js';
import { ErrorCode, ErrorReason as R, gatewayError, type ErrorReason, type GatewayError } from '../api/errors.js';
import { fromGlobalOrderId } from '../api/order-ids.js';
import { parseDecimal, formatUnits } from '../api/decimal.js';
import { DECIMAL_STRING_CHARS_MAX } from '../api/limits.js';
import { Operation } from './types.js';
import { inexactInteger, inexactIntegerMessage } from './json-numbers.js';
import { packagePath } from '../ops/package-root.js';
import {
  DEAD_MAN_MS_MAX,
  REQUEST_BODY_BYTES_MAX,
  SESSION_BATCH_COMMANDS_MAX,
  SESSION_REQUEST_BYTES_MAX,
  CLIENT_ORDER_ID_MAX,
} from './limits.js';

const CLIENT_ORDER_ID_RE = /^[A-Za-z0-9_.:-]{1,36}$/;
const DIGITS_RE = /^[0-9]{1,32}$/;

// ---------------------------------------------------------------------------------------------
// Types

/** What validation needs of an instrument (engine InstrumentConfig has these and more). */
export type InstrumentLimits = Pick<
  InstrumentConfig,
  // priceDecimals / qtyDecimals: the digits after the point of the *_decimal fields.
  'symbol' | 'tickSize' | 'lotSize' | 'minQty' | 'maxQty' | 'maxPrice' | 'priceDecimals' | 'qtyDecimals'
>;

/** What validation needs of a shard (config/gateway-config.ts ShardEntry has these and more). */
export interface ShardInfo {
  id: number;
  instruments: readonly InstrumentLimits[];
}

export interface ValidateContext {
  account: number;
  shards: readonly ShardInfo[];
  /** REST path parameter {id}: a global order id as a decimal string. */
  pathOrderId?: string | undefined;
}

export type Side = 'BUY' | 'SELL';

export interface ValidatedCommand {
  op: Operation;
  /** Target shard ids: one, except MassCancel without a symbol (every shard, in config order). */
  shards: number[];
  /** The engine command in its JSON form (engine/README.md "Commands"), `account` set, no seq/tsUs. Absent for GetOrder. */
  engine?: Record<string, unknown>;
  /** encodeCommand(commandFromJson(engine)): what goes into the shard's log. Absent for GetOrder. */
  body?: Uint8Array;
  /** Shard-local order id (engine seq) for cancel/amend/get by order id. */
  orderId?: number;
  /** GetOrder by client order id. */
  clientOrderId?: string;
  /** CancelAllAfter: ms until every order of the account is canceled; 0 = disarm. */
  timeoutMs?: number;
  symbol?: string;
  // Risk inputs (place, amend).
  side?: Side;
  price?: number;
  stopPrice?: number;
  qty?: number;
  ordType?: string;
}

export type ValidateResult = { ok: true; command: ValidatedCommand } | { ok: false; error: GatewayError };
export type DecodeResult = { ok: true; decoded: Record<string, unknown> } | { ok: false; error: GatewayError };

export interface SessionCommandDecoded {
  op: Operation;
  decoded: Record<string, unknown>;
}
export type SessionDecodeResult =
  | { ok: true; requestId: number; heartbeat: boolean; commands: SessionCommandDecoded[] }
  | { ok: false; error: GatewayError; requestId?: number };

// ---------------------------------------------------------------------------------------------
// Enums and fields

const SIDES = ['BUY', 'SELL'] as const;
const ORDER_TYPES = ['LIMIT', 'MARKET', 'STOP_MARKET', 'STOP_LIMIT'] as const;
const TIFS = ['GTC', 'IOC', 'FOK', 'GTD', 'DAY'] as const;
const POST_ONLY = ['REJECT', 'REPRICE'] as const;
const STPS = ['NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'DECREMENT_AND_CANCEL'] as const;

/** Enum fields of the request messages and their proto value prefix. */
const ENUM_PREFIX: ReadonlyMap<string, string> = new Map([
  ['side', 'SIDE_'],
  ['order_type', 'ORDER_TYPE_'],
  ['time_in_force', 'TIME_IN_FORCE_'],
  ['post_only', 'POST_ONLY_'],
  ['self_trade_prevention', 'SELF_TRADE_PREVENTION_'],
]);

const FIELDS: Record<Operation, ReadonlySet<string>> = {
  PlaceOrder: new Set([
    'client_order_id',
    'symbol',
    'side',
    'order_type',
    'time_in_force',
    'price',
    'stop_price',
    'quantity',
    'expire_time_us',
    'post_only',
    'display_quantity',
    'self_trade_prevention',
    'price_decimal',
    'stop_price_decimal',
    'quantity_decimal',
    'display_quantity_decimal',
  ]),
  CancelOrder: new Set(['order_id', 'client_order_id', 'symbol']),
  AmendOrder: new Set([
    'order_id',
    'orig_client_order_id',
    'client_order_id',
    'quantity',
    'price',
    'stop_price',
    'symbol',
    'quantity_decimal',
    'price_decimal',
    'stop_price_decimal',
  ]),
  MassCancel: new Set(['symbol', 'side']),
  GetOrder: new Set(['order_id', 'client_order_id', 'symbol']),
  CancelAllAfter: new Set(['timeout_ms']),
};

/** uint64 fields of the request messages (protobufjs gives them as decimal strings with longs: String). */
const UINT64_FIELDS: ReadonlySet<string> = new Set([
  'price',
  'stop_price',
  'quantity',
  'expire_time_us',
  'display_quantity',
  'order_id',
]);

const REQUEST_MESSAGE: Record<Operation, string> = {
  PlaceOrder: 'exchange.v1.PlaceOrderRequest',
  CancelOrder: 'exchange.v1.CancelOrderRequest',
  AmendOrder: 'exchange.v1.AmendOrderRequest',
  MassCancel: 'exchange.v1.MassCancelRequest',
  GetOrder: 'exchange.v1.GetOrderRequest',
  CancelAllAfter: 'exchange.v1.CancelAllAfterRequest',
};

const SESSION_OPS: readonly (readonly [string, Operation])[] = [
  ['place', Operation.PLACE_ORDER],
  ['cancel', Operation.CANCEL_ORDER],
  ['amend', Operation.AMEND_ORDER],
  ['mass_cancel', Operation.MASS_CANCEL],
];

// ---------------------------------------------------------------------------------------------
// Shard index (built once per shards array, cached)

interface ShardIndex {
  ids: number[];
  byId: Map<number, ShardInfo>;
  bySymbol: Map<string, { shard: number; instrument: InstrumentLimits }>;
}

const indexCache = new WeakMap<readonly ShardInfo[], ShardIndex>();

function shardIndex(shards: readonly ShardInfo[]): ShardIndex {
  let ix = indexCache.get(shards);
  if (ix === undefined) {
    ix = { ids: [], byId: new Map(), bySymbol: new Map() };
    for (const s of shards) {
      ix.ids.push(s.id);
      ix.byId.set(s.id, s);
      for (const i of s.instruments) ix.bySymbol.set(i.symbol, { shard: s.id, instrument: i });
    }
    indexCache.set(shards, ix);
  }
  return ix;
}

// ---------------------------------------------------------------------------------------------
// Field readers: they throw a Rejection (a plain object, no stack) caught in validateCommand.

class Rejection {
  constructor(readonly error: GatewayError) {}
}

function invalid(reason: ErrorReason, field: string | undefined, message: string): never {
  throw new Rejection(
    gatewayError(ErrorCode.INVALID_ARGUMENT, reason, message, field === undefined ? undefined : { field }),
  );
}

function missing(field: string, message = `${field} is required`): never {
  invalid(R.FIELD_MISSING, field, message);
}

function notFound(message: string): never {
  throw new Rejection(gatewayError(ErrorCode.NOT_FOUND, 'ORDER_NOT_FOUND', message));
}

function get(d: Record<string, unknown>, f: string): unknown {
  if (!Object.hasOwn(d, f)) return undefined;
  const v = d[f];
  return v === null ? undefined : v;
}

function parseUint(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v + 0 : undefined; // + 0: -0 → 0
  if (typeof v === 'string' && DIGITS_RE.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

function uint(d: Record<string, unknown>, f: string): number | undefined {
  const v = get(d, f);
  if (v === undefined) return undefined;
  const n = parseUint(v);
  if (n === undefined)
    invalid(
      R.INVALID_INTEGER,
      f,
      `${f} must be an integer from 0 to 2^53−1 (a JSON number or a string of decimal digits)`,
    );
  return n;
}

function str(d: Record<string, unknown>, f: string): string | undefined {
  const v = get(d, f);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') invalid(R.FIELD_WRONG_TYPE, f, `${f} must be a string`);
  return v;
}

function enumOf<T extends string>(d: Record<string, unknown>, f: string, names: readonly T[]): T | undefined {
  const v = get(d, f);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(names as readonly string[]).includes(v))
    invalid(R.INVALID_ENUM_VALUE, f, `${f} must be one of ${names.join(', ')}`);
  return v as T;
}

function clientOrderId(d: Record<string, unknown>, f: string): string | undefined {
  const v = str(d, f);
  if (v !== undefined && !CLIENT_ORDER_ID_RE.test(v))
    invalid('INVALID_CLIENT_ORDER_ID', f, `${f} must be 1–${CLIENT_ORDER_ID_MAX} characters of [A-Za-z0-9_.:-]`);
  return v;
}

/** A limit in units as field `f` writes it: decimal for a *_decimal field (a tick of 5 with 2 decimals is 0.05). */
function shown(f: string, units: number, decimals: number): string {
  return f.endsWith('_decimal') ? formatUnits(units, decimals) : String(units);
}

function checkQty(f: string, q: number, i: InstrumentLimits): void {
  const d = i.qtyDecimals;
  if (q <= 0) invalid('INVALID_QUANTITY', f, `${f} must be > 0`);
  // Infinity (a decimal beyond 2^53 − 1, unitsOf) has no remainder: the range rule refuses it.
  if (q > Number.MAX_SAFE_INTEGER) invalid('QUANTITY_ABOVE_MAX', f, `${f} must be at most ${shown(f, i.maxQty, d)}`);
  if (q % i.lotSize !== 0)
    invalid('QUANTITY_NOT_LOT_MULTIPLE', f, `${f} must be a multiple of the lot size ${shown(f, i.lotSize, d)}`);
  if (q < i.minQty) invalid('QUANTITY_BELOW_MIN', f, `${f} must be at least ${shown(f, i.minQty, d)}`);
  if (q > i.maxQty) invalid('QUANTITY_ABOVE_MAX', f, `${f} must be at most ${shown(f, i.maxQty, d)}`);
}

/** The engine's reasons: INVALID_PRICE / PRICE_NOT_TICK_MULTIPLE for price, INVALID_STOP_PRICE for every stop_price rule. */
function checkPrice(f: string, p: number, i: InstrumentLimits): void {
  const stop = f.startsWith('stop_price');
  const d = i.priceDecimals;
  const above = (): never =>
    invalid(stop ? 'INVALID_STOP_PRICE' : 'INVALID_PRICE', f, `${f} must be at most ${shown(f, i.maxPrice, d)}`);
  if (p <= 0) invalid(stop ? 'INVALID_STOP_PRICE' : 'INVALID_PRICE', f, `${f} must be > 0`);
  if (p > Number.MAX_SAFE_INTEGER) above(); // Infinity: see checkQty
  if (p % i.tickSize !== 0)
    invalid(
      stop ? 'INVALID_STOP_PRICE' : 'PRICE_NOT_TICK_MULTIPLE',
      f,
      `${f} must be a multiple of the tick size ${shown(f, i.tickSize, d)}`,
    );
  if (p > i.maxPrice) above();
}

/** Which scale a *_decimal field is in. */
type Scale = 'price' | 'qty';

/**
 * The value of an integer field `f` or of its decimal twin `${f}_decimal` (a string converted
 * exactly with the instrument's decimals, api/decimal.ts), with the name of the field that gave
 * it (for messages); undefined when neither is set. Both set: CONFLICTING_FIELDS. A decimal
 * needs the instrument (an amend by order id on a shard with several instruments: `symbol`).
 * A value beyond 2^53 − 1 comes back as Infinity: above every limit, refused by the caller's
 * range check (the engine's units are safe integers; wide instruments change that later).
 */
function unitsOf(
  d: Record<string, unknown>,
  f: string,
  scale: Scale,
  instrument: InstrumentLimits | undefined,
): { value: number; field: string } | undefined {
  const df = `${f}_decimal`;
  const text = str(d, df);
  const int = uint(d, f);
  if (text === undefined) return int === undefined ? undefined : { value: int, field: f };
  if (int !== undefined) invalid(R.CONFLICTING_FIELDS, df, `give either ${f} or ${df}, not both`);
  if (instrument === undefined)
    missing('symbol', `symbol is required with ${df} when the order's shard has several instruments`);
  const decimals = scale === 'price' ? instrument.priceDecimals : instrument.qtyDecimals;
  const p = parseDecimal(text, decimals);
  if (!p.ok) {
    if (p.error === 'PRECISION')
      invalid(
        scale === 'price' ? R.INVALID_PRICE_PRECISION : R.INVALID_QTY_PRECISION,
        df,
        `${df} has more than ${decimals} digits after the point (${instrument.symbol} ${scale === 'price' ? 'prices' : 'quantities'} have ${decimals})`,
      );
    if (p.error === 'TOO_LONG')
      invalid(R.DECIMAL_STRING_CHARS_MAX, df, `${df} is longer than ${DECIMAL_STRING_CHARS_MAX} characters`);
    invalid(
      R.INVALID_DECIMAL,
      df,
      `${df} must be a decimal string: digits, optionally a point and digits ("49990.50"), no sign, exponent or spaces`,
    );
  }
  const value = p.units <= MAX_SAFE_UNITS ? Number(p.units) : Number.POSITIVE_INFINITY;
  return { value, field: df };
}

const MAX_SAFE_UNITS = BigInt(Number.MAX_SAFE_INTEGER);

function checkUnknownFields(op: Operation, d: Record<string, unknown>): void {
  const allowed = FIELDS[op];
  for (const k of Object.keys(d))
    if (!allowed.has(k)) {
      const name = k.length > 64 ? `${k.slice(0, 64)}…` : k;
      invalid(R.UNKNOWN_FIELD, name, `unknown field ${name}`);
    }
}

function symbolEntry(ix: ShardIndex, symbol: string): { shard: number; instrument: InstrumentLimits } {
  const e = ix.bySymbol.get(symbol);
  if (e === undefined) invalid('UNKNOWN_INSTRUMENT', 'symbol', 'unknown symbol');
  return e;
}

/** The order id of a cancel/amend/get: body `order_id` and/or the REST path's; undefined if neither. */
function orderIdOf(d: Record<string, unknown>, ctx: ValidateContext): number | undefined {
  const body = uint(d, 'order_id');
  if (body !== undefined && body === 0) invalid(R.INVALID_ORDER_ID, 'order_id', 'order_id must be > 0');
  if (ctx.pathOrderId === undefined) return body;
  const p = ctx.pathOrderId;
  const path = typeof p === 'string' && DIGITS_RE.test(p) ? Number(p) : NaN;
  if (!Number.isSafeInteger(path) || path <= 0)
    invalid(R.INVALID_ORDER_ID, 'order_id', 'order id in the path must be a positive integer below 2^53');
  if (body !== undefined && body !== path)
    invalid(R.CONFLICTING_FIELDS, 'order_id', 'order_id in the body differs from the order id in the path');
  return path;
}

function locateOrder(ix: ShardIndex, id: number): { shard: number; seq: number } {
  const { shard, seq } = fromGlobalOrderId(id);
  if (seq === 0 || !ix.byId.has(shard)) notFound('order not found');
  return { shard, seq };
}

/** Shard for a client-order-id request: the symbol's, or the only one. */
function routeByClientId(ix: ShardIndex, symbolShard: number | undefined, field: string): number {
  if (symbolShard !== undefined) return symbolShard;
  if (ix.ids.length === 1) return ix.ids[0]!;
  missing('symbol', `symbol is required with ${field} when the exchange has several shards`);
}

function withBody(command: ValidatedCommand): ValidatedCommand {
  const c = commandFromJson(command.engine);
  if ('error' in c) throw new Error('validate: engine command without a type'); // cannot happen: we set `type`
  command.body = encodeCommand(c as Command);
  return command;
}

// ---------------------------------------------------------------------------------------------
// validateCommand

const RESTING_TIFS: ReadonlySet<string> = new Set(['GTC', 'GTD', 'DAY']);

function place(d: Record<string, unknown>, ctx: ValidateContext, ix: ShardIndex): ValidatedCommand {
  const clOrdId = clientOrderId(d, 'client_order_id');
  if (clOrdId === undefined) missing('client_order_id');
  const symbol = str(d, 'symbol');
  if (symbol === undefined) missing('symbol');
  const { shard, instrument } = symbolEntry(ix, symbol);
  const side = enumOf(d, 'side', SIDES);
  if (side === undefined) missing('side');
  const ordType = enumOf(d, 'order_type', ORDER_TYPES);
  if (ordType === undefined) missing('order_type');
  const tif = enumOf(d, 'time_in_force', TIFS);
  const postOnly = enumOf(d, 'post_only', POST_ONLY);
  const stp = enumOf(d, 'self_trade_prevention', STPS);

  const q = unitsOf(d, 'quantity', 'qty', instrument);
  if (q === undefined) missing('quantity');
  checkQty(q.field, q.value, instrument);
  const qty = q.value;

  const limitPriced = ordType === 'LIMIT' || ordType === 'STOP_LIMIT';
  const stop = ordType === 'STOP_MARKET' || ordType === 'STOP_LIMIT';
  const p = unitsOf(d, 'price', 'price', instrument);
  if (limitPriced) {
    if (p === undefined) missing('price', `price is required for ${ordType} orders`);
    checkPrice(p.field, p.value, instrument);
  } else if (p !== undefined) invalid(R.FIELD_NOT_ALLOWED, p.field, `${p.field} must not be set for ${ordType} orders`);
  const price = p?.value;
  const sp = unitsOf(d, 'stop_price', 'price', instrument);
  if (stop) {
    if (sp === undefined) missing('stop_price', `stop_price is required for ${ordType} orders`);
    checkPrice(sp.field, sp.value, instrument);
  } else if (sp !== undefined)
    invalid(R.FIELD_NOT_ALLOWED, sp.field, `${sp.field} must not be set for ${ordType} orders`);
  const stopPrice = sp?.value;

  if (!limitPriced && tif !== undefined && tif !== 'IOC' && tif !== 'FOK')
    invalid('INVALID_TIME_IN_FORCE', 'time_in_force', `time_in_force must be IOC or FOK for ${ordType} orders`);
  const effectiveTif = tif ?? (limitPriced ? 'GTC' : 'IOC');

  const expire = uint(d, 'expire_time_us');
  if (effectiveTif === 'GTD') {
    if (expire === undefined) missing('expire_time_us', 'expire_time_us is required with time_in_force GTD');
    if (expire <= 0) invalid('INVALID_EXPIRE_TIME', 'expire_time_us', 'expire_time_us must be > 0');
  } else if (expire !== undefined)
    invalid(R.FIELD_NOT_ALLOWED, 'expire_time_us', 'expire_time_us is only allowed with time_in_force GTD');

  if (postOnly !== undefined && (ordType !== 'LIMIT' || !RESTING_TIFS.has(effectiveTif))) {
    invalid('INVALID_POST_ONLY', 'post_only', 'post_only requires a LIMIT order with time_in_force GTC, GTD or DAY');
  }

  const display = displayQty(d, instrument, limitPriced && RESTING_TIFS.has(effectiveTif), qty);

  const engine: Record<string, unknown> = { type: 'new', account: ctx.account, clOrdId, symbol, side, ordType };
  if (price !== undefined) engine.price = price;
  if (stopPrice !== undefined) engine.stopPrice = stopPrice;
  engine.qty = qty;
  if (tif !== undefined) engine.tif = tif;
  if (expire !== undefined) engine.expireTsUs = expire;
  if (postOnly !== undefined) engine.postOnly = postOnly;
  if (display !== undefined) engine.displayQty = display;
  if (stp !== undefined) engine.stp = stp;

  const out: ValidatedCommand = { op: Operation.PLACE_ORDER, shards: [shard], engine, symbol, side, qty, ordType };
  if (price !== undefined) out.price = price;
  if (stopPrice !== undefined) out.stopPrice = stopPrice;
  return withBody(out);
}

/** An iceberg's display quantity (display_quantity or display_quantity_decimal); undefined (0 too) = not an iceberg. */
function displayQty(
  d: Record<string, unknown>,
  instrument: InstrumentLimits,
  restingLimit: boolean,
  qty: number,
): number | undefined {
  const dq = unitsOf(d, 'display_quantity', 'qty', instrument);
  if (dq === undefined || dq.value === 0) return undefined; // 0 = not an iceberg
  const f = dq.field;
  if (!restingLimit)
    invalid(
      'INVALID_DISPLAY_QUANTITY',
      f,
      `${f} requires a LIMIT or STOP_LIMIT order with time_in_force GTC, GTD or DAY`,
    );
  if (dq.value >= qty) invalid('INVALID_DISPLAY_QUANTITY', f, `${f} must be less than quantity`);
  if (dq.value % instrument.lotSize !== 0)
    invalid(
      'INVALID_DISPLAY_QUANTITY',
      f,
      `${f} must be a multiple of the lot size ${shown(f, instrument.lotSize, instrument.qtyDecimals)}`,
    );
  return dq.value;
}

/** The order a cancel or a get names: by order id, or by client order id (routed by `symbol`, or to the only shard). */
function namedOrder(
  d: Record<string, unknown>,
  ctx: ValidateContext,
  ix: ShardIndex,
): { shard: number; seq?: number; clOrdId?: string; symbol?: string } {
  const id = orderIdOf(d, ctx);
  const clOrdId = clientOrderId(d, 'client_order_id');
  const symbol = str(d, 'symbol');
  const sym = symbol === undefined ? undefined : symbolEntry(ix, symbol);
  if (id !== undefined && clOrdId !== undefined)
    invalid(R.CONFLICTING_FIELDS, 'client_order_id', 'give either order_id or client_order_id, not both');
  const named: { shard: number; seq?: number; clOrdId?: string; symbol?: string } = { shard: 0 };
  if (id !== undefined) {
    const { shard, seq } = locateOrder(ix, id);
    if (sym !== undefined && sym.shard !== shard)
      invalid(R.CONFLICTING_FIELDS, 'symbol', 'symbol is not traded on the shard of order_id');
    named.shard = shard;
    named.seq = seq;
  } else if (clOrdId !== undefined) {
    named.shard = routeByClientId(ix, sym?.shard, 'client_order_id');
    named.clOrdId = clOrdId;
  } else missing('order_id', 'order_id or client_order_id is required');
  if (symbol !== undefined) named.symbol = symbol;
  return named;
}

function cancel(d: Record<string, unknown>, ctx: ValidateContext, ix: ShardIndex): ValidatedCommand {
  const named = namedOrder(d, ctx, ix);
  const engine: Record<string, unknown> = { type: 'cancel', account: ctx.account };
  const out: ValidatedCommand = { op: Operation.CANCEL_ORDER, shards: [named.shard], engine };
  if (named.seq !== undefined) engine.orderId = out.orderId = named.seq;
  else engine.clOrdId = named.clOrdId;
  if (named.symbol !== undefined) out.symbol = named.symbol;
  return withBody(out);
}

function amend(d: Record<string, unknown>, ctx: ValidateContext, ix: ShardIndex): ValidatedCommand {
  const id = orderIdOf(d, ctx);
  const origClOrdId = clientOrderId(d, 'orig_client_order_id');
  const clOrdId = clientOrderId(d, 'client_order_id');
  const symbol = str(d, 'symbol');
  const sym = symbol === undefined ? undefined : symbolEntry(ix, symbol);
  if (id !== undefined && origClOrdId !== undefined)
    invalid(R.CONFLICTING_FIELDS, 'orig_client_order_id', 'give either order_id or orig_client_order_id, not both');
  // 0 = unchanged (AmendOrderRequest), in both encodings; the *_decimal twins are read once the
  // instrument is known (below), and "0.00" there is a price of 0, refused.
  const nz = (f: string): boolean => {
    const v = uint(d, f);
    return v !== undefined && v !== 0;
  };
  const changes = ['quantity', 'price', 'stop_price'].filter((f) => nz(f) || get(d, `${f}_decimal`) !== undefined);

  const engine: Record<string, unknown> = { type: 'amend', account: ctx.account };
  const out: ValidatedCommand = { op: Operation.AMEND_ORDER, shards: [], engine };
  let shard: number;
  if (id !== undefined) {
    const loc = locateOrder(ix, id);
    if (sym !== undefined && sym.shard !== loc.shard)
      invalid(R.CONFLICTING_FIELDS, 'symbol', 'symbol is not traded on the shard of order_id');
    shard = loc.shard;
    engine.orderId = loc.seq;
    out.orderId = loc.seq;
  } else if (origClOrdId !== undefined) {
    shard = routeByClientId(ix, sym?.shard, 'orig_client_order_id');
    engine.origClOrdId = origClOrdId;
  } else missing('order_id', 'order_id or orig_client_order_id is required');
  if (changes.length === 0 && clOrdId === undefined) {
    invalid(
      R.AMEND_CHANGES_NOTHING,
      undefined,
      'amend changes nothing: set quantity, price, stop_price (or their _decimal forms) or client_order_id',
    );
  }
  // The instrument, when it is known: the symbol's, or the shard's only one.
  const shardInstruments = ix.byId.get(shard)?.instruments ?? [];
  const instrument = sym?.instrument ?? (shardInstruments.length === 1 ? shardInstruments[0] : undefined);
  const change = (f: string, scale: Scale): { value: number; field: string } | undefined => {
    const u = unitsOf(d, f, scale, instrument);
    return u === undefined || (u.field === f && u.value === 0) ? undefined : u;
  };
  const q = change('quantity', 'qty');
  const p = change('price', 'price');
  const sp = change('stop_price', 'price');
  if (instrument !== undefined) {
    if (q !== undefined) checkQty(q.field, q.value, instrument);
    if (p !== undefined) checkPrice(p.field, p.value, instrument);
    if (sp !== undefined) checkPrice(sp.field, sp.value, instrument);
  }
  const qty = q?.value;
  const price = p?.value;
  const stopPrice = sp?.value;
  if (clOrdId !== undefined) engine.clOrdId = clOrdId;
  if (qty !== undefined) engine.qty = out.qty = qty;
  if (price !== undefined) engine.price = out.price = price;
  if (stopPrice !== undefined) engine.stopPrice = out.stopPrice = stopPrice;
  out.shards = [shard];
  const s = symbol ?? instrument?.symbol;
  if (s !== undefined) out.symbol = s;
  return withBody(out);
}

function massCancel(d: Record<string, unknown>, ctx: ValidateContext, ix: ShardIndex): ValidatedCommand {
  let symbol = str(d, 'symbol');
  if (symbol === '') symbol = undefined; // empty: every instrument
  const side = enumOf(d, 'side', SIDES);
  const engine: Record<string, unknown> = { type: 'mass_cancel', account: ctx.account };
  const out: ValidatedCommand = { op: Operation.MASS_CANCEL, shards: [...ix.ids], engine };
  if (symbol !== undefined) {
    out.shards = [symbolEntry(ix, symbol).shard];
    engine.symbol = out.symbol = symbol;
  }
  if (side !== undefined) engine.side = out.side = side;
  return withBody(out);
}

function getOrder(d: Record<string, unknown>, ctx: ValidateContext, ix: ShardIndex): ValidatedCommand {
  // A read may ask every shard: by client order id without a symbol on several shards, the
  // gateway asks each (Gateway.findOrder), where a cancel or an amend needs the symbol to write.
  const clOrdId = clientOrderId(d, 'client_order_id');
  if (ix.ids.length > 1 && clOrdId !== undefined && str(d, 'symbol') === undefined && orderIdOf(d, ctx) === undefined)
    return { op: Operation.GET_ORDER, shards: [...ix.ids], clientOrderId: clOrdId };
  const named = namedOrder(d, ctx, ix);
  const out: ValidatedCommand = { op: Operation.GET_ORDER, shards: [named.shard] };
  if (named.seq !== undefined) out.orderId = named.seq;
  else out.clientOrderId = named.clOrdId!;
  return out;
}

function cancelAllAfter(d: Record<string, unknown>): ValidatedCommand {
  const timeoutMs = uint(d, 'timeout_ms') ?? 0;
  if (timeoutMs > DEAD_MAN_MS_MAX)
    invalid(R.INVALID_INTEGER, 'timeout_ms', `timeout_ms must be at most ${DEAD_MAN_MS_MAX} (0 disarms)`);
  return { op: Operation.CANCEL_ALL_AFTER, shards: [], timeoutMs };
}

/**
 * Checks a decoded request (decodeRequest / decodeSessionRequest output, or any JSON object) of
 * operation `op` for account ctx.account, and maps it to the engine command. Never throws.
 */
export function validateCommand(op: Operation, decoded: Record<string, unknown>, ctx: ValidateContext): ValidateResult {
  try {
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded))
      invalid(R.MALFORMED_REQUEST, undefined, 'request must be an object');
    if (!Object.hasOwn(FIELDS, op)) invalid(R.MALFORMED_REQUEST, undefined, `unknown operation ${String(op)}`);
    checkUnknownFields(op, decoded);
    const ix = shardIndex(ctx.shards);
    let command: ValidatedCommand;
    switch (op) {
      case Operation.PLACE_ORDER:
        command = place(decoded, ctx, ix);
        break;
      case Operation.CANCEL_ORDER:
        command = cancel(decoded, ctx, ix);
        break;
      case Operation.AMEND_ORDER:
        command = amend(decoded, ctx, ix);
        break;
      case Operation.MASS_CANCEL:
        command = massCancel(decoded, ctx, ix);
        break;
      case Operation.GET_ORDER:
        command = getOrder(decoded, ctx, ix);
        break;
      case Operation.CANCEL_ALL_AFTER:
        command = cancelAllAfter(decoded);
        break;
    }
    return { ok: true, command };
  } catch (err) {
    if (err instanceof Rejection) return { ok: false, error: err.error };
    return {
      ok: false,
      error: gatewayError(
        ErrorCode.INTERNAL,
        R.INTERNAL,
        `validation failed: ${err instanceof Error ? err.message : String(err)}`,
      ),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

// Read from the package root, not next to this file: from dist/ it is the same folder (package-root.ts).
const PROTO_FILE = packagePath('proto/exchange/v1/order_entry.proto');

interface ProtoTypes {
  requests: Record<Operation, protobuf.Type>;
  session: protobuf.Type;
}
let proto: ProtoTypes | undefined;

/** The request message types, from proto/exchange/v1/order_entry.proto (loaded once; keepCase: the wire names are snake_case). */
function protoTypes(): ProtoTypes {
  if (proto === undefined) {
    const root = protobuf.parse(readFileSync(PROTO_FILE, 'utf8'), new protobuf.Root(), { keepCase: true }).root;
    root.resolveAll();
    const requests = {} as Record<Operation, protobuf.Type>;
    for (const op of Object.keys(REQUEST_MESSAGE) as Operation[]) requests[op] = root.lookupType(REQUEST_MESSAGE[op]);
    proto = { requests, session: root.lookupType('exchange.v1.OrderSessionRequest') };
  }
  return proto;
}

/** The protobufjs message type of op's request (for clients and tests that encode requests). */
export function requestMessageType(op: Operation): protobuf.Type {
  return protoTypes().requests[op];
}

/** The protobufjs type of OrderSessionRequest. */
export function sessionRequestMessageType(): protobuf.Type {
  return protoTypes().session;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: false };

/**
 * A decoded protobuf request (toObject with longs as strings, enums as names) in the JSON shape:
 * enum prefixes stripped, proto3 zero values dropped (unset), safe uint64s as numbers.
 */
export function normalizeProto(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) {
    let v = o[k];
    const prefix = ENUM_PREFIX.get(k);
    if (prefix !== undefined) {
      if (typeof v === 'string') {
        if (v.startsWith(prefix)) v = v.slice(prefix.length);
        if (v === 'UNSPECIFIED') continue;
      } else if (v === 0) continue;
      // an unknown enum number stays a number: refused as not one of the names
    } else if (UINT64_FIELDS.has(k) && typeof v === 'string') {
      const n = Number(v); // uint64 as a decimal string (longs: String)
      if (n === 0) continue;
      if (Number.isSafeInteger(n)) v = n; // else kept as the string: refused by the validator
    }
    if (v === '' || v === 0 || v === false || v === null || v === undefined) continue;
    out[k] = v;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(message: string, reason: ErrorReason = R.MALFORMED_REQUEST): { ok: false; error: GatewayError } {
  return { ok: false, error: gatewayError(ErrorCode.INVALID_ARGUMENT, reason, message) };
}

/**
 * The fields of a REST query string (GetOrder's), each given once: `client_order_id=a1&symbol=BTC-USD`
 * → {client_order_id: 'a1', symbol: 'BTC-USD'}. Values stay strings (the validator reads digits as integers).
 */
export function decodeQuery(query: string): DecodeResult {
  const decoded: Record<string, unknown> = {};
  // URLSearchParams never throws on a string: a malformed escape stays as sent (and fails the field's check).
  for (const [k, v] of new URLSearchParams(query)) {
    if (Object.hasOwn(decoded, k)) return bad(`query parameter ${k.slice(0, 64)} given twice`);
    decoded[k] = v;
  }
  return { ok: true, decoded };
}

/**
 * Decodes a unary request body (JSON object or protobuf request message of op) into the common
 * shape; GetOrder over REST reads its fields from the query string instead (GET has no body).
 * Never throws.
 */
export function decodeRequest(
  op: Operation,
  encoding: 'json' | 'protobuf',
  body: Uint8Array,
  query?: string,
): DecodeResult {
  if (!Object.hasOwn(REQUEST_MESSAGE, op)) return bad(`unknown operation ${String(op)}`);
  if (!(body instanceof Uint8Array)) return bad('request body must be bytes');
  if (body.length > REQUEST_BODY_BYTES_MAX)
    return bad(`request body exceeds ${REQUEST_BODY_BYTES_MAX} bytes`, R.REQUEST_BODY_BYTES_MAX);
  if (encoding === 'json' && op === Operation.GET_ORDER && typeof query === 'string' && query !== '') {
    if (body.length > 0)
      return bad('give the fields in the query string or in the body, not both', R.CONFLICTING_FIELDS);
    return decodeQuery(query);
  }
  if (encoding === 'json') {
    if (body.length === 0) return { ok: true, decoded: {} };
    let value: unknown;
    let text: string;
    try {
      text = utf8.decode(body);
      value = JSON.parse(text);
    } catch {
      return bad('request body is not valid JSON (UTF-8)');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return bad('request body must be a JSON object');
    // JSON.parse has made 4.7e6 and 4700000.0 the integer 4700000: read them as written.
    const inexact = inexactInteger(text, UINT64_FIELDS);
    if (inexact !== undefined)
      return {
        ok: false,
        error: gatewayError(ErrorCode.INVALID_ARGUMENT, R.INVALID_INTEGER, inexactIntegerMessage(inexact), {
          field: inexact.field,
        }),
      };
    return { ok: true, decoded: value as Record<string, unknown> };
  }
  if (encoding === 'protobuf') {
    try {
      const type = protoTypes().requests[op];
      const msg = type.decode(body);
      return { ok: true, decoded: normalizeProto(type.toObject(msg, TO_OBJECT)) };
    } catch {
      return bad(`request body is not a valid ${REQUEST_MESSAGE[op].slice('exchange.v1.'.length)} message`);
    }
  }
  return bad(`unknown encoding ${String(encoding)}`);
}

/**
 * The request_id (field 1, varint) of an OrderSessionRequest's bytes, read without decoding the
 * rest: the id a refusal must echo when the message is refused before (or instead of) being
 * decoded — over a size limit, a full session queue, undecodable further on. 0 when the bytes
 * hold no readable id below 2^53 before the first malformed field. Never throws.
 */
export function peekSessionRequestId(body: Uint8Array): number {
  if (!(body instanceof Uint8Array)) return 0;
  const reader = protobuf.Reader.create(body);
  let id = 0;
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1 && (tag & 7) === 0) {
        const v = reader.uint64();
        const n = typeof v === 'number' ? v : Number(v.toString());
        id = Number.isSafeInteger(n) ? n : 0; // the last occurrence wins, as in a decoder
      } else reader.skipType(tag & 7);
    }
  } catch {
    // truncated or malformed past this point: the id read so far stands
  }
  return id;
}

/**
 * Decodes an OrderSessionRequest (protobuf): its request id, heartbeat flag and commands, each
 * as (op, decoded) in the common shape. A refusal carries the request's id whenever it can be
 * read (peekSessionRequestId), so the client can match it. Never throws.
 */
export function decodeSessionRequest(body: Uint8Array): SessionDecodeResult {
  if (!(body instanceof Uint8Array)) return bad('request body must be bytes');
  if (body.length > SESSION_REQUEST_BYTES_MAX)
    return {
      ...bad(`session request exceeds ${SESSION_REQUEST_BYTES_MAX} bytes`, R.SESSION_REQUEST_BYTES_MAX),
      requestId: peekSessionRequestId(body),
    };
  let o: Record<string, unknown>;
  try {
    const type = protoTypes().session;
    o = type.toObject(type.decode(body), TO_OBJECT);
  } catch {
    return { ...bad('request body is not a valid OrderSessionRequest message'), requestId: peekSessionRequestId(body) };
  }
  const rid = o.request_id === undefined ? 0 : parseUint(o.request_id);
  if (rid === undefined) return bad('request_id must be below 2^53', R.INVALID_INTEGER);
  const fail = (reason: ErrorReason, message: string, field?: string): SessionDecodeResult => ({
    ok: false,
    requestId: rid,
    error: gatewayError(ErrorCode.INVALID_ARGUMENT, reason, message, field === undefined ? undefined : { field }),
  });
  const raw = Array.isArray(o.commands) ? (o.commands as Record<string, unknown>[]) : [];
  if (raw.length > SESSION_BATCH_COMMANDS_MAX)
    return fail(
      R.SESSION_BATCH_COMMANDS_MAX,
      `at most ${SESSION_BATCH_COMMANDS_MAX} commands per request, got ${raw.length}`,
      'commands',
    );
  const commands: SessionCommandDecoded[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    let found: SessionCommandDecoded | undefined;
    for (const [field, op] of SESSION_OPS) {
      const sub = c[field];
      if (sub === undefined || sub === null) continue;
      if (found !== undefined)
        return fail(R.CONFLICTING_FIELDS, `commands[${i}] sets more than one command`, `commands[${i}]`);
      found = { op, decoded: normalizeProto(sub as Record<string, unknown>) };
    }
    if (found === undefined) return fail(R.FIELD_MISSING, `commands[${i}] sets no command`, `commands[${i}]`);
    commands.push(found);
  }
  return { ok: true, requestId: rid, heartbeat: o.heartbeat === true, commands };
}
