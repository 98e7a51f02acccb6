// Price levels. A level is a FIFO of orders (intrusive prev/next links in the
// OrderStore, so unlinking an order is O(1)). Each side keeps its levels in a
// ladder sorted so that the best price is at the END: the hot operations (match
// at best, insert near best, remove the emptied best) touch the tail of the array.

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
  /** Level ids sorted worst → best (best at the end). */
  readonly levels: number[] = [];
  private readonly byPrice = new Map<number, number>();

  constructor(
    readonly isBid: boolean,
    private readonly pool: LevelPool,
  ) {}

  get size(): number {
    return this.levels.length;
  }

  /** Best level id, or NIL. */
  best(): number {
    const n = this.levels.length;
    return n === 0 ? NIL : this.levels[n - 1]!;
  }

  find(price: number): number {
    const l = this.byPrice.get(price);
    return l === undefined ? NIL : l;
  }

  /** Level at `price`, created if absent. */
  getOrCreate(price: number): number {
    const found = this.byPrice.get(price);
    if (found !== undefined) return found;
    const l = this.pool.alloc(price);
    this.byPrice.set(price, l);
    const levels = this.levels;
    // Position: first index whose price is "better" than `price`; scan from the best end
    // with binary search (levels are sorted worst → best).
    let lo = 0;
    let hi = levels.length;
    const prices = this.pool.price;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = prices[levels[mid]!]!;
      if (this.isBid ? p < price : p > price) lo = mid + 1;
      else hi = mid;
    }
    if (lo === levels.length) levels.push(l);
    else levels.splice(lo, 0, l);
    return l;
  }

  /** Removes an empty level. */
  remove(l: number): void {
    const levels = this.levels;
    const n = levels.length;
    if (levels[n - 1] === l) levels.pop();
    else {
      const price = this.pool.price[l]!;
      const prices = this.pool.price;
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const p = prices[levels[mid]!]!;
        if (this.isBid ? p < price : p > price) lo = mid + 1;
        else hi = mid;
      }
      if (levels[lo] !== l) throw new Error(`ladder: level ${l} at price ${price} not found`);
      levels.splice(lo, 1);
    }
    this.byPrice.delete(this.pool.price[l]!);
    this.pool.release(l);
  }
}
