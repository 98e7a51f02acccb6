// One side of an aggregated (L2) book: price → (displayed qty, order count), with the prices
// kept sorted so that the best is at the END of the array (as in the engine's ladder): a
// change near the touch, the common case, moves few elements. Shared by the server's
// projector and the client's local book, so both compute the checksum from the same walk.

import { CHECKSUM_LEVELS, crc32 } from './checksum.js';
import type { Level } from './types.js';

interface Entry {
  qty: number;
  count: number;
}

export class BookSide {
  private readonly byPrice = new Map<number, Entry>();
  /** Bids ascending, asks descending: best last. */
  private readonly prices: number[] = [];

  constructor(readonly isBid: boolean) {}

  get size(): number {
    return this.prices.length;
  }

  /** Sets a level to an absolute quantity; qty 0 removes it. */
  set(price: number, qty: number, orderCount: number): void {
    const e = this.byPrice.get(price);
    if (qty === 0) {
      if (e === undefined) return;
      this.byPrice.delete(price);
      this.prices.splice(this.indexOf(price), 1);
      return;
    }
    if (e !== undefined) {
      e.qty = qty;
      e.count = orderCount;
      return;
    }
    this.byPrice.set(price, { qty, count: orderCount });
    this.prices.splice(this.insertionPoint(price), 0, price);
  }

  qtyAt(price: number): number {
    return this.byPrice.get(price)?.qty ?? 0;
  }

  countAt(price: number): number {
    return this.byPrice.get(price)?.count ?? 0;
  }

  /** Price of the k-th best level (0 = best); undefined past the end. */
  priceAt(k: number): number | undefined {
    return this.prices[this.prices.length - 1 - k];
  }

  /** Levels best first, at most `depth`. */
  levels(depth = Number.MAX_SAFE_INTEGER): Level[] {
    const n = Math.min(depth, this.prices.length);
    const out: Level[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const p = this.prices[this.prices.length - 1 - k]!;
      const e = this.byPrice.get(p)!;
      out[k] = [p, e.qty, e.count];
    }
    return out;
  }

  clear(): void {
    this.byPrice.clear();
    this.prices.length = 0;
  }

  /** `a` sorts before `b` (further from the touch). */
  private before(a: number, b: number): boolean {
    return this.isBid ? a < b : a > b;
  }

  private insertionPoint(price: number): number {
    let lo = 0;
    let hi = this.prices.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.before(this.prices[mid]!, price)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOf(price: number): number {
    const i = this.insertionPoint(price);
    if (this.prices[i] !== price) throw new Error(`book side: price ${price} in the map but not in the ladder`);
    return i;
  }
}

/** The l2 checksum (feed/checksum.ts) of a book held as two sides, without building level arrays. */
export function bookChecksum(bids: BookSide, asks: BookSide): number {
  let s = '';
  for (let k = 0; k < CHECKSUM_LEVELS; k++) {
    const b = bids.priceAt(k);
    const a = asks.priceAt(k);
    if (b === undefined && a === undefined) break;
    if (b !== undefined) s += (s.length === 0 ? '' : ':') + b + ':' + bids.qtyAt(b);
    if (a !== undefined) s += (s.length === 0 ? '' : ':') + a + ':' + asks.qtyAt(a);
  }
  return crc32(s);
}
