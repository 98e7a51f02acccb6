// Wide instruments (maxPrice × maxQty > 2^53 − 1, engine/notional.ts) through events/: the
// Kafka record's cum_notional, and every notional the read models keep, exact — checked against
// BigInt references computed here from the fills, never against the code under test.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../engine/config.js';
import type { ShardConfig } from '../../engine/types.js';
import { EventsCodec, type ExecRecord } from '../../events/codec.js';
import { notionalBeyondUint64, notionalOfBigint, UINT64_MAX } from '../../api/exact-uint64.js';
import { ReadModels, type ConsumedRecord } from '../../events/read-models/model.js';
import { TOPIC_FILLS, TOPIC_ORDERS, TOPIC_TRADES } from '../../events/topics.js';
import { flowEntries, orderFlow, publishedRecords, replayEntries, wideFlow, wideShardConfigJson } from './helpers.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const WIDE: ShardConfig = parseConfig(wideShardConfigJson());
const PARTITIONS = { [TOPIC_ORDERS]: 4, [TOPIC_FILLS]: 4, [TOPIC_TRADES]: 3 } as const;
const entries = flowEntries(wideFlow(1_200, 11), 9);
const published = publishedRecords(entries, PARTITIONS, WIDE);
const execs = published.filter((r): r is Extract<ConsumedRecord, { type: 'exec' }> => r.type === 'exec');

describe('wide notionals through events/', () => {
  it('codec: cum_notional round-trips exactly from 0 to 2^64-1 (a number up to 2^53-1, a bigint above), the wire holding the exact value', () => {
    const codec = EventsCodec.get();
    const type = codec.root.lookupType('exchange.v1.ExecutionReportEvent');
    const template = execs.find((r) => r.topic === TOPIC_ORDERS)!.value;
    const near = (c: bigint) => fc.bigInt({ min: c - 4_096n, max: c + 4_096n });
    const value = fc.oneof(
      fc.bigInt({ min: 0n, max: UINT64_MAX }),
      fc.bigInt({ min: 0n, max: MAX_SAFE }),
      near(MAX_SAFE),
      near(1n << 63n),
      fc.bigInt({ min: UINT64_MAX - 4_096n, max: UINT64_MAX }),
    );
    fc.assert(
      fc.property(value, (b) => {
        const rec: ExecRecord = { ...template, cum_notional: notionalOfBigint(b) };
        const bytes = codec.encodeExec(rec);
        // The wire, read by protobufjs as a decimal string: an independent reading of the uint64.
        expect(type.toObject(type.decode(bytes), { longs: String, defaults: true }).cum_notional).toBe(b.toString());
        const back = codec.decodeExec(bytes);
        expect(typeof back.cum_notional).toBe(b <= MAX_SAFE ? 'number' : 'bigint');
        expect(BigInt(back.cum_notional)).toBe(b);
        expect(back).toEqual(rec);
      }),
      { numRuns: 500, examples: [[0n], [MAX_SAFE], [MAX_SAFE + 1n], [UINT64_MAX]] },
    );
    expect(() => codec.encodeExec({ ...template, cum_notional: UINT64_MAX + 1n })).toThrow(RangeError);
    expect(() => codec.encodeExec({ ...template, cum_notional: -1n })).toThrow(RangeError);
  });

  it("publisher records of a wide flow: cum_notional equals Σ last_qty × last_px per order (BigInt), with its decimal string, as the engine's replay has it", () => {
    const perOrder = new Map<number, bigint>();
    let above = 0;
    for (const { topic, value: r } of execs) {
      if (topic !== TOPIC_ORDERS) continue;
      const sum = (perOrder.get(r.order_id) ?? 0n) + BigInt(r.last_qty) * BigInt(r.last_px);
      perOrder.set(r.order_id, sum);
      expect(BigInt(r.cum_notional)).toBe(sum);
      expect(typeof r.cum_notional).toBe(sum > MAX_SAFE ? 'bigint' : 'number');
      if (r.symbol === 'BTC-USD') {
        // 2 price decimals + 8 quantity decimals.
        const digits = sum.toString().padStart(11, '0');
        expect(r.cum_notional_decimal).toBe(`${digits.slice(0, -10)}.${digits.slice(-10)}`);
      }
      if (sum > MAX_SAFE) above++;
    }
    // The flow does pass 2^53 (else this test could not fail).
    expect(above).toBeGreaterThan(50);
    // The same records as the replay without Kafka's codec (events/read-models/reference.ts).
    const replayed = replayEntries(entries, WIDE);
    const fromCodec = execs.filter((r) => r.topic === TOPIC_ORDERS).map((r) => r.value);
    expect(new Map(fromCodec.map((r) => [`${r.log_index}/${r.position}`, r]))).toEqual(
      new Map(replayed.orders.map((r) => [`${r.log_index}/${r.position}`, r])),
    );
  });

  it('read models of a wide flow: orders, positions, balances, candles and ticker exact vs BigInt; the snapshot keeps them', () => {
    const m = new ReadModels();
    for (const r of published) m.apply(r);
    // BigInt references from the fills and trades.
    const perOrder = new Map<number, bigint>();
    const pos = new Map<string, { buy: bigint; sell: bigint }>();
    const cash = new Map<number, bigint>();
    for (const { topic, value: r } of execs) {
      if (topic !== TOPIC_FILLS) continue;
      const n = BigInt(r.last_qty) * BigInt(r.last_px);
      perOrder.set(r.order_id, (perOrder.get(r.order_id) ?? 0n) + n);
      const k = `${r.account}/${r.symbol}`;
      const p = pos.get(k) ?? { buy: 0n, sell: 0n };
      if (r.side === 1) p.buy += n;
      else p.sell += n;
      pos.set(k, p);
      cash.set(r.account, (cash.get(r.account) ?? 0n) + (r.side === 1 ? -n : n));
    }
    let wideOrders = 0;
    for (const account of [1, 2, 3, 4, 5, 6]) {
      for (const o of m.ordersOf(account)) {
        const want = perOrder.get(o.order_id) ?? 0n;
        expect(o.cum_notional).toBe(notionalOfBigint(want));
        if (typeof o.cum_notional === 'bigint') wideOrders++;
      }
      for (const p of m.positionsOf(account)) {
        const want = pos.get(`${account}/${p.symbol}`)!;
        expect([p.buy_notional, p.sell_notional, p.cash]).toEqual([want.buy, want.sell, want.sell - want.buy]);
      }
      expect(m.balancesOf(account)).toEqual([{ currency: 'USD', cash: cash.get(account) ?? 0n }]);
    }
    expect(wideOrders).toBeGreaterThan(10);
    const trades = published.filter((r) => r.type === 'trade').map((r) => r.value);
    const btc = trades.filter((t) => t.symbol === 'BTC-USD');
    const quote = btc.reduce((s, t) => s + BigInt(t.price) * BigInt(t.qty), 0n);
    expect(quote).toBeGreaterThan(MAX_SAFE);
    // The whole flow (~3 min of log time) lies in one day and in the ticker's window.
    expect(m.candlesOf('BTC-USD', '1d').map((c) => c.quote_volume)).toEqual([quote.toString()]);
    expect(m.tickerOf('BTC-USD').quote_volume).toBe(quote.toString());
    // Snapshot: plain JSON (bigints as strings), back to the same views and the same bigints.
    const json = JSON.stringify(m.toJSON());
    const back = ReadModels.fromJSON(JSON.parse(json));
    expect(back.views()).toEqual(m.views());
    for (const account of [1, 2, 3, 4, 5, 6]) expect(back.ordersOf(account)).toEqual(m.ordersOf(account));
  });

  it('a version 3 snapshot (cum_notional a number, written before wide instruments) is still read', () => {
    const narrow = new ReadModels();
    for (const r of publishedRecords(flowEntries(orderFlow(300, 5), 7), PARTITIONS)) narrow.apply(r);
    const v4 = narrow.toJSON();
    const v3 = {
      ...v4,
      version: 3 as const,
      orders: v4.orders.map((o) => ({ ...o, cum_notional: Number(o.cum_notional) })),
    };
    expect(ReadModels.fromJSON(JSON.parse(JSON.stringify(v3))).views()).toEqual(narrow.views());
    expect(() => ReadModels.fromJSON({ ...v4, version: 2 as never })).toThrow(/snapshot version 2/);
  });

  it('the publisher refuses only notionals beyond 2^64-1 (uint64 records)', () => {
    expect(notionalBeyondUint64(WIDE)).toBeUndefined();
    const huge = wideShardConfigJson();
    huge.instruments[0]!.maxPrice = 1_000_000_000;
    expect(notionalBeyondUint64(parseConfig(huge))).toMatch(
      /instruments\[0\]: BTC-USD's maxPrice \* maxQty = 100000000000000000000 exceeds 2\^64-1/,
    );
  });
});
