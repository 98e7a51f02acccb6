// The currencies of a symbol, by the exchange's naming rule: `BASE-QUOTE` ("BTC-USD" → BTC and
// USD), split at the last '-'. Defined once: the read models key an account's cash by the quote
// currency (events/read-models/model.ts balancesOf) and the user stream's position updates name
// both currencies (gateway/user-stream-position.ts); the two must agree.

/** Quote currency of a symbol: what follows its last '-' ("BTC-USD" → "USD"), else the symbol. */
export function quoteOf(symbol: string): string {
  const k = symbol.lastIndexOf('-');
  return k >= 0 && k < symbol.length - 1 ? symbol.slice(k + 1) : symbol;
}

/** Base currency of a symbol: what precedes its last '-' ("BTC-USD" → "BTC"), else (no '-', or nothing before or after it) the symbol. */
export function baseOf(symbol: string): string {
  const k = symbol.lastIndexOf('-');
  return k > 0 && k < symbol.length - 1 ? symbol.slice(0, k) : symbol;
}
