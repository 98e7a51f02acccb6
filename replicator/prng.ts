// A small seeded PRNG: xoshiro128** seeded through splitmix32. The replicas draw their
// election timeouts from it; the simulator, the chaos suite and the benchmark workloads draw
// every random choice from one of these, all derived from one seed, so one seed reproduces a
// whole run. No Math.random, no clocks.

const U32 = 0x1_0000_0000;

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`prng: seed ${seed} is not a safe integer`);
    // Fold both halves of the seed in, so seeds above 2^32 differ too.
    const st = { s: (seed ^ Math.floor(seed / U32)) | 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // xoshiro's one bad state
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A uniform integer in [0, n), 1 ≤ n ≤ 2^32 (unbiased: rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > U32) throw new RangeError(`prng.int: bad bound ${n}`);
    const limit = U32 - (U32 % n);
    for (;;) {
      const x = this.next();
      if (x < limit) return x % n;
    }
  }

  /** A uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    if (hi < lo) throw new RangeError(`prng.range: empty range [${lo}, ${hi}]`);
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p (p ≤ 0: never, p ≥ 1: always). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p * U32;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('prng.pick: no items');
    return items[this.int(items.length)]!;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }

  /** An independent stream derived from this one's seed and a label (does not advance this one). */
  fork(label: number): Prng {
    const st = { s: (this.seed * 0x9e3779b1 + label * 0x85ebca6b) | 0 };
    return new Prng(splitmix32(st) * 0x10000 + (splitmix32(st) & 0xffff));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
