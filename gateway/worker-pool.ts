// ValidationPool: authentication, decoding, validation and report signing in a piscina pool of
// worker threads (gateway/validation-worker.ts), batched; the replay cache on this thread.
//
// Batching policy. A piscina task costs ~33 µs of overhead here (../shared/NOTES.md), more than
// the work of one item (HMAC verify + JSON parse + checks + engine encoding: 8.5–17.5 µs per
// request inline on this noisy VM), so items travel in batches:
//   - each kind (requests, session, auth, sign) fills its own open batch;
//   - a batch is dispatched when it reaches batchMax items (or batchBytesMax body bytes: session
//     messages can be large), or at the end of the current event-loop turn (setImmediate) if
//     fewer than maxInFlight = threads × 2 tasks are running;
//   - while maxInFlight tasks run, open batches keep filling (up to batchMax, then they queue as
//     full batches, FIFO) until a task completes. So batches grow exactly when the pool is
//     saturated, and at low load an item waits at most one loop turn (no timer, no linger);
//   - items beyond queueMax waiting for dispatch are refused at once: OVERLOADED, retry_after_ms.
// threads × 2 tasks in flight keep every worker busy (one task running, the next one already
// queued in piscina) without a deep queue inside piscina, where it could not be bounded.
// Bodies are packed into one buffer per task (taskOf), results come back likewise
// (validation-worker.ts): structured clone copies one ArrayBuffer per batch each way.
//
// batchMax = 256, chosen by measurement (bench/gateway/bench-validation.ts; 2-core shared VM,
// Node 20.20, 2 worker threads; 200,000 HMAC-signed JSON PlaceOrder requests per run). Medians
// of 3 rounds (rotated order), one run; "closed" keeps 4,096 requests outstanding (throughput;
// its latency is queueing, ≈ 4,096 / throughput); "open" offers a fixed rate for 3 s, latency
// from the scheduled time (includes up to ~1 ms of the generator's 1 ms tick), "batch" = mean
// items per task at that load:
//
//   batchMax | closed req/s | closed p50/p99 ms | open 20k/s p50/p99 ms, batch | open 50k/s p50/p99 ms, batch
//   ---------+--------------+-------------------+------------------------------+-----------------------------
//          1 |       14,311 |    272 / 679      |    567 / 1,028      1  (sat.) |  7,188 / 11,354     1 (sat.)
//          8 |       48,335 |     80 / 140      |   1.26 / 12.0       7.0      |    9.5 / 183        7.9
//         32 |       56,304 |     65 / 180      |   1.64 / 12.1      20.5      |   20.3 / 214       30.6
//         64 |       65,165 |     57 / 192      |   1.29 / 11.4      22.8      |   2.19 / 12.6      46.5
//        128 |       64,939 |     57 / 149      |   1.55 / 15.5      24.1      |   2.99 / 97.5      68.6
//        256 |       76,756 |     50 / 138      |   1.23 / 12.8      23.0      |   2.77 / 39.4      74.0
//
// The VM is noisy (the inline cost per request varied 8.5–17.5 µs between runs), so six runs
// were made (four of one round, two of three). Closed-loop req/s per run (one round, or the
// median of three):
//   1: 14–23k   8: 37–53k   32: 51–85k   64: 50–83k   128: 41–92k   256: 70–96k
// 256 had the best closed-loop throughput in 4 runs of 6 and was within 5% of the best in the
// other two. batchMax 1 fell behind 20k/s offered in 4 runs of 6, and 8 fell behind 50k/s in 3
// of 4. Below saturation batchMax hardly matters: the adaptive batches stay far below it
// (≈ 21–25 items at 20k/s, ≈ 45–80 at 50k/s). For batchMax ≥ 64, p50 was 1.1–1.6 ms at 20k/s in
// every run, and 1.7–4.5 ms at 50k/s except in the noisiest run (up to 11 ms) and once when the
// machine fell behind (256 in run 4: 142 ms). p99 was 8–36 ms at 20k/s (once 273 ms) and
// 10–780 ms at 50k/s, with no batchMax ≥ 32 consistently better or worse: that is scheduling
// noise of three busy threads on two shared cores, not batching.
// Larger batches most likely win at saturation because fewer tasks mean less per-task work on the main
// thread (postMessage, wake-ups), which shares the cores with the workers. The cost: a full task
// of 256 requests keeps a worker ~2.5 ms, so under saturation an item may wait behind two of
// them; below saturation no batch gets that large.
//
// Queueing and the replay check happen on this thread; everything else in the workers — except
// at low load. A worker hand-off costs a request ~1–2.5 ms of latency on this machine when the
// pool is idle (a setImmediate, postMessage, waking a sleeping thread, and the way back: the
// latency trace, gateway/trace.ts, showed it as the largest gateway stage of a single order) and
// ~100 µs of main-thread CPU, against 10–20 µs for the work itself. So while no task is running
// and none waits, up to inlineItemsPerTurnMax items per event-loop turn are validated right here,
// synchronously, with the workers' own code (runTask on a WorkerState of this thread), and at
// most INLINE_ITEMS_PER_WINDOW_MAX_DEFAULT per INLINE_WINDOW_MS (1,000 a second); once a turn
// brings more, the rate is higher, or tasks are already running, items batch to the workers.
// Under load the work therefore still leaves the main thread, in batches that pay for the hop.

import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import {
  ReplayCache,
  REPLAY_CACHE_ENTRIES_MAX,
  type ApiKeyConfig,
  type AuthHeaders,
  type AuthResult,
} from '../api/auth.js';
import { ErrorCode, ErrorReason, gatewayError, type GatewayError } from '../api/errors.js';
import type { RawRequest } from './types.js';
import { peekSessionRequestId, type InstrumentLimits, type ValidatedCommand } from './validate.js';
import {
  createWorkerState,
  runTask,
  signItem as sign,
  type AuthItem,
  type RequestItem,
  type RequestOutcome,
  type SessionItem,
  type SessionOutcome,
  type SignItem,
  type ValidationTask,
  type ValidationWorkerData,
  type WorkerState,
} from './validation-worker.js';
import {
  BATCH_MAX_DEFAULT,
  SIGN_INLINE_PAYLOADS_MAX_DEFAULT,
  INLINE_ITEMS_PER_TURN_MAX_DEFAULT,
  INLINE_ITEMS_PER_WINDOW_MAX_DEFAULT,
  INLINE_WINDOW_MS,
  BATCH_BYTES_MAX_DEFAULT,
  QUEUE_MAX_DEFAULT,
  OVERLOADED_RETRY_AFTER_MS,
} from './limits.js';

export type ValidationResult =
  | { ok: true; account: number; apiKey: string; admin: boolean; command: ValidatedCommand }
  /** apiKey: the request was authenticated before it failed (its rate-limit state can be reported). */
  | { ok: false; error: GatewayError; apiKey?: string };
export type SessionAuthResult =
  | { ok: true; account: number; apiKey: string; admin: boolean }
  | { ok: false; error: GatewayError };
export type { SessionOutcome, CommandOutcome } from './validation-worker.js';

export interface ValidationPoolOptions {
  /** A GatewayConfig, or just the parts validation needs. */
  config: {
    receiveWindowMs: number;
    accounts: readonly { account: number; apiKeys: readonly ApiKeyConfig[] }[];
    adminKeys: readonly ApiKeyConfig[];
    shards: readonly { id: number; instruments: readonly InstrumentLimits[] }[];
    workers?: number;
  };
  /** Worker threads (default config.workers, else 2). */
  threads?: number;
  /** Items per task at most (default 256: see the measurements above). */
  batchMax?: number;
  /** Body bytes per task at most, roughly (default 256 KiB; a single larger item goes alone). */
  batchBytesMax?: number;
  /** Items waiting for dispatch at most (default 65,536). */
  queueMax?: number;
  /** Sign batches of at most this many payloads are signed on the main thread (default 16; 0: always in the workers). */
  signInlineMax?: number;
  /** Items validated on the main thread per loop turn while the pool is idle (default INLINE_ITEMS_PER_TURN_MAX_DEFAULT; 0: always in the workers). */
  inlineItemsPerTurnMax?: number;
  /** …and per window (default INLINE_ITEMS_PER_WINDOW_MAX_DEFAULT per INLINE_WINDOW_MS). */
  inlineItemsPerWindowMax?: number;
  inlineWindowMs?: number;
  replayCacheEntriesMax?: number;
  /** Clock (ms since the epoch); tests override it. */
  now?: () => number;
}

export interface ValidationPoolStats {
  threads: number;
  batchMax: number;
  maxInFlight: number;
  queued: number;
  inFlight: number;
  tasks: number;
  items: number;
  avgBatch: number;
  overloaded: number;
  replayed: number;
  replayCacheSize: number;
  replayCacheFull: number;
  /** Report payloads signed on this thread: small batches (signInlineMax), or because the pool refused them. */
  signedInline: number;
  /** Requests, session messages and session authentications validated on this thread (idle pool, inlineItemsPerTurnMax). */
  validatedInline: number;
}

type Kind = ValidationTask['kind'];

interface Batch {
  kind: Kind;
  items: unknown[];
  /** Body/payload bytes of the items (a batch is also sealed at batchBytesMax). */
  bytes: number;
  done: ((result: unknown, error?: unknown) => void)[];
}

const OVERLOADED: GatewayError = gatewayError(
  ErrorCode.OVERLOADED,
  ErrorReason.VALIDATION_QUEUE_MAX,
  'validation queue full',
  {
    retry_after_ms: OVERLOADED_RETRY_AFTER_MS,
  },
);
const STOPPING: GatewayError = gatewayError(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping');

function byteLength(x: unknown): number {
  return x instanceof Uint8Array ? x.length : 0;
}

/** The worker module and how to load it: TypeScript through tsx when this file runs as TypeScript. */
function workerModule(): { filename: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const tsx = pathToFileURL(createRequire(here).resolve('tsx')).href;
    return { filename: fileURLToPath(new URL('./validation-worker.ts', here)), execArgv: ['--import', tsx] };
  }
  return { filename: fileURLToPath(new URL('./validation-worker.js', here)), execArgv: [] };
}

export function workerDataOf(config: ValidationPoolOptions['config']): ValidationWorkerData {
  return {
    receiveWindowMs: config.receiveWindowMs,
    shards: config.shards.map((s) => ({
      id: s.id,
      instruments: s.instruments.map((i) => ({
        symbol: i.symbol,
        tickSize: i.tickSize,
        lotSize: i.lotSize,
        minQty: i.minQty,
        maxQty: i.maxQty,
        maxPrice: i.maxPrice,
        priceDecimals: i.priceDecimals,
        qtyDecimals: i.qtyDecimals,
      })),
    })),
    accounts: config.accounts.map((a) => ({ account: a.account, apiKeys: a.apiKeys.map((k) => ({ ...k })) })),
    adminKeys: config.adminKeys.map((k) => ({ ...k })),
  };
}

/**
 * The piscina task of a batch. The request/session bodies are copied into one buffer and sent as
 * views of it: structured clone then copies one ArrayBuffer per batch rather than one per item —
 * and never the whole backing store of a body that is a view into a larger buffer (a Buffer
 * from Node's 8 KiB pool, a socket read buffer), which it would otherwise copy entirely.
 */
function taskOf(b: Batch): ValidationTask {
  if (b.kind === 'requests') {
    const items = b.items as RequestItem[];
    const pack = packer(items.map((it) => it.req.body));
    return { kind: 'requests', items: items.map((it, i) => ({ req: { ...it.req, body: pack(i) }, nowMs: it.nowMs })) };
  }
  if (b.kind === 'session') {
    const items = b.items as SessionItem[];
    const pack = packer(items.map((it) => it.body));
    return { kind: 'session', items: items.map((it, i) => ({ account: it.account, body: pack(i), nowMs: it.nowMs })) };
  }
  return { kind: b.kind, items: b.items } as ValidationTask;
}

/** Copies bodies into one buffer; pack(i) is the view of body i (a non-bytes body is passed through, for the worker to refuse). */
function packer(bodies: unknown[]): (i: number) => Uint8Array {
  let total = 0;
  for (const x of bodies) if (x instanceof Uint8Array) total += x.length;
  const buf = new Uint8Array(total);
  const views: Uint8Array[] = new Array(bodies.length);
  let at = 0;
  for (let i = 0; i < bodies.length; i++) {
    const x = bodies[i];
    if (x instanceof Uint8Array) {
      buf.set(x, at);
      views[i] = buf.subarray(at, at + x.length);
      at += x.length;
    } else views[i] = x as Uint8Array;
  }
  return (i) => views[i]!;
}

export class ValidationPool {
  readonly threads: number;
  readonly batchMax: number;
  readonly batchBytesMax: number;
  readonly queueMax: number;
  readonly signInlineMax: number;
  readonly inlineItemsPerTurnMax: number;
  readonly inlineItemsPerWindowMax: number;
  readonly inlineWindowMs: number;
  readonly maxInFlight: number;
  /** The workers' state (key table, shards), on this thread: validation and signing inline, and the signing fallback. */
  private readonly inlineState: WorkerState;
  /** Items validated inline in this loop turn (reset by a setImmediate). */
  private inlineThisTurn = 0;
  /** Items validated inline in the current INLINE_WINDOW_MS window, and when it started (performance.now()). */
  private inlineThisWindow = 0;
  private inlineWindowStartMs = 0;
  private inlineResetScheduled = false;
  private readonly piscina: Piscina<ValidationTask, unknown[]>;
  private readonly replay: ReplayCache;
  private readonly now: () => number;
  private readonly open: Record<Kind, Batch | undefined> = {
    requests: undefined,
    session: undefined,
    auth: undefined,
    sign: undefined,
  };
  /** Full batches waiting for a free slot, FIFO. */
  private readonly ready: Batch[] = [];
  private queued = 0;
  private inFlight = 0;
  private flushScheduled = false;
  private closed = false;
  private readonly counters = {
    tasks: 0,
    items: 0,
    overloaded: 0,
    replayed: 0,
    replayCacheFull: 0,
    signedInline: 0,
    validatedInline: 0,
  };

  constructor(opts: ValidationPoolOptions) {
    this.threads = Math.max(1, Math.floor(opts.threads ?? opts.config.workers ?? 2));
    this.batchMax = Math.max(1, Math.floor(opts.batchMax ?? BATCH_MAX_DEFAULT));
    this.batchBytesMax = Math.max(1, Math.floor(opts.batchBytesMax ?? BATCH_BYTES_MAX_DEFAULT));
    this.queueMax = Math.max(1, Math.floor(opts.queueMax ?? QUEUE_MAX_DEFAULT));
    this.signInlineMax = Math.max(0, Math.floor(opts.signInlineMax ?? SIGN_INLINE_PAYLOADS_MAX_DEFAULT));
    this.inlineItemsPerTurnMax = Math.max(
      0,
      Math.floor(opts.inlineItemsPerTurnMax ?? INLINE_ITEMS_PER_TURN_MAX_DEFAULT),
    );
    this.inlineItemsPerWindowMax = Math.max(
      0,
      Math.floor(opts.inlineItemsPerWindowMax ?? INLINE_ITEMS_PER_WINDOW_MAX_DEFAULT),
    );
    this.inlineWindowMs = Math.max(1, opts.inlineWindowMs ?? INLINE_WINDOW_MS);
    this.inlineState = createWorkerState(workerDataOf(opts.config));
    this.maxInFlight = this.threads * 2;
    this.now = opts.now ?? Date.now;
    this.replay = new ReplayCache(opts.config.receiveWindowMs, opts.replayCacheEntriesMax ?? REPLAY_CACHE_ENTRIES_MAX);
    const { filename, execArgv } = workerModule();
    this.piscina = new Piscina({
      filename,
      execArgv,
      workerData: workerDataOf(opts.config),
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      name: 'default',
    });
  }

  /** Authentication, replay check, decoding and validation of a unary request. */
  async validate(req: RawRequest): Promise<ValidationResult> {
    const nowMs = this.now();
    const r = (await this.enqueue<RequestOutcome>(
      'requests',
      { req, nowMs } satisfies RequestItem,
      byteLength(req?.body),
    )) as RequestOutcome | GatewayError;
    if ('code' in r) return { ok: false, error: r };
    if (!r.ok) return r;
    const replay = this.replayCheck(r.replayKey, r.tsMs, nowMs);
    if (replay !== undefined) return { ok: false, error: replay, apiKey: r.apiKey };
    return { ok: true, account: r.account, apiKey: r.apiKey, admin: r.admin, command: r.command };
  }

  /** Authentication of an order session's opening metadata (empty body), replay check included. */
  async authenticateSession(auth: AuthHeaders, target: string): Promise<SessionAuthResult> {
    const nowMs = this.now();
    const r = (await this.enqueue<AuthResult>('auth', { auth, target, nowMs } satisfies AuthItem, 0)) as
      | AuthResult
      | GatewayError;
    if ('code' in r) return { ok: false, error: r };
    if (!r.ok) return r;
    const replay = this.replayCheck(r.replayKey, r.tsMs, nowMs);
    if (replay !== undefined) return { ok: false, error: replay };
    return { ok: true, account: r.account, apiKey: r.apiKey, admin: r.admin };
  }

  /** Decoding and validation of one OrderSessionRequest of an authenticated session. */
  async validateSession(account: number, body: Uint8Array): Promise<SessionOutcome> {
    const r = (await this.enqueue<SessionOutcome>(
      'session',
      { account, body, nowMs: this.now() } satisfies SessionItem,
      byteLength(body),
    )) as SessionOutcome | GatewayError;
    if ('code' in r) return { ok: false, error: r, requestId: peekSessionRequestId(body) };
    return r;
  }

  /**
   * HMAC-SHA256 (lowercase hex) of each payload under the API key's secret; '' for Ed25519 keys
   * (no shared secret: their reports are covered by the signed hash chain only) and unknown keys.
   * Never rejects: the reports belong to commands that already took effect, so when the pool
   * refuses (queue full, closed) or a worker fails, they are signed here, inline (~6 µs each).
   */
  async signReports(apiKey: string, payloads: string[]): Promise<string[]> {
    if (payloads.length === 0) return [];
    if (payloads.length <= this.signInlineMax && !this.closed && this.inlineNow()) {
      // An idle pool: sign now rather than after a loop turn (see the file header).
      this.counters.signedInline += payloads.length;
      return sign(this.inlineState, { apiKey, payloads });
    }
    let bytes = 0;
    for (const p of payloads) bytes += p.length;
    const r = (await this.enqueue<string[]>('sign', { apiKey, payloads } satisfies SignItem, bytes)) as
      | string[]
      | GatewayError;
    if (Array.isArray(r)) return r;
    this.counters.signedInline += payloads.length;
    return sign(this.inlineState, { apiKey, payloads });
  }

  stats(): ValidationPoolStats {
    const c = this.counters;
    return {
      threads: this.threads,
      batchMax: this.batchMax,
      maxInFlight: this.maxInFlight,
      queued: this.queued,
      inFlight: this.inFlight,
      tasks: c.tasks,
      items: c.items,
      avgBatch: c.tasks === 0 ? 0 : c.items / c.tasks,
      overloaded: c.overloaded,
      replayed: c.replayed,
      replayCacheSize: this.replay.size,
      replayCacheFull: c.replayCacheFull,
      signedInline: c.signedInline,
      validatedInline: c.validatedInline,
    };
  }

  /** Answers everything not yet dispatched with UNAVAILABLE, lets running tasks finish, stops the threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const unavailable = STOPPING;
    const waiting = [...this.ready, ...Object.values(this.open).filter((b): b is Batch => b !== undefined)];
    this.ready.length = 0;
    for (const k of Object.keys(this.open) as Kind[]) this.open[k] = undefined;
    this.queued = 0;
    for (const b of waiting) for (const d of b.done) d(unavailable);
    await this.piscina.close();
  }

  // -------------------------------------------------------------------------------------------

  private replayCheck(replayKey: string, tsMs: number, nowMs: number): GatewayError | undefined {
    const r = this.replay.check(replayKey, tsMs, nowMs);
    if (r === 'fresh') return undefined;
    if (r === 'replayed') {
      this.counters.replayed++;
      return gatewayError(
        ErrorCode.REPLAYED_REQUEST,
        ErrorReason.REQUEST_REPLAYED,
        'this signed request was already received',
      );
    }
    this.counters.replayCacheFull++;
    return gatewayError(ErrorCode.OVERLOADED, ErrorReason.REPLAY_CACHE_ENTRIES_MAX, 'replay cache full', {
      retry_after_ms: 1000,
    });
  }

  /** Queues one item; resolves with its outcome, or with a GatewayError (overloaded, closed, worker failure). */
  private enqueue<R>(kind: Kind, item: unknown, bytes: number): Promise<R | GatewayError> {
    if (this.closed) return Promise.resolve(STOPPING);
    if (this.queued >= this.queueMax) {
      this.counters.overloaded++;
      return Promise.resolve(OVERLOADED);
    }
    if (kind !== 'sign' && this.inlineNow()) {
      this.counters.validatedInline++;
      return Promise.resolve(runTask(this.inlineState, { kind, items: [item] } as ValidationTask)[0] as R);
    }
    return new Promise((resolve) => {
      let b = this.open[kind];
      if (b === undefined) this.open[kind] = b = { kind, items: [], bytes: 0, done: [] };
      b.items.push(item);
      b.bytes += bytes;
      b.done.push(resolve as (r: unknown) => void);
      this.queued++;
      if (b.items.length >= this.batchMax || b.bytes >= this.batchBytesMax) {
        this.open[kind] = undefined;
        this.ready.push(b);
        this.pump(false);
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  /** True if this item may be validated on this thread: the pool is idle and this turn's budget is not spent. */
  private inlineNow(): boolean {
    if (this.inFlight > 0 || this.queued > 0 || this.inlineThisTurn >= this.inlineItemsPerTurnMax) return false;
    const now = performance.now();
    if (now - this.inlineWindowStartMs >= this.inlineWindowMs) {
      this.inlineWindowStartMs = now;
      this.inlineThisWindow = 0;
    }
    if (this.inlineThisWindow >= this.inlineItemsPerWindowMax) return false;
    this.inlineThisWindow++;
    this.inlineThisTurn++;
    if (!this.inlineResetScheduled) {
      this.inlineResetScheduled = true;
      setImmediate(this.resetInline);
    }
    return true;
  }

  private readonly resetInline = (): void => {
    this.inlineResetScheduled = false;
    this.inlineThisTurn = 0;
  };

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.pump(true);
  };

  /** Signs a small sign batch here (see SIGN_INLINE_PAYLOADS_MAX_DEFAULT); false if it is not small. */
  private signInline(b: Batch): boolean {
    const items = b.items as SignItem[];
    let n = 0;
    for (const it of items) n += it.payloads.length;
    if (n > this.signInlineMax) return false;
    this.queued -= items.length;
    this.counters.signedInline += n;
    for (let i = 0; i < items.length; i++) b.done[i]!(sign(this.inlineState, items[i]!));
    return true;
  }

  /** Dispatches full batches, then (withOpen) open ones, while fewer than maxInFlight tasks run. */
  private pump(withOpen: boolean): void {
    while (this.inFlight < this.maxInFlight && !this.closed) {
      let b = this.ready.shift();
      if (b === undefined && withOpen) {
        for (const k of Object.keys(this.open) as Kind[]) {
          const o = this.open[k];
          if (o !== undefined) {
            this.open[k] = undefined;
            b = o;
            break;
          }
        }
      }
      if (b === undefined) return;
      this.dispatch(b);
    }
  }

  private dispatch(b: Batch): void {
    if (b.kind === 'sign' && this.signInline(b)) return;
    this.inFlight++;
    this.queued -= b.items.length;
    this.counters.tasks++;
    this.counters.items += b.items.length;
    this.piscina
      .run(taskOf(b))
      .then(
        (results) => {
          for (let i = 0; i < b.done.length; i++) {
            const r = results[i];
            b.done[i]!(
              r === undefined
                ? gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'validation worker returned no result')
                : r,
            );
          }
        },
        (err: unknown) => {
          const error = gatewayError(
            ErrorCode.INTERNAL,
            ErrorReason.INTERNAL,
            `validation worker failed: ${err instanceof Error ? err.message : String(err)}`,
          );
          for (const d of b.done) d(error);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.pump(true);
      });
  }
}
