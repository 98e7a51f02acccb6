// Interop with an independent FIX engine (issue 22): the QuickFIX C++ initiator (test/fix/quickfix/)
// against matchbook's FIX 4.4 acceptor on a real local exchange. Two trading sessions (accounts 1
// and 2) and a drop-copy session (the admin key `demo-admin`, granted a drop copy of accounts 1 and 2) log
// on with signed Logons; account 1 places, amends, cancels and mass-cancels, the accounts cross,
// account 1's connection drops while its order fills, its session is parked, and the fill comes
// back as a resend (QuickFIX's own ResendRequest) after the next logon; the drop copy received every execution report of both accounts; and every order's
// last report equals the gRPC view of it (GetOrder). QuickFIX validates every message it receives
// against fix/FIX44.xml (UseDataDictionary=Y).
// The acceptor is the one startLocalExchange starts with the gateway (fix/fix-edge.ts), as
// `npm start` does, at `ex.fixAddress`.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import type { OrderOut } from '../../gateway/types.js';
import { type LocalExchange, startLocalExchange } from '../../processes/local-exchange.js';
import { waitFor } from '../fuzz/harness.js';
import {
  type FixWireMessage,
  fixDictionaryPath,
  QUICKFIX_MISSING,
  QUICKFIX_SKIP,
  QuickFixInitiator,
  requireQuickFix,
} from './quickfix/harness.js';

const interop = it;

const K1 = { apiKey: 'demo-key-1', secret: 'demo-secret-1-change-me' };
const K2 = { apiKey: 'demo-key-2', secret: 'demo-secret-2-change-me' };
/** The admin key gateway/examples/gateway-local.json grants a drop copy of accounts 1 and 2. */
const DROP_COPY = { apiKey: 'demo-admin', secret: 'demo-admin-secret-change-me' };
/** BTC-USD in engine/examples/instruments.json: 2 price decimals (reference 50000.00, band ±5000.00), 4 quantity decimals. */
const SYMBOL = 'BTC-USD';
/** Generous: a loaded 2-core machine. */
const WAIT_MS = 60_000;

if (QUICKFIX_SKIP) console.warn(`quickfix-interop.test.ts skipped: ${QUICKFIX_MISSING}`);

const isIn = (m: FixWireMessage, msgType: string) => m.dir === 'in' && m.msgType === msgType;
const report = (clOrdId: string, execType: string) => (m: FixWireMessage) =>
  isIn(m, '8') && m.fields['11'] === clOrdId && m.fields['150'] === execType;

/** FIX decimals compare by value: "1.50" equals "1.5" (both exact strings; no floats). */
function decimalKey(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const [int = '0', frac = ''] = s.split('.');
  const f = frac.replace(/0+$/, '');
  return `${BigInt(int)}${f === '' ? '' : `.${f}`}`;
}

const ORD_STATUS: Record<string, string> = {
  NEW: '0',
  PARTIALLY_FILLED: '1',
  FILLED: '2',
  CANCELED: '4',
  REJECTED: '8',
  EXPIRED: 'C',
};
const SIDE: Record<string, string> = { BUY: '1', SELL: '2' };

/** An order's last ExecutionReport against its gRPC view (GetOrder): the same order, state and quantities. */
function expectSameAsGrpc(er: FixWireMessage, order: OrderOut): void {
  const f = er.fields;
  expect(f['37'], 'OrderID').toBe(String(order.order_id));
  expect(f['55'], 'Symbol').toBe(order.symbol);
  expect(f['54'], 'Side').toBe(SIDE[order.side]);
  expect(f['39'], 'OrdStatus').toBe(ORD_STATUS[order.order_status]);
  expect(decimalKey(f['38']), 'OrderQty').toBe(decimalKey(order.order_qty_decimal));
  expect(decimalKey(f['14']), 'CumQty').toBe(decimalKey(order.cum_qty_decimal));
  expect(decimalKey(f['151']), 'LeavesQty').toBe(decimalKey(order.leaves_qty_decimal));
  if (f['44'] !== undefined) expect(decimalKey(f['44']), 'Price').toBe(decimalKey(order.price_decimal));
}

/** The last report each session received for an order id (37), resends included once. */
function lastReportOf(session: QuickFixInitiator, orderId: string): FixWireMessage {
  const all = session.messages().filter((m) => isIn(m, '8') && m.fields['37'] === orderId);
  const last = all.at(-1);
  if (last === undefined) throw new Error(`no ExecutionReport for order ${orderId}`);
  return last;
}

describe.skipIf(QUICKFIX_SKIP)('QuickFIX C++ against the FIX acceptor, checked against gRPC', () => {
  let ex: LocalExchange;
  let grpc1: OrderEntryGrpcClient;
  let grpc2: OrderEntryGrpcClient;
  let a1: QuickFixInitiator;
  let a2: QuickFixInitiator;
  let dropCopy: QuickFixInitiator;
  /** Order ids (37) account 1's session saw, by the ClOrdID that created them. */
  const orderIds = new Map<string, string>();

  beforeAll(async () => {
    requireQuickFix(); // in CI: fail, never skip
    const dictionaryPath = fixDictionaryPath();
    if (dictionaryPath === undefined) throw new Error('fix/FIX44.xml is missing');
    ex = await startLocalExchange();
    const at = { host: ex.config.fix.listen.host, port: ex.fix.port };
    grpc1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: { key: K1.apiKey, hmacSecret: K1.secret } });
    grpc2 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: { key: K2.apiKey, hmacSecret: K2.secret } });
    const common = { host: at.host, port: at.port, dictionaryPath };
    // The drop copy first, so it sees every report of the trading sessions.
    dropCopy = await QuickFixInitiator.start({ ...common, senderCompId: 'DROPCOPY', ...DROP_COPY });
    await dropCopy.waitForEvent((e) => e.event === 'logon', 'the drop copy to log on', WAIT_MS);
    a1 = await QuickFixInitiator.start({ ...common, senderCompId: 'ACCOUNT1', ...K1, cancelOnDisconnect: false });
    a2 = await QuickFixInitiator.start({ ...common, senderCompId: 'ACCOUNT2', ...K2 });
    for (const s of [a1, a2]) await s.waitForEvent((e) => e.event === 'logon', 'logon', WAIT_MS);
  }, 600_000);

  afterAll(async () => {
    for (const s of [a1, a2, dropCopy]) {
      await s?.stop();
      s?.removeStore();
    }
    grpc1?.close();
    grpc2?.close();
    await ex?.stop();
  }, 120_000);

  const getOrder = async (clientOrderId: string, client = grpc1) =>
    (await client.getOrder({ client_order_id: clientOrderId, symbol: SYMBOL })).order;

  interop('places a limit order: New, as GetOrder shows it', async () => {
    await a1.send(`place c1 ${SYMBOL} 1 2 0.0010 49000.00 1`);
    const er = await a1.waitFor(report('c1', '0'), 'New for c1', WAIT_MS);
    expect(er.fields['39']).toBe('0');
    expect(decimalKey(er.fields['14'])).toBe('0');
    expect(decimalKey(er.fields['6'])).toBe('0');
    orderIds.set('c1', er.fields['37']!);
    expectSameAsGrpc(er, await getOrder('c1'));
  });

  interop('amends it (G): Replaced with the new price and quantity', async () => {
    await a1.send(`amend c2 c1 ${SYMBOL} 1 0.0020 49001.00`);
    const er = await a1.waitFor(report('c2', '5'), 'Replaced for c2', WAIT_MS);
    expect(er.fields).toMatchObject({ '41': 'c1', '37': orderIds.get('c1'), '44': '49001.00' });
    expectSameAsGrpc(er, await getOrder('c1'));
  });

  interop('cancels it (F): Canceled', async () => {
    await a1.send(`cancel c3 c2 ${SYMBOL} 1`);
    const er = await a1.waitFor(report('c3', '4'), 'Canceled for c3', WAIT_MS);
    expect(er.fields).toMatchObject({ '39': '4', '41': 'c2' });
    expect(decimalKey(er.fields['151'])).toBe('0');
    expectSameAsGrpc(er, await getOrder('c1'));
  });

  interop('mass-cancels (q → r): every resting order of the account canceled', async () => {
    await a1.send(`place m1 ${SYMBOL} 1 2 0.0001 48000.00 1`);
    await a1.send(`place m2 ${SYMBOL} 2 2 0.0001 52000.00 1`);
    for (const id of ['m1', 'm2'])
      orderIds.set(id, (await a1.waitFor(report(id, '0'), `New for ${id}`, WAIT_MS)).fields['37']!);
    await a1.send('masscancel q1 7');
    const r = await a1.waitFor((m) => isIn(m, 'r') && m.fields['11'] === 'q1', 'the OrderMassCancelReport', WAIT_MS);
    expect(r.fields).toMatchObject({ '530': '7', '531': '7', '533': '2' });
    for (const id of ['m1', 'm2']) {
      const canceled = (m: FixWireMessage) =>
        isIn(m, '8') && m.fields['150'] === '4' && m.fields['37'] === orderIds.get(id);
      const er = await a1.waitFor(canceled, `Canceled for ${id}`, WAIT_MS);
      expectSameAsGrpc(er, await getOrder(id));
    }
  });

  interop('crosses two accounts: both get Trade reports with LastPx, LastQty, LastLiquidityInd', async () => {
    await a1.send(`place x1 ${SYMBOL} 1 2 0.0003 49500.00 1`);
    await a1.waitFor(report('x1', '0'), 'New for x1', WAIT_MS);
    await a2.send(`place x2 ${SYMBOL} 2 2 0.0002 49500.00 3`);
    const maker = await a1.waitFor(report('x1', 'F'), 'the maker fill', WAIT_MS);
    const taker = await a2.waitFor(report('x2', 'F'), 'the taker fill', WAIT_MS);
    expect(maker.fields).toMatchObject({ '39': '1', '31': '49500.00', '851': '1' });
    expect(taker.fields).toMatchObject({ '39': '2', '31': '49500.00', '851': '2' });
    expect(decimalKey(maker.fields['32'])).toBe('0.0002');
    expectSameAsGrpc(maker, await getOrder('x1'));
    expectSameAsGrpc(taker, await getOrder('x2', grpc2));
  });

  interop(
    'survives a dropped connection: what was sent while down is resent and executed once; the fill made while down is resent to it',
    async () => {
      const mark = a1.messages().length;
      const connections = ex.fix.acceptor.connectionCount;
      await a1.send('disconnect');
      await a1.waitForEvent((e) => e.event === 'logout', 'the drop', WAIT_MS);
      await waitFor('the acceptor to see the drop', () => ex.fix.acceptor.connectionCount < connections, WAIT_MS);
      // x1 rests 0.0001 more: account 2 takes it over gRPC while account 1 is away. The session is
      // parked (fix/README.md "Parked sessions"): the fill is numbered and stored for it.
      await grpc2.placeOrder({
        client_order_id: 'x3',
        symbol: SYMBOL,
        side: 'SELL',
        order_type: 'LIMIT',
        time_in_force: 'IOC',
        price_decimal: '49500.00',
        quantity_decimal: '0.0001',
      });
      // QuickFIX numbers and stores this order while down; the acceptor sees the gap at the next
      // Logon, asks for it (ResendRequest) and gets it with PossDupFlag=Y.
      await a1.send(`place d1 ${SYMBOL} 1 2 0.0001 48500.00 1`);
      await a1.send('logon');
      await a1.waitFor((m) => isIn(m, '2'), "the acceptor's ResendRequest", WAIT_MS, mark);
      const resent = await a1.waitFor(
        (m) => m.dir === 'out' && m.msgType === 'D' && m.fields['11'] === 'd1' && m.fields['43'] === 'Y',
        'd1 resent with PossDupFlag',
        WAIT_MS,
        mark,
      );
      expect(resent.fields['122']).toBeDefined();
      // Our Logon's 34 is past the fill: QuickFIX asks for the gap itself and gets the fill, 43=Y.
      await a1.waitFor((m) => m.dir === 'out' && m.msgType === '2', "QuickFIX's ResendRequest", WAIT_MS, mark);
      const fill = await a1.waitFor(report('x1', 'F'), 'the fill made while down, resent', WAIT_MS, mark);
      expect(fill.fields).toMatchObject({ '43': 'Y', '39': '2', '31': '49500.00', '851': '1' });
      expect(decimalKey(fill.fields['32'])).toBe('0.0001');
      expect(fill.fields['122']).toBeDefined();
      expectSameAsGrpc(fill, await getOrder('x1'));
      const acked = await a1.waitFor(report('d1', '0'), 'New for d1', WAIT_MS, mark);
      expectSameAsGrpc(acked, await getOrder('d1'));
      await a1.send(`status x1 ${SYMBOL} 1 790=s1`);
      const status = await a1.waitFor(
        (m) => isIn(m, '8') && m.fields['150'] === 'I',
        'the status of x1',
        WAIT_MS,
        mark,
      );
      expect(status.fields['39']).toBe('2');
      expectSameAsGrpc(status, await getOrder('x1'));
      // Executed once: one order and one New execution for d1. Both sides resend here at once, and
      // QuickFIX may ask again for what followed our gap fill: a report can then come a second
      // time with 43=Y, the same ExecID (FIX's duplicate, for the client to recognise).
      const d1News = a1.messages().filter(report('d1', '0'));
      expect(new Set(d1News.map((m) => m.fields['17'])).size).toBe(1);
      expect(new Set(d1News.map((m) => m.fields['37'])).size).toBe(1);
      // The fill made while down: received once, by resend only (never live: the connection was down).
      const fills = a1.messages().filter((m) => report('x1', 'F')(m) && m.fields['17'] === fill.fields['17']);
      expect(fills.map((m) => m.fields['43'])).toEqual(['Y']);
    },
  );

  interop(
    "the drop copy received every execution report of accounts 1 and 2, and each order's last equals GetOrder",
    async () => {
      const execIds = (s: QuickFixInitiator) =>
        new Set(
          s
            .messages()
            // An OrderStatusRequest's answer (150=I) is the session's own, not an execution.
            .filter((m) => isIn(m, '8') && m.fields['150'] !== 'I')
            .map((m) => m.fields['17']),
        );
      const wanted = new Set([...execIds(a1), ...execIds(a2)]);
      await dropCopy.waitFor(
        () => [...wanted].every((id) => execIds(dropCopy).has(id)),
        'every report copied',
        WAIT_MS,
      );
      // Every report of the FIX sessions, and those of orders entered over other edges (x3, gRPC).
      for (const id of wanted) expect(execIds(dropCopy).has(id), id).toBe(true);
      expect(execIds(dropCopy).size).toBeGreaterThan(wanted.size);
      const x1 = await getOrder('x1');
      expectSameAsGrpc(lastReportOf(dropCopy, String(x1.order_id)), x1);
    },
  );

  interop('QuickFIX found nothing to reject: no Reject (3) or BusinessMessageReject (j) from any session', () => {
    for (const s of [a1, a2, dropCopy]) {
      const rejects = s.messages().filter((m) => m.dir === 'out' && (m.msgType === '3' || m.msgType === 'j'));
      expect(rejects.map((m) => m.wire)).toEqual([]);
    }
  });

  interop('logs out: Logout answered by a Logout', async () => {
    const mark = a1.messages().length;
    await a1.send('logout');
    await a1.waitFor((m) => isIn(m, '5'), 'the Logout answered', WAIT_MS, mark);
  });
});
