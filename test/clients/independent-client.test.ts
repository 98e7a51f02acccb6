// A client written only from the published protos and docs (test/clients/python/client.py:
// generated gRPC stubs, REST with Python's standard library, request signing as gateway/README.md
// says, report verification as docs/report-signatures.md says) runs against a real local exchange:
// it checks its verifier against the published test vectors, reads the instruments,
// is refused bad orders and decodes the errors (google.rpc.Status from grpc-status-details-bin, the
// REST body; an engine reject's REJECTED report in both), places, amends, cancels and fills orders over gRPC and REST reading each back with
// GetOrder over both protocols, and verifies every report it received (HMAC, chain links, signed
// heads; a report or head with one byte changed fails). It needs python3 with grpcio, grpc_tools,
// protobuf and cryptography (Debian: python3-grpcio python3-grpc-tools python3-protobuf
// python3-cryptography; .ci/run installs them): without them the test is skipped locally and
// fails in CI.

import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';

const CLIENT = 'test/clients/python/client.py';
/** gateway/examples/gateway-local.json's account 1. */
const KEY = { key: 'demo-key-1', secret: 'demo-secret-1-change-me' };
/** BTC-USD in engine/examples/instruments.json: reference 5,000,000, band ±500,000, tick 1, lot 1. */
const SYMBOL = 'BTC-USD';
const PRICE = 4_900_000;
/** ETH-USD there: tick 5, lot 10, reference 300,000; the client derives the same from the instrument list when served. */
const OFF_TICK = { symbol: 'ETH-USD', price: 300_001, quantity: 10 };

type Step = Record<string, unknown> & { step: string };
type Report = Record<string, unknown>;

/** The first python3 that can import what the client needs (the Debian packages are /usr/bin/python3's). */
function findPython(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    const imports = 'import grpc, grpc_tools.protoc, google.protobuf, cryptography';
    if (spawnSync(python, ['-c', imports], { stdio: 'ignore' }).status === 0) return python;
  }
  return undefined;
}

const python = findPython();
const missing =
  'python3 with grpcio, grpc_tools, protobuf and cryptography not found (apt-get install python3-grpcio python3-grpc-tools python3-protobuf python3-cryptography)';

if (python === undefined && process.env.CI === undefined)
  console.warn(`independent-client.test.ts skipped: ${missing}`);

/** What docs/errors.md says a unary gRPC refusal carries, for one code and reason. */
function grpcError(grpcStatus: string, statusCode: number, code: string, reason: string, metadata: Report) {
  return {
    grpc_status: grpcStatus,
    x_mb_error_code: code,
    x_mb_error_reason: reason,
    status: { code: statusCode },
    consistent: true,
    error_info: { reason, domain: 'matchbook.exchange', metadata: { code, ...metadata } },
  };
}

describe.skipIf(python === undefined && process.env.CI === undefined)('an independent Python client', () => {
  let ex: LocalExchange;
  let steps: Map<string, Step>;

  beforeAll(async () => {
    if (python === undefined) throw new Error(missing); // in CI: fail, never skip silently
    ex = await startLocalExchange();
    const args = [
      CLIENT,
      ...['--rest', ex.restUrl, '--grpc', ex.grpcAddress, '--key', KEY.key, '--secret', KEY.secret],
      ...['--symbol', SYMBOL, '--price', String(PRICE)],
      ...['--off-tick', `${OFF_TICK.symbol}:${OFF_TICK.price}:${OFF_TICK.quantity}`],
      // docs/report-signatures.md §4: <dataDir>/chain-heads.jsonl and <signingKey>.pub.
      ...['--heads', path.join(ex.config.dataDir, 'chain-heads.jsonl')],
      ...['--public-key', `${ex.config.signingKeyPath}.pub`],
    ];
    const { stdout } = await promisify(execFile)(python, args, { timeout: 180_000 });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Step);
    steps = new Map(lines.map((s) => [s.step, s]));
  }, 300_000);

  afterAll(async () => {
    await ex?.stop();
  }, 60_000);

  const step = (name: string): Step => {
    const s = steps.get(name);
    if (s === undefined) throw new Error(`the client printed no step ${name}: ${[...steps.keys()].join(', ')}`);
    return s;
  };
  /** The step's GetOrder read-back of one order: the same over gRPC and REST. */
  const readBack = (name: string, orderId: unknown): Report => {
    const views = (step(name).get as Record<string, { grpc: Report; rest: Report }>)[String(orderId)]!;
    expect(views.grpc, `${name}: GetOrder over gRPC and REST`).toEqual(views.rest);
    return views.grpc;
  };

  it('ran to the end', () => {
    expect(step('done')).toEqual({ step: 'done' });
  });

  it("agrees with docs/report-signatures.md's test vectors", () => {
    expect(step('vectors')).toEqual({
      step: 'vectors',
      canonical_ok: true,
      head_message_ok: true,
      reports: { reports: 4, hmac_ok: 4, links_checked: 4, gaps: 0, runs: 1, failures: [] },
      heads: { heads: 1, signatures_ok: 1, bound_chain_seqs: [4], failures: [] },
      wide_canonical_ok: true,
      wide_report: { reports: 1, hmac_ok: 1, links_checked: 1, gaps: 0, runs: 1, failures: [] },
    });
  });

  it('reads the instruments over both protocols and picks price and quantity from them', () => {
    expect(step('grpc.instruments').skipped, 'ListInstruments').toBe(false);
    expect(step('rest.instruments').skipped, 'GET /v1/instruments').toBe(false);
    const params = step('params');
    expect(params).toMatchObject({ price: PRICE, tick: 1, lot: 1, off_tick: OFF_TICK, source: 'instruments' });
    for (const t of ['grpc', 'rest']) {
      const bySymbol = new Map((step(`${t}.instruments`).instruments as Report[]).map((i) => [i.symbol, i]));
      expect(bySymbol.get('BTC-USD'), t).toMatchObject({
        status: 'TRADING',
        tick_size: 1,
        lot_size: 1,
        min_quantity: 1,
        reference_price: 5_000_000,
      });
      expect(bySymbol.get('ETH-USD'), t).toMatchObject({ tick_size: 5, lot_size: 10, min_quantity: 10 });
    }
  });

  it('decodes google.rpc.Status with ErrorInfo from grpc-status-details-bin, agreeing with the trailers and docs/errors.md', () => {
    // docs/errors.md "Engine reject reasons": an unknown symbol and a price off the tick are refused by the gateway.
    const cases = [
      ['unknown_symbol', 'UNKNOWN_INSTRUMENT', 'symbol'],
      ['off_tick', 'PRICE_NOT_TICK_MULTIPLE', 'price'],
    ] as const;
    for (const [name, reason, field] of cases) {
      const e = step(`grpc.error.${name}`).error as Report & { status: Report };
      expect(e, name).toMatchObject(grpcError('INVALID_ARGUMENT', 3, 'INVALID_ARGUMENT', reason, { field }));
      expect(Object.keys((e.error_info as Report).metadata as Report).sort(), name).toEqual(['code', 'field']);
      expect(e.status.message, name).toBe(e.grpc_message);
      expect(e.grpc_message, name).toMatch(/^INVALID_ARGUMENT: ./);
      expect(e.retry_info, `${name}: no retry hint`).toBeUndefined();
      const r = step(`rest.error.${name}`).error as { http_status: number; body: Report };
      expect(r, name).toMatchObject({ http_status: 400, body: { code: 'INVALID_ARGUMENT', reason, field } });
      expect(r.body.message, name).toBe((e.grpc_message as string).slice('INVALID_ARGUMENT: '.length));
    }
  });

  it('decodes an engine reject (ORDER_REJECTED) with its seq, order id and REJECTED report, over both protocols', () => {
    for (const t of ['grpc', 'rest']) {
      const placed = step(`${t}.place`).report as Report;
      const e = step(`${t}.error.duplicate`).error as Report;
      const body = t === 'grpc' ? ((e.error_info as Report).metadata as Report) : (e.body as Report);
      const seq = Number(body.seq);
      expect(seq, t).toBeGreaterThan(placed.order_id as number);
      expect(Number(body.order_id), `${t}: a refused new order's id is its seq`).toBe(seq);
      // The command's result, as a success carries it: the REST body's `result`, the gRPC
      // status details' exchange.v1.OrderResult. Its REJECTED report comes next in the chain.
      const result = {
        seq,
        log_index: expect.any(Number),
        shard: 0,
        reports: [
          expect.objectContaining({
            order_id: seq,
            client_order_id: `py-${t}-1`,
            account: 1,
            symbol: SYMBOL,
            exec_type: 'REJECTED',
            order_status: 'REJECTED',
            reason: 'DUPLICATE_CLIENT_ORDER_ID',
            seq,
            chain_seq: (placed.chain_seq as number) + 1,
          }),
        ],
      };
      if (t === 'grpc') {
        expect(e).toMatchObject(
          grpcError('FAILED_PRECONDITION', 9, 'ORDER_REJECTED', 'DUPLICATE_CLIENT_ORDER_ID', {
            seq: String(seq),
            order_id: String(seq),
          }),
        );
        expect(e.order_result, t).toEqual(result);
      } else {
        expect(e).toEqual({
          http_status: 409,
          body: {
            code: 'ORDER_REJECTED',
            reason: 'DUPLICATE_CLIENT_ORDER_ID',
            message: expect.any(String), // for people; docs/errors.md: may change
            order_id: seq,
            seq,
            result,
          },
        });
      }
    }
  });

  it('places, amends and cancels over gRPC and REST, each read back with GetOrder over both', () => {
    for (const t of ['grpc', 'rest']) {
      const place = step(`${t}.place`);
      expect(place, t).toMatchObject({
        error: null,
        report: {
          client_order_id: `py-${t}-1`,
          account: 1,
          symbol: SYMBOL,
          side: 'BUY',
          order_type: 'LIMIT',
          time_in_force: 'GTC',
          exec_type: 'NEW',
          order_status: 'NEW',
          price: PRICE,
          order_qty: 3,
          cum_qty: 0,
          leaves_qty: 3,
          avg_px: '0.00000000',
          last_liquidity_ind: '',
        },
      });
      const orderId = (place.report as Report).order_id;
      const order = { order_id: orderId, client_order_id: `py-${t}-1`, account: 1, symbol: SYMBOL, side: 'BUY' };
      expect(readBack(`${t}.place`, orderId), t).toMatchObject({ ...order, order_status: 'NEW', leaves_qty: 3 });
      expect(step(`${t}.amend`), t).toMatchObject({
        error: null,
        report: { order_id: orderId, exec_type: 'REPLACED', order_status: 'NEW', price: PRICE + 1, order_qty: 2 },
      });
      expect(readBack(`${t}.amend`, orderId), t).toMatchObject({
        ...order,
        order_status: 'NEW',
        price: PRICE + 1,
        order_qty: 2,
        leaves_qty: 2,
      });
      expect(step(`${t}.cancel`), t).toMatchObject({
        error: null,
        report: { order_id: orderId, exec_type: 'CANCELED', order_status: 'CANCELED', order_qty: 2, leaves_qty: 0 },
      });
      expect(readBack(`${t}.cancel`, orderId), t).toMatchObject({
        ...order,
        order_status: 'CANCELED',
        order_qty: 2,
        cum_qty: 0,
        leaves_qty: 0,
      });
    }
    expect(step('grpc.place_invalid').error).toMatchObject(
      grpcError('INVALID_ARGUMENT', 3, 'INVALID_ARGUMENT', 'INVALID_CLIENT_ORDER_ID', { field: 'client_order_id' }),
    );
    expect(step('rest.place_invalid').error).toMatchObject({
      http_status: 400,
      body: { code: 'INVALID_ARGUMENT', reason: 'INVALID_CLIENT_ORDER_ID', field: 'client_order_id' },
    });
  });

  it('gets both sides of a fill in the reply, and reads them back with GetOrder over both protocols', () => {
    for (const t of ['grpc', 'rest']) {
      const maker = step(`${t}.fill.maker`);
      expect(maker.reports, t).toMatchObject([{ side: 'SELL', exec_type: 'NEW', order_qty: 2, leaves_qty: 2 }]);
      const makerId = (maker.reports as Report[])[0]!.order_id;
      expect(readBack(`${t}.fill.maker`, makerId), t).toMatchObject({ order_status: 'NEW', leaves_qty: 2 });
      const taker = step(`${t}.fill.taker`);
      const takerId = (taker.reports as Report[])[0]!.order_id;
      const trade = { exec_type: 'TRADE', last_qty: 2, last_px: PRICE, cum_qty: 2, cum_notional: 2 * PRICE };
      expect(taker, t).toMatchObject({
        error: null,
        reports: [
          { order_id: takerId, client_order_id: `py-${t}-taker`, side: 'BUY', exec_type: 'NEW', order_qty: 3 },
          {
            ...trade,
            order_id: makerId,
            order_status: 'FILLED',
            leaves_qty: 0,
            avg_px: `${PRICE}.00000000`,
            last_liquidity_ind: 'ADDED_LIQUIDITY',
          },
          {
            ...trade,
            order_id: takerId,
            order_status: 'PARTIALLY_FILLED',
            order_qty: 3,
            leaves_qty: 1,
            avg_px: `${PRICE}.00000000`,
            last_liquidity_ind: 'REMOVED_LIQUIDITY',
          },
        ],
      });
      const [, makerTrade, takerTrade] = taker.reports as Report[];
      expect(makerTrade!.trade_id, t).toBe(takerTrade!.trade_id);
      expect(readBack(`${t}.fill.taker`, makerId), t).toMatchObject({
        order_status: 'FILLED',
        cum_qty: 2,
        leaves_qty: 0,
      });
      expect(readBack(`${t}.fill.taker`, takerId), t).toMatchObject({
        order_status: 'PARTIALLY_FILLED',
        cum_qty: 2,
        leaves_qty: 1,
      });
      expect(step(`${t}.fill.cancel`), t).toMatchObject({
        error: null,
        report: { order_id: takerId, exec_type: 'CANCELED', order_qty: 3, cum_qty: 2, leaves_qty: 0 },
      });
      expect(readBack(`${t}.fill.cancel`, takerId), t).toMatchObject({ order_status: 'CANCELED', leaves_qty: 0 });
    }
  });

  it('verifies every report it received: HMACs and chain links, without a gap (engine rejects included)', () => {
    // Per protocol: place, the duplicate's REJECTED (in the error), amend, cancel, maker, taker
    // NEW + 2 TRADEs, cancel = 9 reports, chained from 1 by a gateway that served no one else.
    expect(step('chain')).toEqual({
      step: 'chain',
      reports: 18,
      hmac_ok: 18,
      links_checked: 18,
      gaps: 0,
      runs: 1,
      failures: [],
    });
    const tampered = step('chain.tampered');
    const seq = tampered.chain_seq as number;
    expect(tampered).toMatchObject({ reports: 18, hmac_ok: 17, links_checked: 18, gaps: 0 });
    expect(tampered.failures).toEqual([
      `chain_seq ${seq}: HMAC signature does not verify`,
      `chain_seq ${seq}: chain_hash does not follow from the previous one`,
    ]);
  });

  it("verifies the gateway's Ed25519-signed chain heads and that one binds its last report", () => {
    const heads = step('heads');
    // 18 reports (2 of them rejected orders'), chained from 1 by a gateway that served no one else.
    expect(heads).toMatchObject({ skipped: false, last_report_chain_seq: 18, failures: [] });
    expect(heads.signatures_ok).toBe(heads.heads);
    expect(heads.bound_chain_seqs).toContain(18);
    const bad = step('heads.tampered');
    expect(bad).toMatchObject({ heads: heads.heads, signatures_ok: (heads.heads as number) - 1 });
    expect(bad.failures).toEqual([expect.stringMatching(/^head at chain_seq \d+: signature does not verify/)]);
  });
});
