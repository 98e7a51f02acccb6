// Integer → slot map in typed arrays: open addressing, linear probing, backward-shift
// deletion (no tombstones). Why not Map: order ids come and go millions of times a
// second, and Map's deletes and rehashes allocate; this allocates only when it grows.

const EMPTY = -1;
const CAPACITY_INITIAL = 1024;

export class IntMap {
  private keys: Float64Array;
  private values: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = CAPACITY_INITIAL) {
    let c = CAPACITY_INITIAL;
    while (c < capacity * 2) c *= 2;
    this.keys = new Float64Array(c).fill(EMPTY);
    this.values = new Int32Array(c);
    this.mask = c - 1;
  }

  private home(key: number): number {
    // Mix both halves of the (up to 53-bit) integer key.
    const h = Math.imul(key | 0, 0x9e3779b1) ^ Math.imul((key / 4294967296) | 0, 0x85ebca6b);
    return (h ^ (h >>> 16)) & this.mask;
  }

  /** Value for `key` (a non-negative safe integer), or -1. */
  get(key: number): number {
    if (key < 0) return -1; // -1 marks empty cells; ids are never negative
    const keys = this.keys;
    let i = this.home(key);
    for (;;) {
      const k = keys[i]!;
      if (k === key) return this.values[i]!;
      if (k === EMPTY) return -1;
      i = (i + 1) & this.mask;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== -1;
  }

  set(key: number, value: number): void {
    if (!(key >= 0)) throw new RangeError(`IntMap: key ${key} must be a non-negative integer`);
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    let i = this.home(key);
    for (;;) {
      const k = keys[i]!;
      if (k === key) {
        this.values[i] = value;
        return;
      }
      if (k === EMPTY) {
        keys[i] = key;
        this.values[i] = value;
        this.size++;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  delete(key: number): boolean {
    if (key < 0) return false;
    const keys = this.keys;
    const mask = this.mask;
    let i = this.home(key);
    for (;;) {
      const k = keys[i]!;
      if (k === EMPTY) return false;
      if (k === key) break;
      i = (i + 1) & mask;
    }
    // Backward shift: pull later members of the probe run into the hole.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j]!;
      if (k === EMPTY) break;
      const h = this.home(k);
      // Move k into the hole if its home is not cyclically within (hole, j].
      const inRange = hole <= j ? h > hole && h <= j : h > hole || h <= j;
      if (!inRange) {
        keys[hole] = k;
        this.values[hole] = this.values[j]!;
        hole = j;
      }
    }
    keys[hole] = EMPTY;
    this.size--;
    return true;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const c = oldKeys.length * 2;
    this.keys = new Float64Array(c).fill(EMPTY);
    this.values = new Int32Array(c);
    this.mask = c - 1;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.set(oldKeys[i]!, oldValues[i]!);
  }
}
