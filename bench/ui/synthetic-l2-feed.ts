// A bounded generator standing in for a feed, for the page's throughput test and bench:ui: Playwright's
// routeWebSocket answers the page's feed WebSocket itself (no server), with the feed's protocol
// (feed/README.md): `subscribed`, one snapshot per channel, then l2 updates at a fixed rate,
// each changing one level with its seq dense and its checksum computed by the server's own code
// (feed/book-side.ts). The feed sends one l2 update per committed log entry that changed the
// book, and a log entry carries a batch of commands: the exchange on this 2-core machine, driven
// over REST, delivered ~126 l2 updates/s (bench:ui, 399 orders and cancels/s), far from the
// 1,000 updates/s the page must keep up with.

import type { Page, WebSocketRoute } from 'playwright-core';
import { BookSide, bookChecksum } from '../../feed/book-side.js';
import type { Level } from '../../feed/types.js';

export interface SyntheticFeed {
  /** Sends ratePerSec × durationMs l2 updates at `ratePerSec`; resolves with their count when the last is sent. */
  burst(ratePerSec: number, durationMs: number): Promise<number>;
  /**
   * One broken update, as a faulty feed or network would deliver it: a real level change sent with
   * a wrong checksum, or with a seq that skips one (a gap). The page must resync.
   */
  sendBroken(kind: 'checksum' | 'gap'): void;
  /** The generator's book, best first. */
  levels(side: 'BUY' | 'SELL', depth: number): Level[];
  /** Whether the page has subscribed (the snapshots are sent). */
  readonly subscribed: boolean;
}

/** Prices a side moves over (units): bids below `mid`, asks above, never crossing. */
const LEVELS_RANGE = 60;

export async function routeSyntheticFeed(page: Page, symbol: string, mid: number): Promise<SyntheticFeed> {
  const bids = new BookSide(true);
  const asks = new BookSide(false);
  for (let k = 1; k <= 20; k++) {
    bids.set(mid - k * 10, 1_000 * k, 1);
    asks.set(mid + k * 10, 1_000 * k, 1);
  }
  let seq = 1;
  let route: WebSocketRoute | undefined;
  let sentUpdates = 0;
  const tsUs = () => Date.now() * 1000;
  const header = (channel: string, type: string) => ({ channel, type, symbol, seq, ts_us: tsUs() });
  const snapshots = () => [
    { ...header('l2', 'snapshot'), bids: bids.levels(), asks: asks.levels(), checksum: bookChecksum(bids, asks) },
    { channel: 'trades', type: 'snapshot', symbol, seq: 0, ts_us: tsUs(), trades: [] },
    { channel: 'candles', type: 'snapshot', symbol, seq: 0, ts_us: tsUs(), candles: [] },
    { channel: 'status', type: 'snapshot', symbol, seq: 0, ts_us: tsUs(), status: 'TRADING', reference_price: mid },
  ];
  await page.routeWebSocket(/\/v1\/ws$/, (ws) => {
    route = ws;
    ws.onMessage((text) => {
      const req = JSON.parse(String(text)) as { op: string; id: number; channels: string[]; symbols: string[] };
      if (req.op !== 'subscribe' || !req.symbols.includes(symbol)) return;
      ws.send(JSON.stringify({ type: 'subscribed', id: req.id, connection_id: 1, subscriptions: [] }));
      for (const m of snapshots()) if (req.channels.includes(m.channel)) ws.send(JSON.stringify(m));
    });
  });
  const oneUpdate = (k: number, broken?: 'checksum' | 'gap') => {
    const isBid = k % 2 === 0;
    const side = isBid ? bids : asks;
    const offset = 1 + ((k * 7919) % LEVELS_RANGE);
    const price = isBid ? mid - offset * 10 : mid + offset * 10;
    // Every third change removes the level; the others set a new quantity.
    const qty = k % 3 === 0 ? 0 : 100 + ((k * 104_729) % 100_000);
    side.set(price, qty, qty === 0 ? 0 : 1);
    seq += broken === 'gap' ? 2 : 1;
    const level: Level = [price, qty, qty === 0 ? 0 : 1];
    const m = {
      ...header('l2', 'update'),
      bids: isBid ? [level] : [],
      asks: isBid ? [] : [level],
      checksum: broken === 'checksum' ? bookChecksum(bids, asks) ^ 1 : bookChecksum(bids, asks),
    };
    route!.send(JSON.stringify(m));
    sentUpdates++;
  };
  return {
    get subscribed() {
      return route !== undefined;
    },
    sendBroken: (kind) => oneUpdate(sentUpdates, kind),
    levels: (side, depth) => (side === 'BUY' ? bids : asks).levels(depth),
    burst(ratePerSec, durationMs) {
      // Exactly ratePerSec × durationMs updates, paced by the clock: every 10 ms the updates due
      // so far are sent. A late timer (a loaded machine) sends what is due at once and the burst
      // ends when all are sent, so the count never depends on the machine's speed, only the rate.
      const total = Math.round((ratePerSec * durationMs) / 1000);
      const startedMs = Date.now();
      const firstUpdate = sentUpdates;
      return new Promise((resolve) => {
        const timer = setInterval(() => {
          const due = Math.min(total, Math.floor(((Date.now() - startedMs) * ratePerSec) / 1000));
          while (sentUpdates - firstUpdate < due) oneUpdate(sentUpdates);
          if (sentUpdates - firstUpdate === total) {
            clearInterval(timer);
            resolve(total);
          }
        }, 10);
      });
    },
  };
}
