// A tiny FIX 4.4 test initiator over a real socket, for the fix/ tests: encodes and frames with
// fix/codec.ts, numbers its own messages, signs the Logon as fix/README.md says (api/signing.ts
// canonicalRequest over `FIX.4.4 A <SenderCompID> <TargetCompID> <MsgSeqNum>`), and collects what
// the acceptor sends so a test can wait for a message with generous deadlines.

import net from 'node:net';
import tls from 'node:tls';
import { canonicalRequest, ed25519Sign, hmacSign } from '../../api/signing.js';
import { encodeFix, FixFramer } from '../../fix/codec.js';
import { formatUtcTimestamp, parseUtcTimestamp } from '../../fix/fields.js';
import { type FixField, type FixMessage, fieldOf, MsgType, Tag } from '../../fix/message.js';
import type { KeyObject } from 'node:crypto';

export interface InitiatorOptions {
  host?: string;
  port: number;
  senderCompId: string;
  targetCompId?: string;
  /** Connect over TLS: the CA the acceptor's certificate chains to, and a client cert/key for mutual TLS. */
  tls?: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string; serverName?: string };
}

export type LogonSigner = { hmacSecret: string } | { ed25519: KeyObject };

export interface LogonOptions {
  apiKey: string;
  signer: LogonSigner;
  heartBtIntS?: number;
  resetSeqNum?: boolean;
  cancelOnDisconnect?: boolean;
  extra?: FixField[];
}

export interface SendOptions {
  seqNum?: number;
  possDup?: boolean;
  origSendingTime?: string;
  sendingTime?: string;
  senderCompId?: string;
  targetCompId?: string;
}

/** The Logon signature (RawData 96): what a client computes, as fix/README.md describes. */
export function signLogon(
  signer: LogonSigner,
  sendingTime: string,
  senderCompId: string,
  targetCompId: string,
  seqNum: number,
): string {
  const ms = parseUtcTimestamp(sendingTime);
  if (ms === undefined) throw new Error(`bad SendingTime ${sendingTime}`);
  const canonical = canonicalRequest(
    String(ms),
    `FIX.4.4 A ${senderCompId} ${targetCompId} ${seqNum}`,
    new Uint8Array(0),
  );
  return 'hmacSecret' in signer ? hmacSign(signer.hmacSecret, canonical) : ed25519Sign(signer.ed25519, canonical);
}

export class TestInitiator {
  readonly received: FixMessage[] = [];
  nextSeqNum = 1;
  private readonly framer = new FixFramer();
  private socket!: net.Socket;
  private ended = false;
  private readonly targetCompId: string;

  private constructor(private readonly options: InitiatorOptions) {
    this.targetCompId = options.targetCompId ?? 'MATCHBOOK';
  }

  static async connect(options: InitiatorOptions): Promise<TestInitiator> {
    const ini = new TestInitiator(options);
    await new Promise<void>((resolve, reject) => {
      const host = options.host ?? '127.0.0.1';
      ini.socket =
        options.tls === undefined
          ? net.connect({ host, port: options.port }, resolve)
          : tls.connect({ host, port: options.port, ...options.tls }, resolve);
      ini.socket.once('error', reject);
    });
    ini.socket.on('error', () => {});
    ini.socket.on('data', (chunk: Buffer) => {
      for (const r of ini.framer.push(chunk)) if (r.kind === 'message') ini.received.push(r.msg);
    });
    ini.socket.on('close', () => {
      ini.ended = true;
    });
    return ini;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Encodes one message as this initiator (its comp ids and next number unless overridden). */
  encode(msgType: string, body: FixField[], opts: SendOptions = {}): Buffer {
    const seqNum = opts.seqNum ?? this.nextSeqNum++;
    const header: FixField[] = [
      [Tag.MsgType, msgType],
      [Tag.SenderCompID, opts.senderCompId ?? this.options.senderCompId],
      [Tag.TargetCompID, opts.targetCompId ?? this.targetCompId],
      [Tag.MsgSeqNum, String(seqNum)],
    ];
    if (opts.possDup === true) header.push([Tag.PossDupFlag, 'Y']);
    header.push([Tag.SendingTime, opts.sendingTime ?? formatUtcTimestamp(Date.now())]);
    if (opts.origSendingTime !== undefined) header.push([Tag.OrigSendingTime, opts.origSendingTime]);
    return encodeFix(header, body);
  }

  send(msgType: string, body: FixField[], opts: SendOptions = {}): void {
    this.sendRaw(this.encode(msgType, body, opts));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  logon(options: LogonOptions, opts: SendOptions = {}): void {
    if (options.resetSeqNum === true) this.nextSeqNum = 1;
    const seqNum = opts.seqNum ?? this.nextSeqNum;
    const sendingTime = opts.sendingTime ?? formatUtcTimestamp(Date.now());
    const signature = signLogon(options.signer, sendingTime, this.options.senderCompId, this.targetCompId, seqNum);
    const body: FixField[] = [
      [Tag.EncryptMethod, '0'],
      [Tag.HeartBtInt, String(options.heartBtIntS ?? 30)],
      [Tag.RawDataLength, String(Buffer.byteLength(signature, 'latin1'))],
      [Tag.RawData, signature],
    ];
    if (options.resetSeqNum === true) body.push([Tag.ResetSeqNumFlag, 'Y']);
    body.push([Tag.Username, options.apiKey]);
    if (options.cancelOnDisconnect === true) body.push([8013, 'Y']);
    body.push(...(options.extra ?? []));
    this.send(MsgType.Logon, body, { ...opts, seqNum, sendingTime });
    if (opts.seqNum === undefined) this.nextSeqNum = seqNum + 1;
  }

  /** Waits (polling, generous deadline) for a received message that matches, after index `from`. */
  async waitFor(match: (m: FixMessage) => boolean, timeoutMs = 15_000, from = 0): Promise<FixMessage> {
    const deadlineMs = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.slice(from).find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadlineMs)
        throw new Error(`no matching FIX message within ${timeoutMs} ms; received ${this.describe()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  waitForType(msgType: string, timeoutMs?: number, from = 0): Promise<FixMessage> {
    return this.waitFor((m) => m.msgType === msgType, timeoutMs, from);
  }

  async waitClosed(timeoutMs = 15_000): Promise<void> {
    const deadlineMs = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadlineMs) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  describe(): string {
    return this.received.map((m) => `${m.msgType}(34=${fieldOf(m, Tag.MsgSeqNum)})`).join(' ');
  }

  close(): void {
    this.socket.destroy();
  }
}
