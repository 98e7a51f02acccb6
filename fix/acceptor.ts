// The FIX acceptor's TCP edge: one FixFramer + FixSession per connection, the session's store
// opened once the application accepts the Logon, one interval driving every session's timers.
// All I/O of fix/'s session layer is here; the rules are in session.ts. Nothing a client sends
// may throw out of a handler: an unexpected error is logged and closes that connection only.
// A trading session whose connection ends is parked (see park()): what the application still
// sends for it is numbered and stored as a live send would be, for the next Logon's resend.

import type net from 'node:net';
import type { Log } from '../ops/log.js';
import type { TlsSettings } from '../ops/tls-settings.js';
import { FixFramer } from './codec.js';
import { createFixListener } from './listener.js';
import {
  FIX_CONNECTIONS_MAX,
  FIX_LOGOUT_TIMEOUT_MS,
  FIX_PARKED_SESSION_MS,
  FIX_PARKED_SESSIONS_MAX,
  FIX_SOCKET_WRITE_BYTES_MAX,
  FIX_STORE_MESSAGES_MAX,
  FIX_TICK_MS,
} from './limits.js';
import {
  type FixApplication,
  type FixAppSession,
  type FixMessage,
  fieldOf,
  type LogonAccepted,
  type LogonRefused,
  MsgType,
  type OutgoingFix,
  Tag,
} from './message.js';
import { FixSession, type SessionAction, type Validate } from './session.js';
import { FixSessionStore } from './session-store.js';

export interface FixAcceptorOptions {
  host: string;
  port: number;
  /** Our CompID, what clients send in 56 (default MATCHBOOK). */
  targetCompId?: string;
  /** Where sessions' stores live (the gateway data dir's `fix/`). */
  storeDir: string;
  application: FixApplication;
  validate?: Validate;
  log: Log;
  /** The clock (tests may drive it); default Date.now. */
  nowMs?: () => number;
  /** Connections open at once; default FIX_CONNECTIONS_MAX (tests lower it). */
  connectionsMax?: number;
  /** TLS on this port (the gateway config's `tls`, as its gRPC and REST ports); undefined: plain TCP. */
  tls?: TlsSettings | undefined;
  /** TLS handshakes in progress beyond connectionsMax; default FIX_TLS_HANDSHAKES_MAX (tests lower it). */
  tlsHandshakesMax?: number;
  /** Sessions parked at once; default FIX_PARKED_SESSIONS_MAX (tests lower it). */
  parkedSessionsMax?: number;
  /** How long a session stays parked; default FIX_PARKED_SESSION_MS (tests lower it). */
  parkedSessionMs?: number;
}

export const DEFAULT_TARGET_COMP_ID = 'MATCHBOOK';

interface Connection {
  id: number;
  socket: net.Socket;
  framer: FixFramer;
  session: FixSession;
  store: FixSessionStore | undefined;
  app: FixAppSession | undefined;
  /** The store key (API key + SenderCompID) while logged on: one live connection per key. */
  key: string | undefined;
  kind: LogonAccepted['kind'] | undefined;
  closed: boolean;
  /** Set when the connection ended and its session was parked: the application's sends go there. */
  parked: Parked | undefined;
  /** Reports (reportKey) the parked session of this key stored while this Logon was decided: not sent again. */
  storedWhileParked: Set<string> | undefined;
  /** Actions waiting to be carried out, and whether apply() is running (see apply). */
  queue: SessionAction[];
  applying: boolean;
}

/**
 * A trading session whose connection ended, under its session key: its FixSession (for the
 * numbering), store and application session (still sending) stay in its Connection.
 */
interface Parked {
  key: string;
  conn: Connection;
  sinceMs: number;
  ended: boolean;
  /**
   * Reports it stored after a Logon of the same key arrived: the new connection's gateway session
   * may be pushed the same report before this parking ends (both belong to the account then).
   */
  handover: Set<string> | undefined;
}

/** 37 OrderID and 17 ExecID (application tags: message.ts's Tag holds the session layer's). */
const ORDER_ID_TAG = 37;
const EXEC_ID_TAG = 17;

/** An ExecutionReport's identity (OrderID, ExecID), the same on every copy of one report; undefined for other messages. */
function reportKey(out: OutgoingFix): string | undefined {
  if (out.msgType !== MsgType.ExecutionReport) return undefined;
  const orderId = out.body.find(([tag]) => tag === ORDER_ID_TAG)?.[1];
  const execId = out.body.find(([tag]) => tag === EXEC_ID_TAG)?.[1];
  return orderId === undefined || execId === undefined ? undefined : `${orderId}\0${execId}`;
}

/** A session's identity: the Logon's API key (553) and the SenderCompID. */
function sessionKey(logon: FixMessage, senderCompId: string): string {
  return `${fieldOf(logon, Tag.Username) ?? ''}\0${senderCompId}`;
}

export class FixAcceptor {
  private server: net.Server | undefined;
  private readonly connections = new Map<number, Connection>();
  private readonly liveKeys = new Set<string>();
  /** Parked sessions by session key, oldest first. */
  private readonly parked = new Map<string, Parked>();
  private stopping = false;
  private nextId = 1;
  private tick: NodeJS.Timeout | undefined;
  private readonly targetCompId: string;
  private readonly now: () => number;

  constructor(private readonly options: FixAcceptorOptions) {
    this.targetCompId = options.targetCompId ?? DEFAULT_TARGET_COMP_ID;
    this.now = options.nowMs ?? Date.now;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Sessions parked now (their connection ended; reports stored for them). */
  get parkedCount(): number {
    return this.parked.size;
  }

  /** Listens; resolves with the port (useful with port 0). */
  async start(): Promise<number> {
    this.stopping = false;
    const server = createFixListener(
      {
        tls: this.options.tls,
        connectionsMax: this.options.connectionsMax ?? FIX_CONNECTIONS_MAX,
        tlsHandshakesMax: this.options.tlsHandshakesMax,
        log: this.options.log,
      },
      (socket) => this.accept(socket),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.options.log.error('fix acceptor server error', { err: String(err) }));
    this.tick = setInterval(() => this.onTick(), FIX_TICK_MS);
    this.tick.unref();
    const port = (server.address() as net.AddressInfo).port;
    this.options.log.info('fix acceptor listening', { host: this.options.host, port });
    return port;
  }

  /** Logs every session out (waiting up to FIX_LOGOUT_TIMEOUT_MS for the answers), then closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.tick !== undefined) clearInterval(this.tick);
    this.tick = undefined;
    const server = this.server;
    this.server = undefined;
    const closed = server === undefined ? Promise.resolve() : new Promise<void>((r) => server.close(() => r()));
    for (const c of this.connections.values()) this.guard(c, () => this.apply(c, c.session.logout('', this.now())));
    const deadlineMs = Date.now() + FIX_LOGOUT_TIMEOUT_MS;
    while (this.connections.size > 0 && Date.now() < deadlineMs) {
      for (const c of this.connections.values()) this.guard(c, () => this.apply(c, c.session.onTick(this.now())));
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const c of this.connections.values()) this.end(c, 'acceptor stopped', true);
    for (const p of [...this.parked.values()]) this.endParking(p, 'acceptor stopped');
    await closed;
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= (this.options.connectionsMax ?? FIX_CONNECTIONS_MAX)) {
      this.options.log.warn('fix connection refused: FIX_CONNECTIONS_MAX', { remote: socket.remoteAddress });
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const c: Connection = {
      id: this.nextId++,
      socket,
      framer: new FixFramer(),
      session: new FixSession({ targetCompId: this.targetCompId, validate: this.options.validate, nowMs: this.now() }),
      store: undefined,
      app: undefined,
      key: undefined,
      kind: undefined,
      closed: false,
      parked: undefined,
      storedWhileParked: undefined,
      queue: [],
      applying: false,
    };
    this.connections.set(c.id, c);
    socket.on('data', (chunk: Buffer) => this.guard(c, () => this.onData(c, chunk)));
    socket.on('error', (err) => this.options.log.debug('fix socket error', { conn: c.id, err: String(err) }));
    socket.on('close', () => this.end(c, 'connection closed', false));
  }

  /** Runs a handler; an exception closes this connection only. */
  private guard(c: Connection, body: () => void): void {
    try {
      body();
    } catch (err) {
      this.options.log.error('fix connection failed', {
        conn: c.id,
        err: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
      this.end(c, 'internal error', true);
    }
  }

  private onData(c: Connection, chunk: Buffer): void {
    for (const result of c.framer.push(chunk)) {
      if (c.closed) return;
      if (result.kind === 'garbled') {
        this.options.log.debug('fix garbled frame dropped', {
          conn: c.id,
          reason: result.reason,
          bytes: result.bytesDropped,
        });
        this.apply(c, c.session.onGarbled(this.now()));
      } else {
        this.apply(c, c.session.onMessage(result.msg, this.now()));
      }
    }
  }

  private onTick(): void {
    for (const c of this.connections.values()) this.guard(c, () => this.apply(c, c.session.onTick(this.now())));
    for (const p of [...this.parked.values()]) this.expireParking(p);
  }

  /**
   * Carries out a session's actions, in order. An application may send from inside deliver():
   * the session numbers that message after everything in the batch being applied, so its actions
   * wait in the queue until the batch is done, and bytes go out in MsgSeqNum order.
   */
  private apply(c: Connection, actions: SessionAction[]): void {
    c.queue.push(...actions);
    if (c.applying) return;
    c.applying = true;
    try {
      for (let a = c.queue.shift(); a !== undefined; a = c.queue.shift()) {
        if (!c.closed) this.applyOne(c, a);
        else if (c.parked !== undefined) this.applyParked(c.parked, a);
        else break;
      }
    } finally {
      c.applying = false;
      c.queue.length = 0;
    }
  }

  private applyOne(c: Connection, a: SessionAction): void {
    switch (a.kind) {
      case 'send':
        this.write(c, a.bytes);
        break;
      case 'persistSeq':
        c.store?.setSeqNums(a.nextOut, a.nextIn);
        break;
      case 'store':
        c.store?.append(a.seqNum, a.bytes);
        break;
      case 'reset':
        c.store?.reset();
        break;
      case 'deliver':
        c.app?.deliver(a.msg);
        break;
      case 'requestLogon':
        this.requestLogon(c, a.logon);
        break;
      case 'loggedOn':
        this.options.log.info('fix session logged on', { conn: c.id, senderCompId: a.senderCompId });
        break;
      case 'disconnect':
        this.end(c, a.reason, true);
        break;
    }
  }

  /** A parked session's actions: its numbers and stored messages are written; there is no socket to send to. */
  private applyParked(p: Parked, a: SessionAction): void {
    if (p.ended) return;
    if (a.kind === 'persistSeq') p.conn.store?.setSeqNums(a.nextOut, a.nextIn);
    else if (a.kind === 'store') p.conn.store?.append(a.seqNum, a.bytes);
  }

  private write(c: Connection, bytes: Buffer): void {
    if (c.socket.writableLength > FIX_SOCKET_WRITE_BYTES_MAX) {
      this.options.log.warn('fix slow consumer disconnected', { conn: c.id, bufferedBytes: c.socket.writableLength });
      this.end(c, 'slow consumer', true);
      return;
    }
    c.socket.write(bytes);
  }

  private requestLogon(c: Connection, logon: FixMessage): void {
    const send = (out: OutgoingFix): void => {
      if (c.parked !== undefined) this.parkedSend(c.parked, out);
      else if (!c.closed && !this.sentWhileParked(c, out))
        this.guard(c, () => this.apply(c, c.session.sendApp(out, this.now())));
    };
    // A parked session of the same key: note what it stores from now on (see Parked.handover).
    const waiting = this.parked.get(sessionKey(logon, c.session.senderCompId));
    if (waiting !== undefined) waiting.handover ??= new Set();
    // The application ends a session itself (a drop copy that fell too far behind): Logout with its text.
    const logout = (text: string): void => {
      if (!c.closed) this.guard(c, () => this.apply(c, c.session.logout(text, this.now())));
    };
    let answer: Promise<LogonAccepted | LogonRefused>;
    try {
      answer = this.options.application.logon(logon, send, logout);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (result) => this.guard(c, () => this.logonResult(c, logon, result)),
      (err) => {
        this.options.log.error('fix logon failed in the application', { conn: c.id, err: String(err) });
        this.guard(c, () => this.logonResult(c, logon, { refused: true, text: 'logon failed' }));
      },
    );
  }

  private logonResult(c: Connection, logon: FixMessage, result: LogonAccepted | LogonRefused): void {
    if (c.closed) {
      if (!('refused' in result)) result.app.close();
      return;
    }
    if ('refused' in result) {
      this.apply(c, c.session.onLogonResult(result, this.now()));
      return;
    }
    const apiKey = fieldOf(logon, Tag.Username) ?? '';
    const key = sessionKey(logon, c.session.senderCompId);
    if (this.liveKeys.has(key)) {
      result.app.close();
      this.apply(c, c.session.onLogonResult({ refused: true, text: 'session already logged on' }, this.now()));
      return;
    }
    // The parking of this key ends before its store is opened again, here.
    const parked = this.parked.get(key);
    if (parked !== undefined) {
      c.storedWhileParked = parked.handover;
      this.endParking(parked, 'logged on again');
    }
    try {
      c.store = FixSessionStore.open(this.options.storeDir, apiKey, c.session.senderCompId);
    } catch (err) {
      this.options.log.error('fix session store failed to open', { conn: c.id, err: String(err) });
      result.app.close();
      this.apply(c, c.session.onLogonResult({ refused: true, text: 'session store unavailable' }, this.now()));
      return;
    }
    c.app = result.app;
    c.key = key;
    c.kind = result.kind;
    this.liveKeys.add(key);
    this.apply(c, c.session.onLogonResult(result, this.now(), c.store));
  }

  /**
   * Ends a connection once: a trading session is parked; otherwise the application session and
   * the store are closed. The socket is ended.
   */
  private end(c: Connection, reason: string, closeSocket: boolean): void {
    if (c.closed) return;
    c.closed = true;
    this.connections.delete(c.id);
    if (c.key !== undefined) this.liveKeys.delete(c.key);
    this.options.log.info('fix connection ended', { conn: c.id, reason });
    if (!this.park(c)) {
      c.session.onDisconnect();
      this.closeApp(c);
      c.store?.close();
    }
    // end() lets a Logout already written reach the client; destroy() if it does not drain.
    if (closeSocket) {
      c.socket.end();
      setTimeout(() => c.socket.destroy(), FIX_LOGOUT_TIMEOUT_MS).unref();
    }
  }

  private closeApp(c: Connection): void {
    try {
      c.app?.close();
    } catch (err) {
      this.options.log.error('fix application close failed', { conn: c.id, err: String(err) });
    }
  }

  // --- parked sessions -------------------------------------------------------------------------

  /**
   * A logged-on trading session whose connection ended (drop, Logout, slow consumer, error; not
   * the acceptor's stop) is parked under its session key: its store stays open and the
   * application keeps sending what a connected session would still get (FixAppSession.park),
   * numbered and stored by its FixSession as a live send. False: not parked (closed as before).
   */
  private park(c: Connection): boolean {
    if (this.stopping || c.key === undefined || c.kind !== 'trading' || c.store === undefined) return false;
    if (c.app?.park === undefined || !c.session.park()) return false;
    const p: Parked = { key: c.key, conn: c, sinceMs: this.now(), ended: false, handover: undefined };
    c.parked = p;
    const max = this.options.parkedSessionsMax ?? FIX_PARKED_SESSIONS_MAX;
    const prior = this.parked.get(c.key); // none: a key's parking ends when it logs on again
    if (prior !== undefined) this.endParking(prior, 'parked again');
    for (const oldest of this.parked.values()) {
      if (this.parked.size < max) break;
      this.options.log.warn('fix parking ended: FIX_PARKED_SESSIONS_MAX', { conn: oldest.conn.id, parkedMax: max });
      this.endParking(oldest, 'FIX_PARKED_SESSIONS_MAX');
    }
    this.parked.set(c.key, p);
    this.options.log.info('fix session parked', { conn: c.id, senderCompId: c.session.senderCompId });
    this.guardParked(p, () => c.app?.park?.());
    return true;
  }

  /** What the application sends for a parked session: numbered and stored (FixSession.sendApp), unless the parking expired. */
  private parkedSend(p: Parked, out: OutgoingFix): void {
    if (p.ended || this.expireParking(p)) return;
    this.guardParked(p, () => this.apply(p.conn, p.conn.session.sendApp(out, this.now())));
    const key = reportKey(out);
    if (p.handover !== undefined && key !== undefined && p.handover.size < FIX_STORE_MESSAGES_MAX) p.handover.add(key);
  }

  /** True when the parked session of this key already stored this report (see Parked.handover): the client gets it by resend. */
  private sentWhileParked(c: Connection, out: OutgoingFix): boolean {
    const key = c.storedWhileParked === undefined ? undefined : reportKey(out);
    return key !== undefined && (c.storedWhileParked?.delete(key) ?? false);
  }

  /** Ends the parking once FIX_PARKED_SESSION_MS have passed; true if it did. */
  private expireParking(p: Parked): boolean {
    if (this.now() - p.sinceMs < (this.options.parkedSessionMs ?? FIX_PARKED_SESSION_MS)) return false;
    this.endParking(p, 'FIX_PARKED_SESSION_MS');
    return true;
  }

  /** Runs a parked session's work; an exception (e.g. its store failed) ends that parking only. */
  private guardParked(p: Parked, body: () => void): void {
    try {
      body();
    } catch (err) {
      this.options.log.error('fix parked session failed', { conn: p.conn.id, err: String(err) });
      this.endParking(p, 'error');
    }
  }

  /** Ends a parking once: the application session closed (its pushes stop), the store closed. */
  private endParking(p: Parked, reason: string): void {
    if (p.ended) return;
    p.ended = true;
    if (this.parked.get(p.key) === p) this.parked.delete(p.key);
    this.options.log.info('fix parking ended', { conn: p.conn.id, reason });
    p.conn.session.onDisconnect();
    this.closeApp(p.conn);
    p.conn.store?.close();
  }
}
