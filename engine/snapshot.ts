// Versioned binary snapshot of an engine's complete state, and the state hash.
// The image is canonical: it depends only on the state the events imply (orders in
// book priority order, stops in trigger order, counters), never on slot numbers or
// map iteration order, so two replicas — or a replay — at the same seq hash the same.
//
// Layout (little-endian), version 1:
//   u32 magic 'MBS1' | u16 version | u16 shardId | u16 instrumentCount | symbols (u8 len + ASCII)
//   f64 lastSeq | f64 nowUs | f64 execIdLast | f64 tradeIdLast
//   per instrument: u8 halted | f64 referencePrice | f64 lastTradePrice
//     bids, asks: u32 levelCount, per level (best first): u32 orderCount, orders (FIFO order)
//     buy stops, sell stops: u32 count, orders (array order)
//   u32 accountCount, per account (ascending id, only those differing from configuration): f64 id | u8 stp | u8 blocked
//   order: f64 orderId | f64 account | u8 side | u8 ordType | u8 tif | u8 postOnly | u8 stp
//          f64 price | f64 stopPrice | f64 orderQty | f64 cumQty | f64 cumNotional
//          (a notional above 2^53 - 1, only a wide instrument's (notional.ts): f64 -(lo + 1), then
//          f64 hi. A notional is never negative, so the form tells itself apart whatever the
//          configuration says, and every other order's image is as before)
//          f64 displayQty | f64 visibleQty | f64 expireTsUs | u8 len + clOrdId (ASCII)

import { createHash } from 'node:crypto';
import { Engine, type Instrument, type RestoredOrder } from './engine.js';
import { NIL } from './order-store.js';
import type { Side, OrdType, PostOnly, ShardConfig, Stp, Tif } from './types.js';

const MAGIC = 0x3153424d; // 'MBS1'
export const SNAPSHOT_VERSION = 1;

class Writer {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  ascii(s: string): void {
    if (s.length > 255) throw new Error(`snapshot: string too long (${s.length})`);
    this.u8(s.length);
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.length++] = s.charCodeAt(i) & 0x7f;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

class Reader {
  private pos = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error(`snapshot: truncated at byte ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  ascii(): string {
    const n = this.u8();
    this.need(n);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.buf[this.pos++]!);
    return s;
  }
  get done(): boolean {
    return this.pos === this.buf.length;
  }
}

function writeOrder(w: Writer, e: Engine, o: number): void {
  const s = e.orders;
  w.f64(s.orderId[o]!);
  w.f64(s.account[o]!);
  w.u8(s.side[o]!);
  w.u8(s.ordType[o]!);
  w.u8(s.tif[o]!);
  w.u8(s.postOnly[o]!);
  w.u8(s.stp[o]!);
  w.f64(s.price[o]!);
  w.f64(s.stopPrice[o]!);
  w.f64(s.orderQty[o]!);
  w.f64(s.cumQty[o]!);
  const hi = s.cumNotionalHi[o]!;
  if (hi === 0) {
    w.f64(s.cumNotional[o]!);
  } else {
    w.f64(-(s.cumNotional[o]! + 1));
    w.f64(hi);
  }
  w.f64(s.displayQty[o]!);
  w.f64(s.visibleQty[o]!);
  w.f64(s.expireTsUs[o]!);
  w.ascii(s.clOrdId[o]!);
}

/** An order's cumNotional as [lo, hi] (see the layout: a negative first f64 announces the high limb). */
function readNotional(r: Reader, inst: Instrument): [number, number] {
  const first = r.f64();
  if (!(first < 0)) return [first, 0];
  const hi = r.f64();
  if (!inst.wide)
    throw new Error(`snapshot: a notional above 2^53 on ${inst.cfg.symbol}, which is not wide in this configuration`);
  return [-first - 1, hi];
}

function readOrder(r: Reader, inst: Instrument, pending: boolean): RestoredOrder {
  // In wire order (the layout above).
  const orderId = r.f64();
  const account = r.f64();
  const side = r.u8() as Side;
  const ordType = r.u8() as OrdType;
  const tif = r.u8() as Tif;
  const postOnly = r.u8() as PostOnly;
  const stp = r.u8() as Stp;
  const price = r.f64();
  const stopPrice = r.f64();
  const orderQty = r.f64();
  const cumQty = r.f64();
  const [cumNotional, cumNotionalHi] = readNotional(r, inst);
  const displayQty = r.f64();
  const visibleQty = r.f64();
  const expireTsUs = r.f64();
  const clOrdId = r.ascii();
  const instrument = inst.index;
  return {
    orderId,
    account,
    instrument,
    side,
    ordType,
    tif,
    postOnly,
    stp,
    price,
    stopPrice,
    orderQty,
    cumQty,
    cumNotional,
    cumNotionalHi,
    displayQty,
    visibleQty,
    expireTsUs,
    clOrdId,
    pending,
  };
}

/** The STP mode an account has when nothing was said about it since configuration. */
function configuredStp(config: ShardConfig, id: number): Stp {
  return config.accounts.find((a) => a.id === id)?.stp ?? config.defaultStp;
}

export function writeSnapshot(e: Engine): Uint8Array {
  const w = new Writer();
  w.u32(MAGIC);
  w.u16(SNAPSHOT_VERSION);
  w.u16(e.config.shardId);
  w.u16(e.instruments.length);
  for (const inst of e.instruments) w.ascii(inst.cfg.symbol);
  w.f64(e.lastSeq);
  w.f64(e.nowUs);
  w.f64(e.execIdLast);
  w.f64(e.tradeIdLast);
  const s = e.orders;
  const lv = e.levels;
  for (const inst of e.instruments) {
    w.u8(inst.halted ? 1 : 0);
    w.f64(inst.referencePrice);
    w.f64(inst.lastTradePrice);
    for (const ladder of [inst.bids, inst.asks]) {
      w.u32(ladder.size);
      for (let k = ladder.size - 1; k >= 0; k--) {
        const l = ladder.ids[k]!;
        w.u32(lv.count[l]!);
        for (let o = lv.head[l]!; o !== NIL; o = s.next[o]!) writeOrder(w, e, o);
      }
    }
    for (const stops of [inst.buyStops, inst.sellStops]) {
      w.u32(stops.length);
      for (const o of stops) writeOrder(w, e, o);
    }
  }
  const accounts = [...e.accounts.values()]
    .filter((a) => a.blocked || a.stp !== configuredStp(e.config, a.id))
    .sort((a, b) => a.id - b.id);
  w.u32(accounts.length);
  for (const a of accounts) {
    w.f64(a.id);
    w.u8(a.stp);
    w.u8(a.blocked ? 1 : 0);
  }
  return w.bytes();
}

export function readSnapshot(config: ShardConfig, bytes: Uint8Array): Engine {
  const r = new Reader(bytes);
  if (r.u32() !== MAGIC) throw new Error('snapshot: bad magic (not an engine snapshot)');
  const version = r.u16();
  if (version !== SNAPSHOT_VERSION)
    throw new Error(`snapshot: version ${version} is not supported (expected ${SNAPSHOT_VERSION})`);
  const shardId = r.u16();
  if (shardId !== config.shardId)
    throw new Error(`snapshot: shard ${shardId} does not match configured shard ${config.shardId}`);
  const e = new Engine(config);
  const count = r.u16();
  if (count !== e.instruments.length)
    throw new Error(`snapshot: ${count} instruments, configuration has ${e.instruments.length}`);
  for (const inst of e.instruments) {
    const symbol = r.ascii();
    if (symbol !== inst.cfg.symbol)
      throw new Error(`snapshot: instrument ${symbol} where configuration has ${inst.cfg.symbol}`);
  }
  e.lastSeq = r.f64();
  e.nowUs = r.f64();
  e.execIdLast = r.f64();
  e.tradeIdLast = r.f64();
  for (const inst of e.instruments) {
    inst.halted = r.u8() === 1;
    inst.referencePrice = r.f64();
    inst.lastTradePrice = r.f64();
    for (let side = 0; side < 2; side++) {
      const levelCount = r.u32();
      for (let k = 0; k < levelCount; k++) {
        const orderCount = r.u32();
        for (let j = 0; j < orderCount; j++) e.restoreOrder(readOrder(r, inst, false));
      }
    }
    for (let side = 0; side < 2; side++) {
      const n = r.u32();
      for (let j = 0; j < n; j++) e.restoreOrder(readOrder(r, inst, true));
    }
  }
  const accounts = r.u32();
  for (let k = 0; k < accounts; k++) {
    const id = r.f64();
    const stp = r.u8() as Stp;
    const blocked = r.u8() === 1;
    const a = e.accountOrCreate(id);
    a.stp = stp;
    a.blocked = blocked;
  }
  if (!r.done) throw new Error('snapshot: trailing bytes');
  return e;
}

/** SHA-256 (hex) of a snapshot: the state hash. */
export function hashSnapshot(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 of the engine's snapshot: equal on every replica and replay at the same seq. */
export function engineStateHash(e: Engine): string {
  return hashSnapshot(writeSnapshot(e));
}
