// Gateway results → FIX application messages: ExecutionReport (8), OrderCancelReject (9),
// OrderMassCancelReport (r), BusinessMessageReject (j). Pure: no I/O. Prices and quantities are
// the reports' exact `_decimal` strings (api/execution-report.ts), written unchanged. Each
// mapping table is here once; fix/README.md ("Tag mapping") documents them.

import type { GatewayError } from '../api/errors.js';
import type { ExecutionReportOut } from '../api/execution-report.js';
import { fromGlobalOrderId } from '../api/order-ids.js';
import type { OrderOut } from '../gateway/types.js';
import { AppTag } from './app-orders.js';
import { FIX_TEXT_MAX_CHARS } from './limits.js';
import { type FixField, type FixMessage, MsgType, type OutgoingFix, Tag, fieldOf } from './message.js';

/** 150 ExecType from the report's exec_type (FIX 4.4 has no "triggered": a stop's trigger is a restatement, 150=D with 378=99). */
export const EXEC_TYPE_OUT: Readonly<Record<string, string>> = {
  NEW: '0',
  TRADE: 'F',
  CANCELED: '4',
  REPLACED: '5',
  REJECTED: '8',
  EXPIRED: 'C',
  TRIGGERED: 'D',
  RESTATED: 'D',
};
/** 150=I: the answer to an OrderStatusRequest. */
export const EXEC_TYPE_ORDER_STATUS = 'I';

/**
 * 39 OrdStatus from the order status. PENDING_TRIGGER (a stop order waiting in the stop book) is
 * 0 New: the exchange has accepted it and it is working as a stop (FIX 4.4 has no "untriggered";
 * A PendingNew would say the exchange has not acknowledged it, which is false). ENDED (GetOrder
 * only: the book no longer holds it, its final report never reached this gateway) is 3
 * DoneForDay: no further executions, without claiming filled or canceled.
 */
export const ORD_STATUS_OUT: Readonly<Record<string, string>> = {
  NEW: '0',
  PARTIALLY_FILLED: '1',
  FILLED: '2',
  CANCELED: '4',
  REJECTED: '8',
  EXPIRED: 'C',
  PENDING_TRIGGER: '0',
  ENDED: '3',
};
const ORD_STATUS_REJECTED = '8';

export const SIDE_OUT: Readonly<Record<string, string>> = { BUY: '1', SELL: '2' };
export const ORD_TYPE_OUT: Readonly<Record<string, string>> = {
  MARKET: '1',
  LIMIT: '2',
  STOP_MARKET: '3',
  STOP_LIMIT: '4',
};
export const TIF_OUT: Readonly<Record<string, string>> = { DAY: '0', GTC: '1', IOC: '3', FOK: '4', GTD: '6' };
/** 851 LastLiquidityInd. */
const LIQUIDITY_OUT: Readonly<Record<string, string>> = { ADDED_LIQUIDITY: '1', REMOVED_LIQUIDITY: '2' };

/** 103 OrdRejReason from the engine's reject reason or the gateway's error reason / code. */
const ORD_REJ_REASON: Readonly<Record<string, string>> = {
  UNKNOWN_INSTRUMENT: '1',
  INSTRUMENT_HALTED: '2',
  QUANTITY_ABOVE_MAX: '3',
  PRICE_OUT_OF_BAND: '3',
  RISK_MAX_QTY: '3',
  RISK_MAX_NOTIONAL: '3',
  RISK_MAX_OPEN_ORDERS: '3',
  RISK_PRICE_BAND: '3',
  DUPLICATE_CLIENT_ORDER_ID: '6',
  INVALID_QUANTITY: '13',
  QUANTITY_NOT_LOT_MULTIPLE: '13',
  QUANTITY_BELOW_MIN: '13',
  INVALID_QTY_PRECISION: '13',
  INVALID_ACCOUNT: '15',
  ACCOUNT_BLOCKED: '15',
  POST_ONLY_WOULD_CROSS: '11',
  INVALID_POST_ONLY: '11',
  INVALID_STP_MODE: '11',
};
const ORD_REJ_OTHER = '99';

/** 102 CxlRejReason from the gateway's error reason. */
const CXL_REJ_REASON: Readonly<Record<string, string>> = {
  ORDER_NOT_FOUND: '1',
  ORDER_OF_ANOTHER_ACCOUNT: '1',
  DUPLICATE_CLIENT_ORDER_ID: '6',
};
const CXL_REJ_OTHER = '99';
/** 434 CxlRejResponseTo. */
export const CXL_REJ_TO_CANCEL = '1';
export const CXL_REJ_TO_REPLACE = '2';

/** 532 MassCancelRejectReason: 0 not supported, 1 unknown security, 99 other. */
export const MASS_CANCEL_REJ_NOT_SUPPORTED = '0';
export const MASS_CANCEL_REJ_UNKNOWN_SECURITY = '1';
export const MASS_CANCEL_REJ_OTHER = '99';
/** 531 MassCancelResponse: 0 rejected; else the 530 type it executed. */
const MASS_CANCEL_REJECTED = '0';

/** A gateway error, or a refusal of the application's own (its reason a FIX_* name). */
export type ErrorLike = Pick<GatewayError, 'code' | 'message'> & { reason: string };

/** 58 Text of a gateway error: `CODE (REASON): message`, at most FIX_TEXT_MAX_CHARS. */
export function errorText(e: ErrorLike): string {
  return clip(`${e.code} (${e.reason}): ${e.message}`);
}

export function clip(text: string): string {
  // FIX text is latin1 on the wire; a character outside it would not survive the codec.
  const safe = text.replace(/[^\x20-\x7e]/g, '?');
  return safe.length <= FIX_TEXT_MAX_CHARS ? safe : safe.slice(0, FIX_TEXT_MAX_CHARS);
}

/** 60 TransactTime (UTCTimestamp, milliseconds: FIX 4.4's precision) from microseconds since the epoch. */
export function utcTimestamp(us: number): string {
  const iso = new Date(Math.floor(us / 1000)).toISOString(); // 2026-12-07T15:04:05.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 23)}`;
}

/** 17 ExecID: exec ids are per shard, so the shard is part of it. */
export function execIdOf(r: Pick<ExecutionReportOut, 'order_id' | 'exec_id'>): string {
  return `${fromGlobalOrderId(r.order_id).shard}-${r.exec_id}`;
}

function push(body: FixField[], tag: number, v: string | undefined): void {
  if (v !== undefined && v !== '') body.push([tag, v]);
}

/** What an ExecutionReport echoes of the request it answers (F: its ClOrdID, the order's as 41). */
export interface ReportEcho {
  clOrdId?: string;
  origClOrdId?: string;
  text?: string;
}

/** What a report and GetOrder's order both say about the order itself. */
type OrderDescription = Pick<
  ExecutionReportOut & OrderOut,
  | 'account'
  | 'symbol'
  | 'side'
  | 'order_type'
  | 'time_in_force'
  | 'price'
  | 'price_decimal'
  | 'stop_price'
  | 'stop_price_decimal'
  | 'order_qty'
  | 'order_qty_decimal'
  | 'display_qty'
  | 'display_qty_decimal'
>;

/** The order fields every ExecutionReport of an order carries (a report's, or a status answer's). */
function orderFields(r: OrderDescription, body: FixField[]): void {
  push(body, AppTag.Account, String(r.account));
  push(body, AppTag.Symbol, r.symbol);
  push(body, AppTag.Side, SIDE_OUT[r.side]);
  push(body, AppTag.OrdType, ORD_TYPE_OUT[r.order_type]);
  push(body, AppTag.TimeInForce, TIF_OUT[r.time_in_force]);
  if (r.price > 0) push(body, AppTag.Price, r.price_decimal);
  if (r.stop_price > 0) push(body, AppTag.StopPx, r.stop_price_decimal);
  push(body, AppTag.OrderQty, r.order_qty_decimal ?? String(r.order_qty));
  if (r.display_qty > 0) push(body, AppTag.MaxFloor, r.display_qty_decimal);
}

/** ExecutionReport (8) of one gateway report. */
export function executionReport(r: ExecutionReportOut, echo: ReportEcho = {}): OutgoingFix {
  const body: FixField[] = [];
  push(body, AppTag.OrderID, r.order_id > 0 ? String(r.order_id) : 'NONE');
  push(body, AppTag.ClOrdID, echo.clOrdId ?? r.client_order_id);
  push(body, AppTag.OrigClOrdID, echo.origClOrdId ?? r.orig_client_order_id);
  push(body, AppTag.ExecID, execIdOf(r));
  const execType = EXEC_TYPE_OUT[r.exec_type] ?? 'D';
  push(body, AppTag.ExecType, execType);
  if (execType === 'D') push(body, AppTag.ExecRestatementReason, '99');
  push(body, AppTag.OrdStatus, ORD_STATUS_OUT[r.order_status] ?? ORD_STATUS_REJECTED);
  if (r.exec_type === 'REJECTED') push(body, AppTag.OrdRejReason, ORD_REJ_REASON[r.reason] ?? ORD_REJ_OTHER);
  orderFields(r, body);
  push(body, AppTag.CumQty, r.cum_qty_decimal ?? String(r.cum_qty));
  push(body, AppTag.LeavesQty, r.leaves_qty_decimal ?? String(r.leaves_qty));
  push(body, AppTag.AvgPx, r.avg_px_decimal ?? r.avg_px);
  if (r.exec_type === 'TRADE') {
    push(body, AppTag.LastQty, r.last_qty_decimal);
    push(body, AppTag.LastPx, r.last_px_decimal);
    push(body, AppTag.SecondaryExecID, String(r.trade_id));
    push(body, AppTag.LastLiquidityInd, LIQUIDITY_OUT[r.last_liquidity_ind]);
  }
  push(body, AppTag.TransactTime, utcTimestamp(r.ts_us));
  push(body, Tag.Text, echo.text ?? (r.reason === '' ? undefined : r.reason));
  return { msgType: MsgType.ExecutionReport, body };
}

/** ExecutionReport 150=8 39=8 for a NewOrderSingle refused before the engine saw it (no order id: 37=NONE). */
export function orderRejectedReport(msg: FixMessage, execId: string, error: ErrorLike): OutgoingFix {
  const body: FixField[] = [];
  push(body, AppTag.OrderID, 'NONE');
  push(body, AppTag.ClOrdID, fieldOf(msg, AppTag.ClOrdID));
  push(body, AppTag.ExecID, execId);
  push(body, AppTag.ExecType, '8');
  push(body, AppTag.OrdStatus, ORD_STATUS_REJECTED);
  push(body, AppTag.OrdRejReason, ORD_REJ_REASON[error.reason] ?? ORD_REJ_REASON[error.code] ?? ORD_REJ_OTHER);
  for (const tag of [
    AppTag.Account,
    AppTag.Symbol,
    AppTag.Side,
    AppTag.OrdType,
    AppTag.Price,
    AppTag.StopPx,
    AppTag.OrderQty,
  ])
    push(body, tag, fieldOf(msg, tag));
  push(body, AppTag.CumQty, '0');
  push(body, AppTag.LeavesQty, '0');
  push(body, AppTag.AvgPx, '0');
  push(body, AppTag.TransactTime, utcTimestamp(Date.now() * 1000));
  push(body, Tag.Text, errorText(error));
  return { msgType: MsgType.ExecutionReport, body };
}

/** ExecutionReport 150=I answering an OrderStatusRequest (790 echoed) from GetOrder's order. */
export function orderStatusReport(msg: FixMessage, execId: string, o: OrderOut): OutgoingFix {
  const body: FixField[] = [];
  push(body, AppTag.OrderID, String(o.order_id));
  push(body, AppTag.ClOrdID, o.client_order_id);
  push(body, AppTag.ExecID, execId);
  push(body, AppTag.ExecType, EXEC_TYPE_ORDER_STATUS);
  push(body, AppTag.OrdStatus, ORD_STATUS_OUT[o.order_status] ?? ORD_STATUS_REJECTED);
  orderFields(o, body);
  push(body, AppTag.CumQty, o.cum_qty_decimal ?? String(o.cum_qty));
  push(body, AppTag.LeavesQty, o.leaves_qty_decimal ?? String(o.leaves_qty));
  // GetOrder's Order has no average price; 0 is FIX's "not known here" (the fill reports carry it).
  push(body, AppTag.AvgPx, '0');
  push(body, AppTag.OrdStatusReqID, fieldOf(msg, AppTag.OrdStatusReqID));
  push(body, AppTag.TransactTime, utcTimestamp(Date.now() * 1000));
  if (o.order_status === 'ENDED')
    push(body, Tag.Text, 'ENDED: the order is no longer in the book; its final report did not reach this gateway');
  return { msgType: MsgType.ExecutionReport, body };
}

/** ExecutionReport 150=I 39=8 for an OrderStatusRequest the gateway could not answer (unknown order, …). */
export function orderStatusUnknown(msg: FixMessage, execId: string, error: ErrorLike): OutgoingFix {
  const body: FixField[] = [];
  push(body, AppTag.OrderID, fieldOf(msg, AppTag.OrderID) ?? 'NONE');
  push(body, AppTag.ClOrdID, fieldOf(msg, AppTag.ClOrdID));
  push(body, AppTag.ExecID, execId);
  push(body, AppTag.ExecType, EXEC_TYPE_ORDER_STATUS);
  push(body, AppTag.OrdStatus, ORD_STATUS_REJECTED);
  push(body, AppTag.OrdRejReason, error.code === 'NOT_FOUND' ? '5' : ORD_REJ_OTHER);
  push(body, AppTag.Symbol, fieldOf(msg, AppTag.Symbol));
  push(body, AppTag.Side, fieldOf(msg, AppTag.Side));
  push(body, AppTag.CumQty, '0');
  push(body, AppTag.LeavesQty, '0');
  push(body, AppTag.AvgPx, '0');
  push(body, AppTag.OrdStatusReqID, fieldOf(msg, AppTag.OrdStatusReqID));
  push(body, Tag.Text, errorText(error));
  return { msgType: MsgType.ExecutionReport, body };
}

/** OrderCancelReject (9) of a refused F (434=1) or G (434=2). 39 is 8: the order's own status is not known to a refusal. */
export function cancelReject(msg: FixMessage, responseTo: string, error: ErrorLike): OutgoingFix {
  const body: FixField[] = [];
  push(body, AppTag.OrderID, fieldOf(msg, AppTag.OrderID) ?? 'NONE');
  push(body, AppTag.ClOrdID, fieldOf(msg, AppTag.ClOrdID) ?? 'NONE');
  push(body, AppTag.OrigClOrdID, fieldOf(msg, AppTag.OrigClOrdID) ?? 'NONE');
  push(body, AppTag.OrdStatus, ORD_STATUS_REJECTED);
  push(body, AppTag.CxlRejResponseTo, responseTo);
  push(body, AppTag.CxlRejReason, CXL_REJ_REASON[error.reason] ?? CXL_REJ_OTHER);
  push(body, Tag.Text, errorText(error));
  return { msgType: MsgType.OrderCancelReject, body };
}

/** OrderMassCancelReport (r): accepted (531 = the 530 type, 533 = orders canceled) or rejected (531=0, 532). */
export function massCancelReport(
  msg: FixMessage,
  reportId: string,
  outcome: { canceled: number } | { rejectReason: string; text: string },
): OutgoingFix {
  const body: FixField[] = [];
  push(body, AppTag.ClOrdID, fieldOf(msg, AppTag.ClOrdID));
  push(body, AppTag.OrderID, reportId);
  push(body, AppTag.MassCancelRequestType, fieldOf(msg, AppTag.MassCancelRequestType));
  if ('canceled' in outcome) {
    push(body, AppTag.MassCancelResponse, fieldOf(msg, AppTag.MassCancelRequestType));
    push(body, AppTag.TotalAffectedOrders, String(outcome.canceled));
  } else {
    push(body, AppTag.MassCancelResponse, MASS_CANCEL_REJECTED);
    push(body, AppTag.MassCancelRejectReason, outcome.rejectReason);
    push(body, Tag.Text, clip(outcome.text));
  }
  push(body, AppTag.Symbol, fieldOf(msg, AppTag.Symbol));
  push(body, AppTag.Side, fieldOf(msg, AppTag.Side));
  return { msgType: MsgType.OrderMassCancelReport, body };
}

/** BusinessMessageReject (j) of an application message: 45 its MsgSeqNum, 372 its MsgType, 380, 58. */
export function businessReject(msg: FixMessage, reason: number, text: string): OutgoingFix {
  const body: FixField[] = [];
  push(body, Tag.RefSeqNum, fieldOf(msg, Tag.MsgSeqNum));
  push(body, Tag.RefMsgType, msg.msgType);
  push(body, Tag.BusinessRejectRefID, fieldOf(msg, AppTag.ClOrdID));
  push(body, Tag.BusinessRejectReason, String(reason));
  push(body, Tag.Text, clip(text));
  return { msgType: MsgType.BusinessMessageReject, body };
}
