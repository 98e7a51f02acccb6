// A fake FixApplication for the session-layer tests (the real one is fix/application.ts): it
// checks the Logon signature with api/signing.ts (HMAC keys only) and answers each
// NewOrderSingle (D) with an ExecutionReport (8) New echoing ClOrdID, Symbol, Side and OrderQty.

import { canonicalRequest, hmacVerify } from '../../api/signing.js';
import { parseUtcTimestamp } from '../../fix/fields.js';
import {
  type FixApplication,
  type FixMessage,
  fieldOf,
  type LogonAccepted,
  type LogonRefused,
  MsgType,
  type OutgoingFix,
  Tag,
} from '../../fix/message.js';

export interface EchoApplication extends FixApplication {
  readonly delivered: FixMessage[];
  closes: number;
  logons: number;
}

export function echoApplication(secrets: Record<string, string>): EchoApplication {
  let orders = 0;
  const app: EchoApplication = {
    delivered: [],
    closes: 0,
    logons: 0,
    async logon(logon: FixMessage, send: (out: OutgoingFix) => void): Promise<LogonAccepted | LogonRefused> {
      const apiKey = fieldOf(logon, Tag.Username) ?? '';
      const secret = secrets[apiKey];
      const ms = parseUtcTimestamp(fieldOf(logon, Tag.SendingTime) ?? '');
      const target = `FIX.4.4 A ${fieldOf(logon, Tag.SenderCompID)} ${fieldOf(logon, Tag.TargetCompID)} ${fieldOf(logon, Tag.MsgSeqNum)}`;
      const canonical = canonicalRequest(String(ms), target, new Uint8Array(0));
      if (secret === undefined || !hmacVerify(secret, canonical, fieldOf(logon, Tag.RawData) ?? ''))
        return { refused: true, text: 'bad signature' };
      app.logons++;
      return {
        account: 1,
        kind: 'trading',
        app: {
          deliver(msg: FixMessage): void {
            app.delivered.push(msg);
            if (msg.msgType !== MsgType.NewOrderSingle) return;
            orders++;
            send({
              msgType: MsgType.ExecutionReport,
              body: [
                [37, `O${orders}`],
                [11, fieldOf(msg, 11) ?? ''],
                [17, `E${orders}`],
                [150, '0'],
                [39, '0'],
                [55, fieldOf(msg, 55) ?? ''],
                [54, fieldOf(msg, 54) ?? ''],
                [38, fieldOf(msg, 38) ?? ''],
                [151, fieldOf(msg, 38) ?? ''],
                [14, '0'],
                [6, '0'],
              ],
            });
          },
          close(): void {
            app.closes++;
          },
        },
      };
    },
  };
  return app;
}
