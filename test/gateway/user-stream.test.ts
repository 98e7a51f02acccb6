// The private user stream over real sockets (three replica processes, the gateway with its REST
// and gRPC servers, WS /v1/user-stream on the REST port): an account's stream carries every
// report of its orders exactly once, in order, signed as replies are — its own commands over
// REST, gRPC and an OrderSession, a maker fill caused by the other account, a kill-switch cancel
// — and the other account's stream none of them; a reconnect with resume_from gets exactly the
// missed reports; resuming from beyond the ring (or another epoch) gets RESUME_GAP first; bad
// logins get their error and close; a reader that stops reading is closed SLOW_CONSUMER.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { OrderEntryRestClient, type RestClientKey } from '../../gateway/client/rest-client.js';
import { OrderEntryGrpcClient, type OrderResultResponse } from '../../gateway/client/grpc-client.js';
import { RestGateway } from '../../gateway/rest-server.js';
import { UserStreamCloseCode } from '../../gateway/user-stream-server.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { hmacSign, signRequest } from '../../api/signing.js';
import { canonicalReport } from '../../api/report-canonical.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
const ADMIN = { key: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' };
/** Generous: a loaded 2-core machine with other suites running. */
const WAIT_MS = 60_000;
/** The ring of this exchange's gateway: small, so that a test can outrun it. */
const HELD = 64;

let ex: LocalExchange;
let rest1: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
let admin: OrderEntryRestClient;
let grpc1: OrderEntryGrpcClient;
let grpc2: OrderEntryGrpcClient;
let seq = 0;
const cid = (p: string) => `${p}-${++seq}`;
let bidPx = 4_900_000;

beforeAll(async () => {
  ex = await startLocalExchange({ userStreamReportsHeldMax: HELD });
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
  admin = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: ADMIN });
  grpc1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K1 });
  grpc2 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K2 });
}, 120_000);

afterAll(async () => {
  for (const c of streams) c.ws.destroy();
  grpc1?.close();
  grpc2?.close();
  await ex?.stop();
}, 60_000);

async function poll<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A resting buy of account 1, each at its own price below every ask. */
function buy() {
  bidPx -= 100;
  return {
    client_order_id: cid('b'),
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    price: bidPx,
    quantity: 2,
  };
}

type Msg = Record<string, unknown> & { type: string };
interface StreamReport extends Msg {
  epoch: string;
  stream_seq: number;
  report: ExecutionReportOut;
}

const streams: Stream[] = [];

/** A raw user-stream connection recording every message and its close. */
class Stream {
  readonly msgs: Msg[] = [];
  closed: { code: number; reason: string } | undefined;
  private constructor(readonly ws: WsConnection) {}

  static async open(baseUrl = ex.restUrl): Promise<Stream> {
    const holder: { s?: Stream; early: Msg[]; close?: { code: number; reason: string } } = { early: [] };
    const ws = await WsConnection.connect(`${baseUrl.replace(/^http/, 'ws')}/v1/user-stream`, {
      onMessage: (d) => (holder.s?.msgs ?? holder.early).push(JSON.parse(d.toString('utf8')) as Msg),
      onClose: (code, reason) => {
        if (holder.s !== undefined) holder.s.closed = { code, reason };
        else holder.close = { code, reason };
      },
    });
    const s = new Stream(ws);
    s.msgs.push(...holder.early);
    s.closed = holder.close;
    holder.s = s;
    streams.push(s);
    return s;
  }

  /** Sends a signed login (the REST signature of GET /v1/user-stream with no body) and waits for its answer. */
  async login(key: RestClientKey, extra: Record<string, unknown> = {}): Promise<Msg> {
    const a = signRequest(key, 'GET /v1/user-stream', new Uint8Array(0));
    this.ws.send(
      JSON.stringify({ op: 'login', api_key: a.apiKey, timestamp: a.timestamp, signature: a.signature, ...extra }),
    );
    return this.next((m) => m.type === 'login' || m.type === 'error');
  }

  next(pred: (m: Msg) => boolean): Promise<Msg> {
    return poll('a user-stream message', () => this.msgs.find(pred));
  }

  get reports(): StreamReport[] {
    return this.msgs.filter((m): m is StreamReport => m.type === 'report');
  }

  /** Waits until the stream holds n reports. */
  async reportsUntil(n: number): Promise<StreamReport[]> {
    await poll(`${n} reports on the stream`, () => this.reports.length >= n);
    return this.reports;
  }

  waitClosed(): Promise<{ code: number; reason: string }> {
    return poll('the close', () => this.closed);
  }
}

/** The stream's reports are dense from `from`, each signed with the key's secret as replies are. */
function expectDenseAndSigned(got: StreamReport[], from: number, secret: string): void {
  got.forEach((m, i) => {
    expect(m.stream_seq).toBe(from + i);
    expect(m.report.signature).toBe(hmacSign(secret, canonicalReport(m.report)));
  });
}

const ids = (rs: { exec_id: number }[]) => rs.map((r) => r.exec_id);

describe('the private user stream', () => {
  it("carries every report of the account's orders exactly once, in order; the other account's stream none", async () => {
    const s1 = await Stream.open();
    const s2 = await Stream.open();
    const l1 = await s1.login(K1);
    const l2 = await s2.login(K2);
    expect(l1).toMatchObject({ type: 'login', account: 1, api_key: K1.key });
    expect(l2).toMatchObject({ type: 'login', account: 2 });
    const expected: number[] = [];
    // REST place, gRPC place, REST amend, gRPC cancel, an OrderSession place.
    const a = (await rest1.placeOrder(buy())).body as OrderResultResponse;
    expected.push(...ids(a.result.reports));
    const aId = a.result.reports[0]!.order_id;
    const b = await grpc1.placeOrder(buy() as never);
    expected.push(...ids(b.result.reports));
    const am = await rest1.amendOrder(aId, { quantity: 3 });
    expect(am.status).toBe(200);
    expected.push(...ids((am.body as OrderResultResponse).result.reports));
    const cx = await grpc1.cancelOrder({ order_id: b.result.reports[0]!.order_id } as never);
    expected.push(...ids(cx.result.reports));
    const session = grpc1.openSession({});
    await session.ready;
    const sp = await session.send({ request_id: 1, commands: [{ place: buy() }] });
    expected.push(...ids(sp.outcomes[0]!.result!.reports));
    const killed = sp.outcomes[0]!.result!.reports[0]!.order_id;
    await session.close();
    // Account 2 sells into order A: account 1's maker fill, caused by the other account.
    const pxA = a.result.reports[0]!.price;
    const sell = (await rest2.placeOrder({
      client_order_id: cid('s'),
      symbol: 'BTC-USD',
      side: 'SELL',
      order_type: 'LIMIT',
      price: pxA,
      quantity: 1,
      time_in_force: 'IOC',
    })) as { status: number; body: OrderResultResponse };
    expect(sell.status).toBe(201);
    const mine2 = ids(sell.body.result.reports);
    const got1 = await s1.reportsUntil(expected.length + 1);
    const makerFill = got1[expected.length]!.report;
    expect(makerFill).toMatchObject({ account: 1, order_id: aId, exec_type: 'TRADE', last_qty: 1 });
    expected.push(makerFill.exec_id);
    // The kill switch cancels account 1's resting orders: A and the session's order.
    try {
      expect((await admin.admin('kill-switch', { account: 1, active: true })).status).toBe(200);
      const all = await s1.reportsUntil(expected.length + 2);
      const cancels = all.slice(expected.length).map((m) => m.report);
      expect(new Set(cancels.map((r) => r.order_id))).toEqual(new Set([aId, killed]));
      for (const r of cancels) expect(r).toMatchObject({ exec_type: 'CANCELED', reason: 'KILL_SWITCH' });
      expected.push(...ids(cancels));
    } finally {
      expect((await admin.admin('kill-switch', { account: 1, active: false })).status).toBe(200);
    }
    // Exactly these, once each, in this order, dense from the login's next_seq, signed.
    const final1 = s1.reports;
    expect(ids(final1.map((m) => m.report))).toEqual(expected);
    expectDenseAndSigned(final1, l1.next_seq as number, K1.hmacSecret);
    for (const m of final1) expect(m.epoch).toBe(l1.epoch);
    // Account 2's stream: its own taker reports only.
    const got2 = await s2.reportsUntil(mine2.length);
    expect(ids(got2.map((m) => m.report))).toEqual(mine2);
    expectDenseAndSigned(got2, l2.next_seq as number, K2.hmacSecret);
    // Nothing more arrives on either (a later report of account 2 is the next one on its stream).
    const later = (await rest2.placeOrder({
      client_order_id: cid('s'),
      symbol: 'BTC-USD',
      side: 'SELL',
      order_type: 'LIMIT',
      price: 5_400_000,
      quantity: 1,
    })) as { status: number; body: OrderResultResponse };
    const all2 = await s2.reportsUntil(mine2.length + 1);
    expect(all2.at(-1)!.report.exec_id).toBe(later.body.result.reports[0]!.exec_id);
    expect(all2).toHaveLength(mine2.length + 1);
    expect(s1.reports).toHaveLength(expected.length);
    await rest2.massCancel({ symbol: 'BTC-USD' });
    s1.ws.close();
    s2.ws.close();
  });

  it("carries the gateway's own cancels: cancel-on-disconnect and the REST dead-man's switch (CancelAllAfter)", async () => {
    const s = await Stream.open();
    await s.login(K1);
    const session = grpc1.openSession({ cancelOnDisconnect: true });
    await session.ready;
    const placed = await session.send({ request_id: 1, commands: [{ place: buy() }] });
    const onDisconnect = placed.outcomes[0]!.result!.reports[0]!.order_id;
    session.cancel();
    const c1 = await poll('the cancel-on-disconnect report', () =>
      s.reports.find((m) => m.report.order_id === onDisconnect && m.report.exec_type === 'CANCELED'),
    );
    expect(c1.report.reason).toBe('MASS_CANCELED');
    const p = (await rest1.placeOrder(buy())).body as OrderResultResponse;
    const deadMan = p.result.reports[0]!.order_id;
    expect((await rest1.cancelAllAfter(500)).status).toBe(200);
    const c2 = await poll("the dead-man's switch report", () =>
      s.reports.find((m) => m.report.order_id === deadMan && m.report.exec_type === 'CANCELED'),
    );
    expect(c2.report.account).toBe(1);
    // Each report once, the stream dense: NEW, CANCELED, NEW, CANCELED.
    expect(s.reports.map((m) => m.report.exec_type)).toEqual(['NEW', 'CANCELED', 'NEW', 'CANCELED']);
    expectDenseAndSigned(s.reports, s.reports[0]!.stream_seq, K1.hmacSecret);
    s.ws.close();
  });

  it('a reconnect with resume_from gets exactly the missed reports: no gap, no duplicate', async () => {
    const s = await Stream.open();
    const l = await s.login(K1);
    const first = (await rest1.placeOrder(buy())).body as OrderResultResponse;
    const got = await s.reportsUntil(1);
    expect(got[0]!.report.exec_id).toBe(first.result.reports[0]!.exec_id);
    const last = got[0]!.stream_seq;
    s.ws.close();
    await s.waitClosed();
    // While disconnected: a place, a cancel, a gRPC place.
    const missed: number[] = [];
    const p = (await rest1.placeOrder(buy())).body as OrderResultResponse;
    missed.push(...ids(p.result.reports));
    const c = await rest1.cancelOrder(p.result.reports[0]!.order_id);
    missed.push(...ids((c.body as OrderResultResponse).result.reports));
    const g = await grpc1.placeOrder(buy() as never);
    missed.push(...ids(g.result.reports));
    const r = await Stream.open();
    const lr = await r.login(K1, { resume_from: last, epoch: l.epoch });
    expect(lr).toMatchObject({ type: 'login', epoch: l.epoch, next_seq: last + 1 });
    const back = await r.reportsUntil(missed.length);
    expect(ids(back.map((m) => m.report))).toEqual(missed);
    expectDenseAndSigned(back, last + 1, K1.hmacSecret);
    // Then live again, next in line.
    const live = await grpc1.cancelOrder({ order_id: g.result.reports[0]!.order_id } as never);
    const after = await r.reportsUntil(missed.length + 1);
    expect(after.at(-1)).toMatchObject({ stream_seq: last + missed.length + 1 });
    expect(after.at(-1)!.report.exec_id).toBe(live.result.reports[0]!.exec_id);
    expect(r.msgs.some((m) => m.type === 'resume_gap')).toBe(false);
    await rest1.cancelOrder(first.result.reports[0]!.order_id);
    r.ws.close();
  });

  it('resuming from beyond the ring, or from another epoch, is told RESUME_GAP, then gets what is held', async () => {
    const s = await Stream.open();
    const l = await s.login(K1);
    const last = l.stream_seq as number;
    s.ws.close();
    await s.waitClosed();
    // More than the ring holds: HELD places in one OrderSession message, then a mass cancel.
    const session = grpc1.openSession({});
    await session.ready;
    const placed = await session.send({
      request_id: 1,
      commands: Array.from({ length: HELD }, () => ({ place: buy() })),
    });
    expect(placed.outcomes.every((o) => o.error === undefined)).toBe(true);
    await session.close();
    const mc = await rest1.massCancel({ symbol: 'BTC-USD' });
    expect(mc.status).toBe(200);
    const total = 2 * HELD;
    const r = await Stream.open();
    const lr = await r.login(K1, { resume_from: last, epoch: l.epoch });
    const newest = lr.stream_seq as number;
    expect(newest).toBeGreaterThanOrEqual(last + total);
    const firstHeld = newest - HELD + 1;
    expect(lr).toMatchObject({ first_held_seq: firstHeld, next_seq: firstHeld });
    const gap = await r.next((m) => m.type === 'resume_gap');
    expect(gap).toMatchObject({
      epoch: l.epoch,
      epoch_changed: false,
      missed_from: last + 1,
      missed_to: firstHeld - 1,
      orders_path: '/v1/accounts/1/orders',
      fills_path: '/v1/accounts/1/fills',
    });
    expect((gap.min_seq as Record<string, number>)['0']).toBeGreaterThan(0);
    // The gap notice comes before any report, then every held report, once, in order.
    expect(r.msgs.findIndex((m) => m.type === 'resume_gap')).toBeLessThan(r.msgs.findIndex((m) => m.type === 'report'));
    const held = await r.reportsUntil(HELD);
    expectDenseAndSigned(held, firstHeld, K1.hmacSecret);
    expect(held.at(-1)!.report).toMatchObject({ exec_type: 'CANCELED' });
    r.ws.close();
    // Another epoch (a gateway restart): everything held of this one, after the notice.
    const e = await Stream.open();
    await e.login(K1, { resume_from: 5, epoch: '0123456789abcdef' });
    const gapE = await e.next((m) => m.type === 'resume_gap');
    expect(gapE).toMatchObject({ epoch: l.epoch, epoch_changed: true, missed_from: 1, missed_to: firstHeld - 1 });
    expectDenseAndSigned(await e.reportsUntil(HELD), firstHeld, K1.hmacSecret);
    e.ws.close();
  });

  it('refuses bad logins with their error and closes; after login only pings are taken', async () => {
    const refused = async (send: (s: Stream) => void, reason: string, code: number) => {
      const s = await Stream.open();
      send(s);
      const err = await s.next((m) => m.type === 'error');
      expect(err.reason).toBe(reason);
      expect((await s.waitClosed()).code).toBe(code);
      expect(s.reports).toHaveLength(0);
      return err;
    };
    const signed = (key: RestClientKey, extra: Record<string, unknown> = {}, nowMs = Date.now()) => {
      const a = signRequest(key, 'GET /v1/user-stream', new Uint8Array(0), nowMs);
      return JSON.stringify({
        op: 'login',
        api_key: a.apiKey,
        timestamp: a.timestamp,
        signature: a.signature,
        ...extra,
      });
    };
    const LOGIN_FAILED = UserStreamCloseCode.LOGIN_FAILED;
    const bad = await refused(
      (s) => s.ws.send(signed({ key: K1.key, hmacSecret: 'wrong' })),
      'BAD_SIGNATURE',
      LOGIN_FAILED,
    );
    expect(bad.code).toBe('UNAUTHENTICATED');
    await refused((s) => s.ws.send(signed({ key: 'nobody', hmacSecret: 'x' })), 'UNKNOWN_API_KEY', LOGIN_FAILED);
    await refused((s) => s.ws.send(signed(K1, {}, Date.now() - 3_600_000)), 'TIMESTAMP_OUTSIDE_WINDOW', LOGIN_FAILED);
    await refused((s) => s.ws.send(signed(ADMIN)), 'ADMIN_KEY_NOT_ALLOWED', LOGIN_FAILED);
    await refused((s) => s.ws.send('{"op":"subscribe"}'), 'LOGIN_REQUIRED', UserStreamCloseCode.LOGIN_REQUIRED);
    await refused((s) => s.ws.send('not json'), 'LOGIN_REQUIRED', UserStreamCloseCode.LOGIN_REQUIRED);
    await refused((s) => s.ws.send(signed(K1, { resume_from: -1, epoch: 'x' })), 'INVALID_INTEGER', LOGIN_FAILED);
    await refused((s) => s.ws.send(signed(K1, { resume_from: 3 })), 'FIELD_MISSING', LOGIN_FAILED);
    await refused((s) => s.ws.send(signed(K1, { extra: 1 })), 'UNKNOWN_FIELD', LOGIN_FAILED);
    // A login is good once: the same signed message again is a replay.
    const once = signed(K2);
    const ok = await Stream.open();
    ok.ws.send(once);
    const l = await ok.next((m) => m.type === 'login');
    await refused((s) => s.ws.send(once), 'REQUEST_REPLAYED', LOGIN_FAILED);
    const ahead = (l.stream_seq as number) + 1000;
    await refused((s) => s.ws.send(signed(K2, { resume_from: ahead, epoch: l.epoch })), 'RESUME_AHEAD', LOGIN_FAILED);
    // A message over USER_STREAM_CLIENT_MESSAGE_BYTES_MAX: uWS drops the connection (no close frame: 1006).
    const big = await Stream.open();
    big.ws.send(JSON.stringify({ op: 'login', api_key: 'x'.repeat(8 * 1024) }));
    expect((await big.waitClosed()).code).toBe(1006);
    // Logged in: a ping is answered, anything else refused, the connection stays open.
    ok.ws.send('{"op":"ping"}');
    await ok.next((m) => m.type === 'pong');
    ok.ws.send(signed(K2));
    expect(await ok.next((m) => m.type === 'error')).toMatchObject({ reason: 'ALREADY_LOGGED_IN' });
    ok.ws.send('{"op":"dance"}');
    expect(await ok.next((m) => m.type === 'error' && m.reason === 'MALFORMED_REQUEST')).toBeDefined();
    expect(ok.closed).toBeUndefined();
    ok.ws.close();
  });

  it('bounds connections per account and in total; closes a connection that does not log in', async () => {
    const edge = new RestGateway({
      core: ex.gateway,
      host: '127.0.0.1',
      port: 0,
      userStream: { core: ex.gateway, connectionsMax: 3, connectionsPerAccountMax: 2, loginTimeoutMs: 2_000 },
    });
    const port = await edge.start();
    const url = `http://127.0.0.1:${port}`;
    try {
      const a = await Stream.open(url);
      const b = await Stream.open(url);
      expect(await a.login(K1)).toMatchObject({ type: 'login' });
      expect(await b.login(K1)).toMatchObject({ type: 'login' });
      const c = await Stream.open(url);
      const err = await c.login(K1);
      expect(err).toMatchObject({
        type: 'error',
        code: 'OVERLOADED',
        reason: 'USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX',
      });
      expect((await c.waitClosed()).code).toBe(UserStreamCloseCode.TOO_MANY_CONNECTIONS);
      // Another account still logs in; a fourth connection is refused at the upgrade.
      const d = await Stream.open(url);
      expect(await d.login(K2)).toMatchObject({ type: 'login', account: 2 });
      await expect(Stream.open(url)).rejects.toThrow(/503/);
      // A connection that never logs in is closed LOGIN_TIMEOUT (this edge: after 2 s).
      d.ws.close();
      await d.waitClosed();
      const idle = await poll('a free connection slot', () => Stream.open(url).catch(() => undefined));
      expect((await idle.waitClosed()).code).toBe(UserStreamCloseCode.LOGIN_TIMEOUT);
      expect(idle.msgs).toEqual([]);
    } finally {
      await edge.stop();
    }
  });

  it('closes a connection that stops reading once its unsent reports leave the ring (SLOW_CONSUMER)', async () => {
    // A second REST edge on the same core, holding at most 16 KiB for a connection.
    const edge = new RestGateway({
      core: ex.gateway,
      host: '127.0.0.1',
      port: 0,
      userStream: { core: ex.gateway, sendBytesMax: 16 * 1024 },
    });
    const port = await edge.start();
    try {
      const slow = await Stream.open(`http://127.0.0.1:${port}`);
      await slow.login(K2);
      slow.ws.pause();
      // Account 2 trades until the kernel's socket buffers, 16 KiB in uWS and the ring are full:
      // rounds of 500 resting sells and their mass cancel (1,000 reports, ~0.8 MB).
      const session = grpc2.openSession({});
      await session.ready;
      for (let round = 0; round < 40 && edge.userStream!.stats.slowConsumers === 0; round++) {
        const sells = Array.from({ length: 500 }, (_, i) => ({
          place: {
            client_order_id: cid('slow'),
            symbol: 'BTC-USD',
            side: 'SELL',
            order_type: 'LIMIT',
            price: 5_100_000 + i,
            quantity: 1,
          },
        }));
        const r = await session.send({ request_id: 2 * round + 1, commands: sells });
        expect(r.outcomes.every((o) => o.error === undefined)).toBe(true);
        await session.send({ request_id: 2 * round + 2, commands: [{ mass_cancel: { symbol: 'BTC-USD' } }] });
      }
      await session.close();
      expect(edge.userStream!.stats.slowConsumers).toBe(1);
      expect(edge.userStream!.connectionCount).toBe(0);
      // Reading again, the client gets what was sent (dense), then the close with its code.
      slow.ws.resume();
      const closed = await slow.waitClosed();
      expect(closed.code).toBe(UserStreamCloseCode.SLOW_CONSUMER);
      const got = slow.reports;
      expect(got.length).toBeGreaterThan(0);
      for (const [i, m] of got.entries()) expect(m.stream_seq).toBe(got[0]!.stream_seq + i);
    } finally {
      await edge.stop();
    }
  }, 240_000);
});
