// The FIX acceptor's limits, in one place (like gateway/limits.ts): every bound on bytes,
// messages, queues, connections and timeouts of fix/, with its unit in its name. Each part of
// fix/ keeps its constants in its own block.

// --- session layer: codec, session state machine, store, TCP edge (codec.ts, session.ts, session-store.ts, acceptor.ts)

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
