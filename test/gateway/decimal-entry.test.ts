// Decimal strings at order entry (issue 19, part "dec"), over real sockets: one replica and the
// real gateway with its REST and gRPC servers (test/fuzz/harness.ts), instruments from
// engine/examples/instruments.json — BTC-USD (tick 1, lot 1, priceDecimals 2, qtyDecimals 4) and
// ETH-USD (tick 5, lot 10, priceDecimals 2, qtyDecimals 3).
//   - place and amend with *_decimal fields over REST, gRPC unary and an OrderSession give the
//     same order as the integer form;
//   - too many decimals is INVALID_PRICE_PRECISION / INVALID_QTY_PRECISION, both forms is
//     CONFLICTING_FIELDS, off-tick stays PRICE_NOT_TICK_MULTIPLE: nothing is sequenced;
//   - the CLI sends a value with a point as a decimal (`--price 49990.00 --qty 0.0010`);
//   - every report and GetOrder carries decimal strings that convert back to its integers, with
//     exactly the instrument's decimals; fills carry last_px, cum_notional and avg_px in decimals.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseDecimal, shiftPoint } from '../../api/decimal.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { main } from '../../cli/matchbook.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { OrderEntryError, OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import { KEY1, KEY2, startInProcessExchange, type InProcessExchange } from '../fuzz/harness.js';

type Report = ExecutionReportOut;
interface Result {
  seq: number;
  reports: Report[];
}

let ex: InProcessExchange;
let rest: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
let grpcClient: OrderEntryGrpcClient;
let n = 0;
const cid = (p: string) => `dec-${p}-${++n}`;

beforeAll(async () => {
  ex = await startInProcessExchange();
  rest = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: KEY1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: KEY2 });
  grpcClient = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY1 });
}, 60_000);

afterAll(async () => {
  grpcClient?.close();
  await ex?.stop();
}, 60_000);

const DECIMALS: Record<string, { price: number; qty: number }> = {
  'BTC-USD': { price: 2, qty: 4 },
  'ETH-USD': { price: 2, qty: 3 },
};
const PRICE_FIELDS = ['price', 'stop_price', 'last_px'] as const;
const QTY_FIELDS = ['order_qty', 'cum_qty', 'leaves_qty', 'last_qty', 'display_qty'] as const;

/** Every decimal string of a report: exactly the instrument's decimals, and the integer it stands for. */
function expectDecimalsMatch(r: Report): void {
  const d = DECIMALS[r.symbol]!;
  const rec = r as unknown as Record<string, unknown>;
  const check = (f: string, decimals: number) => {
    const s = rec[`${f}_decimal`];
    expect(typeof s, `${f}_decimal`).toBe('string');
    expect((s as string).split('.')[1]?.length ?? 0, `${f}_decimal ${String(s)}`).toBe(decimals);
    expect(parseDecimal(s as string, decimals), `${f}_decimal ${String(s)}`).toEqual({
      ok: true,
      units: BigInt(rec[f] as number),
    });
  };
  for (const f of PRICE_FIELDS) check(f, d.price);
  for (const f of QTY_FIELDS) check(f, d.qty);
  check('cum_notional', d.price + d.qty);
  expect(r.avg_px_decimal).toBe(shiftPoint(r.avg_px, 8, 8 + d.price));
}

/** The fields an order is made of (what must not depend on the form the client wrote). */
function orderShape(r: Report) {
  const { symbol, side, order_type, time_in_force, exec_type, order_status, price, stop_price, order_qty } = r;
  return { symbol, side, order_type, time_in_force, exec_type, order_status, price, stop_price, order_qty };
}

async function restBody(
  p: Promise<{ status: number; body: unknown }>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await p;
  return { status: r.status, body: r.body as Record<string, unknown> };
}

async function grpcError(p: Promise<unknown>): Promise<OrderEntryError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OrderEntryError);
  return e as OrderEntryError;
}

const limit = (symbol: string, side: string, extra: Record<string, unknown>) => ({
  client_order_id: cid('o'),
  symbol,
  side,
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  ...extra,
});

describe('place with decimal strings', () => {
  it('REST: price_decimal/quantity_decimal give the same order as price/quantity, with decimal strings in the report', async () => {
    const byInt = await restBody(rest.placeOrder(limit('BTC-USD', 'BUY', { price: 4_990_050, quantity: 10 })));
    const byDec = await restBody(
      rest.placeOrder(limit('BTC-USD', 'BUY', { price_decimal: '49900.50', quantity_decimal: '0.0010' })),
    );
    expect(byInt.status).toBe(201);
    expect(byDec.status).toBe(201);
    const a = (byInt.body.result as Result).reports[0]!;
    const b = (byDec.body.result as Result).reports[0]!;
    expect(orderShape(b)).toEqual(orderShape(a));
    expect(b).toMatchObject({
      price: 4_990_050,
      order_qty: 10,
      price_decimal: '49900.50',
      order_qty_decimal: '0.0010',
    });
    expectDecimalsMatch(a);
    expectDecimalsMatch(b);
    // Fewer decimals than the instrument's, and leading zeros, are the same value.
    const short = await restBody(
      rest.placeOrder(limit('BTC-USD', 'BUY', { price_decimal: '049900.5', quantity_decimal: '0.001' })),
    );
    expect(short.status).toBe(201);
    expect(orderShape((short.body.result as Result).reports[0]!)).toEqual(orderShape(a));
  });

  it('gRPC unary and OrderSession: the same', async () => {
    const byInt = await grpcClient.placeOrder(limit('ETH-USD', 'SELL', { price: 300_005, quantity: 1_230 }) as never);
    const byDec = await grpcClient.placeOrder(
      limit('ETH-USD', 'SELL', { price_decimal: '3000.05', quantity_decimal: '1.230' }) as never,
    );
    const a = byInt.result.reports[0]!;
    const b = byDec.result.reports[0]!;
    expect(orderShape(b)).toEqual(orderShape(a));
    expect(b).toMatchObject({ price: 300_005, order_qty: 1_230, price_decimal: '3000.05', order_qty_decimal: '1.230' });
    expectDecimalsMatch(a);
    expectDecimalsMatch(b);
    const s = grpcClient.openSession();
    try {
      await s.ready;
      const out = await s.send({
        request_id: 1,
        commands: [
          { place: limit('ETH-USD', 'SELL', { price_decimal: '3000.05', quantity_decimal: '1.23' }) as never },
        ],
      });
      const r = out.outcomes[0]!.result!.reports[0]!;
      expect(orderShape(r)).toEqual(orderShape(a));
      expectDecimalsMatch(r);
    } finally {
      await s.close();
    }
  });

  it('a stop-limit iceberg with every decimal field', async () => {
    const r = await restBody(
      rest.placeOrder({
        ...limit('BTC-USD', 'BUY', {
          price_decimal: '51000',
          stop_price_decimal: '50999.99',
          quantity_decimal: '1',
          display_quantity_decimal: '0.25',
        }),
        order_type: 'STOP_LIMIT',
      }),
    );
    expect(r.status).toBe(201);
    const rep = (r.body.result as Result).reports[0]!;
    expect(rep).toMatchObject({ price: 5_100_000, stop_price: 5_099_999, order_qty: 10_000, display_qty: 2_500 });
    expectDecimalsMatch(rep);
  });
});

describe('refused, and nothing sequenced', () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    [
      'a price with 3 decimals',
      { price_decimal: '49900.001', quantity: 10 },
      'INVALID_PRICE_PRECISION',
      'price_decimal',
    ],
    [
      'a trailing zero beyond 2',
      { price_decimal: '49900.500', quantity: 10 },
      'INVALID_PRICE_PRECISION',
      'price_decimal',
    ],
    [
      'a quantity with 5 decimals',
      { price: 4_990_000, quantity_decimal: '0.00015' },
      'INVALID_QTY_PRECISION',
      'quantity_decimal',
    ],
    [
      'both forms of the price',
      { price: 4_990_000, price_decimal: '49900.00', quantity: 10 },
      'CONFLICTING_FIELDS',
      'price_decimal',
    ],
    [
      'both forms of the quantity',
      { price: 4_990_000, quantity: 10, quantity_decimal: '0.0010' },
      'CONFLICTING_FIELDS',
      'quantity_decimal',
    ],
    ['an exponent', { price_decimal: '4.99e4', quantity: 10 }, 'INVALID_DECIMAL', 'price_decimal'],
    ['a sign', { price_decimal: '-49900', quantity: 10 }, 'INVALID_DECIMAL', 'price_decimal'],
    [
      'a string over the limit',
      { price_decimal: `${'0'.repeat(40)}1`, quantity: 10 },
      'DECIMAL_STRING_CHARS_MAX',
      'price_decimal',
    ],
    ['a zero quantity', { price: 4_990_000, quantity_decimal: '0.0000' }, 'INVALID_QUANTITY', 'quantity_decimal'],
  ];

  for (const [what, extra, reason, field] of cases)
    it(`${what}: ${reason} over REST and gRPC`, async () => {
      const before = await ex.book();
      const r = await restBody(rest.placeOrder(limit('BTC-USD', 'BUY', extra)));
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ code: 'INVALID_ARGUMENT', reason, field });
      expect(r.body.seq).toBeUndefined();
      const e = await grpcError(grpcClient.placeOrder(limit('BTC-USD', 'BUY', extra) as never));
      expect(e.reason).toBe(reason);
      expect((await ex.book()).applied).toBe(before.applied);
    });

  it('a price off the tick stays PRICE_NOT_TICK_MULTIPLE, the tick shown in decimals', async () => {
    const before = await ex.book();
    const r = await restBody(rest.placeOrder(limit('ETH-USD', 'BUY', { price_decimal: '3000.01', quantity: 10 })));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ reason: 'PRICE_NOT_TICK_MULTIPLE', field: 'price_decimal' });
    expect(r.body.message).toContain('0.05');
    expect((await ex.book()).applied).toBe(before.applied);
  });

  it('a decimal given as a JSON number is refused (a float to most parsers)', async () => {
    const r = await restBody(rest.placeOrder(limit('BTC-USD', 'BUY', { price_decimal: 49900.5, quantity: 10 })));
    expect(r.body).toMatchObject({ reason: 'FIELD_WRONG_TYPE', field: 'price_decimal' });
  });
});

describe('amend with decimal strings, fills and GetOrder', () => {
  it('REST and gRPC amends by price_decimal/quantity_decimal; a cross fills with decimal last_px, cum_notional, avg_px', async () => {
    const placed = await restBody(
      rest.placeOrder(limit('BTC-USD', 'SELL', { price_decimal: '50100.00', quantity_decimal: '0.0300' })),
    );
    const id = (placed.body.result as Result).reports[0]!.order_id;
    // The decimals are the instrument's: on a shard with several instruments the amend names it.
    const noSymbol = await restBody(rest.amendOrder(id, { price_decimal: '50050.25' }));
    expect(noSymbol.body).toMatchObject({ reason: 'FIELD_MISSING', field: 'symbol' });
    const amended = await restBody(
      rest.amendOrder(id, { symbol: 'BTC-USD', price_decimal: '50050.25', quantity_decimal: '0.0200' }),
    );
    expect(amended.status).toBe(200);
    const rep = (amended.body.result as Result).reports[0]!;
    expect(rep).toMatchObject({ exec_type: 'REPLACED', price: 5_005_025, order_qty: 200, price_decimal: '50050.25' });
    expectDecimalsMatch(rep);
    const tooPrecise = await restBody(rest.amendOrder(id, { symbol: 'BTC-USD', price_decimal: '50050.255' }));
    expect(tooPrecise.body).toMatchObject({ reason: 'INVALID_PRICE_PRECISION', field: 'price_decimal' });
    const g = await grpcClient.amendOrder({ order_id: id, symbol: 'BTC-USD', price_decimal: '50050.5' });
    expect(g.result.reports[0]).toMatchObject({ price: 5_005_050, order_qty: 200, order_qty_decimal: '0.0200' });
    expectDecimalsMatch(g.result.reports[0]!);

    // Account 2 takes 0.015 of it: a TRADE for each side.
    const taker = await restBody(
      rest2.placeOrder({
        ...limit('BTC-USD', 'BUY', { price_decimal: '50050.50', quantity_decimal: '0.015' }),
        time_in_force: 'IOC',
      }),
    );
    expect(taker.status).toBe(201);
    const fill = (taker.body.result as Result).reports.find((r) => r.exec_type === 'TRADE')!;
    expect(fill).toMatchObject({
      last_px_decimal: '50050.50',
      last_qty_decimal: '0.0150',
      cum_notional_decimal: '750.757500',
      avg_px_decimal: '50050.5000000000',
    });
    expectDecimalsMatch(fill);

    const got = await restBody(rest.getOrder(id));
    expect(got.status).toBe(200);
    expect(got.body.order).toMatchObject({
      order_status: 'PARTIALLY_FILLED',
      price_decimal: '50050.50',
      order_qty_decimal: '0.0200',
      cum_qty_decimal: '0.0150',
      leaves_qty_decimal: '0.0050',
      stop_price_decimal: '0.00',
      display_qty_decimal: '0.0000',
    });
    const gg = await grpcClient.getOrder({ order_id: id });
    expect(gg.order).toMatchObject({ price_decimal: '50050.50', cum_qty_decimal: '0.0150' });
  });
});

describe('CLI (npx matchbook place / amend)', () => {
  /** Runs the CLI's main against the exchange; its exit code and the JSON it printed. */
  async function cli(
    args: string[],
  ): Promise<{ code: number; out: { status: number; body: Record<string, unknown> } }> {
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((x: unknown) => void printed.push(String(x)));
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const code = await main([...args, '--url', ex.restUrl, '--key', KEY1.key, '--secret', KEY1.hmacSecret]);
      return { code, out: JSON.parse(printed.join('\n') || '{}') };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }

  it('--price 49990.00 --qty 0.0010 sends decimals; plain digits stay units; --decimal makes them display units', async () => {
    const common = ['place', '--symbol', 'BTC-USD', '--side', 'BUY', '--type', 'LIMIT'];
    const dec = await cli([...common, '--price', '49990.00', '--qty', '0.0010']);
    expect(dec.code).toBe(0);
    const r = (dec.out.body.result as Result).reports[0]!;
    expect(r).toMatchObject({
      price: 4_999_000,
      order_qty: 10,
      price_decimal: '49990.00',
      order_qty_decimal: '0.0010',
    });
    const units = await cli([...common, '--price', '4999000', '--qty', '10']);
    expect((units.out.body.result as Result).reports[0]).toMatchObject({ price: 4_999_000, order_qty: 10 });
    const flagged = await cli([...common, '--price', '49990', '--qty', '1', '--decimal']);
    expect((flagged.out.body.result as Result).reports[0]).toMatchObject({ price: 4_999_000, order_qty: 10_000 });
    const amended = await cli(['amend', String(r.order_id), '--price', '49990.10', '--symbol', 'BTC-USD']);
    expect(amended.code).toBe(0);
    expect((amended.out.body.result as Result).reports[0]).toMatchObject({ exec_type: 'REPLACED', price: 4_999_010 });
    const refused = await cli([...common, '--price', '49990.001', '--qty', '0.0010']);
    expect(refused.code).toBe(1);
    expect(refused.out.body).toMatchObject({ reason: 'INVALID_PRICE_PRECISION', field: 'price_decimal' });
  });
});
