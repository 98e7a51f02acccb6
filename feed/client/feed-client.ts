// The feed client: subscribes, keeps a local book per symbol (L2, and L3 when subscribed),
// detects gaps by sequence number, verifies the l2 checksum after every update, and resyncs
// by itself (feed/README.md, "Resync"). Tests, examples and `npx matchbook watch` use it.
//
//   const c = await FeedClient.connect({ url: 'ws://127.0.0.1:8092/v1/ws' });
//   c.on('l2', (book) => console.log(book.best('BUY'), book.best('SELL')));
//   await c.subscribe(['BTC-USD'], ['l2', 'trades']);
//
// Events (EventEmitter): 'message' (every server message, decoded), 'l2' (LocalL2Book, after a
// snapshot or an update verified), 'l3' (LocalL3Book), 'l1' / 'trades' / 'candles' / 'status'
// (the message), 'heartbeat', 'gap' ({symbol, channel, expected, got}), 'checksum_mismatch'
// ({symbol, channel, expected, got}), 'resync' ({symbol, channel, reason}), 'error' (an error
// message from the server, or a local failure), 'close' ({code, reason}).
//
// Sync modes for l2: 'snapshot' (default: the server sends a snapshot on subscribe and on each
// resync request) or 'rest' (the Binance way: subscribe without a snapshot, buffer the updates,
// GET /v1/book/{symbol}, drop updates at or below its seq, apply the rest).
//
// numbers: 'decimal' connects with ?numbers=decimal (prices and quantities as exact decimal
// strings), reads each instrument's decimals from GET /v1/instruments first, and parses every data
// message back to integer units exactly (feed/decimal-form.ts): the 'message' event has the
// message as received (decimal strings), the books and the channel events the units form, so
// gap detection and the checksum check work as on a units connection.

import { EventEmitter } from 'node:events';
import { fromDecimalForm, type InstrumentDecimals } from '../decimal-form.js';
import { FeedProtoCodec } from '../proto-codec.js';
import {
  Channel,
  isDataMessage,
  isDeltaChannel,
  type DataMessage,
  type Encoding,
  type FeedRequest,
  type L2Message,
  type L3Message,
  type Numbers,
  type ServerMessage,
  type SubscribedMessage,
  type UnsubscribedMessage,
} from '../types.js';
import { LocalL2Book, LocalL3Book } from './local-book.js';
import { WsConnection } from './ws-connection.js';

/** A request not answered in this time rejects. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Resyncs of one subscription within a minute before the client gives up on it (emits 'error'). */
export const RESYNCS_PER_MINUTE_MAX = 30;
/** Updates buffered per subscription while a REST snapshot is fetched. */
export const REST_SYNC_BUFFER_MAX = 100_000;
/** Depth asked of GET /v1/book in 'rest' sync mode (the server's default cap). */
export const REST_SYNC_DEPTH = 5_000;

export interface FeedClientOptions {
  /** ws://host:port/v1/ws */
  url: string;
  encoding?: Encoding;
  /** 'decimal': receive decimal strings (JSON only), parsed back to units; default 'units'. */
  numbers?: Numbers;
  l2Sync?: 'snapshot' | 'rest';
  /** Verify l2 checksums (default true). */
  verifyChecksums?: boolean;
  messageBytesMax?: number;
  /** wss:// URLs: the CA (PEM) the feed's certificate must chain to (default Node's roots). */
  ca?: string | Buffer;
}

export interface FeedClientStats {
  messages: number;
  snapshots: number;
  updates: number;
  /** Updates at or below the last seq (arrived before their snapshot): dropped, harmless. */
  stale: number;
  gaps: number;
  checksumMismatches: number;
  resyncs: number;
  /** Resyncs the server asked for (`resync` notices). */
  serverResyncs: number;
  /** l2 books taken from GET /v1/book (rest sync mode). */
  restSnapshots: number;
  errors: number;
}

interface SubState {
  symbol: string;
  channel: Channel;
  /** Last seq applied. */
  seq: number;
  /** Waiting for a snapshot (or, in rest mode, for the REST book): updates are dropped (or buffered). */
  synced: boolean;
  resyncTimesMs: number[];
  /** rest mode: updates received while the REST snapshot is fetched. */
  buffered: L2Message[] | undefined;
}

const TEXT = new TextDecoder('utf-8', { fatal: true });
const key = (symbol: string, channel: string) => `${channel}/${symbol}`;

export class FeedClient extends EventEmitter {
  readonly stats: FeedClientStats = {
    messages: 0,
    snapshots: 0,
    updates: 0,
    stale: 0,
    gaps: 0,
    checksumMismatches: 0,
    resyncs: 0,
    serverResyncs: 0,
    restSnapshots: 0,
    errors: 0,
  };
  /** Server-side id of this connection (from the first `subscribed` reply). */
  connectionId = 0;
  closed: { code: number; reason: string } | undefined;
  private ws!: WsConnection;
  private readonly codec: FeedProtoCodec | undefined;
  private readonly subs = new Map<string, SubState>();
  private readonly l2Books = new Map<string, LocalL2Book>();
  private readonly l3Books = new Map<string, LocalL3Book>();
  private readonly pending = new Map<
    number,
    { resolve: (m: ServerMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private nextId = 1;
  /** numbers 'decimal': symbol → decimals, from GET /v1/instruments. */
  private decimals: Map<string, InstrumentDecimals> | undefined;

  private constructor(private readonly opts: FeedClientOptions) {
    super();
    this.codec = opts.encoding === 'protobuf' ? FeedProtoCodec.get() : undefined;
    // An 'error' event without a listener would throw; the client reports and carries on.
    this.on('error', () => undefined);
  }

  static async connect(opts: FeedClientOptions): Promise<FeedClient> {
    const c = new FeedClient(opts);
    let url = opts.encoding === 'protobuf' ? withQuery(opts.url, 'encoding', 'protobuf') : opts.url;
    if (opts.numbers === 'decimal') {
      if (opts.encoding === 'protobuf') throw new Error('feed: numbers decimal needs the json encoding');
      c.decimals = await fetchDecimals(opts.url);
      url = withQuery(url, 'numbers', 'decimal');
    }
    c.ws = await WsConnection.connect(
      url,
      {
        onMessage: (data, isBinary) => c.onFrame(data, isBinary),
        onClose: (code, reason) => c.onClose(code, reason),
      },
      {
        ...(opts.messageBytesMax !== undefined ? { messageBytesMax: opts.messageBytesMax } : {}),
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      },
    );
    return c;
  }

  // -------------------------------------------------------------------------------------------
  // Requests
  // -------------------------------------------------------------------------------------------

  /** Subscribes to channels × symbols; resolves with the server's `subscribed` reply (snapshots follow it). */
  async subscribe(symbols: string[], channels: Channel[]): Promise<SubscribedMessage> {
    for (const s of symbols) {
      for (const ch of channels) {
        const k = key(s, ch);
        if (!this.subs.has(k))
          this.subs.set(k, { symbol: s, channel: ch, seq: 0, synced: false, resyncTimesMs: [], buffered: undefined });
        if (ch === Channel.L2 || ch === Channel.L2_THROTTLED)
          this.l2Books.set(k, this.l2Books.get(k) ?? new LocalL2Book(s));
        if (ch === Channel.L3) this.l3Books.set(s, this.l3Books.get(s) ?? new LocalL3Book(s));
      }
    }
    const restL2 = this.opts.l2Sync === 'rest' && channels.every((c) => c === Channel.L2);
    if (restL2) for (const s of symbols) this.subs.get(key(s, Channel.L2))!.buffered = [];
    const reply = await this.request({ op: 'subscribe', channels, symbols, ...(restL2 ? { no_snapshot: true } : {}) });
    if (reply.type !== 'subscribed') throw new Error(`subscribe refused: ${JSON.stringify(reply)}`);
    if (this.connectionId === 0) this.connectionId = reply.connection_id;
    if (restL2) await Promise.all(symbols.map((s) => this.restSync(this.subs.get(key(s, Channel.L2))!)));
    return reply;
  }

  async unsubscribe(symbols: string[], channels: Channel[]): Promise<UnsubscribedMessage> {
    for (const s of symbols) for (const ch of channels) this.subs.delete(key(s, ch));
    const reply = await this.request({ op: 'unsubscribe', channels, symbols });
    if (reply.type !== 'unsubscribed') throw new Error(`unsubscribe refused: ${JSON.stringify(reply)}`);
    return reply;
  }

  /** Round trip to the server. */
  async ping(): Promise<void> {
    await this.request({ op: 'ping' });
  }

  private request(r: FeedRequest): Promise<SubscribedMessage | UnsubscribedMessage | ServerMessage> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`feed: no answer to ${r.op} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.sendRequest({ ...r, id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error('feed: connection closed'));
      }
    });
  }

  private sendRequest(r: FeedRequest): boolean {
    return this.codec !== undefined ? this.ws.send(this.codec.encodeRequest(r)) : this.ws.send(JSON.stringify(r));
  }

  /** Sends raw bytes or text (tests: malformed requests). */
  sendRaw(data: string | Uint8Array): boolean {
    return this.ws.send(data);
  }

  // -------------------------------------------------------------------------------------------
  // State
  // -------------------------------------------------------------------------------------------

  /** The local l2 (or l2.throttled) book of a symbol; undefined if not subscribed. */
  book(symbol: string, channel: 'l2' | 'l2.throttled' = Channel.L2): LocalL2Book | undefined {
    return this.l2Books.get(key(symbol, channel));
  }

  l3(symbol: string): LocalL3Book | undefined {
    return this.l3Books.get(symbol);
  }

  /** Last seq applied on a subscription (0: none yet). */
  lastSeq(symbol: string, channel: Channel): number {
    return this.subs.get(key(symbol, channel))?.seq ?? 0;
  }

  /** Whether a subscription holds a state that follows the stream (snapshot received, no gap since). */
  isSynced(symbol: string, channel: Channel): boolean {
    return this.subs.get(key(symbol, channel))?.synced ?? false;
  }

  // -------------------------------------------------------------------------------------------
  // Incoming
  // -------------------------------------------------------------------------------------------

  private onFrame(data: Buffer, isBinary: boolean): void {
    let m: ServerMessage;
    let wire: ServerMessage<number | string>;
    try {
      if (isBinary) {
        if (this.codec === undefined) throw new Error('binary frame on a JSON connection');
        m = this.codec.decodeMessage(data);
      } else {
        m = JSON.parse(TEXT.decode(data)) as ServerMessage;
      }
      wire = m;
      if (this.decimals !== undefined && isDataMessage(m)) m = this.toUnits(m as unknown as DataMessage<string>);
    } catch (err) {
      this.fail(`undecodable message: ${(err as Error).message}`);
      return;
    }
    this.stats.messages++;
    try {
      this.emit('message', wire);
      this.onMessage(m);
    } catch (err) {
      // A consumer's handler threw: report it, keep the connection and the books.
      this.fail(`handler failed: ${(err as Error).message}`);
    }
  }

  private onMessage(m: ServerMessage): void {
    if (isDataMessage(m)) return this.onData(m);
    switch (m.type) {
      case 'subscribed':
      case 'unsubscribed':
      case 'pong':
        return this.answer(m.id, m);
      case 'error': {
        this.stats.errors++;
        if (m.id !== 0 && this.pending.has(m.id)) return this.answer(m.id, m);
        this.emit('error', m);
        return;
      }
      case 'heartbeat':
        // Everything published before a heartbeat arrives before it: a seq beyond ours is a
        // gap at the end of the stream, which no later update would reveal.
        for (const hs of m.seqs) {
          const st = this.subs.get(key(hs.symbol, hs.channel));
          if (
            st === undefined ||
            !st.synced ||
            st.buffered !== undefined ||
            hs.seq <= st.seq ||
            !isDeltaChannel(hs.channel)
          )
            continue;
          this.stats.gaps++;
          this.emit('gap', { symbol: hs.symbol, channel: hs.channel, expected: st.seq + 1, got: hs.seq });
          this.resync(st, 'gap (heartbeat)');
        }
        this.emit('heartbeat', m);
        return;
      case 'resync': {
        this.stats.serverResyncs++;
        const st = this.subs.get(key(m.symbol, m.channel));
        if (st === undefined) return;
        // A snapshot follows: drop the state until it arrives.
        st.synced = false;
        this.emit('resync', { symbol: m.symbol, channel: m.channel, reason: m.reason });
        return;
      }
    }
  }

  /** A decimal-form data message in units, exactly (throws on a malformed number or an unknown symbol). */
  private toUnits(m: DataMessage<string>): DataMessage {
    const d = this.decimals?.get(m.symbol);
    if (d === undefined) throw new Error(`no decimals known for ${String(m.symbol).slice(0, 40)}`);
    return fromDecimalForm(m, d);
  }

  private answer(id: number, m: ServerMessage): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(m);
  }

  private onData(m: DataMessage): void {
    const st = this.subs.get(key(m.symbol, m.channel));
    if (st === undefined) return; // after an unsubscribe
    if (m.type === 'snapshot') {
      this.stats.snapshots++;
      st.buffered = undefined;
      this.applySnapshot(st, m);
      return;
    }
    if (st.buffered !== undefined) {
      // rest mode, REST snapshot in flight
      if (st.buffered.length >= REST_SYNC_BUFFER_MAX) st.buffered.shift();
      st.buffered.push(m as L2Message);
      return;
    }
    if (!st.synced) return; // waiting for a snapshot
    if (m.seq <= st.seq) {
      this.stats.stale++;
      return;
    }
    if (m.seq !== st.seq + 1) {
      this.stats.gaps++;
      this.emit('gap', { symbol: m.symbol, channel: m.channel, expected: st.seq + 1, got: m.seq });
      if (isDeltaChannel(m.channel)) return this.resync(st, 'gap');
      // l1 / status messages are whole states: take it and carry on.
    }
    this.stats.updates++;
    this.applyUpdate(st, m);
  }

  private applySnapshot(st: SubState, m: DataMessage): void {
    st.seq = m.seq;
    st.synced = true;
    switch (m.channel) {
      case Channel.L2:
      case Channel.L2_THROTTLED: {
        const book = this.l2Books.get(key(m.symbol, m.channel))!;
        book.applySnapshot(m);
        if (!this.verify(st, book, m)) return;
        this.emit('l2', book, m);
        return;
      }
      case Channel.L3: {
        const book = this.l3Books.get(m.symbol)!;
        book.applySnapshot(m);
        this.emit('l3', book, m);
        return;
      }
      default:
        this.emit(m.channel, m);
    }
  }

  private applyUpdate(st: SubState, m: DataMessage): void {
    st.seq = m.seq;
    switch (m.channel) {
      case Channel.L2:
      case Channel.L2_THROTTLED: {
        const book = this.l2Books.get(key(m.symbol, m.channel))!;
        book.applyUpdate(m);
        if (!this.verify(st, book, m)) return;
        this.emit('l2', book, m);
        return;
      }
      case Channel.L3: {
        const book = this.l3Books.get(m.symbol)!;
        book.applyUpdate(m as L3Message);
        this.emit('l3', book, m);
        return;
      }
      default:
        this.emit(m.channel, m);
    }
  }

  /** Checks the local book against the message's checksum; on a mismatch resyncs and returns false. */
  private verify(st: SubState, book: LocalL2Book, m: L2Message): boolean {
    if (this.opts.verifyChecksums === false) return true;
    const got = book.checksum();
    if (got === m.checksum) return true;
    this.stats.checksumMismatches++;
    this.emit('checksum_mismatch', { symbol: m.symbol, channel: m.channel, expected: m.checksum, got });
    this.resync(st, 'checksum');
    return false;
  }

  /** Throws the local state away and asks for a fresh one: re-subscribing sends a snapshot (rest mode: the REST book again). */
  private resync(st: SubState, why: string): void {
    st.synced = false;
    const now = Date.now();
    st.resyncTimesMs = st.resyncTimesMs.filter((t) => now - t < 60_000);
    if (st.resyncTimesMs.length >= RESYNCS_PER_MINUTE_MAX) {
      this.fail(
        `${st.channel} ${st.symbol}: ${RESYNCS_PER_MINUTE_MAX} resyncs within a minute, giving up (last: ${why})`,
      );
      return;
    }
    st.resyncTimesMs.push(now);
    this.stats.resyncs++;
    this.emit('resync', { symbol: st.symbol, channel: st.channel, reason: why });
    if (this.opts.l2Sync === 'rest' && st.channel === Channel.L2) {
      st.buffered = [];
      void this.restSync(st);
      return;
    }
    this.sendRequest({ op: 'subscribe', id: 0, channels: [st.channel], symbols: [st.symbol] });
  }

  /**
   * The Binance way: the updates are being buffered; fetch the REST book, drop the updates at or
   * below its seq, apply the rest. If the first update kept is not the snapshot's seq + 1, the
   * snapshot is older than the updates' start: fetch again (bounded).
   */
  private async restSync(st: SubState): Promise<void> {
    const base = new URL(this.opts.url);
    const numbers = this.decimals !== undefined ? '&numbers=decimal' : '';
    const url = `http://${base.host}/v1/book/${encodeURIComponent(st.symbol)}?depth=${REST_SYNC_DEPTH}${numbers}`;
    for (let attempt = 0; attempt < 10; attempt++) {
      let snap: L2Message;
      try {
        const res = await fetch(url);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = (await res.json()) as L2Message | L2Message<string>;
        snap =
          this.decimals !== undefined ? (this.toUnits(body as L2Message<string>) as L2Message) : (body as L2Message);
      } catch (err) {
        this.fail(`GET ${url}: ${(err as Error).message}`);
        return;
      }
      if (this.subs.get(key(st.symbol, st.channel)) !== st || st.buffered === undefined) return; // unsubscribed, or a snapshot came meanwhile
      const later = st.buffered.filter((u) => u.seq > snap.seq);
      if (later.length > 0 && later[0]!.seq !== snap.seq + 1) continue; // the book is older than what we hold: again
      st.buffered = undefined;
      this.stats.snapshots++;
      this.stats.restSnapshots++;
      this.applySnapshot(st, snap);
      for (const u of later) this.onData(u);
      return;
    }
    this.fail(`${st.symbol}: no REST book matching the update stream after 10 attempts`);
  }

  private fail(message: string): void {
    this.stats.errors++;
    this.emit('error', new Error(message));
  }

  private onClose(code: number, reason: string): void {
    this.closed = { code, reason };
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`feed: connection closed (${code} ${reason})`));
    }
    this.pending.clear();
    this.emit('close', { code, reason });
  }

  // -------------------------------------------------------------------------------------------

  /** Closes the connection (close handshake); resolves once closed. */
  close(): Promise<void> {
    if (this.closed !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.once('close', () => resolve());
      this.ws.close(1000, 'bye');
    });
  }

  /** Stops reading from the socket (a deliberately slow consumer: tests, experiments). */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}

/** Each instrument's decimals from the feed's GET /v1/instruments (same host as the WebSocket URL). */
async function fetchDecimals(wsUrl: string): Promise<Map<string, InstrumentDecimals>> {
  const u = new URL(wsUrl);
  // wss:// → https:// with Node's roots (fetch takes no CA: a private CA needs NODE_EXTRA_CA_CERTS).
  const url = `${u.protocol === 'wss:' ? 'https' : 'http'}://${u.host}/v1/instruments`;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`feed: GET ${url}: HTTP ${res.status}`);
  const body = (await res.json()) as {
    instruments?: { symbol: string; price_decimals: number; quantity_decimals: number }[];
  };
  if (!Array.isArray(body.instruments)) throw new Error(`feed: GET ${url}: no instruments with decimals`);
  return new Map(
    body.instruments.map((i) => [i.symbol, { priceDecimals: i.price_decimals, qtyDecimals: i.quantity_decimals }]),
  );
}

function withQuery(url: string, k: string, v: string): string {
  const u = new URL(url);
  u.searchParams.set(k, v);
  return u.toString();
}
