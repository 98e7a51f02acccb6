// The FIX 4.4 session layer of one TCP connection, as a pure state machine (etcd/raft style): no
// I/O, no clock, no timers. The edge (acceptor.ts) feeds it messages, garbled frames, ticks and the
// application's logon result and outgoing messages, each with `nowMs`, and carries out the actions
// it returns, in order: persist before send, so a sequence number is on disk before a message that
// uses it is written. The rules are FIX 4.4's session rules, QuickFIX's behaviour where FIX leaves
// room; they are listed in fix/README.md.

import { encodeFix, parseFix } from './codec.js';
import { formatUtcTimestamp, parseUtcTimestamp } from './fields.js';
import {
  FIX_COMP_ID_CHARS_MAX,
  FIX_GAP_QUEUE_MAX,
  FIX_HEARTBEAT_S_MAX,
  FIX_HEARTBEAT_S_MIN,
  FIX_INBOUND_BURST_MESSAGES_MAX,
  FIX_INBOUND_MESSAGES_PER_S_MAX,
  FIX_LOGON_TIMEOUT_MS,
  FIX_LOGOUT_TIMEOUT_MS,
  FIX_PENDING_MESSAGES_MAX,
  FIX_RESEND_MESSAGES_MAX,
  FIX_SENDING_TIME_WINDOW_MS,
  FIX_TEST_REQUEST_FACTOR,
} from './limits.js';
import {
  ADMIN_MSG_TYPES,
  type FixField,
  type FixInvalid,
  type FixMessage,
  fieldOf,
  type LogonAccepted,
  type LogonRefused,
  MsgType,
  type OutgoingFix,
  SessionRejectReason,
  Tag,
} from './message.js';
import type { SessionStoreView } from './session-store.js';

/** The dictionary check (fix/validate.ts supplies the real one): a failure is answered with Reject (3). */
export type Validate = (msg: FixMessage) => FixInvalid | undefined;

export type SessionAction =
  | { kind: 'send'; bytes: Buffer; seqNum: number; msgType: string }
  /**
   * Write both next numbers. The edge must carry out the actions of one call before those of the
   * next (acceptor.ts queues what the application sends from inside deliver()), or an older pair
   * would be written last.
   */
  | { kind: 'persistSeq'; nextOut: number; nextIn: number }
  | { kind: 'store'; seqNum: number; bytes: Buffer }
  | { kind: 'reset' }
  | { kind: 'deliver'; msg: FixMessage }
  | { kind: 'requestLogon'; logon: FixMessage }
  | { kind: 'loggedOn'; senderCompId: string; heartBtIntS: number }
  | { kind: 'disconnect'; reason: string };

export interface FixSessionOptions {
  /** Our CompID: what clients send in 56 (default MATCHBOOK). */
  targetCompId: string;
  validate?: Validate;
  nowMs: number;
}

type State = 'awaitLogon' | 'logonPending' | 'active' | 'logoutSent' | 'closed' | 'parked';

/** Header tags the session writes itself: dropped from a stored message's body when it is resent. */
const HEADER_TAGS: ReadonlySet<number> = new Set([8, 9, 10, 35, 49, 56, 34, 52, 43, 122, 97]);

export class FixSession {
  private state: State = 'awaitLogon';
  private readonly ourCompId: string;
  private readonly validate: Validate;
  private theirCompId = '';
  private heartBtMs = 30_000;
  private nextOut = 1;
  private nextIn = 1;
  private persistedIn = 1;
  private store: SessionStoreView | undefined;
  private logon: FixMessage | undefined;
  private readonly connectedAtMs: number;
  private lastSentMs: number;
  private lastReceivedMs: number;
  private testRequestSent = false;
  private testRequests = 0;
  private logoutSentAtMs = 0;
  /** Messages above the expected MsgSeqNum, held until the gap is resent (seqNum → message). */
  private readonly gapQueue = new Map<number, FixMessage>();
  private resendRequested = false;
  /** Received while the application decides on the Logon; handled after it is accepted. */
  private readonly pendingIn: FixMessage[] = [];
  private readonly pendingOut: OutgoingFix[] = [];
  private tokens = FIX_INBOUND_BURST_MESSAGES_MAX;
  private tokensAtMs: number;
  private actions: SessionAction[] = [];

  constructor(options: FixSessionOptions) {
    this.ourCompId = options.targetCompId;
    this.validate = options.validate ?? (() => undefined);
    this.connectedAtMs = options.nowMs;
    this.lastSentMs = options.nowMs;
    this.lastReceivedMs = options.nowMs;
    this.tokensAtMs = options.nowMs;
  }

  get loggedOn(): boolean {
    return this.state === 'active' || this.state === 'logoutSent';
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** The counterparty's SenderCompID (known once a Logon arrived). */
  get senderCompId(): string {
    return this.theirCompId;
  }

  get expectedSeqNum(): number {
    return this.nextIn;
  }

  get nextSenderSeqNum(): number {
    return this.nextOut;
  }

  onMessage(msg: FixMessage, nowMs: number): SessionAction[] {
    if (this.state === 'closed' || this.state === 'parked') return [];
    this.lastReceivedMs = nowMs;
    this.testRequestSent = false;
    if (!this.takeToken(nowMs)) return this.finish(() => this.logoutAndDisconnect('message rate limit', nowMs));
    return this.finish(() => {
      if (this.state === 'awaitLogon') this.firstMessage(msg, nowMs);
      else if (this.state === 'logonPending') this.holdPending(msg);
      else this.received(msg, nowMs);
    });
  }

  /** A garbled frame: ignored (FIX), the expected MsgSeqNum unchanged; it only counts against the rate. */
  onGarbled(nowMs: number): SessionAction[] {
    if (this.state === 'closed' || this.state === 'parked') return [];
    if (!this.takeToken(nowMs)) return this.finish(() => this.logoutAndDisconnect('message rate limit', nowMs));
    return [];
  }

  onTick(nowMs: number): SessionAction[] {
    if (this.state === 'closed' || this.state === 'parked') return [];
    return this.finish(() => this.timers(nowMs));
  }

  /**
   * An application message from the application: numbered, stored for resends, sent. Parked (see
   * park()): numbered and stored exactly as a live send; the edge has no socket for its 'send'.
   */
  sendApp(out: OutgoingFix, nowMs: number): SessionAction[] {
    if (this.state === 'parked') return this.finish(() => this.send(out.msgType, out.body, nowMs, true));
    if (this.state === 'logonPending') {
      if (this.pendingOut.length >= FIX_PENDING_MESSAGES_MAX) return this.finish(() => this.close('pending full'));
      this.pendingOut.push(out);
      return [];
    }
    if (!this.loggedOn) return [];
    return this.finish(() => this.send(out.msgType, out.body, nowMs, true));
  }

  /** The application's answer to the Logon; `store` is the session key's persisted state when accepted. */
  onLogonResult(result: LogonAccepted | LogonRefused, nowMs: number, store?: SessionStoreView): SessionAction[] {
    if (this.state !== 'logonPending' || this.logon === undefined) return [];
    const logon = this.logon;
    return this.finish(() => {
      if ('refused' in result || store === undefined) {
        this.logoutAndDisconnect('refused' in result ? result.text : 'session store unavailable', nowMs);
        return;
      }
      this.accepted(logon, nowMs, store);
    });
  }

  /** A graceful end (the acceptor stops): Logout, then disconnect on the answer or after FIX_LOGOUT_TIMEOUT_MS. */
  logout(text: string, nowMs: number): SessionAction[] {
    if (!this.loggedOn) return this.finish(() => this.close(text));
    if (this.state === 'logoutSent') return [];
    return this.finish(() => this.sendLogout(text, nowMs));
  }

  /** The connection is gone (the edge closes the application session and the store). */
  onDisconnect(): void {
    this.state = 'closed';
  }

  /**
   * The connection is gone but the edge parks the session (acceptor.ts): only sendApp works, to
   * number and store what the application still sends for it, so the next Logon of the session
   * starts from those numbers and a ResendRequest gets them. False (and closed) when the session
   * never got its store (not logged on): nothing to park.
   */
  park(): boolean {
    this.gapQueue.clear();
    this.pendingIn.length = 0;
    this.pendingOut.length = 0;
    this.state = this.store === undefined ? 'closed' : 'parked';
    return this.state === 'parked';
  }

  // --- helpers -------------------------------------------------------------------------------

  /** Runs `body` and returns the actions it produced, with the incoming number persisted if it moved. */
  private finish(body: () => void): SessionAction[] {
    body();
    if (this.store !== undefined && this.persistedIn !== this.nextIn && this.state !== 'closed') this.persist();
    const out = this.actions;
    this.actions = [];
    return out;
  }

  private persist(): void {
    this.persistedIn = this.nextIn;
    this.actions.push({ kind: 'persistSeq', nextOut: this.nextOut, nextIn: this.nextIn });
  }

  private takeToken(nowMs: number): boolean {
    const elapsedMs = Math.max(0, nowMs - this.tokensAtMs);
    this.tokensAtMs = nowMs;
    this.tokens = Math.min(
      FIX_INBOUND_BURST_MESSAGES_MAX,
      this.tokens + (elapsedMs * FIX_INBOUND_MESSAGES_PER_S_MAX) / 1000,
    );
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.actions.push({ kind: 'disconnect', reason });
  }

  /** Numbers, stamps and sends one message; application messages are stored for resends first. */
  private send(msgType: string, body: readonly FixField[], nowMs: number, store: boolean): void {
    if (this.state === 'closed') return;
    const seqNum = this.nextOut;
    const bytes = encodeFix(this.header(msgType, seqNum, nowMs), body);
    this.nextOut = seqNum + 1;
    if (this.store !== undefined) {
      if (store) this.actions.push({ kind: 'store', seqNum, bytes });
      this.persist();
    }
    this.lastSentMs = nowMs;
    this.actions.push({ kind: 'send', bytes, seqNum, msgType });
  }

  private header(msgType: string, seqNum: number, nowMs: number): FixField[] {
    return [
      [Tag.MsgType, msgType],
      [Tag.SenderCompID, this.ourCompId],
      [Tag.TargetCompID, this.theirCompId],
      [Tag.MsgSeqNum, String(seqNum)],
      [Tag.SendingTime, formatUtcTimestamp(nowMs)],
    ];
  }

  private sendLogout(text: string, nowMs: number): void {
    this.send(MsgType.Logout, text === '' ? [] : [[Tag.Text, text]], nowMs, false);
    this.state = 'logoutSent';
    this.logoutSentAtMs = nowMs;
  }

  /** FIX's answer to a serious error: Logout with the reason, then disconnect at once. */
  private logoutAndDisconnect(text: string, nowMs: number): void {
    if (this.state === 'awaitLogon' || this.state === 'logonPending') {
      // Nothing of the session is known (or it was refused): the Logout is numbered 1 and not persisted.
      if (this.theirCompId !== '') this.sendUnnumbered(MsgType.Logout, [[Tag.Text, text]], nowMs);
    } else if (this.state === 'active') {
      this.send(MsgType.Logout, [[Tag.Text, text]], nowMs, false);
    }
    this.close(text);
  }

  private sendUnnumbered(msgType: string, body: FixField[], nowMs: number): void {
    const bytes = encodeFix(this.header(msgType, 1, nowMs), body);
    this.actions.push({ kind: 'send', bytes, seqNum: 1, msgType });
  }

  private reject(msg: FixMessage, reason: number, text: string, nowMs: number, refTagId?: number): void {
    const body: FixField[] = [[Tag.RefSeqNum, fieldOf(msg, Tag.MsgSeqNum) ?? '0']];
    if (refTagId !== undefined) body.push([Tag.RefTagID, String(refTagId)]);
    body.push([Tag.RefMsgType, msg.msgType], [Tag.SessionRejectReason, String(reason)], [Tag.Text, text]);
    this.send(MsgType.Reject, body, nowMs, false);
  }

  // --- logon -----------------------------------------------------------------------------------

  /** Why a Logon cannot be accepted (checked before the application sees it), or undefined. */
  private logonProblem(msg: FixMessage, nowMs: number): string | undefined {
    if (msg.msgType !== MsgType.Logon) return 'first message must be Logon';
    const sender = fieldOf(msg, Tag.SenderCompID) ?? '';
    if (sender === '' || sender.length > FIX_COMP_ID_CHARS_MAX || sender === this.ourCompId)
      return `SenderCompID must be 1 to ${FIX_COMP_ID_CHARS_MAX} characters, not ours`;
    if (fieldOf(msg, Tag.TargetCompID) !== this.ourCompId) return `TargetCompID must be ${this.ourCompId}`;
    const seq = seqNumOf(msg);
    if (seq === undefined) return 'MsgSeqNum missing or invalid';
    const hb = fieldOf(msg, Tag.HeartBtInt) ?? '';
    if (!/^[0-9]{1,4}$/.test(hb) || Number(hb) < FIX_HEARTBEAT_S_MIN || Number(hb) > FIX_HEARTBEAT_S_MAX)
      return `HeartBtInt must be ${FIX_HEARTBEAT_S_MIN} to ${FIX_HEARTBEAT_S_MAX}`;
    if (fieldOf(msg, Tag.EncryptMethod) !== '0') return 'EncryptMethod must be 0';
    const reset = fieldOf(msg, Tag.ResetSeqNumFlag);
    if (reset !== undefined && reset !== 'Y' && reset !== 'N') return 'ResetSeqNumFlag must be Y or N';
    if (reset === 'Y' && seq !== 1) return 'a Logon with ResetSeqNumFlag=Y must have MsgSeqNum 1';
    const timeProblem = this.sendingTimeProblem(msg, nowMs);
    if (timeProblem !== undefined) return timeProblem;
    return this.validate(msg)?.text;
  }

  private firstMessage(msg: FixMessage, nowMs: number): void {
    this.theirCompId = fieldOf(msg, Tag.SenderCompID) ?? '';
    if (this.theirCompId.length > FIX_COMP_ID_CHARS_MAX || this.theirCompId === this.ourCompId) this.theirCompId = '';
    const problem = this.logonProblem(msg, nowMs);
    if (problem !== undefined) {
      this.logoutAndDisconnect(problem, nowMs);
      return;
    }
    this.heartBtMs = Number(fieldOf(msg, Tag.HeartBtInt)) * 1000;
    this.logon = msg;
    this.state = 'logonPending';
    this.actions.push({ kind: 'requestLogon', logon: msg });
  }

  private holdPending(msg: FixMessage): void {
    if (this.pendingIn.length >= FIX_PENDING_MESSAGES_MAX) this.close('too many messages before Logon answered');
    else this.pendingIn.push(msg);
  }

  private accepted(logon: FixMessage, nowMs: number, store: SessionStoreView): void {
    this.store = store;
    const reset = fieldOf(logon, Tag.ResetSeqNumFlag) === 'Y';
    if (reset) this.actions.push({ kind: 'reset' });
    this.nextOut = reset ? 1 : store.nextOutSeq;
    this.nextIn = reset ? 1 : store.nextInSeq;
    this.persistedIn = this.nextIn;
    this.state = 'active';
    const seq = seqNumOf(logon) as number;
    if (seq < this.nextIn) {
      this.logoutAndDisconnect(`MsgSeqNum too low, expecting ${this.nextIn} but received ${seq}`, nowMs);
      return;
    }
    const body: FixField[] = [
      [Tag.EncryptMethod, '0'],
      [Tag.HeartBtInt, String(this.heartBtMs / 1000)],
    ];
    if (reset) body.push([Tag.ResetSeqNumFlag, 'Y']);
    this.send(MsgType.Logon, body, nowMs, false);
    this.actions.push({ kind: 'loggedOn', senderCompId: this.theirCompId, heartBtIntS: this.heartBtMs / 1000 });
    if (seq === this.nextIn) this.nextIn++;
    else this.queueForGap(seq, logon, nowMs);
    for (const out of this.pendingOut.splice(0)) this.send(out.msgType, out.body, nowMs, true);
    for (const msg of this.pendingIn.splice(0)) if (this.loggedOn) this.received(msg, nowMs);
  }

  // --- a logged-on session -------------------------------------------------------------------

  private received(msg: FixMessage, nowMs: number): void {
    if (this.state === 'logoutSent' && msg.msgType === MsgType.Logout) {
      this.close('logout answered');
      return;
    }
    if (fieldOf(msg, Tag.SenderCompID) !== this.theirCompId || fieldOf(msg, Tag.TargetCompID) !== this.ourCompId) {
      this.reject(msg, SessionRejectReason.CompIdProblem, 'CompID problem', nowMs, Tag.SenderCompID);
      this.logoutAndDisconnect('CompID problem', nowMs);
      return;
    }
    const seq = seqNumOf(msg);
    if (seq === undefined) {
      this.logoutAndDisconnect('MsgSeqNum missing or invalid', nowMs);
      return;
    }
    if (msg.msgType === MsgType.SequenceReset && fieldOf(msg, Tag.GapFillFlag) !== 'Y') {
      this.sequenceResetReset(msg, nowMs);
      return;
    }
    if (seq > this.nextIn) {
      this.aboveExpected(seq, msg, nowMs);
      return;
    }
    if (seq < this.nextIn) {
      this.belowExpected(seq, msg, nowMs);
      return;
    }
    this.inSequence(msg, nowMs);
    this.drainGapQueue(nowMs);
  }

  /** A message above the expected number: Logout and ResendRequest are handled at once (FIX), the rest queued. */
  private aboveExpected(seq: number, msg: FixMessage, nowMs: number): void {
    if (msg.msgType === MsgType.Logout) {
      this.answerLogout(nowMs);
      return;
    }
    if (msg.msgType === MsgType.ResendRequest && this.checks(msg, nowMs)) this.resendRequest(msg, nowMs);
    if (!this.closed) this.queueForGap(seq, msg, nowMs);
  }

  private queueForGap(seq: number, msg: FixMessage, nowMs: number): void {
    if (!this.gapQueue.has(seq) && this.gapQueue.size >= FIX_GAP_QUEUE_MAX) {
      this.logoutAndDisconnect('too many messages queued behind a sequence gap', nowMs);
      return;
    }
    this.gapQueue.set(seq, msg);
    if (this.resendRequested) return;
    this.resendRequested = true;
    this.send(
      MsgType.ResendRequest,
      [
        [Tag.BeginSeqNo, String(this.nextIn)],
        [Tag.EndSeqNo, '0'],
      ],
      nowMs,
      false,
    );
  }

  private belowExpected(seq: number, msg: FixMessage, nowMs: number): void {
    if (fieldOf(msg, Tag.PossDupFlag) !== 'Y') {
      this.logoutAndDisconnect(`MsgSeqNum too low, expecting ${this.nextIn} but received ${seq}`, nowMs);
      return;
    }
    const orig = fieldOf(msg, Tag.OrigSendingTime);
    if (orig === undefined) {
      this.reject(msg, SessionRejectReason.RequiredTagMissing, 'OrigSendingTime missing', nowMs, Tag.OrigSendingTime);
      return;
    }
    const origMs = parseUtcTimestamp(orig);
    const sentMs = parseUtcTimestamp(fieldOf(msg, Tag.SendingTime) ?? '');
    if (origMs === undefined || sentMs === undefined || origMs > sentMs) {
      this.reject(
        msg,
        SessionRejectReason.SendingTimeAccuracyProblem,
        'OrigSendingTime after SendingTime',
        nowMs,
        Tag.OrigSendingTime,
      );
      this.logoutAndDisconnect('SendingTime accuracy problem', nowMs);
    }
    // Otherwise a duplicate already processed: ignored.
  }

  /** Delivers queued messages that are now in sequence. */
  private drainGapQueue(nowMs: number): void {
    for (;;) {
      for (const seq of this.gapQueue.keys()) if (seq < this.nextIn) this.gapQueue.delete(seq);
      const next = this.gapQueue.get(this.nextIn);
      if (next === undefined || !this.loggedOn) break;
      this.gapQueue.delete(this.nextIn);
      // A queued Logon or ResendRequest was handled when it arrived: only its number is consumed.
      if (next.msgType === MsgType.Logon || next.msgType === MsgType.ResendRequest) this.nextIn++;
      else this.inSequence(next, nowMs);
    }
    if (this.gapQueue.size === 0) this.resendRequested = false;
  }

  /** SendingTime, then the dictionary: false (and a Reject sent, the number consumed) when a check fails. */
  private checks(msg: FixMessage, nowMs: number): boolean {
    const timeProblem = this.sendingTimeProblem(msg, nowMs);
    if (timeProblem !== undefined) {
      this.reject(msg, SessionRejectReason.SendingTimeAccuracyProblem, timeProblem, nowMs, Tag.SendingTime);
      this.logoutAndDisconnect('SendingTime accuracy problem', nowMs);
      return false;
    }
    const failure = this.validate(msg) ?? requiredSessionFields(msg);
    if (failure !== undefined) {
      this.reject(msg, failure.reason, failure.text, nowMs, failure.refTagId);
      return false;
    }
    return true;
  }

  private sendingTimeProblem(msg: FixMessage, nowMs: number): string | undefined {
    const sentMs = parseUtcTimestamp(fieldOf(msg, Tag.SendingTime) ?? '');
    if (sentMs === undefined) return 'SendingTime missing or invalid';
    if (Math.abs(sentMs - nowMs) > FIX_SENDING_TIME_WINDOW_MS) return 'SendingTime outside the accepted window';
    return undefined;
  }

  /** The message with 34 = expected: checked, acted on, its number consumed. */
  private inSequence(msg: FixMessage, nowMs: number): void {
    if (!this.checks(msg, nowMs)) {
      if (this.loggedOn) this.nextIn++;
      return;
    }
    this.nextIn++;
    switch (msg.msgType) {
      case MsgType.Heartbeat:
      case MsgType.Reject:
        return;
      case MsgType.TestRequest:
        this.send(MsgType.Heartbeat, [[Tag.TestReqID, fieldOf(msg, Tag.TestReqID) ?? '']], nowMs, false);
        return;
      case MsgType.ResendRequest:
        this.resendRequest(msg, nowMs);
        return;
      case MsgType.SequenceReset:
        this.gapFill(msg, nowMs);
        return;
      case MsgType.Logout:
        this.answerLogout(nowMs);
        return;
      case MsgType.Logon:
        this.logoutAndDisconnect('Logon on a logged-on session', nowMs);
        return;
      default:
        if (ADMIN_MSG_TYPES.has(msg.msgType)) return;
        this.actions.push({ kind: 'deliver', msg });
    }
  }

  private answerLogout(nowMs: number): void {
    if (this.state === 'active') this.send(MsgType.Logout, [], nowMs, false);
    this.close('logout');
  }

  /** SequenceReset-GapFill (123=Y), in sequence: NewSeqNo only moves the expected number forward. */
  private gapFill(msg: FixMessage, nowMs: number): void {
    const newSeq = positiveInt(fieldOf(msg, Tag.NewSeqNo));
    const seq = seqNumOf(msg) as number;
    if (newSeq === undefined || newSeq <= seq) {
      const text = `attempt to lower sequence number, invalid value NewSeqNo=${fieldOf(msg, Tag.NewSeqNo) ?? ''}`;
      this.reject(msg, SessionRejectReason.ValueIsIncorrect, text, nowMs, Tag.NewSeqNo);
      return;
    }
    this.nextIn = Math.max(this.nextIn, newSeq);
  }

  /** SequenceReset-Reset (123=N or absent): MsgSeqNum is ignored; the expected number becomes NewSeqNo. */
  private sequenceResetReset(msg: FixMessage, nowMs: number): void {
    const newSeq = positiveInt(fieldOf(msg, Tag.NewSeqNo));
    if (newSeq === undefined || newSeq < this.nextIn) {
      const text = `attempt to lower sequence number, invalid value NewSeqNo=${fieldOf(msg, Tag.NewSeqNo) ?? ''}`;
      this.reject(msg, SessionRejectReason.ValueIsIncorrect, text, nowMs, Tag.NewSeqNo);
      return;
    }
    this.nextIn = newSeq;
    this.drainGapQueue(nowMs);
  }

  /** ResendRequest: stored application messages again (43=Y, 122), everything else as gap fills. */
  private resendRequest(msg: FixMessage, nowMs: number): void {
    const begin = positiveInt(fieldOf(msg, Tag.BeginSeqNo));
    const endField = fieldOf(msg, Tag.EndSeqNo);
    const endAsked = endField === '0' ? Number.MAX_SAFE_INTEGER : positiveInt(endField);
    if (begin === undefined || endAsked === undefined || endAsked < begin) {
      this.reject(msg, SessionRejectReason.ValueIsIncorrect, 'invalid BeginSeqNo/EndSeqNo', nowMs, Tag.BeginSeqNo);
      return;
    }
    const end = Math.min(endAsked, this.nextOut - 1, begin + FIX_RESEND_MESSAGES_MAX - 1);
    if (begin > end) return;
    const stored = this.store?.range(begin, end) ?? [];
    let gapFrom = begin;
    for (const { seqNum, bytes } of stored) {
      const orig = parseFix(bytes);
      if (orig === undefined) continue; // unreadable: covered by the gap fill around it
      if (seqNum > gapFrom) this.sendGapFill(gapFrom, seqNum, nowMs);
      this.resendOne(orig, seqNum, nowMs);
      gapFrom = seqNum + 1;
    }
    if (gapFrom <= end) this.sendGapFill(gapFrom, end + 1, nowMs);
  }

  private resendOne(orig: FixMessage, seqNum: number, nowMs: number): void {
    const header: FixField[] = [
      [Tag.MsgType, orig.msgType],
      [Tag.SenderCompID, this.ourCompId],
      [Tag.TargetCompID, this.theirCompId],
      [Tag.MsgSeqNum, String(seqNum)],
      [Tag.PossDupFlag, 'Y'],
      [Tag.SendingTime, formatUtcTimestamp(nowMs)],
      [Tag.OrigSendingTime, fieldOf(orig, Tag.SendingTime) ?? formatUtcTimestamp(nowMs)],
    ];
    const body = orig.fields.filter(([tag]) => !HEADER_TAGS.has(tag));
    this.lastSentMs = nowMs;
    this.actions.push({ kind: 'send', bytes: encodeFix(header, body), seqNum, msgType: orig.msgType });
  }

  /** SequenceReset-GapFill numbered `from`, NewSeqNo `to` (QuickFIX sends it with 43=Y and 122). */
  private sendGapFill(from: number, to: number, nowMs: number): void {
    const now = formatUtcTimestamp(nowMs);
    const header: FixField[] = [
      [Tag.MsgType, MsgType.SequenceReset],
      [Tag.SenderCompID, this.ourCompId],
      [Tag.TargetCompID, this.theirCompId],
      [Tag.MsgSeqNum, String(from)],
      [Tag.PossDupFlag, 'Y'],
      [Tag.SendingTime, now],
      [Tag.OrigSendingTime, now],
    ];
    const body: FixField[] = [
      [Tag.GapFillFlag, 'Y'],
      [Tag.NewSeqNo, String(to)],
    ];
    this.lastSentMs = nowMs;
    this.actions.push({ kind: 'send', bytes: encodeFix(header, body), seqNum: from, msgType: MsgType.SequenceReset });
  }

  // --- timers --------------------------------------------------------------------------------

  private timers(nowMs: number): void {
    if (this.state === 'awaitLogon' || this.state === 'logonPending') {
      if (nowMs - this.connectedAtMs >= FIX_LOGON_TIMEOUT_MS) this.close('no Logon within FIX_LOGON_TIMEOUT_MS');
      return;
    }
    if (this.state === 'logoutSent') {
      if (nowMs - this.logoutSentAtMs >= FIX_LOGOUT_TIMEOUT_MS) this.close('no Logout answer');
      return;
    }
    const silentMs = nowMs - this.lastReceivedMs;
    const limitMs = this.heartBtMs * FIX_TEST_REQUEST_FACTOR;
    if (silentMs >= 2 * limitMs) {
      this.close('no answer to TestRequest');
      return;
    }
    if (silentMs >= limitMs && !this.testRequestSent) {
      this.testRequestSent = true;
      this.testRequests++;
      this.send(MsgType.TestRequest, [[Tag.TestReqID, `TEST-${this.testRequests}`]], nowMs, false);
    }
    if (nowMs - this.lastSentMs >= this.heartBtMs) this.send(MsgType.Heartbeat, [], nowMs, false);
  }
}

function positiveInt(text: string | undefined): number | undefined {
  if (text === undefined || !/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 2_147_483_647 ? n : undefined;
}

function seqNumOf(msg: FixMessage): number | undefined {
  return positiveInt(fieldOf(msg, Tag.MsgSeqNum));
}

/** The session fields this layer reads, checked even without a dictionary (the default validate accepts all). */
function requiredSessionFields(msg: FixMessage): FixInvalid | undefined {
  const need =
    msg.msgType === MsgType.ResendRequest
      ? [Tag.BeginSeqNo, Tag.EndSeqNo]
      : msg.msgType === MsgType.SequenceReset
        ? [Tag.NewSeqNo]
        : msg.msgType === MsgType.TestRequest
          ? [Tag.TestReqID]
          : [];
  for (const tag of need)
    if (fieldOf(msg, tag) === undefined)
      return { reason: SessionRejectReason.RequiredTagMissing, refTagId: tag, text: `required tag ${tag} missing` };
  return undefined;
}
