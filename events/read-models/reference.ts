// The reference projection of a shard's log: its committed entries replayed through the
// replicas' state machine and turned into order/fill/trade records WITHOUT the publisher's
// RecordBuilder (an independent path), and a read model fed with them directly. What the read
// models built from Kafka must equal — used by the events tests and the chaos checker (chaos/).

import type { EventBuffer } from '../../engine/event-buffer.js';
import { EventKind, type ExecReport, type ShardConfig, type TradeEvent } from '../../engine/types.js';
import type { EntryType, Entry } from '../../replicator/log.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import type { ClientEndpoint } from '../../replicator/client/client.js';
import { decimalsOfConfig, execRecordOf, tradeRecordOf, type ExecRecord, type TradeRecord } from '../codec.js';
import { EntrySource } from '../publisher/entry-source.js';
import { TOPIC_FILLS, TOPIC_ORDERS, TOPIC_TRADES } from '../topics.js';
import { ReadModels } from './model.js';
import { commandData } from '../../replicator/log.js';

/** The events of an applied entry, by row: exec and trade only (what is published). */
function publishedEvents(events: EventBuffer): { position: number; e: ExecReport | TradeEvent }[] {
  const out: { position: number; e: ExecReport | TradeEvent }[] = [];
  for (let i = 0; i < events.count; i++) {
    const k = events.kind[i];
    if (k === EventKind.EXEC || k === EventKind.TRADE)
      out.push({ position: i, e: events.event(i) as ExecReport | TradeEvent });
  }
  return out;
}

/** Records of a replayed log, built without the publisher's RecordBuilder (an independent path). */
export interface ReplayedRecords {
  orders: ExecRecord[];
  fills: ExecRecord[];
  trades: TradeRecord[];
  /** The state machine at the end (live orders, last seq). */
  sm: ShardStateMachine;
}

export function replayRecords(
  entries: readonly Entry[],
  config: ShardConfig,
  sm = new ShardStateMachine(config),
): ReplayedRecords {
  const out: ReplayedRecords = { orders: [], fills: [], trades: [], sm };
  const decimalsOf = decimalsOfConfig(config);
  for (const entry of entries) {
    sm.apply(entry.index, commandData(entry));
    for (const { position, e } of publishedEvents(sm.events)) {
      if (e.kind === 'exec') {
        const r = execRecordOf(config.shardId, entry.index, position, e, decimalsOf);
        out.orders.push(r);
        if (r.last_qty > 0) out.fills.push(r);
      } else {
        out.trades.push(tradeRecordOf(config.shardId, entry.index, position, e, decimalsOf));
      }
    }
  }
  return out;
}

/** Every committed entry of a shard, read from its replicas with op 'entries' (the log must not be compacted). */
export async function readWholeLog(endpoints: ClientEndpoint[], throughIndex: number): Promise<Entry[]> {
  const source = new EntrySource(endpoints);
  const entries: Entry[] = [];
  try {
    while (entries.length < throughIndex) {
      const r = await source.read(entries.length + 1, 8 * 1024 * 1024, 1_000);
      if (r.kind === 'snapshot') throw new Error(`log compacted through ${r.index}: cannot replay it whole`);
      for (const e of r.entries)
        if (e.index <= throughIndex)
          entries.push({ index: e.index, term: e.term, type: e.type as EntryType, data: e.data });
    }
  } finally {
    source.close();
  }
  return entries;
}

/** A read model fed directly with replayed records (one partition per topic, offsets from 0). */
export function projection(r: Pick<ReplayedRecords, 'orders' | 'fills' | 'trades'>): ReadModels {
  const m = new ReadModels();
  for (const [offset, value] of r.orders.entries())
    m.apply({ topic: TOPIC_ORDERS, partition: 0, offset, type: 'exec', value });
  for (const [offset, value] of r.fills.entries())
    m.apply({ topic: TOPIC_FILLS, partition: 0, offset, type: 'exec', value });
  for (const [offset, value] of r.trades.entries())
    m.apply({ topic: TOPIC_TRADES, partition: 0, offset, type: 'trade', value });
  return m;
}

// ---------------------------------------------------------------------------------------------
// Public market data, computed naively from every trade of a symbol (no buckets kept, no
// running sums): what the read models' bounded trades, candles and 24-hour ticker must equal.

/** Length of one candle interval (µs) and how many the read models keep, by name. */
export interface ReferenceInterval {
  lengthUs: number;
  kept: number;
}

/** The symbol's last `limit` trades, oldest first, in the public form. */
export function referenceTrades(trades: readonly TradeRecord[], symbol: string, limit: number) {
  const mine = trades.filter((t) => t.symbol === symbol);
  return mine.slice(Math.max(0, mine.length - limit)).map((t) => ({
    trade_id: t.trade_id,
    price: t.price,
    qty: t.qty,
    aggressor_side: t.aggressor_side,
    ts_us: t.ts_us,
  }));
}

/** The symbol's candles of one interval: trades grouped by bucket start, the newest `kept` buckets. */
export function referenceCandles(trades: readonly TradeRecord[], symbol: string, iv: ReferenceInterval) {
  const groups = new Map<number, TradeRecord[]>();
  for (const t of trades) {
    if (t.symbol !== symbol) continue;
    const start = t.ts_us - (t.ts_us % iv.lengthUs);
    groups.set(start, [...(groups.get(start) ?? []), t]);
  }
  const all = [...groups].map(([start_us, ts]) => ({
    start_us,
    open: ts[0]!.price,
    high: Math.max(...ts.map((t) => t.price)),
    low: Math.min(...ts.map((t) => t.price)),
    close: ts[ts.length - 1]!.price,
    volume: ts.reduce((s, t) => s + t.qty, 0),
    quote_volume: ts.reduce((s, t) => s + BigInt(t.price) * BigInt(t.qty), 0n).toString(),
    trade_count: ts.length,
  }));
  return all.slice(Math.max(0, all.length - iv.kept));
}

/**
 * The 24-hour ticker at log time `nowUs`: the trades from the start of the minute 1,439 minutes
 * before the one holding nowUs (the window the read models document), and the last trade ever.
 */
export function referenceTicker(trades: readonly TradeRecord[], symbol: string, nowUs: number) {
  const minuteUs = 60_000_000;
  const windowStart = nowUs - (nowUs % minuteUs) - 1_439 * minuteUs;
  const mine = trades.filter((t) => t.symbol === symbol);
  const inWindow = mine.filter((t) => t.ts_us >= windowStart && t.ts_us <= nowUs);
  const lastTrade = mine[mine.length - 1];
  const prices = inWindow.map((t) => t.price);
  const open = inWindow[0]?.price ?? null;
  const last = lastTrade?.price ?? null;
  return {
    symbol,
    now_us: nowUs,
    window_start_us: windowStart,
    open,
    high: prices.length === 0 ? null : Math.max(...prices),
    low: prices.length === 0 ? null : Math.min(...prices),
    last,
    price_change: open === null || last === null ? 0 : last - open,
    volume: inWindow.reduce((s, t) => s + t.qty, 0),
    quote_volume: inWindow.reduce((s, t) => s + BigInt(t.price) * BigInt(t.qty), 0n).toString(),
    trade_count: inWindow.length,
    last_trade_ts_us: lastTrade?.ts_us ?? 0,
  };
}
