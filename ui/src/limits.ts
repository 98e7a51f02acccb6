// Every bound of the page, defined once. Each panel adds its own block; what happens at a limit is
// said beside it.

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
