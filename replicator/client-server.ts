// A minimal client protocol for tests and benchmarks (the gRPC gateway comes later):
// TCP, frames of `u32 big-endian length | UTF-8 JSON`.
//
//   request  {id, clientId, requestSeq, command}      → {id, ok:true, outcome, appliedIndex, events}
//                                                      | {id, ok:false, error, leader, retryable}
//   request  {id, op:'status', hash?:boolean}          → {id, ok:true, status}
//   request  {id, op:'orders'}                         → {id, ok:true, applied, stateHash, execIdLast, orders:[…]}  (tests, debugging)
//
// `ok:true` means the command is in effect: APPLIED now, or DUPLICATE (an earlier copy of the
// same (clientId, requestSeq) was applied; no events then). SEQUENCE_GAP is an error: an
// earlier request of the client is not in the log yet (typically lost with a leader), so the
// client resends everything unacknowledged, in order.
//
// The server is a thin edge: it validates, hands the command to ReplicaNode.propose() and
// writes the reply. Input is untrusted: a malformed frame gets an error reply, an oversized
// one gets an error reply and the connection closed (the stream cannot be resynchronised);
// nothing a client sends can throw out of a socket handler. Per connection at most
// CLIENT_INFLIGHT_MAX requests are in progress; beyond that the socket is paused (TCP
// backpressure) until replies go out.
//
// ReplicaClient: one client session (clientId) with pipelined requests and retry-to-leader.
// Each request keeps its requestSeq for life; after a failure or timeout it reconnects (to the
// leader named in the error, else the next replica) and resends every unacknowledged request
// in order with the SAME (clientId, requestSeq), which the state machine's sessions apply
// exactly once.

import net from 'node:net';
import { ApplyOutcome, COMMAND_BYTES_MAX } from './shard-state-machine.js';
import type { NodeStatus, Proposal, ProposalReply } from './node.js';
import { Side } from '../engine/types.js';
import type { NodeId } from './raft/types.js';

/** Largest request frame the server accepts, length prefix excluded (1 MiB; a command is at most 64 KiB). */
export const CLIENT_FRAME_BYTES_MAX = 1024 * 1024;
/** Largest reply frame the client accepts (64 MiB: a sweeping order can produce many events; a status dump too). */
export const CLIENT_REPLY_BYTES_MAX = 64 * 1024 * 1024;
/** Requests in progress per connection on the server; more → the socket is paused. */
export const CLIENT_INFLIGHT_MAX = 1024;
/** Connections the server holds at once; more are closed on accept. */
export const CLIENT_CONNECTIONS_MAX = 1024;
/** Orders listed by op 'orders' at most. */
export const ORDERS_DUMP_MAX = 100_000;
/** Requests one ReplicaClient has sent and not yet seen answered (≤ CLIENT_INFLIGHT_MAX). */
export const CLIENT_WINDOW_MAX = 256;
/** A request unanswered this long (ms) makes the client fail over and resend. */
export const CLIENT_REQUEST_TIMEOUT_MS = 2_000;
/** First delay before reconnecting after a failure (ms); doubles per round of failures over all replicas. */
export const CLIENT_RETRY_DELAY_MS = 25;
/** Cap of that delay (ms). */
export const CLIENT_RETRY_DELAY_MS_MAX = 500;
/** How often the client checks for timed-out requests (ms). */
const CLIENT_TIMER_MS = 50;

const LENGTH_BYTES = 4;

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

export function encodeFrame(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const out = Buffer.allocUnsafe(LENGTH_BYTES + json.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, LENGTH_BYTES);
  return out;
}

export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError';
}

export type ReadFrame = { ok: true; value: unknown } | { ok: false; error: 'BAD_JSON' };

/** Splits a byte stream into length-prefixed JSON frames; pull-based so the reader can stop (backpressure). */
export class JsonFrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  constructor(private readonly frameBytesMax: number) {}

  push(chunk: Buffer): void {
    if (this.off >= this.buf.length) {
      this.buf = chunk;
      this.off = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.off), chunk]);
      this.off = 0;
    }
  }

  /** Buffered bytes not yet returned as frames. */
  get pendingBytes(): number {
    return this.buf.length - this.off;
  }

  /** The next complete frame, or undefined. Throws FrameTooLargeError on an announced length over the limit. */
  next(): ReadFrame | undefined {
    if (this.buf.length - this.off < LENGTH_BYTES) return undefined;
    const len = this.buf.readUInt32BE(this.off);
    if (len > this.frameBytesMax) throw new FrameTooLargeError(`frame of ${len} bytes, limit ${this.frameBytesMax}`);
    if (this.buf.length - this.off < LENGTH_BYTES + len) return undefined;
    const body = this.buf.subarray(this.off + LENGTH_BYTES, this.off + LENGTH_BYTES + len);
    this.off += LENGTH_BYTES + len;
    try {
      return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
    } catch {
      return { ok: false, error: 'BAD_JSON' };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

export const OUTCOME_NAMES: Record<number, string> = {
  [ApplyOutcome.APPLIED]: 'APPLIED',
  [ApplyOutcome.DUPLICATE]: 'DUPLICATE',
  [ApplyOutcome.SEQUENCE_GAP]: 'SEQUENCE_GAP',
  [ApplyOutcome.NOT_A_COMMAND]: 'NOT_A_COMMAND',
};

export type RequestId = number | string | null;

export type CommandReply =
  | { id: RequestId; ok: true; outcome: 'APPLIED' | 'DUPLICATE'; appliedIndex: number; events: unknown[] }
  | { id: RequestId; ok: false; error: string; leader: NodeId; retryable: boolean; message?: string };

export interface OrdersDump {
  applied: number;
  stateHash: string;
  execIdLast: number;
  liveOrderCount: number;
  truncated: boolean;
  orders: { orderId: number; account: number; clOrdId: string; symbol: string; side: 'BUY' | 'SELL'; price: number; leavesQty: number }[];
}

/** What the server needs from a replica (ReplicaNode implements it). */
export interface ClientServerNode {
  propose(p: Proposal): Promise<ProposalReply>;
  status(withHash?: boolean): NodeStatus;
  stateHash(): string;
  readonly stateMachine: import('./shard-state-machine.js').ShardStateMachine;
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

export interface ClientServerOptions {
  node: ClientServerNode;
  host: string;
  /** 0: the OS picks (read `port` after start()). */
  port: number;
  frameBytesMax?: number;
  inflightMax?: number;
  connectionsMax?: number;
  log?: (line: string) => void;
}

interface Conn {
  socket: net.Socket;
  reader: JsonFrameReader;
  inflight: number;
  paused: boolean;
  closed: boolean;
  corked: boolean;
}

export class ClientServer {
  private server: net.Server | undefined;
  private readonly conns = new Set<Conn>();
  private readonly frameBytesMax: number;
  private readonly inflightMax: number;
  private readonly connectionsMax: number;
  private readonly log: (line: string) => void;
  private stopped = false;

  constructor(private readonly opts: ClientServerOptions) {
    this.frameBytesMax = opts.frameBytesMax ?? CLIENT_FRAME_BYTES_MAX;
    this.inflightMax = opts.inflightMax ?? CLIENT_INFLIGHT_MAX;
    this.connectionsMax = opts.connectionsMax ?? CLIENT_CONNECTIONS_MAX;
    this.log = opts.log ?? ((l) => console.error(`[client-server] ${l}`));
  }

  async start(): Promise<void> {
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log(`server error: ${err.message}`));
  }

  get port(): number {
    const a = this.server?.address();
    if (a === null || a === undefined || typeof a === 'string') throw new Error('ClientServer: not listening');
    return a.port;
  }

  /** Closes the listener and every connection (replies still pending are dropped; clients retry). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.conns) this.close(c);
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => undefined); // a reset must not become an uncaught exception
    if (this.stopped || this.conns.size >= this.connectionsMax) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const c: Conn = { socket, reader: new JsonFrameReader(this.frameBytesMax), inflight: 0, paused: false, closed: false, corked: false };
    this.conns.add(c);
    socket.on('data', (chunk: Buffer) => {
      if (c.closed) return;
      c.reader.push(chunk);
      this.drain(c);
    });
    socket.on('close', () => this.close(c));
  }

  private close(c: Conn): void {
    if (c.closed) return;
    c.closed = true;
    this.conns.delete(c);
    c.socket.destroy();
  }

  /** Takes frames off the connection while it has room for more requests in progress. */
  private drain(c: Conn): void {
    while (!c.closed && c.inflight < this.inflightMax) {
      let f: ReadFrame | undefined;
      try {
        f = c.reader.next();
      } catch (err) {
        // The length prefix is all we have to find the next frame: the stream is lost.
        this.reply(c, { id: null, ok: false, error: 'FRAME_TOO_LARGE', leader: 0, retryable: false, message: (err as Error).message });
        c.socket.end();
        c.closed = true;
        this.conns.delete(c);
        return;
      }
      if (f === undefined) break;
      if (!f.ok) {
        this.reply(c, { id: null, ok: false, error: f.error, leader: 0, retryable: false });
        continue;
      }
      this.handle(c, f.value);
    }
    if (c.closed) return;
    const full = c.inflight >= this.inflightMax;
    if (full && !c.paused) {
      c.paused = true;
      c.socket.pause();
    } else if (!full && c.paused) {
      c.paused = false;
      c.socket.resume();
    }
  }

  private handle(c: Conn, value: unknown): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.reply(c, { id: null, ok: false, error: 'BAD_REQUEST', leader: 0, retryable: false, message: 'not an object' });
      return;
    }
    const req = value as Record<string, unknown>;
    const id: RequestId = typeof req.id === 'number' || typeof req.id === 'string' ? req.id : null;
    const bad = (message: string) => this.reply(c, { id, ok: false, error: 'BAD_REQUEST', leader: 0, retryable: false, message });
    const node = this.opts.node;
    if (req.op === 'status') {
      this.reply(c, { id, ok: true, status: node.status(req.hash === true) });
      return;
    }
    if (req.op === 'orders') {
      this.reply(c, { id, ok: true, ...dumpOrders(node) });
      return;
    }
    if (req.op !== undefined && req.op !== 'submit') return bad(`unknown op ${JSON.stringify(req.op)}`);
    const { clientId, requestSeq, command } = req;
    // Client ids ≤ 0 are reserved for the replicas (the leader's time ticks).
    if (typeof clientId !== 'number' || !Number.isSafeInteger(clientId) || clientId < 1) return bad('clientId must be a positive safe integer');
    if (typeof requestSeq !== 'number' || !Number.isSafeInteger(requestSeq) || requestSeq < 1) return bad('requestSeq must be a positive safe integer');
    if (typeof command !== 'object' || command === null || Array.isArray(command)) return bad('command must be an object');
    c.inflight++;
    node.propose({ clientId, requestSeq, command: command as Record<string, unknown> }).then(
      (r) => this.done(c, replyOf(id, r)),
      (err: unknown) => {
        const e = err as { code?: string; leader?: number; retryable?: boolean; message?: string };
        this.done(c, { id, ok: false, error: e.code ?? 'INTERNAL', leader: e.leader ?? 0, retryable: e.retryable ?? false, message: e.message ?? String(err) });
      },
    );
  }

  private done(c: Conn, reply: unknown): void {
    c.inflight--;
    this.reply(c, reply);
    this.drain(c);
  }

  private reply(c: Conn, reply: unknown): void {
    if (c.closed) return;
    // Replies come in bursts (every command applied in one Ready resolves at once): cork
    // until the end of this tick, so a burst leaves in one write instead of one syscall each.
    if (!c.corked) {
      c.corked = true;
      c.socket.cork();
      process.nextTick(() => {
        c.corked = false;
        c.socket.uncork();
      });
    }
    c.socket.write(encodeFrame(reply));
  }
}

function replyOf(id: RequestId, r: ProposalReply): CommandReply {
  const o = r.result.outcome;
  if (o === ApplyOutcome.APPLIED || o === ApplyOutcome.DUPLICATE) {
    return { id, ok: true, outcome: o === ApplyOutcome.APPLIED ? 'APPLIED' : 'DUPLICATE', appliedIndex: r.result.appliedIndex, events: r.events };
  }
  // SEQUENCE_GAP: an earlier request of this client is missing; resend from the oldest unacknowledged.
  return { id, ok: false, error: OUTCOME_NAMES[o] ?? `OUTCOME_${o}`, leader: 0, retryable: o === ApplyOutcome.SEQUENCE_GAP };
}

function dumpOrders(node: ClientServerNode): OrdersDump {
  const sm = node.stateMachine;
  const engine = sm.engine;
  const orders: OrdersDump['orders'] = [];
  let truncated = false;
  outer: for (const inst of engine.config.instruments) {
    for (const side of [Side.BUY, Side.SELL] as const) {
      for (const o of engine.bookOrders(inst.symbol, side)) {
        if (orders.length >= ORDERS_DUMP_MAX) {
          truncated = true;
          break outer;
        }
        const full = engine.order(o.orderId);
        orders.push({
          orderId: o.orderId,
          account: o.account,
          clOrdId: full?.clOrdId ?? '',
          symbol: inst.symbol,
          side: side === Side.BUY ? 'BUY' : 'SELL',
          price: o.price,
          leavesQty: o.leavesQty,
        });
      }
    }
  }
  return { applied: sm.appliedIndex, stateHash: node.stateHash(), execIdLast: engine.execIdLast, liveOrderCount: engine.liveOrderCount, truncated, orders };
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

export interface ClientEndpoint {
  id: NodeId;
  host: string;
  port: number;
}

export interface ReplicaClientOptions {
  clientId: number;
  endpoints: ClientEndpoint[];
  /** requestSeq of the first submit (a client continuing a session passes last + 1). Default 1. */
  firstRequestSeq?: number;
  windowMax?: number;
  requestTimeoutMs?: number;
  retryDelayMs?: number;
  retryDelayMsMax?: number;
  log?: (line: string) => void;
}

export interface SubmitResult {
  requestSeq: number;
  outcome: 'APPLIED' | 'DUPLICATE';
  appliedIndex: number;
  events: unknown[];
  /** Times the request was sent (1 = first try). */
  attempts: number;
  /** Replica that answered. */
  node: NodeId;
}

export class ClientRequestError extends Error {
  override name = 'ClientRequestError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Req {
  seq: number;
  command: Record<string, unknown>;
  frame: Buffer | undefined;
  attempts: number;
  sentAt: number;
  resolve: (r: SubmitResult) => void;
  reject: (e: Error) => void;
  done: boolean;
}

interface ClientConn {
  socket: net.Socket;
  reader: JsonFrameReader;
  target: ClientEndpoint;
  ready: boolean;
  /** Frame id → request, for this connection. */
  frames: Map<number, Req>;
}

export interface ClientStats {
  submitted: number;
  acked: number;
  duplicates: number;
  resends: number;
  failovers: number;
  timeouts: number;
  errors: Record<string, number>;
}

export class ReplicaClient {
  readonly clientId: number;
  private readonly endpoints: ClientEndpoint[];
  private readonly windowMax: number;
  private readonly requestTimeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly retryDelayMsMax: number;
  private readonly log: (line: string) => void;

  private nextSeq: number;
  /**
   * Unacknowledged requests taken into the window (at most windowMax), in requestSeq order;
   * window[0..sent) were sent on the current connection. Only they are ever resent.
   */
  private window: Req[] = [];
  /** Submitted, not yet in the window (requestSeq order; backlog[backlogHead] is the oldest). */
  private backlog: Req[] = [];
  private backlogHead = 0;
  private sent = 0;
  private conn: ClientConn | undefined;
  private targetIndex = 0;
  private nextFrameId = 1;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  readonly stats: ClientStats = { submitted: 0, acked: 0, duplicates: 0, resends: 0, failovers: 0, timeouts: 0, errors: {} };

  constructor(opts: ReplicaClientOptions) {
    if (!Number.isSafeInteger(opts.clientId) || opts.clientId < 1) throw new RangeError(`ReplicaClient: clientId ${opts.clientId}`);
    if (opts.endpoints.length === 0) throw new RangeError('ReplicaClient: no endpoints');
    this.clientId = opts.clientId;
    this.endpoints = [...opts.endpoints];
    this.nextSeq = opts.firstRequestSeq ?? 1;
    this.windowMax = Math.min(opts.windowMax ?? CLIENT_WINDOW_MAX, CLIENT_INFLIGHT_MAX);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? CLIENT_REQUEST_TIMEOUT_MS;
    this.retryDelayMs = opts.retryDelayMs ?? CLIENT_RETRY_DELAY_MS;
    this.retryDelayMsMax = opts.retryDelayMsMax ?? CLIENT_RETRY_DELAY_MS_MAX;
    this.log = opts.log ?? (() => undefined);
    this.timer = setInterval(() => this.checkTimeouts(), CLIENT_TIMER_MS);
    this.timer.unref();
  }

  /** Requests not acknowledged yet. */
  get outstanding(): number {
    return this.window.length + this.backlog.length - this.backlogHead;
  }

  /** The replica currently talked to (the leader, as far as the client knows). */
  get target(): NodeId {
    return this.conn?.target.id ?? 0;
  }

  /**
   * Submits an engine command (without seq/tsUs) under the next requestSeq. Resolves once the
   * command is in effect (APPLIED, or DUPLICATE of an earlier copy); retries across leader
   * changes by itself, so it rejects only for a command that can never be applied or close().
   */
  submit(command: Record<string, unknown>): Promise<SubmitResult> {
    if (this.closed) return Promise.reject(new ClientRequestError('CLOSED', 'client closed'));
    // Checked before a requestSeq is consumed: a request the replicas refuse outright would
    // leave a hole in the sequence and every later request would be a SEQUENCE_GAP.
    if (Buffer.byteLength(JSON.stringify(command), 'utf8') > COMMAND_BYTES_MAX) {
      return Promise.reject(new ClientRequestError('COMMAND_TOO_LARGE', `command over ${COMMAND_BYTES_MAX} bytes`));
    }
    this.stats.submitted++;
    return new Promise<SubmitResult>((resolve, reject) => {
      this.backlog.push({ seq: this.nextSeq++, command, frame: undefined, attempts: 0, sentAt: 0, resolve, reject, done: false });
      if (this.conn === undefined && this.reconnectTimer === undefined) this.connect();
      else this.pump();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
    this.conn?.socket.destroy();
    this.conn = undefined;
    for (const r of this.takeAll()) r.reject(new ClientRequestError('CLOSED', 'client closed'));
  }

  /** Empties the window and the backlog, returning their requests in order. */
  private takeAll(): Req[] {
    const all = [...this.window, ...this.backlog.slice(this.backlogHead)];
    this.window = [];
    this.backlog = [];
    this.backlogHead = 0;
    this.sent = 0;
    return all;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    const target = this.endpoints[this.targetIndex % this.endpoints.length]!;
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    const conn: ClientConn = { socket, reader: new JsonFrameReader(CLIENT_REPLY_BYTES_MAX), target, ready: false, frames: new Map() };
    this.conn = conn;
    this.sent = 0;
    const connectTimer = setTimeout(() => {
      if (this.conn === conn && !conn.ready) this.failover(undefined, 'CONNECT_TIMEOUT');
    }, this.requestTimeoutMs);
    socket.on('connect', () => {
      clearTimeout(connectTimer);
      if (this.conn !== conn) return;
      conn.ready = true;
      this.pump();
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.conn !== conn) return;
      conn.reader.push(chunk);
      for (;;) {
        let f: ReadFrame | undefined;
        try {
          f = conn.reader.next();
        } catch {
          this.failover(undefined, 'REPLY_TOO_LARGE');
          return;
        }
        if (f === undefined) break;
        if (f.ok) this.onReply(conn, f.value);
        if (this.conn !== conn) return;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (this.conn === conn) this.failover(undefined, 'CONNECTION_CLOSED');
    });
  }

  /** Sends queued requests up to the window, in requestSeq order. */
  private pump(): void {
    const conn = this.conn;
    if (conn === undefined || !conn.ready) return;
    while (this.window.length < this.windowMax && this.backlogHead < this.backlog.length) {
      this.window.push(this.backlog[this.backlogHead]!);
      this.backlog[this.backlogHead++] = undefined as unknown as Req; // let it go once acknowledged
    }
    if (this.backlogHead > 1024 && this.backlogHead * 2 > this.backlog.length) {
      this.backlog = this.backlog.slice(this.backlogHead);
      this.backlogHead = 0;
    }
    const limit = this.window.length;
    if (this.sent >= limit) return;
    conn.socket.cork();
    const now = Date.now();
    while (this.sent < limit) {
      const r = this.window[this.sent++]!;
      const id = this.nextFrameId++;
      conn.frames.set(id, r);
      if (r.attempts > 0) this.stats.resends++;
      r.attempts++;
      r.sentAt = now;
      conn.socket.write(encodeFrame({ id, clientId: this.clientId, requestSeq: r.seq, command: r.command }));
    }
    conn.socket.uncork();
  }

  private onReply(conn: ClientConn, value: unknown): void {
    if (typeof value !== 'object' || value === null) return;
    const rep = value as Record<string, unknown>;
    if (typeof rep.id !== 'number') return; // not an answer to one of ours (e.g. an error about a bad frame)
    const r = conn.frames.get(rep.id);
    if (r === undefined) return;
    conn.frames.delete(rep.id);
    if (r.done) return;
    if (rep.ok === true) {
      r.done = true;
      this.failures = 0;
      const k = this.window.indexOf(r); // the window is small (≤ windowMax)
      if (k >= 0) {
        this.window.splice(k, 1);
        if (k < this.sent) this.sent--;
      }
      this.stats.acked++;
      if (rep.outcome === 'DUPLICATE') this.stats.duplicates++;
      r.resolve({
        requestSeq: r.seq,
        outcome: rep.outcome === 'DUPLICATE' ? 'DUPLICATE' : 'APPLIED',
        appliedIndex: typeof rep.appliedIndex === 'number' ? rep.appliedIndex : 0,
        events: Array.isArray(rep.events) ? rep.events : [],
        attempts: r.attempts,
        node: conn.target.id,
      });
      this.pump();
      return;
    }
    const error = typeof rep.error === 'string' ? rep.error : 'UNKNOWN';
    this.stats.errors[error] = (this.stats.errors[error] ?? 0) + 1;
    if (rep.retryable !== true) {
      // Cannot succeed by retrying. Later requests would now hit a sequence gap forever, so
      // the session is unusable: fail everything (the caller starts a new clientId).
      this.log(`client ${this.clientId}: request ${r.seq} failed for good: ${error} ${String(rep.message ?? '')}`);
      for (const q of this.takeAll()) {
        q.done = true;
        q.reject(new ClientRequestError(error, `request ${q.seq}: ${error}`));
      }
      return;
    }
    // One failure answers for the whole pipeline: every later request of ours on this
    // connection is a SEQUENCE_GAP or the same error, so switch (or reconnect) and resend all.
    const leader = typeof rep.leader === 'number' ? rep.leader : 0;
    this.failover(leader !== 0 && leader !== conn.target.id ? leader : undefined, error);
  }

  private checkTimeouts(): void {
    const conn = this.conn;
    if (conn === undefined || !conn.ready || this.sent === 0) return;
    const oldest = this.window[0];
    if (oldest !== undefined && Date.now() - oldest.sentAt > this.requestTimeoutMs) {
      this.stats.timeouts++;
      this.failover(undefined, 'TIMEOUT');
    }
  }

  /**
   * Drops the connection and reconnects after a backoff: to `leader` if one was named, else
   * to the next replica. Everything unacknowledged is resent there in order, so replies from
   * the old connection are no longer needed (a request that did take effect comes back as
   * DUPLICATE).
   */
  private failover(leader: NodeId | undefined, why: string): void {
    if (this.closed) return;
    const old = this.conn;
    this.conn = undefined;
    this.sent = 0;
    old?.socket.destroy();
    this.stats.failovers++;
    if (leader !== undefined) {
      const k = this.endpoints.findIndex((e) => e.id === leader);
      this.targetIndex = k >= 0 ? k : this.targetIndex + 1;
    } else if (why !== 'PROPOSAL_QUEUE_FULL' && why !== 'SEQUENCE_GAP') {
      this.targetIndex++;
    }
    // The delay doubles per full round over the replicas, not per failure: right after a
    // leader dies, the client may meet a dead node and a follower that knows no leader yet
    // before the new leader is elected, and should not be backing off for long by then.
    const rounds = Math.floor(this.failures / this.endpoints.length);
    const delay = Math.min(this.retryDelayMsMax, this.retryDelayMs * 2 ** Math.min(rounds, 10));
    this.failures++;
    this.log(`client ${this.clientId}: ${why} from ${old?.target.id ?? '-'}; reconnecting to ${this.endpoints[this.targetIndex % this.endpoints.length]!.id} in ${delay} ms`);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}

/** One request on a fresh connection (status, orders dump). Rejects on timeout or connection failure. */
export function requestOnce(endpoint: { host: string; port: number }, request: Record<string, unknown>, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const reader = new JsonFrameReader(CLIENT_REPLY_BYTES_MAX);
    const timer = setTimeout(() => finish(new Error(`request to ${endpoint.host}:${endpoint.port} timed out`)), timeoutMs);
    let done = false;
    const finish = (err: Error | undefined, value?: Record<string, unknown>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    socket.on('connect', () => socket.write(encodeFrame({ id: 1, ...request })));
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      try {
        const f = reader.next();
        if (f === undefined) return;
        if (!f.ok || typeof f.value !== 'object' || f.value === null) finish(new Error('bad reply'));
        else finish(undefined, f.value as Record<string, unknown>);
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error('connection closed')));
  });
}
