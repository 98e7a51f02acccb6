// Helpers of the FIX application tests (test/fix/application*.test.ts): FIX messages as the
// session layer would deliver them, signed Logons, and a `send` that collects what the
// application writes, with a bounded poll.

import { signRequest } from '../../api/signing.js';
import { type FixAppSession, type FixField, type FixMessage, type OutgoingFix, fieldOf } from '../../fix/message.js';
import { waitFor } from '../fuzz/harness.js';

let seq = 1;

/** A message with the header the session layer checked (8, 9, 35, 34, 49, 52, 56), then `body`. */
export function fixMessage(msgType: string, body: FixField[], sender = 'CLIENT1', msgSeqNum = seq++): FixMessage {
  const fields: FixField[] = [
    [8, 'FIX.4.4'],
    [9, '0'],
    [35, msgType],
    [34, String(msgSeqNum)],
    [49, sender],
    [52, utcMs(Date.now())],
    [56, 'MATCHBOOK'],
    ...body,
    [10, '000'],
  ];
  return { msgType, fields };
}

/** A UTCTimestamp with milliseconds. */
export function utcMs(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 23)}`;
}

/** A Logon signed with `key` as fix/README.md says (SendingTime in ms, target `FIX.4.4 A <49> <56> <34>`). */
export function logonMessage(
  key: { key: string; hmacSecret: string },
  o: { sender?: string; sendingMs?: number; cod?: 'Y' | 'N'; signature?: string; target?: string } = {},
): FixMessage {
  const sender = o.sender ?? `C${seq}`;
  const msgSeqNum = 1;
  const sendingMs = o.sendingMs ?? Date.now();
  const target = `FIX.4.4 A ${sender} ${o.target ?? 'MATCHBOOK'} ${msgSeqNum}`;
  const signature = o.signature ?? signRequest(key, target, new Uint8Array(0), sendingMs).signature;
  seq++;
  return {
    msgType: 'A',
    fields: [
      [8, 'FIX.4.4'],
      [9, '0'],
      [35, 'A'],
      [34, String(msgSeqNum)],
      [49, sender],
      [52, utcMs(sendingMs)],
      [56, o.target ?? 'MATCHBOOK'],
      [98, '0'],
      [108, '30'],
      [553, key.key],
      [95, String(signature.length)],
      [96, signature],
      ...(o.cod !== undefined ? ([[8013, o.cod]] as FixField[]) : []),
      [10, '000'],
    ],
  };
}

/** What the application sent on one session, in order. */
export class Collected {
  readonly out: OutgoingFix[] = [];
  readonly send = (o: OutgoingFix): void => {
    this.out.push(o);
  };
  /** Waits (bounded, generous) until at least `n` messages came; returns them all. */
  async atLeast(n: number, what = `${n} messages`): Promise<OutgoingFix[]> {
    await waitFor(what, () => this.out.length >= n, 30_000);
    return this.out;
  }
  /** Takes what came so far (and forgets it). */
  take(): OutgoingFix[] {
    return this.out.splice(0, this.out.length);
  }
  /** Waits until `n` messages came, and takes exactly them. */
  async next(n: number, what?: string): Promise<OutgoingFix[]> {
    await this.atLeast(n, what);
    return this.out.splice(0, n);
  }
}

/** The value of `tag` in an outgoing message. */
export function tagOf(o: OutgoingFix, tag: number): string | undefined {
  return fieldOf({ msgType: o.msgType, fields: o.body }, tag);
}

/** The outgoing message as a tag → value object (first of each tag), for toMatchObject. */
export function tags(o: OutgoingFix): Record<number, string> {
  const r: Record<number, string> = { 35: o.msgType } as Record<number, string>;
  for (const [t, v] of o.body) if (!(t in r)) r[t] = v;
  return r;
}

export type { FixAppSession };
