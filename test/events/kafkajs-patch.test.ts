// The kafkajs request-queue patch (events/kafkajs-patch.ts): no timer armed while nothing is
// pending, and pending requests (held back by maxInFlightRequests or by client-side
// throttling) are still sent. Driven on a bare RequestQueue with fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import '../../events/kafka.js';
import {
  KAFKAJS_REQUEST_TIMEOUT_CHECK_MS,
  kafkajsRequestQueueClass,
  patchKafkajs,
  type KafkajsRequestQueue,
} from '../../events/kafkajs-patch.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Queue extends KafkajsRequestQueue {
  push(r: {
    entry: { correlationId: number };
    expectResponse: boolean;
    sendRequest: () => void;
    requestTimeout?: number;
  }): void;
  fulfillRequest(r: { correlationId: number; payload: Buffer; size: number }): void;
  maybeThrottle(ms: number): void;
}

function queue(maxInFlightRequests: number, enforceRequestTimeout = false): Queue {
  const RequestQueue = kafkajsRequestQueueClass();
  return new RequestQueue({
    maxInFlightRequests,
    requestTimeout: 30_000,
    enforceRequestTimeout,
    clientId: 't',
    broker: 'b:1',
    logger: quiet,
  }) as Queue;
}

/** A request whose sends are recorded; resolves through the queue's completion path. */
function request(q: Queue, id: number, sent: number[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    q.push({
      entry: { correlationId: id, resolve, reject } as never,
      expectResponse: true,
      sendRequest: () => sent.push(id),
    });
  });
}

describe('kafkajs request-queue patch', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('applies to the installed kafkajs', () => {
    expect(patchKafkajs()).toBe(true);
  });

  it('arms no timer once every request is answered (kafkajs 2.2.4 armed a 1 ms one forever)', async () => {
    const q = queue(1);
    const sent: number[] = [];
    const done = request(q, 1, sent);
    expect(sent).toEqual([1]);
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    await done;
    expect(q.throttleCheckTimeoutId).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends a request held back by maxInFlightRequests when the one in flight completes', async () => {
    const q = queue(1);
    const sent: number[] = [];
    const first = request(q, 1, sent);
    const second = request(q, 2, sent);
    expect(sent).toEqual([1]);
    expect(q.pending.length).toBe(1);
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    await first;
    expect(sent).toEqual([1, 2]);
    q.fulfillRequest({ correlationId: 2, payload: Buffer.alloc(0), size: 0 });
    await second;
    vi.runOnlyPendingTimers(); // the check armed while request 2 waited finds nothing to do…
    expect(q.throttleCheckTimeoutId).toBeNull(); // …and arms nothing again
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends a request held back by client-side throttling once the throttle ends', () => {
    const q = queue(5);
    const sent: number[] = [];
    q.maybeThrottle(500);
    void request(q, 1, sent);
    expect(sent).toEqual([]);
    expect(q.throttleCheckTimeoutId).not.toBeNull();
    vi.advanceTimersByTime(499);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(20);
    expect(sent).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('still times out a request that gets no answer', async () => {
    const q = queue(1, true);
    q.scheduleRequestTimeoutCheck();
    const sent: number[] = [];
    const p = request(q, 1, sent);
    const outcome = p.then(
      () => 'answered',
      (err: Error) => err.name,
    );
    vi.advanceTimersByTime(30_000 + KAFKAJS_REQUEST_TIMEOUT_CHECK_MS + 1);
    expect(await outcome).toBe('KafkaJSRequestTimeoutError');
    q.destroy();
  });
});
