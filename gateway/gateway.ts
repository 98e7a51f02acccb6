// The gateway core: everything between a protocol edge (rest-server.ts, grpc-server.ts) and
// the shards' replicas.
//
//   RawRequest ─► ValidationPool (worker threads, batched): signature, timestamp window,
//                 replay cache, decoding, schema/range/tick/lot checks, engine command encoding
//              ─► risk (main thread: rate limit per API key, account limits, price band)
//              ─► ShardLink: a ReplicaClient of the shard (a session the replicas registered;
//                 retry-to-leader with the same (clientId, requestSeq): applied at most once,
//                 acknowledged only once committed on a majority and applied)
//              ─► execution reports for the account: chained (report-chain.ts) and HMAC-signed
//                 in the workers ─► GatewayReply
//
// Every queue is bounded: the pool refuses work beyond its queue (OVERLOADED), a shard link
// refuses beyond SHARD_INFLIGHT_MAX commands in flight (OVERLOADED), and a command not
// acknowledged within REQUEST_TIMEOUT_MS is answered UNAVAILABLE (its client keeps retrying it
// in the background with the same session and sequence, so it still takes effect at most once;
// the client checks with GetOrder).

import { randomInt, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { decodeEvents } from '../engine/event-codec.js';
import {
  ExecType,
  OrdStatus,
  Reason,
  type EngineEvent,
  type ExecReport,
  type InstrumentConfig,
} from '../engine/types.js';
import { ENUM_NAMES, reasonName } from '../engine/json-codec.js';
import { authenticate, type AuthHeaders, type KeyEntry } from '../api/auth.js';
import { SESSION_LOST_CODES, TRACE_INDEXES_MAX } from '../replicator/client/protocol.js';
import {
  CLIENT_WINDOW_MAX,
  ClientRequestError,
  ReplicaClient,
  requestOnce,
  type SubmitResult,
} from '../replicator/client/client.js';
import type { GatewayConfig, ShardEntry } from '../config/gateway-config.js';
import { ReportChain, loadOrCreateSigningKey } from './report-chain.js';
import { AccountRisk, TokenBucket, checkRisk, type PriceReference } from './risk.js';
import type { RateLimitState } from './rate-limit-headers.js';
import { ed25519PublicKeyFromRaw, hmacSign } from '../api/signing.js';
import { USER_STREAM_LOGIN_TARGET, type UserStreamHub, type UserStreamCore } from './user-stream.js';
import { openUserStreams, type UserStreamStore } from './user-stream-store.js';
import { ErrorCode, ErrorReason, gatewayError, type ErrorReason as Why, type GatewayError } from '../api/errors.js';
import { toReport, type ExecutionReportOut, type InstrumentDecimals } from '../api/execution-report.js';
import { formatUnits } from '../api/decimal.js';
import { encodeJsonCommand } from '../shard/json-command.js';
import './limits-check.js';
import { canonicalReport } from '../api/report-canonical.js';
import { fromGlobalOrderId, toGlobalOrderId } from '../api/order-ids.js';
import type { LiveOrder } from '../replicator/log.js';
import { OrderView, isFinalStatus, type ViewedOrder } from './order-view.js';
import {
  Operation,
  type DropCopySubscription,
  type GatewayCore,
  type GatewayReply,
  type GatewaySession,
  type OrderOut,
  type OrderResultOut,
  type CancelScope,
  type RawRequest,
  type SessionOptions,
} from './types.js';
import { peekSessionRequestId, validateCommand, type ShardInfo, type ValidatedCommand } from './validate.js';
import { ValidationPool, workerDataOf } from './worker-pool.js';
import { inexactInteger, inexactIntegerMessage } from './json-numbers.js';
import { GatewayMetrics } from './metrics.js';
import { OrderTrace, TraceBook, type SlowOrder } from './trace.js';
import { SLOW_ORDERS_MAX } from './limits.js';
import {
  FreshReads,
  parseInstrumentStates,
  shardInstruments,
  type InstrumentEngineState,
  type InstrumentOut,
} from './instruments.js';
import { createRegistry, type Registry } from '../ops/metrics.js';
import { loadTlsMaterial, type TlsMaterial } from '../config/tls-config.js';
import { errorMessage, linesLog, type Log, type LogFields } from '../ops/log.js';
import {
  SHARD_CLIENTS,
  SHARD_INFLIGHT_MAX,
  REQUEST_TIMEOUT_MS,
  BOOK_READ_TIMEOUT_MS,
  SESSIONS_MAX,
  SESSION_LIVE_ORDERS_MAX,
  SESSION_CANCEL_BATCH_MAX,
  SESSION_PENDING_MAX,
  SESSION_PENDING_BYTES_MAX,
  READINESS_CACHE_MS,
  READINESS_PROBE_TIMEOUT_MS,
  SLOW_ORDERS_DUMP_DEFAULT,
  INSTRUMENTS_READ_TIMEOUT_MS,
  INSTRUMENTS_RETRY_AFTER_MS,
} from './limits.js';

/** Integer fields of the admin API's bodies (kill-switch account, reference price, slow-orders limit). */
const ADMIN_INTEGER_FIELDS: ReadonlySet<string> = new Set(['account', 'price', 'limit']);

const FINAL_STATUS = new Set<number>([OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED]);

export interface Readiness {
  ready: boolean;
  shards: { shard: number; leader: number | null; commit: number | null; applied: number | null }[];
}

/** How often (ms) a shard link answers the commands past REQUEST_TIMEOUT_MS. */
const DEADLINE_SWEEP_MS = 100;

interface Waiting {
  deadlineMs: number;
  resolve: (r: SubmitResult | Error | 'timeout') => void;
}

class ShardLink {
  private readonly clients: ReplicaClient[];
  private next = 0;
  inflight = 0;
  /** Commands awaiting acknowledgement, in submission order, hence in deadline order. */
  private readonly waiting = new Set<Waiting>();
  private readonly sweep: NodeJS.Timeout;
  /** TLS to the replicas (the shard's "tls" or its cluster file's), read once here; undefined: plain TCP. */
  readonly tls: TlsMaterial | undefined;
  constructor(readonly shard: ShardEntry) {
    const endpoints = shard.replicas.map((r) => ({ id: r.id, host: r.host, port: r.port }));
    this.tls = shard.tls !== undefined ? loadTlsMaterial(shard.tls) : undefined;
    const tls = this.tls !== undefined ? { tls: this.tls } : {};
    // Each client registers its own session with the replicas (a new one per gateway start,
    // and again if the replicas ever evict it): the replicas allocate the ids.
    this.clients = Array.from({ length: SHARD_CLIENTS }, () => new ReplicaClient({ endpoints, ...tls }));
    // One timer per link instead of one per command (a setTimeout/clearTimeout pair per order
    // showed in the profiles).
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const w of this.waiting) {
        if (w.deadlineMs > now) break;
        this.waiting.delete(w);
        w.resolve('timeout');
      }
    }, DEADLINE_SWEEP_MS);
    this.sweep.unref();
  }
  /**
   * A session's client (by hint: its commands stay in order), else the first client with room in
   * its window: commands of one event-loop turn then leave in one SUBMIT frame on one socket
   * instead of one frame per client.
   */
  client(hint?: number): ReplicaClient {
    if (hint !== undefined) return this.clients[hint % this.clients.length]!;
    for (const c of this.clients) if (c.outstanding < CLIENT_WINDOW_MAX) return c;
    const c = this.clients[this.next]!;
    this.next = (this.next + 1) % this.clients.length;
    return c;
  }
  /** Submits through client(hint); 'timeout' once REQUEST_TIMEOUT_MS passed without an acknowledgement. */
  submit(body: Uint8Array, hint: number | undefined): Promise<SubmitResult | Error | 'timeout'> {
    return new Promise((resolve) => {
      const w: Waiting = { deadlineMs: Date.now() + REQUEST_TIMEOUT_MS, resolve };
      this.waiting.add(w);
      this.client(hint)
        .submitEncoded(body)
        .then(
          (r) => {
            if (this.waiting.delete(w)) resolve(r);
          },
          (err: unknown) => {
            if (this.waiting.delete(w)) resolve(err instanceof Error ? err : new Error(String(err)));
          },
        );
    });
  }
  /** The replica the clients talk to (the leader as far as they know), then the others. */
  endpointsLeaderFirst(): { id: number; host: string; port: number }[] {
    const t = this.clients[0]!.target;
    return [...this.shard.replicas].sort((a, b) => Number(b.id === t) - Number(a.id === t));
  }
  close(): void {
    clearInterval(this.sweep);
    for (const c of this.clients) c.close();
  }
}

export class Gateway implements GatewayCore, UserStreamCore {
  readonly pool: ValidationPool;
  private readonly links = new Map<number, ShardLink>();
  private readonly accounts = new Map<number, AccountRisk>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly keyEntries = new Map<string, KeyEntry>();
  private readonly instruments = new Map<string, { inst: InstrumentConfig; shard: number }>();
  private readonly references = new Map<string, number | null>();
  /** Per shard: the engine state of its instruments, read from its replicas (ListInstruments). */
  private readonly instrumentReads = new Map<number, FreshReads<InstrumentEngineState[] | undefined>>();
  /** The last report seen per order, and client order ids (order-view.ts): ownership checks, GetOrder. */
  private readonly view = new OrderView();
  /** Live orders placed by SESSION-scope sessions → the session (what their automatic cancels cancel). */
  private readonly sessionOrders = new Map<number, Session>();
  /** CancelAllAfter timers, one per API key at most. */
  private readonly cancelAfter = new Map<string, { timer: NodeJS.Timeout; triggerMs: number }>();
  /** Sessions' automatic cancels under way (stop waits for them). */
  private readonly autoCancels = new Set<Promise<void>>();
  private readonly sessions = new Set<Session>();
  /** Drop-copy subscriptions (FIX drop copy, fix/application.ts): every report of their accounts absorbed here. */
  private readonly dropCopies = new Set<DropCopy>();
  /** Open sessions by account: where maker fills are pushed. */
  private readonly sessionsOf = new Map<number, Set<Session>>();
  readonly chain: ReportChain;
  /** The accounts' private user streams (user-stream.ts): every report absorbed is published there. */
  readonly userStreams: UserStreamHub;
  /** Their journal in `<dataDir>/user-stream/` (user-stream-store.ts); none when the chain has no data dir. */
  readonly userStreamJournal: UserStreamStore | undefined;
  private stopped = false;
  readonly stats = { commands: 0, rejectedByRisk: 0, rateLimited: 0, overloaded: 0, timeouts: 0 };
  readonly metrics: GatewayMetrics;
  /** Stage histograms and the slow-order dump (trace.ts). */
  readonly traces: TraceBook;
  private readiness: { atMs: number; value: Promise<Readiness> } | undefined;
  private readonly log: Log;

  constructor(
    readonly config: GatewayConfig,
    opts: {
      log?: Log;
      signingKey?: KeyObject;
      chainDataDir?: string | null;
      registry?: Registry;
      /** Defaults to USER_STREAM_REPORTS_HELD_MAX (tests lower it). */
      userStreamReportsHeldMax?: number;
    } = {},
  ) {
    this.log = opts.log ?? linesLog((l) => console.error(`[gateway] ${l}`));
    const now = Date.now();
    for (const a of config.accounts) {
      this.accounts.set(a.account, new AccountRisk(a.account, a.risk));
      for (const k of a.apiKeys) {
        this.buckets.set(k.key, new TokenBucket(a.risk.ratePerSec, a.risk.burst, now));
        this.keyEntries.set(k.key, keyEntry(a.account, k, false));
      }
    }
    for (const k of config.adminKeys) this.keyEntries.set(k.key, keyEntry(0, k, true));
    for (const s of config.shards) {
      const link = new ShardLink(s);
      this.links.set(s.id, link);
      this.instrumentReads.set(s.id, new FreshReads(() => readInstrumentStates(link)));
      for (const inst of s.instruments) {
        this.instruments.set(inst.symbol, { inst, shard: s.id });
        this.references.set(inst.symbol, inst.referencePrice);
      }
    }
    this.pool = new ValidationPool({ config, threads: config.workers });
    const key = opts.signingKey ?? loadOrCreateSigningKey(config.signingKeyPath);
    const dataDir = opts.chainDataDir === null ? undefined : (opts.chainDataDir ?? config.dataDir);
    this.chain = new ReportChain(key, {
      ...(dataDir !== undefined ? { dataDir } : {}),
      everyReports: config.chainHeadEveryReports,
      everyMs: config.chainHeadEveryMs,
    });
    this.metrics = new GatewayMetrics(opts.registry ?? createRegistry('gateway'), {
      sessions: () => this.sessions.size,
      shardInflight: () => new Map([...this.links].map(([id, l]) => [id, l.inflight])),
      pool: () => this.pool.stats(),
      chainSeq: () => this.chain.head.chain_seq,
    });
    this.traces = new TraceBook(this.metrics.registry, config.slowOrderMs);
    const streams = openUserStreams(dataDir === undefined ? undefined : path.join(dataDir, 'user-stream'), {
      log: this.log,
      ...(opts.userStreamReportsHeldMax === undefined ? {} : { reportsHeldMax: opts.userStreamReportsHeldMax }),
    });
    this.userStreams = streams.hub;
    this.userStreamJournal = streams.store;
  }

  /** A user-stream login: the signature over USER_STREAM_LOGIN_TARGET (empty body), the window, the replay cache. */
  async authenticateUserStream(auth: AuthHeaders): Promise<{ account: number; apiKey: string } | GatewayError> {
    if (this.stopped) return gatewayError(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping');
    const a = await this.pool.authenticateSession(auth, USER_STREAM_LOGIN_TARGET);
    if (!a.ok) return a.error;
    if (a.admin)
      return gatewayError(
        ErrorCode.PERMISSION_DENIED,
        ErrorReason.ADMIN_KEY_NOT_ALLOWED,
        'admin keys have no user stream',
      );
    if (!this.accounts.has(a.account))
      return gatewayError(
        ErrorCode.PERMISSION_DENIED,
        ErrorReason.ACCOUNT_NOT_CONFIGURED,
        `account ${a.account} is not configured`,
      );
    return { account: a.account, apiKey: a.apiKey };
  }

  /** HMAC-SHA256 of a report's canonical form under the key's secret, as replies are signed ('' for Ed25519 keys). */
  signReportFor(apiKey: string, canonical: string): string {
    const secret = this.keyEntries.get(apiKey)?.hmacSecret;
    return secret === undefined ? '' : hmacSign(secret, canonical);
  }

  /**
   * Ready to take orders: every shard has a leader that answers (a status request to the
   * replicas, leader first, READINESS_PROBE_TIMEOUT_MS each). Cached READINESS_CACHE_MS so that
   * a probe storm costs the replicas nothing.
   */
  ready(): Promise<Readiness> {
    const now = Date.now();
    if (this.readiness === undefined || now - this.readiness.atMs > READINESS_CACHE_MS) {
      this.readiness = { atMs: now, value: this.probeShards() };
    }
    return this.readiness.value;
  }

  private async probeShards(): Promise<Readiness> {
    const shards = await Promise.all(
      [...this.links.values()].map(async (link) => {
        for (const ep of link.endpointsLeaderFirst()) {
          try {
            const r = (await requestOnce(ep, { op: 'status' }, READINESS_PROBE_TIMEOUT_MS, link.tls)) as {
              ok?: boolean;
              status?: { role: string; leader: number; commit: number; applied: number };
            };
            if (r.ok === true && r.status !== undefined && r.status.leader !== 0)
              return {
                shard: link.shard.id,
                leader: r.status.leader,
                commit: r.status.commit,
                applied: r.status.applied,
              };
          } catch {
            // next replica
          }
        }
        return { shard: link.shard.id, leader: null, commit: null, applied: null };
      }),
    );
    return { ready: !this.stopped && shards.every((s) => s.leader !== null), shards };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // A REST dead-man's switch guards against its client going silent, not the gateway stopping.
    for (const t of this.cancelAfter.values()) clearTimeout(t.timer);
    this.cancelAfter.clear();
    for (const s of [...this.sessions]) s.close();
    // Sessions ending with the gateway still get their cancel-on-disconnect (each bounded by
    // REQUEST_TIMEOUT_MS per command) before the shard links close.
    await Promise.all([...this.autoCancels]);
    for (const l of this.links.values()) l.close();
    // After the automatic cancels: their reports are journaled too.
    this.userStreamJournal?.close();
    await this.chain
      .close()
      .catch((err: unknown) => this.log.error('report chain: close failed', { err: errorMessage(err) }));
    await this.pool.close();
  }

  private readonly prices: PriceReference = {
    reference: (symbol) => this.references.get(symbol) ?? null,
    instrument: (symbol) => this.instruments.get(symbol)?.inst,
  };

  // -------------------------------------------------------------------------------------------
  // Unary requests
  // -------------------------------------------------------------------------------------------

  async handle(req: RawRequest): Promise<GatewayReply> {
    const t0 = performance.now();
    const protocol = req.encoding === 'json' ? 'rest' : 'grpc';
    const trace = new OrderTrace(protocol, req.op, req.receivedAtMs ?? t0);
    const reply = await this.handleRequest(req, trace);
    trace.written = performance.now();
    this.metrics.observe(protocol, req.op, reply.ok ? 'OK' : reply.error.code, (trace.written - t0) / 1000);
    this.traces.finish(trace);
    return reply;
  }

  /** The rate-limit state of an API key's bucket, to report with a reply (undefined: not a rate-limited key). */
  private rateLimit(apiKey: string | undefined): RateLimitState | undefined {
    return apiKey === undefined ? undefined : this.buckets.get(apiKey)?.state(Date.now());
  }

  /** Takes `n` tokens of the API key's bucket; if it is short, counts the refusal and says when to retry. */
  private takeTokens(apiKey: string, n: number): GatewayError | undefined {
    const wait = this.buckets.get(apiKey)?.take(n, Date.now()) ?? 0;
    if (wait <= 0) return undefined;
    this.stats.rateLimited++;
    this.metrics.rateLimited.inc(n);
    return gatewayError(ErrorCode.RATE_LIMITED, ErrorReason.API_KEY_RATE, `rate limit of API key ${apiKey}`, {
      retry_after_ms: wait,
    });
  }

  /** The receive window of signed requests (ms): GET /v1/time tells clients. */
  get receiveWindowMs(): number {
    return this.config.receiveWindowMs;
  }

  private async handleRequest(req: RawRequest, trace: OrderTrace): Promise<GatewayReply> {
    if (this.stopped) return fail(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping');
    const v = await this.pool.validate(req);
    trace.validated = performance.now();
    if (!v.ok) return withRateLimit({ ok: false, error: v.error }, this.rateLimit(v.apiKey));
    if (v.admin)
      return fail(ErrorCode.PERMISSION_DENIED, ErrorReason.ADMIN_KEY_NOT_ALLOWED, 'admin keys use the admin API only');
    const limited = this.takeTokens(v.apiKey, 1);
    const rateLimit = this.rateLimit(v.apiKey);
    if (limited !== undefined) return withRateLimit({ ok: false, error: limited }, rateLimit);
    const r = await this.execute(v.account, v.apiKey, v.command, undefined, trace);
    return withRateLimit(r.ok ? { ok: true, body: r.body } : { ok: false, error: r.error }, rateLimit);
  }

  /** Risk, routing, delivery and report signing of one validated command (`session`: the order session it came on). */
  private async execute(
    account: number,
    apiKey: string,
    c: ValidatedCommand,
    session: Session | undefined,
    trace: OrderTrace,
  ): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; error: GatewayError }> {
    const risk = this.accounts.get(account);
    if (risk === undefined)
      return fail(
        ErrorCode.PERMISSION_DENIED,
        ErrorReason.ACCOUNT_NOT_CONFIGURED,
        `account ${account} is not configured`,
      );
    if (c.op === 'GetOrder') return this.getOrder(account, c);
    if (c.op === 'CancelAllAfter') return this.cancelAllAfter(account, apiKey, c.timeoutMs ?? 0);
    const refused = this.refuseBeforeSending(account, risk, c, session);
    if (refused !== undefined) return refused;
    this.stats.commands++;
    const place = c.op === 'PlaceOrder';
    if (place) risk.pendingPlaces++;
    if (place && session !== undefined) session.pendingPlaces++;
    try {
      const now = performance.now();
      if (trace.checked === 0) trace.checked = now;
      if (trace.sent === 0) trace.sent = now;
      const results = await Promise.all(c.shards.map((s) => this.submit(s, c.body!, session?.clientHint)));
      trace.replied = performance.now();
      const failed = results.find((r): r is { ok: false; error: GatewayError } => !r.ok);
      if (failed !== undefined) return failed;
      const ok = results as ShardResult[];
      const out = absorbed();
      for (const r of ok) this.absorb(r, account, place ? session : undefined, c.op, out);
      if (out.others !== undefined) void this.pushToSessions(out.others);
      const first = ok[0]!;
      if (trace.logIndex === 0) {
        trace.shard = first.shard;
        trace.logIndex = first.result.appliedIndex;
      }
      await this.sign(apiKey, out.mine, out.canonical);
      trace.signed = performance.now();
      const result: OrderResultOut = {
        seq: first.result.seq,
        log_index: first.result.appliedIndex,
        shard: first.shard,
        reports: out.mine,
      };
      // A refusal after sequencing still carries what the command did: its reports (the REJECTED
      // one) are chained and signed above, and a client that never received them would see a
      // gap in its own chain_seq.
      if (out.rejection !== undefined) return { ok: false, error: { ...out.rejection, result } };
      return { ok: true, body: c.op === 'MassCancel' ? { result, canceled_count: out.canceled } : { result } };
    } finally {
      if (place) risk.pendingPlaces--;
      if (place && session !== undefined) session.pendingPlaces--;
    }
  }

  /** Pre-trade refusals: risk, a foreign order known to this gateway, a full SESSION-scope session. */
  private refuseBeforeSending(
    account: number,
    risk: AccountRisk,
    c: ValidatedCommand,
    session: Session | undefined,
  ): { ok: false; error: GatewayError } | undefined {
    const riskError = checkRisk(risk, c, this.prices);
    if (riskError !== undefined) {
      this.stats.rejectedByRisk++;
      this.metrics.riskRejects.labels(riskError.code).inc();
      return { ok: false, error: riskError };
    }
    // Ownership of an order known to this gateway: a foreign order is refused before it costs a log entry.
    if ((c.op === 'CancelOrder' || c.op === 'AmendOrder') && c.orderId !== undefined) {
      const known = this.view.get(toGlobalOrderId(c.shards[0]!, c.orderId));
      if (known !== undefined && known.report.account !== account) return foreignOrder();
    }
    // A SESSION-scope session must be able to cancel every order it placed: it tracks at most SESSION_LIVE_ORDERS_MAX.
    if (
      c.op === 'PlaceOrder' &&
      session?.scope === 'SESSION' &&
      session.liveOrders.size + session.pendingPlaces >= SESSION_LIVE_ORDERS_MAX
    ) {
      this.stats.rejectedByRisk++;
      this.metrics.riskRejects.labels(ErrorCode.RISK_MAX_OPEN_ORDERS).inc();
      return fail(
        ErrorCode.RISK_MAX_OPEN_ORDERS,
        ErrorReason.SESSION_LIVE_ORDERS_MAX,
        `this session (cancel scope SESSION) has ${SESSION_LIVE_ORDERS_MAX} live orders and places in flight (SESSION_LIVE_ORDERS_MAX)`,
      );
    }
    return undefined;
  }

  /**
   * Every result the gateway receives goes through here — its clients' commands and the cancels
   * it sends itself — so that each report updates the view of orders, the open-order counts and
   * the SESSION-scope sessions' order sets. The reports of `requester` (0: none, a cancel of the
   * gateway's own) go to `out.mine` (the reply); the others to `out.others`, for their
   * accounts' open sessions. `placer`: the session whose PlaceOrder this is (its NEW orders are tracked).
   */
  private absorb(r: ShardResult, requester: number, placer: Session | undefined, op: string, out: Absorbed): void {
    for (const e of r.events) {
      if (e.kind === 'exec') {
        // With the decimal strings of the order's instrument (not signed: api/execution-report.ts).
        const rep = toReport(r.shard, e, this.instruments.get(e.symbol)?.inst);
        const canon = canonicalReport(rep);
        if (placer?.scope === 'SESSION' && e.account === requester && e.execType === ExecType.NEW)
          this.trackSessionOrder(placer, rep.order_id);
        this.noteReport(r.shard, r.result.appliedIndex, e, rep, canon);
        this.userStreams.publish(rep, canon);
        for (const d of this.dropCopies) if (d.accounts.has(e.account)) d.deliver(rep);
        if (e.account !== requester) {
          if (this.sessionsOf.has(e.account)) (out.others ??= []).push(rep);
        } else {
          out.mine.push(rep);
          out.canonical.push(canon);
          if (e.execType === ExecType.REJECTED && out.rejection === undefined)
            out.rejection = rejectError(
              e.reason,
              `order rejected: ${reasonName(e.reason)}`,
              r.result.seq,
              rep.order_id,
            );
        }
      } else if (e.kind === 'cancel_reject' && e.account === requester && out.rejection === undefined) {
        out.rejection = rejectError(
          e.reason,
          `${op === 'AmendOrder' ? 'amend' : 'cancel'} rejected: ${reasonName(e.reason)}`,
          r.result.seq,
          e.orderId > 0 ? toGlobalOrderId(r.shard, e.orderId) : undefined,
        );
      } else if (e.kind === 'mass_cancel' && e.account === requester) {
        out.canceled += e.canceledCount;
      } else if (e.kind === 'command_reject' && out.rejection === undefined) {
        out.rejection = rejectError(e.reason, `command rejected: ${reasonName(e.reason)}`, r.result.seq);
      }
    }
  }

  private async submit(
    shard: number,
    body: Uint8Array,
    clientHint: number | undefined,
  ): Promise<
    { ok: true; shard: number; result: SubmitResult; events: EngineEvent[] } | { ok: false; error: GatewayError }
  > {
    const link = this.links.get(shard);
    if (link === undefined) return fail(ErrorCode.NOT_FOUND, ErrorReason.UNKNOWN_SHARD, `no shard ${shard}`);
    if (link.inflight >= SHARD_INFLIGHT_MAX) {
      this.stats.overloaded++;
      this.metrics.overloaded.inc();
      return fail(
        ErrorCode.OVERLOADED,
        ErrorReason.SHARD_INFLIGHT_MAX,
        `shard ${shard}: ${link.inflight} commands in flight`,
        {
          retry_after_ms: 100,
        },
      );
    }
    link.inflight++;
    try {
      const r = await link.submit(body, clientHint);
      if (r === 'timeout') {
        this.stats.timeouts++;
        return fail(
          ErrorCode.UNAVAILABLE,
          ErrorReason.REQUEST_TIMEOUT,
          `shard ${shard}: not acknowledged within ${REQUEST_TIMEOUT_MS} ms (it may still take effect, once)`,
        );
      }
      // The replica session was lost (evicted after going unused while SESSION_COUNT_MAX other
      // sessions were registered): the command was sent, and whether a copy took effect before
      // the eviction cannot be told. Like a timeout: the client checks before sending it again.
      if (r instanceof ClientRequestError && SESSION_LOST_CODES.has(r.code)) {
        return fail(
          ErrorCode.UNAVAILABLE,
          ErrorReason.OUTCOME_UNKNOWN,
          `shard ${shard}: outcome unknown (${r.code}: the replicas no longer hold this gateway's session); the command may or may not have taken effect: check it with GetOrder or the read models before sending it again`,
        );
      }
      if (r instanceof Error) return fail(ErrorCode.UNAVAILABLE, ErrorReason.NO_LEADER, `shard ${shard}: ${r.message}`);
      // A command resent after a timeout that the replicas had already applied comes back as
      // DUPLICATE with the original's result from the replica that answered it first — but not
      // from another one (a new leader). Then it took effect exactly once, but acknowledging it
      // here would mean an order id of 0 and no reports: say so instead.
      if (r.outcome === 'DUPLICATE' && r.eventBytes.length === 0) {
        return fail(
          ErrorCode.UNAVAILABLE,
          ErrorReason.RESULT_NOT_HELD,
          `shard ${shard}: the command took effect (once) but its result is no longer held by the replicas after a failover; check it with GetOrder or the read models`,
        );
      }
      return {
        ok: true,
        shard,
        result: r,
        events: r.eventBytes.length === 0 ? [] : decodeEvents(r.eventBytes, 0, r.eventBytes.length),
      };
    } finally {
      link.inflight--;
    }
  }

  /** Updates open-order counts, the view of orders and the sessions' order sets from any exec report. */
  private noteReport(shard: number, logIndex: number, e: ExecReport, rep: ExecutionReportOut, canonical: string): void {
    const orderId = rep.order_id;
    const final = FINAL_STATUS.has(e.ordStatus);
    const a = this.accounts.get(e.account);
    if (a !== undefined) {
      if (final) a.open.delete(orderId);
      else a.open.add(orderId);
    }
    // NEW and REPLACED reports accept the order under their client order id (an amend may change it).
    this.view.note(shard, logIndex, rep, canonical, e.execType === ExecType.NEW || e.execType === ExecType.REPLACED);
    if (final) this.untrackSessionOrder(orderId);
  }

  private trackSessionOrder(s: Session, orderId: number): void {
    s.liveOrders.add(orderId);
    this.sessionOrders.set(orderId, s);
  }

  private untrackSessionOrder(orderId: number): void {
    const s = this.sessionOrders.get(orderId);
    if (s === undefined) return;
    s.liveOrders.delete(orderId);
    this.sessionOrders.delete(orderId);
  }

  /**
   * Pushes reports of other accounts (fills of their resting orders) to those accounts' open
   * sessions on this gateway, each copy chained and signed for its session. Sessions on other
   * gateways see them through the read models (events/).
   */
  private async pushToSessions(reports: ExecutionReportOut[]): Promise<void> {
    const byAccount = new Map<number, ExecutionReportOut[]>();
    for (const r of reports) {
      const list = byAccount.get(r.account);
      if (list === undefined) byAccount.set(r.account, [r]);
      else list.push(r);
    }
    for (const [acct, list] of byAccount) {
      for (const s of this.sessionsOf.get(acct) ?? []) {
        const copies = list.map((r) => ({ ...r }));
        await this.sign(s.apiKey, copies, copies.map(canonicalReport));
        s.push(copies);
      }
    }
  }

  /** Chain (in send order) and HMAC-sign the reports of one reply; canonical[k] is canonicalReport(reports[k]). */
  private async sign(apiKey: string, reports: ExecutionReportOut[], canonical: string[]): Promise<void> {
    if (reports.length === 0) return;
    for (let k = 0; k < reports.length; k++) this.chain.append(reports[k]!, canonical[k]!);
    const sigs = await this.pool.signReports(apiKey, canonical);
    for (let k = 0; k < reports.length; k++) reports[k]!.signature = sigs[k] ?? '';
  }

  /** GetOrder: the order (findOrder), with the decimal strings of its instrument. */
  private async getOrder(
    account: number,
    c: ValidatedCommand,
  ): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; error: GatewayError }> {
    const r = await this.findOrder(account, c);
    if (r.ok) {
      const order = r.body.order as OrderOut;
      const inst = this.instruments.get(order.symbol)?.inst;
      if (inst !== undefined) orderWithDecimals(order, inst);
    }
    return r;
  }

  /**
   * GetOrder by client order id on several shards (no symbol given): asked on each. Found on one
   * shard: that order; on none: NOT_FOUND (or a shard's UNAVAILABLE, which might have held it);
   * on several (client order ids are unique per shard only): refused, the symbol is needed.
   */
  private async findOrderOnEveryShard(
    account: number,
    c: ValidatedCommand,
  ): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; error: GatewayError }> {
    const replies = await Promise.all(c.shards.map((shard) => this.findOrder(account, { ...c, shards: [shard] })));
    const found = c.shards.filter((_, k) => replies[k]!.ok);
    if (found.length === 1) return replies[c.shards.indexOf(found[0]!)]!;
    if (found.length > 1)
      return fail(
        ErrorCode.INVALID_ARGUMENT,
        ErrorReason.FIELD_MISSING,
        `client order id ${c.clientOrderId} names orders on shards ${found.join(', ')}: give the symbol`,
        { field: 'symbol' },
      );
    return replies.find((r) => !r.ok && r.error.code !== ErrorCode.NOT_FOUND) ?? replies[0]!;
  }

  private async findOrder(
    account: number,
    c: ValidatedCommand,
  ): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; error: GatewayError }> {
    if (c.clientOrderId !== undefined && c.shards.length > 1) return this.findOrderOnEveryShard(account, c);
    const shard = c.shards[0]!;
    const link = this.links.get(shard);
    if (link === undefined) return fail(ErrorCode.NOT_FOUND, ErrorReason.UNKNOWN_SHARD, `no shard ${shard}`);
    if (c.clientOrderId === undefined) return this.getOrderById(account, link, toGlobalOrderId(shard, c.orderId!));
    // The account's live order with that client order id (unique among its live orders: the
    // engine refuses a duplicate), else the most recent order this gateway saw accepted under it.
    const book = await this.readBook(link, { account, clOrdId: c.clientOrderId }, 0);
    if (book.order !== undefined) {
      const id = toGlobalOrderId(shard, book.order.orderId);
      return this.liveOrderReply(account, id, book.order, this.view.get(id));
    }
    const id = this.view.orderIdOf(account, shard, c.clientOrderId);
    if (id !== undefined) return this.getOrderById(account, link, id);
    if (!book.read) return noReplica(`client order id ${c.clientOrderId}`, shard);
    return fail(
      ErrorCode.NOT_FOUND,
      'ORDER_NOT_FOUND',
      `no order with client order id ${c.clientOrderId} (not live, and not seen by this gateway)`,
    );
  }

  /**
   * GetOrder by order id. The rule: a final report seen is the answer (a done order never comes
   * back); otherwise the book, read on a replica that has applied at least the entry of the last
   * report seen (a lagging follower is skipped), is authoritative: live there → its state; not
   * there → ENDED if this gateway saw the order (it ended, but its final report never reached this
   * gateway), NOT_FOUND if not. Never NEW or PARTIALLY_FILLED for an order the book does not hold.
   */
  private async getOrderById(
    account: number,
    link: ShardLink,
    id: number,
  ): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; error: GatewayError }> {
    const seen = this.view.get(id);
    if (seen !== undefined && seen.report.account !== account) return foreignOrder(id);
    if (seen !== undefined && isFinalStatus(seen.report.order_status))
      return { ok: true, body: { order: orderFromReport(seen.report, seen.report.order_status) } };
    const book = await this.readBook(link, { orderId: fromGlobalOrderId(id).seq }, seen?.logIndex ?? 0);
    if (book.order !== undefined) return this.liveOrderReply(account, id, book.order, seen);
    // No replica answered (down, refusing connections under load, or behind): a live order may exist.
    if (!book.read) return noReplica(`order ${id}`, link.shard.id);
    if (seen === undefined)
      return fail(
        ErrorCode.NOT_FOUND,
        'ORDER_NOT_FOUND',
        `order ${id} not found (not live, and not seen by this gateway)`,
        {
          order_id: id,
        },
      );
    return { ok: true, body: { order: { ...orderFromReport(seen.report, 'ENDED'), leaves_qty: 0 } } };
  }

  /**
   * One book read (op 'order'), leader first: the first replica that answers having applied at
   * least `minApplied` (the entry of the last report seen of the order) is authoritative.
   */
  private async readBook(
    link: ShardLink,
    query: { orderId: number } | { account: number; clOrdId: string },
    minApplied: number,
  ): Promise<{ read: boolean; order: LiveOrder | undefined }> {
    for (const ep of link.endpointsLeaderFirst()) {
      let r: Record<string, unknown>;
      try {
        r = await requestOnce(ep, { op: 'order', ...query }, BOOK_READ_TIMEOUT_MS, link.tls);
      } catch {
        continue;
      }
      if (r.ok !== true || typeof r.applied !== 'number' || r.applied < minApplied) continue;
      return { read: true, order: (r.order as LiveOrder | null) ?? undefined };
    }
    return { read: false, order: undefined };
  }

  private liveOrderReply(
    account: number,
    id: number,
    o: LiveOrder,
    seen: ViewedOrder | undefined,
  ): { ok: true; body: Record<string, unknown> } | { ok: false; error: GatewayError } {
    if (o.account !== account) return foreignOrder(id);
    const order: OrderOut = {
      order_id: id,
      client_order_id: o.clOrdId,
      account: o.account,
      symbol: o.symbol,
      side: ENUM_NAMES.side.get(o.side) ?? '',
      order_type: ENUM_NAMES.ordType.get(o.ordType) ?? '',
      order_status: o.pending ? 'PENDING_TRIGGER' : o.cumQty > 0 ? 'PARTIALLY_FILLED' : 'NEW',
      price: o.price,
      stop_price: o.stopPrice,
      order_qty: o.orderQty,
      cum_qty: o.cumQty,
      leaves_qty: o.leavesQty,
      display_qty: seen?.report.display_qty ?? 0,
      time_in_force: ENUM_NAMES.tif.get(o.tif) ?? '',
    };
    return { ok: true, body: { order } };
  }

  // -------------------------------------------------------------------------------------------
  // Cancels the gateway sends itself: sessions' cancel-on-disconnect and dead-man's switch, the
  // REST dead-man's switch (CancelAllAfter). Their reports go through absorb like any other.
  // -------------------------------------------------------------------------------------------

  /**
   * CancelAllAfter (REST `POST /v1/orders/cancel-all-after`): the API key's dead-man's switch.
   * Each call replaces the key's timer (one per key at most, so as many as configured keys);
   * 0 disarms. When it fires, every order of the account is canceled on every shard.
   */
  private cancelAllAfter(
    account: number,
    apiKey: string,
    timeoutMs: number,
  ): { ok: true; body: Record<string, unknown> } {
    const nowMs = Date.now();
    clearTimeout(this.cancelAfter.get(apiKey)?.timer);
    this.cancelAfter.delete(apiKey);
    if (timeoutMs === 0 || this.stopped) return { ok: true, body: { current_time_ms: nowMs, trigger_time_ms: 0 } };
    const timer = setTimeout(() => {
      this.cancelAfter.delete(apiKey);
      this.cancelAccountOrders(account, 'cancel-all-after', undefined, { apiKey, timeoutMs }).catch((err: unknown) =>
        this.log.error('cancel-all-after: failed', { account, err: errorMessage(err) }),
      );
    }, timeoutMs);
    timer.unref();
    this.cancelAfter.set(apiKey, { timer, triggerMs: nowMs + timeoutMs });
    return { ok: true, body: { current_time_ms: nowMs, trigger_time_ms: nowMs + timeoutMs } };
  }

  /**
   * @internal (Session) Its cancel-on-disconnect or dead-man's switch fired: once `answered`
   * (its requests already sent are answered, so that an order placed just before is among those
   * canceled), cancel by its scope. Never rejects.
   */
  autoCancel(s: Session, why: string, answered: Promise<unknown>): Promise<void> {
    const fields = { account: s.account, scope: s.scope };
    const p = answered
      .then(() =>
        s.scope === 'ACCOUNT'
          ? this.cancelAccountOrders(s.account, why, s.clientHint, fields)
          : this.cancelOrdersById(s.account, [...s.liveOrders], why, s.clientHint, fields),
      )
      .catch((err: unknown) => this.log.error(`${why}: failed`, { ...fields, err: errorMessage(err) }))
      .finally(() => this.autoCancels.delete(p));
    this.autoCancels.add(p);
    return p;
  }

  /** Every order of the account on every shard (mass_cancel). */
  private async cancelAccountOrders(account: number, why: string, hint: number | undefined, fields: LogFields) {
    this.log.info('cancelling every order of the account', { account, why, ...fields });
    const body = encodeJsonCommand({ type: 'mass_cancel', account });
    this.absorbOwn(await Promise.all([...this.links.keys()].map((s) => this.submit(s, body, hint))), why);
  }

  /** The given orders of the account, by order id, SESSION_CANCEL_BATCH_MAX in flight at once. */
  private async cancelOrdersById(
    account: number,
    ids: number[],
    why: string,
    hint: number | undefined,
    fields: LogFields,
  ) {
    if (ids.length === 0) return;
    this.log.info("cancelling the session's orders", { account, why, orders: ids.length, ...fields });
    for (let at = 0; at < ids.length; at += SESSION_CANCEL_BATCH_MAX) {
      const chunk = ids.slice(at, at + SESSION_CANCEL_BATCH_MAX);
      const results = await Promise.all(
        chunk.map((id) => {
          const { shard, seq } = fromGlobalOrderId(id);
          return this.submit(shard, encodeJsonCommand({ type: 'cancel', account, orderId: seq }), hint);
        }),
      );
      this.absorbOwn(results, why);
      // Answered: canceled (untracked by its report), or not live any more (its end not seen here).
      for (let k = 0; k < chunk.length; k++) if (results[k]!.ok) this.untrackSessionOrder(chunk[k]!);
    }
  }

  /** Results of the gateway's own cancels: absorbed (the view), their reports pushed to the accounts' open sessions. */
  private absorbOwn(results: ({ ok: false; error: GatewayError } | ShardResult)[], why: string): void {
    const out = absorbed();
    for (const r of results) {
      if (r.ok) this.absorb(r, 0, undefined, why, out);
      else this.log.error('a cancel of the gateway failed', { why, code: r.error.code, err: r.error.message });
    }
    if (out.others !== undefined) void this.pushToSessions(out.others);
  }

  // -------------------------------------------------------------------------------------------
  // Instruments (no authentication: public reference data)
  // -------------------------------------------------------------------------------------------

  async listInstruments(): Promise<GatewayReply> {
    if (this.stopped) return fail(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping');
    const shards = this.config.shards;
    const states = await Promise.all(shards.map((s) => this.instrumentReads.get(s.id)!.get()));
    const instruments: InstrumentOut[] = [];
    for (const [k, s] of shards.entries()) {
      const st = states[k];
      if (st === undefined)
        return fail(
          ErrorCode.UNAVAILABLE,
          ErrorReason.NO_REPLICA_ANSWERED,
          `instruments: no replica of shard ${s.id} answered; retry`,
          { retry_after_ms: INSTRUMENTS_RETRY_AFTER_MS },
        );
      const list = shardInstruments(s.id, s.instruments, st);
      if (typeof list === 'string') {
        this.log.error('ListInstruments: answered INTERNAL', { reason: list });
        return fail(ErrorCode.INTERNAL, ErrorReason.INTERNAL, list);
      }
      instruments.push(...list);
    }
    return { ok: true, body: { instruments } };
  }

  // -------------------------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------------------------

  async openSession(auth: AuthHeaders, target: string, opts: SessionOptions): Promise<GatewaySession | GatewayError> {
    if (this.stopped) return gatewayError(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping');
    if (this.sessions.size >= SESSIONS_MAX)
      return gatewayError(ErrorCode.OVERLOADED, ErrorReason.SESSIONS_MAX, `${SESSIONS_MAX} sessions open`, {
        retry_after_ms: 1000,
      });
    const a = await this.pool.authenticateSession(auth, target);
    if (!a.ok) return a.error;
    if (a.admin)
      return gatewayError(
        ErrorCode.PERMISSION_DENIED,
        ErrorReason.ADMIN_KEY_NOT_ALLOWED,
        'admin keys cannot open order sessions',
      );
    const s = new Session(this, a.account, a.apiKey, opts, randomInt(0, 1 << 30));
    this.sessions.add(s);
    let mine = this.sessionsOf.get(s.account);
    if (mine === undefined) this.sessionsOf.set(s.account, (mine = new Set()));
    mine.add(s);
    return s;
  }

  /**
   * A drop copy of `accounts`' reports (the FIX acceptor's drop-copy sessions): authenticated like
   * a session (signature over `target`, the window, the replay cache) with an admin key, the
   * only keys operators grant drop copy to. Each report absorbed afterwards for one of the
   * accounts is handed to `onReport`, synchronously, in the order absorbed (the subscriber queues).
   */
  async openDropCopy(
    auth: AuthHeaders,
    target: string,
    accounts: readonly number[],
  ): Promise<DropCopySubscription | GatewayError> {
    if (this.stopped) return gatewayError(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping');
    if (this.sessions.size + this.dropCopies.size >= SESSIONS_MAX)
      return gatewayError(ErrorCode.OVERLOADED, ErrorReason.SESSIONS_MAX, `${SESSIONS_MAX} sessions open`, {
        retry_after_ms: 1000,
      });
    const a = await this.pool.authenticateSession(auth, target);
    if (!a.ok) return a.error;
    if (!a.admin)
      return gatewayError(ErrorCode.PERMISSION_DENIED, ErrorReason.NOT_AN_ADMIN_KEY, 'drop copy needs an admin key');
    const unknown = accounts.find((acct) => !this.accounts.has(acct));
    if (unknown !== undefined)
      return gatewayError(
        ErrorCode.PERMISSION_DENIED,
        ErrorReason.ACCOUNT_NOT_CONFIGURED,
        `account ${unknown} is not configured`,
      );
    const d = new DropCopy(new Set(accounts), (dc) => this.dropCopies.delete(dc));
    this.dropCopies.add(d);
    return d;
  }

  /** @internal (Session) GetOrder for the session's account, without a signature of its own (the session is authenticated). */
  async sessionGetOrder(s: Session, request: Record<string, unknown>): Promise<GatewayReply> {
    if (this.stopped) return fail(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping');
    const v = validateCommand(Operation.GET_ORDER, request, { account: s.account, shards: this.shardInfos });
    if (!v.ok) return { ok: false, error: v.error };
    // A GetOrder costs a book read on a replica: rate limited like the unary GetOrder.
    const limited = this.takeTokens(s.apiKey, 1);
    if (limited !== undefined) return { ok: false, error: limited };
    return this.getOrder(s.account, v.command);
  }

  /** The shards as validation sees them (the validation workers' own copy: worker-pool.ts workerDataOf). */
  private get shardInfos(): ShardInfo[] {
    this.shardInfoCache ??= workerDataOf(this.config).shards;
    return this.shardInfoCache;
  }
  private shardInfoCache: ShardInfo[] | undefined;

  /** @internal (Session) */
  async sessionMessage(s: Session, body: Uint8Array, receivedAtMs?: number): Promise<Record<string, unknown>> {
    const t0 = performance.now();
    const trace = new OrderTrace('grpc_session', 'OrderSession', receivedAtMs ?? t0);
    const reply = await this.sessionRequest(s, body, trace);
    trace.written = performance.now();
    const err = reply.error as GatewayError | undefined;
    this.metrics.observe(
      'grpc_session',
      'OrderSession',
      err === undefined ? 'OK' : err.code,
      (trace.written - t0) / 1000,
    );
    this.traces.finish(trace);
    return reply;
  }

  private async sessionRequest(s: Session, body: Uint8Array, trace: OrderTrace): Promise<Record<string, unknown>> {
    const v = await this.pool.validateSession(s.account, body);
    trace.validated = performance.now();
    // A refused request still answers with its own id (0 only when it could not be read):
    // request_id 0 is the unsolicited reports' (types.ts GatewaySession.onUnsolicited).
    if (!v.ok) return { request_id: v.requestId ?? 0, outcomes: [], error: v.error };
    const n = v.commands.length;
    trace.commands = n;
    if (n > 0) {
      const limited = this.takeTokens(s.apiKey, n);
      if (limited !== undefined) return { request_id: v.requestId, outcomes: [], error: limited };
    }
    // Commands of a batch are submitted in order through the session's own replica client,
    // so they are applied in that order.
    const outcomes = await Promise.all(
      v.commands.map((c) =>
        c.ok
          ? this.execute(s.account, s.apiKey, c.command, s, trace)
          : Promise.resolve({ ok: false as const, error: c.error }),
      ),
    );
    return {
      request_id: v.requestId,
      outcomes: outcomes.map((o) => (o.ok ? { result: o.body.result } : { error: o.error })),
    };
  }

  /**
   * The slow-order dump (POST /v1/admin/slow-orders, `matchbook slow-orders`): the slowest
   * recent requests, newest first, each with its gateway stages and — joined by log index —
   * the leader's stages of the entry that carried it (replicator/entry-trace.ts), when the
   * leader still holds them.
   */
  private async slowOrders(
    limit: unknown,
  ): Promise<{ slowOrders: (SlowOrder & { leader?: unknown })[]; slowOrderMs: number }> {
    const n =
      typeof limit === 'number' && Number.isSafeInteger(limit) && limit > 0
        ? Math.min(limit, SLOW_ORDERS_MAX)
        : SLOW_ORDERS_DUMP_DEFAULT;
    const slow: (SlowOrder & { leader?: unknown })[] = this.traces.slow().slice(0, n);
    const byShard = new Map<number, number[]>();
    for (const s of slow)
      if (s.logIndex > 0) (byShard.get(s.shard) ?? byShard.set(s.shard, []).get(s.shard)!).push(s.logIndex);
    for (const [shard, indexes] of byShard) {
      const link = this.links.get(shard);
      const ep = link?.endpointsLeaderFirst()[0];
      if (ep === undefined) continue;
      try {
        const r = (await requestOnce(
          ep,
          { op: 'trace', indexes: [...new Set(indexes)].slice(0, TRACE_INDEXES_MAX) },
          READINESS_PROBE_TIMEOUT_MS,
          link?.tls,
        )) as { ok?: boolean; entries?: { index: number }[] };
        if (r.ok !== true || r.entries === undefined) continue;
        const at = new Map(r.entries.map((e) => [e.index, e]));
        for (const s of slow)
          if (s.shard === shard) s.leader = { node: ep.id, ...(at.get(s.logIndex) ?? { unknown: true }) };
      } catch {
        // The leader did not answer: the gateway's own stages still stand.
      }
    }
    return { slowOrders: slow, slowOrderMs: this.config.slowOrderMs };
  }

  /** @internal (Session) The session is closed and its automatic cancels are done: stop tracking its orders. */
  forgetSessionOrders(s: Session): void {
    for (const id of s.liveOrders) this.sessionOrders.delete(id);
    s.liveOrders.clear();
  }

  /** @internal */
  sessionClosed(s: Session): void {
    this.sessions.delete(s);
    const mine = this.sessionsOf.get(s.account);
    mine?.delete(s);
    if (mine?.size === 0) this.sessionsOf.delete(s.account);
  }

  // -------------------------------------------------------------------------------------------
  // Admin API (REST /v1/admin/*): kill switch, halt/resume, reference price
  // -------------------------------------------------------------------------------------------

  async admin(req: Omit<RawRequest, 'op' | 'encoding'> & { op: string }): Promise<GatewayReply> {
    const a = authenticate(this.keyEntries, req.auth, req.target, req.body, Date.now(), this.config.receiveWindowMs);
    if (!a.ok) return { ok: false, error: a.error };
    if (!a.admin) return fail(ErrorCode.PERMISSION_DENIED, ErrorReason.NOT_AN_ADMIN_KEY, 'not an admin key');
    let body: Record<string, unknown>;
    let text: string;
    try {
      text = Buffer.from(req.body).toString('utf8');
      body = JSON.parse(text) as Record<string, unknown>;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
    } catch {
      return fail(ErrorCode.INVALID_ARGUMENT, ErrorReason.MALFORMED_REQUEST, 'body must be a JSON object');
    }
    // Integers as written: a reference price of 4.7e6 is refused like an order's (json-numbers.ts).
    const inexact = inexactInteger(text, ADMIN_INTEGER_FIELDS);
    if (inexact !== undefined)
      return fail(ErrorCode.INVALID_ARGUMENT, ErrorReason.INVALID_INTEGER, inexactIntegerMessage(inexact), {
        field: inexact.field,
      });
    if (req.op === 'SlowOrders') return { ok: true, body: await this.slowOrders(body.limit) };
    const symbolShard = (sym: unknown) => (typeof sym === 'string' ? this.instruments.get(sym)?.shard : undefined);
    let shards: number[];
    let command: Record<string, unknown>;
    switch (req.op) {
      case 'KillSwitch': {
        const account = body.account;
        if (typeof account !== 'number' || !this.accounts.has(account) || typeof body.active !== 'boolean')
          return fail(
            ErrorCode.INVALID_ARGUMENT,
            ErrorReason.FIELD_MISSING,
            'need {account: configured account, active: boolean}',
          );
        this.accounts.get(account)!.blocked = body.active;
        shards = [...this.links.keys()];
        command = { type: 'kill_switch', account, active: body.active };
        break;
      }
      case 'Halt':
      case 'Resume': {
        const s = symbolShard(body.symbol);
        if (s === undefined)
          return fail(ErrorCode.INVALID_ARGUMENT, 'UNKNOWN_INSTRUMENT', 'need {symbol: a known symbol}', {
            field: 'symbol',
          });
        shards = [s];
        command = { type: req.op === 'Halt' ? 'halt' : 'resume', symbol: body.symbol };
        break;
      }
      case 'SetReferencePrice': {
        const s = symbolShard(body.symbol);
        if (s === undefined || typeof body.price !== 'number' || !Number.isSafeInteger(body.price) || body.price <= 0)
          return fail(ErrorCode.INVALID_ARGUMENT, 'INVALID_PRICE', 'need {symbol, price: positive integer}');
        shards = [s];
        command = { type: 'set_reference_price', symbol: body.symbol, price: body.price };
        this.references.set(body.symbol as string, body.price);
        break;
      }
      default:
        return fail(ErrorCode.NOT_FOUND, ErrorReason.UNKNOWN_ADMIN_OPERATION, `no admin operation ${req.op}`);
    }
    const enc = encodeJsonCommand(command);
    const results = await Promise.all(shards.map((s) => this.submit(s, enc, undefined)));
    const bad = results.find((r): r is { ok: false; error: GatewayError } => !r.ok);
    if (bad !== undefined) return bad;
    // The kill switch's cancels: into the view, and to the account's open sessions.
    this.absorbOwn(results, req.op);
    for (const r of results as { ok: true; events: EngineEvent[] }[]) {
      const rej = r.events.find((e) => e.kind === 'command_reject');
      if (rej !== undefined && rej.kind === 'command_reject')
        return { ok: false, error: rejectError(rej.reason, `rejected: ${reasonName(rej.reason)}`, rej.seq) };
    }
    return { ok: true, body: { done: req.op, shards } };
  }
}

class Session implements GatewaySession {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private pendingBytes = 0;
  private closed = false;
  /** Closed but still pushed its unsolicited reports (park()). */
  private parked = false;
  private deadMan: NodeJS.Timeout | undefined;
  onUnsolicited: ((reply: Record<string, unknown>) => void) | undefined = undefined;
  /** Cancel scope SESSION: the live orders this session placed, as far as this gateway saw (at most SESSION_LIVE_ORDERS_MAX). */
  readonly liveOrders = new Set<number>();
  /** PlaceOrders of this session in flight (counted against SESSION_LIVE_ORDERS_MAX). */
  pendingPlaces = 0;
  readonly scope: CancelScope;
  constructor(
    private readonly gw: Gateway,
    readonly account: number,
    readonly apiKey: string,
    private readonly opts: SessionOptions,
    readonly clientHint: number,
  ) {
    this.scope = opts.cancelScope;
    this.armDeadMan();
  }

  private armDeadMan(): void {
    if (this.opts.deadManMs <= 0 || this.closed) return;
    clearTimeout(this.deadMan);
    this.deadMan = setTimeout(() => void this.gw.autoCancel(this, "dead-man's switch", this.tail), this.opts.deadManMs);
    this.deadMan.unref();
  }

  submit(body: Uint8Array, receivedAtMs?: number): Promise<Record<string, unknown>> {
    if (this.closed)
      return Promise.resolve({
        request_id: peekSessionRequestId(body),
        outcomes: [],
        error: gatewayError(ErrorCode.UNAVAILABLE, ErrorReason.SESSION_CLOSED, 'session closed'),
      });
    if (this.pending >= SESSION_PENDING_MAX) {
      return this.refuse(
        body,
        ErrorReason.SESSION_PENDING_MAX,
        `${SESSION_PENDING_MAX} requests waiting in this session`,
      );
    }
    // The first request is always taken, however large (the message size limit bounds it).
    if (this.pending > 0 && this.pendingBytes + body.length > SESSION_PENDING_BYTES_MAX) {
      return this.refuse(
        body,
        ErrorReason.SESSION_PENDING_BYTES_MAX,
        `${this.pendingBytes} bytes of requests waiting in this session (limit ${SESSION_PENDING_BYTES_MAX})`,
      );
    }
    this.armDeadMan();
    this.pending++;
    this.pendingBytes += body.length;
    const work = this.gw.sessionMessage(this, body, receivedAtMs);
    // Replies resolve in submission order, whatever order the shards answer in.
    const reply = this.tail
      .then(() => work)
      .finally(() => {
        this.pending--;
        this.pendingBytes -= body.length;
      });
    this.tail = reply.catch(() => undefined);
    return reply;
  }

  /** GetOrder of the session's account (FIX OrderStatusRequest): the body is GetOrderRequest's fields. */
  getOrder(request: Record<string, unknown>): Promise<GatewayReply> {
    if (this.closed) return Promise.resolve(fail(ErrorCode.UNAVAILABLE, ErrorReason.SESSION_CLOSED, 'session closed'));
    return this.gw.sessionGetOrder(this, request);
  }

  /** Refuses a request at a session limit, at once, echoing its id. */
  private refuse(body: Uint8Array, reason: Why, message: string): Promise<Record<string, unknown>> {
    this.gw.metrics.overloaded.inc();
    this.gw.metrics.observe('grpc_session', 'OrderSession', ErrorCode.OVERLOADED, 0);
    return Promise.resolve({
      request_id: peekSessionRequestId(body),
      outcomes: [],
      error: gatewayError(ErrorCode.OVERLOADED, reason, message, { retry_after_ms: 100 }),
    });
  }

  /** @internal (Gateway) Unsolicited reports for this session's account (a parked session's too). */
  push(reports: ExecutionReportOut[]): void {
    if ((this.closed && !this.parked) || reports.length === 0) return;
    this.onUnsolicited?.({ request_id: 0, outcomes: [], reports });
  }

  /**
   * Ends the session as close() does, but it stays among its account's sessions (and counts
   * against SESSIONS_MAX), so push() goes on — the same reports as open, its own
   * cancel-on-disconnect's included — until close(). Never leaving the account's set is what
   * makes the handover exact: no report is pushed in between.
   */
  park(): void {
    if (this.closed) return;
    this.parked = true;
    this.end();
  }

  close(): void {
    if (this.parked) {
      this.parked = false;
      this.gw.sessionClosed(this);
      return;
    }
    if (this.closed) return;
    this.end();
  }

  private end(): void {
    this.closed = true;
    clearTimeout(this.deadMan);
    if (!this.parked) this.gw.sessionClosed(this);
    const cancel = this.opts.cancelOnDisconnect
      ? this.gw.autoCancel(this, 'cancel-on-disconnect', this.tail)
      : this.tail;
    // Then nothing refers to the session any more (its orders' later reports find no owner).
    void cancel.finally(() => this.gw.forgetSessionOrders(this));
  }
}

/** A drop-copy subscription (Gateway.openDropCopy). */
class DropCopy implements DropCopySubscription {
  onReport: ((report: ExecutionReportOut) => void) | undefined = undefined;
  private closed = false;
  constructor(
    readonly accounts: ReadonlySet<number>,
    private readonly closing: (d: DropCopy) => void,
  ) {}

  /** @internal (Gateway) */
  deliver(report: ExecutionReportOut): void {
    if (!this.closed) this.onReport?.(report);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing(this);
  }
}

// ---------------------------------------------------------------------------------------------

/** A shard's answer to one command. */
type ShardResult = { ok: true; shard: number; result: SubmitResult; events: EngineEvent[] };

/** What absorb sorts a command's events into. */
interface Absorbed {
  /** The requester's reports (its reply), and their canonical forms. */
  mine: ExecutionReportOut[];
  canonical: string[];
  /** Reports of other accounts with open sessions here: pushed to them. */
  others: ExecutionReportOut[] | undefined;
  canceled: number;
  rejection: GatewayError | undefined;
}

function absorbed(): Absorbed {
  return { mine: [], canonical: [], others: undefined, canceled: 0, rejection: undefined };
}

/** GetOrder's Order from a report. */
function orderFromReport(r: ExecutionReportOut, orderStatus: string): OrderOut {
  return {
    order_id: r.order_id,
    client_order_id: r.client_order_id,
    account: r.account,
    symbol: r.symbol,
    side: r.side,
    order_type: r.order_type,
    order_status: orderStatus,
    price: r.price,
    stop_price: r.stop_price,
    order_qty: r.order_qty,
    cum_qty: r.cum_qty,
    leaves_qty: r.leaves_qty,
    display_qty: r.display_qty,
    time_in_force: r.time_in_force,
  };
}

/** Sets GetOrder's decimal strings (OrderOut *_decimal) from its integers and the instrument's decimals. */
function orderWithDecimals(o: OrderOut, d: InstrumentDecimals): void {
  o.price_decimal = formatUnits(o.price, d.priceDecimals);
  o.stop_price_decimal = formatUnits(o.stop_price, d.priceDecimals);
  o.order_qty_decimal = formatUnits(o.order_qty, d.qtyDecimals);
  o.cum_qty_decimal = formatUnits(o.cum_qty, d.qtyDecimals);
  o.leaves_qty_decimal = formatUnits(o.leaves_qty, d.qtyDecimals);
  o.display_qty_decimal = formatUnits(o.display_qty, d.qtyDecimals);
}

/** No replica of the shard gave an authoritative book read: a live order may exist, so NOT_FOUND (or a stale status) would be a lie. */
function noReplica(what: string, shard: number): { ok: false; error: GatewayError } {
  return {
    ok: false,
    error: gatewayError(
      ErrorCode.UNAVAILABLE,
      ErrorReason.NO_REPLICA_ANSWERED,
      `${what}: no replica of shard ${shard} answered; retry`,
      { retry_after_ms: 100 },
    ),
  };
}

/** The engine state of a shard's instruments from its replicas, leader first (op 'instruments'); undefined if none answered. */
async function readInstrumentStates(link: ShardLink): Promise<InstrumentEngineState[] | undefined> {
  for (const ep of link.endpointsLeaderFirst()) {
    try {
      const states = parseInstrumentStates(
        await requestOnce(ep, { op: 'instruments' }, INSTRUMENTS_READ_TIMEOUT_MS, link.tls),
      );
      if (states !== undefined) return states;
    } catch {
      // next replica
    }
  }
  return undefined;
}

function fail(
  code: ErrorCode,
  reason: Why,
  message: string,
  extra?: Parameters<typeof gatewayError>[3],
): { ok: false; error: GatewayError } {
  return { ok: false, error: gatewayError(code, reason, message, extra) };
}

/** PERMISSION_DENIED: the order (global id, when known) belongs to another account. */
function foreignOrder(orderId?: number): { ok: false; error: GatewayError } {
  const extra = orderId === undefined ? undefined : { order_id: orderId };
  return fail(
    ErrorCode.PERMISSION_DENIED,
    ErrorReason.ORDER_OF_ANOTHER_ACCOUNT,
    'the order belongs to another account',
    extra,
  );
}

/** A reply with the rate-limit state of its API key (the edges turn it into headers / metadata). */
function withRateLimit(reply: GatewayReply, rateLimit: RateLimitState | undefined): GatewayReply {
  if (rateLimit !== undefined) reply.rateLimit = rateLimit;
  return reply;
}

/** The error of a command the engine refused after sequencing: its reject reason, its seq, the order it concerns. */
function rejectError(reason: Reason, message: string, seq: number, orderId?: number): GatewayError {
  const name = reasonName(reason) as Why;
  return gatewayError(
    reason === Reason.ORDER_NOT_FOUND ? ErrorCode.NOT_FOUND : ErrorCode.ORDER_REJECTED,
    name,
    message,
    {
      seq,
      ...(orderId !== undefined && orderId > 0 ? { order_id: orderId } : {}),
    },
  );
}

function keyEntry(
  account: number,
  k: { key: string; hmacSecret?: string; ed25519PublicKey?: string },
  admin: boolean,
): KeyEntry {
  return k.hmacSecret !== undefined
    ? { account, admin, hmacSecret: k.hmacSecret }
    : { account, admin, ed25519PublicKey: ed25519PublicKeyFromRaw(k.ed25519PublicKey!) };
}
