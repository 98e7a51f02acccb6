// The browser's WebSocket to a shard's market-data feed (feed/README.md). The members' feed URLs
// come from the server with the leader's followers first (a follower's apply path does nothing
// else); the socket tries them in order and moves to the next on a close or an error, waiting a
// bounded back-off that doubles after each full round and starts again only once a connection
// lasted FEED_CONNECTION_STABLE_MS. It subscribes right after open (the feed
// closes a connection with no subscription after 5 s) and follows the selected symbol.

import type { Channel, ServerMessage } from '../../../feed/types.js';
import { FEED_CONNECTION_STABLE_MS, FEED_RECONNECT_MS_MAX, FEED_RECONNECT_MS_MIN } from '../limits.js';

/** The channels the market view shows. */
export const MARKET_CHANNELS: Channel[] = ['l2', 'trades', 'candles', 'status'];

export interface FeedSocketHandlers {
  /** A new connection is open and subscribed: every local state must start again from snapshots (seqs are per server). */
  onConnected(url: string): void;
  onMessage(m: ServerMessage): void;
  /** The connection is gone; the next attempt comes in `retryInMs` (the back-off). */
  onDisconnected(reason: string, retryInMs: number): void;
}

export class FeedSocket {
  private ws: WebSocket | null = null;
  private next = 0;
  private failedInRound = 0;
  private backoffMs = FEED_RECONNECT_MS_MIN;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the current connection opened (null: not open yet). */
  private openedAtMs: number | null = null;
  private requestId = 0;
  private stopped = false;
  /** Channels re-subscribed and not yet answered by a snapshot: one outstanding resync per channel. */
  private readonly resyncing = new Set<Channel>();

  constructor(
    private readonly urlsOf: (symbol: string) => string[],
    private symbolNow: string,
    private readonly handlers: FeedSocketHandlers,
  ) {
    this.connect();
  }

  get symbol(): string {
    return this.symbolNow;
  }

  /** Unsubscribes the old symbol and subscribes the new one; another shard means another feed. */
  setSymbol(symbol: string): void {
    const old = this.symbolNow;
    this.symbolNow = symbol;
    this.resyncing.clear();
    const sameFeed = this.urlsOf(old).join() === this.urlsOf(symbol).join();
    if (!sameFeed || this.ws === null || this.ws.readyState !== WebSocket.OPEN) {
      this.next = 0;
      this.reconnectNow();
      return;
    }
    this.send({ op: 'unsubscribe', channels: MARKET_CHANNELS, symbols: [old] });
    this.send({ op: 'subscribe', channels: MARKET_CHANNELS, symbols: [symbol] });
  }

  /** Asks the feed for a fresh snapshot of a channel (after a gap or a checksum mismatch). */
  resubscribe(channel: Channel): void {
    if (this.resyncing.has(channel)) return;
    this.resyncing.add(channel);
    this.send({ op: 'subscribe', channels: [channel], symbols: [this.symbolNow] });
  }

  /** The snapshot that answers a resubscribe arrived. */
  snapshotArrived(channel: Channel): void {
    this.resyncing.delete(channel);
  }

  close(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.ws?.close();
  }

  private send(req: Record<string, unknown>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ ...req, id: ++this.requestId }));
  }

  private connect(): void {
    this.timer = null;
    const urls = this.urlsOf(this.symbolNow);
    if (urls.length === 0 || this.stopped) return;
    const url = urls[this.next % urls.length]!;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      // A URL the browser refuses (never from a sane config): the next member, after the back-off.
      this.handlers.onDisconnected(`${url}: ${String(err)}`, FEED_RECONNECT_MS_MAX);
      this.next = (this.next + 1) % urls.length;
      this.timer = setTimeout(() => this.connect(), FEED_RECONNECT_MS_MAX);
      return;
    }
    this.ws = ws;
    this.openedAtMs = null;
    ws.onopen = () => {
      this.resyncing.clear();
      this.send({ op: 'subscribe', channels: MARKET_CHANNELS, symbols: [this.symbolNow] });
      // The back-off is not reset here: a member that accepts and closes at once (a slow consumer,
      // 4008) would be asked again every FEED_RECONNECT_MS_MIN forever. closed() judges by how long it lasted.
      this.openedAtMs = Date.now();
      this.handlers.onConnected(url);
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let m: ServerMessage;
      try {
        m = JSON.parse(e.data) as ServerMessage;
      } catch {
        return;
      }
      this.handlers.onMessage(m);
    };
    ws.onclose = (e) => this.closed(ws, url, e.code);
  }

  /** Close (an error is always followed by a close): the next member, after a back-off. */
  private closed(ws: WebSocket, url: string, code: number): void {
    if (ws !== this.ws || this.stopped) return;
    this.ws = null;
    if (this.openedAtMs !== null && Date.now() - this.openedAtMs >= FEED_CONNECTION_STABLE_MS) {
      this.failedInRound = 0;
      this.backoffMs = FEED_RECONNECT_MS_MIN;
    }
    const n = Math.max(1, this.urlsOf(this.symbolNow).length);
    this.next = (this.next + 1) % n;
    if (++this.failedInRound >= n) {
      this.failedInRound = 0;
      this.backoffMs = Math.min(FEED_RECONNECT_MS_MAX, this.backoffMs * 2);
    }
    this.handlers.onDisconnected(`${url} closed (${code})`, this.backoffMs);
    this.timer = setTimeout(() => this.connect(), this.backoffMs);
  }

  private reconnectNow(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.onclose = null;
      ws.close();
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.connect();
  }
}
