// The operator console (#/ops) against a real exchange: three replica processes, the gateway
// serving the page, headless Chromium. What the operator reads in the member table follows what
// happens to the processes — a killed follower shows unreachable and comes back caught up, a
// killed leader is replaced by one with a higher term — and halt/resume sent from the console
// (signed in the browser with the admin key) decide whether an order over REST is taken.

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { DEMO_1, DEMO_2, DEMO_ADMIN, startUiExchange, type UiExchange } from './ui-harness.js';

/** Bound on every wait: an election plus a restart on a loaded 2-core machine. */
const WAIT_MS = 60_000;

let ui: UiExchange;
let page: Page;
let errors: string[];
let clientOrderIds = 0;

beforeAll(async () => {
  ui = await startUiExchange();
  ({ page, errors } = await ui.newPage({ width: 1280, height: 900 }));
  await page.goto(`${ui.url}#/ops`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT_MS });
});

afterAll(async () => {
  await ui?.stop();
});

type Row = Record<string, string>;

/** Shard 0's member rows as shown: data-col → text, plus whether the row is marked as the leader. */
function shard0Rows(p: Page = page): Promise<Row[]> {
  return p.$$eval('#console .console-shard[data-shard="0"] tbody tr', (trs) =>
    trs.map((tr) => {
      const row: Record<string, string> = { leaderMark: String(tr.classList.contains('leader')) };
      for (const td of tr.querySelectorAll('td')) row[td.dataset.col ?? '?'] = td.textContent ?? '';
      return row;
    }),
  );
}

async function rowOf(member: number): Promise<Row | undefined> {
  return (await shard0Rows()).find((r) => r.member === String(member));
}

function healthy(rows: Row[]): boolean {
  return (
    rows.length === 3 &&
    rows.filter((r) => r.role === 'LEADER').length === 1 &&
    rows.filter((r) => r.role === 'FOLLOWER').length === 2 &&
    new Set(rows.map((r) => r.term)).size === 1 &&
    rows.every((r) => r.status === 'ok' && r.behind === '0')
  );
}

function order(): Record<string, unknown> {
  return {
    client_order_id: `con-${++clientOrderIds}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    price: 4_900_000,
    quantity: 1,
  };
}

/** Asks for `action` in the console, confirms, and returns the newest answer line. */
async function adminAction(button: string, expected: RegExp): Promise<string> {
  await page.click(button);
  await page.locator('#console-confirm').waitFor({ state: 'visible', timeout: WAIT_MS });
  const before = await page.locator('#console-admin-answers li').count();
  await page.click('#console-confirm-yes');
  await expect
    .poll(() => page.locator('#console-admin-answers li').count(), { timeout: WAIT_MS })
    .toBeGreaterThan(before);
  const answer = (await page.locator('#console-admin-answers li').first().textContent()) ?? '';
  expect(answer).toMatch(expected);
  return answer;
}

describe('the operator console', () => {
  it('lists the three members of shard 0, one LEADER, all at the same term', async () => {
    await expect.poll(async () => healthy(await shard0Rows()), { timeout: WAIT_MS }).toBe(true);
    const leader = await ui.ex.cluster.waitForLeader(WAIT_MS);
    const rows = await shard0Rows();
    expect(rows.map((r) => r.member).sort()).toEqual(['1', '2', '3']);
    const shown = rows.find((r) => r.role === 'LEADER')!;
    expect(shown.member).toBe(String(leader));
    expect(shown.leaderMark).toBe('true');
    expect(rows.filter((r) => r.leaderMark === 'true')).toHaveLength(1);
    expect(Number(shown.commit)).toBeGreaterThan(0);
    expect(await page.locator('#console .console-shard[data-shard="0"] h3').textContent()).toContain('BTC-USD');
    expect(await page.locator('#console .console-gateway').textContent()).toContain('ready: yes');
    // Two views drawn: the rates have a previous view to count from.
    await page.waitForFunction(
      () =>
        ((window as unknown as { __matchbook: { console: { renders: number } } }).__matchbook.console.renders ?? 0) >=
        2,
      undefined,
      { timeout: WAIT_MS },
    );
    await ui.screenshot(page, 'operator-console');

    const phone = await ui.newPage({ width: 412, height: 839 });
    await phone.page.goto(`${ui.url}#/ops`);
    await expect.poll(async () => healthy(await shard0Rows(phone.page)), { timeout: WAIT_MS }).toBe(true);
    await ui.screenshot(phone.page, 'operator-console-phone');
    expect(phone.errors).toEqual([]);
    await phone.page.context().close();
  });

  it('halts and resumes BTC-USD with the admin key: an order over REST is refused while halted, taken after', async () => {
    const rest = new OrderEntryRestClient({ baseUrl: ui.ex.restUrl, key: DEMO_1 });
    await page.fill('#console-admin-key', DEMO_ADMIN.key);
    await page.fill('#console-admin-secret', 'not-the-secret');
    await page.selectOption('#console-admin-symbol', 'BTC-USD');
    expect(await page.locator('#console-confirm').isVisible()).toBe(false);
    // A wrong secret: refused by the gateway, the answer says why, and nothing is halted.
    await adminAction('#console-halt', /^\S+ Halt BTC-USD: refused, HTTP 401 UNAUTHENTICATED BAD_SIGNATURE/);
    await expect
      .poll(() => page.locator('#console-instruments').textContent(), { timeout: WAIT_MS })
      .toContain('BTC-USD: TRADING');
    expect((await rest.placeOrder(order())).status).toBe(201);

    await page.fill('#console-admin-secret', DEMO_ADMIN.hmacSecret);
    await page.click('#console-halt');
    expect(await page.locator('#console-confirm').textContent()).toContain('Halt BTC-USD?');
    await page.click('#console-confirm-no'); // cancelled: nothing sent
    expect(await page.locator('#console-confirm').isVisible()).toBe(false);
    expect(await page.locator('#console-admin-answers li').first().textContent()).toContain('refused');

    await adminAction('#console-halt', /Halt BTC-USD: done \(Halt, shards 0\)/);
    await expect
      .poll(() => page.locator('#console-instruments').textContent(), { timeout: WAIT_MS })
      .toContain('BTC-USD: HALTED');
    const refused = await rest.placeOrder(order());
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'ORDER_REJECTED', reason: 'INSTRUMENT_HALTED' });

    await adminAction('#console-resume', /Resume BTC-USD: done \(Resume, shards 0\)/);
    await expect
      .poll(() => page.locator('#console-instruments').textContent(), { timeout: WAIT_MS })
      .toContain('BTC-USD: TRADING');
    expect((await rest.placeOrder(order())).status).toBe(201);
  });

  it("engages and releases account 2's kill switch: its orders are refused while engaged, taken after", async () => {
    const rest = new OrderEntryRestClient({ baseUrl: ui.ex.restUrl, key: DEMO_2 });
    await page.fill('#console-admin-account', String(DEMO_2.account));
    await adminAction('#console-kill-on', /Engage the kill switch of account 2: done \(KillSwitch, shards 0\)/);
    const refused = await rest.placeOrder(order());
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'ACCOUNT_BLOCKED', reason: 'KILL_SWITCH' });
    await adminAction('#console-kill-off', /Release the kill switch of account 2: done \(KillSwitch, shards 0\)/);
    expect((await rest.placeOrder(order())).status).toBe(201);
  });

  it('refuses a kill switch for an account that is not a number, before anything is sent', async () => {
    await page.fill('#console-admin-account', '1.5');
    await page.click('#console-kill-on');
    expect(await page.locator('#console-confirm').isVisible()).toBe(false);
    expect(await page.locator('#console-admin-answers li').first().textContent()).toContain(
      'the account must be a whole number in plain digits',
    );
  });

  it('shows a killed follower unreachable, and FOLLOWER caught up again once restarted', async () => {
    const leader = await ui.ex.cluster.waitForLeader(WAIT_MS);
    const follower = ui.ex.cluster.ids.find((id) => id !== leader)!;
    await ui.ex.cluster.kill(follower);
    await expect.poll(async () => (await rowOf(follower))?.status ?? '', { timeout: WAIT_MS }).toMatch(/^unreachable/);
    const down = (await rowOf(follower))!;
    expect(down.role).toBe('—');
    expect(down.term).toBe('—');
    expect((await rowOf(leader))?.role).toBe('LEADER');

    await ui.ex.cluster.start(follower);
    await expect
      .poll(
        async () => {
          const r = await rowOf(follower);
          return r === undefined ? '' : `${r.role} behind ${r.behind} ${r.status}`;
        },
        { timeout: WAIT_MS },
      )
      .toBe('FOLLOWER behind 0 ok');
  });

  it('shows a new leader with a higher term when the leader is killed', async () => {
    await expect.poll(async () => healthy(await shard0Rows()), { timeout: WAIT_MS }).toBe(true);
    const before = await shard0Rows();
    const old = before.find((r) => r.role === 'LEADER')!;
    const oldTerm = Number(old.term);
    await ui.ex.cluster.kill(Number(old.member));
    await expect
      .poll(
        async () => {
          const rows = await shard0Rows();
          const leader = rows.find((r) => r.role === 'LEADER');
          const gone = rows.find((r) => r.member === old.member);
          return (
            leader !== undefined &&
            leader.member !== old.member &&
            Number(leader.term) > oldTerm &&
            gone?.status?.startsWith('unreachable') === true
          );
        },
        { timeout: WAIT_MS },
      )
      .toBe(true);
    // The new leader's elections counter (its /metrics, as the gateway gathered it) went up.
    const now = (await shard0Rows()).find((r) => r.role === 'LEADER')!;
    const was = before.find((r) => r.member === now.member)!;
    expect(Number(was.elections)).toBeGreaterThanOrEqual(0);
    await expect
      .poll(async () => Number((await rowOf(Number(now.member)))?.elections), { timeout: WAIT_MS })
      .toBeGreaterThan(Number(was.elections));

    await ui.ex.cluster.start(Number(old.member));
    await expect.poll(async () => (await rowOf(Number(old.member)))?.role, { timeout: WAIT_MS }).toBe('FOLLOWER');
    expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  });
});
