// The contract between the FIX acceptor's parts (fix/README.md): the codec (fix/codec.ts) turns
// bytes into a FixMessage and an OutgoingFix into bytes; the dictionary (fix/dictionary.ts,
// fix/validate.ts) checks a FixMessage against FIX 4.4; the session layer (fix/session.ts) keeps
// sequence numbers, heartbeats, resends and the message store; the application
// (fix/application.ts) turns application messages into gateway session commands and gateway
// results into ExecutionReports. Values are kept as the wire's text (latin1): FIX decimals stay
// exact strings and go to the gateway's `_decimal` fields unchanged.

/** One field: tag and value as it was on the wire (no SOH). */
export type FixField = readonly [tag: number, value: string];

/** A parsed message: every field in wire order, header, body and trailer (8, 9, 35 … 10). */
export interface FixMessage {
  readonly fields: readonly FixField[];
  /** 35 MsgType. */
  readonly msgType: string;
}

/** The first value of `tag`, or undefined. */
export function fieldOf(msg: FixMessage, tag: number): string | undefined {
  for (const [t, v] of msg.fields) if (t === tag) return v;
  return undefined;
}

/** Every value of `tag`, in order (repeating groups). */
export function fieldsOf(msg: FixMessage, tag: number): string[] {
  const out: string[] = [];
  for (const [t, v] of msg.fields) if (t === tag) out.push(v);
  return out;
}

/**
 * A message to send, before the session stamps its header: the session writes 8, 9, 35, 49, 56,
 * 34, 52 (and 43/122 on a resend), then `body` in order, then 10. `body` holds neither header nor
 * trailer tags.
 */
export interface OutgoingFix {
  msgType: string;
  body: FixField[];
}

/** FIX 4.4 tags the parts share by name (the full list is the dictionary, fix/FIX44.xml). */
export const Tag = {
  BeginString: 8,
  BodyLength: 9,
  CheckSum: 10,
  MsgSeqNum: 34,
  MsgType: 35,
  PossDupFlag: 43,
  SenderCompID: 49,
  SendingTime: 52,
  TargetCompID: 56,
  OrigSendingTime: 122,
  Text: 58,
  RawDataLength: 95,
  RawData: 96,
  EncryptMethod: 98,
  HeartBtInt: 108,
  TestReqID: 112,
  GapFillFlag: 123,
  BeginSeqNo: 7,
  EndSeqNo: 16,
  NewSeqNo: 36,
  RefSeqNum: 45,
  RefTagID: 371,
  RefMsgType: 372,
  SessionRejectReason: 373,
  BusinessRejectRefID: 379,
  BusinessRejectReason: 380,
  ResetSeqNumFlag: 141,
  NextExpectedMsgSeqNum: 789,
  Username: 553,
  Password: 554,
} as const;

/** 35 MsgType values of FIX 4.4 that the acceptor handles. */
export const MsgType = {
  Heartbeat: '0',
  TestRequest: '1',
  ResendRequest: '2',
  Reject: '3',
  SequenceReset: '4',
  Logout: '5',
  ExecutionReport: '8',
  OrderCancelReject: '9',
  Logon: 'A',
  NewOrderSingle: 'D',
  OrderCancelRequest: 'F',
  OrderCancelReplaceRequest: 'G',
  OrderStatusRequest: 'H',
  BusinessMessageReject: 'j',
  OrderMassCancelRequest: 'q',
  OrderMassCancelReport: 'r',
} as const;

/** Admin (session-level) message types: everything else is an application message. */
export const ADMIN_MSG_TYPES: ReadonlySet<string> = new Set(['0', '1', '2', '3', '4', '5', 'A']);

/** 373 SessionRejectReason values (FIX 4.4). */
export const SessionRejectReason = {
  InvalidTagNumber: 0,
  RequiredTagMissing: 1,
  TagNotDefinedForMessageType: 2,
  UndefinedTag: 3,
  TagSpecifiedWithoutValue: 4,
  ValueIsIncorrect: 5,
  IncorrectDataFormat: 6,
  DecryptionProblem: 7,
  SignatureProblem: 8,
  CompIdProblem: 9,
  SendingTimeAccuracyProblem: 10,
  InvalidMsgType: 11,
  XmlValidationError: 12,
  TagAppearsMoreThanOnce: 13,
  TagOutOfOrder: 14,
  RepeatingGroupFieldsOutOfOrder: 15,
  IncorrectNumInGroupCount: 16,
  NonDataValueIncludesFieldDelimiter: 17,
  Other: 99,
} as const;

/** Why a message is refused at the session level: the content of its Reject (35=3) (fix/validate.ts finds it). */
export interface FixInvalid {
  /** 373 SessionRejectReason. */
  reason: number;
  /** 371 RefTagID: the tag at fault, when there is one. */
  refTagId?: number;
  /** 58 Text. */
  text: string;
}

/** 380 BusinessRejectReason values (FIX 4.4). */
export const BusinessRejectReason = {
  Other: 0,
  UnknownId: 1,
  UnknownSecurity: 2,
  UnsupportedMessageType: 3,
  ApplicationNotAvailable: 4,
  ConditionallyRequiredFieldMissing: 5,
  NotAuthorized: 6,
  DeliverToFirmNotAvailable: 7,
} as const;

/**
 * The application's side of a logged-on session (fix/application.ts implements it; the session
 * layer calls it). Replies and unsolicited messages (ExecutionReports of fills, drop copies) go
 * out through the `send` the session passed to `FixApplication.logon`, in the order they are sent.
 */
export interface FixAppSession {
  /** An application message that passed the session's checks, in sequence (never a duplicate). */
  deliver(msg: FixMessage): void;
  /** The session ended (Logout, disconnect, error): cancel-on-disconnect applies. Idempotent. */
  close(): void;
  /**
   * Optional (additive): the connection ended but the acceptor parks the session (trading
   * sessions; fix/README.md "Parked sessions"). End the application session as close() does
   * (cancel-on-disconnect applies) but keep sending through `send`, until close(), what a
   * connected session would still be sent: replies to messages already delivered and unsolicited
   * reports. Without it the acceptor calls close() and parks nothing.
   */
  park?(): void;
}

/** What the session needs to know about the logged-on counterparty (the store is keyed by it). */
export interface LogonAccepted {
  app: FixAppSession;
  /** The account the session trades for (trading) or the accounts it copies (drop copy). */
  account: number;
  kind: 'trading' | 'drop-copy';
}

export interface LogonRefused {
  refused: true;
  /** 58 Text of the Logout that answers the Logon. */
  text: string;
}

/** The application as the session layer sees it. */
export interface FixApplication {
  /**
   * Authenticates a Logon (already checked by the session: well formed, comp ids, sequence) and
   * opens the application session. `send` delivers an application message to the counterparty
   * through the session (which numbers, stores and writes it). `logout` (optional, additive) lets
   * the application end the session itself with a Logout carrying `text` (a drop copy that fell
   * behind FIX_DROP_COPY_QUEUE_MAX); the session then calls `close()` as for any end.
   */
  logon(
    logon: FixMessage,
    send: (out: OutgoingFix) => void,
    logout?: (text: string) => void,
  ): Promise<LogonAccepted | LogonRefused>;
}
