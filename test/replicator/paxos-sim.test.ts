// The deterministic simulation (replicator/sim/) of a Multi-Paxos cluster: every seed runs the
// PRODUCTION PaxosNode — its Paxos core, its record log on the real WAL over a simulated disk,
// the shard state machine — on the same simulated hosts, network and clocks as the Raft runs
// (raft-sim.test.ts), through network faults, kills at any disk call or send, power cuts of one
// host or every host, pauses and refused leadership transfers; the Paxos oracle
// (replicator/sim/paxos-oracle.ts) checks one value chosen per slot, durability before
// PROMISE/ACCEPTED, applies and promises at every message and step, then everything heals and
// the cluster must converge. The profiles (PAXOS_PROFILES) are split over two files so that vitest
// runs them on two workers (paxos-sim-b.test.ts has the other half).
//
//   SIM_SEEDS=500 npx vitest run test/replicator/paxos-sim                    # more seeds per profile
//   npm run sim -- --consensus multipaxos --seeds 123 --profile mixed --trace   # replay one seed

import { describe, expect, it } from 'vitest';
import { PAXOS_PROFILES, PROFILES, SimFailure, runSim } from '../../replicator/sim/cluster-sim.js';
import { PAXOS_PART_A, simProfileTests } from './sim-suite.js';

describe('Multi-Paxos deterministic simulation of the production replica (part A)', () => {
  simProfileTests(PAXOS_PART_A, 'multipaxos');
});

describe('the Multi-Paxos simulation itself', () => {
  it('is deterministic: a seed replays the same run event for event', () => {
    const run = (out: string[]) => {
      try {
        return JSON.stringify(
          runSim({ seed: 7, profile: PROFILES.mixed!, consensus: 'multipaxos', onTrace: (l) => out.push(l) }),
        );
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
    // It is the Paxos replica that ran: its messages and its boots are in the trace.
    expect(a.some((l) => / PREPARE \d+->\d+ /.test(l))).toBe(true);
    expect(a.some((l) => / ACCEPTED \d+->\d+ /.test(l))).toBe(true);
  });

  it('every Paxos profile is a simulator profile, membership and lost WAL tails excepted', () => {
    for (const name of PAXOS_PROFILES) expect(PROFILES[name], name).toBeDefined();
    expect(PAXOS_PROFILES).not.toContain('membership');
    expect(PAXOS_PROFILES).not.toContain('lost WAL tails');
  });
});
