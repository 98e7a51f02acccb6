// JSON at the edge: commands with string enums in, events with string enums out.
// The codec only translates names; every check of values is the engine's, so a bad
// field becomes the same reject event whichever adapter it came through.

import { avgPx } from './avg-px.js';
import { notionalJson } from './notional.js';
import {
  CxlRejResponseTo,
  ExecType,
  InstrumentStatus,
  LiquidityInd,
  OrdStatus,
  OrdType,
  PostOnly,
  Reason,
  Side,
  Stp,
  Tif,
  type Command,
  type EngineEvent,
  type ShardConfig,
} from './types.js';

const INVALID = -1;

function invert<T extends Record<string, number>>(o: T): Map<number, string> {
  return new Map(Object.entries(o).map(([k, v]) => [v, k]));
}

/** Numeric enum code → its name, per enum (the edges' one translation table). */
export const ENUM_NAMES = {
  side: invert(Side),
  ordType: invert(OrdType),
  tif: invert(Tif),
  postOnly: invert(PostOnly),
  stp: invert(Stp),
  execType: invert(ExecType),
  ordStatus: invert(OrdStatus),
  reason: invert(Reason),
  responseTo: invert(CxlRejResponseTo),
  instrumentStatus: invert(InstrumentStatus),
  liquidity: invert(LiquidityInd),
};

export function reasonName(reason: number): string {
  return ENUM_NAMES.reason.get(reason) ?? `REASON_${reason}`;
}

/** Enum fields of commands: JSON name → numeric code (unknown names become INVALID, which the engine rejects). */
const ENUM_FIELDS: Record<string, Record<string, number>> = {
  side: Side,
  ordType: OrdType,
  tif: Tif,
  postOnly: PostOnly,
  stp: Stp,
};

/**
 * Translates a parsed JSON value into a Command. Returns an error only when the value is
 * not an object or has no string `type`; every other problem is left to the engine.
 */
export function commandFromJson(value: unknown): Command | { error: Reason; command: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { error: Reason.MALFORMED_COMMAND, command: 'unknown' };
  const raw = value as Record<string, unknown>;
  if (typeof raw.type !== 'string') return { error: Reason.MALFORMED_COMMAND, command: 'unknown' };
  const cmd: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) {
    const v = raw[key];
    if (v === null || v === undefined || key === '__proto__') continue; // null means absent
    const names = ENUM_FIELDS[key];
    if (names !== undefined && key !== 'type')
      cmd[key] = typeof v === 'string' && Object.hasOwn(names, v) ? names[v] : INVALID;
    else cmd[key] = v;
  }
  return cmd as unknown as Command;
}

/** Event → one JSON line (stable key order; enums as names; avgPx derived: the exact decimal string of avg-px.ts). */
export function eventToJson(e: EngineEvent): string {
  switch (e.kind) {
    case 'exec':
      return JSON.stringify({
        kind: e.kind,
        seq: e.seq,
        tsUs: e.tsUs,
        execId: e.execId,
        orderId: e.orderId,
        clOrdId: e.clOrdId,
        ...(e.origClOrdId !== undefined ? { origClOrdId: e.origClOrdId } : {}),
        account: e.account,
        symbol: e.symbol,
        side: ENUM_NAMES.side.get(e.side) ?? null,
        ordType: ENUM_NAMES.ordType.get(e.ordType) ?? null,
        tif: ENUM_NAMES.tif.get(e.tif) ?? null,
        execType: ENUM_NAMES.execType.get(e.execType),
        ordStatus: ENUM_NAMES.ordStatus.get(e.ordStatus),
        price: e.price,
        stopPrice: e.stopPrice,
        orderQty: e.orderQty,
        cumQty: e.cumQty,
        leavesQty: e.leavesQty,
        lastQty: e.lastQty,
        lastPx: e.lastPx,
        cumNotional: notionalJson(e.cumNotional),
        avgPx: avgPx(e.cumNotional, e.cumQty),
        displayQty: e.displayQty,
        reason: reasonName(e.reason),
        tradeId: e.tradeId,
        ...(e.lastLiquidityInd !== 0 ? { lastLiquidityInd: ENUM_NAMES.liquidity.get(e.lastLiquidityInd) } : {}),
      });
    case 'trade':
      return JSON.stringify({ ...e, aggressorSide: ENUM_NAMES.side.get(e.aggressorSide) });
    case 'book':
      return JSON.stringify({ ...e, side: ENUM_NAMES.side.get(e.side) });
    case 'cancel_reject':
      return JSON.stringify({
        ...e,
        responseTo: ENUM_NAMES.responseTo.get(e.responseTo),
        reason: reasonName(e.reason),
      });
    case 'mass_cancel':
      return JSON.stringify({ ...e, side: e.side === 0 ? null : ENUM_NAMES.side.get(e.side) });
    case 'instrument_status':
      return JSON.stringify({ ...e, status: ENUM_NAMES.instrumentStatus.get(e.status) });
    case 'account_status':
      return JSON.stringify({ ...e, stp: ENUM_NAMES.stp.get(e.stp) });
    case 'command_reject':
      return JSON.stringify({ ...e, reason: reasonName(e.reason) });
  }
}

/** Price in units → decimal string, for display only (exact: integer arithmetic on the digits). */
export function formatUnits(units: number, decimals: number): string {
  if (decimals === 0) return String(units);
  const negative = units < 0;
  const digits = String(Math.abs(units)).padStart(decimals + 1, '0');
  const text = `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
  return negative ? `-${text}` : text;
}

export function symbolDecimals(config: ShardConfig, symbol: string): { price: number; qty: number } {
  const i = config.instruments.find((x) => x.symbol === symbol);
  return { price: i?.priceDecimals ?? 0, qty: i?.qtyDecimals ?? 0 };
}
