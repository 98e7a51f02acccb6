// The read models' quantity sums — a position's bought, sold and net quantity over an account's
// lifetime, a candle's and the ticker's volume — exact past 2^53 − 1 (a number while safe, a
// bigint above), checked against BigInt sums computed here; through the snapshot (version 5 writes
// such a sum as a decimal string; version 4 files still load), the query REST JSON (the exact
// integer literal) and the query gRPC codec (int64 / uint64, a short position negative).
// Before, the model asserted the sums stayed below 2^53 and stopped the process when one did not.

import { describe, expect, it } from 'vitest';
import { jsonParseExact, jsonStringifyExact } from '../../api/json-exact.js';
import type { ExecRecord, TradeRecord } from '../../events/codec.js';
import { QueryCodec } from '../../events/query/grpc-server.js';
import { ReadModels, type ConsumedRecord, type ReadModelsJson } from '../../events/read-models/model.js';
import { TOPIC_FILLS, TOPIC_TRADES } from '../../events/topics.js';
import { flowEntries, orderFlow, publishedRecords } from './helpers.js';

const PARTITIONS = { 'exchange.orders.v1': 1, [TOPIC_FILLS]: 1, [TOPIC_TRADES]: 1 };
const published = publishedRecords(flowEntries(orderFlow(200, 3), 5), PARTITIONS);
const fillTemplate = published.find((r) => r.type === 'exec' && r.topic === TOPIC_FILLS)!.value as ExecRecord;
const tradeTemplate = published.find((r) => r.type === 'trade')!.value as TradeRecord;
/** The largest quantity units a single fill can carry (engine/config.ts: maxQty ≤ 2^53 − 1). */
const BIG_QTY = Number.MAX_SAFE_INTEGER - 1;
const T0 = 1_700_000_000_000_000;

/** Account 7 buys BIG_QTY three times and sells it once, at price 3: its fills and the trades. */
function records(): ConsumedRecord[] {
  const out: ConsumedRecord[] = [];
  const sides = [1, 1, 2, 1];
  sides.forEach((side, k) => {
    const common = { shard: 0, log_index: 10 + k, position: 0, ts_us: T0 + k * 1_000 };
    const fill: ExecRecord = {
      ...fillTemplate,
      ...common,
      account: 7,
      symbol: 'BTC-USD',
      side,
      order_id: 100 + k,
      last_qty: BIG_QTY,
      last_px: 3,
      exec_id: 1_000 + k,
    };
    out.push({ topic: TOPIC_FILLS, partition: 0, offset: k, type: 'exec', value: fill });
    const trade: TradeRecord = {
      ...tradeTemplate,
      ...common,
      symbol: 'BTC-USD',
      price: 3,
      qty: BIG_QTY,
      trade_id: 500 + k,
    };
    out.push({ topic: TOPIC_TRADES, partition: 0, offset: k, type: 'trade', value: trade });
  });
  return out;
}

const Q = BigInt(BIG_QTY);

describe('read-model quantity sums past 2^53 − 1', () => {
  const m = new ReadModels();
  for (const r of records()) m.apply(r);

  it('positions, candle and ticker volume equal the BigInt sums (a bigint above 2^53 − 1)', () => {
    const p = m.positionsOf(7).find((x) => x.symbol === 'BTC-USD')!;
    expect(p).toMatchObject({ bought_qty: 3n * Q, sold_qty: BIG_QTY, position_qty: 2n * Q, fill_count: 4 });
    expect(p.buy_notional).toBe(3n * Q * 3n);
    expect(p.cash).toBe(-2n * Q * 3n);
    const day = m.candlesOf('BTC-USD', '1d').at(-1)!;
    expect(day.volume).toBe(4n * Q);
    expect(BigInt(day.quote_volume)).toBe(4n * Q * 3n);
    expect(m.tickerOf('BTC-USD').volume).toBe(4n * Q);
  });

  it('a short position past −(2^53 − 1) is a negative bigint, exact', () => {
    const short = new ReadModels();
    for (const r of records()) {
      if (r.type === 'exec') short.apply({ ...r, value: { ...r.value, side: 3 - r.value.side } });
    }
    expect(short.positionsOf(7)[0]!.position_qty).toBe(-2n * Q);
  });

  it('the snapshot round-trips them (version 5: decimal strings above 2^53 − 1); a version 4 file still loads', () => {
    const json = m.toJSON();
    expect(json.version).toBe(5);
    const text = JSON.stringify(json); // JSON-safe: no bigint left in it
    const back = ReadModels.fromJSON(JSON.parse(text) as ReadModelsJson);
    expect(back.positionsOf(7)).toEqual(m.positionsOf(7));
    expect(back.candlesOf('BTC-USD', '1m')).toEqual(m.candlesOf('BTC-USD', '1m'));
    const small = new ReadModels();
    small.apply(records()[0]!);
    const v4 = { ...small.toJSON(), version: 4 } as ReadModelsJson;
    expect(ReadModels.fromJSON(JSON.parse(JSON.stringify(v4)) as ReadModelsJson).positionsOf(7)).toEqual(
      small.positionsOf(7),
    );
    const bad = JSON.parse(text) as ReadModelsJson;
    (bad.positions[0]![1][0] as unknown as Record<string, unknown>).bought_qty = '12.5';
    expect(() => ReadModels.fromJSON(bad)).toThrow(/quantity sum "12.5" is not an integer/);
  });

  it('the query edges carry them exactly: REST as integer literals, gRPC as int64 (negative) and uint64', () => {
    const p = m.positionsOf(7)[0]!;
    const view = { position_qty: -2n * Q, bought_qty: p.bought_qty, sold_qty: p.sold_qty };
    const text = jsonStringifyExact(view);
    expect(text).toBe(`{"position_qty":${-2n * Q},"bought_qty":${3n * Q},"sold_qty":${BIG_QTY}}`);
    expect(jsonParseExact(text)).toEqual(view);
    const codec = QueryCodec.get();
    const reply = {
      positions: [
        { symbol: 'BTC-USD', position_qty: -2n * Q, bought_qty: 3n * Q, sold_qty: BIG_QTY, buy_notional: '1' },
      ],
    };
    const decoded = codec.decodeReply(
      'exchange.v1.GetPositionsResponse',
      codec.encode('exchange.v1.GetPositionsResponse', reply),
    );
    expect(decoded.positions).toEqual([
      expect.objectContaining({ position_qty: -2n * Q, bought_qty: 3n * Q, sold_qty: BIG_QTY }),
    ]);
  });
});
