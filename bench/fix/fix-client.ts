// A lean FIX 4.4 initiator for the benchmarks: one TCP connection, a signed Logon (fix/README.md,
// "Connecting"), NewOrderSingles matched to their first ExecutionReport by ClOrdID, TestRequests
// answered. It encodes and frames with the acceptor's own codec (fix/codec.ts): what it measures
// is the exchange, not a client library.

import net from 'node:net';
import { canonicalRequest, hmacSign } from '../../api/signing.js';
import { encodeFix, FixFramer } from '../../fix/codec.js';
import { formatUtcTimestamp, parseUtcTimestamp } from '../../fix/fields.js';
import { type FixField, type FixMessage, fieldOf, MsgType, Tag } from '../../fix/message.js';

const TARGET = 'MATCHBOOK';

export class FixBenchClient {
  private readonly framer = new FixFramer();
  private readonly waiting = new Map<string, { resolve: (m: FixMessage) => void; reject: (e: Error) => void }>();
  private seq = 1;
  private logon?: { resolve: () => void; reject: (e: Error) => void };

  private constructor(
    private readonly socket: net.Socket,
    private readonly senderCompId: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const r of this.framer.push(chunk)) if (r.kind === 'message') this.onMessage(r.msg);
    });
    socket.on('close', () => this.failAll(new Error(`FIX connection ${senderCompId} closed`)));
    socket.on('error', () => undefined);
  }

  /** Connects and logs on with an HMAC key, resetting the sequence numbers (141=Y). */
  static async connect(host: string, port: number, senderCompId: string, key: { key: string; hmacSecret: string }) {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new FixBenchClient(socket, senderCompId);
    const sendingTime = formatUtcTimestamp(Date.now());
    const canonical = canonicalRequest(
      String(parseUtcTimestamp(sendingTime)),
      `FIX.4.4 A ${senderCompId} ${TARGET} 1`,
      new Uint8Array(0),
    );
    const signature = hmacSign(key.hmacSecret, canonical);
    const loggedOn = new Promise<void>((resolve, reject) => {
      c.logon = { resolve, reject };
    });
    c.send(
      MsgType.Logon,
      [
        [Tag.EncryptMethod, '0'],
        [Tag.HeartBtInt, '30'],
        [Tag.RawDataLength, String(signature.length)],
        [Tag.RawData, signature],
        [Tag.ResetSeqNumFlag, 'Y'],
        [Tag.Username, key.key],
      ],
      sendingTime,
    );
    await loggedOn;
    return c;
  }

  /** Sends a NewOrderSingle; resolves with its first ExecutionReport (rejects on a refusal). */
  place(body: FixField[]): Promise<FixMessage> {
    const clOrdId = body.find(([t]) => t === 11)![1];
    const answered = new Promise<FixMessage>((resolve, reject) => this.waiting.set(clOrdId, { resolve, reject }));
    this.send(MsgType.NewOrderSingle, body);
    return answered;
  }

  close(): void {
    this.socket.destroy();
  }

  private send(msgType: string, body: FixField[], sendingTime = formatUtcTimestamp(Date.now())): void {
    const header: FixField[] = [
      [Tag.MsgType, msgType],
      [Tag.SenderCompID, this.senderCompId],
      [Tag.TargetCompID, TARGET],
      [Tag.MsgSeqNum, String(this.seq++)],
      [Tag.SendingTime, sendingTime],
    ];
    this.socket.write(encodeFix(header, body));
  }

  private onMessage(m: FixMessage): void {
    if (m.msgType === MsgType.Logon) this.logon?.resolve();
    else if (m.msgType === MsgType.Logout) this.failAll(new Error(`logout: ${fieldOf(m, Tag.Text) ?? ''}`));
    else if (m.msgType === MsgType.TestRequest)
      this.send(MsgType.Heartbeat, [[Tag.TestReqID, fieldOf(m, Tag.TestReqID) ?? '']]);
    else if (m.msgType === MsgType.ExecutionReport) {
      const w = this.waiting.get(fieldOf(m, 11) ?? '');
      if (w === undefined) return; // a maker's fill, or a later report of the order
      this.waiting.delete(fieldOf(m, 11)!);
      if (fieldOf(m, 150) === '8') w.reject(new Error(`rejected: ${fieldOf(m, Tag.Text) ?? ''}`));
      else w.resolve(m);
    } else if (m.msgType === MsgType.Reject || m.msgType === MsgType.BusinessMessageReject)
      this.failAll(new Error(`FIX ${m.msgType}: ${fieldOf(m, Tag.Text) ?? ''}`));
  }

  private failAll(err: Error): void {
    this.logon?.reject(err);
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
