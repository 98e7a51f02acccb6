// The reply path's compiled converters (gateway/proto-wire.ts) against the generic walk the
// clients use (strict, then protobufjs fromObject): the same bytes for every message the
// gateway answers with, and the same refusals.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OrderEntryCodec } from '../../gateway/grpc-server.js';

const codec = OrderEntryCodec.get();
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const text = fc.string({ maxLength: 12 });

const report = fc.record(
  {
    exec_id: safe,
    order_id: safe,
    client_order_id: text,
    orig_client_order_id: text,
    account: u32,
    symbol: text,
    side: fc.constantFrom('BUY', 'SELL', 'SIDE_BUY', '', 2),
    order_type: fc.constantFrom('LIMIT', 'MARKET', 'STOP_LIMIT', ''),
    time_in_force: fc.constantFrom('GTC', 'IOC', 'FOK', ''),
    exec_type: fc.constantFrom('NEW', 'TRADE', 'CANCELED', 'REJECTED'),
    order_status: fc.constantFrom('NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED'),
    price: safe,
    stop_price: safe,
    order_qty: safe,
    cum_qty: safe,
    leaves_qty: safe,
    last_qty: safe,
    last_px: safe,
    cum_notional: safe,
    avg_px: text,
    display_qty: safe,
    reason: text,
    trade_id: safe,
    last_liquidity_ind: fc.constantFrom('', 'ADDED_LIQUIDITY', 'REMOVED_LIQUIDITY'),
    seq: safe,
    ts_us: safe,
    chain_seq: safe,
    chain_hash: text,
    signature: text,
    price_decimal: text,
    cum_notional_decimal: text,
  },
  { requiredKeys: ['exec_id', 'side'] },
);
const result = fc.record({ seq: safe, log_index: safe, shard: u32, reports: fc.array(report, { maxLength: 3 }) });
const error = fc.record(
  { code: fc.constantFrom('INVALID_ARGUMENT', 'OVERLOADED'), reason: text, message: text, retry_after_ms: u32 },
  { requiredKeys: ['code'] },
);
const response = fc.record(
  {
    request_id: safe,
    outcomes: fc.array(fc.oneof(fc.record({ result }), fc.record({ error })), { maxLength: 3 }),
    reports: fc.array(report, { maxLength: 2 }),
  },
  { requiredKeys: ['request_id'] },
);

describe('compiled reply converters (gateway/proto-wire.ts)', () => {
  it('encode OrderSessionResponse to the same bytes as the generic strict path', () => {
    fc.assert(
      fc.property(response, (r) => {
        const plain = r as unknown as Record<string, unknown>;
        expect(
          codec.encode('OrderSessionResponse', plain).equals(codec.encode('OrderSessionResponse', plain, true)),
        ).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('drop unknown properties and null/undefined fields, as the generic walk without strict', () => {
    const plain = {
      request_id: 7,
      outcomes: null,
      reports: [{ exec_id: 1, side: 'BUY', nonsense: 3, price: undefined }],
    };
    const bytes = codec.encode('OrderSessionResponse', plain);
    expect(codec.decode('OrderSessionResponse', bytes)).toMatchObject({
      request_id: 7,
      outcomes: [],
      reports: [{ exec_id: 1, side: 'BUY', price: 0 }],
    });
  });

  it('refuse an unknown enum name, a non-array repeated field and a non-object message', () => {
    expect(() => codec.encode('OrderSessionResponse', { reports: [{ side: 'SIDEWAYS' }] })).toThrow(
      /unknown Side value/,
    );
    expect(() => codec.encode('OrderSessionResponse', { reports: { side: 'BUY' } })).toThrow(/expected an array/);
    expect(() => codec.encode('OrderSessionResponse', { outcomes: [{ result: 5 }] })).toThrow(/expected an object/);
  });

  it('write a bigint of a 64-bit field exactly', () => {
    const big = 2n ** 63n + 12345n;
    const bytes = codec.encode('OrderSessionResponse', { request_id: big });
    const type = codec.type('OrderSessionResponse');
    const decoded = type.toObject(type.decode(bytes), { longs: String }) as { request_id: string };
    expect(decoded.request_id).toBe(big.toString());
  });
});
