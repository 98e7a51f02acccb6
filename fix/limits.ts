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

// ---------------------------------------------------------------------------------------------
// Session layer: codec, session state machine, store, TCP edge (codec.ts, session.ts, session-store.ts, acceptor.ts)

/** One message on the wire, BeginString to CheckSum; a BodyLength that would pass it is garbled (dropped). */
export const FIX_MESSAGE_BYTES_MAX = 8 * 1024;
/** Fields in one message; more is garbled (dropped). A NewOrderSingle has about 15. */
export const FIX_FIELDS_PER_MESSAGE_MAX = 256;
/** Logon HeartBtInt(108) accepted range, seconds; outside it the Logon is answered with Logout. */
export const FIX_HEARTBEAT_S_MIN = 1;
export const FIX_HEARTBEAT_S_MAX = 300;
/** Nothing received for HeartBtInt × this → TestRequest; for twice that → disconnect (QuickFIX's 1.2). */
export const FIX_TEST_REQUEST_FACTOR = 1.2;
/** The first message must be a Logon, and the application must accept it, within this; else disconnect. */
export const FIX_LOGON_TIMEOUT_MS = 10_000;
/** After we send a Logout, how long we wait for the counterparty's Logout before disconnecting. */
export const FIX_LOGOUT_TIMEOUT_MS = 2_000;
/** Messages one ResendRequest is answered with (resends + gap fills); the counterparty asks again for the rest. */
export const FIX_RESEND_MESSAGES_MAX = 10_000;
/** Messages held while a gap is being resent (34 above the expected); over it: Logout and disconnect. */
export const FIX_GAP_QUEUE_MAX = 1_000;
/** SendingTime(52) farther than this from our clock: Reject 373=10 and Logout (QuickFIX's MaxLatency). */
export const FIX_SENDING_TIME_WINDOW_MS = 120_000;
/** Inbound messages per second, sustained (token bucket; garbled frames count); over it: Logout "message rate limit". */
export const FIX_INBOUND_MESSAGES_PER_S_MAX = 2_000;
/** The token bucket's depth: a burst this large is accepted at once. */
export const FIX_INBOUND_BURST_MESSAGES_MAX = 4_000;
/** Outgoing application messages a session's store keeps for resends; older ones are answered with a gap fill. */
export const FIX_STORE_MESSAGES_MAX = 10_000;
/** Messages one session queues before its Logon is answered (sent by the application, or received); over: disconnect. */
export const FIX_PENDING_MESSAGES_MAX = 1_000;
/** How often the edge drives every session's timers (heartbeats, test requests, timeouts). */
export const FIX_TICK_MS = 250;
/** Bytes waiting in one socket's send buffer; past it the connection is closed (slow consumer). */
export const FIX_SOCKET_WRITE_BYTES_MAX = 4 * 1024 * 1024;
/** TCP connections open at once; one more is accepted and closed at once. */
export const FIX_CONNECTIONS_MAX = 1_000;
/** SenderCompID(49) length on Logon; longer is refused (it names the session's store file, hashed). */
export const FIX_COMP_ID_CHARS_MAX = 64;

// ---------------------------------------------------------------------------------------------
// TLS on the FIX port (listener.ts)

/**
 * A TLS client must complete its handshake within this, else its socket is destroyed (logged at
 * debug). Node's default is 120 s; a client that connects and stays silent would hold a socket
 * that long. The same bound as the replicas' TLS_HANDSHAKE_TIMEOUT_MS.
 */
export const FIX_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * TCP connections still in their TLS handshake (not yet counted by FIX_CONNECTIONS_MAX): the
 * listener holds at most FIX_CONNECTIONS_MAX + this sockets; node closes one more at accept and
 * the acceptor logs a warning. Held at most FIX_TLS_HANDSHAKE_TIMEOUT_MS each.
 */
export const FIX_TLS_HANDSHAKES_MAX = 256;

// ---------------------------------------------------------------------------------------------
// Parked sessions (acceptor.ts; fix/README.md "Parked sessions")

/**
 * Trading sessions parked at once (their connection ended; what they would have been sent is
 * stored for them until they log on again). Parking one more ends the oldest parking (logged
 * at warn): its later reports are no longer stored. As FIX_CONNECTIONS_MAX: each connection can
 * leave one parked session behind, and each costs what an open gateway session costs.
 */
export const FIX_PARKED_SESSIONS_MAX = 1_000;
/**
 * How long a session stays parked after its connection ended. Then the parking ends (the
 * gateway session's pushes stop, the store is closed) and later reports are not stored: the
 * client recovers them with OrderStatusRequest (H) or the query service. An hour covers a network
 * fault, a failover or a restart of the client's engine; a session gone longer is not coming back
 * soon, and a parked session costs an open gateway session's work on every report of its account.
 */
export const FIX_PARKED_SESSION_MS = 60 * 60_000;
