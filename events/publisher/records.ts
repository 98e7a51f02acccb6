// Engine events of one applied log entry → Kafka records. Pure (no I/O): the publisher calls
// it after each ShardStateMachine.apply(), with the state machine's event buffer; tests call it
// on events replayed from a log.
//
//   exec  → exchange.orders.v1 (key = account); also exchange.fills.v1 when last_qty > 0
//   trade → exchange.trades.v1 (key = symbol)
//   other kinds (book, cancel_reject, mass_cancel, status, command_reject) are not published
//
// Partitions are chosen here (Kafka's murmur2 of the key, events/partitioner.ts), so the
// publisher knows where every record goes.

import type { EventBuffer } from '../../engine/event-buffer.js';
import { EventKind, type ExecReport, type TradeEvent } from '../../engine/types.js';
import { EventsCodec, execRecordOf, tradeRecordOf, type DecimalsOf } from '../codec.js';
import { partitionOf } from '../partitioner.js';
import {
  HEADER_LOG_INDEX,
  HEADER_POSITION,
  HEADER_SEQ,
  HEADER_SHARD,
  HEADER_TYPE,
  RecordType,
  TOPIC_FILLS,
  TOPIC_ORDERS,
  TOPIC_TRADES,
  type EventTopic,
} from '../topics.js';
import { KEY_CACHE_ENTRIES_MAX } from './limits.js';

export interface OutRecord {
  topic: EventTopic;
  partition: number;
  key: Buffer;
  value: Buffer;
  headers: Record<string, string>;
}

interface CachedKey {
  bytes: Buffer;
  partition: number;
}

export class RecordBuilder {
  private readonly codec = EventsCodec.get();
  private readonly accountKeys = new Map<number, { bytes: Buffer; orders: number; fills: number }>();
  private readonly symbolKeys = new Map<string, CachedKey>();
  private readonly shardHeader: string;

  constructor(
    readonly shard: number,
    /** Partition count of each event topic. */
    readonly partitions: Readonly<Record<EventTopic, number>>,
    /** Each instrument's decimals, for the records' decimal strings (codec.ts decimalsOfConfig). */
    private readonly decimalsOf: DecimalsOf,
  ) {
    this.shardHeader = String(shard);
  }

  /**
   * Appends the records of the entry at `logIndex` whose events are rows [0, events.count) of
   * `events`; a record's position is its event's row. Returns how many it appended.
   */
  addEntry(logIndex: number, events: EventBuffer, out: OutRecord[]): number {
    const before = out.length;
    const n = events.count;
    for (let i = 0; i < n; i++) {
      const kind = events.kind[i];
      if (kind === EventKind.EXEC) this.addExec(logIndex, i, events.event(i) as ExecReport, out);
      else if (kind === EventKind.TRADE) this.addTrade(logIndex, i, events.event(i) as TradeEvent, out);
    }
    return out.length - before;
  }

  private headers(type: RecordType, logIndex: number, position: number, seq: number): Record<string, string> {
    return {
      [HEADER_TYPE]: type,
      [HEADER_SHARD]: this.shardHeader,
      [HEADER_LOG_INDEX]: String(logIndex),
      [HEADER_POSITION]: String(position),
      [HEADER_SEQ]: String(seq),
    };
  }

  private addExec(logIndex: number, position: number, e: ExecReport, out: OutRecord[]): void {
    const value = Buffer.from(this.codec.encodeExec(execRecordOf(this.shard, logIndex, position, e, this.decimalsOf)));
    const key = this.accountKey(e.account);
    const headers = this.headers(RecordType.EXEC, logIndex, position, e.seq);
    out.push({ topic: TOPIC_ORDERS, partition: key.orders, key: key.bytes, value, headers });
    if (e.lastQty > 0) out.push({ topic: TOPIC_FILLS, partition: key.fills, key: key.bytes, value, headers });
  }

  private addTrade(logIndex: number, position: number, e: TradeEvent, out: OutRecord[]): void {
    const value = Buffer.from(
      this.codec.encodeTrade(tradeRecordOf(this.shard, logIndex, position, e, this.decimalsOf)),
    );
    const key = this.symbolKey(e.symbol);
    out.push({
      topic: TOPIC_TRADES,
      partition: key.partition,
      key: key.bytes,
      value,
      headers: this.headers(RecordType.TRADE, logIndex, position, e.seq),
    });
  }

  private accountKey(account: number): { bytes: Buffer; orders: number; fills: number } {
    let k = this.accountKeys.get(account);
    if (k === undefined) {
      if (this.accountKeys.size >= KEY_CACHE_ENTRIES_MAX) this.accountKeys.clear();
      const bytes = Buffer.from(String(account), 'utf8');
      k = {
        bytes,
        orders: partitionOf(bytes, this.partitions[TOPIC_ORDERS]),
        fills: partitionOf(bytes, this.partitions[TOPIC_FILLS]),
      };
      this.accountKeys.set(account, k);
    }
    return k;
  }

  private symbolKey(symbol: string): CachedKey {
    let k = this.symbolKeys.get(symbol);
    if (k === undefined) {
      if (this.symbolKeys.size >= KEY_CACHE_ENTRIES_MAX) this.symbolKeys.clear();
      const bytes = Buffer.from(symbol, 'utf8');
      k = { bytes, partition: partitionOf(bytes, this.partitions[TOPIC_TRADES]) };
      this.symbolKeys.set(symbol, k);
    }
    return k;
  }
}
