// `npm start -- --shards 2` as a child process (the real entry, processes/exchange.ts), as
// npm-start-fresh.test.ts runs the quickstart: a temporary working directory (its ./data is the
// data root) and a --port-offset whose every port is free. Checked: bad --shards values exit 2
// with a message before anything starts; the exchange comes up with both shards in its banner;
// an order on a symbol of each shard fills (the order ids carry the shard); the query API shows
// the fills of both shards (one publisher per shard into the same topics); `matchbook cluster
// status --config <root>/config/gateway-local.json` shows both shards; `matchbook replay
// --verify --data-dir <root>` replays both shards and the report chain (the configuration taken
// from the data root) and passes; SIGINT stops it with exit 0; a restart of that data root with
// --shards 1 is refused (a symbol would move to another shard), exit 2. Every wait polls with a
// generous bound.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shardOfOrderId } from '../../api/order-ids.js';
import { QueryRestClient } from '../../events/query/client.js';
import type { OrderResultResponse } from '../../gateway/client/grpc-client.js';
import { runMatchbookCaptured } from '../cli/run-operator.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { embeddedBrokerEnv, exchangeArgs, killExchangeGroup, pickOffset, pollFor, sleep } from './npm-start-child.js';

/** Bounds (ms) for a loaded 2-core machine: the start boots six replicas and four event processes. */
const START_MS = 300_000;
const STOP_MS = 90_000;
const CHECK_MS = 120_000;
const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };

const workDir = mkdtempSync(path.join(os.tmpdir(), 'mb-npm-start-shards-'));
const dataRoot = path.join(workDir, 'data');
let exchange: ChildProcess | undefined;
let output = '';
/** pollFor with the exchange's last output in the timeout's message. */
const waitFor = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>) =>
  pollFor(what, timeoutMs, probe, () => output.slice(-3000));

/** `npm start -- args` that must exit at once (bad usage): its exit code and stderr. */
function startRefused(args: string[]): { code: number | null; err: string } {
  const r = spawnSync(process.execPath, exchangeArgs(args), {
    cwd: workDir,
    env: embeddedBrokerEnv(),
    encoding: 'utf8',
    timeout: CHECK_MS,
  });
  return { code: r.status, err: r.stderr };
}

/** `matchbook …` in this process; its exit code and what it printed. */
const cli = runMatchbookCaptured;

afterAll(async () => {
  await killExchangeGroup(exchange);
  rmSync(workDir, { recursive: true, force: true });
});

describe('npm start -- --shards 2', () => {
  it('refuses bad shard counts with exit 2 and a message, before starting anything', () => {
    for (const [value, message] of [
      ['0', /--shards must be an integer in 1\.\.8/],
      ['9', /--shards must be an integer in 1\.\.8/],
      ['two', /--shards must be an integer in 1\.\.8/],
      ['1.5', /--shards must be an integer in 1\.\.8/],
      ['3', /--shards 3 needs at least 3 instruments/],
    ] as const) {
      const r = startRefused(['--shards', value, '--data-dir', path.join(workDir, 'refused')]);
      expect(r.code, `--shards ${value}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(message);
    }
  });

  it(
    'starts both shards, fills an order on each, shows both in the query API, cluster status and replay --verify, stops',
    async () => {
      const offset = await pickOffset(dataRoot, 2);
      exchange = spawn(process.execPath, exchangeArgs(['--shards', '2', '--port-offset', String(offset)]), {
        cwd: workDir,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group: the cleanup can reach the replicas it spawns
        env: embeddedBrokerEnv(),
      });
      exchange.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
      exchange.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
      await waitFor('the exchange to start', START_MS, async () =>
        output.includes('Ctrl-C to stop.') ? true : undefined,
      );
      expect(output).toMatch(/shard 0 +BTC-USD/);
      expect(output).toMatch(/shard 1 +ETH-USD/);

      const baseUrl = `http://127.0.0.1:${8080 + offset}`;
      const rest1 = new OrderEntryRestClient({ baseUrl, key: K1 });
      const rest2 = new OrderEntryRestClient({ baseUrl, key: K2 });
      for (const [symbol, price, lot, shard] of [
        ['BTC-USD', 4_999_000, 1, 0],
        ['ETH-USD', 300_000, 10, 1],
      ] as const) {
        const buy = await rest1.placeOrder({
          client_order_id: `b-${symbol}`,
          symbol,
          side: 'BUY',
          order_type: 'LIMIT',
          price,
          quantity: 5 * lot,
        });
        expect(buy.status, JSON.stringify(buy.body)).toBe(201);
        expect(shardOfOrderId((buy.body as OrderResultResponse).result.reports[0]!.order_id)).toBe(shard);
        const sell = await rest2.placeOrder({
          client_order_id: `s-${symbol}`,
          symbol,
          side: 'SELL',
          order_type: 'LIMIT',
          price,
          quantity: 2 * lot,
        });
        expect(sell.status, JSON.stringify(sell.body)).toBe(201);
        expect((sell.body as OrderResultResponse).result.reports.at(-1)!.order_status).toBe('FILLED');
      }

      const query = new QueryRestClient(`http://127.0.0.1:${8081 + offset}`, K1);
      await waitFor('fills of both shards in the query API', CHECK_MS, async () => {
        const r = await query.get('/v1/accounts/1/fills');
        const symbols = new Set((r.body.fills as { symbol: string }[] | undefined)?.map((f) => f.symbol));
        return symbols.has('BTC-USD') && symbols.has('ETH-USD') ? true : undefined;
      });

      const gatewayFile = path.join(dataRoot, 'config', 'gateway-local.json');
      const status = await cli(['cluster', 'status', '--config', gatewayFile, '--json']);
      expect(status.code, status.out).toBe(0);
      const shards = (JSON.parse(status.out) as { shards: { shard: number; members: { role?: string }[] }[] }).shards;
      expect(shards.map((s) => s.shard)).toEqual([0, 1]);
      for (const s of shards) expect(s.members.filter((m) => m.role === 'LEADER')).toHaveLength(1);

      const replay = await cli(['replay', '--verify', '--data-dir', dataRoot]);
      expect(replay.code, replay.out).toBe(0);
      const last = JSON.parse(replay.out.trim().split('\n').at(-1)!) as { replay: string; shards: { shard: number }[] };
      expect(last.replay).toBe('ok');
      expect(last.shards.map((s) => s.shard)).toEqual([0, 1]);

      const proc = exchange;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      await Promise.race([exited, sleep(STOP_MS)]);
      expect(proc.exitCode).toBe(0);
      exchange = undefined;

      // The data root was made with two shards: one shard would move ETH-USD to shard 0.
      const again = startRefused(['--shards', '1', '--port-offset', String(offset)]);
      expect(again.code, again.err).toBe(2);
      expect(again.err).toMatch(/symbol ETH-USD was on shard 1 of this data root and would be on shard 0/);
    },
    START_MS + STOP_MS + 4 * CHECK_MS,
  );
});
