// `npm run ui:screenshots`: the README's pictures of the page (docs/ui/*.png), made reproducibly
// from a real exchange (bench/latency/exchange-proc.ts) in Debian's headless Chromium. A seeded
// session trades for `--seconds`: account 1 quotes a ladder around a mid that walks (cancelling and
// requoting every step), account 2 takes from it with IOC orders, so the candles, tape, ladder and
// depth chart have something to show; account 2 then rests two orders, signs in on the page's
// ticket and the pictures are taken: the market view (desktop and phone), the ticket and the
// account's orders alone, and the operator console.
// Last line: one JSON object with the files written.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { spawnTsx, terminate } from '../../ops/child-process.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { DEMO_KEYS } from '../latency/clients.js';

const { values: a } = parseArgs({
  options: {
    seconds: { type: 'string', default: '40' },
    out: { type: 'string', default: 'docs/ui' },
    seed: { type: 'string', default: '7' },
    chromium: { type: 'string', default: process.env.MATCHBOOK_CHROMIUM ?? '/usr/bin/chromium' },
  },
});
const SECONDS = Number(a.seconds);
const OUT = path.resolve(a.out);
/** One step of the session: a requote and one taker order. */
const STEP_MS = 400;
const LEVELS = 12;
const TICK = 50; // 0.50 in BTC-USD's units (2 price decimals)
const SYMBOL = 'BTC-USD';

let rng = Number(a.seed) >>> 0;
/** xorshift32: the same session for the same --seed. */
function random(): number {
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return (rng >>> 0) / 2 ** 32;
}

const child = spawnTsx('bench/latency/exchange-proc.ts', [], { name: 'exchange', readyTimeoutMs: 120_000 });
const ready = (await child.ready) as { restUrl: string };
const [maker, taker] = DEMO_KEYS.map((key) => new OrderEntryRestClient({ baseUrl: ready.restUrl, key }));
let coid = 0;

function limit(side: 'BUY' | 'SELL', price: number, qty: number, tif = 'GTC'): Record<string, unknown> {
  const id = `shot-${coid++}`;
  return {
    client_order_id: id,
    symbol: SYMBOL,
    side,
    order_type: 'LIMIT',
    time_in_force: tif,
    price: String(price),
    quantity: String(qty),
  };
}

async function quote(mid: number): Promise<void> {
  await maker!.massCancel({ symbol: SYMBOL });
  const orders: Promise<unknown>[] = [];
  for (let i = 1; i <= LEVELS; i++) {
    orders.push(maker!.placeOrder(limit('BUY', mid - i * TICK, 5 + Math.floor(random() * 60 * i))));
    orders.push(maker!.placeOrder(limit('SELL', mid + i * TICK, 5 + Math.floor(random() * 60 * i))));
  }
  await Promise.all(orders);
}

let mid = 5_000_000;
/** Set when the pictures are taken: the session stops. */
let done = false;

/** The seeded session: the mid walks a tick or two per step; the taker lifts or hits the best level. */
async function session(untilMs: number): Promise<void> {
  while (Date.now() < untilMs && !done) {
    const stepEnd = Date.now() + STEP_MS;
    mid += Math.round((random() - 0.48) * 4) * TICK;
    await quote(mid);
    const buy = random() < 0.5;
    await taker!.placeOrder(
      limit(buy ? 'BUY' : 'SELL', buy ? mid + TICK : mid - TICK, 3 + Math.floor(random() * 40), 'IOC'),
    );
    const wait = stepEnd - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

async function shoot(page: Page, name: string, fullPage = false): Promise<string> {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

async function pictures(): Promise<string[]> {
  const browser = await chromium.launch({ executablePath: a.chromium, args: ['--disable-gpu'] });
  try {
    const files: string[] = [];
    const page = await (await browser.newContext({ viewport: { width: 1440, height: 960 } })).newPage();
    await page.goto(`${ready.restUrl}/#/market`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.click('#candles button[data-interval="1s"]');
    await page.selectOption('#tkt-apikey', DEMO_KEYS[1].key);
    await page.fill('#tkt-secret', DEMO_KEYS[1].hmacSecret);
    await page.click('#tkt-signin');
    await page.waitForSelector('#orders tr[data-order-id]');
    await page.fill('#tkt-price', '49990.00');
    await page.fill('#tkt-qty', '0.0100');
    await page.waitForTimeout(1500); // let the charts settle before the picture (not a test)
    files.push(await shoot(page, 'market', true));
    for (const panel of ['ticket', 'orders']) {
      const file = path.join(OUT, `${panel}.png`);
      await page.locator(`#${panel}`).screenshot({ path: file });
      files.push(file);
    }
    await page.goto(`${ready.restUrl}/#/ops`);
    await page.waitForSelector('#console tr[data-member]');
    await page.waitForTimeout(2500); // two polls: the rates need two views
    files.push(await shoot(page, 'console'));
    const phone = await (
      await browser.newContext({ viewport: { width: 412, height: 915 }, deviceScaleFactor: 2, isMobile: true })
    ).newPage();
    await phone.goto(`${ready.restUrl}/#/market`);
    await phone.waitForSelector('#ladder tbody.bids tr:not(.empty)');
    await phone.waitForTimeout(1500);
    files.push(await shoot(phone, 'market-phone'));
    return files;
  } finally {
    await browser.close();
  }
}

try {
  mkdirSync(OUT, { recursive: true });
  await quote(mid);
  await session(Date.now() + SECONDS * 1000);
  // Account 2's resting orders, for its open orders on the ticket.
  await taker!.placeOrder(limit('BUY', mid - 30 * TICK, 25));
  await taker!.placeOrder(limit('SELL', mid + 40 * TICK, 15));
  // The session goes on while the pictures are taken: the console's rates are live.
  const trading = session(Number.POSITIVE_INFINITY);
  const files = await pictures().finally(() => {
    done = true;
  });
  await trading;
  console.log(JSON.stringify({ tool: 'ui-screenshots', seconds: SECONDS, seed: Number(a.seed), files }));
} finally {
  await terminate(child, 20_000);
}
