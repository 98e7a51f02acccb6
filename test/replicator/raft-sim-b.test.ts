// The second half of the simulation profiles (see raft-sim.test.ts).

import { describe } from 'vitest';
import { simProfileTests } from './sim-suite.js';

describe('Raft deterministic simulation of the production replica (part B)', () => {
  simProfileTests(['mixed', 'membership', '5 nodes', '5 nodes, lost WAL tails', 'sessions']);
});
