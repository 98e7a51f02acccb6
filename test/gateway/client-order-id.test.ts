// The client order id's alphabet at each edge, as gateway/README.md and engine/README.md state it:
// the gateway (REST JSON and gRPC protobuf) accepts 1–36 characters of [A-Za-z0-9_.:-]; the engine
// (pipe mode, the log) accepts 1–64 characters from 0x21 to 0x7E. Every id the gateway accepts, the
// engine accepts too (gateway/limits-check.ts checks the lengths at load; this checks the characters).

import { describe, expect, it } from 'vitest';
import { validClOrdId } from '../../engine/engine.js';
import { CLORDID_CHAR_MAX, CLORDID_CHAR_MIN, CLORDID_LENGTH_MAX } from '../../engine/limits.js';
import { CLIENT_ORDER_ID_MAX } from '../../gateway/limits.js';
import { Operation } from '../../gateway/types.js';
import { decodeRequest, requestMessageType, validateCommand, type ShardInfo } from '../../gateway/validate.js';

const SHARDS: ShardInfo[] = [
  {
    id: 0,
    instruments: [
      {
        symbol: 'BTC-USD',
        tickSize: 1,
        lotSize: 1,
        minQty: 1,
        maxQty: 1000,
        maxPrice: 1_000_000,
        priceDecimals: 2,
        qtyDecimals: 0,
      },
    ],
  },
];
const ctx = { account: 7, shards: SHARDS };
const GATEWAY_CHARS = /^[A-Za-z0-9_.:-]$/;

/** The gateway's verdict on one request, through JSON (REST) and protobuf (gRPC); they must agree. */
function gatewayAccepts(op: Operation, json: Record<string, unknown>, proto: Record<string, unknown>): boolean {
  const viaJson = decodeRequest(op, 'json', new TextEncoder().encode(JSON.stringify(json)));
  const T = requestMessageType(op);
  const viaProto = decodeRequest(op, 'protobuf', T.encode(T.fromObject(proto)).finish());
  const verdict = (d: typeof viaJson) => d.ok && validateCommand(op, d.decoded, ctx).ok;
  expect(verdict(viaProto), `protobuf and JSON agree on ${JSON.stringify(json)}`).toBe(verdict(viaJson));
  return verdict(viaJson);
}

/** Whether the gateway accepts `id` as a new order's, an amend's new and original, and a cancel's client order id. */
function gatewayAcceptsEverywhere(id: string): boolean {
  const order = { symbol: 'BTC-USD', price: 100, quantity: 1 };
  const place = gatewayAccepts(
    Operation.PLACE_ORDER,
    { client_order_id: id, ...order, side: 'BUY', order_type: 'LIMIT' },
    { client_order_id: id, ...order, side: 'SIDE_BUY', order_type: 'ORDER_TYPE_LIMIT' },
  );
  const cancel = { client_order_id: id, symbol: 'BTC-USD' };
  const amendNew = { order_id: 9, client_order_id: id };
  const amendOrig = { orig_client_order_id: id, symbol: 'BTC-USD', quantity: 2 };
  const others = [
    gatewayAccepts(Operation.CANCEL_ORDER, cancel, cancel),
    gatewayAccepts(Operation.AMEND_ORDER, amendNew, amendNew),
    gatewayAccepts(Operation.AMEND_ORDER, amendOrig, amendOrig),
  ];
  for (const o of others) expect(o, `every field agrees on ${JSON.stringify(id)}`).toBe(place);
  return place;
}

describe('client order id at every edge', () => {
  it.each([
    ['0x20 space', ' ', false, false],
    ['0x21 !', '!', false, true],
    ['0x2D -', '-', true, true],
    ['0x5F _', '_', true, true],
    ['0x7E ~', '~', false, true],
    ['0x7F DEL', '\u007f', false, false],
    ['non-ASCII é', 'é', false, false],
    ['non-ASCII 😀', '😀', false, false],
  ])('%s: gateway %s, engine %s', (_n, c, gateway, engine) => {
    expect(gatewayAcceptsEverywhere(`a${c}b`)).toBe(gateway);
    expect(validClOrdId(`a${c}b`)).toBe(engine);
  });

  it('every character: the gateway takes exactly [A-Za-z0-9_.:-], the engine exactly 0x21–0x7E, a superset', () => {
    for (let code = 0; code <= 0xff; code++) {
      const c = String.fromCharCode(code);
      const gateway = gatewayAcceptsEverywhere(`a${c}b`);
      const engine = validClOrdId(`a${c}b`);
      expect(gateway, `gateway, char 0x${code.toString(16)}`).toBe(GATEWAY_CHARS.test(c));
      expect(engine, `engine, char 0x${code.toString(16)}`).toBe(code >= CLORDID_CHAR_MIN && code <= CLORDID_CHAR_MAX);
      if (gateway) expect(engine, `engine accepts what the gateway does, char 0x${code.toString(16)}`).toBe(true);
    }
  });

  it('lengths: the gateway 1–36, the engine 1–64', () => {
    expect([CLIENT_ORDER_ID_MAX, CLORDID_LENGTH_MAX]).toEqual([36, 64]);
    expect(gatewayAcceptsEverywhere('x'.repeat(36))).toBe(true);
    expect(gatewayAcceptsEverywhere('x'.repeat(37))).toBe(false);
    expect(validClOrdId('x'.repeat(64))).toBe(true);
    expect(validClOrdId('x'.repeat(65))).toBe(false);
    expect(validClOrdId('')).toBe(false);
  });
});
