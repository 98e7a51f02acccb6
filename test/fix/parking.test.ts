// Parked FIX sessions (fix/README.md "Parked sessions") over real sockets on a real local exchange
// (processes/local-exchange.ts: replica processes, the gateway, its gRPC server and the FIX
// acceptor every gateway runs): reports made while a trading session's connection is down are
// stored under its sequence numbers and recovered with a ResendRequest after the next Logon —
// a maker fill caused by another account over gRPC, and the session's own cancel-on-disconnect
// cancels. The bounds (FIX_PARKED_SESSION_MS, FIX_PARKED_SESSIONS_MAX) are checked on a second
// acceptor over the same gateway with lowered limits and a clock the test drives (`nowMs`).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixAcceptor } from '../../fix/acceptor.js';
import { createFixApplication } from '../../fix/application.js';
import { formatUtcTimestamp } from '../../fix/fields.js';
import { type FixField, type FixMessage, fieldOf } from '../../fix/message.js';
import { OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import { NO_LOG } from '../../ops/log.js';
import { type LocalExchange, startLocalExchange } from '../../processes/local-exchange.js';
import { waitFor } from '../fuzz/harness.js';
import { TestInitiator } from './initiator.js';

const K1 = { apiKey: 'demo-key-1', secret: 'demo-secret-1-change-me' };
const K2 = { apiKey: 'demo-key-2', secret: 'demo-secret-2-change-me' };
/** BTC-USD (engine/examples/instruments.json): 2 price decimals, 4 quantity decimals, reference 50000.00 ±5000.00. */
const SYMBOL = 'BTC-USD';
/** Generous: a loaded 2-core machine. */
const WAIT_MS = 30_000;

let ex: LocalExchange;
let grpc1: OrderEntryGrpcClient;
let grpc2: OrderEntryGrpcClient;

beforeAll(async () => {
  ex = await startLocalExchange();
  grpc1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: { key: K1.apiKey, hmacSecret: K1.secret } });
  grpc2 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: { key: K2.apiKey, hmacSecret: K2.secret } });
}, 120_000);

afterAll(async () => {
  grpc1?.close();
  grpc2?.close();
  await ex?.stop();
}, 120_000);

/** FIX decimals compare by value ("0.40" = "0.4"), as exact strings. */
function decimalKey(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const [int = '0', frac = ''] = s.split('.');
  const f = frac.replace(/0+$/, '');
  return `${BigInt(int)}${f === '' ? '' : `.${f}`}`;
}

const seqOf = (m: FixMessage) => Number(fieldOf(m, 34));
const isReport = (clOrdId: string, execType: string) => (m: FixMessage) =>
  m.msgType === '8' && fieldOf(m, 11) === clOrdId && fieldOf(m, 150) === execType;

async function logOn(
  port: number,
  senderCompId: string,
  o: { nextSeqNum?: number; reset?: boolean; cancelOnDisconnect?: boolean } = {},
): Promise<{ ini: TestInitiator; logon: FixMessage }> {
  const ini = await TestInitiator.connect({ port, senderCompId });
  if (o.nextSeqNum !== undefined) ini.nextSeqNum = o.nextSeqNum;
  ini.logon({
    apiKey: K1.apiKey,
    signer: { hmacSecret: K1.secret },
    resetSeqNum: o.reset === true,
    cancelOnDisconnect: o.cancelOnDisconnect === true,
  });
  const logon = await ini.waitForType('A', WAIT_MS);
  return { ini, logon };
}

/** A resting limit buy of account 1 over FIX; resolves with its New report. */
async function placeBuy(ini: TestInitiator, clOrdId: string, qty: string, price: string): Promise<FixMessage> {
  const body: FixField[] = [
    [11, clOrdId],
    [54, '1'],
    [55, SYMBOL],
    [38, qty],
    [40, '2'],
    [44, price],
    [59, '1'],
    [60, formatUtcTimestamp(Date.now())],
  ];
  ini.send('D', body);
  return ini.waitFor(isReport(clOrdId, '0'), WAIT_MS);
}

/** Drops the connection without a Logout and waits until the acceptor has seen it end. */
async function drop(ini: TestInitiator, acceptor: FixAcceptor): Promise<void> {
  const before = acceptor.connectionCount;
  ini.close();
  await waitFor('the acceptor to see the drop', () => acceptor.connectionCount < before, WAIT_MS);
}

/** Account 2 sells `qty` at `price` IOC over gRPC: it takes account 1's resting bid. */
async function crossOverGrpc(clientOrderId: string, qty: string, price: string): Promise<void> {
  await grpc2.placeOrder({
    client_order_id: clientOrderId,
    symbol: SYMBOL,
    side: 'SELL',
    order_type: 'LIMIT',
    time_in_force: 'IOC',
    price_decimal: price,
    quantity_decimal: qty,
  });
}

/** Sends a TestRequest and waits for its Heartbeat: everything the acceptor sent before it has arrived. */
async function settle(ini: TestInitiator, id: string): Promise<void> {
  ini.send('1', [[112, id]]);
  await ini.waitFor((m) => m.msgType === '0' && fieldOf(m, 112) === id, WAIT_MS);
}

describe('parked FIX sessions on a local exchange', () => {
  it('a maker fill made while the connection was down is resent (43=Y) after the next Logon, exactly once', async () => {
    const acceptor = ex.fix.acceptor;
    const first = await logOn(ex.fix.port, 'PARK-FILL', { reset: true });
    const nw = await placeBuy(first.ini, 'pf1', '0.0010', '49100.00');
    const orderId = fieldOf(nw, 37);
    const lastSeq = seqOf(nw);
    await drop(first.ini, acceptor);

    await crossOverGrpc('pf-x1', '0.0004', '49100.00');
    await waitFor(
      'the fill on the book',
      async () =>
        (await grpc1.getOrder({ client_order_id: 'pf1', symbol: SYMBOL })).order.order_status === 'PARTIALLY_FILLED',
      WAIT_MS,
      50,
    );

    const again = await logOn(ex.fix.port, 'PARK-FILL', { nextSeqNum: first.ini.nextSeqNum });
    // The fill was numbered lastSeq + 1 while parked: our Logon comes after it.
    expect(seqOf(again.logon)).toBe(lastSeq + 2);
    again.ini.send('2', [
      [7, String(lastSeq + 1)],
      [16, '0'],
    ]);
    const fill = await again.ini.waitFor(isReport('pf1', 'F'), WAIT_MS);
    expect(seqOf(fill)).toBe(lastSeq + 1);
    expect(fieldOf(fill, 43)).toBe('Y');
    expect(fieldOf(fill, 122)).toBeDefined();
    expect(fieldOf(fill, 37)).toBe(orderId);
    expect(fieldOf(fill, 39)).toBe('1');
    expect(fieldOf(fill, 31)).toBe('49100.00');
    expect(fieldOf(fill, 851)).toBe('1');
    expect(decimalKey(fieldOf(fill, 32))).toBe('0.0004');
    expect(decimalKey(fieldOf(fill, 14))).toBe('0.0004');
    expect(decimalKey(fieldOf(fill, 151))).toBe('0.0006');
    // The Logon itself was not stored: the resend covers it with a gap fill to the next number.
    const gapFill = await again.ini.waitFor((m) => m.msgType === '4' && seqOf(m) === lastSeq + 2, WAIT_MS);
    expect(fieldOf(gapFill, 36)).toBe(String(lastSeq + 3));
    await settle(again.ini, 'pf-settle');
    expect(again.ini.received.filter(isReport('pf1', 'F'))).toHaveLength(1);
    const view = (await grpc1.getOrder({ client_order_id: 'pf1', symbol: SYMBOL })).order;
    expect(decimalKey(view.cum_qty_decimal)).toBe(decimalKey(fieldOf(fill, 14)));
    again.ini.send('5', []);
    await again.ini.waitForType('5', WAIT_MS);
    await grpc1.massCancel({});
  });

  it('8013=Y and a Logout: the Canceled reports of cancel-on-disconnect are recovered after the next Logon', async () => {
    const first = await logOn(ex.fix.port, 'PARK-COD', { reset: true, cancelOnDisconnect: true });
    const a = await placeBuy(first.ini, 'pc1', '0.0010', '48100.00');
    const b = await placeBuy(first.ini, 'pc2', '0.0020', '48200.00');
    const lastSeq = Math.max(seqOf(a), seqOf(b));
    first.ini.send('5', []);
    await first.ini.waitForType('5', WAIT_MS);
    await first.ini.waitClosed(WAIT_MS);
    for (const id of ['pc1', 'pc2'])
      await waitFor(
        `${id} canceled by cancel-on-disconnect`,
        async () => (await grpc1.getOrder({ client_order_id: id, symbol: SYMBOL })).order.order_status === 'CANCELED',
        WAIT_MS,
        50,
      );

    const again = await logOn(ex.fix.port, 'PARK-COD', { nextSeqNum: first.ini.nextSeqNum });
    // The Logout answer took lastSeq + 1; the two cancels lastSeq + 2 and + 3.
    expect(seqOf(again.logon)).toBe(lastSeq + 4);
    again.ini.send('2', [
      [7, String(lastSeq + 1)],
      [16, '0'],
    ]);
    for (const [clOrdId, nw] of [
      ['pc1', a],
      ['pc2', b],
    ] as const) {
      const canceled = await again.ini.waitFor(
        (m) => m.msgType === '8' && fieldOf(m, 150) === '4' && fieldOf(m, 37) === fieldOf(nw, 37),
        WAIT_MS,
      );
      expect(fieldOf(canceled, 43)).toBe('Y');
      expect(fieldOf(canceled, 11)).toBe(clOrdId);
      expect(fieldOf(canceled, 39)).toBe('4');
      expect(decimalKey(fieldOf(canceled, 151))).toBe('0');
      expect([lastSeq + 2, lastSeq + 3]).toContain(seqOf(canceled));
    }
    await settle(again.ini, 'pc-settle');
    expect(again.ini.received.filter((m) => m.msgType === '8' && fieldOf(m, 150) === '4')).toHaveLength(2);
    again.ini.send('5', []);
    await again.ini.waitForType('5', WAIT_MS);
  });
});

describe('parking bounds (a second acceptor over the same gateway, lowered limits, a driven clock)', () => {
  let acceptor: FixAcceptor;
  let port: number;
  let storeDir: string;
  let offsetMs = 0;
  const PARKED_MS = 60_000;

  beforeAll(async () => {
    storeDir = mkdtempSync(path.join(os.tmpdir(), 'mb-fix-parking-'));
    acceptor = new FixAcceptor({
      host: '127.0.0.1',
      port: 0,
      storeDir,
      application: createFixApplication({
        core: ex.gateway,
        targetCompId: 'MATCHBOOK',
        config: { dropCopy: [] },
      }),
      log: NO_LOG,
      nowMs: () => Date.now() + offsetMs,
      parkedSessionsMax: 2,
      parkedSessionMs: PARKED_MS,
    });
    port = await acceptor.start();
  });

  afterAll(async () => {
    await acceptor?.stop();
    expect(acceptor.parkedCount).toBe(0);
    if (storeDir !== undefined) rmSync(storeDir, { recursive: true, force: true });
  });

  /** Logs on with a fresh sequence, then drops the connection; resolves with the last MsgSeqNum received. */
  async function parkOne(senderCompId: string): Promise<{ lastSeq: number; nextSeqNum: number }> {
    const { ini, logon } = await logOn(port, senderCompId, { reset: true });
    await drop(ini, acceptor);
    return { lastSeq: seqOf(logon), nextSeqNum: ini.nextSeqNum };
  }

  /** A bid of account 1 over gRPC, taken by account 2: one unsolicited fill for every session of account 1. */
  async function fillOfAccount1(clientOrderId: string, price: string): Promise<void> {
    await grpc1.placeOrder({
      client_order_id: clientOrderId,
      symbol: SYMBOL,
      side: 'BUY',
      order_type: 'LIMIT',
      time_in_force: 'GTC',
      price_decimal: price,
      quantity_decimal: '0.0001',
    });
    await crossOverGrpc(`${clientOrderId}-x`, '0.0001', price);
    await waitFor(
      `${clientOrderId} filled`,
      async () =>
        (await grpc1.getOrder({ client_order_id: clientOrderId, symbol: SYMBOL })).order.order_status === 'FILLED',
      WAIT_MS,
      50,
    );
  }

  it('FIX_PARKED_SESSIONS_MAX: parking a third session ends the oldest parking; only the others store the fill', async () => {
    const p1 = await parkOne('BOUND-1');
    const p2 = await parkOne('BOUND-2');
    expect(acceptor.parkedCount).toBe(2);
    const p3 = await parkOne('BOUND-3');
    expect(acceptor.parkedCount).toBe(2);
    await fillOfAccount1('bound-f1', '47100.00');

    // BOUND-1's parking ended before the fill: nothing stored, its numbers continue.
    const one = await logOn(port, 'BOUND-1', { nextSeqNum: p1.nextSeqNum });
    expect(seqOf(one.logon)).toBe(p1.lastSeq + 1);
    // BOUND-3 (and BOUND-2) stored it: recovered by resend.
    const three = await logOn(port, 'BOUND-3', { nextSeqNum: p3.nextSeqNum });
    expect(seqOf(three.logon)).toBe(p3.lastSeq + 2);
    three.ini.send('2', [
      [7, String(p3.lastSeq + 1)],
      [16, '0'],
    ]);
    const fill = await three.ini.waitFor(isReport('bound-f1', 'F'), WAIT_MS);
    expect(fieldOf(fill, 43)).toBe('Y');
    expect(seqOf(fill)).toBe(p3.lastSeq + 1);
    const two = await logOn(port, 'BOUND-2', { nextSeqNum: p2.nextSeqNum });
    expect(seqOf(two.logon)).toBe(p2.lastSeq + 2);
    for (const s of [one, two, three]) {
      s.ini.send('5', []);
      await s.ini.waitForType('5', WAIT_MS);
      await s.ini.waitClosed(WAIT_MS);
    }
    // Logged out: parked again, until the acceptor stops (afterAll checks they are all ended).
    await waitFor('the three parked again, the limit kept', () => acceptor.parkedCount === 2, WAIT_MS);
  });

  it('FIX_PARKED_SESSION_MS: once it has passed, the parking ends and later reports are not stored', async () => {
    await acceptor.stop(); // ends the parkings of the test above
    expect(acceptor.parkedCount).toBe(0);
    port = await acceptor.start();
    const p = await parkOne('EXPIRE-1');
    expect(acceptor.parkedCount).toBe(1);
    // 20 s of margin for the real time the fill takes on a loaded machine.
    offsetMs += PARKED_MS - 20_000;
    await fillOfAccount1('expire-f1', '47200.00'); // still parked: stored
    offsetMs += 20_000;
    await waitFor('the parking to expire', () => acceptor.parkedCount === 0, WAIT_MS);
    await fillOfAccount1('expire-f2', '47300.00'); // after the parking: not stored

    const again = await logOn(port, 'EXPIRE-1', { nextSeqNum: p.nextSeqNum });
    expect(seqOf(again.logon)).toBe(p.lastSeq + 2);
    again.ini.send('2', [
      [7, String(p.lastSeq + 1)],
      [16, '0'],
    ]);
    const fill = await again.ini.waitFor(isReport('expire-f1', 'F'), WAIT_MS);
    expect(fieldOf(fill, 43)).toBe('Y');
    await settle(again.ini, 'expire-settle');
    expect(again.ini.received.filter(isReport('expire-f2', 'F'))).toHaveLength(0);
    again.ini.send('5', []);
    await again.ini.waitForType('5', WAIT_MS);
  });
});
