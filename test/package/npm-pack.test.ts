// The package as a user gets it (issue 21, "a build"): `npm run build`, `npm pack`, then
// `npm install <tarball>` in an empty directory — no sources, no tsx (a development
// dependency), only dist/ and the files the package lists. There: `npx matchbook --help`; a
// script importing `matchbook/engine` that crosses two orders, and every client export; a
// TypeScript file typechecked against the package's declarations (a wrong call must fail); and
// the whole exchange started from the installed package with plain node
// (dist/processes/exchange.js spawns the replicas and the events processes as compiled JS: with
// no tsx anywhere to be found, a `--import tsx` would fail them), an order crossed through
// `npx matchbook place` against it, and the browser page it serves (GET / and the bundle). Installing is slow (the registry): the bounds are generous.

import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import { embeddedBrokerEnv, pickOffset } from '../processes/npm-start-child.js';

/** Build, pack and install (the registry; a loaded machine). */
const SETUP_MS = 900_000;
/** The exchange's start from the installed package: seven processes on a loaded 2-core machine. */
const START_MS = 240_000;
const STOP_MS = 90_000;
const COMMAND_MS = 120_000;
const POLL_MS = 200;

const workDir = mkdtempSync(path.join(os.tmpdir(), 'mb-npm-pack-'));
const appDir = path.join(workDir, 'app');
const installed = path.join(appDir, 'node_modules', 'matchbook');
let exchange: ChildProcess | undefined;
let output = '';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs a command to completion; throws with its output unless it exits 0. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = COMMAND_MS): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, CI: 'true' } });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r;
}

beforeAll(() => {
  run('npm', ['run', '--silent', 'build'], REPO_ROOT, SETUP_MS);
  const packDir = path.join(workDir, 'pack');
  mkdirSync(packDir);
  const packed = run('npm', ['pack', '--json', '--pack-destination', packDir], REPO_ROOT, SETUP_MS);
  const [{ filename }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [{ filename: string }];
  mkdirSync(appDir);
  writeFileSync(
    path.join(appDir, 'package.json'),
    JSON.stringify({ name: 'mb-pack-app', version: '1.0.0', private: true, type: 'module' }),
  );
  run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(packDir, filename)],
    appDir,
    SETUP_MS,
  );
}, SETUP_MS);

afterAll(async () => {
  if (exchange?.pid !== undefined && exchange.exitCode === null) {
    try {
      process.kill(-exchange.pid, 'SIGKILL'); // its process group: the replicas and events processes too
    } catch {
      // already gone
    }
    await sleep(1_000);
  }
  rmSync(workDir, { recursive: true, force: true });
});

describe('the packed package, installed in an empty directory', () => {
  it('holds compiled JavaScript and no sources, and installs without tsx', () => {
    expect(existsSync(path.join(installed, 'dist/processes/exchange.js'))).toBe(true);
    expect(existsSync(path.join(installed, 'dist/engine/index.d.ts'))).toBe(true);
    expect(existsSync(path.join(installed, 'proto/exchange/v1/order_entry.proto'))).toBe(true);
    expect(existsSync(path.join(installed, 'processes/exchange.ts'))).toBe(false);
    // The browser page: its bundle and static files ship, its TypeScript does not.
    expect(existsSync(path.join(installed, 'dist/ui/app.js'))).toBe(true);
    expect(existsSync(path.join(installed, 'ui/index.html'))).toBe(true);
    expect(existsSync(path.join(installed, 'ui/src/main.ts'))).toBe(false);
    // Nothing below may lean on tsx: it is not there to be found.
    expect(existsSync(path.join(appDir, 'node_modules/tsx'))).toBe(false);
    expect(existsSync(path.join(installed, 'node_modules/tsx'))).toBe(false);
  });

  it('npx matchbook --help prints the usage and exits 0', () => {
    const r = run('npx', ['--no-install', 'matchbook', '--help'], appDir);
    expect(r.stdout.startsWith('usage: matchbook <place|')).toBe(true);
    expect(r.stdout).toContain('verify-reports FILE');
  });

  it('imports matchbook/engine (two crossing orders fill) and every client export', () => {
    writeFileSync(
      path.join(appDir, 'use.mjs'),
      `import { readFileSync } from 'node:fs';
import { PipeSession, parseConfig, Engine, EventBuffer } from 'matchbook/engine';
const config = parseConfig(JSON.parse(readFileSync('node_modules/matchbook/engine/examples/instruments.json', 'utf8')));
const session = new PipeSession({ config });
const order = (seq, account, side, qty) => JSON.stringify({ type: 'new', seq, tsUs: seq, account, clOrdId: 'c' + seq,
  symbol: 'BTC-USD', side, ordType: 'LIMIT', price: 5000000, qty });
const events = (session.line(order(1, 1, 'SELL', 10)) + session.line(order(2, 2, 'BUY', 4)))
  .trim().split('\\n').map((l) => JSON.parse(l));
const exports = {};
for (const m of ['matchbook/client/grpc', 'matchbook/client/rest', 'matchbook/client/feed',
  'matchbook/client/user-stream', 'matchbook/verify-reports']) exports[m] = Object.keys(await import(m)).sort();
const { OrderEntryGrpcClient } = await import('matchbook/client/grpc');
const grpc = new OrderEntryGrpcClient({ address: '127.0.0.1:1', key: { key: 'k', hmacSecret: 's' } }); // loads its .proto
grpc.close();
const { verifyReports } = await import('matchbook/verify-reports');
const { userStreamUrl } = await import('matchbook/client/user-stream');
console.log(JSON.stringify({
  trades: events.filter((e) => e.kind === 'trade'),
  typedEngine: typeof Engine === 'function' && typeof EventBuffer === 'function',
  exports,
  verifyEmpty: verifyReports({ reportLines: [] }).ok,
  verifyBad: verifyReports({ reportLines: ['{"exec_id":1}'] }).failures[0],
  userStream: userStreamUrl('http://127.0.0.1:8080'),
}));
`,
    );
    const out = JSON.parse(run('node', ['use.mjs'], appDir).stdout.trim().split('\n').pop()!);
    expect(out.trades).toEqual([
      expect.objectContaining({ kind: 'trade', symbol: 'BTC-USD', price: 5000000, qty: 4, makerAccount: 1 }),
    ]);
    expect(out.typedEngine).toBe(true);
    expect(out.exports['matchbook/client/grpc']).toContain('OrderEntryGrpcClient');
    expect(out.exports['matchbook/client/rest']).toContain('OrderEntryRestClient');
    expect(out.exports['matchbook/client/feed']).toContain('FeedClient');
    expect(out.exports['matchbook/client/user-stream']).toEqual(
      expect.arrayContaining(['WsConnection', 'userStreamLogin', 'userStreamUrl']),
    );
    expect(out.exports['matchbook/verify-reports']).toContain('verifyReports');
    expect(out.verifyEmpty).toBe(true);
    expect(out.verifyBad).toMatchObject({ line: 1 });
    expect(out.userStream).toBe('ws://127.0.0.1:8080/v1/user-stream');
  });

  it("typechecks a user's TypeScript against the package's declarations, and refuses a wrong call", () => {
    const tsc = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const check = (source: string) => {
      writeFileSync(path.join(appDir, 'use.ts'), source);
      return spawnSync(
        process.execPath,
        [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--target', 'es2022', 'use.ts'],
        { cwd: appDir, encoding: 'utf8', timeout: COMMAND_MS },
      );
    };
    const good = check(`import { Engine, EventBuffer, parseConfig, type ShardConfig } from 'matchbook/engine';
import { OrderEntryRestClient } from 'matchbook/client/rest';
import { verifyReports, type VerifyResult } from 'matchbook/verify-reports';
const config: ShardConfig = parseConfig({});
const engine: Engine = new Engine(config);
engine.apply({ type: 'tick', seq: 1, tsUs: 1 } as never, new EventBuffer());
const r: VerifyResult = verifyReports({ reportLines: [] });
export const used = [engine, r.ok, OrderEntryRestClient];
`);
    expect(good.stdout + good.stderr).toBe('');
    expect(good.status).toBe(0);
    const bad = check(`import { verifyReports } from 'matchbook/verify-reports';
export const r: string = verifyReports({ reportLines: 42 });
`);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toContain('use.ts');
    expect(bad.stdout).toMatch(/TS2322|TS2769|TS2345/);
  });

  it('runs the exchange from the installed package with plain node and crosses an order through npx matchbook', async () => {
    const dataRoot = path.join(workDir, 'data');
    const offset = await pickOffset(dataRoot);
    exchange = spawn(
      process.execPath,
      [path.join(installed, 'dist/processes/exchange.js'), '--data-dir', dataRoot, '--port-offset', String(offset)],
      { cwd: appDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: embeddedBrokerEnv() },
    );
    exchange.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
    exchange.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const deadline = Date.now() + START_MS;
    while (!output.includes('Ctrl-C to stop.')) {
      if (exchange.exitCode !== null) throw new Error(`the exchange exited (${exchange.exitCode})\n${output}`);
      if (Date.now() > deadline) throw new Error(`the exchange did not start in ${START_MS} ms\n${output}`);
      await sleep(POLL_MS);
    }
    expect(output).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)/);
    const url = `http://127.0.0.1:${8080 + offset}`;
    // The browser page, from the installed package (no esbuild there: the bundle `npm run build` wrote).
    expect(output).toContain(`page       ${url}/`);
    for (const [file, type] of [
      ['/', 'text/html'],
      ['/ui/app.js', 'text/javascript'],
      ['/ui/style.css', 'text/css'],
      ['/ui/lightweight-charts.mjs', 'text/javascript'],
    ]) {
      const res = await fetch(`${url}${file}`);
      expect([file, res.status, res.headers.get('content-type')?.split(';')[0]]).toEqual([file, 200, type]);
      expect((await res.arrayBuffer()).byteLength, file).toBeGreaterThan(0);
    }
    const place = (side: string, qty: string, key: string, secret: string) =>
      JSON.parse(
        run(
          'npx',
          [
            '--no-install',
            'matchbook',
            'place',
            '--symbol',
            'BTC-USD',
            '--side',
            side,
            '--type',
            'LIMIT',
            '--price',
            '4999000',
            '--qty',
            qty,
            '--url',
            url,
            '--key',
            key,
            '--secret',
            secret,
          ],
          appDir,
        ).stdout,
      ) as { status: number; body: { result: { reports: { exec_type: string; last_qty?: string | number }[] } } };
    const buy = place('BUY', '10', 'demo-key-1', 'demo-secret-1-change-me');
    expect(buy.status).toBe(201);
    const sell = place('SELL', '4', 'demo-key-2', 'demo-secret-2-change-me');
    expect(sell.status).toBe(201);
    expect(JSON.stringify(sell.body)).toContain('"exec_type":"TRADE"');
    const proc = exchange;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    await Promise.race([exited, sleep(STOP_MS)]);
    expect(proc.exitCode).toBe(0);
    exchange = undefined;
  });
});
