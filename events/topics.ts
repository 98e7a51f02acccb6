// The Kafka contract of the events part: topic names, record headers, default partition
// counts. Values are protobuf (proto/exchange/v1/events.proto, events/codec.ts); keys keep the
// order that matters: per account for orders and fills, per instrument for trades.

/** Execution reports, every one (key = account): order status, open orders. */
export const TOPIC_ORDERS = 'exchange.orders.v1';
/** Execution reports with last_qty > 0 (key = account): fills, positions, balances. */
export const TOPIC_FILLS = 'exchange.fills.v1';
/** Trades (key = symbol): candles. */
export const TOPIC_TRADES = 'exchange.trades.v1';
/** One PublisherProgress per acknowledged batch (key = shard): the publisher's resume point, read-your-writes marks. */
export const TOPIC_PROGRESS = 'exchange.publisher-progress.v1';

export const EVENT_TOPICS = [TOPIC_ORDERS, TOPIC_FILLS, TOPIC_TRADES] as const;
export type EventTopic = (typeof EVENT_TOPICS)[number];
export const ALL_TOPICS = [...EVENT_TOPICS, TOPIC_PROGRESS] as const;

/** Partitions of an event topic the publisher creates (an existing topic keeps its own count). */
export const EVENT_TOPIC_PARTITIONS_DEFAULT = 4;
/**
 * The progress topic has one partition: the publisher reads its last records back at start,
 * and one partition keeps that a bounded scan from the end.
 */
export const PROGRESS_TOPIC_PARTITIONS = 1;

/** Record headers (decimal strings): the event's identity, readable without decoding the value. */
export const HEADER_SHARD = 'mb-shard';
export const HEADER_LOG_INDEX = 'mb-log-index';
export const HEADER_POSITION = 'mb-position';
export const HEADER_SEQ = 'mb-seq';
/** 'exec' | 'trade' | 'progress': the value's message type. */
export const HEADER_TYPE = 'mb-type';

export const RecordType = { EXEC: 'exec', TRADE: 'trade', PROGRESS: 'progress' } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];
