// A client's local copies of a book, rebuilt from feed messages: the aggregated L2 book
// (with the checksum check) and the order-by-order L3 book. Pure data structures: the
// FeedClient decides what to do on a gap or a checksum mismatch.

import { BookSide, bookChecksum } from '../book-side.js';
import type { L2Message, L3Message, Level, OrderEntry, SideName } from '../types.js';

export class LocalL2Book {
  readonly bids = new BookSide(true);
  readonly asks = new BookSide(false);
  /** Seq of the last message applied. */
  seq = 0;
  tsUs = 0;

  constructor(readonly symbol: string) {}

  applySnapshot(m: L2Message): void {
    this.bids.clear();
    this.asks.clear();
    this.applyLevels(m);
  }

  /** Applies an update's levels (absolute quantities; 0 removes). The caller checks the seq. */
  applyUpdate(m: L2Message): void {
    this.applyLevels(m);
  }

  private applyLevels(m: L2Message): void {
    for (const l of m.bids) this.bids.set(l[0], l[1], l[2]);
    for (const l of m.asks) this.asks.set(l[0], l[1], l[2]);
    this.seq = m.seq;
    this.tsUs = m.ts_us;
  }

  /** CRC-32 of the top 10 levels (feed/checksum.ts). */
  checksum(): number {
    return bookChecksum(this.bids, this.asks);
  }

  levels(side: SideName, depth?: number): Level[] {
    return (side === 'BUY' ? this.bids : this.asks).levels(depth);
  }

  /** [price, qty] of the best bid / ask, or null. */
  best(side: SideName): [number, number] | null {
    const s = side === 'BUY' ? this.bids : this.asks;
    const p = s.priceAt(0);
    return p === undefined ? null : [p, s.qtyAt(p)];
  }

  clear(): void {
    this.bids.clear();
    this.asks.clear();
    this.seq = 0;
  }
}

interface L3Entry {
  side: SideName;
  price: number;
  qty: number;
}

/**
 * Order by order. Each level is a Map in time priority: Map keeps insertion order, deleting is
 * O(1), an add appends at the tail and a modify (set on an existing key) keeps the place.
 */
export class LocalL3Book {
  private readonly orders = new Map<number, L3Entry>();
  private readonly bidLevels = new Map<number, Map<number, L3Entry>>();
  private readonly askLevels = new Map<number, Map<number, L3Entry>>();
  seq = 0;
  tsUs = 0;
  /** Events that named an order this book does not hold (0 unless the stream is broken). */
  unknownOrders = 0;

  constructor(readonly symbol: string) {}

  get orderCount(): number {
    return this.orders.size;
  }

  applySnapshot(m: L3Message): void {
    this.orders.clear();
    this.bidLevels.clear();
    this.askLevels.clear();
    for (const [id, price, qty] of m.bids ?? []) this.add(id, 'BUY', price, qty);
    for (const [id, price, qty] of m.asks ?? []) this.add(id, 'SELL', price, qty);
    this.seq = m.seq;
    this.tsUs = m.ts_us;
  }

  applyUpdate(m: L3Message): void {
    for (const e of m.events ?? []) {
      switch (e.op) {
        case 'add':
          this.remove(e.order_id);
          this.add(e.order_id, e.side, e.price, e.qty);
          break;
        case 'modify': {
          const o = this.orders.get(e.order_id);
          if (o === undefined) this.unknownOrders++;
          else o.qty = e.qty;
          break;
        }
        case 'remove':
          if (!this.remove(e.order_id)) this.unknownOrders++;
          break;
        case 'execute': {
          const o = this.orders.get(e.order_id);
          if (o === undefined) this.unknownOrders++;
          else if (e.remaining === 0) this.remove(e.order_id);
          else o.qty = e.remaining;
          break;
        }
      }
    }
    this.seq = m.seq;
    this.tsUs = m.ts_us;
  }

  private add(id: number, side: SideName, price: number, qty: number): void {
    const levels = side === 'BUY' ? this.bidLevels : this.askLevels;
    let l = levels.get(price);
    if (l === undefined) levels.set(price, (l = new Map()));
    const o = { side, price, qty };
    l.set(id, o);
    this.orders.set(id, o);
  }

  private remove(id: number): boolean {
    const o = this.orders.get(id);
    if (o === undefined) return false;
    this.orders.delete(id);
    const levels = o.side === 'BUY' ? this.bidLevels : this.askLevels;
    const l = levels.get(o.price)!;
    l.delete(id);
    if (l.size === 0) levels.delete(o.price);
    return true;
  }

  /** Resting orders of a side in priority order: [order_id, price, displayed qty]. */
  ordersOf(side: SideName): OrderEntry[] {
    const levels = side === 'BUY' ? this.bidLevels : this.askLevels;
    const prices = [...levels.keys()].sort(side === 'BUY' ? (a, b) => b - a : (a, b) => a - b);
    const out: OrderEntry[] = [];
    for (const p of prices) for (const [id, o] of levels.get(p)!) out.push([id, p, o.qty]);
    return out;
  }

  /** The aggregated levels this L3 book implies (must equal the L2 book). */
  levels(side: SideName): Level[] {
    const levels = side === 'BUY' ? this.bidLevels : this.askLevels;
    const prices = [...levels.keys()].sort(side === 'BUY' ? (a, b) => b - a : (a, b) => a - b);
    return prices.map((p) => {
      let q = 0;
      for (const o of levels.get(p)!.values()) q += o.qty;
      return [p, q, levels.get(p)!.size];
    });
  }

  clear(): void {
    this.orders.clear();
    this.bidLevels.clear();
    this.askLevels.clear();
    this.seq = 0;
  }
}
