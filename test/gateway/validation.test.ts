// Gateway authentication, decoding and validation (api/auth.ts, gateway/validate.ts,
// validation-worker.ts, worker-pool.ts): one test per reject rule, each through both encodings
// (JSON and protobuf must give the identical result, except where only JSON can express the
// input: fractions, unknown fields, explicit zeros, wrong JSON types); authentication and the
// replay cache; global order ids; validateCommand never throws on arbitrary JSON objects; and
// the pool end to end on real worker threads.

import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand } from '../../engine/command-codec.js';
import { commandFromJson } from '../../engine/json-codec.js';
import { OrdType, PostOnly, Side, Stp, Tif, type Command } from '../../engine/types.js';
import { authenticate, buildKeyTable, ReplayCache, type AuthHeaders, type KeyEntry } from '../../api/auth.js';
import { ed25519RawPublicKey, hmacSign, signRequest } from '../../api/signing.js';
import { ErrorCode, type GatewayError } from '../../api/errors.js';
import { fromGlobalOrderId, ORDER_ID_SHARD_BITS, SHARD_ID_MAX, toGlobalOrderId } from '../../api/order-ids.js';
import { Operation, type RawRequest } from '../../gateway/types.js';
import {
  decodeRequest,
  decodeSessionRequest,
  peekSessionRequestId,
  requestMessageType,
  sessionRequestMessageType,
  validateCommand,
  type ShardInfo,
  type ValidateResult,
} from '../../gateway/validate.js';
import {
  DEAD_MAN_MS_MAX,
  REQUEST_BODY_BYTES_MAX,
  SESSION_BATCH_COMMANDS_MAX,
  SESSION_REQUEST_BYTES_MAX,
} from '../../gateway/limits.js';
import { createWorkerState, runTask, type ValidationWorkerData } from '../../gateway/validation-worker.js';
import { ValidationPool } from '../../gateway/worker-pool.js';

const SEED = 20_261_122;

// Shard 0: BTC-USD (tick 5, lot 10, min 20, max 100,000, maxPrice 1,000,000).
// Shard 1: ETH-USD and SOL-USD (tick 1, lot 1).
const BTC = {
  symbol: 'BTC-USD',
  tickSize: 5,
  lotSize: 10,
  minQty: 20,
  maxQty: 100_000,
  maxPrice: 1_000_000,
  priceDecimals: 2,
  qtyDecimals: 0,
};
const ETH = {
  symbol: 'ETH-USD',
  tickSize: 1,
  lotSize: 1,
  minQty: 1,
  maxQty: 1_000_000,
  maxPrice: 10_000_000,
  priceDecimals: 2,
  qtyDecimals: 0,
};
const SOL = {
  symbol: 'SOL-USD',
  tickSize: 1,
  lotSize: 1,
  minQty: 1,
  maxQty: 1_000_000,
  maxPrice: 10_000_000,
  priceDecimals: 2,
  qtyDecimals: 0,
};
const SHARDS: ShardInfo[] = [
  { id: 0, instruments: [BTC] },
  { id: 1, instruments: [ETH, SOL] },
];
const ONE_SHARD: ShardInfo[] = [{ id: 0, instruments: [BTC] }];
const ACCOUNT = 7;
const ctx = { account: ACCOUNT, shards: SHARDS };

const ENUM_PREFIX: Record<string, string> = {
  side: 'SIDE_',
  order_type: 'ORDER_TYPE_',
  time_in_force: 'TIME_IN_FORCE_',
  post_only: 'POST_ONLY_',
  self_trade_prevention: 'SELF_TRADE_PREVENTION_',
};

const utf8 = (s: string) => new TextEncoder().encode(s);

/** A request object (JSON shape) as protobuf bytes: enum names get their prefix back, numbers stay numbers (unknown enum values). */
function protoBytes(op: Operation, obj: Record<string, unknown>): Uint8Array {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj))
    o[k] = ENUM_PREFIX[k] !== undefined && typeof v === 'string' ? ENUM_PREFIX[k] + v : v;
  const T = requestMessageType(op);
  return T.encode(T.fromObject(o)).finish();
}

function viaJson(op: Operation, obj: unknown, c: Parameters<typeof validateCommand>[2] = ctx): ValidateResult {
  const d = decodeRequest(op, 'json', utf8(JSON.stringify(obj)));
  return d.ok ? validateCommand(op, d.decoded, c) : d;
}

function viaProto(
  op: Operation,
  obj: Record<string, unknown>,
  c: Parameters<typeof validateCommand>[2] = ctx,
): ValidateResult {
  const d = decodeRequest(op, 'protobuf', protoBytes(op, obj));
  return d.ok ? validateCommand(op, d.decoded, c) : d;
}

/** Both encodings; they must agree exactly. protoObj: the same request where JSON and protobuf must spell it differently (unknown enum values). */
function both(
  op: Operation,
  obj: Record<string, unknown>,
  protoObj: Record<string, unknown> = obj,
  c = ctx,
): ValidateResult {
  const j = viaJson(op, obj, c);
  const p = viaProto(op, protoObj, c);
  expect(p).toEqual(j);
  return j;
}

function expectReject(r: ValidateResult, code: string, message: RegExp | string): GatewayError {
  if (r.ok) throw new Error(`expected ${code}, got ok: ${JSON.stringify(r.command.engine)}`);
  expect(r.error.code).toBe(code);
  if (typeof message === 'string') expect(r.error.message).toContain(message);
  else expect(r.error.message).toMatch(message);
  return r.error;
}

const invalid = (r: ValidateResult, message: RegExp | string) => expectReject(r, ErrorCode.INVALID_ARGUMENT, message);

const LIMIT = {
  client_order_id: 'c-1',
  symbol: 'BTC-USD',
  side: 'BUY',
  order_type: 'LIMIT',
  price: 1000,
  quantity: 30,
};
const without = (o: Record<string, unknown>, k: string) =>
  Object.fromEntries(Object.entries(o).filter(([x]) => x !== k));

// ---------------------------------------------------------------------------------------------

describe('PlaceOrder: accepted requests map to the engine command', () => {
  it('a full LIMIT order: engine JSON, body, risk inputs; identical through JSON and protobuf', () => {
    const req = {
      client_order_id: 'Ab_0.9:z-',
      symbol: 'BTC-USD',
      side: 'SELL',
      order_type: 'LIMIT',
      time_in_force: 'GTD',
      price: 995,
      quantity: 500,
      expire_time_us: 1_800_000_000_000_000,
      post_only: 'REJECT',
      display_quantity: 100,
      self_trade_prevention: 'EXPIRE_TAKER',
    };
    const r = both(Operation.PLACE_ORDER, req);
    if (!r.ok) throw new Error(r.error.message);
    const c = r.command;
    expect(c.engine).toEqual({
      type: 'new',
      account: ACCOUNT,
      clOrdId: 'Ab_0.9:z-',
      symbol: 'BTC-USD',
      side: 'SELL',
      ordType: 'LIMIT',
      price: 995,
      qty: 500,
      tif: 'GTD',
      expireTsUs: 1_800_000_000_000_000,
      postOnly: 'REJECT',
      displayQty: 100,
      stp: 'EXPIRE_TAKER',
    });
    expect(c).toMatchObject({
      op: 'PlaceOrder',
      shards: [0],
      symbol: 'BTC-USD',
      side: 'SELL',
      price: 995,
      qty: 500,
      ordType: 'LIMIT',
    });
    expect(c.stopPrice).toBeUndefined();
    expect(c.body).toEqual(encodeCommand(commandFromJson(c.engine) as Command));
    const decoded = decodeCommand(c.body!, 0, c.body!.length, 9, 1);
    expect(decoded).toEqual({
      type: 'new',
      seq: 9,
      tsUs: 1,
      account: ACCOUNT,
      clOrdId: 'Ab_0.9:z-',
      symbol: 'BTC-USD',
      side: Side.SELL,
      ordType: OrdType.LIMIT,
      price: 995,
      qty: 500,
      tif: Tif.GTD,
      expireTsUs: 1_800_000_000_000_000,
      postOnly: PostOnly.REJECT,
      displayQty: 100,
      stp: Stp.EXPIRE_TAKER,
    });
  });

  it('MARKET, STOP_MARKET and STOP_LIMIT orders; routing to the symbol’s shard', () => {
    const m = both(Operation.PLACE_ORDER, {
      client_order_id: 'm',
      symbol: 'ETH-USD',
      side: 'BUY',
      order_type: 'MARKET',
      quantity: 7,
      time_in_force: 'FOK',
    });
    expect(m.ok && m.command.engine).toEqual({
      type: 'new',
      account: ACCOUNT,
      clOrdId: 'm',
      symbol: 'ETH-USD',
      side: 'BUY',
      ordType: 'MARKET',
      qty: 7,
      tif: 'FOK',
    });
    expect(m.ok && m.command.shards).toEqual([1]);
    const sm = both(Operation.PLACE_ORDER, {
      client_order_id: 's',
      symbol: 'SOL-USD',
      side: 'SELL',
      order_type: 'STOP_MARKET',
      quantity: 3,
      stop_price: 90,
    });
    expect(sm.ok && sm.command).toMatchObject({
      shards: [1],
      stopPrice: 90,
      ordType: 'STOP_MARKET',
      engine: { stopPrice: 90, ordType: 'STOP_MARKET' },
    });
    const sl = both(Operation.PLACE_ORDER, { ...LIMIT, order_type: 'STOP_LIMIT', stop_price: 1005 });
    expect(sl.ok && sl.command).toMatchObject({
      shards: [0],
      price: 1000,
      stopPrice: 1005,
      engine: { price: 1000, stopPrice: 1005 },
    });
  });

  it('integers as decimal strings are accepted (JSON), and give the same command as numbers', () => {
    const a = viaJson(Operation.PLACE_ORDER, { ...LIMIT, price: '1000', quantity: '0030' });
    const b = viaJson(Operation.PLACE_ORDER, LIMIT);
    expect(a).toEqual(b);
    expect(a.ok).toBe(true);
  });

  it('JSON null means absent', () => {
    expect(viaJson(Operation.PLACE_ORDER, { ...LIMIT, time_in_force: null, stop_price: null })).toEqual(
      viaJson(Operation.PLACE_ORDER, LIMIT),
    );
  });
});

describe('PlaceOrder rejects (both encodings)', () => {
  const P = Operation.PLACE_ORDER;
  it('client_order_id required', () =>
    invalid(both(P, without(LIMIT, 'client_order_id')), 'client_order_id is required'));
  it('client_order_id characters', () =>
    invalid(both(P, { ...LIMIT, client_order_id: 'a b' }), /client_order_id must be 1–36 characters/));
  it('client_order_id length 37', () => {
    expect(both(P, { ...LIMIT, client_order_id: 'x'.repeat(36) }).ok).toBe(true);
    invalid(both(P, { ...LIMIT, client_order_id: 'x'.repeat(37) }), /client_order_id must be 1–36/);
  });
  it('client_order_id empty (JSON; protobuf: unset)', () => {
    invalid(viaJson(P, { ...LIMIT, client_order_id: '' }), /client_order_id must be 1–36/);
    invalid(viaProto(P, { ...LIMIT, client_order_id: '' }), 'client_order_id is required');
  });
  it('symbol required', () => invalid(both(P, without(LIMIT, 'symbol')), 'symbol is required'));
  it('unknown symbol', () => invalid(both(P, { ...LIMIT, symbol: 'DOGE-USD' }), 'unknown symbol'));
  it('side required', () => invalid(both(P, without(LIMIT, 'side')), 'side is required'));
  it('side unknown', () =>
    invalid(both(P, { ...LIMIT, side: 'HOLD' }, { ...LIMIT, side: 9 }), 'side must be one of BUY, SELL'));
  it('order_type required', () => invalid(both(P, without(LIMIT, 'order_type')), 'order_type is required'));
  it('order_type unknown', () =>
    invalid(
      both(P, { ...LIMIT, order_type: 'ICEBERG' }, { ...LIMIT, order_type: 9 }),
      /order_type must be one of LIMIT/,
    ));
  it('time_in_force unknown', () =>
    invalid(
      both(P, { ...LIMIT, time_in_force: 'GTX' }, { ...LIMIT, time_in_force: 9 }),
      /time_in_force must be one of GTC/,
    ));
  it('post_only unknown', () =>
    invalid(
      both(P, { ...LIMIT, post_only: 'MAYBE' }, { ...LIMIT, post_only: 9 }),
      /post_only must be one of REJECT, REPRICE/,
    ));
  it('self_trade_prevention unknown', () =>
    invalid(
      both(P, { ...LIMIT, self_trade_prevention: 'ALLOW' }, { ...LIMIT, self_trade_prevention: 9 }),
      /self_trade_prevention must be one of NONE/,
    ));
  it('UNSPECIFIED is not a JSON enum name', () =>
    invalid(viaJson(P, { ...LIMIT, side: 'UNSPECIFIED' }), /side must be one of/));
  it('quantity required', () => invalid(both(P, without(LIMIT, 'quantity')), 'quantity is required'));
  it('quantity > 0 (JSON; protobuf 0 = unset)', () => {
    invalid(viaJson(P, { ...LIMIT, quantity: 0 }), 'quantity must be > 0');
    invalid(viaProto(P, { ...LIMIT, quantity: 0 }), 'quantity is required');
  });
  it('quantity lot multiple', () =>
    invalid(both(P, { ...LIMIT, quantity: 35 }), 'quantity must be a multiple of the lot size 10'));
  it('quantity min', () => invalid(both(P, { ...LIMIT, quantity: 10 }), 'quantity must be at least 20'));
  it('quantity max', () => invalid(both(P, { ...LIMIT, quantity: 100_010 }), 'quantity must be at most 100000'));
  it('quantity beyond 2^53 (number in JSON rounds; decimal string in both)', () => {
    invalid(viaJson(P, { ...LIMIT, quantity: 2 ** 53 }), /quantity must be an integer from 0 to 2\^53/);
    invalid(both(P, { ...LIMIT, quantity: '9007199254740993' }), /quantity must be an integer from 0 to 2\^53/);
    invalid(both(P, { ...LIMIT, quantity: '18446744073709551615' }), /quantity must be an integer/);
  });
  it('quantity negative (JSON; uint64 on the wire)', () =>
    invalid(viaJson(P, { ...LIMIT, quantity: -10 }), /quantity must be an integer from 0/));
  it('quantity fraction, exponent beyond range, non-decimal strings (JSON)', () => {
    for (const bad of [30.5, 1e300, '30.0', '3e1', ' 30', '0x1e', '', '-30', true, [30], { n: 30 }]) {
      invalid(viaJson(P, { ...LIMIT, quantity: bad }), /quantity must be an integer from 0 to 2\^53/);
    }
    // a raw JSON text with an exponent: refused when the value is not a safe integer
    const raw = `{"client_order_id":"c","symbol":"BTC-USD","side":"BUY","order_type":"LIMIT","price":1000,"quantity":1e400}`;
    const d = decodeRequest(P, 'json', utf8(raw));
    invalid(d.ok ? validateCommand(P, d.decoded, ctx) : d, /quantity must be an integer/);
  });
  it('a JSON number with a fraction, an exponent or a sign is refused as written, though JSON.parse makes it an integer', () => {
    const order = (field: string, literal: string) =>
      `{"client_order_id":"c","symbol":"BTC-USD","side":"BUY","order_type":"LIMIT","price":1000,"quantity":30,"${field}":${literal}}`;
    for (const [field, literal, why] of [
      ['price', '1000.0', 'a fraction'],
      ['price', '1e3', 'an exponent'],
      ['price', '1E3', 'an exponent'],
      ['price', '0.1e4', 'an exponent'],
      ['quantity', '30.00', 'a fraction'],
      ['quantity', '3e1', 'an exponent'],
      ['quantity', '-0.0', 'a sign'],
      ['quantity', '-0', 'a sign'],
    ] as const) {
      const d = decodeRequest(P, 'json', utf8(order(field, literal)));
      invalid(
        d.ok ? validateCommand(P, d.decoded, ctx) : d,
        `${field} must be an integer from 0 to 2^53−1 in plain digits: ${literal} has ${why}`,
      );
    }
    // The same values in plain digits, or as strings of digits, pass.
    expect(decodeRequest(P, 'json', utf8(order('price', '1000'))).ok).toBe(true);
    const asString = decodeRequest(P, 'json', utf8(order('quantity', '"30"')));
    expect(asString.ok && validateCommand(P, asString.decoded, ctx).ok).toBe(true);
    // Other fields' numbers are the schema's business (a number is not a string).
    const other = decodeRequest(P, 'json', utf8('{"client_order_id":1.5}'));
    invalid(other.ok ? validateCommand(P, other.decoded, ctx) : other, 'client_order_id must be a string');
  });
  it('price required for LIMIT', () => invalid(both(P, without(LIMIT, 'price')), 'price is required for LIMIT orders'));
  it('price required for STOP_LIMIT', () =>
    invalid(
      both(P, { ...without(LIMIT, 'price'), order_type: 'STOP_LIMIT', stop_price: 1000 }),
      'price is required for STOP_LIMIT orders',
    ));
  it('no price for MARKET', () =>
    invalid(both(P, { ...LIMIT, order_type: 'MARKET' }), 'price must not be set for MARKET orders'));
  it('no price for STOP_MARKET', () =>
    invalid(
      both(P, { ...LIMIT, order_type: 'STOP_MARKET', stop_price: 1000 }),
      'price must not be set for STOP_MARKET orders',
    ));
  it('price > 0 (JSON; protobuf 0 = unset)', () => {
    invalid(viaJson(P, { ...LIMIT, price: 0 }), 'price must be > 0');
    invalid(viaProto(P, { ...LIMIT, price: 0 }), 'price is required');
  });
  it('price tick multiple', () =>
    invalid(both(P, { ...LIMIT, price: 1003 }), 'price must be a multiple of the tick size 5'));
  it('price ≤ maxPrice', () => invalid(both(P, { ...LIMIT, price: 1_000_005 }), 'price must be at most 1000000'));
  it('price fraction (JSON)', () => invalid(viaJson(P, { ...LIMIT, price: 1000.5 }), /price must be an integer/));
  it('stop_price required for STOP_MARKET', () =>
    invalid(
      both(P, { ...without(LIMIT, 'price'), order_type: 'STOP_MARKET' }),
      'stop_price is required for STOP_MARKET orders',
    ));
  it('stop_price required for STOP_LIMIT', () =>
    invalid(both(P, { ...LIMIT, order_type: 'STOP_LIMIT' }), 'stop_price is required for STOP_LIMIT orders'));
  it('no stop_price for LIMIT', () =>
    invalid(both(P, { ...LIMIT, stop_price: 1000 }), 'stop_price must not be set for LIMIT orders'));
  it('stop_price tick multiple', () =>
    invalid(
      both(P, { ...LIMIT, order_type: 'STOP_LIMIT', stop_price: 1001 }),
      'stop_price must be a multiple of the tick size 5',
    ));
  it('stop_price ≤ maxPrice', () =>
    invalid(
      both(P, { ...LIMIT, order_type: 'STOP_LIMIT', stop_price: 2_000_000 }),
      'stop_price must be at most 1000000',
    ));
  it('MARKET only IOC/FOK', () =>
    invalid(
      both(P, { ...without(LIMIT, 'price'), order_type: 'MARKET', time_in_force: 'GTC' }),
      'time_in_force must be IOC or FOK for MARKET orders',
    ));
  it('GTD needs expire_time_us', () =>
    invalid(both(P, { ...LIMIT, time_in_force: 'GTD' }), 'expire_time_us is required with time_in_force GTD'));
  it('expire_time_us only with GTD', () =>
    invalid(both(P, { ...LIMIT, expire_time_us: 5 }), 'expire_time_us is only allowed with time_in_force GTD'));
  it('expire_time_us > 0 (JSON)', () =>
    invalid(viaJson(P, { ...LIMIT, time_in_force: 'GTD', expire_time_us: 0 }), 'expire_time_us must be > 0'));
  it('post_only only on resting LIMIT orders', () => {
    invalid(both(P, { ...LIMIT, time_in_force: 'IOC', post_only: 'REPRICE' }), 'post_only requires a LIMIT order');
    invalid(
      both(P, { ...LIMIT, order_type: 'STOP_LIMIT', stop_price: 1000, post_only: 'REJECT' }),
      'post_only requires a LIMIT order',
    );
  });
  it('display_quantity < quantity', () =>
    invalid(both(P, { ...LIMIT, display_quantity: 30 }), 'display_quantity must be less than quantity'));
  it('display_quantity lot multiple', () =>
    invalid(both(P, { ...LIMIT, display_quantity: 15 }), 'display_quantity must be a multiple of the lot size 10'));
  it('display_quantity only on resting LIMIT/STOP_LIMIT', () =>
    invalid(
      both(P, { ...LIMIT, time_in_force: 'FOK', display_quantity: 10 }),
      /display_quantity requires a LIMIT or STOP_LIMIT/,
    ));
  it('display_quantity 0 = not an iceberg', () =>
    expect(both(P, { ...LIMIT, display_quantity: 0 })).toEqual(viaJson(P, LIMIT)));
  it('unknown field (JSON)', () => {
    invalid(viaJson(P, { ...LIMIT, leverage: 10 }), 'unknown field leverage');
    invalid(viaJson(P, JSON.parse(`{"__proto__":1,"client_order_id":"c"}`) as object), 'unknown field __proto__');
  });
  it('wrong JSON types', () => {
    invalid(viaJson(P, { ...LIMIT, symbol: 5 }), 'symbol must be a string');
    invalid(viaJson(P, { ...LIMIT, client_order_id: 5 }), 'client_order_id must be a string');
    invalid(viaJson(P, { ...LIMIT, side: 1 }), 'side must be one of');
  });
});

describe('request bodies', () => {
  const P = Operation.PLACE_ORDER;
  it('JSON: not JSON, not an object, not UTF-8, too large', () => {
    expectReject(
      decodeRequest(P, 'json', utf8('{"a":')) as ValidateResult,
      ErrorCode.INVALID_ARGUMENT,
      'not valid JSON',
    );
    expectReject(
      decodeRequest(P, 'json', utf8('[1]')) as ValidateResult,
      ErrorCode.INVALID_ARGUMENT,
      'must be a JSON object',
    );
    expectReject(
      decodeRequest(P, 'json', utf8('null')) as ValidateResult,
      ErrorCode.INVALID_ARGUMENT,
      'must be a JSON object',
    );
    expectReject(
      decodeRequest(P, 'json', new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])) as ValidateResult,
      ErrorCode.INVALID_ARGUMENT,
      'UTF-8',
    );
    const big = utf8(JSON.stringify({ ...LIMIT, client_order_id: 'x'.repeat(REQUEST_BODY_BYTES_MAX) }));
    expectReject(
      decodeRequest(P, 'json', big) as ValidateResult,
      ErrorCode.INVALID_ARGUMENT,
      `exceeds ${REQUEST_BODY_BYTES_MAX} bytes`,
    );
    expect(decodeRequest(P, 'json', new Uint8Array(0))).toEqual({ ok: true, decoded: {} });
  });
  it('protobuf: malformed, too large', () => {
    expectReject(
      decodeRequest(P, 'protobuf', new Uint8Array([0x0a, 0x05, 0x61])) as ValidateResult,
      ErrorCode.INVALID_ARGUMENT,
      'not a valid PlaceOrderRequest',
    );
    expectReject(
      decodeRequest(P, 'protobuf', new Uint8Array(REQUEST_BODY_BYTES_MAX + 1)) as ValidateResult,
      ErrorCode.INVALID_ARGUMENT,
      'exceeds',
    );
  });
  it('protobuf: explicit zero values on the wire are unset, like absent ones', () => {
    // quantity = 0 (field 8 varint), side = 0 (field 3), symbol = "" (field 2)
    const d = decodeRequest(P, 'protobuf', new Uint8Array([0x40, 0x00, 0x18, 0x00, 0x12, 0x00]));
    expect(d).toEqual({ ok: true, decoded: {} });
  });
});

describe('CancelOrder', () => {
  const C = Operation.CANCEL_ORDER;
  const id1 = toGlobalOrderId(1, 42);
  it('by order id: the shard from the id, the local seq in the engine command', () => {
    const r = both(C, { order_id: id1 });
    expect(r.ok && r.command).toEqual({
      op: 'CancelOrder',
      shards: [1],
      orderId: 42,
      engine: { type: 'cancel', account: ACCOUNT, orderId: 42 },
      body: encodeCommand({ type: 'cancel', account: ACCOUNT, orderId: 42 }),
    });
  });
  it('by client order id: the symbol’s shard, or the only shard', () => {
    const r = both(C, { client_order_id: 'c-1', symbol: 'SOL-USD' });
    expect(r.ok && r.command).toMatchObject({
      shards: [1],
      symbol: 'SOL-USD',
      engine: { type: 'cancel', account: ACCOUNT, clOrdId: 'c-1' },
    });
    const one = both(C, { client_order_id: 'c-1' }, undefined, { account: ACCOUNT, shards: ONE_SHARD });
    expect(one.ok && one.command.shards).toEqual([0]);
  });
  it('client order id without symbol on several shards', () =>
    invalid(both(C, { client_order_id: 'c-1' }), 'symbol is required with client_order_id'));
  it('neither id', () => invalid(both(C, {}), 'order_id or client_order_id is required'));
  it('both ids', () => invalid(both(C, { order_id: id1, client_order_id: 'c' }), 'either order_id or client_order_id'));
  it('order_id > 0 (JSON)', () => invalid(viaJson(C, { order_id: 0 }), 'order_id must be > 0'));
  it('order_id not an integer (JSON)', () => invalid(viaJson(C, { order_id: 1.5 }), /order_id must be an integer/));
  it('order id of a shard that does not exist → NOT_FOUND', () =>
    expectReject(both(C, { order_id: toGlobalOrderId(5, 1) }), ErrorCode.NOT_FOUND, 'order not found'));
  it('order id with local seq 0 → NOT_FOUND', () =>
    expectReject(both(C, { order_id: toGlobalOrderId(1, 0) }), ErrorCode.NOT_FOUND, 'order not found'));
  it('symbol of another shard than the order id', () =>
    invalid(both(C, { order_id: id1, symbol: 'BTC-USD' }), 'symbol is not traded on the shard of order_id'));
  it('unknown symbol', () => invalid(both(C, { client_order_id: 'c', symbol: 'X' }), 'unknown symbol'));
  it('client_order_id format', () => invalid(both(C, { client_order_id: 'é' }), /client_order_id must be 1–36/));
  it('unknown field (JSON)', () => invalid(viaJson(C, { order_id: id1, price: 5 }), 'unknown field price'));
  it('REST path id: positive decimal integer, equal to a body order_id if both', () => {
    const r = validateCommand(C, {}, { ...ctx, pathOrderId: String(id1) });
    expect(r.ok && r.command.orderId).toBe(42);
    for (const bad of ['0', '-1', '1.5', 'abc', '', '9007199254740993', ' 1'])
      invalid(validateCommand(C, {}, { ...ctx, pathOrderId: bad }), 'order id in the path must be a positive integer');
    invalid(
      validateCommand(C, { order_id: id1 + 1 }, { ...ctx, pathOrderId: String(id1) }),
      'order_id in the body differs',
    );
    expect(validateCommand(C, { order_id: id1 }, { ...ctx, pathOrderId: String(id1) }).ok).toBe(true);
    invalid(
      validateCommand(C, { client_order_id: 'c' }, { ...ctx, pathOrderId: String(id1) }),
      'either order_id or client_order_id',
    );
  });
});

describe('AmendOrder', () => {
  const A = Operation.AMEND_ORDER;
  const id0 = toGlobalOrderId(0, 9);
  const id1 = toGlobalOrderId(1, 9);
  it('by order id: new quantity and price, checked against the shard’s only instrument; 0 = unchanged', () => {
    const r = both(A, { order_id: id0, quantity: 40, price: 1005, stop_price: 0, client_order_id: 'n-1' });
    expect(r.ok && r.command).toMatchObject({
      op: 'AmendOrder',
      shards: [0],
      orderId: 9,
      symbol: 'BTC-USD',
      qty: 40,
      price: 1005,
      engine: { type: 'amend', account: ACCOUNT, orderId: 9, clOrdId: 'n-1', qty: 40, price: 1005 },
    });
    expect(r.ok && 'stopPrice' in r.command.engine!).toBe(false);
  });
  it('by orig client order id, routed by symbol', () => {
    const r = both(A, { orig_client_order_id: 'o', symbol: 'ETH-USD', price: 7 });
    expect(r.ok && r.command).toMatchObject({
      shards: [1],
      symbol: 'ETH-USD',
      engine: { type: 'amend', account: ACCOUNT, origClOrdId: 'o', price: 7 },
    });
  });
  it('nothing to change', () => invalid(both(A, { order_id: id0, quantity: 0 }), 'amend changes nothing'));
  it('neither id', () => invalid(both(A, { quantity: 40 }), 'order_id or orig_client_order_id is required'));
  it('both ids', () =>
    invalid(
      both(A, { order_id: id0, orig_client_order_id: 'o', quantity: 40 }),
      'either order_id or orig_client_order_id',
    ));
  it('orig client order id without symbol on several shards', () =>
    invalid(both(A, { orig_client_order_id: 'o', quantity: 40 }), 'symbol is required with orig_client_order_id'));
  it('quantity lot multiple (instrument known)', () =>
    invalid(both(A, { order_id: id0, quantity: 45 }), 'quantity must be a multiple of the lot size 10'));
  it('quantity max (instrument known)', () =>
    invalid(both(A, { order_id: id0, quantity: 200_000 }), 'quantity must be at most 100000'));
  it('price tick multiple (instrument known)', () =>
    invalid(both(A, { order_id: id0, price: 1001 }), 'price must be a multiple of the tick size 5'));
  it('stop_price ≤ maxPrice (instrument known)', () =>
    invalid(both(A, { order_id: id0, stop_price: 2_000_000 }), 'stop_price must be at most 1000000'));
  it('instrument unknown (shard of two, no symbol): only range-checked', () => {
    const r = both(A, { order_id: id1, quantity: 3, price: 7 });
    expect(r.ok && r.command.symbol).toBeUndefined();
    invalid(both(A, { order_id: id1, price: '9007199254740993' }), /price must be an integer/);
  });
  it('client_order_id format', () =>
    invalid(both(A, { order_id: id0, client_order_id: 'x'.repeat(40) }), /client_order_id must be 1–36/));
  it('order id of an unknown shard', () =>
    expectReject(both(A, { order_id: toGlobalOrderId(3, 9), quantity: 40 }), ErrorCode.NOT_FOUND, 'order not found'));
  it('unknown field (JSON)', () => invalid(viaJson(A, { order_id: id0, side: 'BUY' }), 'unknown field side'));
});

describe('MassCancel and GetOrder', () => {
  const M = Operation.MASS_CANCEL;
  const G = Operation.GET_ORDER;
  it('mass cancel without symbol: every shard, same body', () => {
    const r = both(M, { side: 'SELL' });
    expect(r.ok && r.command).toEqual({
      op: 'MassCancel',
      shards: [0, 1],
      side: 'SELL',
      engine: { type: 'mass_cancel', account: ACCOUNT, side: 'SELL' },
      body: encodeCommand(commandFromJson({ type: 'mass_cancel', account: ACCOUNT, side: 'SELL' }) as Command),
    });
    expect(viaJson(M, { symbol: '' })).toEqual(viaJson(M, {}));
  });
  it('mass cancel with symbol: that shard', () => {
    const r = both(M, { symbol: 'SOL-USD' });
    expect(r.ok && r.command).toMatchObject({
      shards: [1],
      symbol: 'SOL-USD',
      engine: { type: 'mass_cancel', account: ACCOUNT, symbol: 'SOL-USD' },
    });
  });
  it('mass cancel: unknown symbol', () => invalid(both(M, { symbol: 'X' }), 'unknown symbol'));
  it('mass cancel: unknown side', () =>
    invalid(both(M, { side: 'BOTH' }, { side: 7 }), 'side must be one of BUY, SELL'));
  it('get order: id required; no engine command', () => {
    invalid(both(G, {}), 'order_id is required');
    const r = both(G, { order_id: toGlobalOrderId(1, 5) });
    expect(r.ok && r.command).toEqual({ op: 'GetOrder', shards: [1], orderId: 5 });
    const p = validateCommand(G, {}, { ...ctx, pathOrderId: String(toGlobalOrderId(0, 77)) });
    expect(p.ok && p.command).toEqual({ op: 'GetOrder', shards: [0], orderId: 77 });
    expectReject(both(G, { order_id: toGlobalOrderId(9, 5) }), ErrorCode.NOT_FOUND, 'order not found');
  });
  it('get order by client order id: routed by symbol (or the only shard, or every shard), exactly one of the two ids', () => {
    const r = both(G, { client_order_id: 'c-9', symbol: 'SOL-USD' });
    expect(r.ok && r.command).toEqual({ op: 'GetOrder', shards: [1], clientOrderId: 'c-9' });
    const one = both(G, { client_order_id: 'c-9' }, { client_order_id: 'c-9' }, { ...ctx, shards: ONE_SHARD });
    expect(one.ok && one.command).toEqual({ op: 'GetOrder', shards: [0], clientOrderId: 'c-9' });
    // Without a symbol on several shards: a read, asked on every shard (the gateway's findOrder).
    const every = both(G, { client_order_id: 'c-9' });
    expect(every.ok && every.command).toEqual({ op: 'GetOrder', shards: [0, 1], clientOrderId: 'c-9' });
    invalid(both(G, { client_order_id: 'c-9', order_id: 5 }), 'not both');
    invalid(both(G, { client_order_id: 'no spaces', symbol: 'SOL-USD' }), 'client_order_id must be');
    invalid(both(G, { order_id: toGlobalOrderId(1, 5), symbol: 'BTC-USD' }), 'not traded on the shard');
  });
  it('get order over REST: the fields come from the query string, each once, never also in a body', () => {
    const q = decodeRequest(G, 'json', new Uint8Array(0), 'client_order_id=c-9&symbol=SOL-USD');
    expect(q).toEqual({ ok: true, decoded: { client_order_id: 'c-9', symbol: 'SOL-USD' } });
    const byId = decodeRequest(G, 'json', new Uint8Array(0), `order_id=${toGlobalOrderId(1, 5)}`);
    const v = byId.ok ? validateCommand(G, byId.decoded, ctx) : byId;
    expect(v.ok && v.command).toEqual({ op: 'GetOrder', shards: [1], orderId: 5 });
    invalid(decodeRequest(G, 'json', new Uint8Array(0), 'symbol=A&symbol=B') as ValidateResult, 'given twice');
    invalid(decodeRequest(G, 'json', utf8('{}'), 'symbol=A') as ValidateResult, 'not both');
    const unknown = decodeRequest(G, 'json', new Uint8Array(0), 'verbose=1');
    invalid(unknown.ok ? validateCommand(G, unknown.decoded, ctx) : unknown, 'unknown field verbose');
    // Other operations read their body, never the query.
    expect(decodeRequest(M, 'json', utf8('{"side":"BUY"}'), 'symbol=X')).toEqual({
      ok: true,
      decoded: { side: 'BUY' },
    });
  });
  it('cancel-all-after: timeout_ms from 0 (also absent: disarm) to DEAD_MAN_MS_MAX', () => {
    const A = Operation.CANCEL_ALL_AFTER;
    const r = both(A, { timeout_ms: 60_000 });
    expect(r.ok && r.command).toEqual({ op: 'CancelAllAfter', shards: [], timeoutMs: 60_000 });
    expect(viaJson(A, {})).toEqual(viaJson(A, { timeout_ms: 0 }));
    expect(both(A, { timeout_ms: DEAD_MAN_MS_MAX }).ok).toBe(true);
    invalid(both(A, { timeout_ms: DEAD_MAN_MS_MAX + 1 }), 'timeout_ms must be at most');
    invalid(viaJson(A, { timeout_ms: -1 }), 'timeout_ms must be an integer');
    invalid(viaJson(A, { timeout_ms: 1.5 }), 'timeout_ms must be an integer');
    invalid(viaJson(A, { timeout: 5 }), 'unknown field timeout');
  });
});

describe('session requests', () => {
  const S = sessionRequestMessageType();
  it('decodes request id, heartbeat and commands (ops in order), then validates like unary requests', () => {
    const bytes = S.encode(
      S.fromObject({
        request_id: 77,
        heartbeat: true,
        commands: [
          { place: { ...LIMIT, side: 'SIDE_BUY', order_type: 'ORDER_TYPE_LIMIT' } },
          { cancel: { order_id: toGlobalOrderId(1, 3) } },
          { amend: { order_id: toGlobalOrderId(0, 3), quantity: 40 } },
          { mass_cancel: {} },
        ],
      }),
    ).finish();
    const d = decodeSessionRequest(bytes);
    if (!d.ok) throw new Error(d.error.message);
    expect(d.requestId).toBe(77);
    expect(d.heartbeat).toBe(true);
    expect(d.commands.map((c) => c.op)).toEqual(['PlaceOrder', 'CancelOrder', 'AmendOrder', 'MassCancel']);
    expect(validateCommand(d.commands[0]!.op, d.commands[0]!.decoded, ctx)).toEqual(
      viaJson(Operation.PLACE_ORDER, LIMIT),
    );
    expect(validateCommand(d.commands[3]!.op, d.commands[3]!.decoded, ctx).ok).toBe(true);
  });
  it('heartbeat only', () => {
    expect(decodeSessionRequest(S.encode(S.fromObject({ heartbeat: true })).finish())).toEqual({
      ok: true,
      requestId: 0,
      heartbeat: true,
      commands: [],
    });
  });
  it(`more than ${SESSION_BATCH_COMMANDS_MAX} commands`, () => {
    const cmds = Array.from({ length: SESSION_BATCH_COMMANDS_MAX + 1 }, () => ({ mass_cancel: {} }));
    const d = decodeSessionRequest(S.encode(S.fromObject({ request_id: 4, commands: cmds })).finish());
    expect(d).toMatchObject({
      ok: false,
      requestId: 4,
      error: { code: 'INVALID_ARGUMENT', reason: 'SESSION_BATCH_COMMANDS_MAX', field: 'commands' },
    });
    expect(!d.ok && d.error.message).toContain(`at most ${SESSION_BATCH_COMMANDS_MAX} commands`);
    expect(decodeSessionRequest(S.encode(S.fromObject({ commands: cmds.slice(1) })).finish()).ok).toBe(true);
  });
  it('a refusal echoes the request_id whenever it can be read (over the byte limit, undecodable further on)', () => {
    const big = S.encode(
      S.fromObject({
        request_id: 9,
        commands: [{ place: { client_order_id: 'x'.repeat(SESSION_REQUEST_BYTES_MAX) } }],
      }),
    ).finish();
    expect(decodeSessionRequest(big)).toMatchObject({
      ok: false,
      requestId: 9,
      error: { code: 'INVALID_ARGUMENT', reason: 'SESSION_REQUEST_BYTES_MAX' },
    });
    const good = S.encode(S.fromObject({ request_id: 12, commands: [{ mass_cancel: {} }] })).finish();
    const broken = new Uint8Array([...good.subarray(0, good.length - 1), 0xff]); // a truncated field at the end
    expect(decodeSessionRequest(broken)).toMatchObject({
      ok: false,
      requestId: 12,
      error: { reason: 'MALFORMED_REQUEST' },
    });
    expect(peekSessionRequestId(new Uint8Array([0xff, 0xff]))).toBe(0);
  });
  it('a command with nothing set, malformed bytes', () => {
    const d = decodeSessionRequest(S.encode(S.fromObject({ commands: [{ mass_cancel: {} }, {}] })).finish());
    expect(!d.ok && d.error.message).toContain('commands[1] sets no command');
    expect(decodeSessionRequest(new Uint8Array([0x12, 0x09, 0x01]))).toMatchObject({
      ok: false,
      error: { code: 'INVALID_ARGUMENT' },
    });
  });
});

describe('global order ids', () => {
  it('round trip', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: SHARD_ID_MAX }),
        fc.integer({ min: 0, max: 2 ** ORDER_ID_SHARD_BITS - 1 }),
        (shard, seq) => {
          const id = toGlobalOrderId(shard, seq);
          expect(Number.isSafeInteger(id)).toBe(true);
          expect(fromGlobalOrderId(id)).toEqual({ shard, seq });
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
    expect(toGlobalOrderId(0, 123)).toBe(123); // one shard: the order id is the sequence number
    expect(toGlobalOrderId(1, 1)).toBe(2 ** 44 + 1);
    expect(toGlobalOrderId(SHARD_ID_MAX, 2 ** 44 - 1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toGlobalOrderId(SHARD_ID_MAX + 1, 0)).toThrow(RangeError);
    expect(() => toGlobalOrderId(0, 2 ** 44)).toThrow(RangeError);
    expect(() => fromGlobalOrderId(2 ** 53)).toThrow(RangeError);
  });
});

describe('validateCommand never throws', () => {
  const ops = Object.values(Operation);
  const fieldNames = [
    'client_order_id',
    'symbol',
    'side',
    'order_type',
    'time_in_force',
    'price',
    'stop_price',
    'quantity',
    'expire_time_us',
    'post_only',
    'display_quantity',
    'self_trade_prevention',
    'order_id',
    'orig_client_order_id',
    'timeout_ms',
    '__proto__',
    'constructor',
    'toString',
    'x',
  ];
  const value = fc.oneof(
    fc.jsonValue(),
    fc.constantFrom(
      'BUY',
      'SELL',
      'LIMIT',
      'MARKET',
      'STOP_MARKET',
      'STOP_LIMIT',
      'GTC',
      'GTD',
      'IOC',
      'REJECT',
      'BTC-USD',
      'ETH-USD',
      'c-1',
      '30',
      '1000',
    ),
    fc.integer({ min: -5, max: 2_000_000 }),
    fc.constantFrom(0, -0, 1e300, 2 ** 53, 0.5, toGlobalOrderId(1, 3), toGlobalOrderId(7, 3)),
  );
  const obj = fc
    .dictionary(fc.constantFrom(...fieldNames), value, { maxKeys: 10 })
    .map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);
  it('on arbitrary JSON objects, for every operation, with and without a path id', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ops),
        fc.oneof(
          obj,
          fc.object().map((o) => o as Record<string, unknown>),
        ),
        fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
        (op, o, pathId) => {
          const r = validateCommand(op, o, { account: 1, shards: SHARDS, pathOrderId: pathId });
          expect(typeof r.ok).toBe('boolean');
          if (!r.ok)
            expect(r.error.code === ErrorCode.INVALID_ARGUMENT || r.error.code === ErrorCode.NOT_FOUND).toBe(true);
          const text = decodeRequest(op, 'json', utf8(JSON.stringify(o)));
          if (text.ok) validateCommand(op, text.decoded, { account: 1, shards: SHARDS });
        },
      ),
      { seed: SEED, numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Authentication

const T0 = 1_800_000_000_000;
const WINDOW = 5_000;

describe('authenticate', () => {
  const ed = generateKeyPairSync('ed25519');
  const keys: Map<string, KeyEntry> = buildKeyTable({
    accounts: [
      {
        account: ACCOUNT,
        apiKeys: [
          { key: 'hk', hmacSecret: 'secret' },
          { key: 'ek', ed25519PublicKey: ed25519RawPublicKey(ed.publicKey) },
        ],
      },
    ],
    adminKeys: [{ key: 'adm', hmacSecret: 'admin-secret' }],
  });
  const target = 'POST /v1/orders';
  const body = utf8(JSON.stringify(LIMIT));
  const hmacAuth = (ts = T0, b = body, t = target): AuthHeaders =>
    signRequest({ key: 'hk', hmacSecret: 'secret' }, t, b, ts);
  const edAuth = (ts = T0): AuthHeaders =>
    signRequest({ key: 'ek', ed25519PrivateKey: ed.privateKey }, target, body, ts);

  it('good HMAC, good Ed25519, admin key', () => {
    const a = authenticate(keys, hmacAuth(), target, body, T0, WINDOW);
    expect(a).toEqual({
      ok: true,
      account: ACCOUNT,
      apiKey: 'hk',
      admin: false,
      replayKey: `hk:${hmacAuth().signature}`,
      tsMs: T0,
    });
    const e = edAuth();
    expect(authenticate(keys, e, target, body, T0, WINDOW)).toEqual({
      ok: true,
      account: ACCOUNT,
      apiKey: 'ek',
      admin: false,
      replayKey: `ek:${e.signature}`,
      tsMs: T0,
    });
    const adm = signRequest({ key: 'adm', hmacSecret: 'admin-secret' }, target, body, T0);
    expect(authenticate(keys, adm, target, body, T0, WINDOW)).toMatchObject({ ok: true, account: 0, admin: true });
  });
  it('unknown key', () => {
    const a = signRequest({ key: 'nope', hmacSecret: 'secret' }, target, body, T0);
    expect(authenticate(keys, a, target, body, T0, WINDOW)).toMatchObject({
      ok: false,
      error: { code: 'UNAUTHENTICATED' },
    });
  });
  it('bad HMAC signature: other secret, other body, other target, upper-case hex', () => {
    const wrong = signRequest({ key: 'hk', hmacSecret: 'other' }, target, body, T0);
    for (const [auth, b, t] of [
      [wrong, body, target],
      [hmacAuth(), utf8('{}'), target],
      [hmacAuth(), body, 'POST /v1/orders?x=1'],
      [{ ...hmacAuth(), signature: hmacAuth().signature.toUpperCase() }, body, target],
      [{ ...hmacAuth(), signature: '' }, body, target],
    ] as const) {
      expect(authenticate(keys, auth, t, b, T0, WINDOW)).toMatchObject({
        ok: false,
        error: { code: 'UNAUTHENTICATED' },
      });
    }
  });
  it('bad Ed25519 signature: another key’s, tampered, non-canonical base64', () => {
    const other = generateKeyPairSync('ed25519');
    const foreign = signRequest({ key: 'ek', ed25519PrivateKey: other.privateKey }, target, body, T0);
    const good = edAuth();
    const raw = Buffer.from(good.signature, 'base64');
    raw[10] = raw[10]! ^ 1;
    const tampered = { ...good, signature: raw.toString('base64') };
    // the last base64 character of 64 bytes carries 2 unused bits: flipping them decodes to the same bytes
    const last = good.signature.at(-3)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const respelled = { ...good, signature: good.signature.slice(0, -3) + alphabet[alphabet.indexOf(last) ^ 1] + '==' };
    expect(Buffer.from(respelled.signature, 'base64')).toEqual(Buffer.from(good.signature, 'base64'));
    for (const a of [
      foreign,
      tampered,
      respelled,
      { ...good, signature: `${good.signature}\n` },
      { ...good, signature: 'AAAA' },
    ]) {
      expect(authenticate(keys, a, target, body, T0, WINDOW)).toMatchObject({
        ok: false,
        error: { code: 'UNAUTHENTICATED' },
      });
    }
  });
  it('stale and future timestamps, malformed timestamps', () => {
    expect(authenticate(keys, hmacAuth(T0 - WINDOW), target, body, T0, WINDOW).ok).toBe(true);
    expect(authenticate(keys, hmacAuth(T0 + WINDOW), target, body, T0, WINDOW).ok).toBe(true);
    expect(authenticate(keys, hmacAuth(T0 - WINDOW - 1), target, body, T0, WINDOW)).toMatchObject({
      ok: false,
      error: { code: 'STALE_REQUEST' },
    });
    expect(authenticate(keys, hmacAuth(T0 + WINDOW + 1), target, body, T0, WINDOW)).toMatchObject({
      ok: false,
      error: { code: 'STALE_REQUEST' },
    });
    expect(authenticate(keys, edAuth(T0 - 60_000), target, body, T0, WINDOW)).toMatchObject({
      ok: false,
      error: { code: 'STALE_REQUEST' },
    });
    for (const ts of ['', '1.8e12', `${T0}.0`, `-${T0}`, ` ${T0}`, '0x1']) {
      expect(authenticate(keys, { ...hmacAuth(), timestamp: ts }, target, body, T0, WINDOW)).toMatchObject({
        ok: false,
        error: { code: 'STALE_REQUEST' },
      });
    }
  });
  it('malformed headers never throw', () => {
    for (const a of [
      null,
      {},
      { apiKey: 5, timestamp: 1, signature: null },
      { apiKey: 'hk', timestamp: String(T0), signature: 7 },
    ]) {
      expect(authenticate(keys, a as unknown as AuthHeaders, target, body, T0, WINDOW).ok).toBe(false);
    }
  });
});

describe('ReplayCache', () => {
  it('fresh, then replayed within the window; forgotten after it', () => {
    const c = new ReplayCache(WINDOW);
    expect(c.check('k:a', T0, T0)).toBe('fresh');
    expect(c.check('k:a', T0, T0 + 1)).toBe('replayed');
    expect(c.check('k:b', T0, T0 + 1)).toBe('fresh');
    // kept for 2 × window after receipt: every replay that could still pass the window check is caught
    expect(c.check('k:a', T0, T0 + 2 * WINDOW)).toBe('replayed');
    expect(c.check('k:a', T0, T0 + 2 * WINDOW + 2)).toBe('fresh');
    expect(c.size).toBe(1);
  });
  it('full: fail closed, until entries expire', () => {
    const c = new ReplayCache(WINDOW, 3);
    expect(['a', 'b', 'c'].map((k) => c.check(k, T0, T0))).toEqual(['fresh', 'fresh', 'fresh']);
    expect(c.check('d', T0, T0 + 1)).toBe('full');
    expect(c.check('a', T0, T0 + 1)).toBe('replayed');
    expect(c.check('d', T0, T0 + 2 * WINDOW + 1)).toBe('fresh');
    expect(c.size).toBe(1);
  });
  it('grows its ring and prunes in order over many entries', () => {
    const w = 10_000; // entries live until receipt + 2w
    const c = new ReplayCache(w, 5000);
    for (let i = 0; i < 4000; i++) expect(c.check(`k${i}`, T0 + i, T0 + i)).toBe('fresh');
    expect(c.size).toBe(4000);
    expect(c.check('k3990', T0, T0 + 3999)).toBe('replayed');
    expect(c.check('new-1', T0 + 2 * w + 2000, T0 + 2 * w + 2000)).toBe('fresh'); // k0…k1999 expired
    expect(c.size).toBe(2001);
    expect(c.check('k0', T0 + 2 * w + 2000, T0 + 2 * w + 2000)).toBe('fresh');
    expect(c.check('k2000', T0 + 2 * w + 2000, T0 + 2 * w + 2000)).toBe('replayed');
    expect(c.check('new-2', T0 + 10 * w, T0 + 10 * w)).toBe('fresh');
    expect(c.size).toBe(1);
  });
});

describe('worker task logic (in this thread)', () => {
  const data: ValidationWorkerData = {
    receiveWindowMs: WINDOW,
    shards: SHARDS,
    accounts: [
      {
        account: ACCOUNT,
        apiKeys: [
          { key: 'hk', hmacSecret: 'secret' },
          { key: 'ek', ed25519PublicKey: ed25519RawPublicKey(generateKeyPairSync('ed25519').publicKey) },
        ],
      },
    ],
    adminKeys: [],
  };
  const s = createWorkerState(data);
  it('sign: HMAC hex per payload; Ed25519 and unknown keys get empty strings', () => {
    expect(
      runTask(s, {
        kind: 'sign',
        items: [
          { apiKey: 'hk', payloads: ['a', 'b'] },
          { apiKey: 'ek', payloads: ['a'] },
          { apiKey: '?', payloads: ['a'] },
        ],
      }),
    ).toEqual([[hmacSign('secret', 'a'), hmacSign('secret', 'b')], [''], ['']]);
  });
  it('requests: the bodies of a batch share one buffer; a broken item gets INTERNAL, not a throw', () => {
    const target = 'POST /v1/orders';
    const mk = (i: number): RawRequest => {
      const body = utf8(JSON.stringify({ ...LIMIT, client_order_id: `c${i}` }));
      return {
        op: 'PlaceOrder',
        encoding: 'json',
        body,
        target,
        auth: signRequest({ key: 'hk', hmacSecret: 'secret' }, target, body, T0),
      };
    };
    const out = runTask(s, {
      kind: 'requests',
      items: [
        { req: mk(1), nowMs: T0 },
        { req: null as unknown as RawRequest, nowMs: T0 },
        { req: mk(2), nowMs: T0 },
      ],
    }) as { ok: boolean; command?: { body: Uint8Array }; error?: GatewayError }[];
    expect(out.map((o) => o.ok)).toEqual([true, false, true]);
    expect(out[1]!.error!.code).toBe('INTERNAL');
    expect(out[0]!.command!.body.buffer).toBe(out[2]!.command!.body.buffer);
  });
});

// ---------------------------------------------------------------------------------------------
// The pool, on real worker threads

describe('ValidationPool (worker threads)', () => {
  const config = {
    receiveWindowMs: WINDOW,
    shards: SHARDS,
    accounts: [{ account: ACCOUNT, apiKeys: [{ key: 'hk', hmacSecret: 'secret' }] }],
    adminKeys: [{ key: 'adm', hmacSecret: 'admin-secret' }],
  };
  let pool: ValidationPool;
  beforeAll(() => {
    pool = new ValidationPool({ config, threads: 2, batchMax: 64, signInlineMax: 0, inlineItemsPerTurnMax: 0 }); // 500 requests: ≥ 8 batches; signing and validation in the workers
  });
  afterAll(async () => {
    await pool.close();
  });
  const target = 'POST /v1/orders';
  const request = (
    obj: Record<string, unknown>,
    key = { key: 'hk', hmacSecret: 'secret' },
    ts = Date.now(),
  ): RawRequest => {
    const body = utf8(JSON.stringify(obj));
    return { op: 'PlaceOrder', encoding: 'json', body, target, auth: signRequest(key, target, body, ts) };
  };

  it('validates a signed request; refuses its replay, a bad signature, a stale one, an invalid one', async () => {
    const req = request({ ...LIMIT, client_order_id: 'p-1' });
    const r = await pool.validate(req);
    if (!r.ok) throw new Error(r.error.message);
    expect(r).toMatchObject({
      account: ACCOUNT,
      apiKey: 'hk',
      admin: false,
      command: { op: 'PlaceOrder', shards: [0], engine: { clOrdId: 'p-1', account: ACCOUNT } },
    });
    expect(r.command.body).toBeInstanceOf(Uint8Array);
    expect(r.command.body).toEqual(encodeCommand(commandFromJson(r.command.engine) as Command));
    expect(await pool.validate(req)).toMatchObject({ ok: false, error: { code: 'REPLAYED_REQUEST' } });
    expect(await pool.validate(request(LIMIT, { key: 'hk', hmacSecret: 'wrong' }))).toMatchObject({
      ok: false,
      error: { code: 'UNAUTHENTICATED' },
    });
    expect(await pool.validate(request(LIMIT, undefined, Date.now() - 60_000))).toMatchObject({
      ok: false,
      error: { code: 'STALE_REQUEST' },
    });
    expect(await pool.validate(request({ ...LIMIT, price: 3 }))).toMatchObject({
      ok: false,
      error: { code: 'INVALID_ARGUMENT' },
    });
    const adm = await pool.validate(request(LIMIT, { key: 'adm', hmacSecret: 'admin-secret' }));
    expect(adm).toMatchObject({ ok: true, admin: true, account: 0 });
  });

  it('500 concurrent requests: all validated, in batches', async () => {
    const before = pool.stats();
    const reqs = Array.from({ length: 500 }, (_, i) =>
      request({ ...LIMIT, client_order_id: `b-${i}`, quantity: 20 + 10 * (i % 7) }),
    );
    const results = await Promise.all(reqs.map((q) => pool.validate(q)));
    results.forEach((r, i) => {
      if (!r.ok) throw new Error(`${i}: ${r.error.code} ${r.error.message}`);
      expect(r.command.engine).toMatchObject({ clOrdId: `b-${i}`, qty: 20 + 10 * (i % 7) });
    });
    const after = pool.stats();
    expect(after.items - before.items).toBe(500);
    expect(after.tasks - before.tasks).toBeLessThanOrEqual(500 / 64 + 4);
    expect(after.queued).toBe(0);
    expect(after.inFlight).toBe(0);
  });

  it('sessions: authenticate the opening, validate messages, sign reports', async () => {
    const sessionTarget = '/exchange.v1.OrderEntryService/OrderSession';
    const auth = signRequest({ key: 'hk', hmacSecret: 'secret' }, sessionTarget, new Uint8Array(0));
    expect(await pool.authenticateSession(auth, sessionTarget)).toEqual({
      ok: true,
      account: ACCOUNT,
      apiKey: 'hk',
      admin: false,
    });
    expect(await pool.authenticateSession(auth, sessionTarget)).toMatchObject({
      ok: false,
      error: { code: 'REPLAYED_REQUEST' },
    });
    expect(await pool.authenticateSession({ ...auth, signature: '00' }, sessionTarget)).toMatchObject({
      ok: false,
      error: { code: 'UNAUTHENTICATED' },
    });

    const S = sessionRequestMessageType();
    const body = S.encode(
      S.fromObject({
        request_id: 3,
        commands: [
          { place: { ...LIMIT, side: 'SIDE_BUY', order_type: 'ORDER_TYPE_LIMIT' } },
          { cancel: {} },
          { mass_cancel: {} },
        ],
      }),
    ).finish();
    const v = await pool.validateSession(ACCOUNT, body);
    if (!v.ok) throw new Error(v.error.message);
    expect(v.requestId).toBe(3);
    expect(v.commands.map((c) => c.ok)).toEqual([true, false, true]);
    expect(v.commands[0]).toMatchObject({ ok: true, command: { op: 'PlaceOrder', engine: { account: ACCOUNT } } });
    expect(v.commands[1]).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    expect(await pool.validateSession(ACCOUNT, new Uint8Array([0xff]))).toMatchObject({
      ok: false,
      error: { code: 'INVALID_ARGUMENT' },
    });

    expect(await pool.signReports('hk', ['r1', 'r2'])).toEqual([hmacSign('secret', 'r1'), hmacSign('secret', 'r2')]);
    expect(await pool.signReports('hk', [])).toEqual([]);
  });

  it('signs a small batch of reports on the main thread, a large one in a worker: same signatures', async () => {
    const p = new ValidationPool({ config, threads: 1, signInlineMax: 4 });
    try {
      const small = ['a', 'b', 'c'];
      expect(await p.signReports('hk', small)).toEqual(small.map((x) => hmacSign('secret', x)));
      expect(p.stats()).toMatchObject({ tasks: 0, signedInline: 3 });
      const large = Array.from({ length: 10 }, (_, i) => `report-${i}`);
      expect(await p.signReports('hk', large)).toEqual(large.map((x) => hmacSign('secret', x)));
      expect(p.stats()).toMatchObject({ tasks: 1, signedInline: 3 });
    } finally {
      await p.close();
    }
  });

  it('an idle pool validates a few requests per loop turn inline, the rest of a burst in worker batches: same outcomes', async () => {
    const p = new ValidationPool({ config, threads: 1, inlineItemsPerTurnMax: 3 });
    const workersOnly = new ValidationPool({ config, threads: 1, inlineItemsPerTurnMax: 0 });
    try {
      // One request on an idle pool: validated here, no task.
      const one = request({ ...LIMIT, client_order_id: 'inline-0' });
      const r1 = await p.validate(one);
      expect(r1).toMatchObject({ ok: true, account: ACCOUNT, command: { op: 'PlaceOrder' } });
      expect(p.stats()).toMatchObject({ tasks: 0, validatedInline: 1 });
      // A burst of 20 in a later turn: 3 inline (the turn's budget), the rest batch to the worker.
      await new Promise((r) => setImmediate(r));
      const burst = Array.from({ length: 20 }, (_, i) => request({ ...LIMIT, client_order_id: `burst-${i}` }));
      const rs = await Promise.all(burst.map((q) => p.validate(q)));
      expect(rs.every((r) => r.ok)).toBe(true);
      expect(p.stats().validatedInline).toBe(4);
      expect(p.stats().items).toBe(17);
      // Inline and worker validation give the same outcome for the same request, rejects included.
      const bad = request({ ...LIMIT, client_order_id: 'bad', quantity: 0 });
      const same = [request({ ...LIMIT, client_order_id: 'same' }), bad];
      for (const q of same) {
        const a = await p.validate({ ...q, auth: { ...q.auth } });
        const b = await workersOnly.validate(q);
        expect(a).toEqual(b);
      }
      expect(workersOnly.stats().validatedInline).toBe(0);
    } finally {
      await p.close();
      await workersOnly.close();
    }
  });

  it('above the inline rate budget, requests go to the workers even one per turn', async () => {
    // A window of a minute: the budget of 3 cannot refill during the test, however slow the machine.
    const p = new ValidationPool({ config, threads: 1, inlineItemsPerWindowMax: 3, inlineWindowMs: 60_000 });
    try {
      for (let i = 0; i < 6; i++) {
        const r = await p.validate(request({ ...LIMIT, client_order_id: `rate-${i}` }));
        expect(r.ok).toBe(true);
        await new Promise((res) => setImmediate(res)); // a new turn: the per-turn budget is not what stops it
      }
      expect(p.stats()).toMatchObject({ validatedInline: 3, items: 3 });
    } finally {
      await p.close();
    }
  });

  it('a batch is also dispatched at batchBytesMax body bytes', async () => {
    const p = new ValidationPool({ config, threads: 1, batchMax: 256, batchBytesMax: 200, inlineItemsPerTurnMax: 0 });
    try {
      const reqs = Array.from({ length: 12 }, (_, i) => request({ ...LIMIT, client_order_id: `y-${i}` })); // ~110 bytes each
      const rs = await Promise.all(reqs.map((q) => p.validate(q)));
      expect(rs.every((r) => r.ok)).toBe(true);
      expect(p.stats()).toMatchObject({ tasks: 6, items: 12 });
    } finally {
      await p.close();
    }
  });

  it('replay cache full: fail closed with OVERLOADED', async () => {
    const tiny = new ValidationPool({ config, threads: 1, replayCacheEntriesMax: 2 });
    try {
      const rs = [];
      for (let i = 0; i < 3; i++) rs.push(await tiny.validate(request({ ...LIMIT, client_order_id: `f-${i}` })));
      expect(rs.map((r) => r.ok)).toEqual([true, true, false]);
      expect(rs[2]).toMatchObject({ ok: false, error: { code: 'OVERLOADED', message: 'replay cache full' } });
      expect(tiny.stats()).toMatchObject({ replayCacheSize: 2, replayCacheFull: 1 });
    } finally {
      await tiny.close();
    }
  });

  it('refuses beyond queueMax at once (OVERLOADED, retry_after_ms), and everything after close', async () => {
    const small = new ValidationPool({ config, threads: 1, batchMax: 64, queueMax: 8, inlineItemsPerTurnMax: 0 });
    try {
      const reqs = Array.from({ length: 40 }, (_, i) => request({ ...LIMIT, client_order_id: `q-${i}` }));
      const results = await Promise.all(reqs.map((q) => small.validate(q)));
      const overloaded = results.filter((r) => !r.ok && r.error.code === 'OVERLOADED');
      expect(overloaded.length).toBe(32);
      expect(results.slice(0, 8).every((r) => r.ok)).toBe(true);
      for (const r of overloaded) expect(!r.ok && r.error.retry_after_ms).toBeGreaterThan(0);
      expect(small.stats().overloaded).toBe(32);
    } finally {
      await small.close();
    }
    expect(await small.validate(request(LIMIT))).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    // report signing never fails: refused by the pool, it is done inline
    expect(await small.signReports('hk', ['r1'])).toEqual([hmacSign('secret', 'r1')]);
    expect(small.stats().signedInline).toBe(1);
  });
});

describe('reasons', () => {
  // Each rule's machine reason and field (docs/errors.md): the engine's reject name when the
  // engine checks the same rule, else the gateway's own (api/errors.ts ErrorReason).
  const cases: [string, Operation, Record<string, unknown>, string, string | undefined][] = [
    ['unknown field', Operation.PLACE_ORDER, { ...LIMIT, colour: 'red' }, 'UNKNOWN_FIELD', 'colour'],
    ['missing side', Operation.PLACE_ORDER, { ...LIMIT, side: undefined }, 'FIELD_MISSING', 'side'],
    ['a fraction', Operation.PLACE_ORDER, { ...LIMIT, quantity: 30.5 }, 'INVALID_INTEGER', 'quantity'],
    ['an unknown enum name', Operation.PLACE_ORDER, { ...LIMIT, side: 'UP' }, 'INVALID_ENUM_VALUE', 'side'],
    ['a symbol not a string', Operation.PLACE_ORDER, { ...LIMIT, symbol: 5 }, 'FIELD_WRONG_TYPE', 'symbol'],
    ['unknown symbol', Operation.PLACE_ORDER, { ...LIMIT, symbol: 'DOGE-USD' }, 'UNKNOWN_INSTRUMENT', 'symbol'],
    ['off tick', Operation.PLACE_ORDER, { ...LIMIT, price: 1001 }, 'PRICE_NOT_TICK_MULTIPLE', 'price'],
    ['over max price', Operation.PLACE_ORDER, { ...LIMIT, price: 2_000_000 }, 'INVALID_PRICE', 'price'],
    ['off lot', Operation.PLACE_ORDER, { ...LIMIT, quantity: 35 }, 'QUANTITY_NOT_LOT_MULTIPLE', 'quantity'],
    ['below min', Operation.PLACE_ORDER, { ...LIMIT, quantity: 10 }, 'QUANTITY_BELOW_MIN', 'quantity'],
    ['above max', Operation.PLACE_ORDER, { ...LIMIT, quantity: 200_000 }, 'QUANTITY_ABOVE_MAX', 'quantity'],
    [
      'bad client order id',
      Operation.PLACE_ORDER,
      { ...LIMIT, client_order_id: 'a b' },
      'INVALID_CLIENT_ORDER_ID',
      'client_order_id',
    ],
    ['price on MARKET', Operation.PLACE_ORDER, { ...LIMIT, order_type: 'MARKET' }, 'FIELD_NOT_ALLOWED', 'price'],
    [
      'stop price off tick',
      Operation.PLACE_ORDER,
      { ...LIMIT, order_type: 'STOP_LIMIT', stop_price: 3 },
      'INVALID_STOP_PRICE',
      'stop_price',
    ],
    [
      'GTC on MARKET',
      Operation.PLACE_ORDER,
      { ...LIMIT, order_type: 'MARKET', price: undefined, time_in_force: 'GTC' },
      'INVALID_TIME_IN_FORCE',
      'time_in_force',
    ],
    [
      'post-only IOC',
      Operation.PLACE_ORDER,
      { ...LIMIT, time_in_force: 'IOC', post_only: 'REJECT' },
      'INVALID_POST_ONLY',
      'post_only',
    ],
    [
      'iceberg too big',
      Operation.PLACE_ORDER,
      { ...LIMIT, display_quantity: 30 },
      'INVALID_DISPLAY_QUANTITY',
      'display_quantity',
    ],
    [
      'both ids',
      Operation.CANCEL_ORDER,
      { order_id: 5, client_order_id: 'c' },
      'CONFLICTING_FIELDS',
      'client_order_id',
    ],
    ['order id 0', Operation.GET_ORDER, { order_id: 0 }, 'INVALID_ORDER_ID', 'order_id'],
    ['amend nothing', Operation.AMEND_ORDER, { order_id: 5 }, 'AMEND_CHANGES_NOTHING', undefined],
  ];
  for (const [what, op, req, reason, field] of cases) {
    it(`${what}: ${reason}`, () => {
      const r = viaJson(op, JSON.parse(JSON.stringify(req)) as Record<string, unknown>);
      expect(r.ok).toBe(false);
      const e = (r as { error: GatewayError }).error;
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.reason).toBe(reason);
      expect(e.field).toBe(field);
    });
  }
  it("an order id of a shard that does not exist: NOT_FOUND, the engine's ORDER_NOT_FOUND", () => {
    const r = viaJson(Operation.GET_ORDER, { order_id: toGlobalOrderId(9, 1) });
    expect(r).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', reason: 'ORDER_NOT_FOUND' } });
  });
});
