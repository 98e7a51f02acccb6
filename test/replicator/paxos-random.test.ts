// The deterministic randomized cluster test of the Multi-Paxos core (paxos-harness.ts): N = 3
// and 5 cores (small windows, and once the replica's own) under drops, duplicates, reordering, partitions and crashes that lose whatever the
// core did not ask to persist; then everything heals. Checked at every step: at most one value
// chosen per slot (from the acceptances themselves), the same applied sequence on every replica,
// nothing applied twice, an acknowledged proposal only once applied; after healing: progress and
// convergence. A failure names its seed: replay it with PAXOS_SEED=<seed>.

import { describe, expect, it } from 'vitest';
import { Prng } from '../../replicator/prng.js';
import { PAXOS_ACCEPT_WINDOW_SLOTS, PAXOS_LEARN_SLOTS_MAX, PAXOS_PIPELINE_SLOTS_MAX } from '../../replicator/limits.js';
import { PaxosCluster, SMALL_WINDOWS, type Faults, type PaxosWindows } from './paxos-harness.js';

/** The windows the replica will run with (replicator/limits.ts). */
const PRODUCTION_WINDOWS: PaxosWindows = {
  pipelineSlotsMax: PAXOS_PIPELINE_SLOTS_MAX,
  acceptWindowSlots: PAXOS_ACCEPT_WINDOW_SLOTS,
  learnSlotsMax: PAXOS_LEARN_SLOTS_MAX,
};

const FAULTS: Faults = {
  drop: 0.1,
  duplicate: 0.05,
  crash: 0.5,
  partition: 0.4,
  crashMidReady: 0.002,
  crashLostTail: 0.3,
};
const FAULT_STEPS = 600;
const HEAL_STEPS_MAX = 20_000;

interface Totals {
  acked: number;
  crashes: number;
  snapshotsInstalled: number;
  noops: number;
  leaderships: number;
  tailsLost: number;
  tailRecoveries: number;
}

function runSeeds(list: number[], members: number[], windows = SMALL_WINDOWS): Totals {
  const t: Totals = {
    acked: 0,
    crashes: 0,
    snapshotsInstalled: 0,
    noops: 0,
    leaderships: 0,
    tailsLost: 0,
    tailRecoveries: 0,
  };
  for (const seed of list) {
    const cl = runSeed(seed, members, windows);
    t.acked += cl.acked.size;
    t.crashes += cl.stats.crashes;
    t.snapshotsInstalled += cl.stats.snapshotsInstalled;
    t.noops += cl.stats.noops;
    t.leaderships += cl.leaderBallots.size;
    t.tailsLost += cl.stats.tailsLost;
    t.tailRecoveries += cl.stats.tailRecoveries;
  }
  return t;
}

/** The faults and paths the runs must have gone through, or the test proves little. */
function expectExercised(t: Totals, seedCount: number): void {
  if (seedCount < 100) return; // one replayed seed
  expect(t.acked).toBeGreaterThan(seedCount);
  expect(t.crashes).toBeGreaterThan(seedCount);
  expect(t.leaderships).toBeGreaterThan(2 * seedCount);
  expect(t.noops).toBeGreaterThan(0);
  expect(t.snapshotsInstalled).toBeGreaterThan(0);
  expect(t.tailsLost).toBeGreaterThan(seedCount / 2);
  expect(t.tailRecoveries).toBeGreaterThan(seedCount / 2);
}

function runSeed(seed: number, members: number[], windows: PaxosWindows): PaxosCluster {
  const cl = new PaxosCluster(members, new Prng(seed), FAULTS, windows);
  try {
    for (let s = 0; s < FAULT_STEPS; s++) cl.randomStep();
    cl.healAndConverge(HEAL_STEPS_MAX);
  } catch (err) {
    throw new Error(
      `paxos seed ${seed} (N=${members.length}) failed: ${(err as Error).message}; replay: PAXOS_SEED=${seed}`,
    );
  }
  return cl;
}

function seeds(from: number, count: number): number[] {
  const one = process.env.PAXOS_SEED;
  if (one !== undefined) return [Number(one)];
  return Array.from({ length: count }, (_, k) => from + k);
}

describe('Multi-Paxos core, randomized cluster (drops, duplicates, reordering, partitions, crashes)', () => {
  it('N=3: one value per slot, one applied sequence, acknowledged proposals applied exactly once, progress after healing', () => {
    const list = seeds(1, 3000);
    const t = runSeeds(list, [1, 2, 3]);
    console.log('paxos N=3', list.length, 'seeds', t);
    expectExercised(t, list.length);
  }, 120_000);

  it('N=5: the same under the same faults', () => {
    const list = seeds(100_001, 1500);
    const t = runSeeds(list, [1, 2, 3, 4, 5]);
    console.log('paxos N=5', list.length, 'seeds', t);
    expectExercised(t, list.length);
  }, 120_000);

  it("N=3 with the replica's windows (limits.ts) instead of the small ones", () => {
    const list = seeds(200_001, 1000);
    const t = runSeeds(list, [1, 2, 3], PRODUCTION_WINDOWS);
    console.log('paxos N=3, limits.ts windows', list.length, 'seeds', t);
    expectExercised(t, list.length);
  }, 120_000);
});
