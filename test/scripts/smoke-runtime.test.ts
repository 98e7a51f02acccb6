// scripts/smoke-runtime.mjs fails when it should (issue 21: CI counts it as a test), cheaply:
// with nothing listening at the offset it attaches to, and when the exchange cannot start (a port
// offset that puts ports past 65535: processes/exchange.ts exits 2 before anything listens). Each
// must exit 1 with a last stdout line {"ok":false,"error":…}. The passing run is CI's (.ci/run).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import { exchangeAddresses } from '../processes/npm-start-child.js';

const SCRIPT = path.join(REPO_ROOT, 'scripts/smoke-runtime.mjs');
/** Generous: the second case starts processes/exchange.ts through tsx on a loaded machine. */
const RUN_TIMEOUT_MS = 120_000;

function smoke(args: string[]): { status: number | null; last: Record<string, unknown>; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
  });
  const lines = r.stdout.trim().split('\n');
  return { status: r.status, last: JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>, stderr: r.stderr };
}

describe('scripts/smoke-runtime.mjs', () => {
  it('knows every port the exchange listens on (its offsets keep them all out of the ephemeral range)', () => {
    const src = readFileSync(SCRIPT, 'utf8');
    const list = /const EXCHANGE_PORTS = \[([\d,\s_]+)\]/.exec(src)?.[1];
    expect(list).toBeDefined();
    const smokePorts = list!
      .split(',')
      .filter((p) => p.trim() !== '')
      .map((p) => Number(p.trim().replaceAll('_', '')));
    const ports = exchangeAddresses('/tmp/unused', 0, 1).map((a) => Number(a.slice(a.lastIndexOf(':') + 1)));
    expect([...smokePorts].sort()).toEqual([...ports].sort());
  });

  it('exits 1 when no exchange runs where it attaches', () => {
    // Offset 55001: the feed would be on 63092, where nothing of ours listens.
    const r = smoke(['--attach', '--port-offset', '55001']);
    expect(r.status).toBe(1);
    expect(r.last).toMatchObject({ ok: false, node: process.version });
    expect(String(r.last.error)).toMatch(/feed connection failed/);
  });

  it(
    'exits 1 when the exchange exits before it is up',
    () => {
      const r = smoke(['--port-offset', '70000']);
      expect(r.status).toBe(1);
      expect(r.last).toMatchObject({ ok: false, offset: 70000 });
      expect(String(r.last.error)).toMatch(/the exchange exited \(code 2/);
      expect(r.stderr).toContain('is not a port (1..65535)'); // the exchange's own output, passed on
    },
    RUN_TIMEOUT_MS + 10_000,
  );
});
