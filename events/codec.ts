// Event records ⇄ protobuf (proto/exchange/v1/events.proto), with protobufjs loaded once
// (keepCase: the records use the proto's snake_case names as they are). Records are plain
// objects with numbers; enums are the proto numbers, which equal the engine's codes
// (engine/types.ts: Side, OrdType, ExecType, OrdStatus, Tif, LiquidityInd — checked when the schema loads).

import path from 'node:path';
import protobuf from 'protobufjs';
import { formatUnits } from '../api/decimal.js';
import {
  ENUMS_AS_CODES,
  reportFields,
  type ExecutionReportFields,
  type InstrumentDecimals,
  type ReportDecimals,
} from '../api/execution-report.js';
import { toGlobalOrderId } from '../api/order-ids.js';
import type { Notional } from '../engine/notional.js';
import {
  ExecType,
  LiquidityInd,
  OrdStatus,
  OrdType,
  Side,
  Tif,
  type ExecReport,
  type ShardConfig,
  type TradeEvent,
} from '../engine/types.js';
import { assertProtobufLongs, notionalOfUint64, uint64Wire, type LongLike } from '../api/exact-uint64.js';
import { packagePath } from '../ops/package-root.js';

// Read from the package root, not next to this file: from dist/ it is the same folder (package-root.ts).
const PROTO_ROOT = packagePath('proto');
export const EVENTS_PROTO_PATH = path.join(PROTO_ROOT, 'exchange/v1/events.proto');

/** Where an event comes from: unique per event, increasing along the shard's history. */
export interface EventOrigin {
  shard: number;
  log_index: number;
  /** The event's position among all engine events of the entry (from 0). */
  position: number;
  /** Engine sequence number of the command that caused it. */
  seq: number;
  ts_us: number;
}

/**
 * exchange.v1.ExecutionReportEvent (topics exchange.orders.v1, exchange.fills.v1): where the
 * event comes from, and the report's fields with enums as the engine's codes. The decimal
 * strings (here and in TradeRecord) are always set by execRecordOf / tradeRecordOf; they are
 * optional because the read models use only the integers (records built by hand in tests omit
 * them, and records published before the fields existed decode with '').
 */
export interface ExecRecord
  extends EventOrigin,
    Omit<ExecutionReportFields<number>, 'cum_notional'>,
    Partial<ReportDecimals> {
  /** Exact: a number up to Number.MAX_SAFE_INTEGER, a bigint above (a wide instrument's, engine/notional.ts). */
  cum_notional: Notional;
}

/** exchange.v1.TradeEvent (topic exchange.trades.v1). */
export interface TradeRecord extends EventOrigin {
  trade_id: number;
  symbol: string;
  price: number;
  qty: number;
  aggressor_side: number;
  /** Global order ids. */
  taker_order_id: number;
  taker_account: number;
  maker_order_id: number;
  maker_account: number;
  /** price and qty in display units (the instrument's decimals). */
  price_decimal?: string;
  qty_decimal?: string;
}

export interface PartitionOffsetRecord {
  topic: string;
  partition: number;
  next_offset: number;
}

/** exchange.v1.PublisherProgress (topic exchange.publisher-progress.v1). */
export interface ProgressRecord {
  shard: number;
  log_index: number;
  seq: number;
  offsets: PartitionOffsetRecord[];
  events_published: number;
  publisher_id: string;
  /** Identity of the log at log_index (publisher/log-identity.ts); absent in records written before them. */
  log_term?: number;
  entry_sha256?: Uint8Array;
  log_time_us?: number;
  /** Kafka cluster id the writing publisher's session started on. */
  cluster_id?: string;
}

/**
 * The decimals of an event's symbol. Every symbol an engine event names is one of the shard's
 * instruments; an unknown one (a config that changed under a log) is written with 0 decimals,
 * so its decimal strings equal its integers rather than being dropped.
 */
export type DecimalsOf = (symbol: string) => InstrumentDecimals | undefined;

const NO_DECIMALS: InstrumentDecimals = { priceDecimals: 0, qtyDecimals: 0 };

/** The decimals of the instruments of shard config `config`, by symbol. */
export function decimalsOfConfig(config: Pick<ShardConfig, 'instruments'>): DecimalsOf {
  const bySymbol = new Map<string, InstrumentDecimals>();
  for (const i of config.instruments)
    bySymbol.set(i.symbol, { priceDecimals: i.priceDecimals, qtyDecimals: i.qtyDecimals });
  return (symbol) => bySymbol.get(symbol);
}

export function execRecordOf(
  shard: number,
  logIndex: number,
  position: number,
  e: ExecReport,
  decimalsOf: DecimalsOf,
): ExecRecord {
  // The gateway's mapping (seq and ts_us included), its enums as codes, plus the origin.
  const r = reportFields(shard, e, ENUMS_AS_CODES, decimalsOf(e.symbol) ?? NO_DECIMALS) as ExecRecord;
  r.shard = shard;
  r.log_index = logIndex;
  r.position = position;
  return r;
}

export function tradeRecordOf(
  shard: number,
  logIndex: number,
  position: number,
  e: TradeEvent,
  decimalsOf: DecimalsOf,
): TradeRecord {
  const d = decimalsOf(e.symbol) ?? NO_DECIMALS;
  return {
    shard,
    log_index: logIndex,
    position,
    seq: e.seq,
    ts_us: e.tsUs,
    trade_id: e.tradeId,
    symbol: e.symbol,
    price: e.price,
    qty: e.qty,
    aggressor_side: e.aggressorSide,
    taker_order_id: toGlobalOrderId(shard, e.takerOrderId),
    taker_account: e.takerAccount,
    maker_order_id: toGlobalOrderId(shard, e.makerOrderId),
    maker_account: e.makerAccount,
    price_decimal: formatUnits(e.price, d.priceDecimals),
    qty_decimal: formatUnits(e.qty, d.qtyDecimals),
  };
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true, arrays: true };

export class EventsCodec {
  readonly root: protobuf.Root;
  private readonly exec: protobuf.Type;
  private readonly trade: protobuf.Type;
  private readonly progress: protobuf.Type;

  constructor(protoPath: string = EVENTS_PROTO_PATH) {
    assertProtobufLongs();
    const root = new protobuf.Root();
    // Imports are relative to proto/ (buf style), not to the importing file.
    root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target));
    root.loadSync(protoPath, { keepCase: true });
    root.resolveAll();
    this.root = root;
    this.exec = root.lookupType('exchange.v1.ExecutionReportEvent');
    this.trade = root.lookupType('exchange.v1.TradeEvent');
    this.progress = root.lookupType('exchange.v1.PublisherProgress');
    // Records carry the engine's enum codes as the proto numbers: they must be the same.
    const same = (enumName: string, prefix: string, codes: Record<string, number>) => {
      const e = root.lookupEnum(`exchange.v1.${enumName}`);
      for (const [name, code] of Object.entries(codes)) {
        if (e.values[`${prefix}_${name}`] !== code)
          throw new Error(`events.proto: ${enumName} ${prefix}_${name} is not ${code} (engine/types.ts)`);
      }
    };
    same('Side', 'SIDE', Side);
    same('OrderType', 'ORDER_TYPE', OrdType);
    same('ExecType', 'EXEC_TYPE', ExecType);
    same('OrderStatus', 'ORDER_STATUS', OrdStatus);
    same('TimeInForce', 'TIME_IN_FORCE', Tif);
    same('LastLiquidityInd', 'LAST_LIQUIDITY_IND', LiquidityInd);
  }

  private static shared: EventsCodec | undefined;
  /** The codec of proto/exchange/v1/events.proto, loaded once per process. */
  static get(): EventsCodec {
    return (EventsCodec.shared ??= new EventsCodec());
  }

  /** cum_notional exactly (a bigint as a uint64's halves); throws a RangeError for one outside [0, 2^64). */
  encodeExec(r: ExecRecord): Uint8Array {
    const n = r.cum_notional;
    const value = typeof n === 'bigint' ? { ...r, cum_notional: uint64Wire(n) } : r;
    return this.exec.encode(value as unknown as Record<string, unknown>).finish();
  }

  encodeTrade(r: TradeRecord): Uint8Array {
    return this.trade.encode(r as unknown as Record<string, unknown>).finish();
  }

  encodeProgress(r: ProgressRecord): Uint8Array {
    return this.progress.encode(r as unknown as Record<string, unknown>).finish();
  }

  /** Throws on bytes that are not an ExecutionReportEvent. cum_notional exact (a bigint above 2^53). */
  decodeExec(bytes: Uint8Array): ExecRecord {
    const m = this.exec.decode(bytes);
    const r = this.exec.toObject(m, TO_OBJECT) as ExecRecord;
    r.cum_notional = notionalOfUint64((m as unknown as { cum_notional: number | LongLike }).cum_notional);
    return r;
  }

  decodeTrade(bytes: Uint8Array): TradeRecord {
    return this.trade.toObject(this.trade.decode(bytes), TO_OBJECT) as TradeRecord;
  }

  decodeProgress(bytes: Uint8Array): ProgressRecord {
    return this.progress.toObject(this.progress.decode(bytes), TO_OBJECT) as ProgressRecord;
  }
}
