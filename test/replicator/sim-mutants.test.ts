// The planted bugs of the simulator (replicator/sim/mutants.ts) must stay plantable: each edit
// matches its source exactly once (code that moved would silently turn a mutant into the
// unmutated code), and a few that the simulator catches within the first seeds are run for
// real, so a simulator that stopped failing would fail here. The whole list is checked with
// `npm run sim -- --check-mutants --seeds 1..2000` (replicator/sim/README.md).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MUTANTS } from '../../replicator/sim/mutants.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Each Multi-Paxos mutant: the first seed and profile that catch it, and a phrase of the report. */
const PAXOS_CAUGHT: [string, number, string, string][] = [
  ['paxos-accepted-before-durable', 1, 'no faults', 'before its acceptance was durable'],
  ['paxos-accept-below-promise', 1, 'mixed', 'two values chosen in slot'],
  ['paxos-reported-values-ignored', 1, 'partitions', 'two values chosen in slot'],
  ['paxos-promise-not-raised', 1, 'no faults', 'before that promise was durable'],
  ['paxos-learn-other-ballot', 2, 'partitions', 'was chosen'],
  ['paxos-recovery-lowest-ballot', 22, 'lost WAL tails', 'two values chosen in slot'],
  ['paxos-recovering-promises', 5, 'lost WAL tails', 'two values chosen in slot'],
  ['paxos-floor-wait-off', 265, '5 nodes, lost WAL tails', 'no leader committed a new command'],
];

describe('planted bugs of the simulator', () => {
  it('every edit matches its source file exactly once, and names are unique', () => {
    expect(new Set(MUTANTS.map((m) => m.name)).size).toBe(MUTANTS.length);
    for (const m of MUTANTS) {
      const src = fs.readFileSync(path.join(ROOT, m.file), 'utf8');
      const first = src.indexOf(m.find);
      expect(first, `${m.name}: not found in ${m.file}`).toBeGreaterThanOrEqual(0);
      expect(src.indexOf(m.find, first + 1), `${m.name}: found twice in ${m.file}`).toBe(-1);
      expect(m.replace).not.toBe(m.find);
    }
  });

  it('--list-mutants prints one name a line', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'replicator/sim/run.ts'), '--list-mutants'],
      { encoding: 'utf8', cwd: ROOT },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(MUTANTS.map((m) => m.name));
  });

  it.each([
    ['ack-before-fsync', 'no faults'],
    ['vote-not-saved', 'partitions'],
  ])(
    'the simulator catches %s (profile %s) within the first seeds, and exits 1 with the replay command',
    (name, profile) => {
      const r = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(ROOT, 'replicator/sim/run.ts'),
          '--mutant',
          name,
          '--profile',
          profile,
          '--seeds',
          '1..5',
          '--first-failure',
        ],
        { encoding: 'utf8', cwd: ROOT },
      );
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('FAIL seed');
      expect(r.stdout).toContain(`--mutant ${name}`);
    },
    120_000,
  );

  // The Multi-Paxos planted bugs, each on the first seed and profile that catches it within
  // 1..2000 (npm run sim -- --check-mutants --consensus multipaxos --seeds 1..2000; the table in
  // replicator/sim/README.md), and what the simulator reports.
  it.each(PAXOS_CAUGHT)(
    'the Multi-Paxos simulation catches %s at seed %i of profile %s (%s)',
    (name, seed, profile, caughtAs) => {
      expect(MUTANTS.find((m) => m.name === name)?.consensus).toBe('multipaxos');
      const r = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(ROOT, 'replicator/sim/run.ts'),
          '--mutant',
          name,
          '--consensus',
          'multipaxos',
          '--profile',
          profile,
          '--seeds',
          `${seed}..${seed}`,
        ],
        { encoding: 'utf8', cwd: ROOT },
      );
      expect(r.status).toBe(1);
      expect(r.stdout).toContain(`FAIL seed ${seed} profile "${profile}" (multipaxos)`);
      expect(r.stdout).toContain(caughtAs);
      expect(r.stdout).toContain(`--consensus multipaxos --mutant ${name}`);
    },
    120_000,
  );

  it('every Multi-Paxos planted bug is checked here', () => {
    const paxos = MUTANTS.filter((m) => m.consensus === 'multipaxos').map((m) => m.name);
    expect(paxos.length).toBeGreaterThanOrEqual(4);
    expect(PAXOS_CAUGHT.map((c) => c[0]).sort()).toEqual([...paxos].sort());
  });
});
