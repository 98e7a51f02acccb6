// The limits of what api/ parses on behalf of every edge, defined once.

/**
 * Longest decimal string (price_decimal, quantity_decimal, …) an edge accepts, in characters.
 * 40 holds any uint64 (20 digits) with up to 18 decimals (engine/config.ts allows 0–18) and the
 * point, with room to spare; a longer string is refused before any arithmetic, so a client
 * cannot make the gateway build a huge BigInt.
 */
export const DECIMAL_STRING_CHARS_MAX = 40;

/**
 * Largest notional (price × quantity, summed over an order's fills: `cum_notional`) the API
 * carries: 2^64 − 1, what the reports' proto field (`uint64 cum_notional`) holds. A shard whose
 * instrument could pass it (maxPrice × maxQty > NOTIONAL_MAX) is refused in the gateway config
 * (config/gateway-config.ts), since no report could carry its notional.
 */
export const NOTIONAL_MAX = 2n ** 64n - 1n;
