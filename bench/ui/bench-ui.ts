// `npm run bench:ui`: the browser page (ui/) in Debian's headless Chromium against the exchange
// bench:latency uses (bench/latency/exchange-proc.ts: 3 replica processes with fsync and feeds,
// the gateway serving the page, the events side).
//   1. load: `--loads` cold loads (a new browser context each: nothing cached) of the market
//      view with a seeded book: ms from navigation start to the first frame that shows the book
//      (the page's l2 applied and a frame rendered after it), and to DOMContentLoaded; p50/max.
//   2. exchange burst: resting orders placed and cancelled over REST by `--clients` concurrent
//      clients for `--seconds` (never crossing; aiming at `--rate` book changes/s) while the page
//      shows the book: the l2 updates/s the feed delivered and the page applied (one l2 update per
//      committed log entry, so fewer than the orders), frames/s, the longest gap between two
//      frames, checksum mismatches and resyncs.
//   3. generator: the page's feed socket answered by a generator (synthetic-l2-feed.ts: the feed's
//      protocol, checksums by feed/book-side.ts) at each of `--synthetic-rates` l2 updates/s for
//      `--seconds`: the same figures, at rates the exchange here cannot produce.
// Last line: one JSON object (README "Benchmarks").

import { parseArgs } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { spawnTsx, terminate } from '../../ops/child-process.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { DEMO_KEYS } from '../latency/clients.js';
import { routeSyntheticFeed } from './synthetic-l2-feed.js';

const { values: a } = parseArgs({
  options: {
    loads: { type: 'string', default: '10' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '16' },
    'synthetic-rates': { type: 'string', default: '1000,2000,5000' },
    chromium: { type: 'string', default: process.env.MATCHBOOK_CHROMIUM ?? '/usr/bin/chromium' },
  },
});
const LOADS = Number(a.loads);
const RATE = Number(a.rate);
const SECONDS = Number(a.seconds);
const CLIENTS = Number(a.clients);
const SYNTHETIC_RATES = a['synthetic-rates'].split(',').map(Number);
/** Resting levels each side before the page loads (a realistic ladder to draw). */
const SEED_LEVELS = 20;
const TICK = 100; // BTC-USD: price_decimals 2, 1.00 apart
const MID = 5_000_000;

const child = spawnTsx('bench/latency/exchange-proc.ts', [], { name: 'exchange', readyTimeoutMs: 120_000 });
const ready = (await child.ready) as { restUrl: string };
const clients = DEMO_KEYS.map((key) => new OrderEntryRestClient({ baseUrl: ready.restUrl, key }));

async function seed(): Promise<void> {
  for (let i = 1; i <= SEED_LEVELS; i++) {
    const r = await Promise.all([
      clients[0]!.placeOrder(order('BUY', MID - i * TICK, i)),
      clients[1]!.placeOrder(order('SELL', MID + i * TICK, i)),
    ]);
    for (const x of r) if (x.status !== 201) throw new Error(`seed: ${x.status} ${JSON.stringify(x.body)}`);
  }
}

let coid = 0;
function order(side: 'BUY' | 'SELL', price: number, qty: number): Record<string, unknown> {
  return {
    client_order_id: `ui-${Date.now()}-${coid++}`,
    symbol: 'BTC-USD',
    side,
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    price: String(price),
    quantity: String(qty),
  };
}

/** Navigation start → the first frame after the page applied the book (performance.now() in the page). */
const FIRST_BOOK_FRAME = `new Promise((resolve) => {
  const step = () => {
    const m = window.__matchbook && window.__matchbook.market;
    if (m && m.l2Applied > 0) requestAnimationFrame(() => resolve(performance.now()));
    else requestAnimationFrame(step);
  };
  step();
})`;

async function loads(browser: Browser) {
  const firstBook: number[] = [];
  const dcl: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${ready.restUrl}/#/market`, { waitUntil: 'commit' });
    firstBook.push((await page.evaluate(FIRST_BOOK_FRAME)) as number);
    dcl.push(
      await page.evaluate(
        () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).domContentLoadedEventEnd,
      ),
    );
    await context.close();
  }
  return { first_book_frame_ms: stats(firstBook), dom_content_loaded_ms: stats(dcl) };
}

function stats(xs: number[]) {
  const s = [...xs].sort((x, y) => x - y);
  return { p50: round(s[Math.floor(s.length / 2)]!), max: round(s[s.length - 1]!), n: s.length };
}
const round = (x: number) => Math.round(x * 10) / 10;

/** In the page: counts frames and the longest gap between two of them, until stopped. */
const FRAME_PROBE = `(() => {
  const p = { frames: 0, maxGapMs: 0, last: performance.now(), on: true };
  const tick = (t) => { p.frames++; p.maxGapMs = Math.max(p.maxGapMs, t - p.last); p.last = t; if (p.on) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  window.__benchFrames = p;
})()`;

/** Resting orders placed and cancelled at `RATE` book updates/s in total for SECONDS. */
async function burst(): Promise<{ sent: number; seconds: number }> {
  const endAt = Date.now() + SECONDS * 1000;
  const perClientIntervalMs = (CLIENTS * 1000) / RATE; // each client: one update (place or cancel) per interval
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const client = clients[c % 2]!;
      const side = c % 2 === 0 ? 'BUY' : 'SELL';
      let next = Date.now();
      for (let i = 0; Date.now() < endAt; i++) {
        const far = SEED_LEVELS + 1 + ((c * 7 + i) % 30);
        const price = side === 'BUY' ? MID - far * TICK : MID + far * TICK;
        const r = await client.placeOrder(order(side, price, 1 + (i % 5)));
        sent++;
        const id = (r.body as { order_id?: number }).order_id;
        next += perClientIntervalMs;
        await pause(next - Date.now());
        if (id !== undefined) {
          await client.cancelOrder(id);
          sent++;
        }
        next += perClientIntervalMs;
        await pause(next - Date.now());
      }
    }),
  );
  return { sent, seconds: (performance.now() - t0) / 1000 };
}
const pause = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

type Counters = Record<string, number>;
const countersOf = (page: Page) => page.evaluate('({ ...window.__matchbook.market })') as Promise<Counters>;

/** The figures of one burst on `page`, from the counters before and after and the frame probe. */
async function burstFigures(page: Page, before: Counters, seconds: number, extra: Record<string, number>) {
  const probe = (await page.evaluate(
    '(() => { window.__benchFrames.on = false; return window.__benchFrames; })()',
  )) as { frames: number; maxGapMs: number };
  const after = await countersOf(page);
  return {
    ...extra,
    applied_updates_per_s: Math.round(((after.l2Applied ?? 0) - (before.l2Applied ?? 0)) / seconds),
    frames_per_s: Math.round(probe.frames / seconds),
    max_frame_gap_ms: round(probe.maxGapMs),
    checksum_mismatches: (after.checksumBad ?? 0) - (before.checksumBad ?? 0),
    resyncs: (after.resyncs ?? 0) - (before.resyncs ?? 0),
  };
}

async function exchangeBurst(browser: Browser) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${ready.restUrl}/#/market`);
  await page.evaluate(FIRST_BOOK_FRAME);
  const before = await countersOf(page);
  await page.evaluate(FRAME_PROBE);
  const sent = await burst();
  const figures = await burstFigures(page, before, sent.seconds, {
    target_updates_per_s: RATE,
    orders_and_cancels_per_s: Math.round(sent.sent / sent.seconds),
  });
  await page.context().close();
  return figures;
}

async function syntheticBurst(browser: Browser, rate: number) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const feed = await routeSyntheticFeed(page, 'BTC-USD', MID);
  await page.goto(`${ready.restUrl}/#/market`);
  await page.evaluate(FIRST_BOOK_FRAME);
  const before = await countersOf(page);
  await page.evaluate(FRAME_PROBE);
  const t0 = performance.now();
  const sent = await feed.burst(rate, SECONDS * 1000);
  const seconds = (performance.now() - t0) / 1000;
  const figures = await burstFigures(page, before, seconds, {
    rate_updates_per_s: rate,
    sent_updates_per_s: Math.round(sent / seconds),
  });
  await page.context().close();
  return figures;
}

async function main(): Promise<void> {
  await seed();
  const browser = await chromium.launch({ executablePath: a.chromium, args: ['--disable-gpu'] });
  try {
    const load = await loads(browser);
    const exchange = await exchangeBurst(browser);
    const generator = [];
    for (const rate of SYNTHETIC_RATES) generator.push(await syntheticBurst(browser, rate));
    console.log(
      JSON.stringify({ bench: 'ui', chromium: browser.version(), load, exchange_burst: exchange, generator }),
    );
  } finally {
    await browser.close();
    await terminate(child, 20_000);
  }
}

await main();
