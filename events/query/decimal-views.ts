// The query API's prices, quantities and notionals as exact decimal strings, `<name>_decimal`
// beside each integer (the "both forms" rule of the gateway's reports, api/execution-report.ts
// withDecimals). Derived at the edge from the read models' integers and the instrument's
// priceDecimals / qtyDecimals (the shards' engine configs in the gateway config), so the read
// models' stored state (and its snapshot format) stays integers. Pure: no I/O.
//
// Scales: a price has priceDecimals digits after the point, a quantity qtyDecimals, a notional
// (price units × quantity units: cum_notional, buy/sell_notional, cash, quote_volume,
// quote_qty) priceDecimals + qtyDecimals, avg_px priceDecimals + 8 (AVG_PX_DECIMALS).
// A symbol no configured instrument has gets no decimal strings (its fields stay integers only).

import { formatUnits, shiftPoint } from '../../api/decimal.js';
import type { InstrumentDecimals } from '../../api/execution-report.js';
import { AVG_PX_DECIMALS } from '../../engine/avg-px.js';
import type { InstrumentConfig } from '../../engine/types.js';
import type { Candle, FillView, OrderView, PositionView, PublicTrade, Ticker } from '../read-models/model.js';

export type DecimalsOf = (symbol: string) => InstrumentDecimals | undefined;

/** The decimals of every instrument of these shards, by symbol. */
export function decimalsOfShards(shards: readonly { instruments: readonly InstrumentConfig[] }[]): DecimalsOf {
  const bySymbol = new Map<string, InstrumentDecimals>();
  for (const s of shards)
    for (const i of s.instruments)
      bySymbol.set(i.symbol, { priceDecimals: i.priceDecimals, qtyDecimals: i.qtyDecimals });
  return (symbol) => bySymbol.get(symbol);
}

/** A notional (price units × quantity units) as an exact decimal string. */
function notional(units: number | bigint | string, d: InstrumentDecimals): string {
  return formatUnits(typeof units === 'string' ? BigInt(units) : units, d.priceDecimals + d.qtyDecimals);
}

/** avg_px as the engine writes it (engine/avg-px.ts); a record from before the field existed has ''. */
const AVG_PX_RE = new RegExp(`^[0-9]+\\.[0-9]{${AVG_PX_DECIMALS}}$`);

export function orderDecimals(o: OrderView, d: InstrumentDecimals): Record<string, string> {
  const p = d.priceDecimals;
  const q = d.qtyDecimals;
  const out: Record<string, string> = {
    price_decimal: formatUnits(o.price, p),
    stop_price_decimal: formatUnits(o.stop_price, p),
    order_qty_decimal: formatUnits(o.order_qty, q),
    cum_qty_decimal: formatUnits(o.cum_qty, q),
    leaves_qty_decimal: formatUnits(o.leaves_qty, q),
    display_qty_decimal: formatUnits(o.display_qty, q),
    cum_notional_decimal: notional(o.cum_notional, d),
  };
  // No avg_px_decimal for an avg_px that is not one (rather than failing the whole answer).
  if (AVG_PX_RE.test(o.avg_px)) out.avg_px_decimal = shiftPoint(o.avg_px, AVG_PX_DECIMALS, AVG_PX_DECIMALS + p);
  return out;
}

export function fillDecimals(f: FillView, d: InstrumentDecimals): Record<string, string> {
  return {
    last_qty_decimal: formatUnits(f.last_qty, d.qtyDecimals),
    last_px_decimal: formatUnits(f.last_px, d.priceDecimals),
  };
}

export function positionDecimals(p: PositionView, d: InstrumentDecimals): Record<string, string> {
  const q = d.qtyDecimals;
  return {
    position_qty_decimal: formatUnits(p.position_qty, q),
    bought_qty_decimal: formatUnits(p.bought_qty, q),
    sold_qty_decimal: formatUnits(p.sold_qty, q),
    buy_notional_decimal: notional(p.buy_notional, d),
    sell_notional_decimal: notional(p.sell_notional, d),
    cash_decimal: notional(p.cash, d),
  };
}

/**
 * Each quote currency's cash as an exact decimal string: the positions' cash, each in its own
 * instrument's notional scale, brought to the largest scale among them and added. (The integer
 * `cash` of a balance adds the units as they are, which is exact only when every instrument of
 * that quote has the same price + quantity decimals.) Currencies with a symbol of unknown
 * decimals get none.
 */
export function balanceCashDecimals(
  positions: readonly PositionView[],
  quoteOf: (symbol: string) => string,
  decimalsOf: DecimalsOf,
): Map<string, string> {
  const byQuote = new Map<string, { cash: bigint; scale: number } | null>();
  for (const p of positions) {
    const currency = quoteOf(p.symbol);
    const d = decimalsOf(p.symbol);
    const acc = byQuote.get(currency);
    if (acc === null) continue;
    if (d === undefined) {
      byQuote.set(currency, null);
      continue;
    }
    const scale = d.priceDecimals + d.qtyDecimals;
    if (acc === undefined) byQuote.set(currency, { cash: p.cash, scale });
    else {
      const to = Math.max(scale, acc.scale);
      const cash = acc.cash * 10n ** BigInt(to - acc.scale) + p.cash * 10n ** BigInt(to - scale);
      byQuote.set(currency, { cash, scale: to });
    }
  }
  const out = new Map<string, string>();
  for (const [currency, acc] of byQuote) if (acc !== null) out.set(currency, formatUnits(acc.cash, acc.scale));
  return out;
}

export function candleDecimals(c: Candle, d: InstrumentDecimals): Record<string, string> {
  const p = d.priceDecimals;
  return {
    open_decimal: formatUnits(c.open, p),
    high_decimal: formatUnits(c.high, p),
    low_decimal: formatUnits(c.low, p),
    close_decimal: formatUnits(c.close, p),
    volume_decimal: formatUnits(c.volume, d.qtyDecimals),
    quote_volume_decimal: notional(c.quote_volume, d),
  };
}

export function publicTradeDecimals(t: PublicTrade, d: InstrumentDecimals): Record<string, string> {
  return {
    price_decimal: formatUnits(t.price, d.priceDecimals),
    qty_decimal: formatUnits(t.qty, d.qtyDecimals),
    quote_qty_decimal: notional(BigInt(t.price) * BigInt(t.qty), d),
  };
}

/** A price that may be null (no trade in the window) stays null. */
function nullablePrice(units: number | null, d: InstrumentDecimals): string | null {
  return units === null ? null : formatUnits(units, d.priceDecimals);
}

export function tickerDecimals(t: Ticker, d: InstrumentDecimals): Record<string, string | null> {
  return {
    open_decimal: nullablePrice(t.open, d),
    high_decimal: nullablePrice(t.high, d),
    low_decimal: nullablePrice(t.low, d),
    last_decimal: nullablePrice(t.last, d),
    price_change_decimal: formatUnits(t.price_change, d.priceDecimals),
    volume_decimal: formatUnits(t.volume, d.qtyDecimals),
    quote_volume_decimal: notional(t.quote_volume, d),
  };
}
