// The engine's output. Events are written column-wise into typed arrays that are
// reused across commands, so the hot path allocates nothing per event (a resting
// book of any size costs the GC nothing either). Consumers read columns directly
// (the replicator, the feed) or materialize objects at the edge with toEvents().

import {
  EventKind,
  type EngineEvent,
  type ExecType,
  type OrdStatus,
  type OrdType,
  type Reason,
  type Side,
  type Stp,
  type CxlRejResponseTo,
  type InstrumentStatus,
  type LiquidityInd,
  type Tif,
} from './types.js';

import { notionalValue } from './notional.js';

const CAPACITY_INITIAL = 1024;

export class EventBuffer {
  /** Number of events written since the last clear(). */
  count = 0;
  capacity = 0;

  kind!: Uint8Array;
  seq!: Float64Array;
  tsUs!: Float64Array;
  /** exec: execId; trade: tradeId */
  id!: Float64Array;
  /** exec/cancel_reject: order id; trade: taker order id */
  orderId!: Float64Array;
  /** trade: maker order id */
  otherOrderId!: Float64Array;
  /** exec/cancel_reject/mass_cancel/account_status: account; trade: taker account */
  account!: Float64Array;
  /** trade: maker account */
  otherAccount!: Float64Array;
  side!: Uint8Array;
  /** exec: order type; account_status: STP mode */
  ordType!: Uint8Array;
  execType!: Uint8Array;
  ordStatus!: Uint8Array;
  reason!: Uint8Array;
  /** exec: working price; trade/book: price; instrument_status: reference price */
  price!: Float64Array;
  stopPrice!: Float64Array;
  /** exec: orderQty; trade: qty; book: aggregate qty */
  qty!: Float64Array;
  cumQty!: Float64Array;
  leavesQty!: Float64Array;
  lastQty!: Float64Array;
  lastPx!: Float64Array;
  /** exec: cumNotional, the low limb (the whole value below 2^53; notional.ts) */
  cumNotional!: Float64Array;
  /** exec: cumNotional's high limb, in units of 2^53 (0 but on a wide instrument's large orders) */
  cumNotionalHi!: Float64Array;
  displayQty!: Float64Array;
  /** exec: tradeId; book: order count; mass_cancel/account_status: canceled count;
   *  cancel_reject: responseTo; instrument_status: status */
  aux!: Float64Array;
  /** account_status: blocked (1/0) */
  flag!: Uint8Array;
  /** exec: the order's time in force (0: none, on some rejects) */
  tif!: Uint8Array;
  /** exec: LastLiquidityInd on TRADE reports (1 added: maker, 2 removed: taker), 0 otherwise */
  liquidity!: Uint8Array;
  symbol: string[] = [];
  clOrdId: string[] = [];
  origClOrdId: string[] = [];

  constructor(capacity = CAPACITY_INITIAL) {
    this.allocate(capacity);
  }

  clear(): void {
    this.count = 0;
  }

  /** Reserves the next row and returns its index; grows (doubling) when full. */
  next(kind: EventKind, seq: number, tsUs: number): number {
    if (this.count === this.capacity) this.allocate(this.capacity * 2);
    const i = this.count++;
    this.kind[i] = kind;
    this.seq[i] = seq;
    this.tsUs[i] = tsUs;
    return i;
  }

  private allocate(capacity: number): void {
    const f64 = (old: Float64Array | undefined) => grow(Float64Array, old, capacity);
    const u8 = (old: Uint8Array | undefined) => grow(Uint8Array, old, capacity);
    this.kind = u8(this.kind);
    this.seq = f64(this.seq);
    this.tsUs = f64(this.tsUs);
    this.id = f64(this.id);
    this.orderId = f64(this.orderId);
    this.otherOrderId = f64(this.otherOrderId);
    this.account = f64(this.account);
    this.otherAccount = f64(this.otherAccount);
    this.side = u8(this.side);
    this.ordType = u8(this.ordType);
    this.execType = u8(this.execType);
    this.ordStatus = u8(this.ordStatus);
    this.reason = u8(this.reason);
    this.price = f64(this.price);
    this.stopPrice = f64(this.stopPrice);
    this.qty = f64(this.qty);
    this.cumQty = f64(this.cumQty);
    this.leavesQty = f64(this.leavesQty);
    this.lastQty = f64(this.lastQty);
    this.lastPx = f64(this.lastPx);
    this.cumNotional = f64(this.cumNotional);
    this.cumNotionalHi = f64(this.cumNotionalHi);
    this.displayQty = f64(this.displayQty);
    this.aux = f64(this.aux);
    this.flag = u8(this.flag);
    this.tif = u8(this.tif);
    this.liquidity = u8(this.liquidity);
    this.capacity = capacity;
  }

  /** Materializes event i as an object (for the edges: JSON, tests, tools). */
  event(i: number): EngineEvent {
    const seq = this.seq[i]!;
    const tsUs = this.tsUs[i]!;
    switch (this.kind[i] as EventKind) {
      case EventKind.EXEC:
        return this.execEvent(i, seq, tsUs);
      case EventKind.TRADE:
        return this.tradeEvent(i, seq, tsUs);
      case EventKind.BOOK:
        return {
          kind: 'book',
          seq,
          tsUs,
          symbol: this.symbol[i]!,
          side: this.side[i] as Side,
          price: this.price[i]!,
          qty: this.qty[i]!,
          orderCount: this.aux[i]!,
        };
      case EventKind.CANCEL_REJECT:
        return {
          kind: 'cancel_reject',
          seq,
          tsUs,
          account: this.account[i]!,
          orderId: this.orderId[i]!,
          clOrdId: this.clOrdId[i]!,
          responseTo: this.aux[i] as CxlRejResponseTo,
          reason: this.reason[i] as Reason,
        };
      case EventKind.MASS_CANCEL:
        return {
          kind: 'mass_cancel',
          seq,
          tsUs,
          account: this.account[i]!,
          symbol: this.symbol[i]!,
          side: this.side[i] as Side | 0,
          canceledCount: this.aux[i]!,
        };
      case EventKind.INSTRUMENT_STATUS:
        return {
          kind: 'instrument_status',
          seq,
          tsUs,
          symbol: this.symbol[i]!,
          status: this.aux[i] as InstrumentStatus,
          referencePrice: this.price[i]!,
        };
      case EventKind.ACCOUNT_STATUS:
        return {
          kind: 'account_status',
          seq,
          tsUs,
          account: this.account[i]!,
          blocked: this.flag[i] === 1,
          stp: this.ordType[i] as Stp,
          canceledCount: this.aux[i]!,
        };
      case EventKind.COMMAND_REJECT:
        return { kind: 'command_reject', seq, tsUs, command: this.symbol[i]!, reason: this.reason[i] as Reason };
      default:
        throw new Error(`event buffer: unknown kind ${this.kind[i]} at row ${i}`);
    }
  }

  /** Row i as an execution report (with origClOrdId only when the row has one: a replace). */
  private execEvent(i: number, seq: number, tsUs: number): EngineEvent {
    return {
      kind: 'exec',
      seq,
      tsUs,
      execId: this.id[i]!,
      orderId: this.orderId[i]!,
      clOrdId: this.clOrdId[i]!,
      ...(this.origClOrdId[i] !== undefined && this.origClOrdId[i] !== '' ? { origClOrdId: this.origClOrdId[i]! } : {}),
      account: this.account[i]!,
      symbol: this.symbol[i]!,
      side: this.side[i] as Side,
      ordType: this.ordType[i] as OrdType,
      tif: this.tif[i] as Tif | 0,
      execType: this.execType[i] as ExecType,
      ordStatus: this.ordStatus[i] as OrdStatus,
      price: this.price[i]!,
      stopPrice: this.stopPrice[i]!,
      orderQty: this.qty[i]!,
      cumQty: this.cumQty[i]!,
      leavesQty: this.leavesQty[i]!,
      lastQty: this.lastQty[i]!,
      lastPx: this.lastPx[i]!,
      cumNotional: notionalValue(this.cumNotional[i]!, this.cumNotionalHi[i]!),
      displayQty: this.displayQty[i]!,
      reason: this.reason[i] as Reason,
      tradeId: this.aux[i]!,
      lastLiquidityInd: this.liquidity[i] as LiquidityInd | 0,
    };
  }

  /** Row i as a trade. */
  private tradeEvent(i: number, seq: number, tsUs: number): EngineEvent {
    return {
      kind: 'trade',
      seq,
      tsUs,
      tradeId: this.id[i]!,
      symbol: this.symbol[i]!,
      price: this.price[i]!,
      qty: this.qty[i]!,
      aggressorSide: this.side[i] as Side,
      takerOrderId: this.orderId[i]!,
      takerAccount: this.account[i]!,
      makerOrderId: this.otherOrderId[i]!,
      makerAccount: this.otherAccount[i]!,
    };
  }

  toEvents(): EngineEvent[] {
    const events: EngineEvent[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) events[i] = this.event(i);
    return events;
  }
}

type TypedArrayCtor<T> = { new (n: number): T };
function grow<T extends Float64Array | Uint8Array>(ctor: TypedArrayCtor<T>, old: T | undefined, capacity: number): T {
  const next = new ctor(capacity);
  if (old !== undefined) next.set(old);
  return next;
}
