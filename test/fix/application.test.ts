// The FIX application (fix/application.ts) over the real gateway: one replica and the gateway
// with its gRPC server (test/fuzz/harness.ts), the application called as the session layer
// calls it (logon, deliver, close) with a `send` that collects what it writes — no FIX TCP edge
// (the session part builds it). Instruments: engine/examples/instruments.json — BTC-USD (tick 1,
// lot 1, priceDecimals 2, qtyDecimals 4), ETH-USD (tick 5, lot 10, priceDecimals 2, qtyDecimals 3).
// Accounts 1 (KEY1, STP EXPIRE_TAKER by default) and 2 (KEY2); ADMIN_KEY is granted drop copy.
// Each test clears both accounts' orders first (gRPC MassCancel), so books do not leak between tests.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import { createFixApplication, type FixCore } from '../../fix/application.js';
import type { FixApplication, FixAppSession, LogonAccepted, LogonRefused } from '../../fix/message.js';
import { ADMIN_KEY, KEY1, KEY2, startInProcessExchange, waitFor, type InProcessExchange } from '../fuzz/harness.js';
import { Collected, fixMessage, logonMessage, tagOf, tags } from './application-helpers.js';

let ex: InProcessExchange;
let app: FixApplication;
let grpc1: OrderEntryGrpcClient;
let grpc2: OrderEntryGrpcClient;
let n = 0;
const cid = (p: string) => `fx-${p}-${++n}`;

beforeAll(async () => {
  ex = await startInProcessExchange();
  app = createFixApplication({
    core: ex.gateway as FixCore,
    targetCompId: 'MATCHBOOK',
    config: { dropCopy: [{ apiKey: ADMIN_KEY.key, accounts: [1, 2] }] },
  });
  grpc1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY1 });
  grpc2 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY2 });
}, 60_000);

afterAll(async () => {
  grpc1?.close();
  grpc2?.close();
  await ex?.stop();
}, 60_000);

beforeEach(async () => {
  await grpc1.massCancel({});
  await grpc2.massCancel({});
});

async function logon(key: { key: string; hmacSecret: string }, cod?: 'Y' | 'N') {
  const c = new Collected();
  const r = await app.logon(logonMessage(key, cod === undefined ? {} : { cod }), c.send);
  expect('refused' in r ? r.text : 'accepted').toBe('accepted');
  return { s: (r as LogonAccepted).app, c, accepted: r as LogonAccepted };
}

/** D NewOrderSingle: 11, 54, 55, 38, 40 and `extra`. */
function order(
  s: FixAppSession,
  clOrdId: string,
  side: '1' | '2',
  symbol: string,
  qty: string,
  ordType: string,
  extra: [number, string][] = [],
) {
  s.deliver(
    fixMessage('D', [
      [11, clOrdId],
      [54, side],
      [55, symbol],
      [38, qty],
      [40, ordType],
      [60, '20261207-15:00:00'],
      ...extra,
    ]),
  );
}

describe('Logon', () => {
  it('accepts a trading key signed over the logon fields, refuses bad ones with the gateway error as text', async () => {
    const { accepted, s } = await logon(KEY1);
    expect(accepted).toMatchObject({ account: 1, kind: 'trading' });
    s.close();
    const refused = async (m: ReturnType<typeof logonMessage>) => (await app.logon(m, () => undefined)) as LogonRefused;
    expect((await refused(logonMessage(KEY1, { signature: 'ab'.repeat(32) }))).text).toMatch(
      /^UNAUTHENTICATED \(BAD_SIGNATURE\)/,
    );
    expect((await refused(logonMessage(KEY1, { sendingMs: Date.now() - 600_000 }))).text).toMatch(
      /TIMESTAMP_OUTSIDE_WINDOW/,
    );
    expect((await refused(logonMessage({ key: 'nobody', hmacSecret: 'x' }))).text).toMatch(/UNKNOWN_API_KEY/);
    // An admin key not granted drop copy cannot trade.
    const other = createFixApplication({
      core: ex.gateway as FixCore,
      targetCompId: 'MATCHBOOK',
      config: { dropCopy: [] },
    });
    expect(((await other.logon(logonMessage(ADMIN_KEY), () => undefined)) as LogonRefused).text).toMatch(
      /ADMIN_KEY_NOT_ALLOWED/,
    );
    // The same Logon twice is a replay.
    const once = logonMessage(KEY2);
    const first = (await app.logon(once, () => undefined)) as LogonAccepted;
    expect(first.kind).toBe('trading');
    first.app.close();
    expect((await refused(once)).text).toMatch(/REQUEST_REPLAYED/);
    expect((await refused(logonMessage(KEY1, { target: 'ELSEWHERE' }))).text).toBe('56 TargetCompID must be MATCHBOOK');
    const bad = logonMessage(KEY1);
    const badCod = { ...bad, fields: [...bad.fields.slice(0, -1), [8013, 'X'] as const, bad.fields.at(-1)!] };
    expect((await refused(badCod)).text).toMatch(/8013 CancelOrdersOnDisconnect must be Y or N/);
  });
});

describe('order entry', () => {
  it('D limit rests (150=0 39=0, exact decimals); H answers 150=I; G amends (150=5); F cancels (150=4); the reports equal gRPC GetOrder', async () => {
    const { s, c } = await logon(KEY1);
    const id = cid('rest');
    order(s, id, '1', 'BTC-USD', '0.0010', '2', [
      [44, '49000.50'],
      [59, '1'],
    ]);
    const [ack] = await c.next(1);
    expect(tags(ack!)).toMatchObject({
      35: '8',
      150: '0',
      39: '0',
      11: id,
      1: '1',
      55: 'BTC-USD',
      54: '1',
      40: '2',
      59: '1',
      44: '49000.50',
      38: '0.0010',
      14: '0.0000',
      151: '0.0010',
      6: '0.0000000000',
    });
    const orderId = tagOf(ack!, 37)!;
    const viaGrpc = (await grpc1.getOrder({ order_id: Number(orderId) })).order;
    expect(viaGrpc).toMatchObject({
      client_order_id: id,
      order_status: 'NEW',
      price_decimal: '49000.50',
      order_qty_decimal: '0.0010',
      leaves_qty_decimal: '0.0010',
    });

    s.deliver(
      fixMessage('H', [
        [11, id],
        [55, 'BTC-USD'],
        [54, '1'],
        [790, 'st-1'],
      ]),
    );
    expect(tags((await c.next(1))[0]!)).toMatchObject({
      150: 'I',
      39: '0',
      37: orderId,
      11: id,
      790: 'st-1',
      44: '49000.50',
      151: '0.0010',
    });

    const id2 = cid('amended');
    s.deliver(
      fixMessage('G', [
        [11, id2],
        [41, id],
        [55, 'BTC-USD'],
        [54, '1'],
        [40, '2'],
        [38, '0.0020'],
        [44, '49001.00'],
        [60, '20261207-15:00:00'],
      ]),
    );
    const [replaced] = await c.next(1);
    expect(tags(replaced!)).toMatchObject({
      150: '5',
      39: '0',
      37: orderId,
      11: id2,
      41: id,
      38: '0.0020',
      44: '49001.00',
      151: '0.0020',
    });
    expect((await grpc1.getOrder({ order_id: Number(orderId) })).order).toMatchObject({
      client_order_id: id2,
      price_decimal: '49001.00',
      order_qty_decimal: '0.0020',
    });

    const cancelId = cid('cxl');
    s.deliver(
      fixMessage('F', [
        [11, cancelId],
        [41, id2],
        [55, 'BTC-USD'],
        [54, '1'],
        [60, '20261207-15:00:00'],
      ]),
    );
    const [canceled] = await c.next(1);
    expect(tags(canceled!)).toMatchObject({
      150: '4',
      39: '4',
      37: orderId,
      11: cancelId,
      41: id2,
      151: '0.0000',
      14: '0.0000',
    });
    expect((await grpc1.getOrder({ order_id: Number(orderId) })).order.order_status).toBe('CANCELED');
    s.close();
  });

  it('a crossing D gives the taker its trade report and the maker its own, unsolicited, with exact decimals', async () => {
    const maker = await logon(KEY2);
    const taker = await logon(KEY1);
    const m = cid('maker');
    order(maker.s, m, '2', 'BTC-USD', '0.0030', '2', [[44, '51000.25']]);
    const makerOrderId = tagOf((await maker.c.next(1))[0]!, 37);
    const t = cid('taker');
    order(taker.s, t, '1', 'BTC-USD', '0.0010', '2', [
      [44, '51000.25'],
      [59, '3'],
    ]);
    const mine = await taker.c.next(2, 'the taker ack and trade');
    expect(mine.map((o) => tagOf(o, 150))).toEqual(['0', 'F']);
    expect(tags(mine[1]!)).toMatchObject({
      39: '2',
      11: t,
      32: '0.0010',
      31: '51000.25',
      14: '0.0010',
      151: '0.0000',
      6: '51000.2500000000',
      851: '2',
      59: '3',
    });
    const [fill] = await maker.c.next(1, 'the maker fill');
    expect(tags(fill!)).toMatchObject({
      35: '8',
      150: 'F',
      39: '1',
      37: makerOrderId,
      11: m,
      1: '2',
      32: '0.0010',
      31: '51000.25',
      14: '0.0010',
      151: '0.0020',
      851: '1',
    });
    expect(tagOf(fill!, 527)).toBe(tagOf(mine[1]!, 527));
    const viaGrpc = (await grpc2.getOrder({ order_id: Number(makerOrderId) })).order;
    expect(viaGrpc).toMatchObject({
      order_status: 'PARTIALLY_FILLED',
      cum_qty_decimal: tagOf(fill!, 14),
      leaves_qty_decimal: tagOf(fill!, 151),
    });
    maker.s.close();
    taker.s.close();
  });

  it('F on an unknown order → 9 (434=1, 102=1); G on one → 9 (434=2); q → r then the cancels', async () => {
    const { s, c } = await logon(KEY1);
    s.deliver(
      fixMessage('F', [
        [11, cid('f')],
        [41, 'never-placed'],
        [55, 'BTC-USD'],
        [54, '1'],
        [60, '20261207-15:00:00'],
      ]),
    );
    expect(tags((await c.next(1))[0]!)).toMatchObject({ 35: '9', 434: '1', 102: '1', 39: '8', 41: 'never-placed' });
    s.deliver(
      fixMessage('G', [
        [11, cid('g')],
        [41, 'never-placed'],
        [55, 'BTC-USD'],
        [54, '1'],
        [40, '2'],
        [38, '0.0010'],
        [60, '20261207-15:00:00'],
      ]),
    );
    const [rej] = await c.next(1);
    expect(tags(rej!)).toMatchObject({ 35: '9', 434: '2', 102: '1' });
    expect(tagOf(rej!, 58)).toMatch(/^NOT_FOUND/);

    order(s, cid('q1'), '1', 'BTC-USD', '0.0010', '2', [[44, '48000.00']]);
    order(s, cid('q2'), '1', 'ETH-USD', '0.010', '2', [[44, '2900.00']]);
    await c.next(2);
    const q = cid('q');
    s.deliver(
      fixMessage('q', [
        [11, q],
        [530, '1'],
        [55, 'BTC-USD'],
        [60, '20261207-15:00:00'],
      ]),
    );
    const [r, cancel] = await c.next(2);
    expect(tags(r!)).toMatchObject({ 35: 'r', 11: q, 530: '1', 531: '1', 533: '1' });
    expect(tags(cancel!)).toMatchObject({ 35: '8', 150: '4', 55: 'BTC-USD' });
    s.deliver(
      fixMessage('q', [
        [11, cid('q')],
        [530, '7'],
        [60, '20261207-15:00:00'],
      ]),
    );
    const [r2, cancel2] = await c.next(2);
    expect(tags(r2!)).toMatchObject({ 531: '7', 533: '1' });
    expect(tags(cancel2!)).toMatchObject({ 150: '4', 55: 'ETH-USD' });
    s.deliver(
      fixMessage('q', [
        [11, cid('q')],
        [530, '3'],
        [60, '20261207-15:00:00'],
      ]),
    );
    expect(tags((await c.next(1))[0]!)).toMatchObject({ 35: 'r', 531: '0', 532: '0' });
    s.deliver(
      fixMessage('q', [
        [11, cid('q')],
        [530, '1'],
        [60, '20261207-15:00:00'],
      ]),
    );
    expect(tags((await c.next(1))[0]!)).toMatchObject({ 35: 'r', 531: '0', 532: '1' });
    s.close();
  });

  it('maps market, stop, stop-limit, IOC, FOK, GTD, post-only, iceberg and the STP tag to the engine', async () => {
    const { s, c } = await logon(KEY1);
    const other = await logon(KEY2);
    // Iceberg (111 MaxFloor) resting on the ask, then a market buy takes part of it.
    const ice = cid('ice');
    order(other.s, ice, '2', 'BTC-USD', '0.0100', '2', [
      [44, '52000.00'],
      [111, '0.0020'],
    ]);
    expect(tags((await other.c.next(1))[0]!)).toMatchObject({ 150: '0', 111: '0.0020', 38: '0.0100' });
    const mkt = cid('mkt');
    order(s, mkt, '1', 'BTC-USD', '0.0010', '1');
    const mktReports = await c.next(2);
    expect(tags(mktReports[0]!)).toMatchObject({ 150: '0', 40: '1', 59: '3' });
    expect(tags(mktReports[1]!)).toMatchObject({ 150: 'F', 31: '52000.00', 32: '0.0010', 39: '2' });
    expect(mktReports[0]!.body.some(([t]) => t === 44)).toBe(false);
    await other.c.next(1, 'the iceberg fill');
    // FOK bigger than the book: killed, nothing traded.
    order(s, cid('fok'), '1', 'BTC-USD', '0.0500', '2', [
      [44, '52000.00'],
      [59, '4'],
    ]);
    const fok = await c.next(2);
    expect(fok.map((o) => tagOf(o, 150))).toEqual(['0', 'C']);
    expect(tags(fok[1]!)).toMatchObject({ 39: 'C', 59: '4', 14: '0.0000' });
    // IOC without a counterparty at its price: expires.
    order(s, cid('ioc'), '1', 'BTC-USD', '0.0010', '2', [
      [44, '47000.00'],
      [59, '3'],
    ]);
    expect((await c.next(2)).map((o) => tagOf(o, 150))).toEqual(['0', 'C']);
    // Stop (market) and stop-limit: accepted, waiting for the trigger (39=0, 99 StopPx).
    order(s, cid('stop'), '1', 'BTC-USD', '0.0010', '3', [[99, '53000.00']]);
    expect(tags((await c.next(1))[0]!)).toMatchObject({ 150: '0', 39: '0', 40: '3', 99: '53000.00' });
    order(s, cid('stoplim'), '1', 'BTC-USD', '0.0010', '4', [
      [99, '53000.00'],
      [44, '53100.00'],
    ]);
    expect(tags((await c.next(1))[0]!)).toMatchObject({ 150: '0', 39: '0', 40: '4', 99: '53000.00', 44: '53100.00' });
    // GTD with 126 ExpireTime.
    const gtd = cid('gtd');
    order(s, gtd, '1', 'BTC-USD', '0.0010', '2', [
      [44, '46000.00'],
      [59, '6'],
      [126, '20991231-23:59:59'],
    ]);
    const gtdAck = (await c.next(1))[0]!;
    expect(tags(gtdAck)).toMatchObject({ 150: '0', 59: '6' });
    // Post-only (18=6) that would cross the iceberg: rejected by the engine.
    order(s, cid('po'), '1', 'BTC-USD', '0.0010', '2', [
      [44, '52000.00'],
      [18, '6'],
    ]);
    const po = (await c.next(1))[0]!;
    expect(tags(po)).toMatchObject({ 150: '8', 39: '8', 103: '11' });
    expect(tagOf(po, 58)).toMatch(/POST_ONLY_WOULD_CROSS/);
    // STP 7928=N (none) lets account 1 trade with itself; the default (EXPIRE_TAKER) would expire it.
    order(s, cid('self-ask'), '2', 'BTC-USD', '0.0010', '2', [
      [44, '46000.00'],
      [7928, 'N'],
    ]);
    // Both sides are this session's: the ack, then the maker's (the GTD order) and the taker's fills.
    const selfTrade = await c.next(3, 'the self trade');
    expect(selfTrade.map((o) => [tagOf(o, 150), tagOf(o, 851)])).toEqual([
      ['0', undefined],
      ['F', '1'],
      ['F', '2'],
    ]);
    expect(tagOf(selfTrade[1]!, 11)).toBe(gtd);
    order(s, cid('rest-bid'), '1', 'BTC-USD', '0.0010', '2', [[44, '45000.00']]);
    await c.next(1);
    order(s, cid('stp-taker'), '2', 'BTC-USD', '0.0010', '2', [[44, '45000.00']]);
    const stp = await c.next(2);
    expect(tags(stp[1]!)).toMatchObject({ 150: 'C', 58: 'SELF_TRADE_PREVENTED' });
    s.close();
    other.s.close();
  });

  it('refuses what the gateway refuses with its code in 58 and changes nothing; rejects what FIX cannot say', async () => {
    const { s, c } = await logon(KEY1);
    const before = await ex.book();
    // ETH-USD tick 5: 2900.03 is off tick (passes any FIX dictionary: a valid Price).
    order(s, cid('tick'), '1', 'ETH-USD', '0.010', '2', [[44, '2900.03']]);
    const [rej] = await c.next(1);
    expect(tags(rej!)).toMatchObject({ 35: '8', 150: '8', 39: '8', 37: 'NONE', 55: 'ETH-USD', 44: '2900.03' });
    expect(tagOf(rej!, 58)).toMatch(/^INVALID_ARGUMENT \(PRICE_NOT_TICK_MULTIPLE\)/);
    // Missing 55 Symbol → BusinessMessageReject 380=5 naming the tag.
    s.deliver(
      fixMessage('D', [
        [11, cid('nosym')],
        [54, '1'],
        [38, '0.0010'],
        [40, '2'],
        [44, '49000.00'],
      ]),
    );
    expect(tags((await c.next(1))[0]!)).toMatchObject({ 35: 'j', 372: 'D', 380: '5', 58: '55 Symbol is required' });
    // Another account in 1 Account; an unsupported TimeInForce; an unsupported ExecInst.
    order(s, cid('acct'), '1', 'BTC-USD', '0.0010', '2', [
      [44, '49000.00'],
      [1, '2'],
    ]);
    expect(tagOf((await c.next(1))[0]!, 58)).toMatch(/1 Account 2 is not this session's account 1/);
    order(s, cid('tif'), '1', 'BTC-USD', '0.0010', '2', [
      [44, '49000.00'],
      [59, '2'],
    ]);
    expect(tags((await c.next(1))[0]!)).toMatchObject({ 150: '8', 39: '8' });
    order(s, cid('inst'), '1', 'BTC-USD', '0.0010', '2', [
      [44, '49000.00'],
      [18, 'G'],
    ]);
    expect(tags((await c.next(1))[0]!)).toMatchObject({ 150: '8' });
    // An application message type the acceptor does not handle.
    const news = fixMessage('B', [[148, 'hello']]);
    s.deliver(news);
    expect(tags((await c.next(1))[0]!)).toMatchObject({
      35: 'j',
      372: 'B',
      380: '3',
      45: tagOf({ msgType: 'B', body: news.fields as [number, string][] }, 34),
    });
    // Values no dictionary would stop: each answered with one reject, none throws.
    const nasty: [string, [number, string][]][] = [
      [
        'D',
        [
          [11, 'x'.repeat(80)],
          [54, '1'],
          [55, 'BTC-USD'],
          [38, '0.0010'],
          [40, '2'],
          [44, '49000.00'],
        ],
      ],
      [
        'D',
        [
          [11, cid('qty')],
          [54, '1'],
          [55, 'BTC-USD'],
          [38, '1e3'],
          [40, '2'],
          [44, '49000.00'],
        ],
      ],
      [
        'D',
        [
          [11, cid('qty')],
          [54, '1'],
          [55, 'BTC-USD'],
          [38, '0.00001'],
          [40, '2'],
          [44, '49000.00'],
        ],
      ],
      [
        'D',
        [
          [11, cid('sym')],
          [54, '1'],
          [55, 'DOGE-USD'],
          [38, '0.0010'],
          [40, '2'],
          [44, '49000.00'],
        ],
      ],
      [
        'D',
        [
          [11, cid('gtd')],
          [54, '1'],
          [55, 'BTC-USD'],
          [38, '0.0010'],
          [40, '2'],
          [44, '49000.00'],
          [59, '6'],
          [126, '20260231-00:00:00'],
        ],
      ],
      [
        'F',
        [
          [11, cid('f')],
          [37, '99999999999999999999'],
          [55, 'BTC-USD'],
          [54, '1'],
        ],
      ],
      [
        'G',
        [
          [11, cid('g')],
          [37, '-1'],
          [55, 'BTC-USD'],
          [54, '1'],
          [40, '2'],
          [38, '1'],
        ],
      ],
      [
        'H',
        [
          [11, 'never-placed'],
          [55, 'BTC-USD'],
          [54, '1'],
          [790, 'h1'],
        ],
      ],
    ];
    for (const [type, body] of nasty) s.deliver(fixMessage(type, body));
    const answers = await c.next(nasty.length);
    expect(answers.map((o) => [o.msgType, tagOf(o, 150) ?? tagOf(o, 434), tagOf(o, 39)])).toEqual([
      ['8', '8', '8'],
      ['8', '8', '8'],
      ['8', '8', '8'],
      ['8', '8', '8'],
      ['8', '8', '8'],
      ['9', '1', '8'],
      ['9', '2', '8'],
      ['8', 'I', '8'],
    ]);
    expect(tagOf(answers[3]!, 103)).toBe('1');
    expect(tagOf(answers[7]!, 790)).toBe('h1');
    expect(await ex.book()).toMatchObject({ orders: before.orders });
    s.close();
  });
});

describe('sessions', () => {
  it('a drop copy receives the reports of both accounts, and may not send orders', async () => {
    const dc = new Collected();
    const r = (await app.logon(logonMessage(ADMIN_KEY), dc.send)) as LogonAccepted;
    expect(r).toMatchObject({ kind: 'drop-copy', account: 0 });
    const a = await logon(KEY1);
    const b = await logon(KEY2);
    const m = cid('dc-maker');
    order(b.s, m, '2', 'BTC-USD', '0.0020', '2', [[44, '51500.00']]);
    await b.c.next(1);
    const t = cid('dc-taker');
    order(a.s, t, '1', 'BTC-USD', '0.0020', '2', [[44, '51500.00']]);
    await a.c.next(2);
    const copies = await dc.next(4, 'the 4 drop copies');
    expect(copies.map((o) => [tagOf(o, 1), tagOf(o, 11), tagOf(o, 150)])).toEqual([
      ['2', m, '0'],
      ['1', t, '0'],
      ['2', m, 'F'],
      ['1', t, 'F'],
    ]);
    r.app.deliver(
      fixMessage('D', [
        [11, cid('dc')],
        [54, '1'],
        [55, 'BTC-USD'],
        [38, '1'],
        [40, '2'],
        [44, '1'],
      ]),
    );
    expect(tags((await dc.next(1))[0]!)).toMatchObject({ 35: 'j', 380: '6' });
    r.app.close();
    order(a.s, cid('after'), '1', 'BTC-USD', '0.0010', '2', [[44, '45100.00']]);
    await a.c.next(1);
    expect(dc.take()).toEqual([]);
    a.s.close();
    b.s.close();
  });

  it('a drop copy that falls FIX_DROP_COPY_QUEUE_MAX behind stops and logs out with a text; trading goes on', async () => {
    const small = createFixApplication({
      core: ex.gateway as FixCore,
      targetCompId: 'MATCHBOOK',
      config: { dropCopy: [{ apiKey: ADMIN_KEY.key, accounts: [1] }] },
      dropCopyQueueMax: 2,
    });
    const a = await logon(KEY1);
    for (const p of ['45700.00', '45701.00', '45702.00'])
      order(a.s, cid('many'), '1', 'BTC-USD', '0.0010', '2', [[44, p]]);
    await a.c.next(3);
    const dc = new Collected();
    const logouts: string[] = [];
    const r = (await small.logon(logonMessage(ADMIN_KEY), dc.send, (text) => logouts.push(text))) as LogonAccepted;
    expect(r.kind).toBe('drop-copy');
    // One mass cancel: three reports absorbed in one turn, over a queue of 2.
    a.s.deliver(
      fixMessage('q', [
        [11, cid('q')],
        [530, '7'],
        [60, '20261207-15:00:00'],
      ]),
    );
    expect((await a.c.next(4)).map((o) => o.msgType)).toEqual(['r', '8', '8', '8']);
    await waitFor('the logout', () => logouts.length === 1, 30_000);
    expect(logouts[0]).toMatch(/^drop copy fell behind: 2 reports waiting/);
    expect(dc.take()).toEqual([]);
    r.app.close();
    order(a.s, cid('still'), '1', 'BTC-USD', '0.0010', '2', [[44, '45703.00']]);
    expect(tagOf((await a.c.next(1))[0]!, 150)).toBe('0');
    a.s.close();
  });

  it('8013=Y cancels the orders of the session when it closes; 8013=N leaves them', async () => {
    const cod = await logon(KEY1, 'Y');
    order(cod.s, cid('cod'), '1', 'BTC-USD', '0.0010', '2', [[44, '45500.00']]);
    const id = Number(tagOf((await cod.c.next(1))[0]!, 37));
    const keep = await logon(KEY1, 'N');
    order(keep.s, cid('keep'), '1', 'BTC-USD', '0.0010', '2', [[44, '45400.00']]);
    const kept = Number(tagOf((await keep.c.next(1))[0]!, 37));
    cod.s.close();
    keep.s.close();
    await waitFor(
      'the cancel-on-disconnect',
      async () => (await grpc1.getOrder({ order_id: id })).order.order_status === 'CANCELED',
      30_000,
      50,
    );
    expect((await grpc1.getOrder({ order_id: kept })).order.order_status).toBe('NEW');
  });
});
