// The client's side of the client protocol (protocol.ts, proto/client-frames.md):
// `ReplicaClient` for commands, `requestOnce` for a single JSON op (status, orders, trace,
// operator ops) on a fresh connection.
//
// ReplicaClient: one client session at a time, registered by the client itself before its first
// request, with pipelined requests and retry-to-leader. Each request keeps its requestSeq for
// life; after a failure or timeout it reconnects (to the leader named in the error, else the
// next replica) and resends every unacknowledged request in order with the SAME (clientId,
// requestSeq), which the state machine's sessions apply exactly once. When the session is lost
// (SESSION_EXPIRED, UNKNOWN_SESSION, or any other final refusal) every request already sent
// fails with that code, never resent; the rest go out under a newly registered session.

import type net from 'node:net';
import { ByteWriter, copyBytes } from '../../engine/byte-writer.js';
import { decodeEvents } from '../../engine/event-codec.js';
import { eventToJson } from '../../engine/json-codec.js';
import { COMMAND_BYTES_MAX } from '../../shard/batch-codec.js';
import { encodeJsonCommand } from '../../shard/json-command.js';
import type { NodeId } from '../raft/types.js';
import { NO_LOG, type Log } from '../../ops/log.js';
import type { TlsMaterial } from '../../ops/tls-settings.js';
import { connectSocket } from './socket-factory.js';
import {
  CLIENT_BATCH_COMMANDS_MAX,
  CLIENT_INFLIGHT_MAX,
  CLIENT_REPLY_BYTES_MAX,
  FrameReader,
  FrameType,
  JsonFrameReader,
  ResultsReader,
  encodeFrame,
  encodeSubmitFrame,
  parseJsonFrame,
  type RawFrame,
  type ReadFrame,
} from './protocol.js';

/** Requests one ReplicaClient has sent and not yet seen answered (≤ CLIENT_INFLIGHT_MAX). */
export const CLIENT_WINDOW_MAX = 256;
/** A request unanswered this long (ms) makes the client fail over and resend. */
export const CLIENT_REQUEST_TIMEOUT_MS = 2_000;
/** First delay before reconnecting after a failure (ms); doubles per round of failures over all replicas. */
export const CLIENT_RETRY_DELAY_MS = 25;
/** Cap of that delay (ms). */
export const CLIENT_RETRY_DELAY_MS_MAX = 500;
/** How often the client checks for timed-out requests and due leader probes (ms). */
const CLIENT_TIMER_MS = 50;
/**
 * The oldest request (or a registration, or a connection attempt) waiting this long (ms) makes
 * the client ask every replica who leads (a leader probe). Above the replicas' longest election
 * timeout (ELECTION_TICKS × 2 × TICK_MS = 300 ms), so a healthy leader that is only busy is
 * seldom probed, and far under CLIENT_REQUEST_TIMEOUT_MS: a silent leader (its host lost with
 * no reset, SIGSTOP) is left as soon as the others have elected a new one, not 2 s later.
 */
export const CLIENT_LEADER_PROBE_AFTER_MS = 400;
/** At most one probe round per this (ms): a round opens one connection per replica. */
export const CLIENT_LEADER_PROBE_INTERVAL_MS = 250;
/**
 * A replica that has not answered a probe's status within this (ms) counts as silent. Enough for
 * a TLS handshake across regions (2–3 round trips of ≤ 80 ms); a live target answering later
 * costs only a wasted round, never a wrong failover (it needs a majority naming another leader).
 */
export const CLIENT_LEADER_PROBE_TIMEOUT_MS = 300;

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
  /** Leader probe (README): default CLIENT_LEADER_PROBE_AFTER_MS; Infinity turns probing off. */
  probeAfterMs?: number;
  /** Default CLIENT_LEADER_PROBE_INTERVAL_MS. */
  probeIntervalMs?: number;
  /** Default CLIENT_LEADER_PROBE_TIMEOUT_MS. */
  probeTimeoutMs?: number;
  retryDelayMs?: number;
  retryDelayMsMax?: number;
  /** Default: nothing logged. */
  log?: Log;
  /** TLS to the replicas (the cluster file's "tls": the cluster CA, and this client's cert for mutual TLS). */
  tls?: TlsMaterial;
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
      this.decoded =
        this.eventBytes.length === 0
          ? []
          : decodeEvents(this.eventBytes, 0, this.eventBytes.length).map((e) => JSON.parse(eventToJson(e)) as unknown);
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
  /** When the connection was opened (ms): requests waiting for it count from then. */
  openedAt: number;
}

export interface ClientStats {
  submitted: number;
  acked: number;
  duplicates: number;
  resends: number;
  failovers: number;
  timeouts: number;
  /** Leader probe rounds started (a request waited over probeAfterMs). */
  probes: number;
  /** Failovers decided by a probe: the target silent, a majority naming another leader that answers as LEADER. */
  probeFailovers: number;
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
  private readonly probeAfterMs: number;
  private readonly probeIntervalMs: number;
  private readonly probeTimeoutMs: number;
  /** The probe round in flight (its number), 0 for none; a round's answer counts only if it is still this one. */
  private probeRound = 0;
  private probeRounds = 0;
  private lastProbeAt = 0;
  private readonly retryDelayMs: number;
  private readonly retryDelayMsMax: number;
  private readonly log: Log;

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
  private readonly tls: TlsMaterial | undefined;
  readonly stats: ClientStats = {
    submitted: 0,
    acked: 0,
    duplicates: 0,
    resends: 0,
    failovers: 0,
    timeouts: 0,
    probes: 0,
    probeFailovers: 0,
    registrations: 0,
    sessionsLost: 0,
    errors: {},
  };

  constructor(opts: ReplicaClientOptions) {
    if (opts.clientId !== undefined && (!Number.isSafeInteger(opts.clientId) || opts.clientId < 1))
      throw new RangeError(`ReplicaClient: clientId ${opts.clientId}`);
    if (opts.clientId === undefined && opts.firstRequestSeq !== undefined)
      throw new RangeError('ReplicaClient: firstRequestSeq without clientId');
    if (opts.endpoints.length === 0) throw new RangeError('ReplicaClient: no endpoints');
    this.session = opts.clientId ?? 0;
    this.endpoints = [...opts.endpoints];
    this.nextSeq = opts.firstRequestSeq ?? 1;
    this.windowMax = Math.min(opts.windowMax ?? CLIENT_WINDOW_MAX, CLIENT_INFLIGHT_MAX);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? CLIENT_REQUEST_TIMEOUT_MS;
    this.probeAfterMs = opts.probeAfterMs ?? CLIENT_LEADER_PROBE_AFTER_MS;
    this.probeIntervalMs = opts.probeIntervalMs ?? CLIENT_LEADER_PROBE_INTERVAL_MS;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? CLIENT_LEADER_PROBE_TIMEOUT_MS;
    this.retryDelayMs = opts.retryDelayMs ?? CLIENT_RETRY_DELAY_MS;
    this.retryDelayMsMax = opts.retryDelayMsMax ?? CLIENT_RETRY_DELAY_MS_MAX;
    this.log = opts.log ?? NO_LOG;
    this.tls = opts.tls;
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
    if (body.length > COMMAND_BYTES_MAX)
      return Promise.reject(new ClientRequestError('COMMAND_TOO_LARGE', `command over ${COMMAND_BYTES_MAX} bytes`));
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
    const { socket, readyEvent } = connectSocket(target, this.tls);
    socket.setNoDelay(true);
    const conn: ClientConn = {
      socket,
      reader: new FrameReader(CLIENT_REPLY_BYTES_MAX),
      target,
      ready: false,
      openedAt: Date.now(),
    };
    this.conn = conn;
    this.sent = 0;
    const connectTimer = setTimeout(() => {
      if (this.conn === conn && !conn.ready) this.failover(undefined, 'CONNECT_TIMEOUT');
    }, this.requestTimeoutMs);
    socket.on(readyEvent, () => {
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
      conn.socket.write(
        encodeSubmitFrame(
          this.session,
          batch.map((r) => ({ requestSeq: r.seq, body: r.body })),
          this.writer,
        ),
      );
    }
    conn.socket.uncork();
  }

  private onResults(conn: ClientConn, body: Buffer): void {
    try {
      const res = new ResultsReader(body);
      for (let k = 0; k < res.count; k++) {
        res.next();
        // Results of a session given up on this connection may still come: not ours any more.
        if (res.clientId !== this.session) continue;
        if (res.ok)
          this.acked(
            conn,
            res.requestSeq,
            res.outcome,
            res.appliedIndex,
            res.seq,
            res.events.length === 0 ? NO_EVENTS : copyBytes(res.events),
          );
        else this.failed(conn, res.requestSeq, res.code, res.leader, res.retryable, res.message);
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
      this.log.info('client: registered a session', { session: clientId, replica: conn.target.id });
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
    this.log.warn('client: registration refused: the waiting requests fail', {
      replica: conn.target.id,
      error,
      message: String(rep.message ?? ''),
    });
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

  private acked(
    conn: ClientConn,
    requestSeq: number,
    outcome: 'APPLIED' | 'DUPLICATE',
    appliedIndex: number,
    seq: number,
    eventBytes: Uint8Array,
  ): void {
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

  private failed(
    conn: ClientConn,
    requestSeq: number,
    error: string,
    leader: number,
    retryable: boolean,
    message: string,
  ): void {
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
    this.log.warn(
      'client: a request was refused for good: the sent requests fail, the unsent ones go to a new session',
      { session: lost, requestSeq, error, message, sentFailed: sent.length, unsentMoved: unsent.length },
    );
    this.session = 0;
    this.nextSeq = 1;
    for (const q of unsent) {
      q.seq = this.nextSeq++;
      this.backlog.push(q);
    }
    for (const q of sent) {
      q.done = true;
      q.reject(
        new ClientRequestError(
          error,
          `request ${q.seq} of session ${lost}: ${error}${message !== '' ? `: ${message}` : ''}`,
        ),
      );
    }
    if (this.outstanding > 0) this.schedulePump();
  }

  private checkTimeouts(): void {
    const conn = this.conn;
    if (conn === undefined) return;
    const now = Date.now();
    if (conn.ready) {
      const reg = this.registering;
      if (reg !== undefined && now - reg.sentAt > this.requestTimeoutMs) {
        this.stats.timeouts++;
        this.failover(undefined, 'REGISTER_TIMEOUT');
        return;
      }
      const oldest = this.window[0];
      if (this.sent > 0 && oldest !== undefined && now - oldest.sentAt > this.requestTimeoutMs) {
        this.stats.timeouts++;
        this.failover(undefined, 'TIMEOUT');
        return;
      }
    }
    const since = this.waitingSince(conn);
    if (
      since > 0 &&
      now - since > this.probeAfterMs &&
      this.probeRound === 0 &&
      now - this.lastProbeAt >= this.probeIntervalMs
    )
      this.probeLeader(conn, now);
  }

  /** Since when (ms) the oldest thing the client waits for on `conn` has waited; 0 if it waits for nothing. */
  private waitingSince(conn: ClientConn): number {
    if (!conn.ready) return this.outstanding > 0 ? conn.openedAt : 0;
    if (this.registering !== undefined) return this.registering.sentAt;
    return this.sent > 0 ? this.window[0]!.sentAt : 0;
  }

  /**
   * One probe round: every replica asked for its status on a fresh connection. Off the hot path
   * (from the timer, at most one round per probeIntervalMs); its answer is dropped if the client
   * closed, the connection changed or another round began meanwhile.
   */
  private probeLeader(conn: ClientConn, now: number): void {
    const round = ++this.probeRounds;
    this.probeRound = round;
    this.lastProbeAt = now;
    this.stats.probes++;
    const asks = this.endpoints.map((e) =>
      requestOnce(e, { op: 'status' }, this.probeTimeoutMs, this.tls).then(
        (rep) => probeReplyOf(e.id, rep),
        () => undefined,
      ),
    );
    void Promise.all(asks).then((replies) => {
      if (this.probeRound !== round) return;
      this.probeRound = 0;
      if (this.closed || this.conn !== conn) return;
      const leader = probeFailoverTarget(conn.target.id, this.endpoints.length, replies);
      if (leader === undefined) return;
      this.stats.probeFailovers++;
      this.log.warn('client: leader probe: the target is silent, a majority names another leader', {
        from: conn.target.id,
        to: leader,
      });
      this.failover(leader, 'LEADER_PROBE');
    });
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
    this.log.warn('client: reconnecting', {
      session: this.session,
      why,
      from: old?.target.id ?? null,
      to: this.endpoints[this.targetIndex % this.endpoints.length]!.id,
      delayMs: delay,
    });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}

/** What a leader probe reads from one replica's status: who it is, its role, whom it follows. */
export interface ProbeReply {
  id: NodeId;
  role: string;
  leader: NodeId;
}

/** The probe's view of a status reply from endpoint `id`; undefined for anything malformed or from another node. */
function probeReplyOf(id: NodeId, rep: Record<string, unknown>): ProbeReply | undefined {
  const st = rep.status as Record<string, unknown> | undefined;
  if (rep.ok !== true || typeof st !== 'object' || st === null) return undefined;
  if (st.id !== id || typeof st.role !== 'string' || typeof st.leader !== 'number') return undefined;
  return { id, role: st.role, leader: st.leader };
}

/**
 * The leader probe's decision (pure): the replica to fail over to now, or undefined to keep
 * waiting. Only when the target did not answer, and the replies naming one leader L ≠ target
 * are a majority of all `endpointCount` replicas, and L itself answered as LEADER (Raft and
 * Multi-Paxos status alike: role 'LEADER', leader = whom the replica follows). A target that
 * answers is alive, only slow: its requests keep their timeout.
 */
export function probeFailoverTarget(
  target: NodeId,
  endpointCount: number,
  replies: readonly (ProbeReply | undefined)[],
): NodeId | undefined {
  if (replies.some((r) => r?.id === target)) return undefined;
  for (const l of replies) {
    if (l === undefined || l.role !== 'LEADER' || l.leader !== l.id || l.id === target) continue;
    const agree = replies.filter((r) => r?.leader === l.id).length;
    if (agree * 2 > endpointCount) return l.id;
  }
  return undefined;
}

/** One request on a fresh connection (status, orders dump). Rejects on timeout or connection failure. */
export function requestOnce(
  endpoint: { host: string; port: number },
  request: Record<string, unknown>,
  timeoutMs = 5_000,
  tls?: TlsMaterial,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const { socket, readyEvent } = connectSocket(endpoint, tls);
    const reader = new JsonFrameReader(CLIENT_REPLY_BYTES_MAX);
    const timer = setTimeout(
      () => finish(new Error(`request to ${endpoint.host}:${endpoint.port} timed out`)),
      timeoutMs,
    );
    let done = false;
    const finish = (err: Error | undefined, value?: Record<string, unknown>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    socket.on(readyEvent, () => socket.write(encodeFrame({ id: 1, ...request })));
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
