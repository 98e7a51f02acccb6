// Keeping the page's copies in step with the feed. The l2 book is kept exactly as the feed's Node client keeps it (feed/README.md
// "Resync procedure"): updates are dropped until a snapshot arrives, then applied only when their
// seq is the last + 1; after each one the book's checksum (feed/checksum.ts, the same code as the
// server's, bundled) must equal the message's. A gap or a mismatch discards the book and asks
// for a fresh snapshot. The trades and candles streams only need their seq dense (SeqTracker).
// Pure: no DOM; the caller re-subscribes and renders.

import { LocalL2Book } from '../../../feed/client/local-book.js';
import type { L2Message } from '../../../feed/types.js';

/** What the page shows on window.__matchbook.market (read-only counters for tests and curious users). */
export interface SyncCounters {
  l2Applied: number;
  checksumOk: number;
  checksumBad: number;
  /** Fresh snapshots asked for or announced, every channel: gaps, mismatches, server resyncs. */
  resyncs: number;
  /** The wait before the feed socket's next connection attempt, as last scheduled (its back-off). */
  feedRetryMs: number;
}

export function newSyncCounters(): SyncCounters {
  return { l2Applied: 0, checksumOk: 0, checksumBad: 0, resyncs: 0, feedRetryMs: 0 };
}

/** A delta channel other than l2 (trades, candles): 'gap' when an update is not the last seq + 1. */
export class SeqTracker {
  private seq = 0;
  private synced = false;

  constructor(private readonly counters: SyncCounters) {}

  reset(): void {
    this.synced = false;
  }

  accept(m: { type: 'snapshot' | 'update'; seq: number }): 'apply' | 'drop' | 'gap' {
    if (m.type === 'snapshot') {
      this.seq = m.seq;
      this.synced = true;
      return 'apply';
    }
    if (!this.synced || m.seq <= this.seq) return 'drop';
    if (m.seq !== this.seq + 1) {
      this.synced = false;
      this.counters.resyncs++;
      return 'gap';
    }
    this.seq = m.seq;
    return 'apply';
  }
}

export type L2Outcome = 'applied' | 'dropped' | 'resync';

export class L2Sync {
  book: LocalL2Book;
  /** False until a snapshot arrives (and again after a resync): updates are dropped meanwhile. */
  synced = false;
  constructor(
    symbol: string,
    readonly counters: SyncCounters,
  ) {
    this.book = new LocalL2Book(symbol);
  }

  /** A new symbol or a new connection: nothing held is valid any more (not counted as a resync). */
  reset(symbol: string): void {
    this.book = new LocalL2Book(symbol);
    this.synced = false;
  }

  /** The server said the stream restarts (a `resync` message): wait for the snapshot that follows. */
  serverResync(): void {
    this.book.clear();
    this.synced = false;
    this.counters.resyncs++;
  }

  apply(m: L2Message): L2Outcome {
    if (m.symbol !== this.book.symbol) return 'dropped';
    if (m.type === 'snapshot') {
      this.book.applySnapshot(m);
      this.synced = true;
      return this.verified(m);
    }
    if (!this.synced || m.seq <= this.book.seq) return 'dropped';
    if (m.seq !== this.book.seq + 1) return this.discard();
    this.book.applyUpdate(m);
    return this.verified(m);
  }

  private verified(m: L2Message): L2Outcome {
    this.counters.l2Applied++;
    if (this.book.checksum() === m.checksum) {
      this.counters.checksumOk++;
      return 'applied';
    }
    this.counters.checksumBad++;
    return this.discard();
  }

  private discard(): L2Outcome {
    this.book.clear();
    this.synced = false;
    this.counters.resyncs++;
    return 'resync';
  }
}
