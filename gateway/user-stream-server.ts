// The private user stream's WebSocket edge, on the REST edge's uWS app (rest-server.ts):
//
//   WS /v1/user-stream   login (signed like a REST request), then the account's execution reports,
//                        each fill's followed by its position update (user-stream-position.ts)
//
// A connection reads its account's ring (user-stream.ts) with a cursor, `nextSeq`: after each
// publish, and whenever uWS drains, it sends the reports from the cursor on while uWS holds less
// than sendBytesMax for it. No report is queued per connection: the unsent ones wait in the
// ring, so a connection costs at most sendBytesMax plus one message, and one whose cursor falls
// out of the ring (it reads slower than its account trades, for USER_STREAM_REPORTS_HELD_MAX
// reports) is closed SLOW_CONSUMER; it can log in again with resume_from and be told the gap.
// Protocol, errors and limits: gateway/README.md "Private user stream".
//
// uWS rules followed: no callback throws into uWS (each is guarded), sends outside a uWS callback
// (publish, the login's continuation) are corked, nothing is sent after end().

import type { HttpResponse, TemplatedApp, WebSocket } from 'uWebSockets.js';
import { ErrorCode, ErrorReason, errorBody, gatewayError, type GatewayError } from '../api/errors.js';
import { jsonStringifyExact } from '../api/json-exact.js';
import { errorStack, type Log } from '../ops/log.js';
import {
  USER_STREAM_CLIENT_MESSAGE_BYTES_MAX,
  USER_STREAM_CONNECTIONS_MAX,
  USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX,
  USER_STREAM_IDLE_TIMEOUT_S,
  USER_STREAM_LOGIN_TIMEOUT_MS,
  USER_STREAM_SEND_BYTES_MAX,
  USER_STREAM_SEND_DEFER_REPORTS_MAX,
} from './limits.js';
import {
  USER_STREAM_PATH,
  parseLogin,
  type AccountStream,
  type StreamReader,
  type UserStreamCore,
  type UserStreamLogin,
} from './user-stream.js';
import { positionUpdateMessage, positionUpdateOf } from './user-stream-position.js';

/** Close codes of the user stream (gateway/README.md); uWS itself drops a connection whose message is over the size limit (no close frame: 1006). */
export const UserStreamCloseCode = {
  /** The gateway is stopping. */
  GOING_AWAY: 1001,
  /** The login was refused (the `error` message before the close says why). */
  LOGIN_FAILED: 4001,
  /** No login within USER_STREAM_LOGIN_TIMEOUT_MS. */
  LOGIN_TIMEOUT: 4002,
  /** The first message was not a login. */
  LOGIN_REQUIRED: 4003,
  /** The connection fell USER_STREAM_REPORTS_HELD_MAX reports behind its account. */
  SLOW_CONSUMER: 4008,
  /** USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX logged-in connections of the account. */
  TOO_MANY_CONNECTIONS: 4029,
} as const;

/** Every message `type` the user stream sends (docs/asyncapi.yaml is checked against it: test/api/asyncapi.test.ts). */
export const USER_STREAM_MESSAGE_TYPES = ['login', 'report', 'position_update', 'resume_gap', 'pong', 'error'] as const;

export interface UserStreamOptions {
  core: UserStreamCore;
  /** Defaults: gateway/limits.ts (tests lower them). */
  connectionsMax?: number;
  connectionsPerAccountMax?: number;
  sendBytesMax?: number;
  loginTimeoutMs?: number;
}

type Phase = 'open' | 'logging-in' | 'live';

/** One connection: a reader of its account's ring once logged in. */
class Conn implements StreamReader {
  ws: WebSocket<{ conn: Conn }> | undefined;
  closed = false;
  phase: Phase = 'open';
  account = 0;
  apiKey = '';
  stream: AccountStream | undefined;
  /** The next stream_seq to send. */
  nextSeq = 0;
  loginTimer: NodeJS.Timeout | undefined;
  /** A pump is due at the end of this turn (UserStreamEdge.wake). */
  pumpDue = false;

  constructor(
    readonly id: number,
    private readonly edge: UserStreamEdge,
  ) {}

  wake(): void {
    this.edge.wake(this);
  }
}

export class UserStreamEdge {
  private readonly core: UserStreamCore;
  private readonly conns = new Set<Conn>();
  private readonly liveByAccount = new Map<number, number>();
  private nextId = 1;
  private stopped = false;
  /** Connections to pump at the end of this turn (wake), and whether that is scheduled. */
  private readonly due: Conn[] = [];
  private dueScheduled = false;
  readonly limits: {
    connectionsMax: number;
    connectionsPerAccountMax: number;
    sendBytesMax: number;
    loginTimeoutMs: number;
  };
  readonly stats = {
    opened: 0,
    loggedIn: 0,
    loginsFailed: 0,
    slowConsumers: 0,
    reportsSent: 0,
    positionUpdatesSent: 0,
  };

  constructor(
    opts: UserStreamOptions,
    private readonly log: Log,
  ) {
    this.core = opts.core;
    this.limits = {
      connectionsMax: opts.connectionsMax ?? USER_STREAM_CONNECTIONS_MAX,
      connectionsPerAccountMax: opts.connectionsPerAccountMax ?? USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX,
      sendBytesMax: opts.sendBytesMax ?? USER_STREAM_SEND_BYTES_MAX,
      loginTimeoutMs: opts.loginTimeoutMs ?? USER_STREAM_LOGIN_TIMEOUT_MS,
    };
  }

  /** Connections open now (logged in or not). */
  get connectionCount(): number {
    return this.conns.size;
  }

  attach(app: TemplatedApp): void {
    app.ws<{ conn: Conn }>(USER_STREAM_PATH, {
      maxPayloadLength: USER_STREAM_CLIENT_MESSAGE_BYTES_MAX,
      // uWS's own bound only backs ours up: pump() never lets a connection hold much more than sendBytesMax.
      maxBackpressure: 2 * this.limits.sendBytesMax,
      idleTimeout: USER_STREAM_IDLE_TIMEOUT_S,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) =>
        this.guard('upgrade', () => {
          if (this.stopped || this.conns.size >= this.limits.connectionsMax) {
            refuseUpgrade(res, this.stopped, this.limits.connectionsMax);
            return;
          }
          const conn = new Conn(this.nextId++, this);
          res.upgrade(
            { conn },
            req.getHeader('sec-websocket-key'),
            req.getHeader('sec-websocket-protocol'),
            req.getHeader('sec-websocket-extensions'),
            context,
          );
        }),
      open: (ws) => this.guard('open', () => this.onOpen(ws)),
      message: (ws, message, isBinary) =>
        this.guard('message', () => this.onMessage(ws.getUserData().conn, message, isBinary)),
      drain: (ws) => this.guard('drain', () => this.pump(ws.getUserData().conn)),
      close: (ws) => this.guard('close', () => this.onClose(ws.getUserData().conn)),
    });
  }

  /** Ends every connection (1001); called before the app closes. */
  stop(): void {
    this.stopped = true;
    for (const c of [...this.conns]) this.end(c, UserStreamCloseCode.GOING_AWAY, 'gateway stopping');
  }

  private onOpen(ws: WebSocket<{ conn: Conn }>): void {
    const c = ws.getUserData().conn;
    c.ws = ws;
    this.conns.add(c);
    this.stats.opened++;
    c.loginTimer = setTimeout(() => {
      if (c.phase !== 'live')
        this.end(c, UserStreamCloseCode.LOGIN_TIMEOUT, `no login within ${this.limits.loginTimeoutMs} ms`);
    }, this.limits.loginTimeoutMs);
  }

  private onClose(c: Conn): void {
    c.closed = true;
    c.ws = undefined;
    clearTimeout(c.loginTimer);
    this.conns.delete(c);
    if (c.phase === 'live') {
      c.stream?.readers.delete(c);
      const n = (this.liveByAccount.get(c.account) ?? 1) - 1;
      if (n === 0) this.liveByAccount.delete(c.account);
      else this.liveByAccount.set(c.account, n);
    }
  }

  private onMessage(c: Conn, message: ArrayBuffer, isBinary: boolean): void {
    const text = isBinary ? undefined : Buffer.from(message).toString('utf8');
    if (c.phase === 'open') {
      const p = text === undefined ? undefined : parseLogin(text);
      if (p === undefined || !p.ok) {
        const error =
          p?.error ?? gatewayError(ErrorCode.INVALID_ARGUMENT, ErrorReason.LOGIN_REQUIRED, 'messages are JSON text');
        this.stats.loginsFailed++;
        this.sendError(c, error);
        const code =
          error.reason === ErrorReason.LOGIN_REQUIRED
            ? UserStreamCloseCode.LOGIN_REQUIRED
            : UserStreamCloseCode.LOGIN_FAILED;
        this.end(c, code, error.reason);
        return;
      }
      c.phase = 'logging-in';
      void this.login(c, p.login);
      return;
    }
    if (c.phase === 'logging-in') {
      this.sendError(c, gatewayError(ErrorCode.INVALID_ARGUMENT, ErrorReason.MALFORMED_REQUEST, 'login in progress'));
      return;
    }
    this.onLiveMessage(c, text);
  }

  /** After login, a client may only ping; anything else is refused, the connection stays open. */
  private onLiveMessage(c: Conn, text: string | undefined): void {
    let op: unknown;
    try {
      op = text === undefined ? undefined : (JSON.parse(text) as { op?: unknown } | null)?.op;
    } catch {
      op = undefined;
    }
    if (op === 'ping') this.send(c, '{"type":"pong"}');
    else if (op === 'login')
      this.sendError(c, gatewayError(ErrorCode.INVALID_ARGUMENT, ErrorReason.ALREADY_LOGGED_IN, 'already logged in'));
    else
      this.sendError(
        c,
        gatewayError(ErrorCode.INVALID_ARGUMENT, ErrorReason.MALFORMED_REQUEST, 'expected {"op":"ping"}', {
          field: 'op',
        }),
      );
  }

  private async login(c: Conn, login: UserStreamLogin): Promise<void> {
    let a: { account: number; apiKey: string } | GatewayError;
    try {
      a = await this.core.authenticateUserStream(login.auth);
    } catch (err) {
      this.log.error('user stream: login failed: answered INTERNAL', { stack: errorStack(err) });
      a = gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'internal error');
    }
    if (c.closed) return;
    const refused = 'code' in a ? a : this.refuseLogin(a.account, login);
    if (refused !== undefined) {
      this.stats.loginsFailed++;
      this.sendError(c, refused);
      const code =
        refused.reason === ErrorReason.USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX
          ? UserStreamCloseCode.TOO_MANY_CONNECTIONS
          : UserStreamCloseCode.LOGIN_FAILED;
      this.end(c, code, refused.reason);
      return;
    }
    const { account, apiKey } = a as { account: number; apiKey: string };
    this.goLive(c, account, apiKey, login);
  }

  /** Refusals after authentication: the account's connection limit, a resume point past the stream's end. */
  private refuseLogin(account: number, login: UserStreamLogin): GatewayError | undefined {
    if ((this.liveByAccount.get(account) ?? 0) >= this.limits.connectionsPerAccountMax)
      return gatewayError(
        ErrorCode.OVERLOADED,
        ErrorReason.USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX,
        `account ${account} has ${this.limits.connectionsPerAccountMax} user-stream connections on this gateway`,
        { retry_after_ms: 1000 },
      );
    const hub = this.core.userStreams;
    const last = hub.stream(account)?.lastSeq ?? 0;
    if (login.resume !== undefined && login.resume.epoch === hub.epoch && login.resume.fromSeq > last)
      return gatewayError(
        ErrorCode.INVALID_ARGUMENT,
        ErrorReason.RESUME_AHEAD,
        `resume_from ${login.resume.fromSeq} is past the last stream_seq (${last}) of epoch ${hub.epoch}`,
        { field: 'resume_from' },
      );
    return undefined;
  }

  private goLive(c: Conn, account: number, apiKey: string, login: UserStreamLogin): void {
    const hub = this.core.userStreams;
    const stream = hub.open(account);
    const plan = hub.plan(stream, login.resume);
    clearTimeout(c.loginTimer);
    c.phase = 'live';
    c.account = account;
    c.apiKey = apiKey;
    c.stream = stream;
    c.nextSeq = plan.fromSeq;
    this.liveByAccount.set(account, (this.liveByAccount.get(account) ?? 0) + 1);
    stream.readers.add(c);
    this.stats.loggedIn++;
    const ok = {
      type: 'login',
      account,
      api_key: apiKey,
      epoch: hub.epoch,
      stream_seq: stream.lastSeq,
      first_held_seq: stream.firstSeq,
      next_seq: plan.fromSeq,
      min_seq: hub.minSeqAtLogin(),
    };
    c.ws?.cork(() => {
      this.send(c, JSON.stringify(ok));
      if (plan.gap !== undefined) this.send(c, JSON.stringify({ type: 'resume_gap', ...plan.gap }));
    });
    this.pump(c);
  }

  /**
   * After a publish: the connection is pumped at the end of this event-loop turn, so that every
   * report the turn published goes out in one corked write (one send(2), not one per report: a
   * sweep, a mass cancel, a batched session's reports); at once when USER_STREAM_SEND_DEFER_REPORTS_MAX reports
   * or half the ring are unsent, so that a burst cannot overtake a connection that reads.
   */
  wake(c: Conn): void {
    const s = c.stream;
    if (s === undefined) return;
    const unsent = s.lastSeq - c.nextSeq + 1;
    if (unsent >= Math.min(USER_STREAM_SEND_DEFER_REPORTS_MAX, Math.max(1, Math.floor(s.capacity / 2)))) {
      this.pump(c);
      return;
    }
    if (c.pumpDue) return;
    c.pumpDue = true;
    this.due.push(c);
    if (this.dueScheduled) return;
    this.dueScheduled = true;
    // A throwing pump (a bug: logged by guard) leaves every other connection still pumped and wakeable.
    setImmediate(() => {
      this.dueScheduled = false;
      const list = this.due.splice(0);
      for (const d of list) d.pumpDue = false;
      for (const d of list) this.guard('pump', () => this.pump(d));
    });
  }

  /**
   * Sends the reports from the cursor on while uWS holds less than sendBytesMax for the
   * connection; the rest wait in the ring for the next drain. A cursor the ring has overtaken
   * means reports this connection never got are gone: it is closed SLOW_CONSUMER.
   */
  pump(c: Conn): void {
    const ws = c.ws;
    const s = c.stream;
    if (c.closed || ws === undefined || s === undefined || c.phase !== 'live') return;
    if (c.nextSeq < s.firstSeq) {
      this.stats.slowConsumers++;
      this.end(
        c,
        UserStreamCloseCode.SLOW_CONSUMER,
        `slow consumer: stream_seq ${c.nextSeq}..${s.firstSeq - 1} left the ring unsent`,
      );
      return;
    }
    if (c.nextSeq > s.lastSeq || ws.getBufferedAmount() >= this.limits.sendBytesMax) return;
    const epoch = JSON.stringify(this.core.userStreams.epoch);
    ws.cork(() => {
      while (c.nextSeq <= s.lastSeq && ws.getBufferedAmount() < this.limits.sendBytesMax) {
        const h = s.get(c.nextSeq)!;
        const report = { ...h.report, signature: this.core.signReportFor(c.apiKey, h.canonical) };
        // Exact: a wide instrument's cum_notional above 2^53 is a bigint, written as its digits.
        ws.send(`{"type":"report","epoch":${epoch},"stream_seq":${c.nextSeq},"report":${jsonStringifyExact(report)}}`);
        // A fill's position update follows its report, with the same epoch and stream_seq.
        const update = positionUpdateOf(h.report);
        if (update !== undefined) {
          ws.send(positionUpdateMessage(this.core.userStreams.epoch, c.nextSeq, update));
          this.stats.positionUpdatesSent++;
        }
        c.nextSeq++;
        this.stats.reportsSent++;
      }
    });
  }

  private sendError(c: Conn, e: GatewayError): void {
    this.send(c, `{"type":"error",${errorBody(e).slice(1)}`);
  }

  private send(c: Conn, text: string): void {
    if (c.closed || c.ws === undefined) return;
    c.ws.cork(() => c.ws!.send(text));
  }

  private end(c: Conn, code: number, reason: string): void {
    if (c.closed || c.ws === undefined) return;
    const ws = c.ws;
    c.closed = true;
    // The close handler runs (inside end) and does the bookkeeping.
    ws.cork(() => ws.end(code, reason.slice(0, 120)));
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error(`user stream: ${what} failed`, { stack: errorStack(err) });
    }
  }
}

/** 503 at the upgrade: the gateway is stopping or USER_STREAM_CONNECTIONS_MAX connections are open. */
function refuseUpgrade(res: HttpResponse, stopping: boolean, connectionsMax: number): void {
  const error = stopping
    ? gatewayError(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping')
    : gatewayError(
        ErrorCode.OVERLOADED,
        ErrorReason.USER_STREAM_CONNECTIONS_MAX,
        `${connectionsMax} user-stream connections open`,
        { retry_after_ms: 1000 },
      );
  res
    .writeStatus('503 Service Unavailable')
    .writeHeader('content-type', 'application/json')
    .writeHeader('retry-after', '1')
    .end(errorBody(error));
}
