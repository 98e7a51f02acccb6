// The other half of the Multi-Paxos simulation profiles (see paxos-sim.test.ts), in a second
// file so that vitest runs it on a second worker.

import { describe } from 'vitest';
import { PAXOS_PROFILES } from '../../replicator/sim/cluster-sim.js';
import { PAXOS_PART_A, simProfileTests } from './sim-suite.js';

describe('Multi-Paxos deterministic simulation of the production replica (part B)', () => {
  simProfileTests(
    PAXOS_PROFILES.filter((p) => !PAXOS_PART_A.includes(p)),
    'multipaxos',
  );
});
