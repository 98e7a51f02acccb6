// Runs the chaos suite (chaos/run.ts) as a child process for the chaos-quick tests and checks
// its last line: one spawn and one set of checks shared by the Raft and the Multi-Paxos runs.

import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

/** The whole quick run, bounded (ms): it takes ~2 min alone on the 2-core machine (14 faults, 8 pairs). */
export const CHAOS_QUICK_TIMEOUT_MS = 12 * 60_000;

/** The fields of the run's last line (chaos/README.md) these tests check. */
export interface ChaosLastLine {
  ok: boolean;
  k: number;
  losses: number;
  duplicates: number;
  violations: number;
  acked: number;
  consensus: string[];
  restartFailed: { kind: string; target: string }[];
  runs: { consensus: string }[];
}

/** `npm run chaos -- <args>`: its exit code, everything it printed, and its last stdout line parsed. */
export async function runChaos(args: string[]): Promise<{ code: number | null; text: string; last: ChaosLastLine }> {
  const out: string[] = [];
  const stdout: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'chaos/run.ts', ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHAOS_QUICK_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      out.push(d.toString('utf8'));
      stdout.push(d.toString('utf8'));
    });
    child.stderr.on('data', (d: Buffer) => out.push(d.toString('utf8')));
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const lines = stdout.join('').trim().split('\n');
  return { code, text: out.join(''), last: JSON.parse(lines[lines.length - 1]!) as ChaosLastLine };
}

/** K = 100%, nothing lost or applied twice, no violation, every damaged replica restarted, exit 0. */
export function expectChaosPassed(r: { code: number | null; text: string; last: ChaosLastLine }): void {
  expect({ code: r.code, ...r.last }, r.text.slice(-6_000)).toMatchObject({
    code: 0,
    ok: true,
    k: 1,
    losses: 0,
    duplicates: 0,
    violations: 0,
    restartFailed: [],
  });
  expect(r.last.acked).toBeGreaterThan(500);
}
