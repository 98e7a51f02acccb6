// The private user stream's core (no I/O): every execution report of an account that passes
// through this gateway, numbered per account with a dense `stream_seq` (1, 2, 3… within an
// epoch) and held in a per-account ring of USER_STREAM_REPORTS_HELD_MAX for resuming. The
// gateway core publishes into it from absorb() — its clients' commands, maker fills caused by
// other accounts, and the cancels the gateway sends itself (kill switch, cancel-on-disconnect,
// dead-man's switches) all pass there — and the WebSocket edge (user-stream-server.ts) reads
// from it with a cursor per connection: nothing is queued per connection, so a connection's
// backlog is bounded by the ring, and one that falls out of it is a slow consumer.
//
// The epoch names the stream's numbering. With a journal (user-stream-store.ts, in the gateway's
// data dir) every stream opening and every report is written before any connection can send it,
// and the rings are rebuilt from it at start (restore): the epoch and stream_seq numbering go on
// across a restart, and a client resuming with (epoch, resume_from) gets exactly what it missed,
// as far as it is still held. The epoch changes only when the retained data is lost (no journal,
// data dir wiped, a crash of the machine): a client resuming with the old epoch is told so
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

/** Where the hub writes what it must find again after a restart (user-stream-store.ts); each call returns once the record is written. */
export interface UserStreamJournal {
  opened(account: number): void;
  appended(account: number, streamSeq: number, held: HeldReport): void;
}

/** One stream's state at a journal checkpoint: its last stream_seq and where a re-sync starts (per shard). */
export interface StreamCheckpoint {
  a: number;
  last: number;
  min_seq: Record<string, number>;
}

/** A journal record, as the store reads it back (user-stream-store.ts: the file format). */
export type StreamJournalRecord =
  | { k: 'run'; boot: string; ts_ms: number }
  | { k: 'open'; a: number }
  | { k: 'rep'; a: number; s: number; c: string; r: ExecutionReportOut }
  | { k: 'ckpt'; streams: StreamCheckpoint[] }
  | { k: 'stop' };

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
  /** The oldest stream_seq this ring can hold: above 1 when a restart restored the stream without its older reports. */
  private heldFrom = 1;

  constructor(
    readonly account: number,
    readonly capacity: number,
  ) {
    this.ring = new Array<HeldReport | undefined>(capacity);
  }

  /** stream_seq of the oldest report held (lastSeq + 1 when none is). */
  get firstSeq(): number {
    return Math.max(this.heldFrom, this.lastSeq - this.capacity + 1);
  }

  /**
   * The stream goes on from stream_seq `last` with nothing held (a checkpoint of the journal, or
   * a hole in it): every report up to `last` counts as dropped, so a resume from before gets
   * RESUME_GAP with min_seq covering them.
   */
  resetTo(last: number, minSeq: Record<string, number>): void {
    for (const [shard, seq] of this.resyncFrom()) this.droppedMaxSeq.set(shard, seq);
    for (const [shard, seq] of Object.entries(minSeq))
      if ((this.droppedMaxSeq.get(Number(shard)) ?? 0) < seq) this.droppedMaxSeq.set(Number(shard), seq);
    this.ring.fill(undefined);
    this.lastSeq = last;
    this.heldFrom = last + 1;
  }

  /** Per shard, the highest engine seq of any report so far, dropped or held: a checkpoint's min_seq. */
  resyncFrom(): Map<number, number> {
    const out = new Map(this.droppedMaxSeq);
    for (let seq = this.firstSeq; seq <= this.lastSeq; seq++) {
      const r = this.get(seq)!.report;
      const shard = shardOfOrderId(r.order_id);
      if ((out.get(shard) ?? 0) < r.seq) out.set(shard, r.seq);
    }
    return out;
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
  private readonly journal: UserStreamJournal | undefined;
  /**
   * Per shard, the highest engine seq of any report published (any account's; restored ones too):
   * a login's min_seq. A client that reads positions with at least these seqs, then applies the
   * stream's position updates above the answer's as_of, misses none of this gateway's fills.
   */
  private readonly publishedMaxSeq = new Map<number, number>();

  constructor(opts: { epoch?: string; reportsHeldMax?: number; journal?: UserStreamJournal } = {}) {
    this.epoch = opts.epoch ?? randomBytes(8).toString('hex');
    this.reportsHeldMax = opts.reportsHeldMax ?? USER_STREAM_REPORTS_HELD_MAX;
    this.journal = opts.journal;
  }

  /** The account's stream, created at its first login (reports before that are not held); journaled before use. */
  open(account: number): AccountStream {
    let s = this.streams.get(account);
    if (s === undefined) {
      this.journal?.opened(account);
      this.streams.set(account, (s = new AccountStream(account, this.reportsHeldMax)));
    }
    return s;
  }

  /** Every stream's checkpoint: what a new journal segment starts with. */
  checkpoint(): StreamCheckpoint[] {
    return [...this.streams.values()].map((s) => ({
      a: s.account,
      last: s.lastSeq,
      min_seq: Object.fromEntries([...s.resyncFrom()].map(([shard, seq]) => [String(shard), seq])),
    }));
  }

  /**
   * Rebuilds the streams from the journal's records, oldest first (at start, before any login or
   * publish; nothing is journaled again). A checkpoint ahead of a stream, or a report past the
   * next stream_seq (a record lost), moves the stream on with nothing held before it: a resume
   * from there is told RESUME_GAP, never skipped silently. A report already held is ignored.
   */
  restore(records: Iterable<StreamJournalRecord>): void {
    const get = (a: number) => {
      let s = this.streams.get(a);
      if (s === undefined) this.streams.set(a, (s = new AccountStream(a, this.reportsHeldMax)));
      return s;
    };
    for (const r of records) {
      if (r.k === 'open') get(r.a);
      else if (r.k === 'ckpt') {
        for (const c of r.streams) {
          const s = get(c.a);
          if (s.lastSeq < c.last) s.resetTo(c.last, c.min_seq);
          for (const [shard, seq] of Object.entries(c.min_seq))
            if ((this.publishedMaxSeq.get(Number(shard)) ?? 0) < seq) this.publishedMaxSeq.set(Number(shard), seq);
        }
      } else if (r.k === 'rep') {
        const s = get(r.a);
        if (r.s <= s.lastSeq) continue;
        if (r.s > s.lastSeq + 1) s.resetTo(r.s - 1, {});
        s.append({ report: r.r, canonical: r.c });
        this.notePublished(r.r);
      }
    }
  }

  private notePublished(rep: ExecutionReportOut): void {
    const shard = shardOfOrderId(rep.order_id);
    if ((this.publishedMaxSeq.get(shard) ?? 0) < rep.seq) this.publishedMaxSeq.set(shard, rep.seq);
  }

  /** publishedMaxSeq as `{shard: seq}`: the login answer's min_seq. */
  minSeqAtLogin(): Record<string, number> {
    return Object.fromEntries([...this.publishedMaxSeq].map(([shard, seq]) => [String(shard), seq]));
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
    this.notePublished(rep);
    const s = this.streams.get(rep.account);
    if (s === undefined) return;
    const held = { report: { ...rep, chain_seq: 0, chain_hash: '', signature: '' }, canonical };
    const seq = s.append(held);
    // Written before any reader is woken: a report the stream sent is in the journal.
    this.journal?.appended(rep.account, seq, held);
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
