// Every bounded list, queue and timer of the page, defined once. Each part of the page keeps its
// own block; what happens at a limit is said next to it.

// ---- Market view (ui/src/market/) ----

/** Price levels a side in the ladder (the best N; deeper levels are not shown). */
export const LADDER_LEVELS_PER_SIDE = 15;
/** Price levels a side drawn in the depth chart (the best N; the cumulative size stops there). */
export const DEPTH_LEVELS_PER_SIDE = 100;
/** Trades rows in the tape: a new trade pushes the oldest row out. */
export const TAPE_ROWS_MAX = 50;
/** Candles held (and drawn) per chart: a new bucket past it drops the oldest. */
export const CANDLES_HELD_MAX = 500;
/** Candles asked from the query API's history when the chart (re)loads (≤ its CANDLES_LIMIT_MAX, 3,600). */
export const CANDLES_HISTORY_LIMIT = 300;
/** How often the 24-hour ticker is asked from the query API (ms); the last price is live from trades. */
export const TICKER_POLL_MS = 3_000;
/** Feed reconnect back-off: the first wait after a close, doubled after each full round of members, capped. */
export const FEED_RECONNECT_MS_MIN = 250;
export const FEED_RECONNECT_MS_MAX = 5_000;
