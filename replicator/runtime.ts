// The clock, timers and scheduling a replica host uses, injected so that the simulator
// (replicator/sim/) runs the production ReplicaNode on simulated time: one seed then replays a
// whole cluster, every timer and every deferred step in the same order. Production uses the
// system clock, Node's timers and microtasks (systemRuntime).

import { randomInt } from 'node:crypto';

export interface ReplicaRuntime {
  /** Wall-clock time in ms since the epoch: the leader's clock for command timestamps and time ticks. */
  nowMs(): number;
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Calls `fn` once after `ms` unless the returned function is called first. */
  after(ms: number, fn: () => void): () => void;
  /**
   * Runs `fn` after the current callback has returned, before any timer or I/O callback
   * (production: a microtask). Inputs that arrive in one callback — a socket read with many
   * frames, a batch of proposals — are then handled together, in one Ready.
   */
  defer(fn: () => void): void;
  /** A random 32-bit unsigned integer, different in every process (ids that must not repeat across restarts). */
  entropy(): number;
}

export const systemRuntime: ReplicaRuntime = {
  nowMs: () => Date.now(),
  every: (ms, fn) => {
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  },
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  defer: (fn) => queueMicrotask(fn),
  entropy: () => randomInt(0, 2 ** 32),
};
