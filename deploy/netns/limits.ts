// The deployment's bounds, named once (deploy/README.md): every wait is bounded and says what it waits for.

/** A process that has not printed its ready line within this is a failed start (ms): tsx compiles on a loaded 2-core machine. */
export const NETNS_READY_TIMEOUT_MS = 90_000;
/** An `ip`/`tc` command that has not returned within this has failed (ms). */
export const IP_COMMAND_TIMEOUT_MS = 10_000;
/** A stopped process gets this long after SIGTERM before SIGKILL (ms). */
export const NETNS_STOP_GRACE_MS = 10_000;
/** Waiting for a leader that every replica agrees on, after a start or a fault (ms). */
export const LEADER_WAIT_MS = 60_000;
/** Hosts in one layout at most (each is a namespace, a veth pair and processes). */
export const NETNS_HOSTS_MAX = 32;
