// The FIX application (fix/message.ts FixApplication): a Logon authenticated through the gateway
// core becomes a gateway order session (trading) or a drop copy; application messages become the
// session's commands (fix/app-orders.ts) and its results ExecutionReports, OrderCancelRejects and
// OrderMassCancelReports (fix/app-reports.ts). The same core as the gRPC and REST edges, so
// authentication, validation, risk, rate limits and cancel-on-disconnect are theirs, unchanged.
// Replies go out in the order the requests came, each request's reports in the engine's order.

import { randomBytes } from 'node:crypto';
import type { AuthHeaders } from '../api/auth.js';
import { type GatewayError, isGatewayError } from '../api/errors.js';
import type { ExecutionReportOut } from '../api/execution-report.js';
import type { FixConfig } from '../config/gateway-config.js';
import { OrderEntryCodec } from '../gateway/grpc-server.js';
import type { DropCopySubscription, GatewayCore, GatewaySession, OrderOut } from '../gateway/types.js';
import { type Log, NO_LOG, errorMessage } from '../ops/log.js';
import {
  AppTag,
  type Mapped,
  amendCommand,
  cancelCommand,
  massCancelCommand,
  placeCommand,
  statusRequest,
  utcTimestampUs,
} from './app-orders.js';
import {
  type ErrorLike,
  CXL_REJ_TO_CANCEL,
  CXL_REJ_TO_REPLACE,
  MASS_CANCEL_REJ_NOT_SUPPORTED,
  MASS_CANCEL_REJ_OTHER,
  MASS_CANCEL_REJ_UNKNOWN_SECURITY,
  businessReject,
  cancelReject,
  errorText,
  executionReport,
  massCancelReport,
  orderRejectedReport,
  orderStatusReport,
  orderStatusUnknown,
} from './app-reports.js';
import { FIX_APP_PENDING_MAX, FIX_DROP_COPY_QUEUE_MAX } from './limits.js';
import {
  BusinessRejectReason,
  type FixApplication,
  type FixAppSession,
  type FixMessage,
  type LogonAccepted,
  type LogonRefused,
  MsgType,
  type OutgoingFix,
  Tag,
  fieldOf,
} from './message.js';

/** The core as the FIX application needs it: a gateway session per trading Logon, a drop copy per drop-copy Logon. */
export interface FixCore extends GatewayCore {
  openDropCopy(
    auth: AuthHeaders,
    target: string,
    accounts: readonly number[],
  ): Promise<DropCopySubscription | GatewayError>;
}

export interface FixApplicationOptions {
  core: FixCore;
  /** 56 TargetCompID clients must send (config `fix.targetCompId`). */
  targetCompId: string;
  /** The gateway config's `fix` section: the drop-copy grants. */
  config: Pick<FixConfig, 'dropCopy'>;
  log?: Log;
  /** Defaults to FIX_DROP_COPY_QUEUE_MAX (tests lower it). */
  dropCopyQueueMax?: number;
}

/** An error-shaped refusal of our own (a value the gateway has no field for, a limit of ours). */
type Refusal = ErrorLike;
type Send = (out: OutgoingFix) => void;

/** Ids the application makes up (ExecIDs of reports the engine did not produce, mass-cancel report ids): unique per process run. */
class IdSource {
  private readonly prefix = randomBytes(4).toString('hex');
  private n = 0;
  next(kind: string): string {
    this.n++;
    return `${kind}${this.prefix}-${this.n}`;
  }
}

export function createFixApplication(opts: FixApplicationOptions): FixApplication {
  const ids = new IdSource();
  const log = opts.log ?? NO_LOG;
  return {
    logon: (msg, send, logout) => logon(opts, ids, log, msg, send, logout),
  };
}

/**
 * What a Logon authenticates with: 553 Username = the API key, 96 RawData = the signature over
 * canonicalRequest(SendingTime in ms, `FIX.4.4 A <49> <56> <34>`, empty body) (api/signing.ts).
 */
export function logonAuth(
  msg: FixMessage,
  targetCompId: string,
): { auth: AuthHeaders; target: string; cancelOnDisconnect: boolean } | LogonRefused {
  const refuse = (text: string): LogonRefused => ({ refused: true, text });
  const apiKey = fieldOf(msg, Tag.Username);
  if (apiKey === undefined || apiKey === '') return refuse('553 Username (the API key) is required');
  const signature = fieldOf(msg, Tag.RawData);
  if (signature === undefined || signature === '') return refuse('96 RawData (the logon signature) is required');
  const sendingTime = fieldOf(msg, Tag.SendingTime) ?? '';
  const us = utcTimestampUs(sendingTime);
  if (us === undefined) return refuse(`52 SendingTime ${sendingTime} is not a UTCTimestamp`);
  const sender = fieldOf(msg, Tag.SenderCompID) ?? '';
  const target = fieldOf(msg, Tag.TargetCompID) ?? '';
  if (target !== targetCompId) return refuse(`56 TargetCompID must be ${targetCompId}`);
  const cod = fieldOf(msg, AppTag.CancelOrdersOnDisconnect) ?? 'N';
  if (cod !== 'Y' && cod !== 'N') return refuse(`8013 CancelOrdersOnDisconnect must be Y or N, not ${cod}`);
  return {
    auth: { apiKey, timestamp: String(Math.floor(us / 1000)), signature },
    target: `FIX.4.4 A ${sender} ${target} ${fieldOf(msg, Tag.MsgSeqNum) ?? ''}`,
    cancelOnDisconnect: cod === 'Y',
  };
}

async function logon(
  opts: FixApplicationOptions,
  ids: IdSource,
  log: Log,
  msg: FixMessage,
  send: Send,
  logout: ((text: string) => void) | undefined,
): Promise<LogonAccepted | LogonRefused> {
  const a = logonAuth(msg, opts.targetCompId);
  if ('refused' in a) return a;
  const refused = (e: GatewayError): LogonRefused => ({ refused: true, text: errorText(e) });
  const grant = opts.config.dropCopy.find((g) => g.apiKey === a.auth.apiKey);
  if (grant !== undefined) {
    const d = await opts.core.openDropCopy(a.auth, a.target, grant.accounts);
    if (isGatewayError(d)) return refused(d);
    // account 0: a drop copy is no account's (it copies several: the grant's).
    const queueMax = opts.dropCopyQueueMax ?? FIX_DROP_COPY_QUEUE_MAX;
    return { app: new DropCopyApp(d, send, logout, log, queueMax), account: 0, kind: 'drop-copy' };
  }
  const s = await opts.core.openSession(a.auth, a.target, {
    cancelOnDisconnect: a.cancelOnDisconnect,
    deadManMs: 0,
    cancelScope: 'SESSION',
  });
  if (isGatewayError(s)) return refused(s);
  return { app: new TradingApp(s, send, ids, log), account: s.account, kind: 'trading' };
}

// ---------------------------------------------------------------------------------------------
// Trading sessions

/** One command's outcome: its reports (a refused command's too, when it was sequenced) and its error. */
type Outcome = { reports: ExecutionReportOut[]; error?: GatewayError };

class TradingApp implements FixAppSession {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private closed = false;
  /** The connection ended, the session is parked (park()): nothing new is delivered, what is owed still goes out. */
  private parked = false;
  private requestId = 0;
  private readonly codec = OrderEntryCodec.get();

  constructor(
    private readonly session: GatewaySession,
    private readonly send: Send,
    private readonly ids: IdSource,
    private readonly log: Log,
  ) {
    session.onUnsolicited = (reply) => this.unsolicited(reply);
  }

  deliver(msg: FixMessage): void {
    if (this.closed || this.parked) return;
    // Started now, so that commands reach the gateway session in delivery order; answered in that
    // order too (each reply waits for the previous one's).
    const work = this.pending >= FIX_APP_PENDING_MAX ? Promise.resolve(this.atLimit(msg)) : this.handleSafely(msg);
    this.pending++;
    this.tail = this.tail
      .then(() => work)
      .then((outs) => {
        if (!this.closed) for (const o of outs) this.send(o);
      })
      .catch((err: unknown) => {
        this.log.error('FIX application message failed', { msgType: msg.msgType, err: errorMessage(err) });
        if (!this.closed)
          this.send(businessReject(msg, BusinessRejectReason.ApplicationNotAvailable, 'internal error'));
      })
      .finally(() => {
        this.pending--;
      });
  }

  /** handle(), a synchronous throw turned into a rejection (answered below): nothing a client sends may throw into the session layer. */
  private handleSafely(msg: FixMessage): Promise<OutgoingFix[]> {
    try {
      return this.handle(msg);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.onUnsolicited = undefined;
    this.session.close();
  }

  /**
   * The connection ended and the acceptor parks the session (fix/README.md "Parked sessions"):
   * the gateway session ends (cancel-on-disconnect applies) but keeps pushing the account's
   * unsolicited reports, and the replies of messages already delivered are still sent; both go
   * through `send`, which the acceptor now stores without a socket. close() ends it all.
   */
  park(): void {
    if (this.closed || this.parked) return;
    if (this.session.park === undefined) {
      this.close();
      return;
    }
    this.parked = true;
    this.session.park();
  }

  /** Fills of resting orders caused by others, and the gateway's own cancels: as they come. */
  private unsolicited(reply: Record<string, unknown>): void {
    if (this.closed) return;
    for (const r of (reply.reports ?? []) as ExecutionReportOut[]) this.send(executionReport(r));
  }

  private atLimit(msg: FixMessage): OutgoingFix[] {
    const e: Refusal = {
      code: 'OVERLOADED',
      reason: 'FIX_APP_PENDING_MAX',
      message: `${FIX_APP_PENDING_MAX} messages of this session wait for their replies`,
    };
    return this.refusedBeforeSending(msg, e);
  }

  /** The answer to a message refused before it reached the gateway, in the form its type is answered with. */
  private refusedBeforeSending(msg: FixMessage, e: Refusal): OutgoingFix[] {
    switch (msg.msgType) {
      case MsgType.NewOrderSingle:
        return [orderRejectedReport(msg, this.ids.next('R'), e)];
      case MsgType.OrderCancelRequest:
        return [cancelReject(msg, CXL_REJ_TO_CANCEL, e)];
      case MsgType.OrderCancelReplaceRequest:
        return [cancelReject(msg, CXL_REJ_TO_REPLACE, e)];
      case MsgType.OrderMassCancelRequest:
        return [massCancelReport(msg, this.ids.next('M'), { rejectReason: MASS_CANCEL_REJ_OTHER, text: errorText(e) })];
      case MsgType.OrderStatusRequest:
        return [orderStatusUnknown(msg, this.ids.next('S'), e)];
      default:
        return [businessReject(msg, BusinessRejectReason.ApplicationNotAvailable, errorText(e))];
    }
  }

  private handle(msg: FixMessage): Promise<OutgoingFix[]> {
    const account = this.session.account;
    switch (msg.msgType) {
      case MsgType.NewOrderSingle:
        return this.command(msg, placeCommand(msg, account), (o) => this.placeReplies(msg, o));
      case MsgType.OrderCancelRequest:
        return this.command(msg, cancelCommand(msg, account), (o) => this.cancelReplies(msg, o));
      case MsgType.OrderCancelReplaceRequest:
        return this.command(msg, amendCommand(msg, account), (o) => this.amendReplies(msg, o));
      case MsgType.OrderMassCancelRequest:
        return this.command(msg, massCancelCommand(msg), (o) => this.massCancelReplies(msg, o));
      case MsgType.OrderStatusRequest:
        return this.orderStatus(msg);
      default:
        return Promise.resolve([
          businessReject(msg, BusinessRejectReason.UnsupportedMessageType, `MsgType ${msg.msgType} is not supported`),
        ]);
    }
  }

  /** A mapped request: sent as one OrderSessionRequest, its outcome turned into replies; a mapping failure answered at once. */
  private async command(
    msg: FixMessage,
    m: Mapped<Record<string, unknown>>,
    replies: (o: Outcome) => OutgoingFix[],
  ): Promise<OutgoingFix[]> {
    if (!m.ok && m.kind === 'missing')
      return [businessReject(msg, BusinessRejectReason.ConditionallyRequiredFieldMissing, m.text)];
    if (!m.ok) {
      const e: Refusal = { code: 'INVALID_ARGUMENT', reason: 'FIX_VALUE_NOT_SUPPORTED', message: m.text };
      if (msg.msgType === MsgType.OrderMassCancelRequest) {
        const why = m.tag === AppTag.Symbol ? MASS_CANCEL_REJ_UNKNOWN_SECURITY : MASS_CANCEL_REJ_NOT_SUPPORTED;
        return [massCancelReport(msg, this.ids.next('M'), { rejectReason: why, text: m.text })];
      }
      return this.refusedBeforeSending(msg, e);
    }
    return replies(await this.submit(m.value));
  }

  private async submit(command: Record<string, unknown>): Promise<Outcome> {
    const body = this.codec.encode('OrderSessionRequest', { request_id: ++this.requestId, commands: [command] });
    const reply = await this.session.submit(body);
    const whole = reply.error as GatewayError | undefined;
    if (whole !== undefined) return { reports: [], error: whole };
    const outcome = (
      (reply.outcomes ?? []) as { result?: { reports?: ExecutionReportOut[] }; error?: GatewayError }[]
    )[0];
    if (outcome?.error !== undefined) return { reports: outcome.error.result?.reports ?? [], error: outcome.error };
    return { reports: outcome?.result?.reports ?? [] };
  }

  private placeReplies(msg: FixMessage, o: Outcome): OutgoingFix[] {
    if (o.error === undefined) return o.reports.map((r) => executionReport(r));
    // Refused after sequencing: the engine's REJECTED report, with the gateway's error as Text.
    if (o.reports.length > 0) {
      const text = errorText(o.error);
      return o.reports.map((r) => executionReport(r, r.exec_type === 'REJECTED' ? { text } : {}));
    }
    return [orderRejectedReport(msg, this.ids.next('R'), o.error)];
  }

  private cancelReplies(msg: FixMessage, o: Outcome): OutgoingFix[] {
    if (o.error !== undefined) return [cancelReject(msg, CXL_REJ_TO_CANCEL, o.error)];
    // 11 is the cancel request's ClOrdID, 41 the order's (FIX 4.4 on a cancel's report).
    const clOrdId = fieldOf(msg, AppTag.ClOrdID);
    return o.reports.map((r) =>
      executionReport(r, {
        ...(clOrdId !== undefined ? { clOrdId } : {}),
        origClOrdId: r.client_order_id,
      }),
    );
  }

  private amendReplies(msg: FixMessage, o: Outcome): OutgoingFix[] {
    if (o.error !== undefined) return [cancelReject(msg, CXL_REJ_TO_REPLACE, o.error)];
    return o.reports.map((r) => executionReport(r));
  }

  /** r first (533 = the cancel reports of this account the command produced), then each cancel's ExecutionReport. */
  private massCancelReplies(msg: FixMessage, o: Outcome): OutgoingFix[] {
    const id = this.ids.next('M');
    if (o.error !== undefined) {
      const why = o.error.reason === 'UNKNOWN_INSTRUMENT' ? MASS_CANCEL_REJ_UNKNOWN_SECURITY : MASS_CANCEL_REJ_OTHER;
      return [massCancelReport(msg, id, { rejectReason: why, text: errorText(o.error) })];
    }
    const canceled = o.reports.filter((r) => r.exec_type === 'CANCELED').length;
    return [massCancelReport(msg, id, { canceled }), ...o.reports.map((r) => executionReport(r))];
  }

  /** H: GetOrder once every earlier message of the session is answered (so it sees their effect). */
  private async orderStatus(msg: FixMessage): Promise<OutgoingFix[]> {
    const m = statusRequest(msg, this.session.account);
    if (!m.ok && m.kind === 'missing')
      return [businessReject(msg, BusinessRejectReason.ConditionallyRequiredFieldMissing, m.text)];
    if (!m.ok)
      return [
        orderStatusUnknown(msg, this.ids.next('S'), {
          code: 'INVALID_ARGUMENT',
          reason: 'FIX_VALUE_NOT_SUPPORTED',
          message: m.text,
        }),
      ];
    if (this.session.getOrder === undefined)
      return [businessReject(msg, BusinessRejectReason.ApplicationNotAvailable, 'order status is not available')];
    await this.tail;
    const r = await this.session.getOrder(m.value);
    if (!r.ok) return [orderStatusUnknown(msg, this.ids.next('S'), r.error)];
    return [orderStatusReport(msg, this.ids.next('S'), r.body.order as OrderOut)];
  }
}

// ---------------------------------------------------------------------------------------------
// Drop-copy sessions

class DropCopyApp implements FixAppSession {
  private queue: ExecutionReportOut[] = [];
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly sub: DropCopySubscription,
    private readonly send: Send,
    private readonly logout: ((text: string) => void) | undefined,
    private readonly log: Log,
    private readonly queueMax: number,
  ) {
    sub.onReport = (r) => this.enqueue(r);
  }

  /** A drop copy only listens: application messages are not authorized on it. */
  deliver(msg: FixMessage): void {
    if (this.stopped) return;
    this.send(
      businessReject(msg, BusinessRejectReason.NotAuthorized, 'a drop-copy session sends no application messages'),
    );
  }

  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.queue = [];
    this.sub.onReport = undefined;
    this.sub.close();
  }

  /** Called inside the gateway's absorb: queued, written on the next turn (the gateway's loop does not wait for FIX encoding). */
  private enqueue(r: ExecutionReportOut): void {
    if (this.stopped) return;
    if (this.queue.length >= this.queueMax) {
      const text = `drop copy fell behind: ${this.queueMax} reports waiting (FIX_DROP_COPY_QUEUE_MAX); log on again and recover the gap with OrderStatusRequest or the read models`;
      this.log.error('FIX drop copy stopped', { accounts: [...this.sub.accounts].join(','), reason: text });
      this.close();
      this.logout?.(text);
      return;
    }
    this.queue.push(r);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const r of batch) if (!this.stopped) this.send(executionReport(r));
  }
}
