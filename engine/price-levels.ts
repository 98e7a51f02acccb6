// Price levels. A level is a FIFO of orders (intrusive prev/next links in the
// OrderStore, so unlinking an order is O(1)). Each side keeps its levels in a
// ladder of typed arrays sorted so that the best price is at the END: the hot
// operations (match at best, insert near best, remove the emptied best) touch the
// tail, lookups are a binary search, and nothing allocates.

import { NIL, type OrderStore } from './order-store.js';

const LEVEL_CAPACITY_INITIAL = 256;

export class LevelPool {
  capacity = 0;
  private freeTop = 0;
  private free!: Int32Array;
  price!: Float64Array;
  /** Aggregate displayed quantity. */
  qty!: Float64Array;
  count!: Int32Array;
  head!: Int32Array;
  tail!: Int32Array;

  constructor() {
    this.grow(LEVEL_CAPACITY_INITIAL);
  }

  alloc(price: number): number {
    if (this.freeTop === 0) this.grow(this.capacity * 2);
    const l = this.free[--this.freeTop]!;
    this.price[l] = price;
    this.qty[l] = 0;
    this.count[l] = 0;
    this.head[l] = NIL;
    this.tail[l] = NIL;
    return l;
  }

  release(l: number): void {
    this.free[this.freeTop++] = l;
  }

  /** Appends order `o` at the tail of level `l`. */
  append(orders: OrderStore, l: number, o: number): void {
    const t = this.tail[l]!;
    orders.level[o] = l;
    orders.prev[o] = t;
    orders.next[o] = NIL;
    if (t === NIL) this.head[l] = o;
    else orders.next[t] = o;
    this.tail[l] = o;
    this.count[l]!++;
    this.qty[l]! += orders.visibleQty[o]!;
  }

  /** Unlinks order `o` from its level (its displayed quantity leaves the aggregate). */
  unlink(orders: OrderStore, o: number): void {
    const l = orders.level[o]!;
    const p = orders.prev[o]!;
    const n = orders.next[o]!;
    if (p === NIL) this.head[l] = n;
    else orders.next[p] = n;
    if (n === NIL) this.tail[l] = p;
    else orders.prev[n] = p;
    orders.level[o] = NIL;
    orders.prev[o] = NIL;
    orders.next[o] = NIL;
    this.count[l]!--;
    this.qty[l]! -= orders.visibleQty[o]!;
  }

  private grow(capacity: number): void {
    const old = this.capacity;
    const f64 = (a?: Float64Array) => {
      const n = new Float64Array(capacity);
      if (a) n.set(a);
      return n;
    };
    const i32 = (a?: Int32Array) => {
      const n = new Int32Array(capacity);
      if (a) n.set(a);
      return n;
    };
    this.price = f64(this.price);
    this.qty = f64(this.qty);
    this.count = i32(this.count);
    this.head = i32(this.head);
    this.tail = i32(this.tail);
    const free = new Int32Array(capacity);
    if (this.free !== undefined) free.set(this.free.subarray(0, this.freeTop));
    for (let l = capacity - 1; l >= old; l--) free[this.freeTop++] = l;
    this.free = free;
    this.capacity = capacity;
  }
}

/** One side of one instrument's book. */
export class Ladder {
  /** Level ids sorted worst → best (best at index size-1), and their prices alongside for the search. */
  ids = new Int32Array(64);
  private prices = new Float64Array(64);
  size = 0;

  constructor(
    readonly isBid: boolean,
    private readonly pool: LevelPool,
  ) {}

  /** Best level id, or NIL. */
  best(): number {
    return this.size === 0 ? NIL : this.ids[this.size - 1]!;
  }

  /** Position of the first level that is not worse than `price` (binary search; no allocation). */
  private lowerBound(price: number): number {
    const prices = this.prices;
    let lo = 0;
    let hi = this.size;
    if (this.isBid) {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (prices[mid]! < price) lo = mid + 1;
        else hi = mid;
      }
    } else {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (prices[mid]! > price) lo = mid + 1;
        else hi = mid;
      }
    }
    return lo;
  }

  find(price: number): number {
    const k = this.lowerBound(price);
    return k < this.size && this.prices[k] === price ? this.ids[k]! : NIL;
  }

  /** Level at `price`, created if absent. */
  getOrCreate(price: number): number {
    // Most activity is at the best price: check it before searching.
    const n = this.size;
    if (n > 0 && this.prices[n - 1] === price) return this.ids[n - 1]!;
    const k = this.lowerBound(price);
    if (k < n && this.prices[k] === price) return this.ids[k]!;
    if (n === this.ids.length) this.grow();
    const l = this.pool.alloc(price);
    if (k < n) {
      this.ids.copyWithin(k + 1, k, n);
      this.prices.copyWithin(k + 1, k, n);
    }
    this.ids[k] = l;
    this.prices[k] = price;
    this.size = n + 1;
    return l;
  }

  /** Removes an empty level. */
  remove(l: number): void {
    const n = this.size;
    let k = n - 1;
    if (this.ids[k] !== l) {
      k = this.lowerBound(this.pool.price[l]!);
      if (this.ids[k] !== l) throw new Error(`ladder: level ${l} at price ${this.pool.price[l]} not found`);
      this.ids.copyWithin(k, k + 1, n);
      this.prices.copyWithin(k, k + 1, n);
    }
    this.size = n - 1;
    this.pool.release(l);
  }

  private grow(): void {
    const ids = new Int32Array(this.ids.length * 2);
    ids.set(this.ids);
    const prices = new Float64Array(this.prices.length * 2);
    prices.set(this.prices);
    this.ids = ids;
    this.prices = prices;
  }
}
