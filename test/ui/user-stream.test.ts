// The page's user-stream client (ui/src/ticket/user-stream.ts) without a browser: a fake
// WebSocket plays the gateway's side of the protocol (gateway/README.md "Private user stream")
// so that the reconnect and resume decisions can be checked message by message. The real
// gateway is exercised by test/ui/order-ticket.test.ts; these are the paths it cannot provoke
// on demand (a gateway restarted in a new epoch, credentials WebCrypto refuses).

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamReport } from '../../ui/src/ticket/orders-store.js';
import { type LoginAnswer, UserStream } from '../../ui/src/ticket/user-stream.js';

/** The browser's WebSocket as far as UserStream uses it; the test drives the server's side. */
class FakeSocket {
  static readonly OPEN = 1;
  static opened: FakeSocket[] = [];
  readyState = 0;
  readonly sent: Record<string, unknown>[] = [];
  closedByClient = false;
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.opened.push(this);
  }

  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }

  close(): void {
    this.closedByClient = true;
    this.readyState = 3;
  }

  // --- the server's side ---
  accept(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }

  push(m: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(m) });
  }

  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

const HMAC = { apiKey: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };

function newStream(creds: typeof HMAC | { apiKey: string; ed25519SeedBase64: string }) {
  const problems: { text: string; final: boolean }[] = [];
  const logins: LoginAnswer[] = [];
  const stream = new UserStream(creds, () => Date.now(), {
    onLogin: (a) => logins.push(a),
    onReport: (_r: StreamReport) => {},
    onGap: () => {},
    onProblem: (text, final) => problems.push({ text, final }),
  });
  return { stream, problems, logins };
}

/** The login the client sent on `ws` (signing is asynchronous: WebCrypto). */
async function loginOf(ws: FakeSocket): Promise<Record<string, unknown>> {
  await vi.waitFor(() => expect(ws.sent.length).toBe(1), { timeout: 30_000 });
  return ws.sent[0]!;
}

/** Lets the reconnect timer fire; the new socket. */
async function reconnected(count: number): Promise<FakeSocket> {
  await vi.advanceTimersByTimeAsync(60_000);
  expect(FakeSocket.opened.length).toBe(count);
  return FakeSocket.opened.at(-1)!;
}

const loginAnswer = (epoch: string, streamSeq: number) => ({
  type: 'login',
  account: 1,
  api_key: HMAC.apiKey,
  epoch,
  stream_seq: streamSeq,
  min_seq: { '0': 7 },
});

beforeEach(() => {
  FakeSocket.opened = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('location', { protocol: 'http:', host: '127.0.0.1:8080' });
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('the page user stream', () => {
  it('resumes from the new epoch after the gateway restarted in one (not from the old epoch last seq)', async () => {
    const { stream, problems } = newStream(HMAC);
    stream.start();
    const ws1 = FakeSocket.opened[0]!;
    ws1.accept();
    expect(await loginOf(ws1)).not.toHaveProperty('resume_from');
    ws1.push(loginAnswer('A', 0));
    for (let seq = 1; seq <= 5; seq++) ws1.push({ type: 'report', epoch: 'A', stream_seq: seq, report: {} });
    ws1.drop(1006);

    const ws2 = await reconnected(2);
    ws2.accept();
    expect(await loginOf(ws2)).toMatchObject({ resume_from: 5, epoch: 'A' });
    // The gateway lost its journal: a new epoch whose numbering starts again, nothing of it held yet.
    ws2.push(loginAnswer('B', 0));
    ws2.push({ type: 'resume_gap', epoch: 'B', epoch_changed: true, missed_from: 1, missed_to: 0, min_seq: {} });
    ws2.drop(1006);

    const ws3 = await reconnected(3);
    ws3.accept();
    // resume_from 5 in epoch B would be RESUME_AHEAD: a 4001 close, the user signed out.
    expect(await loginOf(ws3)).toMatchObject({ resume_from: 0, epoch: 'B' });
    // Within an epoch a gap moves the resume point past what is no longer held.
    ws3.push(loginAnswer('B', 30));
    ws3.push({ type: 'resume_gap', epoch: 'B', epoch_changed: false, missed_from: 1, missed_to: 20, min_seq: {} });
    ws3.drop(1006);
    const ws4 = await reconnected(4);
    ws4.accept();
    expect(await loginOf(ws4)).toMatchObject({ resume_from: 20, epoch: 'B' });
    expect(problems.every((p) => !p.final)).toBe(true);
    stream.stop();
  });

  it('stops, and opens no other connection, when the credentials cannot be signed with', async () => {
    const { stream, problems } = newStream({ apiKey: 'k', ed25519SeedBase64: 'AAAA' }); // 3 bytes, not 32
    stream.start();
    const ws1 = FakeSocket.opened[0]!;
    ws1.accept();
    await vi.waitFor(() => expect(problems.length).toBeGreaterThan(0), { timeout: 30_000 });
    expect(problems[0]).toMatchObject({ final: true });
    expect(problems[0]!.text).toMatch(/^login not signed: /);
    expect(ws1.sent).toEqual([]);
    expect(ws1.closedByClient).toBe(true);
    // The gateway's login timeout would close it (4002): no new connection follows.
    ws1.drop(4002);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.opened.length).toBe(1);
  });
});
