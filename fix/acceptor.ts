// The FIX acceptor's TCP edge: one FixFramer + FixSession per connection, the session's store
// opened once the application accepts the Logon, one interval driving every session's timers.
// All I/O of fix/'s session layer is here; the rules are in session.ts. Nothing a client sends
// may throw out of a handler: an unexpected error is logged and closes that connection only.

import type net from 'node:net';
import type { Log } from '../ops/log.js';
import type { TlsSettings } from '../ops/tls-settings.js';
import { FixFramer, fixToText } from './codec.js';
import { createFixListener } from './listener.js';
import { FIX_CONNECTIONS_MAX, FIX_LOGOUT_TIMEOUT_MS, FIX_SOCKET_WRITE_BYTES_MAX, FIX_TICK_MS } from './limits.js';
import {
  type FixApplication,
  type FixAppSession,
  type FixMessage,
  fieldOf,
  type LogonAccepted,
  type LogonRefused,
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
  closed: boolean;
  /** Actions waiting to be carried out, and whether apply() is running (see apply). */
  queue: SessionAction[];
  applying: boolean;
}

export class FixAcceptor {
  private server: net.Server | undefined;
  private readonly connections = new Map<number, Connection>();
  private readonly liveKeys = new Set<string>();
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

  /** Listens; resolves with the port (useful with port 0). */
  async start(): Promise<number> {
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
      closed: false,
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
      for (let a = c.queue.shift(); a !== undefined && !c.closed; a = c.queue.shift()) this.applyOne(c, a);
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

  private write(c: Connection, bytes: Buffer): void {
    if (c.socket.writableLength > FIX_SOCKET_WRITE_BYTES_MAX) {
      this.options.log.warn('fix slow consumer disconnected', { conn: c.id, bufferedBytes: c.socket.writableLength });
      this.end(c, 'slow consumer', true);
      return;
    }
    c.socket.write(bytes);
    this.options.log.debug('fix out', { conn: c.id, msg: fixToText(bytes) });
  }

  private requestLogon(c: Connection, logon: FixMessage): void {
    const send = (out: OutgoingFix): void => {
      if (!c.closed) this.guard(c, () => this.apply(c, c.session.sendApp(out, this.now())));
    };
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
    const key = `${apiKey}\0${c.session.senderCompId}`;
    if (this.liveKeys.has(key)) {
      result.app.close();
      this.apply(c, c.session.onLogonResult({ refused: true, text: 'session already logged on' }, this.now()));
      return;
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
    this.liveKeys.add(key);
    this.apply(c, c.session.onLogonResult(result, this.now(), c.store));
  }

  /** Ends a connection once: the application session closed, the store closed, the socket ended. */
  private end(c: Connection, reason: string, closeSocket: boolean): void {
    if (c.closed) return;
    c.closed = true;
    c.session.onDisconnect();
    this.connections.delete(c.id);
    if (c.key !== undefined) this.liveKeys.delete(c.key);
    this.options.log.info('fix connection ended', { conn: c.id, reason });
    try {
      c.app?.close();
    } catch (err) {
      this.options.log.error('fix application close failed', { conn: c.id, err: String(err) });
    }
    c.store?.close();
    // end() lets a Logout already written reach the client; destroy() if it does not drain.
    if (closeSocket) {
      c.socket.end();
      setTimeout(() => c.socket.destroy(), FIX_LOGOUT_TIMEOUT_MS).unref();
    }
  }
}
