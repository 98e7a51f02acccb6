// The FIX acceptor's limits, in one place (like gateway/limits.ts): each part of fix/ keeps its
// constants in its own block below, with its unit in its name.

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
