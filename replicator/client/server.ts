// The replica's side of the client protocol (protocol.ts, proto/client-frames.md):
// `ClientServer` listens on the replica's client port, reads frames, hands commands and ops to
// the replica through the narrow `ClientServerNode` interface (ReplicaNode implements it) and
// writes the replies. The JSON ops are one function each, found by name in OPS.
// `registerSession` is the same registration for in-process tests and tools.
//
// The server is a thin edge: it checks the framing, hands commands to the replica and writes
// the replies. Input is untrusted: a malformed frame gets an error reply, an oversized one gets
// an error reply and the connection closed (the stream cannot be resynchronised); nothing a
// client sends can throw out of a socket handler. A command body the codec cannot decode is
// still logged and becomes a command_reject event on every replica (the session goes on).
// Per connection at most CLIENT_INFLIGHT_MAX commands are in progress; beyond that the socket
// is paused (TCP backpressure) until results go out.

import type net from 'node:net';
import { ByteWriter } from '../../engine/byte-writer.js';
import { CLORDID_LENGTH_MAX } from '../../engine/limits.js';
import type { EventBuffer } from '../../engine/event-buffer.js';
import { ApplyOutcome, OUTCOME_NAMES, type ApplyResult } from '../../shard/state-machine.js';
import type {
  CommittedRead,
  EncodedProposal,
  InstrumentState,
  LiveOrder,
  NodeStatus,
  Proposal,
  ProposalCallback,
  ProposalError,
  ProposalReply,
  ReadCallback,
} from '../log.js';
import { ConfChangeType, type ConfChange, type ConfState } from '../raft/types.js';
import { RecentResults } from '../recent-results.js';
import { linesLog, type Log } from '../../ops/log.js';
import type { TlsMaterial } from '../../ops/tls-settings.js';
import { createSocketServer } from './socket-factory.js';
import {
  CLIENT_FRAME_BYTES_MAX,
  CLIENT_INFLIGHT_MAX,
  ENTRIES_BYTES_DEFAULT,
  ENTRIES_BYTES_MAX,
  ENTRIES_WAIT_MS_MAX,
  FrameReader,
  FrameType,
  TRACE_INDEXES_MAX,
  beginResultsFrame,
  decodeSubmitFrame,
  encodeEntriesFrame,
  encodeFrame,
  finishResultsFrame,
  parseJsonFrame,
  writeAppliedResult,
  writeDuplicateResult,
  writeDuplicateWithResult,
  writeErrorResult,
  type CommandReply,
  type OrdersDump,
  type RawFrame,
  type RequestId,
} from './protocol.js';

/** Op 'membership': the change names on the wire. */
const MEMBERSHIP_CHANGES: Record<string, ConfChangeType> = {
  'add-learner': ConfChangeType.ADD_LEARNER,
  promote: ConfChangeType.PROMOTE,
  remove: ConfChangeType.REMOVE,
};

/** Connections the server holds at once; more are closed on accept. */
export const CLIENT_CONNECTIONS_MAX = 1024;
/** Orders listed by op 'orders' at most. */
export const ORDERS_DUMP_MAX = 100_000;
/**
 * op 'entries', a node without apply notifications (ClientServerNode.onApplyBatch): how often
 * waiting readers are checked for new applied entries (ms). A ReplicaNode notifies instead, so a
 * caught-up reader is answered right after the apply and an idle replica wakes for nothing
 * (a 2 ms poll was 500 wake-ups a second per waiting reader, idle or not).
 */
export const ENTRIES_POLL_MS = 2;

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
export function proposeRegister(
  node: Pick<ClientServerNode, 'proposeEncoded'>,
  cb: (err: ProposalError | Error | undefined, clientId: number) => void,
): void {
  node.proposeEncoded({ clientId: 0, requestSeq: 0, body: REGISTER_BODY }, (err, result) => {
    if (err !== undefined) return cb(err, 0);
    if (result!.outcome !== ApplyOutcome.REGISTERED)
      return cb(new Error(`register: outcome ${OUTCOME_NAMES[result!.outcome] ?? result!.outcome}`), 0);
    cb(undefined, result!.clientId);
  });
}

const REGISTER_BODY = new Uint8Array(0);

/** A new client session on `node` (the leader), for in-process tests and tools that propose directly: resolves with its clientId. */
export function registerSession(node: Pick<ClientServerNode, 'proposeEncoded'>): Promise<number> {
  return new Promise((resolve, reject) =>
    proposeRegister(node, (err, clientId) => (err !== undefined ? reject(err) : resolve(clientId))),
  );
}

/** What the server needs from a replica (ReplicaNode implements it). */
export interface ClientServerNode {
  propose(p: Proposal): Promise<ProposalReply>;
  proposeEncoded(p: EncodedProposal, cb: ProposalCallback): void;
  status(withHash?: boolean): NodeStatus;
  /** Op 'order' (the gateway's GetOrder): a live order of the book, or undefined, and the applied index it was read at. */
  liveOrder(orderId: number): { applied: number; order: LiveOrder | undefined };
  /** Op 'order' by (account, clOrdId): the id of the account's live order with that client order id; without it that form of the op is refused. */
  liveOrderIdOf?(account: number, clOrdId: string): { applied: number; orderId: number | undefined };
  /** Op 'orders' (tests, debugging): the book's resting orders, at most `max`. */
  ordersDump(max: number): OrdersDump;
  /** Linearizable read (ReplicatedLog.readIndex): op 'instruments' reads after it; without it the op is refused. */
  readIndex?(cb: ReadCallback): void;
  /** Op 'instruments': every instrument's halt state and reference price; without it the op is refused. */
  instrumentStates?(): { applied: number; instruments: InstrumentState[] };
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
  changeMembership?(
    cc: ConfChange,
  ): Promise<
    { ok: true; index: number; conf: ConfState } | { ok: false; error: string; leader: number; message: string }
  >;
}

export interface ClientServerOptions {
  node: ClientServerNode;
  host: string;
  /** 0: the OS picks (read `port` after start()). */
  port: number;
  frameBytesMax?: number;
  inflightMax?: number;
  connectionsMax?: number;
  /** Default: text lines on stderr (linesLog). */
  log?: Log;
  /**
   * Serve the fault-injection ops of the chaos suite (op 'test-fsync-delay'); never in
   * production (the replica enables it only with MATCHBOOK_TEST_FAULTS=1).
   */
  testOps?: boolean;
  /** TLS on this port (the cluster file's "tls": mutual with requireClientCert); undefined: plain TCP. */
  tls?: TlsMaterial;
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
  private readonly log: Log;
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
    this.log = opts.log ?? linesLog((l) => console.error(`[client-server] ${l}`));
  }

  async start(): Promise<void> {
    const server = createSocketServer(
      this.opts.tls,
      (s) => this.accept(s),
      (err, remote) => this.log.warn('client connection refused: TLS handshake failed', { remote, err: err.message }),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error('client server error', { err: err.message }));
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
    const c: Conn = {
      socket,
      reader: new FrameReader(this.frameBytesMax),
      inflight: 0,
      paused: false,
      closed: false,
      corked: false,
      results: undefined,
      resultCount: 0,
    };
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
        this.reply(c, {
          id: null,
          ok: false,
          error: 'FRAME_TOO_LARGE',
          leader: 0,
          retryable: false,
          message: (err as Error).message,
        });
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
        this.reply(c, {
          id: null,
          ok: false,
          error: j.error === 'NOT_JSON' ? 'BAD_FRAME_TYPE' : j.error,
          leader: 0,
          retryable: false,
        });
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

  /** A JSON frame: a request object, handed to its op in OPS (a request without op is a command). */
  private handle(c: Conn, value: unknown): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.reply(c, {
        id: null,
        ok: false,
        error: 'BAD_REQUEST',
        leader: 0,
        retryable: false,
        message: 'not an object',
      });
      return;
    }
    const req = value as Record<string, unknown>;
    const id: RequestId = typeof req.id === 'number' || typeof req.id === 'string' ? req.id : null;
    const bad = (message: string) =>
      this.reply(c, { id, ok: false, error: 'BAD_REQUEST', leader: 0, retryable: false, message });
    const op = req.op === undefined ? 'submit' : req.op;
    const handler = typeof op === 'string' && Object.hasOwn(OPS, op) ? OPS[op] : undefined;
    if (handler === undefined) return bad(`unknown op ${JSON.stringify(req.op)}`);
    handler({
      req,
      id,
      node: this.opts.node,
      testOps: this.opts.testOps === true,
      reply: (reply) => this.reply(c, reply),
      bad,
      later: () => {
        c.inflight++;
        return (reply) => this.done(c, reply);
      },
      serveEntries: (q) => this.serveEntries(c, q),
    });
  }

  /**
   * op 'entries' (opEntries checked the request): answers now if there is something to send,
   * else the reader waits for the next applied entry or its deadline; a waiting request counts
   * as in progress on its connection.
   */
  private serveEntries(c: Conn, q: EntriesRequest): void {
    const node = this.opts.node;
    const w: EntryWaiter = { c, ...q };
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
    const timer = setTimeout(
      () => {
        this.entryDeadlineTimer = undefined;
        this.pollEntryWaiters();
        let next = Infinity;
        for (const w of this.entryWaiters) next = Math.min(next, w.deadline);
        if (next !== Infinity) this.armEntryDeadline(next);
      },
      Math.max(0, at - Date.now()),
    );
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
      this.reply(w.c, {
        id: w.id,
        ok: false,
        error: 'INTERNAL',
        leader: 0,
        retryable: true,
        message: (err as Error).message,
      });
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
    const f = decodeSubmitFrame(body);
    if (!f.ok)
      return this.reply(c, {
        id: null,
        ok: false,
        error: 'BAD_REQUEST',
        leader: 0,
        retryable: false,
        message: f.message,
      });
    const node = this.opts.node;
    const clientId = f.clientId;
    c.inflight += f.requests.length;
    for (const q of f.requests) {
      const requestSeq = q.requestSeq;
      node.proposeEncoded({ clientId, requestSeq, body: q.body }, (err, result, events) =>
        this.result(c, clientId, requestSeq, err, result, events),
      );
    }
  }

  /** Appends one result to the connection's RESULTS frame of this tick (encoding the events now: the buffer is reused). */
  private result(
    c: Conn,
    clientId: number,
    requestSeq: number,
    err: ProposalError | undefined,
    result: ApplyResult | undefined,
    events: EventBuffer | undefined,
  ): void {
    c.inflight--;
    if (!c.closed) {
      const w = this.resultsFrame(c);
      c.resultCount++;
      this.writeResult(w, clientId, requestSeq, err, result, events);
    }
    if (c.paused) this.drain(c);
  }

  /** The connection's RESULTS frame of this tick: begun, and its flush scheduled, by the first result. */
  private resultsFrame(c: Conn): ByteWriter {
    let w = c.results;
    if (w === undefined) {
      w = this.spareWriters.pop() ?? new ByteWriter();
      beginResultsFrame(w);
      c.results = w;
      c.resultCount = 0;
      this.scheduleFlush(c);
    }
    return w;
  }

  /**
   * One result: APPLIED (its events kept to answer resends), DUPLICATE with the original's result
   * when this port still holds it, else a bare DUPLICATE, or a refusal.
   */
  private writeResult(
    w: ByteWriter,
    clientId: number,
    requestSeq: number,
    err: ProposalError | undefined,
    result: ApplyResult | undefined,
    events: EventBuffer | undefined,
  ): void {
    if (err === undefined && result!.outcome === ApplyOutcome.APPLIED) {
      const eventsAt = writeAppliedResult(
        w,
        clientId,
        requestSeq,
        result!.appliedIndex,
        result!.seq,
        events!,
        result!.eventsFrom,
        result!.eventsTo,
      );
      this.recent.keep(clientId, requestSeq, result!.appliedIndex, result!.seq, w.bytesRef(), eventsAt, w.length);
      return;
    }
    if (err === undefined && result!.outcome === ApplyOutcome.DUPLICATE) {
      const kept = this.recent.find(clientId, requestSeq);
      if (kept !== undefined) writeDuplicateWithResult(w, clientId, requestSeq, kept.index, kept.seq, kept.events);
      else writeDuplicateResult(w, clientId, requestSeq, result!.appliedIndex, result!.seq);
      return;
    }
    // A refusal by the node, or by the session table: SEQUENCE_GAP (retryable: an earlier
    // request is missing), SESSION_EXPIRED or UNKNOWN_SESSION (final).
    const code = err?.code ?? OUTCOME_NAMES[result!.outcome] ?? 'INTERNAL';
    const retryable = err?.retryable ?? result!.outcome === ApplyOutcome.SEQUENCE_GAP;
    writeErrorResult(
      w,
      clientId,
      requestSeq,
      code,
      err?.leader ?? 0,
      retryable,
      err?.message ?? OUTCOME_MESSAGES[result!.outcome] ?? '',
    );
  }

  private scheduleFlush(c: Conn): void {
    process.nextTick(() => {
      const w = c.results;
      c.results = undefined;
      if (w === undefined) return;
      const out = finishResultsFrame(w, c.resultCount);
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

/** An op 'entries' request, checked: what to read, and until when a caught-up reader may wait. */
interface EntriesRequest {
  /** The request's numeric id, else 0 (the ENTRIES frame carries an f64). */
  id: number;
  fromIndex: number;
  bytesMax: number;
  /** Date.now() after which it is answered even if empty. */
  deadline: number;
}

/** An op 'entries' request waiting for the replica to apply more. */
interface EntryWaiter extends EntriesRequest {
  c: Conn;
}

// ---------------------------------------------------------------------------------------------
// JSON ops: one function per op, dispatched by name through OPS (ClientServer.handle). Each
// checks its own fields (the request is untrusted) and answers exactly once: reply, bad, or
// the function later() returns.
// ---------------------------------------------------------------------------------------------

/** What an op sees of one JSON request: the request, the replica, and the ways to answer it. */
interface OpRequest {
  /** The request as it came (every field unchecked). */
  readonly req: Record<string, unknown>;
  /** Echoed in the reply: the request's id if a number or string, else null. */
  readonly id: RequestId;
  readonly node: ClientServerNode;
  /** Serve the chaos suite's fault-injection ops (ClientServerOptions.testOps). */
  readonly testOps: boolean;
  /** Answers now. */
  reply(reply: unknown): void;
  /** Answers BAD_REQUEST with this message. */
  bad(message: string): void;
  /** For an op answered later (once the replica has applied something): counts it as in progress on its connection until the returned function answers it. */
  later(): (reply: unknown) => void;
  /** Op 'entries': answer now, or when the replica applies more (ClientServer.serveEntries). */
  serveEntries(q: EntriesRequest): void;
}

type OpHandler = (r: OpRequest) => void;

/** The JSON ops by name; a request without op is a 'submit'. */
const OPS: Record<string, OpHandler> = {
  status: opStatus,
  orders: opOrders,
  order: opOrder,
  instruments: opInstruments,
  entries: opEntries,
  trace: opTrace,
  'transfer-leader': opTransferLeader,
  'test-fsync-delay': opTestFsyncDelay,
  membership: opMembership,
  snapshot: opSnapshot,
  register: opRegister,
  submit: opSubmit,
};

/** {op:'status', hash?}: the replica's status, with its state hash if asked. */
function opStatus({ req, id, node, reply }: OpRequest): void {
  reply({ id, ok: true, status: node.status(req.hash === true) });
}

/** {op:'orders'}: the book's resting orders, at most ORDERS_DUMP_MAX (tests, debugging). */
function opOrders({ id, node, reply }: OpRequest): void {
  reply({ id, ok: true, ...node.ordersDump(ORDERS_DUMP_MAX) });
}

/** {op:'order', orderId} or {op:'order', account, clOrdId}: one live order, or null. */
function opOrder({ req, id, node, reply, bad }: OpRequest): void {
  // A live order of this replica's book (the gateway's GetOrder): read after apply, not
  // linearizable (ReadIndex is not exposed yet); done orders are not in the book.
  let orderId = req.orderId;
  if (req.clOrdId !== undefined) {
    // By client order id: unique among the account's live orders (engine rule).
    if (typeof req.clOrdId !== 'string' || req.clOrdId.length > CLORDID_LENGTH_MAX)
      return bad(`clOrdId must be a string of at most ${CLORDID_LENGTH_MAX} characters`);
    if (typeof req.account !== 'number' || !Number.isSafeInteger(req.account) || req.account < 1)
      return bad('account must be a positive safe integer');
    if (node.liveOrderIdOf === undefined) return bad('op order by clOrdId is not served by this node');
    const found = node.liveOrderIdOf(req.account, req.clOrdId);
    if (found.orderId === undefined) return reply({ id, ok: true, applied: found.applied, order: null });
    orderId = found.orderId;
  }
  if (typeof orderId !== 'number' || !Number.isSafeInteger(orderId) || orderId < 1)
    return bad('orderId must be a positive safe integer');
  const r = node.liveOrder(orderId);
  reply({ id, ok: true, applied: r.applied, order: r.order ?? null });
}

/**
 * {op:'instruments'}: every instrument's halt state and reference price (the gateway's
 * ListInstruments), read after a ReadIndex, so an admin halt acknowledged before the request is
 * always seen, whichever replica answers. The shard config bounds the list (INSTRUMENT_COUNT_MAX).
 */
function opInstruments({ id, node, bad, later }: OpRequest): void {
  const { readIndex, instrumentStates } = node;
  if (readIndex === undefined || instrumentStates === undefined)
    return bad('op instruments is not served by this node');
  const answer = later();
  readIndex.call(node, (err, index) => {
    if (err !== undefined) return answer(refusalOf(id, err));
    answer({ id, ok: true, readIndex: index, ...instrumentStates.call(node) });
  });
}

/**
 * {op:'entries', fromIndex, bytesMax?, waitMs?} (the events publisher replaying the shard):
 * committed entries from fromIndex, or the newest snapshot when they are compacted, in an
 * ENTRIES frame. A reader that is caught up may ask to wait (waitMs, bounded by
 * ENTRIES_WAIT_MS_MAX) for the next applied entry instead of polling.
 */
function opEntries({ req, node, bad, serveEntries }: OpRequest): void {
  if (node.readCommitted === undefined) return bad('op entries is not served by this node');
  const { fromIndex, bytesMax, waitMs } = req;
  if (typeof fromIndex !== 'number' || !Number.isSafeInteger(fromIndex) || fromIndex < 1)
    return bad('fromIndex must be a positive safe integer');
  if (bytesMax !== undefined && (typeof bytesMax !== 'number' || !Number.isSafeInteger(bytesMax) || bytesMax < 1))
    return bad('bytesMax must be a positive safe integer');
  if (waitMs !== undefined && (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 0))
    return bad('waitMs must be a non-negative safe integer');
  serveEntries({
    id: typeof req.id === 'number' && Number.isFinite(req.id) ? req.id : 0,
    fromIndex,
    bytesMax: Math.min((bytesMax as number | undefined) ?? ENTRIES_BYTES_DEFAULT, ENTRIES_BYTES_MAX),
    deadline: Date.now() + Math.min((waitMs as number | undefined) ?? 0, ENTRIES_WAIT_MS_MAX),
  });
}

/** {op:'trace', indexes}: stage times of recent leader entries (the gateway's slow-order dump joins them by log index). */
function opTrace({ req, id, node, reply, bad }: OpRequest): void {
  if (node.entryStages === undefined) return bad('op trace is not served by this node');
  const ix = req.indexes;
  if (
    !Array.isArray(ix) ||
    ix.length > TRACE_INDEXES_MAX ||
    !ix.every((i) => Number.isSafeInteger(i) && (i as number) > 0)
  )
    return bad(`indexes must be an array of at most ${TRACE_INDEXES_MAX} positive log indexes`);
  reply({ id, ok: true, entries: (ix as number[]).map((i) => node.entryStages!(i) ?? { index: i, unknown: true }) });
}

/** {op:'transfer-leader', to} (operator CLI). */
function opTransferLeader({ req, id, node, reply, bad }: OpRequest): void {
  if (node.transferLeadership === undefined) return bad('op transfer-leader is not served by this node');
  if (typeof req.to !== 'number' || !Number.isSafeInteger(req.to) || req.to < 1)
    return bad('to must be a positive safe integer (a node id)');
  const r = node.transferLeadership(req.to);
  reply(
    r.ok ? { id, ok: true } : { id, ok: false, error: r.error, leader: r.leader, retryable: false, message: r.message },
  );
}

/** {op:'test-fsync-delay', ms} (chaos suite, test mode only): every fdatasync takes this much longer. */
function opTestFsyncDelay({ req, id, node, testOps, reply, bad }: OpRequest): void {
  if (!testOps || node.setTestFsyncDelay === undefined)
    return bad('op test-fsync-delay is served only in test mode (MATCHBOOK_TEST_FAULTS=1)');
  if (typeof req.ms !== 'number' || !Number.isSafeInteger(req.ms) || req.ms < 0 || req.ms > 10_000)
    return bad('ms must be an integer in [0, 10000]');
  node.setTestFsyncDelay(req.ms);
  reply({ id, ok: true, ms: req.ms });
}

/**
 * {op:'membership', change: 'add-learner' | 'promote' | 'remove', node} (operator CLI
 * add-node / remove-node): answered once the change is applied on this replica (the leader),
 * or refused (ReplicaNode.changeMembership).
 */
function opMembership({ req, id, node, bad, later }: OpRequest): void {
  if (node.changeMembership === undefined) return bad('op membership is not served by this node');
  const type = typeof req.change === 'string' ? MEMBERSHIP_CHANGES[req.change] : undefined;
  if (type === undefined) return bad(`change must be one of ${Object.keys(MEMBERSHIP_CHANGES).join(', ')}`);
  if (typeof req.node !== 'number' || !Number.isSafeInteger(req.node) || req.node < 1 || req.node > 0xffff_ffff)
    return bad('node must be a positive integer (a node id)');
  const answer = later();
  node.changeMembership({ type, node: req.node }).then(
    (r) =>
      answer(
        r.ok
          ? { id, ok: true, index: r.index, conf: r.conf }
          : { id, ok: false, error: r.error, leader: r.leader, retryable: false, message: r.message },
      ),
    (err: unknown) =>
      answer({ id, ok: false, error: 'INTERNAL', leader: 0, retryable: false, message: (err as Error).message }),
  );
}

/** {op:'snapshot'} (operator CLI): take a snapshot now. */
function opSnapshot({ id, node, reply, bad }: OpRequest): void {
  if (node.requestSnapshot === undefined) return bad('op snapshot is not served by this node');
  reply({ id, ...node.requestSnapshot() });
}

/** {op:'register'}: a new client session, logged like a command, answered once applied with the allocated id. */
function opRegister({ id, node, later }: OpRequest): void {
  const answer = later();
  proposeRegister(node, (err, clientId) => {
    if (err === undefined) return answer({ id, ok: true, clientId });
    answer(refusalOf(id, err));
  });
}

/** A node's refusal (a ProposalError: code, leader, retryable) as a JSON reply. */
function refusalOf(id: RequestId, err: Error): Record<string, unknown> {
  const e = err as { code?: string; leader?: number; retryable?: boolean };
  return {
    id,
    ok: false,
    error: e.code ?? 'INTERNAL',
    leader: e.leader ?? 0,
    retryable: e.retryable ?? false,
    message: err.message,
  };
}

/** {clientId, requestSeq, command} (op 'submit' or none): one command in the engine's JSON form, the slow path for tools. */
function opSubmit({ req, id, node, bad, later }: OpRequest): void {
  const { clientId, requestSeq, command } = req;
  // Client ids come from op 'register'; 0 (registration) and < 0 (the leader's time ticks) are the replicas'.
  if (typeof clientId !== 'number' || !Number.isSafeInteger(clientId) || clientId < 1)
    return bad('clientId must be a positive safe integer (from op register)');
  if (typeof requestSeq !== 'number' || !Number.isSafeInteger(requestSeq) || requestSeq < 1)
    return bad('requestSeq must be a positive safe integer');
  if (typeof command !== 'object' || command === null || Array.isArray(command))
    return bad('command must be an object');
  const answer = later();
  node.propose({ clientId, requestSeq, command: command as Record<string, unknown> }).then(
    (r) => answer(replyOf(id, r)),
    (err: unknown) => {
      const e = err as { code?: string; leader?: number; retryable?: boolean; message?: string };
      answer({
        id,
        ok: false,
        error: e.code ?? 'INTERNAL',
        leader: e.leader ?? 0,
        retryable: e.retryable ?? false,
        message: e.message ?? String(err),
      });
    },
  );
}

function replyOf(id: RequestId, r: ProposalReply): CommandReply {
  const o = r.result.outcome;
  if (o === ApplyOutcome.APPLIED || o === ApplyOutcome.DUPLICATE) {
    return {
      id,
      ok: true,
      outcome: o === ApplyOutcome.APPLIED ? 'APPLIED' : 'DUPLICATE',
      appliedIndex: r.result.appliedIndex,
      seq: r.result.seq,
      events: r.events,
    };
  }
  // SEQUENCE_GAP (retryable: resend from the oldest unacknowledged), SESSION_EXPIRED, UNKNOWN_SESSION (final).
  return {
    id,
    ok: false,
    error: OUTCOME_NAMES[o] ?? `OUTCOME_${o}`,
    leader: 0,
    retryable: o === ApplyOutcome.SEQUENCE_GAP,
    message: OUTCOME_MESSAGES[o] ?? '',
  };
}
