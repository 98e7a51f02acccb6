// Live orders as a struct of typed arrays indexed by slot, with a free list.
// Why: an object per order would make every major GC walk the whole book and
// allocate on every new order; typed arrays are invisible to the GC and reused.

export const NIL = -1;

/** Slot states. */
export const SlotState = { FREE: 0, RESTING: 1, PENDING_STOP: 2, IN_FLIGHT: 3 } as const;

const SLOT_CAPACITY_INITIAL = 1024;

export class OrderStore {
  capacity = 0;
  /** Slots in use. */
  used = 0;
  private freeTop = 0;
  private free!: Int32Array;

  orderId!: Float64Array;
  account!: Float64Array;
  instrument!: Uint16Array;
  side!: Uint8Array;
  ordType!: Uint8Array;
  tif!: Uint8Array;
  postOnly!: Uint8Array;
  stp!: Uint8Array;
  state!: Uint8Array;
  price!: Float64Array;
  stopPrice!: Float64Array;
  orderQty!: Float64Array;
  cumQty!: Float64Array;
  /** Sum of price × qty over fills: the low limb (the whole value below 2^53; notional.ts). */
  cumNotional!: Float64Array;
  /** Its high limb, in units of 2^53: 0 but on a wide instrument's large orders. */
  cumNotionalHi!: Float64Array;
  /** Iceberg slice size; 0 for ordinary orders. */
  displayQty!: Float64Array;
  /** Quantity currently shown in the book (leaves for ordinary orders, the slice for icebergs). */
  visibleQty!: Float64Array;
  /** 0: does not expire. */
  expireTsUs!: Float64Array;
  level!: Int32Array;
  prev!: Int32Array;
  next!: Int32Array;
  acctPrev!: Int32Array;
  acctNext!: Int32Array;
  clOrdId: string[] = [];

  constructor(private readonly slotCountMax: number) {
    this.grow(Math.min(SLOT_CAPACITY_INITIAL, slotCountMax));
  }

  /** Returns a free slot, or NIL when slotCountMax slots are in use. */
  alloc(): number {
    if (this.freeTop === 0) {
      if (this.capacity >= this.slotCountMax) return NIL;
      this.grow(Math.min(this.capacity * 2, this.slotCountMax));
    }
    const slot = this.free[--this.freeTop]!;
    this.used++;
    this.level[slot] = NIL;
    this.prev[slot] = NIL;
    this.next[slot] = NIL;
    this.acctPrev[slot] = NIL;
    this.acctNext[slot] = NIL;
    this.cumQty[slot] = 0;
    this.cumNotional[slot] = 0;
    this.cumNotionalHi[slot] = 0;
    this.displayQty[slot] = 0;
    this.expireTsUs[slot] = 0;
    this.stopPrice[slot] = 0;
    return slot;
  }

  release(slot: number): void {
    if (this.state[slot] === SlotState.FREE) throw new Error(`order store: double free of slot ${slot}`);
    this.state[slot] = SlotState.FREE;
    this.clOrdId[slot] = '';
    this.free[this.freeTop++] = slot;
    this.used--;
  }

  leaves(slot: number): number {
    return this.orderQty[slot]! - this.cumQty[slot]!;
  }

  private grow(capacity: number): void {
    const old = this.capacity;
    const f64 = (a?: Float64Array) => copy(new Float64Array(capacity), a);
    const u8 = (a?: Uint8Array) => copy(new Uint8Array(capacity), a);
    const i32 = (a?: Int32Array) => copy(new Int32Array(capacity), a);
    this.orderId = f64(this.orderId);
    this.account = f64(this.account);
    this.instrument = copy(new Uint16Array(capacity), this.instrument);
    this.side = u8(this.side);
    this.ordType = u8(this.ordType);
    this.tif = u8(this.tif);
    this.postOnly = u8(this.postOnly);
    this.stp = u8(this.stp);
    this.state = u8(this.state);
    this.price = f64(this.price);
    this.stopPrice = f64(this.stopPrice);
    this.orderQty = f64(this.orderQty);
    this.cumQty = f64(this.cumQty);
    this.cumNotional = f64(this.cumNotional);
    this.cumNotionalHi = f64(this.cumNotionalHi);
    this.displayQty = f64(this.displayQty);
    this.visibleQty = f64(this.visibleQty);
    this.expireTsUs = f64(this.expireTsUs);
    this.level = i32(this.level);
    this.prev = i32(this.prev);
    this.next = i32(this.next);
    this.acctPrev = i32(this.acctPrev);
    this.acctNext = i32(this.acctNext);
    const free = new Int32Array(capacity);
    if (this.free !== undefined) free.set(this.free.subarray(0, this.freeTop));
    // New slots are handed out lowest first.
    for (let s = capacity - 1; s >= old; s--) free[this.freeTop++] = s;
    this.free = free;
    for (let s = old; s < capacity; s++) this.clOrdId.push('');
    this.capacity = capacity;
  }
}

function copy<T extends Float64Array | Uint8Array | Uint16Array | Int32Array>(next: T, old: T | undefined): T {
  if (old !== undefined) next.set(old as never);
  return next;
}
