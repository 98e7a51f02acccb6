// The private user stream in the browser (gateway/README.md "Private user stream"): a WebSocket
// to /v1/user-stream on the page's own origin, a signed login first (a fresh one per connection:
// a login is good once), then execution reports. A dropped connection is opened again after a
// growing delay (TICKET_RECONNECT_MS_MIN … MAX) and resumes after the last report received
// (resume_from + epoch), so nothing is missed or doubled while the gateway still holds it; if it
// does not, the gateway says resume_gap and the owner reads the query API again. A refused login
// (close 4001: a wrong secret, an unknown key, a stale clock) is not retried: it would fail again.

import { TICKET_RECONNECT_MS_MAX, TICKET_RECONNECT_MS_MIN } from '../limits.js';
import type { StreamReport } from './orders-store.js';
import { type Credentials, signRequest } from '../signing.js';

/** The login answer (the fields the page uses). */
export interface LoginAnswer {
  account: number;
  api_key: string;
  epoch: string;
  /** Per shard, the highest engine seq published when the login was accepted (read-your-writes for the query API). */
  min_seq: Record<string, number>;
}

export interface UserStreamHandlers {
  /** Accepted; `resumed` when it continued a previous connection without a gap. */
  onLogin(answer: LoginAnswer, resumed: boolean): void;
  onReport(report: StreamReport): void;
  /** Reports were lost (resume_gap): read the query API again with the login's min_seq. */
  onGap(answer: LoginAnswer): void;
  /** A refused message or login, or a closed connection: what to tell the user. */
  onProblem(text: string, final: boolean): void;
}

const LOGIN_REFUSED = 4001;
const NORMAL_CLOSE = 1000;
const USER_STREAM_TARGET = 'GET /v1/user-stream';

export function userStreamUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/user-stream`;
}

export class UserStream {
  private ws: WebSocket | null = null;
  private stopped = false;
  private delayMs = TICKET_RECONNECT_MS_MIN;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastSeq = 0;
  private epoch: string | null = null;
  private login: LoginAnswer | null = null;
  /** Connections opened (a read-only count for tests). */
  connects = 0;

  constructor(
    private readonly creds: Credentials,
    private readonly serverNowMs: () => number,
    private readonly handlers: UserStreamHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(NORMAL_CLOSE, 'signed out');
    this.ws = null;
  }

  private open(): void {
    this.connects++;
    const ws = new WebSocket(userStreamUrl());
    this.ws = ws;
    const resumed = this.epoch !== null;
    ws.onopen = () => {
      this.sendLogin(ws).catch((err: unknown) => {
        // Credentials WebCrypto refuses (a malformed Ed25519 seed) fail the same way every time:
        // stop here rather than reconnect forever behind the user's back.
        this.stop();
        this.handlers.onProblem(`login not signed: ${String(err)}`, true);
      });
    };
    ws.onmessage = (ev) => this.onMessage(ev.data, resumed);
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
  }

  private async sendLogin(ws: WebSocket): Promise<void> {
    const h = await signRequest(this.creds, USER_STREAM_TARGET, new Uint8Array(0), this.serverNowMs());
    const login: Record<string, unknown> = {
      op: 'login',
      api_key: h.apiKey,
      timestamp: h.timestamp,
      signature: h.signature,
    };
    if (this.epoch !== null) {
      login.resume_from = this.lastSeq;
      login.epoch = this.epoch;
    }
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(login));
  }

  private onMessage(data: unknown, resumed: boolean): void {
    if (typeof data !== 'string') return;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return; // the gateway sends JSON only; anything else is ignored
    }
    if (m.type === 'login') {
      this.delayMs = TICKET_RECONNECT_MS_MIN;
      const answer = m as unknown as LoginAnswer;
      // A new epoch (the gateway lost its journal) restarts the numbering: the next gap says so.
      if (this.epoch === null) this.lastSeq = Number(m.stream_seq ?? 0);
      this.epoch = answer.epoch;
      this.login = answer;
      this.handlers.onLogin(answer, resumed);
    } else if (m.type === 'report') {
      this.lastSeq = Number(m.stream_seq);
      this.handlers.onReport(m.report as StreamReport);
    } else if (m.type === 'resume_gap') {
      this.resumeAfterGap(m);
      if (this.login !== null) this.handlers.onGap(this.login);
    } else if (m.type === 'error') {
      this.handlers.onProblem(`${String(m.code)} ${String(m.reason)}: ${String(m.message)}`, false);
    }
  }

  /**
   * What is no longer held ends at `missed_to`; the reports after it follow. In a new epoch the
   * numbering starts again, so the old epoch's last seq would be RESUME_AHEAD (a refused login)
   * at the next reconnect: resume from the new epoch's point instead.
   */
  private resumeAfterGap(m: Record<string, unknown>): void {
    const missedTo = Math.max(0, Number(m.missed_to) || 0);
    if (m.epoch_changed === true) {
      this.epoch = String(m.epoch);
      this.lastSeq = missedTo;
    } else this.lastSeq = Math.max(this.lastSeq, missedTo);
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws || this.stopped) return;
    this.ws = null;
    if (code === LOGIN_REFUSED) {
      this.stopped = true;
      this.handlers.onProblem(`login refused${reason === '' ? '' : `: ${reason}`}`, true);
      return;
    }
    this.handlers.onProblem(`user stream closed (${code}); reconnecting`, false);
    this.timer = setTimeout(() => this.open(), this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, TICKET_RECONNECT_MS_MAX);
  }
}
