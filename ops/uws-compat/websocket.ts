// uWS WebSocket over a `ws` connection, and the topic registry behind subscribe/publish. Kept
// from uWS: send() returns 0 (sent), 1 (sent, but bytes wait in the buffer: backpressure) or 2
// (dropped: the connection already held more than maxBackpressure; with closeOnBackpressureLimit
// it is closed instead); end() sends a close frame and runs the close handler before it returns;
// close() cuts the connection (close handler with 1006); drain runs while buffered bytes leave;
// a closed socket unsubscribes from every topic; a message's ArrayBuffer is the handler's to keep.

import type { Duplex } from 'node:stream';
import type { RecognizedString, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import type { WebSocket as WsConnection } from 'ws';
import { EMPTY_ARRAY_BUFFER, toArrayBuffer, toBuffer, toText } from './bytes.js';
import { COMPAT_WS_CLOSE_TIMEOUT_MS } from './limits.js';

/** uWS's send() results. */
export const SEND_SUCCESS = 0;
export const SEND_BACKPRESSURE = 1;
export const SEND_DROPPED = 2;
/** uWS's default maxBackpressure (bytes) when a route sets none. */
export const DEFAULT_MAX_BACKPRESSURE_BYTES = 64 * 1024;
/** Close frame reason bytes at most (RFC 6455: 125 bytes of payload, 2 of them the code). */
const CLOSE_REASON_BYTES_MAX = 123;
const ABNORMAL_CLOSURE = 1006;

/** Topic → subscribers, one per app (uWS's topic tree, without wildcards: matchbook uses none). */
export class TopicRegistry {
  private readonly byTopic = new Map<string, Set<CompatWebSocket<unknown>>>();

  add(topic: string, ws: CompatWebSocket<unknown>): boolean {
    let set = this.byTopic.get(topic);
    if (set === undefined) this.byTopic.set(topic, (set = new Set()));
    if (set.has(ws)) return false;
    set.add(ws);
    return true;
  }

  remove(topic: string, ws: CompatWebSocket<unknown>): boolean {
    const set = this.byTopic.get(topic);
    if (set === undefined || !set.delete(ws)) return false;
    if (set.size === 0) this.byTopic.delete(topic);
    return true;
  }

  count(topic: string): number {
    return this.byTopic.get(topic)?.size ?? 0;
  }

  /** Sends to every subscriber but `except`, each under its own backpressure rule; true when any had it. */
  publish(topic: string, message: RecognizedString, isBinary: boolean, except?: CompatWebSocket<unknown>): boolean {
    const set = this.byTopic.get(topic);
    if (set === undefined) return false;
    // Encoded once: every subscriber's frame carries the same bytes.
    const bytes = toBuffer(message);
    // A Set iterates safely while a send closes (and so unsubscribes) a subscriber.
    for (const ws of set) {
      if (ws === except) continue;
      this.holdUntilTurnEnds(ws);
      ws.send(bytes, isBinary);
    }
    return true;
  }

  private readonly held: CompatWebSocket<unknown>[] = [];

  /**
   * What a turn of the event loop publishes to a subscriber leaves in one write, as uWS's
   * loop-wide cork does: the socket is corked at its first publish of the turn and uncorked when
   * the turn's synchronous work is done (one writev of every frame instead of one write each).
   */
  private holdUntilTurnEnds(ws: CompatWebSocket<unknown>): void {
    if (!ws.hold()) return;
    if (this.held.push(ws) === 1) process.nextTick(() => this.releaseHeld());
  }

  private releaseHeld(): void {
    for (const ws of this.held.splice(0)) ws.release();
  }
}

export interface CompatSocketContext<U> {
  behavior: WebSocketBehavior<U>;
  topics: TopicRegistry;
  /** Called once when the connection is gone (after the close handler). */
  onGone(ws: CompatWebSocket<U>): void;
}

export class CompatWebSocket<U> {
  private reported = false;
  private readonly subscribed = new Set<string>();
  private backpressured = false;
  private drainDue = false;
  /** performance.now() of the last frame received (idle timeout); pinged: a ping is out since. */
  lastReceivedMs = performance.now();
  pinged = false;
  private readonly maxBackpressure: number;

  constructor(
    private readonly client: WsConnection,
    private readonly socket: Duplex & { remoteAddress?: string },
    private readonly userData: U,
    private readonly ctx: CompatSocketContext<U>,
  ) {
    this.maxBackpressure = ctx.behavior.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE_BYTES;
    client.binaryType = 'arraybuffer';
    client.on('message', (data: ArrayBuffer, isBinary: boolean) => {
      this.received();
      if (!this.reported) ctx.behavior.message?.(this.asUws(), data, isBinary);
    });
    client.on('pong', () => this.received());
    client.on('ping', () => this.received());
    // A protocol error (e.g. a frame over maxPayloadLength: closed 1009 by `ws`) ends in 'close'.
    client.on('error', () => undefined);
    client.on('close', (code: number, reason: Buffer) => this.finish(code, toArrayBuffer(reason)));
  }

  private received(): void {
    this.lastReceivedMs = performance.now();
    this.pinged = false;
  }

  /** `ws` calls this when a frame's bytes were handed to the kernel: drain while backpressured. */
  private readonly written = (): void => {
    if (!this.backpressured || this.drainDue || this.reported) return;
    this.drainDue = true;
    setImmediate(() => {
      this.drainDue = false;
      if (this.reported) return;
      if (this.client.bufferedAmount === 0) this.backpressured = false;
      this.ctx.behavior.drain?.(this.asUws());
    });
  };

  private check(): void {
    if (this.reported) throw new Error('Invalid access of closed uWS.WebSocket/SSLWebSocket.');
  }

  send(message: RecognizedString, isBinary = false, _compress = false): number {
    this.check();
    if (this.client.bufferedAmount > this.maxBackpressure) {
      this.backpressured = true;
      if (this.ctx.behavior.closeOnBackpressureLimit) this.close();
      return SEND_DROPPED;
    }
    this.client.send(typeof message === 'string' ? message : toBuffer(message), { binary: isBinary }, this.written);
    if (this.client.bufferedAmount === 0) return SEND_SUCCESS;
    this.backpressured = true;
    return SEND_BACKPRESSURE;
  }

  getBufferedAmount(): number {
    this.check();
    return this.client.bufferedAmount;
  }

  /** A close frame (code 0 or none: without a code), then the close handler, before returning. */
  end(code?: number, shortMessage?: RecognizedString): void {
    this.check();
    const reason = shortMessage === undefined ? '' : toText(shortMessage);
    const cut = Buffer.from(reason, 'utf8').subarray(0, CLOSE_REASON_BYTES_MAX);
    try {
      if (code === undefined || code === 0) this.client.close();
      else this.client.close(code, cut);
    } catch {
      this.client.close(); // a code `ws` may not send (1005, 1006…): a close frame without one
    }
    // A peer that never answers the close frame is cut off (uWS shuts the socket down after it).
    setTimeout(() => this.client.terminate(), COMPAT_WS_CLOSE_TIMEOUT_MS).unref();
    this.finish(code ?? 0, toArrayBuffer(cut));
  }

  close(): void {
    this.check();
    this.client.terminate();
    this.finish(ABNORMAL_CLOSURE, EMPTY_ARRAY_BUFFER);
  }

  /** The close handler, once; afterwards the socket may not be used (as in uWS). */
  private finish(code: number, reason: ArrayBuffer): void {
    if (this.reported) return;
    try {
      for (const t of this.subscribed) this.ctx.topics.remove(t, this as CompatWebSocket<unknown>);
      this.subscribed.clear();
      this.ctx.behavior.close?.(this.asUws(), code, reason);
    } finally {
      this.reported = true;
      this.ctx.onGone(this);
    }
  }

  ping(message?: RecognizedString): number {
    this.check();
    this.client.ping(message === undefined ? undefined : toBuffer(message));
    return this.client.bufferedAmount === 0 ? SEND_SUCCESS : SEND_BACKPRESSURE;
  }

  subscribe(topic: RecognizedString): boolean {
    this.check();
    const t = toText(topic);
    this.subscribed.add(t);
    return this.ctx.topics.add(t, this as CompatWebSocket<unknown>);
  }

  unsubscribe(topic: RecognizedString): boolean {
    this.check();
    const t = toText(topic);
    this.subscribed.delete(t);
    return this.ctx.topics.remove(t, this as CompatWebSocket<unknown>);
  }

  isSubscribed(topic: RecognizedString): boolean {
    this.check();
    return this.subscribed.has(toText(topic));
  }

  getTopics(): string[] {
    this.check();
    return [...this.subscribed];
  }

  publish(topic: RecognizedString, message: RecognizedString, isBinary = false): boolean {
    this.check();
    return this.ctx.topics.publish(toText(topic), message, isBinary, this as CompatWebSocket<unknown>);
  }

  private heldByPublish = false;

  /** Corks the socket until release() (TopicRegistry.publish); false when it already is. */
  hold(): boolean {
    if (this.heldByPublish) return false;
    this.heldByPublish = true;
    this.socket.cork();
    return true;
  }

  release(): void {
    this.heldByPublish = false;
    this.socket.uncork();
  }

  /** Writes made inside `cb` leave in one go (the socket is corked for its duration). */
  cork(cb: () => void): this {
    this.socket.cork();
    try {
      cb();
    } finally {
      this.socket.uncork();
    }
    return this;
  }

  getRemoteAddressAsText(): ArrayBuffer {
    this.check();
    return toArrayBuffer(Buffer.from(this.socket.remoteAddress ?? '', 'utf8'));
  }

  getUserData(): U {
    return this.userData;
  }

  asUws(): WebSocket<U> {
    return this as unknown as WebSocket<U>;
  }
}
