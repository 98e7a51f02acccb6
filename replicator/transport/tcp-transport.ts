// TCP transport between replicas: a thin node:net adapter around a protocol's wire codec
// (wire-codecs.ts: Raft's raft-codec.ts by default, Multi-Paxos's paxos-codec.ts). Below, a
// "message" is one item of the codec (a Raft message; a Paxos message or snapshot chunk).
//
// Topology: we dial one outbound connection to each peer and only write on it; peers' inbound
// connections to us only deliver messages to us (proto/raft-frames.md). One writer per
// direction keeps ordering simple (per peer, messages arrive in send order or not at all) and
// needs no tie-breaking between two replicas dialling each other at once.
//
// Sending: send() puts each message on its destination's bounded queue and schedules one flush
// (a microtask), so all messages queued in one synchronous run (a Raft Ready) leave together.
// A flush encodes the queue into RAFT_BATCH frames of up to batchBytesMax each, writes them
// between cork() and uncork(), and stops as soon as write() returns false, until 'drain'.
//
// Full queue → drop the NEWEST messages for that peer and count them, never block. Why:
//  - Raft is built for lossy networks: an unanswered APPEND is resent (probe / heartbeat
//    response), a lost vote is retried at the next election timeout, a lost heartbeat is
//    followed by the next one. A drop here is indistinguishable from a lost packet.
//  - Blocking would stall the host's single event loop, i.e. the node's progress with every
//    other peer, because of one slow or dead follower (head-of-line blocking); the leader only
//    needs a majority.
//  - Dropping the newest keeps what is already queued a contiguous, in-order stream (no gap in
//    the middle of a pipelined APPEND run, which would make the follower reject everything after
//    it), costs O(1), and the leader's in-flight window already bounds what it sends unanswered.
//  - Memory stays bounded: per peer at most peerQueueBytesMax queued, plus one frame (≤
//    batchBytesMax, or one larger message) and the socket's high-water mark inside Node.
//
// Untrusted input: nothing a peer sends can throw out of a socket handler. Bad frames, a wrong
// cluster or protocol version, a missing or second HELLO, a message whose sender is not the
// HELLO's node or whose destination is not us: the connection is closed and the reason logged.
// Only exceptions thrown by our own onMessages callback propagate (a host bug, e.g. an
// invariant error the host treats as fatal).

import { TRANSPORT_BATCH_BYTES_MAX } from '../limits.js';
import type net from 'node:net';
import type { Message, NodeId } from '../raft/types.js';
import { linesLog, NO_LOG, type Log } from '../../ops/log.js';
import {
  CLUSTER_ID_BYTES_MAX,
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FrameDecodeError,
  type FrameErrorCode,
  HELLO_FRAME_BYTES_MAX,
  PROTOCOL_VERSION,
} from './raft-codec.js';
import { RAFT_WIRE_CODEC, type WireCodec, type WireFrame } from './wire-codecs.js';
import { connectSocket, createSocketServer } from '../client/socket-factory.js';
import type { TlsMaterial } from '../../ops/tls-settings.js';

/** Encoded bytes queued for one peer (32 MiB); more → the newest messages are dropped and counted. */
export const PEER_QUEUE_BYTES_MAX = 32 * 1024 * 1024;
/** Messages queued for one peer; more → the newest messages are dropped and counted. */
export const PEER_QUEUE_MESSAGES_MAX = 65_536;
/** First reconnect delay after a connection fails or closes (ms); doubles per failure. */
export const RECONNECT_DELAY_MS_MIN = 50;
/** Cap of the reconnect delay (ms); the actual delay is jittered in [cap/2, cap]. */
export const RECONNECT_DELAY_MS_MAX = 5_000;
/** A connection that stays up this long (ms) resets the backoff; a shorter one (a peer that refuses our HELLO) keeps backing off. */
export const CONNECTION_STABLE_MS = 1_000;
/** A dial that has not connected within this (ms) is abandoned (a black-holed SYN takes minutes). */
export const CONNECT_TIMEOUT_MS = 5_000;
/** An inbound connection must deliver a valid HELLO within this (ms), or it is closed. */
export const HELLO_TIMEOUT_MS = 5_000;
/** An outbound connection that stays blocked on 'drain' this long (ms) is closed and redialled (a dead peer behind a live route). */
export const WRITE_STALL_MS_MAX = 10_000;
/** Inbound connections open at once (identified or not); more are closed on accept. */
export const INBOUND_CONNECTIONS_MAX = 64;
/** TCP keepalive idle delay (ms), on both ends, to notice dead hosts on idle connections. */
export const KEEPALIVE_DELAY_MS = 10_000;

export interface TransportLimits {
  /** Largest frame sent or accepted, header included. Default FRAME_BYTES_MAX (32 MiB). */
  frameBytesMax: number;
  batchBytesMax: number;
  peerQueueBytesMax: number;
  peerQueueMessagesMax: number;
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
  connectionStableMs: number;
  connectTimeoutMs: number;
  helloTimeoutMs: number;
  writeStallMsMax: number;
  inboundConnectionsMax: number;
  keepAliveDelayMs: number;
}

export const DEFAULT_TRANSPORT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  frameBytesMax: FRAME_BYTES_MAX,
  batchBytesMax: TRANSPORT_BATCH_BYTES_MAX,
  peerQueueBytesMax: PEER_QUEUE_BYTES_MAX,
  peerQueueMessagesMax: PEER_QUEUE_MESSAGES_MAX,
  reconnectDelayMsMin: RECONNECT_DELAY_MS_MIN,
  reconnectDelayMsMax: RECONNECT_DELAY_MS_MAX,
  connectionStableMs: CONNECTION_STABLE_MS,
  connectTimeoutMs: CONNECT_TIMEOUT_MS,
  helloTimeoutMs: HELLO_TIMEOUT_MS,
  writeStallMsMax: WRITE_STALL_MS_MAX,
  inboundConnectionsMax: INBOUND_CONNECTIONS_MAX,
  keepAliveDelayMs: KEEPALIVE_DELAY_MS,
});

export interface PeerAddress {
  host: string;
  port: number;
}

/** Why a connection was closed (logged with every close). Frame errors use the decoder's code. */
export type CloseReason =
  | FrameErrorCode
  | 'HELLO_EXPECTED'
  | 'UNEXPECTED_HELLO'
  | 'WRONG_CLUSTER'
  | 'BAD_NODE_ID'
  | 'SENDER_MISMATCH'
  | 'HELLO_TIMEOUT'
  | 'INBOUND_LIMIT'
  | 'TLS_HANDSHAKE'
  | 'REPLACED'
  | 'CONNECT_TIMEOUT'
  | 'WRITE_STALLED'
  | 'UNEXPECTED_DATA'
  | 'SOCKET_ERROR'
  | 'CLOSED_BY_PEER'
  | 'PEER_CHANGED'
  | 'PEER_REMOVED'
  | 'STOPPED';

export type TransportEvent =
  | 'outbound_closed'
  | 'inbound_closed'
  | 'inbound_refused'
  | 'queue_full'
  | 'message_too_large'
  | 'server_error';

/**
 * The fields of the transport's log records. Each record's message is a sentence for its
 * `event` (EVENT_MESSAGES); its level is warn for trouble (a protocol violation, a stalled
 * write, a full queue) and debug for connection churn (a peer down or restarting, a close on
 * stop), which Raft rides out and which would otherwise log every reconnect attempt.
 */
export type TransportLogFields = {
  event: TransportEvent;
  /** The peer: our dial target, or the node id an inbound connection said HELLO with. */
  peer?: NodeId;
  remote?: string;
  reason?: CloseReason;
  detail?: string;
  /** queue_full: what was queued for the peer when dropping started, and its connection state. */
  queuedMessages?: number;
  queuedBytes?: number;
  state?: string;
  /** message_too_large: the message's type and encoded size, and the frame limit. */
  messageType?: number;
  bytes?: number;
  frameBytesMax?: number;
  /** inbound_refused: inbound connections open. */
  inbound?: number;
};

const EVENT_MESSAGES: Record<TransportEvent, string> = {
  outbound_closed: 'transport: outbound connection closed',
  inbound_closed: 'transport: inbound connection closed',
  inbound_refused: 'transport: inbound connection refused',
  queue_full: 'transport: peer queue full: dropping the newest messages (Raft resends)',
  message_too_large: 'transport: message over the frame limit dropped',
  server_error: 'transport: server error',
};

export interface TcpTransportOptions<T = Message> {
  selfId: NodeId;
  /** The protocol's wire codec (wire-codecs.ts). Default: Raft's; required for any other item type. */
  codec?: WireCodec<T>;
  /** Sent and checked in HELLO; at most CLUSTER_ID_BYTES_MAX UTF-8 bytes. */
  clusterId: string;
  /** Port 0: the OS picks one; read it from `port` after start(). */
  listen: PeerAddress;
  /** Peers to dial. Copied; change later with setPeer()/removePeer(). */
  peers: Map<NodeId, PeerAddress>;
  /** Messages received, in arrival order per sender; one call per socket read. May throw only for a local bug. */
  onMessages: (msgs: T[]) => void;
  limits?: Partial<TransportLimits>;
  /** Jitter source, [0, 1). Default Math.random. */
  random?: () => number;
  /** Records with TransportLogFields. Default: warn and error records as text lines on stderr (linesLog). */
  log?: Log;
  /** Mutual TLS on both directions (the cluster file's "tls", socket-factory.ts); undefined: plain TCP. */
  tls?: TlsMaterial;
}

export interface PeerStats {
  connected: boolean;
  queuedMessages: number;
  queuedBytes: number;
  messagesSent: number;
  /** Frame bytes handed to the socket. */
  bytesSent: number;
  framesSent: number;
  /** Messages dropped because the queue was full, and their encoded bytes. */
  droppedMessages: number;
  droppedBytes: number;
  /** Successful connections. */
  connects: number;
  /** Dials scheduled after a failed or lost connection. */
  reconnects: number;
  /** Times a write returned false and we waited for 'drain'. */
  backpressureWaits: number;
  /** Received on inbound connections that said HELLO with this node id. */
  messagesReceived: number;
  bytesReceived: number;
}

export interface TransportStats {
  messagesSent: number;
  bytesSent: number;
  framesSent: number;
  messagesReceived: number;
  bytesReceived: number;
  framesReceived: number;
  /** Dropped on a full peer queue (sum over peers). */
  droppedMessages: number;
  /** Dropped because `to` is not a configured peer. */
  droppedUnknownPeer: number;
  /** Dropped because one message cannot fit in a frame. */
  droppedTooLarge: number;
  /** Inbound connections closed for a protocol violation or over the limit. */
  inboundRefused: number;
  inboundConnections: number;
  peers: Record<NodeId, PeerStats>;
}

type PeerState = 'idle' | 'connecting' | 'open' | 'backoff';

function newPeerStats(): PeerStats {
  return {
    connected: false,
    queuedMessages: 0,
    queuedBytes: 0,
    messagesSent: 0,
    bytesSent: 0,
    framesSent: 0,
    droppedMessages: 0,
    droppedBytes: 0,
    connects: 0,
    reconnects: 0,
    backpressureWaits: 0,
    messagesReceived: 0,
    bytesReceived: 0,
  };
}

class Peer<T> {
  state: PeerState = 'idle';
  socket: net.Socket | null = null;
  /** Waiting for 'drain'. */
  blocked = false;
  /** Failures since the last stable connection: the backoff exponent. */
  failures = 0;
  connectedAt = 0;
  connectTimer: NodeJS.Timeout | undefined;
  stallTimer: NodeJS.Timeout | undefined;
  reconnectTimer: NodeJS.Timeout | undefined;
  readonly queue: T[] = [];
  readonly sizes: number[] = [];
  queueBytes = 0;
  /** Dropping since the last successful enqueue (logs once per episode, not per message). */
  dropping = false;
  readonly stats = newPeerStats();

  constructor(
    readonly id: NodeId,
    public addr: PeerAddress,
  ) {}
}

interface Inbound {
  readonly socket: net.Socket;
  readonly remote: string;
  readonly decoder: { push(chunk: Uint8Array): WireFrame[] };
  peerId: NodeId | null;
  helloTimer: NodeJS.Timeout | undefined;
  closed: boolean;
}

const BACKOFF_EXPONENT_MAX = 30;

export class TcpTransport<T = Message> {
  private readonly selfId: NodeId;
  private readonly codec: WireCodec<T>;
  private readonly clusterId: string;
  private readonly listenAddr: PeerAddress;
  private readonly onMessages: (msgs: T[]) => void;
  private readonly limits: TransportLimits;
  private readonly random: () => number;
  private readonly log: Log;
  private readonly hello: Uint8Array;
  private readonly tls: TlsMaterial | undefined;
  private readonly peers = new Map<NodeId, Peer<T>>();
  private readonly inbound = new Set<Inbound>();
  private readonly inboundByPeer = new Map<NodeId, Inbound>();
  /** Every socket not yet 'close'd, so stop() can wait for all handles to be released. */
  private readonly sockets = new Set<net.Socket>();
  private socketsClosed: (() => void) | undefined;
  private server: net.Server | null = null;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private readonly dirty = new Set<Peer<T>>();
  private flushScheduled = false;
  /** Reused batch array of a flush. */
  private readonly batch: T[] = [];
  private readonly totals = {
    messagesReceived: 0,
    bytesReceived: 0,
    framesReceived: 0,
    droppedUnknownPeer: 0,
    droppedTooLarge: 0,
    inboundRefused: 0,
  };

  constructor(options: TcpTransportOptions<T>) {
    this.selfId = options.selfId;
    // The default is Raft's codec, whose items are Messages (T's default).
    this.codec = options.codec ?? (RAFT_WIRE_CODEC as unknown as WireCodec<T>);
    this.clusterId = options.clusterId;
    this.listenAddr = { ...options.listen };
    this.onMessages = options.onMessages;
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...options.limits };
    this.random = options.random ?? Math.random;
    this.log = options.log ?? defaultLog(options.selfId);
    this.tls = options.tls;
    if (!Number.isSafeInteger(this.selfId) || this.selfId <= 0)
      throw new RangeError(`TcpTransport: selfId ${this.selfId}`);
    if (Buffer.byteLength(this.clusterId, 'utf8') > CLUSTER_ID_BYTES_MAX)
      throw new RangeError(`TcpTransport: cluster id over ${CLUSTER_ID_BYTES_MAX} bytes`);
    const l = this.limits;
    if (
      l.frameBytesMax <= HELLO_FRAME_BYTES_MAX ||
      l.batchBytesMax < FRAME_HEADER_BYTES ||
      l.peerQueueMessagesMax < 1 ||
      l.peerQueueBytesMax < 1
    ) {
      throw new RangeError('TcpTransport: limits out of range');
    }
    if (l.reconnectDelayMsMin <= 0 || l.reconnectDelayMsMax < l.reconnectDelayMsMin)
      throw new RangeError('TcpTransport: reconnect delays out of range');
    this.hello = this.codec.encodeHello({
      protocolVersion: this.codec.protocolVersion,
      nodeId: this.selfId,
      clusterId: this.clusterId,
    });
    for (const [id, addr] of options.peers) this.setPeer(id, addr);
  }

  /** Listens, then dials every peer. Resolves once listening. */
  async start(): Promise<void> {
    if (this.started) throw new Error('TcpTransport: already started');
    if (this.stopped) throw new Error('TcpTransport: stopped');
    this.started = true;
    const server = createSocketServer(
      this.tls,
      (s) => this.accept(s),
      (err, remote) => {
        this.totals.inboundRefused++;
        this.emit('warn', { event: 'inbound_refused', remote, reason: 'TLS_HANDSHAKE', detail: err.message });
      },
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenAddr.port, this.listenAddr.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.emit('warn', { event: 'server_error', detail: err.message }));
    for (const p of this.peers.values()) this.dial(p);
  }

  /** The bound port (useful with listen port 0). */
  get port(): number {
    const a = this.server?.address();
    if (a === null || a === undefined || typeof a === 'string') throw new Error('TcpTransport: not listening');
    return a.port;
  }

  /** Adds a peer, or changes its address (the open connection is closed and redialled). */
  setPeer(id: NodeId, addr: PeerAddress): void {
    if (id === this.selfId) throw new RangeError('TcpTransport: a peer cannot be this node');
    if (!Number.isSafeInteger(id) || id <= 0) throw new RangeError(`TcpTransport: peer id ${id}`);
    // net.connect() throws synchronously on a bad port; refuse it here instead of in a timer.
    if (!Number.isInteger(addr.port) || addr.port < 1 || addr.port > 65_535)
      throw new RangeError(`TcpTransport: peer ${id} port ${addr.port}`);
    const p = this.peers.get(id);
    if (p === undefined) {
      const np = new Peer<T>(id, { ...addr });
      this.peers.set(id, np);
      if (this.started && !this.stopped) this.dial(np);
      return;
    }
    if (p.addr.host === addr.host && p.addr.port === addr.port) return;
    p.addr = { ...addr };
    if (!this.started || this.stopped) return;
    this.closeOutbound(p, p.socket, 'PEER_CHANGED', undefined, false);
    clearTimeout(p.reconnectTimer);
    p.failures = 0;
    this.dial(p);
  }

  /** Whether messages to `id` have an address to go to. */
  hasPeer(id: NodeId): boolean {
    return this.peers.has(id);
  }

  /** Encoded bytes queued for `id` and not yet written (0 for an unknown peer): senders of bulk data pace themselves on it. */
  queuedBytes(id: NodeId): number {
    return this.peers.get(id)?.queueBytes ?? 0;
  }

  /** Forgets a peer: closes its connection and drops its queue. */
  removePeer(id: NodeId): void {
    const p = this.peers.get(id);
    if (p === undefined) return;
    this.peers.delete(id);
    this.dirty.delete(p);
    this.closeOutbound(p, p.socket, 'PEER_REMOVED', undefined, false);
    clearTimeout(p.reconnectTimer);
    this.clearQueue(p);
  }

  /**
   * Queues each message for its destination (m.to); flushes in a microtask. Never blocks; a full
   * queue drops. Throws RangeError (before queueing anything of `msgs`) on a message the wire
   * format cannot carry, a local bug better reported here than from the flush. Messages are
   * referenced, not copied, until flushed: do not mutate them after send().
   */
  send(msgs: T[]): void {
    if (this.stopped) return;
    const codec = this.codec;
    for (let i = 0; i < msgs.length; i++) codec.check(msgs[i]!);
    const l = this.limits;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      const p = this.peers.get(codec.toOf(m));
      if (p === undefined) {
        this.totals.droppedUnknownPeer++;
        continue;
      }
      const size = codec.encodedBytes(m);
      if (codec.frameBytes(1, size) > l.frameBytesMax) {
        this.totals.droppedTooLarge++;
        this.emit('warn', {
          event: 'message_too_large',
          peer: p.id,
          messageType: codec.typeOf(m),
          bytes: size,
          frameBytesMax: l.frameBytesMax,
        });
        continue;
      }
      if (p.queue.length >= l.peerQueueMessagesMax || p.queueBytes + size > l.peerQueueBytesMax) {
        p.stats.droppedMessages++;
        p.stats.droppedBytes += size;
        if (!p.dropping) {
          p.dropping = true;
          this.emit('warn', {
            event: 'queue_full',
            peer: p.id,
            queuedMessages: p.queue.length,
            queuedBytes: p.queueBytes,
            state: p.state,
          });
        }
        continue;
      }
      p.dropping = false;
      p.queue.push(m);
      p.sizes.push(size);
      p.queueBytes += size;
      this.dirty.add(p);
    }
    if (this.dirty.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushDirty);
    }
  }

  stats(): TransportStats {
    const t: TransportStats = {
      messagesSent: 0,
      bytesSent: 0,
      framesSent: 0,
      ...this.totals,
      droppedMessages: 0,
      inboundConnections: this.inbound.size,
      peers: {},
    };
    for (const p of this.peers.values()) {
      const s = {
        ...p.stats,
        connected: p.state === 'open',
        queuedMessages: p.queue.length,
        queuedBytes: p.queueBytes,
      };
      t.peers[p.id] = s;
      t.messagesSent += s.messagesSent;
      t.bytesSent += s.bytesSent;
      t.framesSent += s.framesSent;
      t.droppedMessages += s.droppedMessages;
    }
    return t;
  }

  /** Closes the server and every connection, clears every timer, drops the queues. Resolves once all sockets are closed. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.stopped = true;
    this.dirty.clear();
    for (const p of this.peers.values()) {
      this.closeOutbound(p, p.socket, 'STOPPED', undefined, false);
      clearTimeout(p.reconnectTimer);
      p.state = 'idle';
      this.clearQueue(p);
    }
    for (const c of [...this.inbound]) this.closeInbound(c, 'STOPPED');
    const server = this.server;
    const closed = server === null ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.sockets.size > 0) await new Promise<void>((resolve) => (this.socketsClosed = resolve));
    await closed;
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => {
      this.sockets.delete(s);
      if (this.sockets.size === 0 && this.socketsClosed !== undefined) this.socketsClosed();
    });
  }

  private dial(p: Peer<T>): void {
    if (this.stopped || this.peers.get(p.id) !== p) return;
    p.reconnectTimer = undefined;
    p.state = 'connecting';
    const { socket: s, readyEvent } = connectSocket(p.addr, this.tls);
    p.socket = s;
    this.track(s);
    s.setNoDelay(true);
    p.connectTimer = setTimeout(() => this.closeOutbound(p, s, 'CONNECT_TIMEOUT'), this.limits.connectTimeoutMs);
    s.on(readyEvent, () => {
      if (p.socket !== s) return;
      clearTimeout(p.connectTimer);
      p.connectTimer = undefined;
      s.setKeepAlive(true, this.limits.keepAliveDelayMs);
      p.state = 'open';
      p.connectedAt = Date.now();
      p.stats.connects++;
      p.stats.bytesSent += this.hello.byteLength;
      if (!s.write(this.hello)) this.block(p, s);
      this.flush(p);
    });
    s.on('drain', () => {
      if (p.socket !== s || !p.blocked) return;
      p.blocked = false;
      clearTimeout(p.stallTimer);
      p.stallTimer = undefined;
      this.flush(p);
    });
    // The peer never writes on our connection (proto/raft-frames.md).
    s.on('data', (chunk: Buffer) => this.closeOutbound(p, s, 'UNEXPECTED_DATA', `${chunk.byteLength} bytes`));
    s.on('error', (err: NodeJS.ErrnoException) => this.closeOutbound(p, s, 'SOCKET_ERROR', err.code ?? err.message));
    s.on('close', () => this.closeOutbound(p, s, 'CLOSED_BY_PEER'));
  }

  /**
   * The peer just dialled us, so it is up: if our own connection to it is waiting out a
   * reconnect backoff, dial now. While a peer is down its backoff grows towards
   * reconnectDelayMsMax (5 s), and once it is back it could reach us for that long while we
   * could not reach it: a one-way link, over which no vote (request or response) gets through,
   * so no election that needs both of us completes. At most one early dial per HELLO, and a
   * peer dials us only on its own backoff, so this cannot become a tight loop; `failures` is
   * kept, so a connection that fails again backs off as before.
   */
  private redialNow(id: NodeId): void {
    const p = this.peers.get(id);
    if (p === undefined || p.state !== 'backoff' || this.stopped) return;
    clearTimeout(p.reconnectTimer);
    this.dial(p);
  }

  private block(p: Peer<T>, s: net.Socket): void {
    p.blocked = true;
    p.stats.backpressureWaits++;
    p.stallTimer = setTimeout(
      () => this.closeOutbound(p, s, 'WRITE_STALLED', `no 'drain' within ${this.limits.writeStallMsMax} ms`),
      this.limits.writeStallMsMax,
    );
  }

  /** Closes `s` if it is still p's connection; schedules a redial unless told not to. Messages already written are lost (Raft resends). */
  private closeOutbound(
    p: Peer<T>,
    s: net.Socket | null,
    reason: CloseReason,
    detail?: string,
    reconnect = true,
  ): void {
    if (s === null || p.socket !== s) return;
    const wasOpen = p.state === 'open';
    p.socket = null;
    p.blocked = false;
    clearTimeout(p.connectTimer);
    clearTimeout(p.stallTimer);
    p.connectTimer = undefined;
    p.stallTimer = undefined;
    s.destroy();
    const level = reason === 'UNEXPECTED_DATA' || reason === 'WRITE_STALLED' ? 'warn' : 'debug';
    this.emit(level, {
      event: 'outbound_closed',
      peer: p.id,
      remote: `${p.addr.host}:${p.addr.port}`,
      reason,
      ...(detail !== undefined ? { detail } : {}),
    });
    p.state = 'idle';
    if (!reconnect || this.stopped || this.peers.get(p.id) !== p) return;
    if (wasOpen && Date.now() - p.connectedAt >= this.limits.connectionStableMs) p.failures = 0;
    const l = this.limits;
    const cap = Math.min(
      l.reconnectDelayMsMax,
      l.reconnectDelayMsMin * 2 ** Math.min(p.failures, BACKOFF_EXPONENT_MAX),
    );
    // "Equal jitter": never less than half the cap, so replicas restarted together spread out
    // without ever retrying in a tight loop.
    const delay = cap / 2 + this.random() * (cap / 2);
    p.failures++;
    p.stats.reconnects++;
    p.state = 'backoff';
    p.reconnectTimer = setTimeout(() => this.dial(p), delay);
  }

  private readonly flushDirty = (): void => {
    this.flushScheduled = false;
    for (const p of this.dirty) this.flush(p);
    this.dirty.clear();
  };

  /** Writes everything queued for p as frames of up to batchBytesMax, until the queue is empty or write() says stop. */
  private flush(p: Peer<T>): void {
    const s = p.socket;
    if (s === null || p.state !== 'open' || p.blocked || p.queue.length === 0) return;
    const batchBytesMax = this.limits.batchBytesMax;
    const batch = this.batch;
    let head = 0;
    s.cork();
    try {
      while (head < p.queue.length) {
        batch.length = 0;
        let bytes = 0;
        while (head < p.queue.length) {
          const size = p.sizes[head]!;
          if (batch.length > 0 && this.codec.frameBytes(batch.length + 1, bytes + size) > batchBytesMax) break;
          batch.push(p.queue[head]!);
          bytes += size;
          head++;
        }
        const frame = this.codec.encode(batch, this.limits.frameBytesMax);
        p.queueBytes -= bytes;
        p.stats.messagesSent += batch.length;
        p.stats.bytesSent += frame.byteLength;
        p.stats.framesSent++;
        if (!s.write(frame)) {
          this.block(p, s);
          break;
        }
      }
    } finally {
      batch.length = 0;
      s.uncork();
    }
    p.queue.splice(0, head);
    p.sizes.splice(0, head);
  }

  private clearQueue(p: Peer<T>): void {
    p.queue.length = 0;
    p.sizes.length = 0;
    p.queueBytes = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound

  private accept(s: net.Socket): void {
    const remote = `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
    this.track(s);
    // Without an 'error' listener a reset on this socket would be an uncaught exception.
    s.on('error', () => undefined);
    if (this.stopped) {
      s.destroy();
      return;
    }
    if (this.inbound.size >= this.limits.inboundConnectionsMax) {
      this.totals.inboundRefused++;
      this.emit('warn', { event: 'inbound_refused', remote, reason: 'INBOUND_LIMIT', inbound: this.inbound.size });
      s.destroy();
      return;
    }
    const c: Inbound = {
      socket: s,
      remote,
      decoder: this.codec.newDecoder({
        frameBytesMax: this.limits.frameBytesMax,
        firstFrameBytesMax: HELLO_FRAME_BYTES_MAX,
      }),
      peerId: null,
      helloTimer: undefined,
      closed: false,
    };
    this.inbound.add(c);
    s.setNoDelay(true);
    s.setKeepAlive(true, this.limits.keepAliveDelayMs);
    c.helloTimer = setTimeout(
      () => this.refuse(c, 'HELLO_TIMEOUT', `no HELLO within ${this.limits.helloTimeoutMs} ms`),
      this.limits.helloTimeoutMs,
    );
    s.on('data', (chunk: Buffer) => this.onInboundData(c, chunk));
    s.on('error', (err: NodeJS.ErrnoException) => this.closeInbound(c, 'SOCKET_ERROR', err.code ?? err.message));
    s.on('close', () => this.closeInbound(c, 'CLOSED_BY_PEER'));
  }

  private onInboundData(c: Inbound, chunk: Buffer): void {
    if (c.closed) return;
    this.totals.bytesReceived += chunk.byteLength;
    let frames: WireFrame[];
    try {
      frames = c.decoder.push(chunk);
    } catch (e) {
      if (e instanceof FrameDecodeError) {
        this.refuse(c, e.code, e.message);
        return;
      }
      throw e; // unreachable: push() throws only FrameDecodeError
    }
    // Validate the whole chunk before delivering any of it.
    let delivered: T[] | null = null;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (f.kind === 'hello') {
        if (c.peerId !== null) return this.refuse(c, 'UNEXPECTED_HELLO', 'second HELLO');
        const h = f.hello;
        if (h.clusterId !== this.clusterId)
          return this.refuse(c, 'WRONG_CLUSTER', `cluster "${h.clusterId}", expected "${this.clusterId}"`);
        if (h.nodeId === this.selfId || h.nodeId <= 0) return this.refuse(c, 'BAD_NODE_ID', `node id ${h.nodeId}`);
        c.peerId = h.nodeId;
        clearTimeout(c.helloTimer);
        c.helloTimer = undefined;
        // A peer has one outbound connection to us; a new one means the old one is dead to it.
        const old = this.inboundByPeer.get(h.nodeId);
        if (old !== undefined) this.closeInbound(old, 'REPLACED');
        this.inboundByPeer.set(h.nodeId, c);
        this.redialNow(h.nodeId);
        continue;
      }
      if (c.peerId === null) return this.refuse(c, 'HELLO_EXPECTED', `frame type ${f.frameType} before HELLO`);
      const msgs = this.codec.itemsOf(f);
      for (let j = 0; j < msgs.length; j++) {
        const from = this.codec.fromOf(msgs[j]!);
        const to = this.codec.toOf(msgs[j]!);
        if (from !== c.peerId || to !== this.selfId) {
          return this.refuse(c, 'SENDER_MISMATCH', `message ${from}→${to} on the connection of node ${c.peerId}`);
        }
      }
      this.totals.framesReceived++;
      if (delivered === null) delivered = msgs;
      else for (let j = 0; j < msgs.length; j++) delivered.push(msgs[j]!);
    }
    if (c.peerId !== null) {
      const ps = this.peers.get(c.peerId)?.stats;
      if (ps !== undefined) {
        ps.bytesReceived += chunk.byteLength;
        ps.messagesReceived += delivered?.length ?? 0;
      }
    }
    if (delivered !== null) {
      this.totals.messagesReceived += delivered.length;
      this.onMessages(delivered);
    }
  }

  private refuse(c: Inbound, reason: CloseReason, detail: string): void {
    if (c.closed) return;
    this.totals.inboundRefused++;
    this.closeInbound(c, reason, detail);
  }

  private closeInbound(c: Inbound, reason: CloseReason, detail?: string): void {
    if (c.closed) return;
    c.closed = true;
    clearTimeout(c.helloTimer);
    c.helloTimer = undefined;
    this.inbound.delete(c);
    if (c.peerId !== null && this.inboundByPeer.get(c.peerId) === c) this.inboundByPeer.delete(c.peerId);
    c.socket.destroy();
    const level = reason === 'CLOSED_BY_PEER' || reason === 'STOPPED' || reason === 'REPLACED' ? 'debug' : 'warn';
    this.emit(level, {
      event: 'inbound_closed',
      ...(c.peerId !== null ? { peer: c.peerId } : {}),
      remote: c.remote,
      reason,
      ...(detail !== undefined ? { detail } : {}),
    });
  }

  private emit(level: 'debug' | 'warn', fields: TransportLogFields): void {
    this.log[level](EVENT_MESSAGES[fields.event], fields);
  }
}

function defaultLog(selfId: NodeId): Log {
  const lines = linesLog((l) => console.warn(`[transport ${selfId}] ${l}`));
  return { ...NO_LOG, warn: lines.warn, error: lines.error };
}

// Re-exported so hosts configure the transport from one module.
export { FRAME_BYTES_MAX, HELLO_FRAME_BYTES_MAX, PROTOCOL_VERSION };
