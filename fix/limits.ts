// The FIX acceptor's limits (fix/README.md), defined once. Each part of the acceptor keeps its
// constants in its own block below.

// The dictionary and field types (fix/dictionary.ts, fix/validate.ts, fix/fields.ts)

/**
 * Longest FIX decimal (PRICE, QTY, AMT, FLOAT, PERCENTAGE, PRICEOFFSET) validateFix and
 * parseFixDecimal accept, in characters; a longer value is IncorrectDataFormat (373=6). As
 * api/limits.ts DECIMAL_STRING_CHARS_MAX: 40 holds any uint64 with 18 decimals, a sign and the
 * point; beyond, no instrument could use the value, and nothing downstream builds a huge BigInt.
 */
export const FIX_DECIMAL_CHARS_MAX = 40;

/**
 * Longest integer (INT, SEQNUM, LENGTH, NUMINGROUP) accepted, in characters (sign included):
 * 16 holds every safe integer (2^53 − 1 has 16 digits); a value that is not a safe integer is
 * IncorrectDataFormat (373=6), since it could not be used exactly anyway.
 */
export const FIX_INT_CHARS_MAX = 17;

/**
 * Highest tag number the dictionary's lookup tables index (fix/dictionary.ts): FIX reserves
 * 1–4999 for the standard, 5000–9999 for user-defined fields (ours: 7928, 8013) and 10000+ for
 * bilateral ones, none of which we define. A higher (well-formed) tag is UndefinedTag (373=3).
 */
export const FIX_TAG_MAX = 9_999;

/**
 * Nesting depth of repeating groups validateFix follows (FIX 4.4's deepest is 3: e.g.
 * NoPartyIDs → NoPartySubIDs inside another group). The dictionary refuses to load one deeper,
 * so the recursion over a message is bounded by the dictionary, not by the message.
 */
export const FIX_GROUP_DEPTH_MAX = 8;

// ---------------------------------------------------------------------------------------------
// Application (fix/application.ts, fix/app-orders.ts, fix/app-reports.ts)

/**
 * Reports waiting to be sent on one drop-copy session (they are queued as the gateway absorbs
 * them and written on the next turn of the event loop). At the limit the drop copy stops: its
 * subscription is closed and the session is logged out with a Text saying why (a drop copy with
 * a hole in it would be worse than none); the client logs on again and recovers the gap with
 * OrderStatusRequest or the read models.
 */
export const FIX_DROP_COPY_QUEUE_MAX = 65_536;
/** 58 Text the application writes is cut to this many characters (a gateway error message can be long). */
export const FIX_TEXT_MAX_CHARS = 512;
/**
 * Application messages of one trading session waiting for their replies (submitted to the
 * gateway session, or waiting for an earlier message's reply to go first). Beyond, a message is
 * answered at once with a reject (ExecutionReport 150=8, OrderCancelReject, OrderMassCancelReport
 * 531=0 or BusinessMessageReject 380=4) and changes nothing; the gateway session's own bounds
 * (SESSION_PENDING_MAX, SESSION_PENDING_BYTES_MAX) apply below this one.
 */
export const FIX_APP_PENDING_MAX = 4_096;
