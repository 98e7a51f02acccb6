// The gateway on its own (gateway/main.ts, `npm run gateway`, a child process) serves the browser
// page: its shards' cluster files give the feeds and the replicas' metrics, the config's `ui`
// section where the query service and the publishers are; `ui.enabled: false` turns the page off.
// The "ui" section's errors are clear (config/gateway-config.ts).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UiClusterView, UiConfig } from '../../api/ui-contract.js';
import { parseGatewayConfig } from '../../config/gateway-config.js';
import { type Child, spawnTsx, terminate } from '../../ops/child-process.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { freePort, REPO_ROOT } from '../../replicator/process-cluster.js';

const EXAMPLE = path.join(REPO_ROOT, 'gateway/examples/gateway-local.json');
const exampleRaw = () => JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
const parseUi = (ui: unknown) => parseGatewayConfig({ ...exampleRaw(), ui }, path.dirname(EXAMPLE)).ui;

describe('gateway config: the "ui" section', () => {
  it('serves the page by default and reads the events side addresses', () => {
    expect(parseUi(undefined)).toEqual({
      enabled: true,
      queryUrl: undefined,
      publisherMetrics: [],
      queryMetrics: undefined,
    });
    expect(
      parseUi({
        enabled: false,
        queryUrl: 'http://q.example:8081/',
        publisherMetrics: ['127.0.0.1:9105', '[::1]:9115'],
        queryMetrics: '127.0.0.1:8081',
      }),
    ).toEqual({
      enabled: false,
      queryUrl: 'http://q.example:8081',
      publisherMetrics: ['127.0.0.1:9105', '[::1]:9115'],
      queryMetrics: '127.0.0.1:8081',
    });
  });

  it('refuses a malformed section with a message naming the field', () => {
    expect(() => parseUi([])).toThrow('gateway config: ui must be an object');
    expect(() => parseUi({ enable: true })).toThrow('ui.enable is not a field');
    expect(() => parseUi({ enabled: 'yes' })).toThrow('ui.enabled must be true or false');
    expect(() => parseUi({ queryUrl: 'ftp://x:1' })).toThrow('ui.queryUrl must be');
    expect(() => parseUi({ queryUrl: 'http://x:1/v1' })).toThrow('ui.queryUrl must be');
    expect(() => parseUi({ publisherMetrics: '127.0.0.1:9105' })).toThrow('ui.publisherMetrics must be an array');
    expect(() => parseUi({ publisherMetrics: ['nope'] })).toThrow('ui.publisherMetrics[0]');
    expect(() => parseUi({ queryMetrics: 9105 })).toThrow('ui.queryMetrics');
  });
});

let ex: LocalExchange;
let dir: string;
const children: Child[] = [];

beforeAll(async () => {
  ex = await startLocalExchange({ feed: true, ops: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-gw-page-'));
}, 90_000);

afterAll(async () => {
  for (const c of children) await terminate(c, 10_000);
  await ex?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A second gateway process on the exchange's replicas, with this "ui" section; its REST URL. */
async function startGateway(name: string, ui: unknown): Promise<string> {
  const raw = JSON.parse(readFileSync(ex.gatewayConfigPath, 'utf8')) as Record<string, unknown>;
  const base = path.dirname(ex.gatewayConfigPath);
  const restPort = await freePort();
  const config = {
    ...raw,
    listen: { rest: `127.0.0.1:${restPort}`, grpc: `127.0.0.1:${await freePort()}` },
    fix: { ...(raw.fix as object), listen: `127.0.0.1:${await freePort()}` },
    shards: (raw.shards as { clusterConfig: string }[]).map((s) => ({
      ...s,
      clusterConfig: path.resolve(base, s.clusterConfig),
    })),
    signingKey: path.resolve(base, typeof raw.signingKey === 'string' ? raw.signingKey : 'exchange-ed25519.pem'),
    dataDir: path.join(dir, name),
    ui,
  };
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = spawnTsx('gateway/main.ts', ['--config', file], { name, readyTimeoutMs: 60_000 });
  children.push(child);
  const ready = await child.ready;
  expect(ready.page).toBe(ui === undefined || (ui as { enabled?: boolean }).enabled !== false);
  return `http://127.0.0.1:${restPort}`;
}

describe('npm run gateway: the page', () => {
  it('serves the page, the feeds of its cluster files and the console, the events side from its "ui" section', async () => {
    const closed = await freePort(); // nothing listens: the console reports the publisher unreachable
    const url = await startGateway('gw-page', {
      queryUrl: 'http://127.0.0.1:18081',
      publisherMetrics: [`127.0.0.1:${closed}`],
    });
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="view-market"');
    expect((await fetch(`${url}/ui/app.js`)).status).toBe(200);
    const config = (await (await fetch(`${url}/v1/ui/config`)).json()) as UiConfig;
    expect(config.query_url).toBe('http://127.0.0.1:18081');
    expect(config.shards[0]!.feed_urls.sort()).toEqual([...ex.feedUrls.values()].sort());
    await expect
      .poll(
        async () => {
          const v = (await (await fetch(`${url}/v1/ui/cluster`)).json()) as UiClusterView;
          return v.gateway.ready && v.shards[0]!.members.every((m) => m.reachable && m.metrics !== undefined);
        },
        { timeout: 30_000, interval: 600 },
      )
      .toBe(true);
    const v = (await (await fetch(`${url}/v1/ui/cluster`)).json()) as UiClusterView;
    expect(v.publishers).toEqual([{ shard: 0, reachable: false, error: expect.any(String) }]);
    expect(v.read_models).toBeNull();
  });

  it('with "ui": {"enabled": false} serves no page', async () => {
    const url = await startGateway('gw-no-page', { enabled: false });
    for (const p of ['/', '/ui/app.js', '/v1/ui/config', '/v1/ui/cluster'])
      expect([p, (await fetch(`${url}${p}`)).status]).toEqual([p, 404]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});
