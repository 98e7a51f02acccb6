// The private user stream's core (no I/O): every execution report of an account that passes
// through this gateway, numbered per account with a dense `stream_seq` (1, 2, 3… within an
// epoch) and held in a per-account ring of USER_STREAM_REPORTS_HELD_MAX for resuming. The
// gateway core publishes into it from absorb() — its clients' commands, maker fills caused by
// other accounts, and the cancels the gateway sends itself (kill switch, cancel-on-disconnect,
// dead-man's switches) all pass there — and the WebSocket edge (user-stream-server.ts) reads
// from it with a cursor per connection: nothing is queued per connection, so a connection's
// backlog is bounded by the ring, and one that falls out of it is a slow consumer.
//
// The epoch names this gateway run: the rings live in memory only, so after a restart stream_seq
// starts again at 1 under a new epoch, and a client resuming with the old epoch is told so
// (RESUME_GAP, epoch_changed) and re-syncs from the read models.

import { randomBytes } from 'node:crypto';
import type { ExecutionReportOut } from '../api/execution-report.js';
import { shardOfOrderId } from '../api/order-ids.js';
import { ErrorCode, ErrorReason, gatewayError, type GatewayError } from '../api/errors.js';
import type { AuthHeaders } from '../api/auth.js';
import { USER_STREAM_REPORTS_HELD_MAX } from './limits.js';

/** What the edge needs from the gateway core. */
export interface UserStreamCore {
  readonly userStreams: UserStreamHub;
  /** Signature, timestamp window and replay check of a login (target USER_STREAM_LOGIN_TARGET, empty body); admin keys refused. */
  authenticateUserStream(auth: AuthHeaders): Promise<{ account: number; apiKey: string } | GatewayError>;
  /** The report's signature under the API key, as in replies (HMAC hex; '' for an Ed25519 key). */
  signReportFor(apiKey: string, canonical: string): string;
}

/** What a login signs, like a REST request: canonical = `${timestamp}\nGET /v1/user-stream\n${sha256 of no bytes}`. */
export const USER_STREAM_PATH = '/v1/user-stream';
export const USER_STREAM_LOGIN_TARGET = `GET ${USER_STREAM_PATH}`;

/** A held report: its copy as published (chain fields empty: stream copies are not chained) and its canonical form. */
export interface HeldReport {
  report: ExecutionReportOut;
  canonical: string;
}

/** Someone reading an account's ring (a connection): woken after each publish. */
export interface StreamReader {
  wake(): void;
}

/** One account's ring of reports and its readers. */
export class AccountStream {
  private readonly ring: (HeldReport | undefined)[];
  /** stream_seq of the newest report (0: none yet). */
  lastSeq = 0;
  /** Per shard, the highest engine `seq` of a report dropped from the ring: where a client re-syncs from (min_seq). */
  readonly droppedMaxSeq = new Map<number, number>();
  readonly readers = new Set<StreamReader>();

  constructor(
    readonly account: number,
    readonly capacity: number,
  ) {
    this.ring = new Array<HeldReport | undefined>(capacity);
  }

  /** stream_seq of the oldest report held (lastSeq + 1 when none is). */
  get firstSeq(): number {
    return Math.max(1, this.lastSeq - this.capacity + 1);
  }

  append(h: HeldReport): number {
    const seq = ++this.lastSeq;
    const at = seq % this.capacity;
    const old = this.ring[at];
    if (old !== undefined) {
      const shard = shardOfOrderId(old.report.order_id);
      if ((this.droppedMaxSeq.get(shard) ?? 0) < old.report.seq) this.droppedMaxSeq.set(shard, old.report.seq);
    }
    this.ring[at] = h;
    return seq;
  }

  /** The report with that stream_seq, if held. */
  get(seq: number): HeldReport | undefined {
    if (seq < this.firstSeq || seq > this.lastSeq) return undefined;
    return this.ring[seq % this.capacity];
  }
}

/** Where a login starts reading, and the gap to announce first, if any. */
export interface ResumePlan {
  /** The first stream_seq to send. */
  fromSeq: number;
  gap: ResumeGap | undefined;
}

/** The RESUME_GAP message (without `type`): what the client lost and where to read it instead. */
export interface ResumeGap {
  epoch: string;
  /** The client's epoch was not this run's (the gateway restarted): its stream_seq means nothing here. */
  epoch_changed: boolean;
  /** Reports lost, stream_seq missed_from..missed_to of this epoch (missed_to < missed_from: none of this epoch). */
  missed_from: number;
  missed_to: number;
  /** Read the account's orders and fills from the query service, with min_seq (per shard) at least this. */
  orders_path: string;
  fills_path: string;
  min_seq: Record<string, number>;
  message: string;
}

export class UserStreamHub {
  /** This gateway run: 16 hex digits, random. */
  readonly epoch: string;
  private readonly streams = new Map<number, AccountStream>();
  readonly reportsHeldMax: number;

  constructor(opts: { epoch?: string; reportsHeldMax?: number } = {}) {
    this.epoch = opts.epoch ?? randomBytes(8).toString('hex');
    this.reportsHeldMax = opts.reportsHeldMax ?? USER_STREAM_REPORTS_HELD_MAX;
  }

  /** The account's stream, created at its first login (reports before that are not held). */
  open(account: number): AccountStream {
    let s = this.streams.get(account);
    if (s === undefined) this.streams.set(account, (s = new AccountStream(account, this.reportsHeldMax)));
    return s;
  }

  /** The account's stream if it exists. */
  stream(account: number): AccountStream | undefined {
    return this.streams.get(account);
  }

  /**
   * A report of `rep.account`, in the order the gateway absorbed it. Cheap when the account never
   * logged in (one map lookup): the hot path of every command goes through here.
   */
  publish(rep: ExecutionReportOut, canonical: string): void {
    const s = this.streams.get(rep.account);
    if (s === undefined) return;
    s.append({ report: { ...rep, chain_seq: 0, chain_hash: '', signature: '' }, canonical });
    for (const r of s.readers) r.wake();
  }

  /**
   * Where a login resumes: no resume point → after the newest report; resume_from N of this
   * epoch → N + 1, or the oldest held report with a gap when N + 1 is no longer held; another
   * epoch → the oldest held report, with a gap saying the epoch changed. A resume point past the
   * newest report of this epoch is the caller's error (RESUME_AHEAD), checked before.
   */
  plan(s: AccountStream, resume: { fromSeq: number; epoch: string } | undefined): ResumePlan {
    if (resume === undefined) return { fromSeq: s.lastSeq + 1, gap: undefined };
    const changed = resume.epoch !== this.epoch;
    const wanted = changed ? 1 : resume.fromSeq + 1;
    const first = s.firstSeq;
    if (!changed && wanted >= first) return { fromSeq: wanted, gap: undefined };
    return { fromSeq: first, gap: this.gap(s, changed, wanted, first - 1) };
  }

  private gap(s: AccountStream, epochChanged: boolean, from: number, to: number): ResumeGap {
    const lost = to >= from ? `stream_seq ${from}..${to} of epoch ${this.epoch} are no longer held` : '';
    const why = epochChanged
      ? `the gateway restarted (epoch ${this.epoch}): the reports of the previous epoch are gone${lost === '' ? '' : `, and ${lost}`}`
      : lost;
    return {
      epoch: this.epoch,
      epoch_changed: epochChanged,
      missed_from: from,
      missed_to: to,
      orders_path: `/v1/accounts/${s.account}/orders`,
      fills_path: `/v1/accounts/${s.account}/fills`,
      min_seq: Object.fromEntries([...s.droppedMaxSeq].map(([shard, seq]) => [String(shard), seq])),
      message: `${why}; re-sync from the query service's orders and fills (min_seq per shard), then rely on the stream`,
    };
  }
}

/** A login as sent: `{"op":"login","api_key","timestamp","signature"[,"resume_from","epoch"]}`. */
export interface UserStreamLogin {
  auth: AuthHeaders;
  /** Present when the client resumes: the last stream_seq it received, of `epoch`. */
  resume: { fromSeq: number; epoch: string } | undefined;
}

const LOGIN_FIELDS: ReadonlySet<string> = new Set(['op', 'api_key', 'timestamp', 'signature', 'resume_from', 'epoch']);

function invalid(reason: ErrorReason, message: string, field?: string): { ok: false; error: GatewayError } {
  return {
    ok: false,
    error: gatewayError(ErrorCode.INVALID_ARGUMENT, reason, message, field === undefined ? undefined : { field }),
  };
}

/** The first message of a connection, parsed; anything but a well-formed login is refused with its reason. */
export function parseLogin(text: string): { ok: true; login: UserStreamLogin } | { ok: false; error: GatewayError } {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return invalid(ErrorReason.LOGIN_REQUIRED, 'the first message must be a JSON login: {"op":"login",…}');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m) || (m as { op?: unknown }).op !== 'login')
    return invalid(ErrorReason.LOGIN_REQUIRED, 'the first message must be a login: {"op":"login",…}', 'op');
  const o = m as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!LOGIN_FIELDS.has(k)) return invalid(ErrorReason.UNKNOWN_FIELD, `unknown field ${k}`, k);
  for (const k of ['api_key', 'signature'])
    if (typeof o[k] !== 'string' || o[k] === '')
      return invalid(ErrorReason.FIELD_MISSING, `${k}: a string is required`, k);
  // The timestamp may come as a string (as in the REST header) or as a JSON integer.
  const ts = typeof o.timestamp === 'number' && Number.isSafeInteger(o.timestamp) ? String(o.timestamp) : o.timestamp;
  if (typeof ts !== 'string')
    return invalid(ErrorReason.FIELD_MISSING, 'timestamp: ms since the epoch is required', 'timestamp');
  const auth = { apiKey: o.api_key as string, timestamp: ts, signature: o.signature as string };
  if (o.resume_from === undefined) {
    if (o.epoch !== undefined)
      return invalid(ErrorReason.FIELD_NOT_ALLOWED, 'epoch goes with resume_from only', 'epoch');
    return { ok: true, login: { auth, resume: undefined } };
  }
  const from = o.resume_from;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)
    return invalid(ErrorReason.INVALID_INTEGER, 'resume_from: a stream_seq (integer ≥ 0) is required', 'resume_from');
  if (typeof o.epoch !== 'string' || o.epoch === '')
    return invalid(ErrorReason.FIELD_MISSING, 'epoch: the epoch of resume_from is required', 'epoch');
  return { ok: true, login: { auth, resume: { fromSeq: from, epoch: o.epoch } } };
}
