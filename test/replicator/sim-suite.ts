// One it() per simulation profile, each running SIM_SEEDS seeds (default SEEDS_PER_PROFILE, so
// that every profile together runs over 2,000 seeds in npm test). A failure lists every
// failing seed with the command that replays it, and the last events of the first ones.

import { expect, it } from 'vitest';
import {
  PROFILES,
  SimFailure,
  replayCommand,
  runSim,
  type SimConsensus,
  type SimStats,
} from '../../replicator/sim/cluster-sim.js';

/** Seeds per profile in npm test: 12 profiles × 170 = 2,040 seeds. */
export const SEEDS_PER_PROFILE = 170;
/** Seeds per profile of a Multi-Paxos cluster in npm test: 11 profiles (PAXOS_PROFILES) × 185 = 2,035 seeds. */
export const PAXOS_SEEDS_PER_PROFILE = 185;
/** The Multi-Paxos profiles of paxos-sim.test.ts (about half the time); paxos-sim-b.test.ts runs the rest of PAXOS_PROFILES. */
export const PAXOS_PART_A: readonly string[] = [
  'no faults',
  'lossy network',
  'partitions',
  'crashes',
  'elections',
  'lost WAL tails',
];

function seedCount(consensus: SimConsensus): number {
  const count = Number(process.env.SIM_SEEDS ?? (consensus === 'raft' ? SEEDS_PER_PROFILE : PAXOS_SEEDS_PER_PROFILE));
  if (!Number.isSafeInteger(count) || count < 1)
    throw new Error(`SIM_SEEDS=${process.env.SIM_SEEDS} is not a positive integer`);
  return count;
}
/** Failing seeds reported with their trace. */
const DETAILED_FAILURES_MAX = 2;
const TRACE_TAIL_LINES = 60;
/** Per-profile bound on a loaded machine; no assertion depends on it. */
const PROFILE_TIMEOUT_MS = 900_000;

type Totals = Record<keyof SimStats, number>;

function runProfile(name: string, consensus: SimConsensus, COUNT: number): Totals {
  const profile = PROFILES[name]!;
  const totals = {} as Totals;
  const failures: SimFailure[] = [];
  for (let seed = 1; seed <= COUNT; seed++) {
    try {
      const s = runSim({ seed, profile, consensus });
      for (const [k, v] of Object.entries(s) as [keyof SimStats, number][])
        totals[k] = k === 'electionStepsMax' ? Math.max(totals[k] ?? 0, v) : (totals[k] ?? 0) + v;
    } catch (e) {
      if (!(e instanceof SimFailure)) throw e;
      failures.push(e);
    }
  }
  if (failures.length > 0) {
    for (const f of failures.slice(0, DETAILED_FAILURES_MAX)) {
      let trace: string[] = [];
      try {
        runSim({ seed: f.seed, profile, consensus, trace: true });
      } catch (e) {
        if (e instanceof SimFailure) trace = e.trace;
      }
      console.error(
        `${f.message}\n  replay: ${replayCommand(f.seed, name, undefined, consensus)}\n  last events:\n    ${trace.slice(-TRACE_TAIL_LINES).join('\n    ')}`,
      );
    }
    throw new Error(
      `${failures.length} of ${COUNT} seeds failed in profile "${name}" (${consensus}):\n${failures.map((f) => `  seed ${f.seed}: ${f.reason.split('\n')[0]}\n    replay: ${replayCommand(f.seed, name, undefined, consensus)}`).join('\n')}`,
    );
  }
  return totals;
}

/** What each profile must have exercised (so a profile that silently stopped injecting its faults fails). */
const EXERCISED: Record<string, (t: Totals, COUNT: number) => void> = {
  'no faults': (t, COUNT) => {
    expect(t.acks).toBeGreaterThan(COUNT * 100);
    expect(t.transfers).toBeGreaterThan(0);
    expect(t.readsServed).toBeGreaterThan(0);
  },
  'lossy network': (t, COUNT) => expect(t.acks).toBeGreaterThan(COUNT * 30),
  partitions: (t, COUNT) => expect(t.partitions).toBeGreaterThan(COUNT),
  crashes: (t, COUNT) => {
    expect(t.crashesAtDiskCall).toBeGreaterThan(0);
    expect(t.crashesAtSend).toBeGreaterThan(0);
    expect(t.restarts).toBeGreaterThan(COUNT);
  },
  'power cuts': (t, COUNT) => {
    expect(t.powerLosses).toBeGreaterThan(COUNT / 2);
    expect(t.powerCutsAll).toBeGreaterThan(COUNT / 2);
  },
  elections: (t, COUNT) => expect(t.elections).toBeGreaterThan(COUNT),
  mixed: (t, COUNT) => expect(t.acks).toBeGreaterThan(COUNT * 20),
  membership: (t, COUNT) => expect(t.confChangesApplied).toBeGreaterThan(COUNT),
  '5 nodes': (t, COUNT) => expect(t.acks).toBeGreaterThan(COUNT * 20),
  'lost WAL tails': (t, COUNT) => {
    expect(t.tailsDamaged).toBeGreaterThan(COUNT);
    expect(t.tailsLost).toBeGreaterThan(COUNT / 2);
  },
  '5 nodes, lost WAL tails': (t, COUNT) => {
    expect(t.tailsDamaged).toBeGreaterThan(COUNT / 2);
    expect(t.tailsLost).toBeGreaterThan(0);
  },
  sessions: (t, COUNT) => expect(t.sessionsExpired).toBeGreaterThan(COUNT),
};

export function simProfileTests(names: readonly string[], consensus: SimConsensus = 'raft'): void {
  const count = seedCount(consensus);
  for (const name of names) {
    it(
      `${name}: ${count} seeds`,
      () => {
        const t = runProfile(name, consensus, count);
        if (count >= 50) EXERCISED[name]?.(t, count);
      },
      PROFILE_TIMEOUT_MS,
    );
  }
}

/**
 * Runs seed 7 of `mixed` twice and checks the two runs are the same event for event (the result
 * or failure, and every trace line); returns the trace for protocol-specific checks.
 */
export function expectDeterministicRun(consensus: SimConsensus): string[] {
  const run = (out: string[]) => {
    try {
      return JSON.stringify(runSim({ seed: 7, profile: PROFILES.mixed!, consensus, onTrace: (l) => out.push(l) }));
    } catch (e) {
      if (e instanceof SimFailure) return e.message;
      throw e;
    }
  };
  const a: string[] = [];
  const b: string[] = [];
  expect(run(a)).toEqual(run(b));
  expect(a.length).toBeGreaterThan(1000);
  expect(a).toEqual(b);
  return a;
}
