// FIX application requests → the gateway's session commands (proto/exchange/v1/order_entry.proto
// SessionCommand, as plain objects with enum names). Pure: no I/O. Prices and quantities are FIX
// decimals in the instrument's display units and go unchanged into the `_decimal` fields, where
// the gateway checks them exactly (tick, lot, precision): no float ever holds them. What the
// gateway would refuse anyway (a bad client order id, a price off tick) is left to it, so that
// the answer carries its error code; what has no gateway field is refused here.
// The tag mapping is documented in fix/README.md ("Tag mapping").

import { parseUtcTimestamp } from './fields.js';
import { type FixMessage, fieldOf } from './message.js';

/** A request mapped to a command, or why not: `missing` (a conditionally required tag: BusinessMessageReject 380=5) or `invalid` (a value we do not support: the message type's own reject). */
export type Mapped<T> =
  | { ok: true; value: T }
  | { ok: false; kind: 'missing'; tag: number; text: string }
  | { ok: false; kind: 'invalid'; tag: number; text: string };

/** 54 Side. */
export const SIDE_IN: Readonly<Record<string, string>> = { '1': 'BUY', '2': 'SELL' };
/** 40 OrdType. */
export const ORD_TYPE_IN: Readonly<Record<string, string>> = {
  '1': 'MARKET',
  '2': 'LIMIT',
  '3': 'STOP_MARKET',
  '4': 'STOP_LIMIT',
};
/** 59 TimeInForce (absent: the gateway's default, GTC for limit and IOC for market orders). */
export const TIF_IN: Readonly<Record<string, string>> = { '0': 'DAY', '1': 'GTC', '3': 'IOC', '4': 'FOK', '6': 'GTD' };
/** 7928 SelfTradePrevention (custom; absent: the account's default). */
export const STP_IN: Readonly<Record<string, string>> = {
  N: 'NONE',
  T: 'EXPIRE_TAKER',
  M: 'EXPIRE_MAKER',
  B: 'EXPIRE_BOTH',
  D: 'DECREMENT_AND_CANCEL',
};
/** 18 ExecInst values understood: 6 = Participate don't initiate (post-only, rejected if it would cross). */
const EXEC_INST_POST_ONLY = '6';
/** 530 MassCancelRequestType values supported: 1 = by security (55), 7 = all orders. */
export const MASS_CANCEL_BY_SYMBOL = '1';
export const MASS_CANCEL_ALL = '7';

/** FIX tags the application reads and writes beyond the shared ones (fix/message.ts Tag). */
export const AppTag = {
  Account: 1,
  AvgPx: 6,
  ClOrdID: 11,
  CumQty: 14,
  ExecID: 17,
  ExecInst: 18,
  LastPx: 31,
  LastQty: 32,
  OrderID: 37,
  OrderQty: 38,
  OrdStatus: 39,
  OrdType: 40,
  OrigClOrdID: 41,
  Price: 44,
  Side: 54,
  Symbol: 55,
  TimeInForce: 59,
  TransactTime: 60,
  StopPx: 99,
  CxlRejReason: 102,
  OrdRejReason: 103,
  MaxFloor: 111,
  ExpireTime: 126,
  ExecType: 150,
  LeavesQty: 151,
  ExecRestatementReason: 378,
  CxlRejResponseTo: 434,
  MassCancelRequestType: 530,
  MassCancelResponse: 531,
  MassCancelRejectReason: 532,
  TotalAffectedOrders: 533,
  OrdStatusReqID: 790,
  LastLiquidityInd: 851,
  SecondaryExecID: 527,
  CancelOrdersOnDisconnect: 8013,
  SelfTradePrevention: 7928,
} as const;

const ORDER_ID_RE = /^[1-9][0-9]{0,15}$/;
/** A FIX UTCTimestamp as microseconds since the epoch (fix/fields.ts parses it exactly), or undefined. */
export function utcTimestampUs(text: string): number | undefined {
  const ms = parseUtcTimestamp(text);
  return ms === undefined ? undefined : ms * 1000;
}

function missing(
  tag: number,
  name: string,
  why = 'is required',
): { ok: false; kind: 'missing'; tag: number; text: string } {
  return { ok: false, kind: 'missing', tag, text: `${tag} ${name} ${why}` };
}

function invalid(tag: number, text: string): { ok: false; kind: 'invalid'; tag: number; text: string } {
  return { ok: false, kind: 'invalid', tag, text };
}

/** 1 Account, when given, must be the session's (a session trades for one account). */
function accountMismatch(msg: FixMessage, account: number): Mapped<never> | undefined {
  const a = fieldOf(msg, AppTag.Account);
  if (a === undefined || a === String(account)) return undefined;
  return invalid(AppTag.Account, `1 Account ${a} is not this session's account ${account}`);
}

/** An enum tag through its table; absent → undefined value (the caller decides whether it is required). */
function mapped(
  msg: FixMessage,
  tag: number,
  name: string,
  table: Readonly<Record<string, string>>,
): Mapped<string | undefined> {
  const v = fieldOf(msg, tag);
  if (v === undefined) return { ok: true, value: undefined };
  const out = Object.hasOwn(table, v) ? table[v] : undefined;
  if (out === undefined)
    return invalid(tag, `${tag} ${name}=${v} is not supported (supported: ${Object.keys(table).join(', ')})`);
  return { ok: true, value: out };
}

/** The optional order fields of a D: expire time, post-only, iceberg, STP. */
function placeOptions(msg: FixMessage, place: Record<string, unknown>): Mapped<never> | undefined {
  const expire = fieldOf(msg, AppTag.ExpireTime);
  if (expire !== undefined) {
    const us = utcTimestampUs(expire);
    if (us === undefined) return invalid(AppTag.ExpireTime, `126 ExpireTime ${expire} is not a UTCTimestamp`);
    place.expire_time_us = us;
  }
  const inst = fieldOf(msg, AppTag.ExecInst);
  if (inst !== undefined) {
    const values = inst.split(' ').filter((v) => v !== '');
    const other = values.find((v) => v !== EXEC_INST_POST_ONLY);
    if (other !== undefined)
      return invalid(AppTag.ExecInst, `18 ExecInst ${other} is not supported (supported: 6 post-only)`);
    if (values.length > 0) place.post_only = 'REJECT';
  }
  const floor = fieldOf(msg, AppTag.MaxFloor);
  if (floor !== undefined) place.display_quantity_decimal = floor;
  const stp = mapped(msg, AppTag.SelfTradePrevention, 'SelfTradePrevention', STP_IN);
  if (!stp.ok) return stp;
  if (stp.value !== undefined) place.self_trade_prevention = stp.value;
  return undefined;
}

/** D NewOrderSingle → `{place: PlaceOrderRequest}`. */
export function placeCommand(msg: FixMessage, account: number): Mapped<Record<string, unknown>> {
  const clOrdId = fieldOf(msg, AppTag.ClOrdID);
  if (clOrdId === undefined) return missing(AppTag.ClOrdID, 'ClOrdID');
  const symbol = fieldOf(msg, AppTag.Symbol);
  if (symbol === undefined) return missing(AppTag.Symbol, 'Symbol');
  const qty = fieldOf(msg, AppTag.OrderQty);
  if (qty === undefined) return missing(AppTag.OrderQty, 'OrderQty');
  const wrong = accountMismatch(msg, account);
  if (wrong !== undefined) return wrong;
  const side = mapped(msg, AppTag.Side, 'Side', SIDE_IN);
  if (!side.ok) return side;
  if (side.value === undefined) return missing(AppTag.Side, 'Side');
  const type = mapped(msg, AppTag.OrdType, 'OrdType', ORD_TYPE_IN);
  if (!type.ok) return type;
  if (type.value === undefined) return missing(AppTag.OrdType, 'OrdType');
  const tif = mapped(msg, AppTag.TimeInForce, 'TimeInForce', TIF_IN);
  if (!tif.ok) return tif;
  const place: Record<string, unknown> = {
    client_order_id: clOrdId,
    symbol,
    side: side.value,
    order_type: type.value,
    quantity_decimal: qty,
  };
  if (tif.value !== undefined) place.time_in_force = tif.value;
  const price = fieldOf(msg, AppTag.Price);
  if (price !== undefined) place.price_decimal = price;
  const stopPx = fieldOf(msg, AppTag.StopPx);
  if (stopPx !== undefined) place.stop_price_decimal = stopPx;
  const bad = placeOptions(msg, place);
  if (bad !== undefined) return bad;
  return { ok: true, value: { place } };
}

/** The order a F/G/H names: 37 OrderID (a global order id) if given, else 41 OrigClOrdID (F, G) / 11 ClOrdID (H), with 55 Symbol. */
function namedOrder(msg: FixMessage, clOrdTag: number, clOrdField: string): Mapped<Record<string, unknown>> {
  const orderId = fieldOf(msg, AppTag.OrderID);
  const symbol = fieldOf(msg, AppTag.Symbol);
  const named: Record<string, unknown> = symbol === undefined ? {} : { symbol };
  if (orderId !== undefined && orderId !== 'NONE') {
    if (!ORDER_ID_RE.test(orderId) || !Number.isSafeInteger(Number(orderId)))
      return invalid(AppTag.OrderID, `37 OrderID ${orderId} is not an order id of this exchange`);
    // The gateway takes either the order id or the client order id, not both.
    return { ok: true, value: { order_id: Number(orderId) } };
  }
  const clOrdId = fieldOf(msg, clOrdTag);
  if (clOrdId === undefined)
    return missing(clOrdTag, clOrdTag === AppTag.OrigClOrdID ? 'OrigClOrdID' : 'ClOrdID', 'or 37 OrderID is required');
  named[clOrdField] = clOrdId;
  return { ok: true, value: named };
}

/** F OrderCancelRequest → `{cancel: CancelOrderRequest}`. */
export function cancelCommand(msg: FixMessage, account: number): Mapped<Record<string, unknown>> {
  if (fieldOf(msg, AppTag.ClOrdID) === undefined) return missing(AppTag.ClOrdID, 'ClOrdID');
  const wrong = accountMismatch(msg, account);
  if (wrong !== undefined) return wrong;
  const named = namedOrder(msg, AppTag.OrigClOrdID, 'client_order_id');
  if (!named.ok) return named;
  return { ok: true, value: { cancel: named.value } };
}

/** G OrderCancelReplaceRequest → `{amend: AmendOrderRequest}`: 38 (new total), 44, 99; 11 the new ClOrdID. */
export function amendCommand(msg: FixMessage, account: number): Mapped<Record<string, unknown>> {
  const clOrdId = fieldOf(msg, AppTag.ClOrdID);
  if (clOrdId === undefined) return missing(AppTag.ClOrdID, 'ClOrdID');
  const wrong = accountMismatch(msg, account);
  if (wrong !== undefined) return wrong;
  const named = namedOrder(msg, AppTag.OrigClOrdID, 'orig_client_order_id');
  if (!named.ok) return named;
  const amend: Record<string, unknown> = { ...named.value, client_order_id: clOrdId };
  // With 37 OrderID the gateway still wants the symbol when the shard has several instruments.
  const symbol = fieldOf(msg, AppTag.Symbol);
  if (symbol !== undefined) amend.symbol = symbol;
  const qty = fieldOf(msg, AppTag.OrderQty);
  if (qty !== undefined) amend.quantity_decimal = qty;
  const price = fieldOf(msg, AppTag.Price);
  if (price !== undefined) amend.price_decimal = price;
  const stopPx = fieldOf(msg, AppTag.StopPx);
  if (stopPx !== undefined) amend.stop_price_decimal = stopPx;
  return { ok: true, value: { amend } };
}

/** q OrderMassCancelRequest → `{mass_cancel: MassCancelRequest}` (530 = 1 by symbol, 7 all orders; 54 optional). */
export function massCancelCommand(msg: FixMessage): Mapped<Record<string, unknown>> {
  if (fieldOf(msg, AppTag.ClOrdID) === undefined) return missing(AppTag.ClOrdID, 'ClOrdID');
  const type = fieldOf(msg, AppTag.MassCancelRequestType);
  if (type === undefined) return missing(AppTag.MassCancelRequestType, 'MassCancelRequestType');
  const side = mapped(msg, AppTag.Side, 'Side', SIDE_IN);
  if (!side.ok) return side;
  const mass: Record<string, unknown> = side.value === undefined ? {} : { side: side.value };
  if (type === MASS_CANCEL_ALL) return { ok: true, value: { mass_cancel: mass } };
  if (type !== MASS_CANCEL_BY_SYMBOL)
    return invalid(
      AppTag.MassCancelRequestType,
      `530 MassCancelRequestType ${type} is not supported (supported: 1, 7)`,
    );
  const symbol = fieldOf(msg, AppTag.Symbol);
  if (symbol === undefined) return invalid(AppTag.Symbol, '55 Symbol is required with 530 MassCancelRequestType=1');
  return { ok: true, value: { mass_cancel: { ...mass, symbol } } };
}

/** H OrderStatusRequest → GetOrderRequest's fields (37 OrderID, else 11 ClOrdID with 55). */
export function statusRequest(msg: FixMessage, account: number): Mapped<Record<string, unknown>> {
  const wrong = accountMismatch(msg, account);
  if (wrong !== undefined) return wrong;
  return namedOrder(msg, AppTag.ClOrdID, 'client_order_id');
}
