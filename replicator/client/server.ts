// The replicas' client protocol (the gateway, tests and benchmarks speak it): TCP, frames of
// `u32 big-endian length | u8 frame type | body`, specified in proto/client-frames.md.
//
//   JSON (1)     {id, op:'register'}                  → {id, ok:true, clientId} | {id, ok:false, error, leader, retryable}
//                {id, clientId, requestSeq, command}  → {id, ok:true, outcome, appliedIndex, seq, events}
//                                                      | {id, ok:false, error, leader, retryable}
//                {id, op:'status', hash?:boolean}     → {id, ok:true, status}
//                {id, op:'orders'}                    → {id, ok:true, applied, stateHash, execIdLast, orders:[…]}  (tests, debugging)
//                {id, op:'order', orderId}            → {id, ok:true, applied, order | null}  (a live order; the gateway's GetOrder)
//                {id, op:'trace', indexes:[…]}         → {id, ok:true, entries:[EntryStages | {index, unknown:true}]}
//                                                       (stage times of recent leader entries, replicator/entry-trace.ts)
//                {id, op:'entries', fromIndex, bytesMax?, waitMs?}
//                                                     → ENTRIES (4): committed log entries from fromIndex, or the
//                                                       newest snapshot if they are compacted (the events publisher)
//   SUBMIT (2)   a batch of binary commands of one client session (engine/command-codec.ts)
//                → RESULTS (3): one result per command, with its events in the binary event
//                  codec (engine/event-codec.ts). This is the fast path: no JSON on either side,
//                  and one frame carries a whole batch each way.
//
// A client session is registered first (op 'register': logged like a command, answered once
// applied with the clientId the state machine allocated). `ok`/APPLIED or DUPLICATE means the
// command is in effect: APPLIED now, or DUPLICATE (an earlier copy of the same (clientId,
// requestSeq) was applied; no events then). SEQUENCE_GAP is an error: an earlier request of the
// client is not in the log yet (typically lost with a leader), so the client resends everything
// unacknowledged, in order. SESSION_EXPIRED (the session was evicted) and UNKNOWN_SESSION (never
// registered) are final: nothing changed now, but an earlier copy of the request may have taken
// effect, so it must not be resent under another session.
//
// The server is a thin edge: it checks the framing, hands commands to the replica and writes
// the replies. Input is untrusted: a malformed frame gets an error reply, an oversized one gets
// an error reply and the connection closed (the stream cannot be resynchronised); nothing a
// client sends can throw out of a socket handler. A command body the codec cannot decode is
// still logged and becomes a command_reject event on every replica (the session goes on).
// Per connection at most CLIENT_INFLIGHT_MAX commands are in progress; beyond that the socket
// is paused (TCP backpressure) until results go out.
//
// ReplicaClient: one client session at a time, registered by the client itself before its first
// request, with pipelined requests and retry-to-leader. Each request keeps its requestSeq for
// life; after a failure or timeout it reconnects (to the leader named in the error, else the
// next replica) and resends every unacknowledged request in order with the SAME (clientId,
// requestSeq), which the state machine's sessions apply exactly once. When the session is lost
// (SESSION_EXPIRED, UNKNOWN_SESSION, or any other final refusal) every request already sent
// fails with that code, never resent; the rest go out under a newly registered session.

import net from 'node:net';
import { ByteWriter, ByteReader, copyBytes } from '../../engine/byte-writer.js';
import type { EventBuffer } from '../../engine/event-buffer.js';
import { decodeEvents, encodeEventsTo } from '../../engine/event-codec.js';
import { eventToJson } from '../../engine/json-codec.js';
import { ApplyOutcome, COMMAND_BYTES_MAX, OUTCOME_NAMES, type ApplyResult } from '../shard-state-machine.js';
import { encodeJsonCommand, type CommittedRead, type EncodedProposal, type NodeStatus, type Proposal, type ProposalCallback, type ProposalError, type ProposalReply } from '../node.js';
import { Side } from '../../engine/types.js';
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from '../raft/types.js';
import { RecentResults } from '../recent-results.js';

/** Op 'membership': the change names on the wire. */
const MEMBERSHIP_CHANGES: Record<string, ConfChangeType> = { 'add-learner': ConfChangeType.ADD_LEARNER, promote: ConfChangeType.PROMOTE, remove: ConfChangeType.REMOVE };

/** Largest request frame the server accepts, length prefix excluded (8 MiB: a full SUBMIT batch of 64 KiB commands would not fit; typical ones are ~100 bytes each). */
export const CLIENT_FRAME_BYTES_MAX = 8 * 1024 * 1024;
/** Largest reply frame the client accepts (64 MiB: a sweeping order can produce many events; a status dump too). */
export const CLIENT_REPLY_BYTES_MAX = 64 * 1024 * 1024;
/** Commands in progress per connection on the server; more → the socket is paused. */
export const CLIENT_INFLIGHT_MAX = 8192;
/** Commands in one SUBMIT frame at most. */
export const CLIENT_BATCH_COMMANDS_MAX = 4096;
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
/** op 'entries': entry bytes per reply when the reader does not say (1 MiB: one full batch entry). */
export const ENTRIES_BYTES_DEFAULT = 1024 * 1024;
/** op 'entries': entry bytes per reply at most, whatever the reader asks (8 MiB). */
export const ENTRIES_BYTES_MAX = 8 * 1024 * 1024;
/** op 'entries': longest a reader that is caught up may wait for the next entry (ms) before an empty answer. */
export const ENTRIES_WAIT_MS_MAX = 5_000;
/**
 * op 'entries', a node without apply notifications (ClientServerNode.onApplyBatch): how often
 * waiting readers are checked for new applied entries (ms). A ReplicaNode notifies instead, so a
 * caught-up reader is answered right after the apply and an idle replica wakes for nothing
 * (a 2 ms poll was 500 wake-ups a second per waiting reader, idle or not).
 */
export const ENTRIES_POLL_MS = 2;

/** op 'trace': log indexes per request at most. */
export const TRACE_INDEXES_MAX = 1024;

const LENGTH_BYTES = 4;
/** Error messages in RESULTS are cut to this many characters (the u16-length string holds 64 KiB). */
const ERROR_MESSAGE_CHARS_MAX = 1000;

export const FrameType = { JSON: 1, SUBMIT: 2, RESULTS: 3, ENTRIES: 4 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Result status in a RESULTS frame. */
/** DUPLICATE_WITH_RESULT: a resent command already applied, answered with the original's index, seq and events. */
export const ResultStatus = { APPLIED: 1, DUPLICATE: 2, ERROR: 3, DUPLICATE_WITH_RESULT: 4 } as const;

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

/** A JSON frame. */
export function encodeFrame(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const out = Buffer.allocUnsafe(LENGTH_BYTES + 1 + json.length);
  out.writeUInt32BE(json.length + 1, 0);
  out[LENGTH_BYTES] = FrameType.JSON;
  json.copy(out, LENGTH_BYTES + 1);
  return out;
}

export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError';
}

export interface RawFrame {
  type: number;
  /** A view into the reader's buffer, valid until the next push(). */
  body: Buffer;
}

/** Splits a byte stream into length-prefixed frames; pull-based so the reader can stop (backpressure). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  /** Chunks received behind buf, joined once a whole frame is there (one copy per frame, not one per chunk). */
  private more: Buffer[] = [];
  private moreBytes = 0;
  constructor(private readonly frameBytesMax: number) {}

  push(chunk: Buffer): void {
    if (this.off >= this.buf.length && this.moreBytes === 0) {
      this.buf = chunk;
      this.off = 0;
    } else {
      this.more.push(chunk);
      this.moreBytes += chunk.length;
    }
  }

  /** Buffered bytes not yet returned as frames. */
  get pendingBytes(): number {
    return this.buf.length - this.off + this.moreBytes;
  }

  /** Makes at least n bytes contiguous at off, if that many are buffered. */
  private contiguous(n: number): boolean {
    const have = this.buf.length - this.off;
    if (have >= n) return true;
    if (have + this.moreBytes < n) return false;
    this.buf = Buffer.concat([this.buf.subarray(this.off), ...this.more]);
    this.off = 0;
    this.more = [];
    this.moreBytes = 0;
    return true;
  }

  /** The next complete frame, or undefined. Throws FrameTooLargeError on an announced length over the limit (or an empty frame). */
  next(): RawFrame | undefined {
    if (!this.contiguous(LENGTH_BYTES)) return undefined;
    const len = this.buf.readUInt32BE(this.off);
    if (len > this.frameBytesMax) throw new FrameTooLargeError(`frame of ${len} bytes, limit ${this.frameBytesMax}`);
    if (len === 0) throw new FrameTooLargeError('empty frame (no type byte)');
    if (!this.contiguous(LENGTH_BYTES + len)) return undefined;
    const type = this.buf[this.off + LENGTH_BYTES]!;
    const body = this.buf.subarray(this.off + LENGTH_BYTES + 1, this.off + LENGTH_BYTES + len);
    this.off += LENGTH_BYTES + len;
    return { type, body };
  }
}

export type ReadFrame = { ok: true; value: unknown } | { ok: false; error: 'BAD_JSON' | 'NOT_JSON' };

/** FrameReader for JSON frames only (tools, tests): other frame types read as NOT_JSON. */
export class JsonFrameReader {
  private readonly frames: FrameReader;
  constructor(frameBytesMax: number) {
    this.frames = new FrameReader(frameBytesMax);
  }
  push(chunk: Buffer): void {
    this.frames.push(chunk);
  }
  get pendingBytes(): number {
    return this.frames.pendingBytes;
  }
  next(): ReadFrame | undefined {
    const f = this.frames.next();
    if (f === undefined) return undefined;
    return parseJsonFrame(f);
  }
}

function parseJsonFrame(f: RawFrame): ReadFrame {
  if (f.type !== FrameType.JSON) return { ok: false, error: 'NOT_JSON' };
  try {
    return { ok: true, value: JSON.parse(f.body.toString('utf8')) as unknown };
  } catch {
    return { ok: false, error: 'BAD_JSON' };
  }
}

/** A SUBMIT frame: commands of one client session, `bodies` in the command codec. */
export function encodeSubmitFrame(clientId: number, requests: readonly { requestSeq: number; body: Uint8Array }[], w = new ByteWriter()): Buffer {
  w.reset();
  w.u32(0); // length, patched below (big-endian)
  w.u8(FrameType.SUBMIT);
  w.f64(clientId);
  w.u32(requests.length);
  for (const r of requests) {
    w.f64(r.requestSeq);
    w.u32(r.body.length);
    w.bytes(r.body);
  }
  const out = Buffer.from(w.view()); // one copy: the writer is reused
  out.writeUInt32BE(out.length - LENGTH_BYTES, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

export { OUTCOME_NAMES };

/** Why a command of a lost session was refused: the message in the reply (the code says it all to a program). */
const OUTCOME_MESSAGES: Record<number, string> = {
  [ApplyOutcome.SESSION_EXPIRED]:
    'the client session was evicted (the replicas keep the most recently used sessions): nothing changed now, but an earlier copy of this request may have taken effect; do not resend it under another session',
  [ApplyOutcome.UNKNOWN_SESSION]: 'no such client session was ever registered (op register): nothing changed',
  [ApplyOutcome.SEQUENCE_GAP]: 'an earlier request of this session is missing: resend from the oldest unacknowledged',
};

/**
 * Proposes a session registration through `node` (clientId 0, requestSeq 0, empty body: the
 * state machine's register command); `cb` gets the allocated clientId once the entry is
 * applied, or the node's refusal (NOT_LEADER and the like: retryable — an extra registration
 * that did commit is harmless, it is evicted unused in time).
 */
export function proposeRegister(node: Pick<ClientServerNode, 'proposeEncoded'>, cb: (err: ProposalError | Error | undefined, clientId: number) => void): void {
  node.proposeEncoded({ clientId: 0, requestSeq: 0, body: REGISTER_BODY }, (err, result) => {
    if (err !== undefined) return cb(err, 0);
    if (result!.outcome !== ApplyOutcome.REGISTERED) return cb(new Error(`register: outcome ${OUTCOME_NAMES[result!.outcome] ?? result!.outcome}`), 0);
    cb(undefined, result!.clientId);
  });
}

const REGISTER_BODY = new Uint8Array(0);

/** A new client session on `node` (the leader), for in-process tests and tools that propose directly: resolves with its clientId. */
export function registerSession(node: Pick<ClientServerNode, 'proposeEncoded'>): Promise<number> {
  return new Promise((resolve, reject) => proposeRegister(node, (err, clientId) => (err !== undefined ? reject(err) : resolve(clientId))));
}

export type RequestId = number | string | null;

export type CommandReply =
  | { id: RequestId; ok: true; outcome: 'APPLIED' | 'DUPLICATE'; appliedIndex: number; seq: number; events: unknown[] }
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
  proposeEncoded(p: EncodedProposal, cb: ProposalCallback): void;
  status(withHash?: boolean): NodeStatus;
  stateHash(): string;
  readonly stateMachine: import('../shard-state-machine.js').ShardStateMachine;
  /** Committed entries for op 'entries' (ReplicaNode.readCommitted); without it the op is refused. */
  readCommitted?(fromIndex: number, bytesMax: number): CommittedRead;
  /** Op 'transfer-leader' (operator CLI); without it the op is refused. */
  transferLeadership?(to: number): { ok: true } | { ok: false; error: string; leader: number; message: string };
  /** Op 'snapshot' (operator CLI); without it the op is refused. */
  requestSnapshot?(): { ok: true; snapshotIndex: number; applied: number };
  /** Op 'test-fsync-delay' (chaos suite, ClientServerOptions.testOps): every fdatasync takes this much longer (ms). */
  setTestFsyncDelay?(ms: number): void;
  /** Registers fn to run after each batch of applied entries (op 'entries' readers wake on it); returns the unsubscribe. Without it, readers are polled every ENTRIES_POLL_MS. */
  onApplyBatch?(fn: () => void): () => void;
  /** Op 'trace': the stages of recent entries this node proposed as leader (replicator/entry-trace.ts); without it the op is refused. */
  entryStages?(index: number): import('../entry-trace.js').EntryStages | undefined;
  /** Op 'membership' (operator CLI add-node / remove-node); without it the op is refused. */
  changeMembership?(cc: ConfChange): Promise<{ ok: true; index: number; conf: ConfState } | { ok: false; error: string; leader: number; message: string }>;
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
  /**
   * Serve the fault-injection ops of the chaos suite (op 'test-fsync-delay'); never in
   * production (the replica enables it only with MATCHBOOK_TEST_FAULTS=1).
   */
  testOps?: boolean;
}

interface Conn {
  socket: net.Socket;
  reader: FrameReader;
  /** Commands in progress. */
  inflight: number;
  paused: boolean;
  closed: boolean;
  corked: boolean;
  /** RESULTS frame being filled (flushed at the end of the tick), or undefined. */
  results: ByteWriter | undefined;
  resultCount: number;
}

export class ClientServer {
  private server: net.Server | undefined;
  private readonly conns = new Set<Conn>();
  private readonly frameBytesMax: number;
  private readonly inflightMax: number;
  private readonly connectionsMax: number;
  private readonly log: (line: string) => void;
  private stopped = false;
  /** Spare writers for RESULTS frames (one per connection with results pending this tick). */
  private readonly spareWriters: ByteWriter[] = [];
  /** What this port answered APPLIED, for answering resends with the original result. */
  private readonly recent = new RecentResults();
  /** op 'entries' requests of caught-up readers, waiting for the next applied entry. */
  private readonly entryWaiters = new Set<EntryWaiter>();
  private entryPollTimer: NodeJS.Timeout | undefined;
  /** Answers waiting readers at their earliest deadline (nodes with onApplyBatch). */
  private entryDeadlineTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  private unsubscribeApply: (() => void) | undefined;
  private entryWakeQueued = false;

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
    clearInterval(this.entryPollTimer);
    if (this.entryDeadlineTimer !== undefined) clearTimeout(this.entryDeadlineTimer.timer);
    this.entryDeadlineTimer = undefined;
    this.unsubscribeApply?.();
    this.unsubscribeApply = undefined;
    this.entryWaiters.clear();
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
    const c: Conn = { socket, reader: new FrameReader(this.frameBytesMax), inflight: 0, paused: false, closed: false, corked: false, results: undefined, resultCount: 0 };
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

  /** Takes frames off the connection while it has room for more commands in progress. */
  private drain(c: Conn): void {
    while (!c.closed && c.inflight < this.inflightMax) {
      let f: RawFrame | undefined;
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
      if (f.type === FrameType.SUBMIT) {
        this.handleSubmit(c, f.body);
        continue;
      }
      const j = parseJsonFrame(f);
      if (!j.ok) {
        this.reply(c, { id: null, ok: false, error: j.error === 'NOT_JSON' ? 'BAD_FRAME_TYPE' : j.error, leader: 0, retryable: false });
        continue;
      }
      this.handle(c, j.value);
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
    if (req.op === 'order') {
      // A live order of this replica's book (the gateway's GetOrder): read after apply, not
      // linearizable (ReadIndex is not exposed yet); done orders are not in the book.
      if (typeof req.orderId !== 'number' || !Number.isSafeInteger(req.orderId) || req.orderId < 1) return bad('orderId must be a positive safe integer');
      const sm = node.stateMachine;
      const o = sm.engine.order(req.orderId);
      this.reply(c, { id, ok: true, applied: sm.appliedIndex, order: o ?? null });
      return;
    }
    if (req.op === 'entries') {
      this.handleEntries(c, req, bad);
      return;
    }
    if (req.op === 'trace') {
      // Stage times of recent leader entries (the gateway's slow-order dump joins them by log index).
      if (node.entryStages === undefined) return bad('op trace is not served by this node');
      const ix = req.indexes;
      if (!Array.isArray(ix) || ix.length > TRACE_INDEXES_MAX || !ix.every((i) => Number.isSafeInteger(i) && (i as number) > 0)) return bad(`indexes must be an array of at most ${TRACE_INDEXES_MAX} positive log indexes`);
      this.reply(c, { id, ok: true, entries: (ix as number[]).map((i) => node.entryStages!(i) ?? { index: i, unknown: true }) });
      return;
    }
    if (req.op === 'transfer-leader') {
      if (node.transferLeadership === undefined) return bad('op transfer-leader is not served by this node');
      if (typeof req.to !== 'number' || !Number.isSafeInteger(req.to) || req.to < 1) return bad('to must be a positive safe integer (a node id)');
      const r = node.transferLeadership(req.to);
      this.reply(c, r.ok ? { id, ok: true } : { id, ok: false, error: r.error, leader: r.leader, retryable: false, message: r.message });
      return;
    }
    if (req.op === 'test-fsync-delay') {
      if (this.opts.testOps !== true || node.setTestFsyncDelay === undefined) return bad('op test-fsync-delay is served only in test mode (MATCHBOOK_TEST_FAULTS=1)');
      if (typeof req.ms !== 'number' || !Number.isSafeInteger(req.ms) || req.ms < 0 || req.ms > 10_000) return bad('ms must be an integer in [0, 10000]');
      node.setTestFsyncDelay(req.ms);
      this.reply(c, { id, ok: true, ms: req.ms });
      return;
    }
    if (req.op === 'membership') {
      // {change: 'add-learner' | 'promote' | 'remove', node}: answered once the change is
      // applied on this replica (the leader), or refused (ReplicaNode.changeMembership).
      if (node.changeMembership === undefined) return bad('op membership is not served by this node');
      const type = typeof req.change === 'string' ? MEMBERSHIP_CHANGES[req.change] : undefined;
      if (type === undefined) return bad(`change must be one of ${Object.keys(MEMBERSHIP_CHANGES).join(', ')}`);
      if (typeof req.node !== 'number' || !Number.isSafeInteger(req.node) || req.node < 1 || req.node > 0xffff_ffff) return bad('node must be a positive integer (a node id)');
      c.inflight++;
      node.changeMembership({ type, node: req.node }).then(
        (r) => this.done(c, r.ok ? { id, ok: true, index: r.index, conf: r.conf } : { id, ok: false, error: r.error, leader: r.leader, retryable: false, message: r.message }),
        (err: unknown) => this.done(c, { id, ok: false, error: 'INTERNAL', leader: 0, retryable: false, message: (err as Error).message }),
      );
      return;
    }
    if (req.op === 'snapshot') {
      if (node.requestSnapshot === undefined) return bad('op snapshot is not served by this node');
      this.reply(c, { id, ...node.requestSnapshot() });
      return;
    }
    if (req.op === 'register') {
      // A new client session: logged like a command, answered once applied with the allocated id.
      c.inflight++;
      proposeRegister(node, (err, clientId) => {
        if (err === undefined) return this.done(c, { id, ok: true, clientId });
        const e = err as { code?: string; leader?: number; retryable?: boolean };
        this.done(c, { id, ok: false, error: e.code ?? 'INTERNAL', leader: e.leader ?? 0, retryable: e.retryable ?? false, message: err.message });
      });
      return;
    }
    if (req.op !== undefined && req.op !== 'submit') return bad(`unknown op ${JSON.stringify(req.op)}`);
    const { clientId, requestSeq, command } = req;
    // Client ids come from op 'register'; 0 (registration) and < 0 (the leader's time ticks) are the replicas'.
    if (typeof clientId !== 'number' || !Number.isSafeInteger(clientId) || clientId < 1) return bad('clientId must be a positive safe integer (from op register)');
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

  /**
   * op 'entries' (the events publisher replaying the shard): committed entries from fromIndex,
   * or the newest snapshot when they are compacted. A reader that is caught up may ask to wait
   * (waitMs, bounded by ENTRIES_WAIT_MS_MAX) for the next applied entry instead of polling; a
   * waiting request counts as in progress on its connection.
   */
  private handleEntries(c: Conn, req: Record<string, unknown>, bad: (message: string) => void): void {
    const node = this.opts.node;
    if (node.readCommitted === undefined) return bad('op entries is not served by this node');
    const { fromIndex, bytesMax, waitMs } = req;
    if (typeof fromIndex !== 'number' || !Number.isSafeInteger(fromIndex) || fromIndex < 1) return bad('fromIndex must be a positive safe integer');
    if (bytesMax !== undefined && (typeof bytesMax !== 'number' || !Number.isSafeInteger(bytesMax) || bytesMax < 1)) return bad('bytesMax must be a positive safe integer');
    if (waitMs !== undefined && (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 0)) return bad('waitMs must be a non-negative safe integer');
    const w: EntryWaiter = {
      c,
      id: typeof req.id === 'number' && Number.isFinite(req.id) ? req.id : 0,
      fromIndex,
      bytesMax: Math.min((bytesMax as number | undefined) ?? ENTRIES_BYTES_DEFAULT, ENTRIES_BYTES_MAX),
      deadline: Date.now() + Math.min((waitMs as number | undefined) ?? 0, ENTRIES_WAIT_MS_MAX),
    };
    c.inflight++;
    if (this.answerEntries(w, false)) return;
    this.entryWaiters.add(w);
    if (node.onApplyBatch === undefined) {
      this.entryPollTimer ??= setInterval(() => this.pollEntryWaiters(), ENTRIES_POLL_MS);
      return;
    }
    this.unsubscribeApply ??= node.onApplyBatch(this.wakeEntryWaiters);
    this.armEntryDeadline(w.deadline);
  }

  /**
   * After an apply (on the replica's loop): answer readers in the next loop turn (setImmediate),
   * after this turn's RESULTS frames (process.nextTick) have gone to the order path's clients:
   * the events path must not take the CPU ahead of the acknowledgements on a busy machine.
   */
  private readonly wakeEntryWaiters = (): void => {
    if (this.entryWakeQueued || this.entryWaiters.size === 0) return;
    this.entryWakeQueued = true;
    setImmediate(() => {
      this.entryWakeQueued = false;
      this.pollEntryWaiters();
    });
  };

  /** One timer, at the earliest deadline of the waiting readers. */
  private armEntryDeadline(at: number): void {
    const t = this.entryDeadlineTimer;
    if (t !== undefined && t.at <= at) return;
    if (t !== undefined) clearTimeout(t.timer);
    const timer = setTimeout(() => {
      this.entryDeadlineTimer = undefined;
      this.pollEntryWaiters();
      let next = Infinity;
      for (const w of this.entryWaiters) next = Math.min(next, w.deadline);
      if (next !== Infinity) this.armEntryDeadline(next);
    }, Math.max(0, at - Date.now()));
    this.entryDeadlineTimer = { at, timer };
  }

  /** Answers `w` if there is something to send (or its wait is over, or `force`); false if it should keep waiting. */
  private answerEntries(w: EntryWaiter, force: boolean): boolean {
    let read: CommittedRead;
    try {
      read = this.opts.node.readCommitted!(w.fromIndex, w.bytesMax);
    } catch (err) {
      // A reader's request must never take the replica down.
      w.c.inflight--;
      this.reply(w.c, { id: w.id, ok: false, error: 'INTERNAL', leader: 0, retryable: true, message: (err as Error).message });
      if (w.c.paused) this.drain(w.c);
      return true;
    }
    if (read.kind === 'entries' && read.entries.length === 0 && !force && Date.now() < w.deadline) return false;
    w.c.inflight--;
    if (!w.c.closed) w.c.socket.write(encodeEntriesFrame(w.id, read));
    if (w.c.paused) this.drain(w.c);
    return true;
  }

  private pollEntryWaiters(): void {
    for (const w of this.entryWaiters) {
      if (w.c.closed) {
        this.entryWaiters.delete(w);
        continue;
      }
      if (this.answerEntries(w, false)) this.entryWaiters.delete(w);
    }
    if (this.entryWaiters.size === 0) {
      clearInterval(this.entryPollTimer);
      this.entryPollTimer = undefined;
      if (this.entryDeadlineTimer !== undefined) clearTimeout(this.entryDeadlineTimer.timer);
      this.entryDeadlineTimer = undefined;
    }
  }

  /** A SUBMIT frame: check the framing, propose each command; results come back one by one. */
  private handleSubmit(c: Conn, body: Buffer): void {
    const bad = (message: string) => this.reply(c, { id: null, ok: false, error: 'BAD_REQUEST', leader: 0, retryable: false, message });
    const r = new ByteReader(body, 0, body.length);
    let clientId: number;
    let count: number;
    const reqs: { requestSeq: number; body: Uint8Array }[] = [];
    try {
      clientId = r.f64();
      count = r.u32();
      if (!Number.isSafeInteger(clientId) || clientId < 1) return bad('clientId must be a positive safe integer (from op register)');
      if (count > CLIENT_BATCH_COMMANDS_MAX) return bad(`${count} commands in one SUBMIT, limit ${CLIENT_BATCH_COMMANDS_MAX}`);
      for (let k = 0; k < count; k++) {
        const requestSeq = r.f64();
        const len = r.u32();
        if (!Number.isSafeInteger(requestSeq) || requestSeq < 1) return bad('requestSeq must be a positive safe integer');
        if (len > COMMAND_BYTES_MAX) return bad(`command of ${len} bytes, limit ${COMMAND_BYTES_MAX}`);
        // Copied: the frame's bytes belong to the socket's read buffer, the log keeps these.
        reqs.push({ requestSeq, body: copyBytes(r.bytes(len)) });
      }
      if (r.remaining !== 0) return bad('trailing bytes after the commands');
    } catch {
      return bad('truncated SUBMIT frame');
    }
    const node = this.opts.node;
    c.inflight += count;
    for (const q of reqs) {
      const requestSeq = q.requestSeq;
      node.proposeEncoded({ clientId, requestSeq, body: q.body }, (err, result, events) => this.result(c, clientId, requestSeq, err, result, events));
    }
  }

  /** Appends one result to the connection's RESULTS frame of this tick (encoding the events now: the buffer is reused). */
  private result(c: Conn, clientId: number, requestSeq: number, err: ProposalError | undefined, result: ApplyResult | undefined, events: EventBuffer | undefined): void {
    c.inflight--;
    let kept: ReturnType<RecentResults['find']>;
    if (!c.closed) {
      let w = c.results;
      if (w === undefined) {
        w = this.spareWriters.pop() ?? new ByteWriter();
        w.reset();
        w.u32(0); // frame length, patched at flush
        w.u8(FrameType.RESULTS);
        w.u32(0); // result count, patched at flush
        c.results = w;
        c.resultCount = 0;
        this.scheduleFlush(c);
      }
      c.resultCount++;
      w.f64(clientId);
      w.f64(requestSeq);
      if (err === undefined && result!.outcome === ApplyOutcome.APPLIED) {
        w.u8(ResultStatus.APPLIED);
        w.f64(result!.appliedIndex);
        w.f64(result!.seq);
        const lengthAt = w.length;
        w.u32(0); // byte length of the event list, patched below
        encodeEventsTo(w, events!, result!.eventsFrom, result!.eventsTo);
        w.patchU32(lengthAt, w.length - lengthAt - 4);
        this.recent.keep(clientId, requestSeq, result!.appliedIndex, result!.seq, w.bytesRef(), lengthAt + 4, w.length);
      } else if (err === undefined && result!.outcome === ApplyOutcome.DUPLICATE && (kept = this.recent.find(clientId, requestSeq)) !== undefined) {
        w.u8(ResultStatus.DUPLICATE_WITH_RESULT);
        w.f64(kept.index);
        w.f64(kept.seq);
        w.u32(kept.events.length);
        w.bytes(kept.events);
      } else if (err === undefined && result!.outcome === ApplyOutcome.DUPLICATE) {
        w.u8(ResultStatus.DUPLICATE);
        w.f64(result!.appliedIndex);
        w.f64(result!.seq);
      } else {
        // A refusal by the node, or by the session table: SEQUENCE_GAP (retryable: an earlier
        // request is missing), SESSION_EXPIRED or UNKNOWN_SESSION (final).
        const code = err?.code ?? OUTCOME_NAMES[result!.outcome] ?? 'INTERNAL';
        w.u8(ResultStatus.ERROR);
        w.str(code);
        w.f64(err?.leader ?? 0);
        w.u8((err?.retryable ?? result!.outcome === ApplyOutcome.SEQUENCE_GAP) ? 1 : 0);
        w.str((err?.message ?? OUTCOME_MESSAGES[result!.outcome] ?? '').slice(0, ERROR_MESSAGE_CHARS_MAX));
      }
    }
    if (c.paused) this.drain(c);
  }

  private scheduleFlush(c: Conn): void {
    process.nextTick(() => {
      const w = c.results;
      c.results = undefined;
      if (w === undefined) return;
      const out = Buffer.from(w.view()); // one copy: the writer is reused
      out.writeUInt32BE(out.length - LENGTH_BYTES, 0);
      out.writeUInt32LE(c.resultCount, LENGTH_BYTES + 1);
      this.spareWriters.push(w);
      if (!c.closed) c.socket.write(out);
    });
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

/** An op 'entries' request waiting for the replica to apply more. */
interface EntryWaiter {
  c: Conn;
  id: number;
  fromIndex: number;
  bytesMax: number;
  /** Date.now() after which it is answered even if empty. */
  deadline: number;
}

/**
 * ENTRIES frame (proto/client-frames.md), body little-endian:
 *   f64 id | u8 kind (1 entries, 2 snapshot) | f64 appliedIndex | f64 firstIndex |
 *   entries:  u32 count | count × (f64 index | f64 term | u8 type | u32 length | data)
 *   snapshot: f64 index | f64 term | u32 length | node snapshot (replicator/node.ts encodeNodeSnapshot)
 */
export function encodeEntriesFrame(id: number, read: CommittedRead): Buffer {
  const w = new ByteWriter();
  w.u32(0); // length, patched below (big-endian)
  w.u8(FrameType.ENTRIES);
  w.f64(id);
  w.u8(read.kind === 'entries' ? EntriesKind.ENTRIES : EntriesKind.SNAPSHOT);
  w.f64(read.applied);
  w.f64(read.firstIndex);
  if (read.kind === 'entries') {
    w.u32(read.entries.length);
    for (const e of read.entries) {
      w.f64(e.index);
      w.f64(e.term);
      w.u8(e.type);
      w.u32(e.data.length);
      w.bytes(e.data);
    }
  } else {
    w.f64(read.index);
    w.f64(read.term);
    w.u32(read.data.length);
    w.bytes(read.data);
  }
  const out = Buffer.from(w.view());
  out.writeUInt32BE(out.length - LENGTH_BYTES, 0);
  return out;
}

export const EntriesKind = { ENTRIES: 1, SNAPSHOT: 2 } as const;

/** A decoded ENTRIES frame body (the reader's side). Throws DecodeError (engine/byte-writer.ts) on malformed bytes. */
export type EntriesReply =
  | { id: number; kind: 'entries'; applied: number; firstIndex: number; entries: { index: number; term: number; type: number; data: Uint8Array }[] }
  | { id: number; kind: 'snapshot'; applied: number; firstIndex: number; index: number; term: number; data: Uint8Array };

export function decodeEntriesFrame(body: Uint8Array): EntriesReply {
  const r = new ByteReader(body, 0, body.length);
  const id = r.f64();
  const kind = r.u8();
  const applied = r.f64();
  const firstIndex = r.f64();
  if (kind === EntriesKind.ENTRIES) {
    const count = r.u32();
    const entries: { index: number; term: number; type: number; data: Uint8Array }[] = [];
    for (let k = 0; k < count; k++) {
      const index = r.f64();
      const term = r.f64();
      const type = r.u8();
      const data = copyBytes(r.bytes(r.u32()));
      entries.push({ index, term, type, data });
    }
    if (r.remaining !== 0) throw new RangeError('ENTRIES frame: trailing bytes');
    return { id, kind: 'entries', applied, firstIndex, entries };
  }
  if (kind !== EntriesKind.SNAPSHOT) throw new RangeError(`ENTRIES frame: unknown kind ${kind}`);
  const index = r.f64();
  const term = r.f64();
  const data = copyBytes(r.bytes(r.u32()));
  if (r.remaining !== 0) throw new RangeError('ENTRIES frame: trailing bytes');
  return { id, kind: 'snapshot', applied, firstIndex, index, term, data };
}

function replyOf(id: RequestId, r: ProposalReply): CommandReply {
  const o = r.result.outcome;
  if (o === ApplyOutcome.APPLIED || o === ApplyOutcome.DUPLICATE) {
    return { id, ok: true, outcome: o === ApplyOutcome.APPLIED ? 'APPLIED' : 'DUPLICATE', appliedIndex: r.result.appliedIndex, seq: r.result.seq, events: r.events };
  }
  // SEQUENCE_GAP (retryable: resend from the oldest unacknowledged), SESSION_EXPIRED, UNKNOWN_SESSION (final).
  return { id, ok: false, error: OUTCOME_NAMES[o] ?? `OUTCOME_${o}`, leader: 0, retryable: o === ApplyOutcome.SEQUENCE_GAP, message: OUTCOME_MESSAGES[o] ?? '' };
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
  endpoints: ClientEndpoint[];
  /**
   * An already registered session to continue (tests and tools that must pin one), with
   * firstRequestSeq = its last requestSeq + 1. Without it the client registers its own session
   * (op 'register') before its first request: clients never choose ids.
   */
  clientId?: number;
  /** requestSeq of the first submit under `clientId` (default 1); only with `clientId`. */
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
  /** Engine sequence number of the command (its orderId if it was a new order). */
  seq: number;
  /** Engine events as JSON objects (decoded on first access; empty for a DUPLICATE whose original result the replica no longer holds). */
  readonly events: unknown[];
  /** The same events in the binary event codec (engine/event-codec.ts). */
  readonly eventBytes: Uint8Array;
  /** Times the request was sent (1 = first try). */
  attempts: number;
  /** Replica that answered. */
  node: NodeId;
}

class Result implements SubmitResult {
  private decoded: unknown[] | undefined;
  constructor(
    readonly requestSeq: number,
    readonly outcome: 'APPLIED' | 'DUPLICATE',
    readonly appliedIndex: number,
    readonly seq: number,
    readonly eventBytes: Uint8Array,
    readonly attempts: number,
    readonly node: NodeId,
  ) {}
  get events(): unknown[] {
    if (this.decoded === undefined) {
      this.decoded = this.eventBytes.length === 0 ? [] : decodeEvents(this.eventBytes, 0, this.eventBytes.length).map((e) => JSON.parse(eventToJson(e)) as unknown);
    }
    return this.decoded;
  }
}

const NO_EVENTS = new Uint8Array(0);

export class ClientRequestError extends Error {
  override name = 'ClientRequestError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Codes with which a request fails when its session was lost at the replicas: nothing changed
 * then, but the request was sent before and an earlier copy may have taken effect. The outcome
 * is unknown; check (the gateway: GetOrder) before sending the command again.
 */
export const SESSION_LOST_CODES: ReadonlySet<string> = new Set([OUTCOME_NAMES[ApplyOutcome.SESSION_EXPIRED]!, OUTCOME_NAMES[ApplyOutcome.UNKNOWN_SESSION]!]);

interface Req {
  seq: number;
  /** The command in the binary command codec. */
  body: Uint8Array;
  attempts: number;
  sentAt: number;
  resolve: (r: SubmitResult) => void;
  reject: (e: Error) => void;
  done: boolean;
}

interface ClientConn {
  socket: net.Socket;
  reader: FrameReader;
  target: ClientEndpoint;
  ready: boolean;
}

export interface ClientStats {
  submitted: number;
  acked: number;
  duplicates: number;
  resends: number;
  failovers: number;
  timeouts: number;
  /** Sessions registered (the first, and one after each lost session). */
  registrations: number;
  /** Sessions given up after a final refusal (SESSION_EXPIRED, UNKNOWN_SESSION, …). */
  sessionsLost: number;
  errors: Record<string, number>;
}

export class ReplicaClient {
  private readonly endpoints: ClientEndpoint[];
  private readonly windowMax: number;
  private readonly requestTimeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly retryDelayMsMax: number;
  private readonly log: (line: string) => void;

  /** The current session's clientId; 0 while none is registered (requests wait for one). */
  private session: number;
  /** The op 'register' request in flight, on `conn`. */
  private registering: { conn: ClientConn; id: string; sentAt: number } | undefined;
  private registerRequests = 0;
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
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly writer = new ByteWriter();
  private closed = false;
  readonly stats: ClientStats = { submitted: 0, acked: 0, duplicates: 0, resends: 0, failovers: 0, timeouts: 0, registrations: 0, sessionsLost: 0, errors: {} };

  constructor(opts: ReplicaClientOptions) {
    if (opts.clientId !== undefined && (!Number.isSafeInteger(opts.clientId) || opts.clientId < 1)) throw new RangeError(`ReplicaClient: clientId ${opts.clientId}`);
    if (opts.clientId === undefined && opts.firstRequestSeq !== undefined) throw new RangeError('ReplicaClient: firstRequestSeq without clientId');
    if (opts.endpoints.length === 0) throw new RangeError('ReplicaClient: no endpoints');
    this.session = opts.clientId ?? 0;
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

  /** The current session's clientId (allocated by the replicas); 0 until the first registration is answered. */
  get clientId(): number {
    return this.session;
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
   * Submits an engine command (JSON form, without seq/tsUs) under the next requestSeq.
   * Resolves once the command is in effect (APPLIED, or DUPLICATE of an earlier copy); retries
   * across leader changes by itself, so it rejects only for a command that can never be
   * applied, a lost session (SESSION_LOST_CODES: outcome unknown) or close().
   */
  submit(command: Record<string, unknown>): Promise<SubmitResult> {
    if (this.closed) return Promise.reject(new ClientRequestError('CLOSED', 'client closed'));
    const body = encodeJsonCommand(command);
    return this.submitEncoded(body);
  }

  /** Submits a command already in the binary command codec (engine/command-codec.ts). */
  submitEncoded(body: Uint8Array): Promise<SubmitResult> {
    if (this.closed) return Promise.reject(new ClientRequestError('CLOSED', 'client closed'));
    // Checked before a requestSeq is consumed: a request the replicas refuse outright would
    // leave a hole in the sequence and every later request would be a SEQUENCE_GAP.
    if (body.length > COMMAND_BYTES_MAX) return Promise.reject(new ClientRequestError('COMMAND_TOO_LARGE', `command over ${COMMAND_BYTES_MAX} bytes`));
    this.stats.submitted++;
    return new Promise<SubmitResult>((resolve, reject) => {
      this.backlog.push({ seq: this.nextSeq++, body, attempts: 0, sentAt: 0, resolve, reject, done: false });
      if (this.conn === undefined && this.reconnectTimer === undefined) this.connect();
      else this.schedulePump();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
    this.conn?.socket.destroy();
    this.conn = undefined;
    this.registering = undefined;
    for (const r of this.takeAll()) r.reject(new ClientRequestError('CLOSED', 'client closed'));
  }

  /** Everything submitted in this tick leaves in one SUBMIT frame. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    process.nextTick(() => {
      this.pumpScheduled = false;
      this.pump();
    });
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
    const conn: ClientConn = { socket, reader: new FrameReader(CLIENT_REPLY_BYTES_MAX), target, ready: false };
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
        let f: RawFrame | undefined;
        try {
          f = conn.reader.next();
        } catch {
          this.failover(undefined, 'REPLY_TOO_LARGE');
          return;
        }
        if (f === undefined) break;
        if (f.type === FrameType.RESULTS) this.onResults(conn, f.body);
        else this.onJson(conn, parseJsonFrame(f));
        if (this.conn !== conn) return;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (this.conn === conn) this.failover(undefined, 'CONNECTION_CLOSED');
    });
  }

  /**
   * Sends queued requests up to the window, in requestSeq order, in as few SUBMIT frames as the
   * batch limit allows; first registers a session if there is none (requests wait for it).
   */
  private pump(): void {
    const conn = this.conn;
    if (conn === undefined || !conn.ready) return;
    if (this.session === 0) {
      if (this.registering === undefined && this.outstanding > 0) {
        const id = `register-${++this.registerRequests}`;
        this.registering = { conn, id, sentAt: Date.now() };
        conn.socket.write(encodeFrame({ id, op: 'register' }));
      }
      return;
    }
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
    const now = Date.now();
    conn.socket.cork();
    while (this.sent < limit) {
      const batch: Req[] = [];
      while (this.sent < limit && batch.length < CLIENT_BATCH_COMMANDS_MAX) {
        const r = this.window[this.sent++]!;
        if (r.attempts > 0) this.stats.resends++;
        r.attempts++;
        r.sentAt = now;
        batch.push(r);
      }
      conn.socket.write(encodeSubmitFrame(this.session, batch.map((r) => ({ requestSeq: r.seq, body: r.body })), this.writer));
    }
    conn.socket.uncork();
  }

  private onResults(conn: ClientConn, body: Buffer): void {
    const rd = new ByteReader(body, 0, body.length);
    try {
      const count = rd.u32();
      for (let k = 0; k < count; k++) {
        // Results of a session given up on this connection may still come: not ours any more.
        const clientId = rd.f64();
        const requestSeq = rd.f64();
        const status = rd.u8();
        if (status === ResultStatus.APPLIED || status === ResultStatus.DUPLICATE || status === ResultStatus.DUPLICATE_WITH_RESULT) {
          const appliedIndex = rd.f64();
          const seq = rd.f64();
          const events = status === ResultStatus.DUPLICATE ? NO_EVENTS : rd.bytes(rd.u32());
          if (clientId !== this.session) continue;
          this.acked(conn, requestSeq, status === ResultStatus.APPLIED ? 'APPLIED' : 'DUPLICATE', appliedIndex, seq, events.length === 0 ? NO_EVENTS : copyBytes(events));
        } else {
          const code = rd.str();
          const leader = rd.f64();
          const retryable = rd.u8() === 1;
          const message = rd.str();
          if (clientId !== this.session) continue;
          this.failed(conn, requestSeq, code, leader, retryable, message);
        }
        if (this.conn !== conn) return;
      }
    } catch {
      this.failover(undefined, 'BAD_REPLY');
    }
  }

  /**
   * JSON replies: the answer to our op 'register', else errors about a frame (BAD_REQUEST,
   * FRAME_TOO_LARGE) on the SUBMIT path: our bug, not retryable.
   */
  private onJson(conn: ClientConn, f: ReadFrame): void {
    const rep = f.ok && typeof f.value === 'object' && f.value !== null ? (f.value as Record<string, unknown>) : {};
    const reg = this.registering;
    if (reg !== undefined && reg.conn === conn && rep.id === reg.id) return this.onRegistered(conn, rep);
    const error = typeof rep.error === 'string' ? rep.error : 'BAD_REPLY';
    const oldest = this.window[0];
    if (oldest === undefined) return;
    this.failed(conn, oldest.seq, error, 0, rep.retryable === true, String(rep.message ?? ''));
  }

  private onRegistered(conn: ClientConn, rep: Record<string, unknown>): void {
    this.registering = undefined;
    const clientId = rep.clientId;
    if (rep.ok === true && typeof clientId === 'number' && Number.isSafeInteger(clientId) && clientId >= 1) {
      this.session = clientId;
      this.failures = 0;
      this.stats.registrations++;
      this.log(`client: registered session ${clientId} at ${conn.target.id}`);
      this.pump();
      return;
    }
    const error = typeof rep.error === 'string' ? rep.error : 'BAD_REPLY';
    this.stats.errors[error] = (this.stats.errors[error] ?? 0) + 1;
    if (rep.retryable === true) {
      const leader = typeof rep.leader === 'number' ? rep.leader : 0;
      this.failover(leader !== 0 && leader !== conn.target.id ? leader : undefined, error);
      return;
    }
    // A refusal that retrying will not cure (a replica that does not know op register): the
    // waiting requests were never sent, so they fail without any doubt about their effect.
    this.log(`client: registration refused by ${conn.target.id}: ${error} ${String(rep.message ?? '')}`);
    this.nextSeq = 1; // the session to come starts afresh
    for (const q of this.takeAll()) {
      q.done = true;
      q.reject(new ClientRequestError(error, `register: ${error} ${String(rep.message ?? '')}`));
    }
  }

  private findSent(requestSeq: number): number {
    const first = this.window[0];
    if (first === undefined) return -1;
    const k = requestSeq - first.seq;
    if (k >= 0 && k < this.sent && this.window[k]!.seq === requestSeq) return k;
    for (let i = 0; i < this.sent; i++) if (this.window[i]!.seq === requestSeq) return i;
    return -1;
  }

  private acked(conn: ClientConn, requestSeq: number, outcome: 'APPLIED' | 'DUPLICATE', appliedIndex: number, seq: number, eventBytes: Uint8Array): void {
    const k = this.findSent(requestSeq);
    if (k < 0) return;
    const r = this.window[k]!;
    this.window.splice(k, 1);
    this.sent--;
    if (r.done) return;
    r.done = true;
    this.failures = 0;
    this.stats.acked++;
    if (outcome === 'DUPLICATE') this.stats.duplicates++;
    r.resolve(new Result(r.seq, outcome, appliedIndex, seq, eventBytes, r.attempts, conn.target.id));
    if (this.backlogHead < this.backlog.length) this.schedulePump();
  }

  private failed(conn: ClientConn, requestSeq: number, error: string, leader: number, retryable: boolean, message: string): void {
    this.stats.errors[error] = (this.stats.errors[error] ?? 0) + 1;
    if (!retryable) return this.loseSession(error, requestSeq, message);
    // One failure answers for the whole pipeline: every later request of ours on this
    // connection is a SEQUENCE_GAP or the same error, so switch (or reconnect) and resend all.
    this.failover(leader !== 0 && leader !== conn.target.id ? leader : undefined, error);
  }

  /**
   * A final refusal: the session cannot go on (an expired or unknown session refuses
   * everything; after any other final refusal its later requests would be a SEQUENCE_GAP
   * forever). Every request already sent fails with the code: it may have taken effect (a
   * copy applied before the session expired), and resending it under another session could
   * apply it twice. Requests never sent cannot have taken effect: they are numbered anew and
   * go out under a new session, registered now, after the failed ones.
   */
  private loseSession(error: string, requestSeq: number, message: string): void {
    const lost = this.session;
    const all = this.takeAll();
    const sent = all.filter((q) => q.attempts > 0);
    const unsent = all.filter((q) => q.attempts === 0);
    this.stats.sessionsLost++;
    this.log(`client ${lost}: request ${requestSeq} refused for good: ${error} ${message}; ${sent.length} sent requests fail, ${unsent.length} go to a new session`);
    this.session = 0;
    this.nextSeq = 1;
    for (const q of unsent) {
      q.seq = this.nextSeq++;
      this.backlog.push(q);
    }
    for (const q of sent) {
      q.done = true;
      q.reject(new ClientRequestError(error, `request ${q.seq} of session ${lost}: ${error}${message !== '' ? `: ${message}` : ''}`));
    }
    if (this.outstanding > 0) this.schedulePump();
  }

  private checkTimeouts(): void {
    const conn = this.conn;
    if (conn === undefined || !conn.ready) return;
    const reg = this.registering;
    if (reg !== undefined && Date.now() - reg.sentAt > this.requestTimeoutMs) {
      this.stats.timeouts++;
      this.failover(undefined, 'REGISTER_TIMEOUT');
      return;
    }
    if (this.sent === 0) return;
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
   * DUPLICATE). A registration in flight is asked again there (if the first one was applied
   * too, that session is never used: harmless).
   */
  private failover(leader: NodeId | undefined, why: string): void {
    if (this.closed) return;
    const old = this.conn;
    this.conn = undefined;
    this.sent = 0;
    this.registering = undefined;
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
    this.log(`client ${this.session}: ${why} from ${old?.target.id ?? '-'}; reconnecting to ${this.endpoints[this.targetIndex % this.endpoints.length]!.id} in ${delay} ms`);
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
