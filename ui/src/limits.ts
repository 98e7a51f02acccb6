// Every bound of the page, defined once. Each panel adds its own block; what happens at a limit is
// said beside it.

// --- the page's start (ui/src/main.ts) ---

/** The page's context (config, instruments, clock) not loaded: asked again after this, doubled per failure up to MAX. */
export const PAGE_LOAD_RETRY_MS_MIN = 500;
export const PAGE_LOAD_RETRY_MS_MAX = 10_000;
/** A plain JSON read (context.ts getJson: the context, the console's instrument statuses) not answered within this fails as an error. */
export const GET_JSON_TIMEOUT_MS = 10_000;

// --- operator console (ui/src/console/) ---

/** How often the console asks GET /v1/ui/cluster; the next poll starts this long after the previous one ended (never two at once). */
export const CONSOLE_POLL_INTERVAL_MS = 1_000;
/** A cluster view not answered within this is abandoned (shown as the error) and the next poll is scheduled. */
export const CONSOLE_POLL_TIMEOUT_MS = 10_000;
/** An admin request (halt, resume, kill switch) not answered within this is abandoned and shown as failed. */
export const ADMIN_REQUEST_TIMEOUT_MS = 15_000;
/** Answers of admin actions kept on screen, newest first; older ones are dropped. */
export const ADMIN_ANSWERS_MAX = 20;
/** Longest admin API key or secret the form takes (input maxlength). */
export const ADMIN_CREDENTIAL_LENGTH_MAX = 512;

// --- order ticket, open orders and fills (ticket/) ---

/** Fills kept and shown in #orders, newest first; older ones are dropped (the query API holds them all). */
export const TICKET_FILLS_ROWS_MAX = 200;
/**
 * Open orders held in #orders. Beyond it the newest are not held and the panel says how many it
 * left out (the query API's GET /v1/accounts/{id}/orders has them all).
 */
export const TICKET_OPEN_ORDERS_MAX = 1_000;
/**
 * Ids of the open orders left out (beyond TICKET_OPEN_ORDERS_MAX) remembered, so that each is
 * counted once and uncounted when it ends. Beyond it the panel says "N+ more".
 */
export const TICKET_LEFT_OUT_IDS_MAX = 1_000;
/**
 * Stream reports held while the first open orders and fills are read from the query API. Beyond
 * it the read is given up: the reports are applied as they are and the panel says the history is partial.
 */
export const TICKET_PENDING_REPORTS_MAX = 10_000;
/** Fills asked of the query API at sign-in (its FILLS_LIMIT: at most 10,000). */
export const TICKET_FILLS_QUERY_LIMIT = TICKET_FILLS_ROWS_MAX;
/** How long the query API may wait for the login's min_seq (its wait_ms, at most READ_AFTER_WAIT_MS_MAX 10 s). */
export const TICKET_QUERY_WAIT_MS = 5_000;
/** The user stream's reconnect delay: doubled per failed attempt from MIN up to MAX. */
export const TICKET_RECONNECT_MS_MIN = 500;
export const TICKET_RECONNECT_MS_MAX = 15_000;
/**
 * A signed request of the ticket (place, cancel, the query API's first read) not answered within
 * this is abandoned and shown as unanswered: an order or a cancel may still have been taken (the
 * user stream says so). Above the query API's TICKET_QUERY_WAIT_MS.
 */
export const TICKET_REQUEST_TIMEOUT_MS = 15_000;
/** Longest reply text shown under the ticket (a proxy's HTML error page is cut). */
export const TICKET_REPLY_CHARS_MAX = 400;

// --- market view (ui/src/market/) ---

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
/** A candle history read not answered within this is abandoned: the chart says so and shows the live candles only. */
export const CANDLES_HISTORY_TIMEOUT_MS = 10_000;
/** The 24-hour ticker is asked from the query API this long after the previous answer (ms); the last price is live from trades. */
export const TICKER_POLL_MS = 3_000;
/** A ticker ask not answered within this is abandoned (the note says so) and the next one scheduled. */
export const TICKER_POLL_TIMEOUT_MS = 10_000;
/** Feed reconnect back-off: the first wait after a close, doubled after each full round of members, capped. */
export const FEED_RECONNECT_MS_MIN = 250;
export const FEED_RECONNECT_MS_MAX = 5_000;
/** A feed connection that lasted this long resets the back-off; one closed sooner counts as a failed attempt. */
export const FEED_CONNECTION_STABLE_MS = 10_000;
