// What every browser test of the page (ui/) starts: a whole exchange on free ports — three
// replica processes with feeds and ops endpoints, the gateway serving the page, the events side
// (broker, publisher, query service) — and Debian's headless Chromium driven by playwright-core.
// Screenshots go to test-artifacts/ui/ (git-ignored; CI keeps them).

import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { startLocalEvents, type LocalEvents } from '../../events/local-events.js';
import { startLocalExchange, type LocalExchange, type LocalExchangeOptions } from '../../processes/local-exchange.js';
import { freePort } from '../../replicator/process-cluster.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
export const CHROMIUM_PATH = process.env.MATCHBOOK_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.resolve('test-artifacts/ui');

export const DEMO_1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me', account: 1 };
export const DEMO_2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me', account: 2 };
export const DEMO_ADMIN = { key: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' };

export interface UiExchange {
  ex: LocalExchange;
  events: LocalEvents;
  browser: Browser;
  /** The page's URL (the gateway's REST port). */
  url: string;
  /** A new page (its own context) with console errors collected into `errors`. */
  newPage(viewport?: { width: number; height: number }): Promise<{ page: Page; errors: string[] }>;
  screenshot(page: Page, name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startUiExchange(opts: LocalExchangeOptions = {}): Promise<UiExchange> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(
      `no Chromium at ${CHROMIUM_PATH}: apt-get install -y --no-install-recommends chromium (or set MATCHBOOK_CHROMIUM)`,
    );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-ui-'));
  const ex = await startLocalExchange({ feed: true, ops: true, ...opts });
  let events: LocalEvents | undefined;
  let browser: Browser | undefined;
  try {
    events = await startLocalEvents({
      clusterConfigPath: ex.clusters[0]!.configPath,
      gatewayConfigPath: ex.gatewayConfigPath,
      dataDir: dir,
      brokerPort: 0,
      brokerOps: '127.0.0.1:0',
      publisherOps: '127.0.0.1:0',
      queryRest: `127.0.0.1:${await freePort()}`,
      queryGrpc: `127.0.0.1:${await freePort()}`,
      shards: ex.clusters.map((c) => ({ clusterConfigPath: c.configPath })),
    });
    ex.attachEvents(events);
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--disable-gpu'] });
  } catch (err) {
    await events?.stop();
    await ex.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const b = browser;
  const ev = events;
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return {
    ex,
    events: ev,
    browser: b,
    url: `${ex.restUrl}/`,
    async newPage(viewport = { width: 1280, height: 900 }) {
      const context = await b.newContext({ viewport });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      return { page, errors };
    },
    async screenshot(page, name) {
      const file = path.join(ARTIFACTS_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async stop() {
      await b.close();
      await ev.stop();
      await ex.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
