// The engine's input limits, each defined once. The engine itself is bounded by its
// configuration (orderCountMax, maxQty, maxPrice); these bound what a client may send it.

/**
 * Longest command line pipe mode accepts, in bytes of UTF-8 before its `\n` (a `\r` right before
 * the `\n` is not counted). A longer line is rejected as a whole (MALFORMED_COMMAND, message
 * "line longer than … bytes") and its rest is discarded up to its `\n` without being held, so
 * pipe mode's memory stays bounded whatever it is fed. 64 KiB is far above any valid command
 * (a new order with every field at its longest is well under 1 KiB).
 */
export const PIPE_LINE_BYTES_MAX = 64 * 1024;

/** Longest client order id (`clOrdId`, `origClOrdId`), in characters. */
export const CLORDID_LENGTH_MAX = 64;
/** Lowest character code of a client order id: 0x21 '!' (so no space, no control character). */
export const CLORDID_CHAR_MIN = 0x21;
/** Highest character code of a client order id: 0x7E '~' (so ASCII only, no DEL). */
export const CLORDID_CHAR_MAX = 0x7e;
