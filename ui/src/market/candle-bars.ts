// The candles one chart holds, keyed by bucket start, at most CANDLES_HELD_MAX (a new bucket past
// it drops the oldest). Pure: no DOM, no chart. 1 s and 1 min candles come whole from the feed's
// candles channel (each update is the candle's current state); 1 h candles come from the query
// API, and the current hour is rebuilt from the hour's 1 min candles (history + live), so a
// candle seen twice never counts twice.

import { CANDLES_HELD_MAX } from '../limits.js';

export type ChartInterval = '1s' | '1m' | '1h';
export const CHART_INTERVALS: readonly ChartInterval[] = ['1s', '1m', '1h'];
export const INTERVAL_US: Readonly<Record<ChartInterval, number>> = {
  '1s': 1_000_000,
  '1m': 60_000_000,
  '1h': 3_600_000_000,
};

/** Prices in units; the volume a BigInt (a candle's summed volume can pass 2^53). */
export interface Bar {
  start_us: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: bigint;
}

export class CandleBars {
  private readonly bars = new Map<number, Bar>();
  /** The current hour's 1 min candles (1h only). */
  private readonly minutes = new Map<number, Bar>();
  /** Buckets changed since the last take(); `full` when the chart must be redrawn whole. */
  private readonly changed = new Set<number>();
  full = true;

  constructor(readonly interval: ChartInterval) {}

  get size(): number {
    return this.bars.size;
  }

  /** A candle of this chart's interval (feed or history). */
  upsert(b: Bar): void {
    const isNew = !this.bars.has(b.start_us);
    this.bars.set(b.start_us, b);
    this.changed.add(b.start_us);
    if (isNew) this.trim();
  }

  /** History: only buckets not already seen live (the feed's are newer). */
  addHistory(list: readonly Bar[]): void {
    for (const b of list) if (!this.bars.has(b.start_us)) this.bars.set(b.start_us, b);
    this.full = true;
    this.trim();
  }

  get dirty(): boolean {
    return this.full || this.changed.size > 0;
  }

  /**
   * A 1 min candle (1h chart): the hour it falls in is rebuilt from its minutes. A minute from
   * the history does not replace one already seen live (the feed's is newer).
   */
  addMinute(m: Bar, fromHistory = false): void {
    const hour = m.start_us - (m.start_us % INTERVAL_US['1h']);
    const held = this.minutes.keys().next();
    if (!held.done && held.value >= hour + INTERVAL_US['1h']) return; // an older hour than the one held
    for (const start of this.minutes.keys()) if (start < hour) this.minutes.delete(start);
    if (fromHistory && this.minutes.has(m.start_us)) return;
    this.minutes.set(m.start_us, m);
    const mins = [...this.minutes.values()].sort((a, b) => a.start_us - b.start_us);
    const bar: Bar = {
      start_us: hour,
      open: mins[0]!.open,
      high: 0,
      low: Number.MAX_SAFE_INTEGER,
      close: 0,
      volume: 0n,
    };
    for (const x of mins) {
      bar.high = Math.max(bar.high, x.high);
      bar.low = Math.min(bar.low, x.low);
      bar.close = x.close;
      bar.volume += x.volume;
    }
    this.upsert(bar);
  }

  /** Oldest first. */
  all(): Bar[] {
    return [...this.bars.values()].sort((a, b) => a.start_us - b.start_us);
  }

  latest(): Bar | undefined {
    let best: Bar | undefined;
    for (const b of this.bars.values()) if (best === undefined || b.start_us > best.start_us) best = b;
    return best;
  }

  /** What changed since the last call: the buckets (oldest first), or null for a whole redraw. */
  take(): Bar[] | null {
    const full = this.full;
    this.full = false;
    const out = full ? null : [...this.changed].sort((a, b) => a - b).flatMap((s) => this.bars.get(s) ?? []);
    this.changed.clear();
    return out;
  }

  private trim(): void {
    if (this.bars.size <= CANDLES_HELD_MAX) return;
    const starts = [...this.bars.keys()].sort((a, b) => a - b);
    for (const s of starts.slice(0, starts.length - CANDLES_HELD_MAX)) this.bars.delete(s);
    this.full = true;
  }
}
