// The deterministic randomized cluster test of the Multi-Paxos core (paxos-harness.ts): N = 3
// and 5 cores under drops, duplicates, reordering, partitions and crashes that lose whatever the
// core did not ask to persist; then everything heals. Checked at every step: at most one value
// chosen per slot (from the acceptances themselves), the same applied sequence on every replica,
// nothing applied twice, an acknowledged proposal only once applied; after healing: progress and
// convergence. A failure names its seed: replay it with PAXOS_SEED=<seed>.

import { describe, expect, it } from 'vitest';
import { Prng } from '../../replicator/prng.js';
import { PaxosCluster, type Faults } from './paxos-harness.js';

const FAULTS: Faults = { drop: 0.1, duplicate: 0.05, crash: 0.5, partition: 0.4, crashMidReady: 0.002 };
const FAULT_STEPS = 400;
const HEAL_STEPS_MAX = 20_000;

function runSeed(seed: number, members: number[]): PaxosCluster {
  const cl = new PaxosCluster(members, new Prng(seed), FAULTS);
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
    let acked = 0;
    for (const seed of seeds(1, 2000)) acked += runSeed(seed, [1, 2, 3]).acked.size;
    expect(acked).toBeGreaterThan(0);
  }, 120_000);

  it('N=5: the same under the same faults', () => {
    let acked = 0;
    for (const seed of seeds(100_001, 1000)) acked += runSeed(seed, [1, 2, 3, 4, 5]).acked.size;
    expect(acked).toBeGreaterThan(0);
  }, 120_000);
});
