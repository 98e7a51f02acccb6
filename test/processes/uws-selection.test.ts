// Which uWebSockets.js the exchange runs on is chosen in one place (ops/uws-runtime.ts) and the
// npm package's own JS emulation is never used (issue 21, README "Supported runtimes"): it
// answered every REST route 405 and died on a WebSocket upgrade. Over real sockets with the real
// `npm start` entry, through the smoke script (start, place, match, feed, query API, stop):
// - UWS_USE_FALLBACK=1, the package's switch to its emulation, changes nothing: on Node 20 every
//   process still runs the native binary (we load the binary ourselves, never the package main);
// - a bad MATCHBOOK_UWS stops the exchange at startup, saying why, before any client reached it.
// (MATCHBOOK_UWS=compat through the whole exchange: test/processes/uws-compat-exchange.test.ts and
// the smoke runs on Node 22/24 in .ci/run.)

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

/** Generous: processes/exchange.ts starts replica processes through tsx on a loaded machine. */
const RUN_TIMEOUT_MS = 300_000;

function smoke(env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts/smoke-runtime.mjs')], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
    env,
  });
  const lines = r.stdout.trim().split('\n');
  const last = JSON.parse(lines[lines.length - 1]!) as {
    ok: boolean;
    steps: string[];
    error?: string;
    uwsByProcess?: Record<string, string>;
  };
  return { r, last };
}

describe('choosing uWebSockets.js', () => {
  it(
    'ignores the package emulation switch: native everywhere on Node 20',
    () => {
      if (!process.versions.node.startsWith('20.')) return; // the binary ships for Node 20 only
      const env: NodeJS.ProcessEnv = { ...process.env, UWS_USE_FALLBACK: '1' };
      delete env.MATCHBOOK_UWS;
      const { r, last } = smoke(env);
      expect(last.ok, last.error).toBe(true);
      expect(r.status).toBe(0);
      expect(last.uwsByProcess).toEqual({ gateway: 'native', feed: 'native', query: 'native' });
    },
    RUN_TIMEOUT_MS + 10_000,
  );

  it(
    'refuses to start on a bad MATCHBOOK_UWS, naming it',
    () => {
      const { r, last } = smoke({ ...process.env, MATCHBOOK_UWS: 'fallback' });
      expect(r.status).toBe(1);
      expect(last.ok).toBe(false);
      expect(last.steps).toEqual([]); // never up: no client ever reached a half-configured server
      expect(last.error).toMatch(/the exchange exited \(code 1/);
      expect(last.error).toContain('MATCHBOOK_UWS="fallback": expected auto, native or compat');
    },
    RUN_TIMEOUT_MS + 10_000,
  );
});
