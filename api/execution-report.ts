// The execution report as the edges show it, mapped from the engine's ExecReport
// (engine/types.ts) in one place: reportFields below. Its users:
//   - the gateway's replies and session pushes (toReport: the fields, enums as names, plus the
//     per-session chain and signature fields the gateway fills in);
//   - the event records on Kafka (events/codec.ts execRecordOf: the fields, enums as the
//     engine's codes — the proto numbers — plus where the event comes from);
//   - the audit's export and replay, the chaos checker and the benchmarks, which regenerate
//     what the gateway sent.
// Field names are the protobuf names (ExecutionReport in proto/exchange/v1/order_entry.proto,
// ExecutionReportEvent in events.proto), in the messages' order; REST's JSON uses the same.

import { AVG_PX_DECIMALS, avgPx } from '../engine/avg-px.js';
import { ENUM_NAMES, reasonName } from '../engine/json-codec.js';
import type { Notional } from '../engine/notional.js';
import type { ExecReport } from '../engine/types.js';
import { formatUnits, shiftPoint } from './decimal.js';
import { toGlobalOrderId } from './order-ids.js';

/** The fields of an execution report, enums as E: their names (the API) or the engine's codes (event records). */
export interface ExecutionReportFields<E> {
  exec_id: number;
  /** Global: shard × 2^44 + the engine's order id (api/order-ids.ts). */
  order_id: number;
  client_order_id: string;
  orig_client_order_id: string;
  account: number;
  symbol: string;
  side: E;
  order_type: E;
  /** The order's time in force (FIX TimeInForce, tag 59); '' / 0 when none (a REJECTED report of a command without a valid one). */
  time_in_force: E;
  exec_type: E;
  order_status: E;
  price: number;
  stop_price: number;
  order_qty: number;
  cum_qty: number;
  leaves_qty: number;
  last_qty: number;
  last_px: number;
  /**
   * Price × quantity summed over the fills, in price units × quantity units, exact (engine/notional.ts):
   * a number up to Number.MAX_SAFE_INTEGER, a bigint above (only a wide instrument's, maxPrice ×
   * maxQty ≥ 2^53), at most NOTIONAL_MAX (api/limits.ts). JSON writes a bigint as its exact integer
   * literal (api/json-exact.ts), protobuf as the uint64 it is.
   */
  cum_notional: Notional;
  /** FIX AvgPx (tag 6): cum_notional / cum_qty in price units, an exact decimal string with 8 decimals, rounded half to even (engine/avg-px.ts); "0.00000000" before any fill. */
  avg_px: string;
  display_qty: number;
  /** The engine's reason name (engine/README.md), empty if none. */
  reason: string;
  trade_id: number;
  /** FIX LastLiquidityInd (tag 851) on TRADE reports: ADDED_LIQUIDITY (maker) / REMOVED_LIQUIDITY (taker); '' / 0 on every other report. */
  last_liquidity_ind: E;
  seq: number;
  ts_us: number;
}

/**
 * The report's prices and quantities as exact decimal strings in the instrument's display units
 * (api/decimal.ts): `*_decimal` beside each integer field. Derived from the integers and the
 * instrument's priceDecimals / qtyDecimals, so they are not in the signed canonical form
 * (docs/report-signatures.md): signatures, the chain and the audit are unchanged by them.
 * cum_notional_decimal has price + quantity decimals; avg_px_decimal is avg_px (8 decimals in
 * price units) in display units, so it has price decimals + 8.
 */
export interface ReportDecimals {
  price_decimal: string;
  stop_price_decimal: string;
  order_qty_decimal: string;
  cum_qty_decimal: string;
  leaves_qty_decimal: string;
  last_qty_decimal: string;
  last_px_decimal: string;
  cum_notional_decimal: string;
  avg_px_decimal: string;
  display_qty_decimal: string;
}

/** An instrument's display decimals (engine InstrumentConfig has them). */
export interface InstrumentDecimals {
  priceDecimals: number;
  qtyDecimals: number;
}

/**
 * Execution report as the API returns it (JSON and protobuf share the names). Enums are the proto
 * names without prefix in JSON ("BUY", "LIMIT", "NEW"…). The gateway always adds the decimal
 * strings (withDecimals); they are absent only for a symbol it does not know.
 */
export interface ExecutionReportOut extends ExecutionReportFields<string>, Partial<ReportDecimals> {
  chain_seq: number;
  chain_hash: string;
  signature: string;
}

/** Sets the decimal strings of report `r` (ReportDecimals) from its integers; returns r. */
export function withDecimals<R extends ExecutionReportFields<unknown> & Partial<ReportDecimals>>(
  r: R,
  d: InstrumentDecimals,
): R {
  const p = d.priceDecimals;
  const q = d.qtyDecimals;
  r.price_decimal = formatUnits(r.price, p);
  r.stop_price_decimal = formatUnits(r.stop_price, p);
  r.order_qty_decimal = formatUnits(r.order_qty, q);
  r.cum_qty_decimal = formatUnits(r.cum_qty, q);
  r.leaves_qty_decimal = formatUnits(r.leaves_qty, q);
  r.last_qty_decimal = formatUnits(r.last_qty, q);
  r.last_px_decimal = formatUnits(r.last_px, p);
  r.cum_notional_decimal = formatUnits(r.cum_notional, p + q);
  r.avg_px_decimal = shiftPoint(r.avg_px, AVG_PX_DECIMALS, AVG_PX_DECIMALS + p);
  r.display_qty_decimal = formatUnits(r.display_qty, q);
  return r;
}

/**
 * What a sequenced command did (OrderResult in proto/exchange/v1/order_entry.proto): its sequence
 * number in its shard, the Raft index of the entry holding it, and the requester's execution
 * reports. A success's `result`; also carried by the error of a command the engine refused after
 * sequencing (GatewayError.result), so that its reports reach the client too.
 */
export interface OrderResultOut {
  seq: number;
  log_index: number;
  shard: number;
  reports: ExecutionReportOut[];
}

/** How a report's enum fields are written, from the engine's codes. */
export interface EnumWriter<E> {
  side(code: number): E;
  ordType(code: number): E;
  execType(code: number): E;
  ordStatus(code: number): E;
  tif(code: number): E;
  liquidity(code: number): E;
}

/** Enums as their names without the proto prefix ('' for a code without one): the API's reports, the canonical form. */
export const ENUMS_AS_NAMES: EnumWriter<string> = {
  side: (code) => ENUM_NAMES.side.get(code) ?? '',
  ordType: (code) => ENUM_NAMES.ordType.get(code) ?? '',
  execType: (code) => ENUM_NAMES.execType.get(code) ?? '',
  ordStatus: (code) => ENUM_NAMES.ordStatus.get(code) ?? '',
  tif: (code) => ENUM_NAMES.tif.get(code) ?? '',
  liquidity: (code) => ENUM_NAMES.liquidity.get(code) ?? '',
};

const same = (code: number): number => code;
/** Enums as the engine's codes, which are the proto enums' numbers (events/codec.ts checks it): the event records. */
export const ENUMS_AS_CODES: EnumWriter<number> = {
  side: same,
  ordType: same,
  execType: same,
  ordStatus: same,
  tif: same,
  liquidity: same,
};

/** A report's reason: '' for none (0), else the engine's reason name. */
export function reasonText(code: number): string {
  return code === 0 ? '' : reasonName(code);
}

/**
 * The report fields of engine exec report `e` of shard `shard`: the one field-by-field mapping.
 * With the instrument's decimals `d`, the decimal strings (ReportDecimals) too; without, they
 * are undefined (JSON and protobuf leave them out).
 */
export function reportFields<E>(
  shard: number,
  e: ExecReport,
  enums: EnumWriter<E>,
  d?: InstrumentDecimals,
): ExecutionReportFields<E> & Partial<ReportDecimals> {
  const avg = avgPx(e.cumNotional, e.cumQty);
  const p = d === undefined ? NONE : d.priceDecimals;
  const q = d === undefined ? NONE : d.qtyDecimals;
  // One object literal with every field, the decimal strings included: adding them to the
  // object afterwards (13 more properties, 13 hidden-class transitions) cost as much as the
  // whole mapping again on the gateway's reply path.
  return {
    exec_id: e.execId,
    order_id: toGlobalOrderId(shard, e.orderId),
    client_order_id: e.clOrdId,
    orig_client_order_id: e.origClOrdId ?? '',
    account: e.account,
    symbol: e.symbol,
    side: enums.side(e.side),
    order_type: enums.ordType(e.ordType),
    time_in_force: enums.tif(e.tif),
    exec_type: enums.execType(e.execType),
    order_status: enums.ordStatus(e.ordStatus),
    price: e.price,
    stop_price: e.stopPrice,
    order_qty: e.orderQty,
    cum_qty: e.cumQty,
    leaves_qty: e.leavesQty,
    last_qty: e.lastQty,
    last_px: e.lastPx,
    cum_notional: e.cumNotional,
    avg_px: avg,
    display_qty: e.displayQty,
    reason: reasonText(e.reason),
    trade_id: e.tradeId,
    last_liquidity_ind: enums.liquidity(e.lastLiquidityInd),
    seq: e.seq,
    ts_us: e.tsUs,
    price_decimal: decimal(e.price, p),
    stop_price_decimal: decimal(e.stopPrice, p),
    order_qty_decimal: decimal(e.orderQty, q),
    cum_qty_decimal: decimal(e.cumQty, q),
    leaves_qty_decimal: decimal(e.leavesQty, q),
    last_qty_decimal: decimal(e.lastQty, q),
    last_px_decimal: decimal(e.lastPx, p),
    cum_notional_decimal: decimal(e.cumNotional, p === NONE ? NONE : p + q),
    avg_px_decimal: p === NONE ? undefined : shiftPoint(avg, AVG_PX_DECIMALS, AVG_PX_DECIMALS + p),
    display_qty_decimal: decimal(e.displayQty, q),
  };
}

/** No instrument decimals: the decimal strings are left undefined. */
const NONE = -1;

function decimal(units: number | bigint, decimals: number): string | undefined {
  return decimals === NONE ? undefined : formatUnits(units, decimals);
}

/** The report the gateway sends for `e`, its chain and signature fields still empty (the gateway fills them in). */
export function toReport(shard: number, e: ExecReport, decimals?: InstrumentDecimals): ExecutionReportOut {
  // Fields added to the mapping's object, not spread into a new one: a spread copy of this
  // object costs ~50× the mapping itself in V8. (Three transitions; the decimals are in the literal.)
  const r = reportFields(shard, e, ENUMS_AS_NAMES, decimals) as ExecutionReportOut;
  r.chain_seq = 0;
  r.chain_hash = '';
  r.signature = '';
  return r;
}
