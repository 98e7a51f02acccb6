// The query API's core, shared by the REST and gRPC edges (rest-server.ts, grpc-server.ts):
// authentication exactly as order entry does it (api/auth.ts: API key, timestamp window,
// signature over the exact target and body, replay cache), the account rule (an account reads
// only its own orders, fills and positions; admin keys read any), read-your-writes, and the
// answers built from the read models. The edges only route and encode.
//
// Read-your-writes. A query may carry min_seq (and shard): the `seq` of an OrderResult or
// execution report from order entry. It is answered once the read models hold every event of
// that shard up to that seq — which they know from the publisher's progress records
// (model.ts, "read-your-writes marks") — waiting at most wait_ms (default
// READ_AFTER_WAIT_MS_DEFAULT, at most READ_AFTER_WAIT_MS_MAX); past that it fails with
// NOT_YET_CONSISTENT (HTTP 503 / gRPC UNAVAILABLE) and a retry hint.
//
// Public market data (PUBLIC_OPS: recent trades, candles, 24-hour ticker) needs no signature:
// it holds nothing of any account. Its budget (a token bucket per client IP and in total) is
// the REST edge's (public-rate-limit.ts); everything else here is as for the signed queries.

import './limits-check.js';
import { buildKeyTable, ReplayCache, authenticate, type AuthHeaders, type KeyEntry } from '../../api/auth.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { ERROR_STATUS, ErrorCode, ErrorReason, type GatewayError } from '../../api/errors.js';
import { ENUM_NAMES } from '../../engine/json-codec.js';
import {
  CANDLE_INTERVALS,
  type Candle,
  type CandleInterval,
  type FillView,
  type PublicTrade,
  type OrderView,
  type ReadModels,
  quoteOf,
} from '../read-models/model.js';
import type { InstrumentDecimals } from '../../api/execution-report.js';
import {
  balanceCashDecimals,
  candleDecimals,
  decimalsOfShards,
  fillDecimals,
  orderDecimals,
  positionDecimals,
  publicTradeDecimals,
  tickerDecimals,
  type DecimalsOf,
} from './decimal-views.js';
import { FILLS_PER_ACCOUNT_MAX } from '../read-models/limits.js';
import type { ReadModelLag, ReadModelName } from '../read-models/consumer.js';
import {
  READ_AFTER_WAIT_MS_DEFAULT,
  READ_AFTER_WAIT_MS_MAX,
  READ_AFTER_WAITERS_MAX,
  NOT_YET_CONSISTENT_RETRY_MS,
  FILLS_LIMIT_DEFAULT,
  CANDLES_LIMIT_DEFAULT,
  CANDLES_LIMIT_MAX,
  ORDERS_LIMIT_MAX,
  PUBLIC_TRADES_LIMIT_DEFAULT,
  PUBLIC_TRADES_LIMIT_MAX,
} from './limits.js';

export const QueryOp = {
  GET_ORDERS: 'GetOrders',
  GET_ORDER: 'GetOrder',
  GET_FILLS: 'GetFills',
  GET_POSITIONS: 'GetPositions',
  GET_CANDLES: 'GetCandles',
  GET_LAG: 'GetLag',
  MARKET_TRADES: 'GetMarketTrades',
  MARKET_CANDLES: 'GetMarketCandles',
  MARKET_TICKER: 'GetMarketTicker',
} as const;
export type QueryOp = (typeof QueryOp)[keyof typeof QueryOp];

/** The operations answered without authentication (public market data). */
export const PUBLIC_OPS: ReadonlySet<QueryOp> = new Set([
  QueryOp.MARKET_TRADES,
  QueryOp.MARKET_CANDLES,
  QueryOp.MARKET_TICKER,
]);

/** The gateway's error codes plus the query API's own. */
export const QueryErrorCode = { ...ErrorCode, NOT_YET_CONSISTENT: 'NOT_YET_CONSISTENT' } as const;
export type QueryErrorCode = (typeof QueryErrorCode)[keyof typeof QueryErrorCode];

export const QUERY_ERROR_STATUS: Record<QueryErrorCode, { http: number; grpc: number }> = {
  ...ERROR_STATUS,
  NOT_YET_CONSISTENT: { http: 503, grpc: 14 /* UNAVAILABLE */ },
};

/** The API's error shape (api/errors.ts GatewayError: code, reason, message, …) with the query codes. */
export type QueryError = Omit<GatewayError, 'code'> & { code: QueryErrorCode };

export type QueryReply = { ok: true; body: Record<string, unknown> } | { ok: false; error: QueryError };

export interface QueryRequest {
  op: QueryOp;
  /** REST: `GET /v1/accounts/1/orders?state=all`; gRPC: `/exchange.v1.QueryService/GetOrders`. */
  target: string;
  /** The body exactly as received (empty for REST GETs): the signature covers it. */
  body: Uint8Array;
  auth: AuthHeaders;
  /** The request's parameters, decoded by the edge after authentication (a throw is INVALID_ARGUMENT). */
  params: () => Record<string, unknown>;
}

/** What the service needs besides the models (the consumer; tests pass fakes). */
export interface QuerySource {
  readonly model: ReadModels;
  lag(): Record<ReadModelName, ReadModelLag>;
}

export interface QueryServiceOptions {
  config: Pick<GatewayConfig, 'accounts' | 'adminKeys' | 'receiveWindowMs' | 'shards'>;
  source: QuerySource;
  nowMs?: () => number;
  /** Called once per answered query with its result code (`OK` or the error code) and duration (metrics). */
  observe?: (op: QueryOp, code: string, seconds: number) => void;
}

interface Waiter {
  shard: number;
  seq: number;
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

class InvalidArgument extends Error {
  constructor(
    readonly reason: QueryError['reason'],
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

function invalid(reason: QueryError['reason'], field: string, message: string): never {
  throw new InvalidArgument(reason, field, message);
}

function fail(
  code: QueryErrorCode,
  reason: QueryError['reason'],
  message: string,
  retry_after_ms?: number,
): { ok: false; error: QueryError } {
  return {
    ok: false,
    error: retry_after_ms === undefined ? { code, reason, message } : { code, reason, message, retry_after_ms },
  };
}

/** GetOrders' filter (REST `state`, gRPC `filter`): true for all orders, false for open ones (the default). */
function allOrders(params: Record<string, unknown>): boolean {
  const filter = params.filter ?? params.state;
  const all = filter === 'all' || filter === 'ALL' || filter === 'ORDER_FILTER_ALL' || filter === 2;
  const open =
    filter === undefined ||
    filter === '' ||
    filter === 'open' ||
    filter === 'OPEN' ||
    filter === 'ORDER_FILTER_OPEN' ||
    filter === 'ORDER_FILTER_UNSPECIFIED' ||
    filter === 0 ||
    filter === 1;
  if (!all && !open) invalid(ErrorReason.INVALID_ENUM_VALUE, 'state', 'state must be open or all');
  return all;
}

/** An error about order `id` (order_id set): `order <id> <what>`. */
function orderError(
  code: QueryErrorCode,
  reason: QueryError['reason'],
  id: number,
  what: string,
): { ok: false; error: QueryError } {
  return { ok: false, error: { code, reason, message: `order ${id} ${what}`, order_id: id } };
}

/** A non-negative safe integer from a JSON number, a decimal string (REST query) or absent (→ undefined). */
function uint(params: Record<string, unknown>, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = params[name];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max)
    invalid(ErrorReason.INVALID_INTEGER, name, `${name} must be an integer in [0, ${max}]`);
  return n;
}

function str(params: Record<string, unknown>, name: string, maxChars = 256): string | undefined {
  const v = params[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || v.length > maxChars)
    invalid(ErrorReason.FIELD_WRONG_TYPE, name, `${name} must be a string of at most ${maxChars} characters`);
  return v;
}

function enumName(table: Map<number, string>, code: number): string {
  return table.get(code) ?? '';
}

export function orderOut(o: OrderView, decimalsOf?: DecimalsOf): Record<string, unknown> {
  const d = decimalsOf?.(o.symbol);
  const out: Record<string, unknown> = {
    order_id: o.order_id,
    client_order_id: o.client_order_id,
    account: o.account,
    symbol: o.symbol,
    side: enumName(ENUM_NAMES.side, o.side),
    order_type: enumName(ENUM_NAMES.ordType, o.order_type),
    time_in_force: enumName(ENUM_NAMES.tif, o.time_in_force),
    order_status: enumName(ENUM_NAMES.ordStatus, o.order_status),
    price: o.price,
    stop_price: o.stop_price,
    order_qty: o.order_qty,
    cum_qty: o.cum_qty,
    leaves_qty: o.leaves_qty,
    display_qty: o.display_qty,
    cum_notional: o.cum_notional,
    avg_px: o.avg_px,
    reason: o.reason,
    last_exec_id: o.last_exec_id,
    seq: o.seq,
    shard: o.shard,
    created_ts_us: o.created_ts_us,
    updated_ts_us: o.updated_ts_us,
  };
  return d === undefined ? out : Object.assign(out, orderDecimals(o, d));
}

function publicTradeOut(t: PublicTrade, d: InstrumentDecimals | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {
    trade_id: t.trade_id,
    price: t.price,
    qty: t.qty,
    quote_qty: (BigInt(t.price) * BigInt(t.qty)).toString(),
    aggressor_side: enumName(ENUM_NAMES.side, t.aggressor_side),
    ts_us: t.ts_us,
  };
  return d === undefined ? out : Object.assign(out, publicTradeDecimals(t, d));
}

/** Candles with their decimal strings (when the symbol's decimals are known). */
function candlesOut(candles: Candle[], d: InstrumentDecimals | undefined): Candle[] {
  return d === undefined ? candles : candles.map((c) => Object.assign(c, candleDecimals(c, d)));
}

/** The `symbol` parameter (required) of the candle and market queries. */
function symbolParam(params: Record<string, unknown>): string {
  const symbol = str(params, 'symbol', 64);
  if (symbol === undefined) invalid(ErrorReason.FIELD_MISSING, 'symbol', 'symbol is required');
  return symbol;
}

/** The `interval` parameter (default 1m): one of CANDLE_INTERVALS. */
function intervalParam(params: Record<string, unknown>): CandleInterval {
  const interval = (str(params, 'interval', 8) ?? '1m') as CandleInterval;
  if (!CANDLE_INTERVALS.some((iv) => iv.name === interval))
    invalid(
      ErrorReason.INVALID_ENUM_VALUE,
      'interval',
      `interval must be one of ${CANDLE_INTERVALS.map((iv) => iv.name).join(', ')}`,
    );
  return interval;
}

/** GET /v1/market/candles: start_us / end_us (bucket starts, inclusive) and limit. */
function marketCandles(
  m: ReadModels,
  params: Record<string, unknown>,
  decimalsOf: DecimalsOf,
): Record<string, unknown> {
  const symbol = symbolParam(params);
  const interval = intervalParam(params);
  const startUs = uint(params, 'start_us');
  const endUs = uint(params, 'end_us');
  if (startUs !== undefined && endUs !== undefined && startUs > endUs)
    invalid(ErrorReason.CONFLICTING_FIELDS, 'end_us', `end_us ${endUs} is before start_us ${startUs}`);
  const limit = uint(params, 'limit', CANDLES_LIMIT_MAX) || CANDLES_LIMIT_DEFAULT;
  const candles = candlesOut(m.candlesBetween(symbol, interval, { startUs, endUs, limit }), decimalsOf(symbol));
  return { symbol, interval, candles };
}

function fillOut(f: FillView, d: InstrumentDecimals | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {
    exec_id: f.exec_id,
    trade_id: f.trade_id,
    order_id: f.order_id,
    client_order_id: f.client_order_id,
    symbol: f.symbol,
    side: enumName(ENUM_NAMES.side, f.side),
    last_qty: f.last_qty,
    last_px: f.last_px,
    last_liquidity_ind: enumName(ENUM_NAMES.liquidity, f.last_liquidity_ind),
    seq: f.seq,
    log_index: f.log_index,
    shard: f.shard,
    ts_us: f.ts_us,
  };
  return d === undefined ? out : Object.assign(out, fillDecimals(f, d));
}

export class QueryService {
  private readonly keys: Map<string, KeyEntry>;
  private readonly replay: ReplayCache;
  private readonly windowMs: number;
  /** The receive window of signed requests (ms): GET /v1/time reports it. */
  get receiveWindowMs(): number {
    return this.windowMs;
  }
  private readonly source: QuerySource;
  private readonly shards: number[];
  /** Each configured instrument's decimals, for the `_decimal` strings (decimal-views.ts). */
  private readonly decimalsOf: DecimalsOf;
  private readonly nowMs: () => number;
  private readonly observe: ((op: QueryOp, code: string, seconds: number) => void) | undefined;
  private readonly waiters = new Set<Waiter>();
  readonly stats = { queries: 0, waited: 0, notYetConsistent: 0, refused: 0 };

  constructor(opts: QueryServiceOptions) {
    this.keys = buildKeyTable(opts.config);
    this.windowMs = opts.config.receiveWindowMs;
    this.replay = new ReplayCache(this.windowMs);
    this.source = opts.source;
    this.shards = opts.config.shards.map((s) => s.id).sort((a, b) => a - b);
    this.decimalsOf = decimalsOfShards(opts.config.shards);
    this.nowMs = opts.nowMs ?? Date.now;
    this.observe = opts.observe;
    this.source.model.onVisible = (shard, v) => {
      for (const w of this.waiters) {
        if (w.shard !== shard || v.seq < w.seq) continue;
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(true);
      }
    };
  }

  /** Fails every waiting query (shutdown). */
  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters.clear();
  }

  /** Per shard: how far the read models are. */
  asOf(): { shard: number; seq: number; log_index: number }[] {
    return this.shards.map((shard) => {
      const v = this.source.model.visibleOf(shard);
      return { shard, seq: v.seq, log_index: v.log_index };
    });
  }

  /** Lag per read model (records not yet applied), for /healthz. */
  lagSummary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, l] of Object.entries(this.source.lag())) out[name] = l.lag;
    return out;
  }

  async handle(req: QueryRequest): Promise<QueryReply> {
    const observe = this.observe;
    if (observe === undefined) return this.handleOnce(req);
    const t0 = performance.now();
    let code = 'INTERNAL';
    try {
      const reply = await this.handleOnce(req);
      code = reply.ok ? 'OK' : reply.error.code;
      return reply;
    } finally {
      observe(req.op, code, (performance.now() - t0) / 1000);
    }
  }

  private async handleOnce(req: QueryRequest): Promise<QueryReply> {
    this.stats.queries++;
    if (PUBLIC_OPS.has(req.op)) return this.answerQuery(req, 0, false);
    const now = this.nowMs();
    const auth = authenticate(this.keys, req.auth, req.target, req.body, now, this.windowMs);
    if (!auth.ok) return { ok: false, error: auth.error };
    const replay = this.replay.check(auth.replayKey, auth.tsMs, now);
    if (replay === 'replayed')
      return fail(
        QueryErrorCode.REPLAYED_REQUEST,
        ErrorReason.REQUEST_REPLAYED,
        'this signed request was already received',
      );
    if (replay === 'full')
      return fail(QueryErrorCode.OVERLOADED, ErrorReason.REPLAY_CACHE_ENTRIES_MAX, 'replay cache full', 1_000);
    return this.answerQuery(req, auth.account, auth.admin);
  }

  /** Decodes the parameters, waits for min_seq if asked, and answers (the caller is authenticated, or the op is public). */
  private async answerQuery(req: QueryRequest, caller: number, admin: boolean): Promise<QueryReply> {
    let params: Record<string, unknown>;
    try {
      params = req.params();
    } catch (err) {
      return fail(
        QueryErrorCode.INVALID_ARGUMENT,
        ErrorReason.MALFORMED_REQUEST,
        `cannot decode the request: ${(err as Error).message}`,
      );
    }
    try {
      const readAfter = this.readAfter(params);
      if (readAfter !== undefined) {
        const ok = await this.waitFor(readAfter.shard, readAfter.minSeq, readAfter.waitMs);
        if (ok === 'overloaded')
          return fail(
            QueryErrorCode.OVERLOADED,
            ErrorReason.READ_AFTER_WAITERS_MAX,
            `${READ_AFTER_WAITERS_MAX} queries already wait for their min_seq`,
            1_000,
          );
        if (!ok) {
          this.stats.notYetConsistent++;
          const v = this.source.model.visibleOf(readAfter.shard);
          return fail(
            QueryErrorCode.NOT_YET_CONSISTENT,
            ErrorReason.READ_AFTER_WAIT,
            `the read models hold shard ${readAfter.shard} up to seq ${v.seq}, not yet min_seq ${readAfter.minSeq} (waited ${readAfter.waitMs} ms); retry`,
            NOT_YET_CONSISTENT_RETRY_MS,
          );
        }
      }
      return this.answer(req.op, params, caller, admin);
    } catch (err) {
      if (err instanceof InvalidArgument)
        return {
          ok: false,
          error: { code: QueryErrorCode.INVALID_ARGUMENT, reason: err.reason, message: err.message, field: err.field },
        };
      throw err;
    }
  }

  private readAfter(params: Record<string, unknown>): { shard: number; minSeq: number; waitMs: number } | undefined {
    const nested = params.read_after;
    const p = typeof nested === 'object' && nested !== null ? (nested as Record<string, unknown>) : params;
    const minSeq = uint(p, 'min_seq');
    const shardGiven = uint(p, 'shard', 2 ** 32 - 1);
    const waitMs = uint(p, 'wait_ms', READ_AFTER_WAIT_MS_MAX);
    if (minSeq === undefined || minSeq === 0) return undefined;
    let shard = shardGiven;
    if (shard === undefined || (shard === 0 && !this.shards.includes(0))) {
      if (this.shards.length !== 1)
        invalid(ErrorReason.FIELD_MISSING, 'shard', 'shard is required with min_seq on an exchange of several shards');
      shard = this.shards[0]!;
    }
    if (!this.shards.includes(shard)) invalid(ErrorReason.UNKNOWN_SHARD, 'shard', `no shard ${shard}`);
    return { shard, minSeq, waitMs: waitMs === undefined || waitMs === 0 ? READ_AFTER_WAIT_MS_DEFAULT : waitMs };
  }

  private waitFor(shard: number, minSeq: number, waitMs: number): Promise<boolean | 'overloaded'> {
    if (this.source.model.visibleOf(shard).seq >= minSeq) return Promise.resolve(true);
    if (this.waiters.size >= READ_AFTER_WAITERS_MAX) return Promise.resolve('overloaded');
    this.stats.waited++;
    return new Promise((resolve) => {
      const w: Waiter = {
        shard,
        seq: minSeq,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          resolve(false);
        }, waitMs),
      };
      this.waiters.add(w);
    });
  }

  /** The account a per-account query is about: the path's (or request's) account, which must be the caller's unless admin. */
  private account(params: Record<string, unknown>, caller: number, admin: boolean): number | QueryError {
    const a = uint(params, 'account');
    if (a === undefined || a < 1) invalid(ErrorReason.INVALID_INTEGER, 'account', 'account must be a positive integer');
    if (!admin && a !== caller)
      return {
        code: QueryErrorCode.PERMISSION_DENIED,
        reason: ErrorReason.ACCOUNT_OF_ANOTHER_KEY,
        message: `this key belongs to account ${caller}, not ${a}`,
      };
    return a;
  }

  /** An account's positions and balances, notionals as decimal strings of units, each with its `_decimal` strings. */
  private positionsOut(m: ReadModels, account: number): { positions: unknown[]; balances: unknown[] } {
    const views = m.positionsOf(account);
    const positions = views.map((p) => {
      const out: Record<string, unknown> = {
        symbol: p.symbol,
        position_qty: p.position_qty,
        bought_qty: p.bought_qty,
        sold_qty: p.sold_qty,
        buy_notional: p.buy_notional.toString(),
        sell_notional: p.sell_notional.toString(),
        cash: p.cash.toString(),
        fill_count: p.fill_count,
      };
      const d = this.decimalsOf(p.symbol);
      return d === undefined ? out : Object.assign(out, positionDecimals(p, d));
    });
    const cashDecimals = balanceCashDecimals(views, quoteOf, this.decimalsOf);
    const balances = m.balancesOf(account).map((b) => {
      const cashDecimal = cashDecimals.get(b.currency);
      return {
        currency: b.currency,
        cash: b.cash.toString(),
        ...(cashDecimal === undefined ? {} : { cash_decimal: cashDecimal }),
      };
    });
    return { positions, balances };
  }

  private answer(op: QueryOp, params: Record<string, unknown>, caller: number, admin: boolean): QueryReply {
    const m = this.source.model;
    const as_of = this.asOf();
    switch (op) {
      case QueryOp.GET_ORDERS: {
        const account = this.account(params, caller, admin);
        if (typeof account !== 'number') return { ok: false, error: account };
        const clientOrderId = str(params, 'client_order_id', 64);
        if (clientOrderId !== undefined) {
          const o = m.orderByClientOrderId(account, clientOrderId);
          return { ok: true, body: { orders: o === undefined ? [] : [orderOut(o, this.decimalsOf)], as_of } };
        }
        const all = allOrders(params);
        const orders = (all ? m.ordersOf(account) : m.openOrdersOf(account)).slice(0, ORDERS_LIMIT_MAX);
        return { ok: true, body: { orders: orders.map((o) => orderOut(o, this.decimalsOf)), as_of } };
      }
      case QueryOp.GET_ORDER: {
        const id = uint(params, 'order_id');
        if (id === undefined || id < 1)
          invalid(ErrorReason.INVALID_ORDER_ID, 'order_id', 'order_id must be a positive integer');
        const o = m.order(id);
        if (o === undefined)
          return orderError(
            QueryErrorCode.NOT_FOUND,
            'ORDER_NOT_FOUND',
            id,
            'not in the read model (unknown, or finished long ago)',
          );
        if (!admin && o.account !== caller)
          return orderError(
            QueryErrorCode.PERMISSION_DENIED,
            ErrorReason.ORDER_OF_ANOTHER_ACCOUNT,
            id,
            'belongs to another account',
          );
        return { ok: true, body: { order: orderOut(o, this.decimalsOf), as_of } };
      }
      case QueryOp.GET_FILLS: {
        const account = this.account(params, caller, admin);
        if (typeof account !== 'number') return { ok: false, error: account };
        const limit = uint(params, 'limit', FILLS_PER_ACCOUNT_MAX) || FILLS_LIMIT_DEFAULT;
        const f = m.fillsOf(account, limit);
        const fills = f.fills.map((x) => fillOut(x, this.decimalsOf(x.symbol)));
        return { ok: true, body: { fills, total: f.total, as_of } };
      }
      case QueryOp.GET_POSITIONS: {
        const account = this.account(params, caller, admin);
        if (typeof account !== 'number') return { ok: false, error: account };
        return { ok: true, body: { ...this.positionsOut(m, account), as_of } };
      }
      case QueryOp.GET_CANDLES: {
        const symbol = symbolParam(params);
        const interval = intervalParam(params);
        const limit = uint(params, 'limit', CANDLES_LIMIT_MAX) || CANDLES_LIMIT_DEFAULT;
        const candles = candlesOut(m.candlesOf(symbol, interval, limit), this.decimalsOf(symbol));
        return { ok: true, body: { symbol, interval, candles, as_of } };
      }
      case QueryOp.MARKET_TRADES: {
        const symbol = symbolParam(params);
        const limit = uint(params, 'limit', PUBLIC_TRADES_LIMIT_MAX) || PUBLIC_TRADES_LIMIT_DEFAULT;
        const d = this.decimalsOf(symbol);
        return {
          ok: true,
          body: { symbol, trades: m.tradesOf(symbol, limit).map((t) => publicTradeOut(t, d)), as_of },
        };
      }
      case QueryOp.MARKET_CANDLES:
        return { ok: true, body: { ...marketCandles(m, params, this.decimalsOf), as_of } };
      case QueryOp.MARKET_TICKER: {
        const ticker = m.tickerOf(symbolParam(params));
        const d = this.decimalsOf(ticker.symbol);
        return { ok: true, body: { ...ticker, ...(d === undefined ? {} : tickerDecimals(ticker, d)), as_of } };
      }
      case QueryOp.GET_LAG: {
        const read_models = Object.entries(this.source.lag()).map(([read_model, l]) => ({
          read_model,
          lag: l.lag,
          partitions: l.partitions,
        }));
        return { ok: true, body: { read_models, as_of } };
      }
    }
  }
}
