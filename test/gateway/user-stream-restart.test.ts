// The private user stream across gateway restarts, over real sockets (three replica processes,
// the in-process gateway restarted on the same data dir and ports by the local exchange): two
// accounts trade, one client is disconnected when the gateway stops, the other is cut off by the
// stop itself; after the restart (a clean stop, then a kill -9-like one: the user-stream journal
// closed without its stop record) both resume with (epoch, resume_from) and get exactly the
// reports they missed — those sent just before the restart and those after it — in order, each
// once, under the same epoch and a dense stream_seq, signed as replies are.
//
// What the crash restart covers: the gateway runs in the test's process, so it cannot be killed;
// the journal is abandoned as a kill -9 leaves it (every record written with write(2) as the
// report was published, no stop record, no flush), and the rest of the gateway stops gracefully.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { OrderEntryRestClient, type RestClientKey } from '../../gateway/client/rest-client.js';
import type { OrderResultResponse } from '../../gateway/client/grpc-client.js';
import { UserStreamCloseCode } from '../../gateway/user-stream-server.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { hmacSign, signRequest } from '../../api/signing.js';
import { canonicalReport } from '../../api/report-canonical.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
/** Generous: a loaded 2-core machine with other suites running. */
const WAIT_MS = 60_000;

let ex: LocalExchange;
let seq = 0;
const cid = (p: string) => `${p}-${++seq}`;
let bidPx = 4_800_000;

const sockets: WsConnection[] = [];

beforeAll(async () => {
  ex = await startLocalExchange({ userStreamReportsHeldMax: 256 });
}, 120_000);

afterAll(async () => {
  for (const ws of sockets) ws.destroy();
  await ex?.stop();
}, 60_000);

async function poll<T>(what: string, fn: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

type Msg = Record<string, unknown> & { type: string };
interface StreamReport extends Msg {
  epoch: string;
  stream_seq: number;
  report: ExecutionReportOut;
}

/** A raw user-stream connection to the current gateway, recording every message and its close. */
class Stream {
  readonly msgs: Msg[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WsConnection) {}

  static async open(): Promise<Stream> {
    const holder: { s?: Stream; early: Msg[]; close?: { code: number; reason: string } } = { early: [] };
    const ws = await WsConnection.connect(`${ex.restUrl.replace(/^http/, 'ws')}/v1/user-stream`, {
      onMessage: (d) => (holder.s?.msgs ?? holder.early).push(JSON.parse(d.toString('utf8')) as Msg),
      onClose: (code, reason) => {
        if (holder.s !== undefined) holder.s.closed = { code, reason };
        else holder.close = { code, reason };
      },
    });
    sockets.push(ws);
    const s = new Stream(ws);
    s.msgs.push(...holder.early);
    s.closed = holder.close;
    holder.s = s;
    return s;
  }

  async login(key: RestClientKey, extra: Record<string, unknown> = {}): Promise<Msg> {
    const a = signRequest(key, 'GET /v1/user-stream', new Uint8Array(0));
    this.ws.send(
      JSON.stringify({ op: 'login', api_key: a.apiKey, timestamp: a.timestamp, signature: a.signature, ...extra }),
    );
    return poll('the login answer', () => this.msgs.find((m) => m.type === 'login' || m.type === 'error'));
  }

  get reports(): StreamReport[] {
    return this.msgs.filter((m): m is StreamReport => m.type === 'report');
  }

  async reportsUntil(n: number): Promise<StreamReport[]> {
    await poll(`${n} reports on the stream`, () => this.reports.length >= n);
    return this.reports;
  }

  waitClosed(): Promise<{ code: number; reason: string }> {
    return poll('the close', () => this.closed);
  }
}

const ids = (rs: { exec_id: number }[]) => rs.map((r) => r.exec_id);

function client(key: RestClientKey): OrderEntryRestClient {
  return new OrderEntryRestClient({ baseUrl: ex.restUrl, key });
}

/**
 * One round of activity on the current gateway: account 1 rests two buys and cancels one,
 * account 2 sells into the other (account 1's maker fill). Returns each account's reports in
 * the order the gateway published them: the replies' reports, account 1's maker fill after them.
 */
async function activity(): Promise<{ a1: number[]; a2: number[]; makerOrder: number }> {
  const r1 = client(K1);
  const r2 = client(K2);
  const a1: number[] = [];
  const buy = () => ({
    client_order_id: cid('b'),
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    price: (bidPx -= 100),
    quantity: 2,
  });
  const p1 = (await r1.placeOrder(buy())) as { status: number; body: OrderResultResponse };
  expect(p1.status).toBe(201);
  a1.push(...ids(p1.body.result.reports));
  const p2 = (await r1.placeOrder(buy())) as { status: number; body: OrderResultResponse };
  a1.push(...ids(p2.body.result.reports));
  const c = (await r1.cancelOrder(p2.body.result.reports[0]!.order_id)) as { body: OrderResultResponse };
  a1.push(...ids(c.body.result.reports));
  const sell = (await r2.placeOrder({
    client_order_id: cid('s'),
    symbol: 'BTC-USD',
    side: 'SELL',
    order_type: 'LIMIT',
    price: p1.body.result.reports[0]!.price,
    quantity: 2,
    time_in_force: 'IOC',
  })) as { status: number; body: OrderResultResponse };
  expect(sell.status).toBe(201);
  return { a1, a2: ids(sell.body.result.reports), makerOrder: p1.body.result.reports[0]!.order_id };
}

/** Exactly `expected` (exec ids), dense from `from`, in `epoch`, each signed with the key as replies are. */
function expectExactly(got: StreamReport[], expected: number[], from: number, epoch: string, secret: string): void {
  expect(ids(got.map((m) => m.report))).toEqual(expected);
  got.forEach((m, i) => {
    expect(m.stream_seq).toBe(from + i);
    expect(m.epoch).toBe(epoch);
    expect(m.report.signature).toBe(hmacSign(secret, canonicalReport(m.report)));
  });
}

describe('the private user stream across gateway restarts', () => {
  it.each([
    ['a clean stop', false],
    ['a kill -9-like stop (no stop record, nothing flushed)', true],
  ])('after %s, a resume gets exactly the missed reports under the same epoch', async (_what, crash) => {
    // Account 1 logs in, takes part, then disconnects; account 2 stays connected until the stop.
    const s1 = await Stream.open();
    const l1 = await s1.login(K1);
    const s2 = await Stream.open();
    const l2 = await s2.login(K2);
    expect(l1.type).toBe('login');
    const epoch = l1.epoch as string;
    expect(l2.epoch).toBe(epoch);
    const before = await activity();
    // Account 1's maker fill is published after its own replies: wait for all of them.
    const got1 = await s1.reportsUntil(before.a1.length + 1);
    const maker1 = got1.at(-1)!.report;
    expect(maker1).toMatchObject({ order_id: before.makerOrder, exec_type: 'TRADE' });
    expectExactly(got1, [...before.a1, maker1.exec_id], (l1.stream_seq as number) + 1, epoch, K1.hmacSecret);
    const last1 = got1.at(-1)!.stream_seq;
    s1.ws.close();
    await s1.waitClosed();
    // Sent just before the restart: account 1 is not there to receive them.
    const justBefore = await activity();
    const got2 = await s2.reportsUntil(before.a2.length + justBefore.a2.length);
    const last2 = got2.at(-1)!.stream_seq;

    await ex.restartGateway({ crash });
    // 1001 from the user-stream edge; the app closes its sockets right after, so the close frame
    // can be overtaken by a reset (1006): either way the connection is gone with every report sent.
    expect([UserStreamCloseCode.GOING_AWAY, 1006]).toContain((await s2.waitClosed()).code);
    expect(s2.reports).toHaveLength(before.a2.length + justBefore.a2.length);
    const after = await activity();

    // Account 1 resumes from before the last round of the old run; account 2 from its last report.
    const r1 = await Stream.open();
    const lr1 = await r1.login(K1, { resume_from: last1, epoch });
    expect(lr1).toMatchObject({ type: 'login', epoch, next_seq: last1 + 1 });
    const r2 = await Stream.open();
    const lr2 = await r2.login(K2, { resume_from: last2, epoch });
    expect(lr2).toMatchObject({ type: 'login', epoch, next_seq: last2 + 1 });
    const n1 = justBefore.a1.length + 1 + after.a1.length + 1;
    const back1 = await r1.reportsUntil(n1);
    const makers = back1.filter((m) => m.report.exec_type === 'TRADE' && m.report.side === 'BUY');
    expect(makers.map((m) => m.report.order_id)).toEqual([justBefore.makerOrder, after.makerOrder]);
    const [mj, ma] = makers.map((m) => m.report.exec_id);
    expectExactly(back1, [...justBefore.a1, mj!, ...after.a1, ma!], last1 + 1, epoch, K1.hmacSecret);
    const back2 = await r2.reportsUntil(after.a2.length);
    expectExactly(back2, after.a2, last2 + 1, epoch, K2.hmacSecret);
    // Nothing more, no gap announced, and the streams go on live in the same numbering.
    for (const r of [r1, r2]) expect(r.msgs.some((m) => m.type === 'resume_gap')).toBe(false);
    expect(r1.reports).toHaveLength(n1);
    const live = await activity();
    const all2 = await r2.reportsUntil(after.a2.length + live.a2.length);
    expectExactly(all2, [...after.a2, ...live.a2], last2 + 1, epoch, K2.hmacSecret);
    r1.ws.close();
    r2.ws.close();
    await client(K1).massCancel({ symbol: 'BTC-USD' });
    await client(K2).massCancel({ symbol: 'BTC-USD' });
  });
});
