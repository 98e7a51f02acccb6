// On uWebSockets.js's JS fallback (what Node 22 and 24 get from the npm build) the exchange must
// not start: the fallback throws from node:http's 'upgrade' event on a WebSocket upgrade, so one
// client connecting to the feed killed the replica, and every REST route answered 405 (issue 21,
// README "Supported runtimes"). Over real sockets with the real `npm start` entry, through the
// smoke script, on this Node with the fallback forced (UWS_USE_FALLBACK=1, the package's own
// switch): the exchange must stop at startup saying why, never come up.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

/** Generous: processes/exchange.ts starts replica processes through tsx on a loaded machine. */
const RUN_TIMEOUT_MS = 300_000;

describe('the exchange on the uWS JS fallback', () => {
  it(
    'refuses to start, naming the fallback and the way out',
    () => {
      const env: NodeJS.ProcessEnv = { ...process.env, UWS_USE_FALLBACK: '1' };
      delete env.MATCHBOOK_UWS_FALLBACK;
      const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts/smoke-runtime.mjs')], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: RUN_TIMEOUT_MS,
        env,
      });
      const lines = r.stdout.trim().split('\n');
      const last = JSON.parse(lines[lines.length - 1]!) as { ok: boolean; steps: string[]; error: string };
      expect(r.status).toBe(1);
      expect(last.ok).toBe(false);
      expect(last.steps).toEqual([]); // never up: no client ever reached a half-working server
      expect(last.error).toMatch(/the exchange exited \(code 1/);
      expect(r.stderr).toContain('uWebSockets.js: JS fallback (UWS_USE_FALLBACK is set)');
      expect(r.stderr).toContain('MATCHBOOK_UWS_FALLBACK=1 starts anyway');
    },
    RUN_TIMEOUT_MS + 10_000,
  );
});
