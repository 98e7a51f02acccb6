// The suite's runner on stand-in benches (plain node one-liners instead of npm scripts): the
// last JSON line is taken, a failure is recorded with its exit code and stderr tail, and a bench
// over its time limit is killed with everything it started.

import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { BENCHES, runBench, type BenchDef } from '../../bench/suite/run-all.js';

function fake(name: string, script: string, extra: Partial<BenchDef> = {}): BenchDef {
  return {
    name: `test-fake-${name}`,
    script: `bench:${name}`,
    quick: ['--quick'],
    full: [],
    argv: [process.execPath, '-e', script],
    ...extra,
  };
}

describe('runBench', () => {
  it('takes the last JSON line even when a line follows it', async () => {
    const e = await runBench(
      fake(
        'ok',
        `console.log('a table'); console.log(JSON.stringify({ bench: 'x', v: 1 })); console.log('[gateway] stats {}');`,
      ),
      true,
      os.tmpdir(),
      false,
    );
    expect(e.status).toBe('ok');
    expect(e.exitCode).toBe(0);
    expect(e.result).toEqual({ bench: 'x', v: 1 });
    expect(e.mode).toBe('quick');
    expect(e.command).toBe('npm run bench:ok -- --quick');
  });

  it('records a failed bench with its exit code and the tail of its stderr, and keeps a JSON line it printed', async () => {
    const e = await runBench(
      fake(
        'fail',
        `console.log('{"bench":"y"}'); console.error('line 1'); console.error('boom: it broke'); process.exit(3);`,
      ),
      true,
      os.tmpdir(),
      false,
    );
    expect(e.status).toBe('failed');
    expect(e.exitCode).toBe(3);
    expect(e.error).toBe('exit code 3');
    expect(e.stderrTail).toContain('boom: it broke');
    expect(e.result).toEqual({ bench: 'y' });
  });

  it('fails a bench that exits 0 without a JSON line', async () => {
    const e = await runBench(fake('nojson', `console.log('just a table');`), true, os.tmpdir(), false);
    expect(e.status).toBe('failed');
    expect(e.error).toBe('no JSON object on its stdout');
  });

  it('kills a bench over its time limit, and what it started', async () => {
    // The bench starts a child that would outlive it, then hangs.
    const script = `const c = require('node:child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'inherit' }); console.error('grandchild ' + c.pid); setTimeout(() => {}, 60000);`;
    const started = Date.now();
    const e = await runBench(fake('slow', script, { timeoutQuickMs: 1500 }), true, os.tmpdir(), false);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(e.status).toBe('failed');
    expect(e.timedOut).toBe(true);
    expect(e.error).toBe('over its 1.5 s limit');
    const pid = Number(/grandchild (\d+)/.exec(e.stderrTail ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 40 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
  });
});

describe('the suite', () => {
  it('runs every benchmark of the issue, seed included, each with --quick flags', () => {
    expect(BENCHES.map((b) => b.name)).toEqual([
      'engine',
      'replay',
      'replicator',
      'rest',
      'grpc',
      'feed',
      'events',
      'seed',
    ]);
    for (const b of BENCHES) expect(b.quick.length).toBeGreaterThan(0);
    expect(BENCHES.find((b) => b.name === 'seed')!.quick).toEqual(['--quick']);
    // Failover figures come from the replicator's trials.
    expect(BENCHES.find((b) => b.name === 'replicator')!.quick).toContain('--trials');
  });
});
