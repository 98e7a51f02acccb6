// The order ticket in the page against a real exchange: DEMO_1 signs in with the form, places a
// limit buy through the ticket (it shows in the open-orders table from the user stream), cancels
// it with its button (it leaves), gets a fill row when DEMO_2 crosses a page order over REST; a
// quantity with too many decimals is refused in the page (nothing sent); and the page's WebCrypto
// signatures equal api/signing.ts's for the same inputs (HMAC, on the request the page sent, and
// Ed25519 on a fixed vector).

import { chromium, type Page, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canonicalRequest,
  ed25519PrivateKeyFromSeed,
  ed25519RawPublicKey,
  ed25519Verify,
  ed25519PublicKeyFromRaw,
  signRequest,
} from '../../api/signing.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { CHROMIUM_PATH, DEMO_1, DEMO_2, startUiExchange, type UiExchange } from './ui-harness.js';

const WAIT_MS = 30_000;

/** The page's ui/src/signing.ts signRequest, as window.__matchbook.ticket exposes it. */
type PageSign = (
  creds: Record<string, string>,
  target: string,
  body: Uint8Array,
  nowMs: number,
) => Promise<{ signature: string }>;

let ui: UiExchange;
let page: Page;
let errors: string[];
/** The page's POST /v1/orders requests (headers and body as sent). */
const orderRequests: Request[] = [];

beforeAll(async () => {
  ui = await startUiExchange();
  ({ page, errors } = await ui.newPage());
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/orders') orderRequests.push(r);
  });
  await page.goto(ui.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT_MS });
}, 120_000);

afterAll(async () => {
  await ui?.stop();
});

async function fillTicket(side: 'BUY' | 'SELL', price: string, qty: string): Promise<void> {
  await page.selectOption('#tkt-side', side);
  await page.selectOption('#tkt-type', 'LIMIT');
  await page.fill('#tkt-price', price);
  await page.fill('#tkt-qty', qty);
}

const openRows = () => page.locator('#orders table.open-orders tbody tr');

describe('the order ticket', () => {
  it('signs DEMO_1 in with the form: the user stream names the account', async () => {
    await page.selectOption('#tkt-apikey', DEMO_1.key);
    await page.fill('#tkt-secret', DEMO_1.hmacSecret);
    await page.click('#tkt-signin');
    await expect
      .poll(() => page.locator('#tkt-who').textContent(), { timeout: WAIT_MS })
      .toBe(`${DEMO_1.key} · account 1`);
    // Kept in this tab's sessionStorage, never in localStorage.
    const stored = await page.evaluate(() => [sessionStorage.length, localStorage.length]);
    expect(stored).toEqual([1, 0]);
  });

  it('refuses a quantity with too many decimals in the page, sending nothing', async () => {
    const before = orderRequests.length;
    await fillTicket('BUY', '49000.00', '0.00001'); // BTC-USD has 4 quantity decimals
    await page.click('#tkt-submit');
    await expect.poll(() => page.locator('#tkt-reply').textContent(), { timeout: WAIT_MS }).toContain('PRECISION');
    expect(await page.locator('#tkt-reply').getAttribute('data-state')).toBe('error');
    expect(orderRequests.length).toBe(before);
  });

  it('places a limit buy: it shows in the ladder and the open orders; its cancel button takes it out', async () => {
    await fillTicket('BUY', '49000.00', '0.0100');
    await page.click('#tkt-submit');
    await expect.poll(() => page.locator('#tkt-reply').textContent(), { timeout: WAIT_MS }).toMatch(/^order \d+ NEW$/);
    const id = /^order (\d+) NEW$/.exec((await page.locator('#tkt-reply').textContent())!)![1]!;
    const row = page.locator(`#orders tr[data-order-id="${id}"]`);
    await row.waitFor({ timeout: WAIT_MS });
    expect(await row.locator('td').allTextContents()).toEqual([
      id,
      'BTC-USD',
      'BUY',
      '49000.00',
      '0.0100',
      '0.0000',
      'NEW',
      'Cancel',
    ]);
    // The feed's book, as the ladder draws it: the order is the only bid at 49000.00.
    await expect.poll(() => ladderBid('49000.00'), { timeout: WAIT_MS }).toEqual(['49000.00', '0.0100', '0.0100']);
    await ui.screenshot(page, 'order-ticket');

    await row.getByRole('button', { name: `Cancel order ${id}` }).click();
    await row.waitFor({ state: 'detached', timeout: WAIT_MS });
    await expect.poll(() => ladderBid('49000.00'), { timeout: WAIT_MS }).toBeUndefined();
    await expect
      .poll(() => page.locator('#tkt-cancel-reply').textContent(), { timeout: WAIT_MS })
      .toBe(`canceled ${id}`);
  });

  it('shows a fill when DEMO_2 crosses a page order over REST', async () => {
    await fillTicket('SELL', '50100.00', '0.0200');
    await page.click('#tkt-submit');
    await expect.poll(() => page.locator('#tkt-reply').textContent(), { timeout: WAIT_MS }).toMatch(/^order \d+ NEW$/);
    const id = /^order (\d+) NEW$/.exec((await page.locator('#tkt-reply').textContent())!)![1]!;
    await page.locator(`#orders tr[data-order-id="${id}"]`).waitFor({ timeout: WAIT_MS });

    const rest2 = new OrderEntryRestClient({ baseUrl: ui.ex.restUrl, key: DEMO_2 });
    const r = await rest2.placeOrder({
      client_order_id: 'demo2-cross',
      symbol: 'BTC-USD',
      side: 'BUY',
      order_type: 'LIMIT',
      time_in_force: 'IOC',
      price_decimal: '50100.00',
      quantity_decimal: '0.0150',
    });
    expect(r.status).toBe(201);

    const fill = page.locator('#orders table.fills tbody tr').first();
    await expect
      .poll(() => fill.locator('td').allTextContents(), { timeout: WAIT_MS })
      .toEqual([expect.stringMatching(/^\d\d:\d\d:\d\d$/), 'BTC-USD', 'SELL', '50100.00', '0.0150', 'maker', id]);
    // Partly filled: still open with what is left.
    const row = page.locator(`#orders tr[data-order-id="${id}"]`);
    await expect.poll(() => row.locator('td').nth(4).textContent(), { timeout: WAIT_MS }).toBe('0.0050');
    expect(await row.locator('td').nth(6).textContent()).toBe('PARTIALLY_FILLED');
  });

  it("signs as api/signing.ts does: the page's order request, and a fixed Ed25519 vector", async () => {
    const sent = orderRequests.at(-1)!;
    const h = await sent.allHeaders();
    const body = sent.postDataBuffer()!;
    const expected = signRequest(DEMO_1, 'POST /v1/orders', new Uint8Array(body), Number(h['x-mb-timestamp']));
    expect(h['x-mb-apikey']).toBe(DEMO_1.key);
    expect(h['x-mb-signature']).toBe(expected.signature);

    const seed = Buffer.alloc(32, 7).toString('base64');
    const vector = { target: 'GET /v1/accounts/1/orders?state=open', body: '{"a":1}', nowMs: 1767225600000 };
    const inPage = await page.evaluate(
      async ({ seed, vector, secret }) => {
        const hooks = (window as unknown as { __matchbook: { ticket: { signRequest: PageSign } } }).__matchbook.ticket;
        const bytes = new TextEncoder().encode(vector.body);
        const hmac = await hooks.signRequest({ apiKey: 'k', hmacSecret: secret }, vector.target, bytes, vector.nowMs);
        const ed = await hooks.signRequest(
          { apiKey: 'k', ed25519SeedBase64: seed },
          vector.target,
          bytes,
          vector.nowMs,
        );
        return { hmac: hmac.signature, ed: ed.signature };
      },
      { seed, vector, secret: DEMO_1.hmacSecret },
    );
    const bytes = new TextEncoder().encode(vector.body);
    expect(inPage.hmac).toBe(signRequest(DEMO_1, vector.target, bytes, vector.nowMs).signature);
    const priv = ed25519PrivateKeyFromSeed(seed);
    expect(inPage.ed).toBe(
      signRequest({ key: 'k', ed25519PrivateKey: priv }, vector.target, bytes, vector.nowMs).signature,
    );
    const canonical = canonicalRequest(String(vector.nowMs), vector.target, bytes);
    expect(ed25519Verify(ed25519PublicKeyFromRaw(ed25519RawPublicKey(priv)), canonical, inPage.ed)).toBe(true);
  });

  it('reads the open orders placed before the sign-in from the query API (or says it cannot)', async () => {
    await page.click('#tkt-signout');
    await page.locator('#tkt-secret').waitFor({ state: 'visible', timeout: WAIT_MS });
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await expect.poll(() => openRows().count(), { timeout: WAIT_MS }).toBe(0);

    // Placed while the page is signed out: only the query API's read can show it.
    const rest1 = new OrderEntryRestClient({ baseUrl: ui.ex.restUrl, key: DEMO_1 });
    const r = await rest1.placeOrder({
      client_order_id: 'demo1-before',
      symbol: 'BTC-USD',
      side: 'BUY',
      order_type: 'LIMIT',
      price_decimal: '48000.50',
      quantity_decimal: '0.0300',
    });
    expect(r.status).toBe(201);
    const id = String((r.body as { result: { reports: { order_id: number }[] } }).result.reports[0]!.order_id);

    await page.selectOption('#tkt-apikey', DEMO_1.key);
    await page.fill('#tkt-secret', DEMO_1.hmacSecret);
    await page.click('#tkt-signin');
    // The query API's first read (CORS on the query service) shows the order placed while signed out.
    const row = page.locator(`#orders tr[data-order-id="${id}"]`);
    await expect
      .poll(() => row.locator('td').allTextContents(), { timeout: WAIT_MS })
      .toEqual([id, 'BTC-USD', 'BUY', '48000.50', '0.0300', '0.0000', 'NEW', 'Cancel']);
    expect(errors).toEqual([]);
  });

  it('says signing needs https or localhost outside a secure context; the page still loads', async () => {
    // A name for the loopback address that is not "localhost": plain http there is not a secure
    // context, so the browser has no crypto.subtle (as a phone opening the laptop's LAN address).
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--disable-gpu', '--host-resolver-rules=MAP matchbook.test 127.0.0.1'],
    });
    try {
      const insecure = await browser.newPage();
      const pageErrors: string[] = [];
      insecure.on('pageerror', (e) => pageErrors.push(String(e)));
      await insecure.goto(ui.url.replace('127.0.0.1', 'matchbook.test'));
      await insecure.waitForSelector('body[data-ready="true"]', { timeout: WAIT_MS });
      expect(await insecure.evaluate(() => window.isSecureContext)).toBe(false);
      expect(await insecure.locator('#tkt-unavailable').textContent()).toBe('signing needs https or localhost');
      expect(await insecure.locator('#tkt-signin').count()).toBe(0);
      expect(pageErrors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

/** The ladder's bid row at `price` as the user reads it ([price, size, total]), or undefined. */
function ladderBid(price: string): Promise<string[] | undefined> {
  return page.evaluate(
    (p) =>
      [...document.querySelectorAll('#ladder tbody.bids tr:not(.empty)')]
        .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''))
        .find((cells) => cells[0] === p),
    price,
  );
}
