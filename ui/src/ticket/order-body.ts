// The order ticket's input → the body of POST /v1/orders (docs/openapi.yaml PlaceOrderRequest),
// checked as the gateway would check the decimals: api/decimal.ts parseDecimal against the
// instrument's price and quantity decimals. The strings are sent as typed (price_decimal,
// quantity_decimal): the page never turns them into numbers. Pure: no DOM.

import { type DecimalError, parseDecimal } from '../../../api/decimal.js';
import type { InstrumentInfo } from '../context.js';

export type Side = 'BUY' | 'SELL';
export type OrderType = 'LIMIT' | 'MARKET';
export type TimeInForce = 'GTC' | 'IOC' | 'FOK' | 'DAY';

export interface TicketInput {
  side: Side;
  orderType: OrderType;
  price: string;
  quantity: string;
  timeInForce: TimeInForce;
  postOnly: boolean;
  clientOrderId: string;
}

export type TicketCheck =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; field: 'price' | 'quantity' | 'time_in_force' | 'post_only'; code: string; message: string };

const DECIMAL_MESSAGES: Record<DecimalError, string> = {
  SYNTAX: 'digits with an optional point, e.g. 49990.50 (no sign, exponent or spaces)',
  TOO_LONG: 'too long',
  PRECISION: 'too many digits after the point',
};

function checkDecimal(
  field: 'price' | 'quantity',
  text: string,
  decimals: number,
): { ok: true; units: bigint } | Extract<TicketCheck, { ok: false }> {
  const p = parseDecimal(text.trim(), decimals);
  if (!p.ok)
    return {
      ok: false,
      field,
      code: p.error,
      message: `${field}: ${DECIMAL_MESSAGES[p.error]} (at most ${decimals} decimals)`,
    };
  if (p.units === 0n) return { ok: false, field, code: 'ZERO', message: `${field}: must be above zero` };
  return p;
}

/** The request body, or the first field at fault with the parse error's name as its code. */
export function orderBody(input: TicketInput, instrument: InstrumentInfo): TicketCheck {
  const qty = checkDecimal('quantity', input.quantity, instrument.quantity_decimals);
  if (!qty.ok) return qty;
  const body: Record<string, unknown> = {
    client_order_id: input.clientOrderId,
    symbol: instrument.symbol,
    side: input.side,
    order_type: input.orderType,
    quantity_decimal: input.quantity.trim(),
  };
  if (input.orderType === 'LIMIT') {
    const price = checkDecimal('price', input.price, instrument.price_decimals);
    if (!price.ok) return price;
    body.price_decimal = input.price.trim();
    body.time_in_force = input.timeInForce;
    if (input.postOnly) body.post_only = 'REJECT';
  } else {
    // A market order takes IOC or FOK only (the gateway refuses GTC/DAY) and cannot be post-only.
    if (input.timeInForce !== 'IOC' && input.timeInForce !== 'FOK')
      return { ok: false, field: 'time_in_force', code: 'TIF', message: 'a market order is IOC or FOK' };
    if (input.postOnly)
      return { ok: false, field: 'post_only', code: 'POST_ONLY', message: 'a market order cannot be post-only' };
    body.time_in_force = input.timeInForce;
  }
  return { ok: true, body };
}

/** A client order id unique within the tab (the ClientOrderId pattern: [A-Za-z0-9_.:-]{1,36}). */
export function newClientOrderId(nowMs: number, counter: number): string {
  return `ui-${nowMs.toString(36)}-${counter.toString(36)}`;
}
