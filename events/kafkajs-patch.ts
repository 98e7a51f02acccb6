// Two timer fixes to kafkajs 2.2.4's per-connection request queue
// (node_modules/kafkajs/src/network/requestQueue/index.js), applied to its prototype once, when
// events/kafka.ts is loaded (every kafkajs client of this project is made there). kafkajs is in
// maintenance mode; the upstream fix is an open pull request (tulios/kafkajs#1667, issues #1556,
// #1704), so the project carries it here.
//
// 1. scheduleCheckPendingRequests() arms a setTimeout even when no request is pending; with no
//    client-side throttling (throttledUntil = -1) its delay is negative, i.e. 1 ms, and the
//    callback re-arms it: every open kafkajs connection wakes its process 1,000 times a second
//    forever, doing nothing (most of the publisher's and the query process's idle CPU).
//    Patched: a check is scheduled only while requests are pending — exactly the case the timer
//    exists for. Nothing else needs it: push() sends a request at once or queues it and
//    schedules the check; a completed request runs the check itself (fulfillRequest), which is
//    what releases requests held back by maxInFlightRequests.
// 2. scheduleRequestTimeoutCheck() scans in-flight requests for a timeout every
//    min(requestTimeout, 100 ms): 10 wake-ups a second per connection for timeouts of 30 s
//    (kafka.ts KAFKA_REQUEST_TIMEOUT_MS). Patched: every KAFKAJS_REQUEST_TIMEOUT_CHECK_MS, so a
//    request that gets no answer fails at most that much after its timeout instead of 100 ms.
//
// Both are behaviour-preserving for everything but timing of those two timers. If the installed
// kafkajs is not the version patched here, nothing is changed (the methods may differ).

import { createRequire } from 'node:module';

/** The kafkajs version whose request queue this patch replaces methods of. */
export const KAFKAJS_PATCHED_VERSION = '2.2.4';
/** kafkajs's own delay before re-checking pending requests held back without throttling (ms; CHECK_PENDING_REQUESTS_INTERVAL). */
export const KAFKAJS_CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;
/** How often in-flight requests are checked for their timeout (ms); kafkajs: 100. Timeouts here are ≥ 3 s. */
export const KAFKAJS_REQUEST_TIMEOUT_CHECK_MS = 1_000;

/** The fields and methods of kafkajs's RequestQueue that the patch touches. */
export interface KafkajsRequestQueue {
  pending: unknown[];
  inflight: Map<number, { sentAt: number; requestTimeout: number; timeoutRequest(): void }>;
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  requestTimeout: number;
  enforceRequestTimeout: boolean;
  requestTimeoutIntervalId?: NodeJS.Timeout;
  isConnected(): boolean;
  destroy(): void;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
  scheduleRequestTimeoutCheck(): void;
}

const require = createRequire(import.meta.url);
let applied: boolean | undefined;

/** The RequestQueue class of the installed kafkajs (for tests). */
export function kafkajsRequestQueueClass(): new (opts: Record<string, unknown>) => KafkajsRequestQueue {
  return require('kafkajs/src/network/requestQueue/index.js') as new (
    opts: Record<string, unknown>,
  ) => KafkajsRequestQueue;
}

/** Applies the patch (idempotent). Returns whether the installed kafkajs is patched. */
export function patchKafkajs(): boolean {
  if (applied !== undefined) return applied;
  const version = (require('kafkajs/package.json') as { version: string }).version;
  const proto = kafkajsRequestQueueClass().prototype as KafkajsRequestQueue;
  if (
    version !== KAFKAJS_PATCHED_VERSION ||
    typeof proto.scheduleCheckPendingRequests !== 'function' ||
    typeof proto.scheduleRequestTimeoutCheck !== 'function'
  ) {
    applied = false;
    return applied;
  }
  proto.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: KafkajsRequestQueue): void {
    // One check armed at a time; none when nothing waits (the upstream loop's cause).
    if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
    const untilUnthrottled = this.throttledUntil - Date.now();
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      untilUnthrottled > 0 ? untilUnthrottled : KAFKAJS_CHECK_PENDING_REQUESTS_INTERVAL_MS,
    );
  };
  proto.scheduleRequestTimeoutCheck = function scheduleRequestTimeoutCheck(this: KafkajsRequestQueue): void {
    if (!this.enforceRequestTimeout) return;
    this.destroy();
    this.requestTimeoutIntervalId = setInterval(
      () => {
        const now = Date.now();
        this.inflight.forEach((request) => {
          if (now - request.sentAt > request.requestTimeout) request.timeoutRequest();
        });
        if (!this.isConnected()) this.destroy();
      },
      Math.min(this.requestTimeout, KAFKAJS_REQUEST_TIMEOUT_CHECK_MS),
    );
  };
  applied = true;
  return applied;
}
