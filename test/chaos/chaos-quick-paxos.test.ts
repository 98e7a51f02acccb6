// The chaos suite in its CI size against Multi-Paxos replicas (`npm run chaos -- --quick
// --consensus multipaxos`, chaos/README.md): the same faults, pairs and checks as
// chaos-quick.test.ts — K = 100%, no loss, no duplicate, no violation — and every replica whose
// WAL tail was damaged must come back up on it (a RESTART FAILED record fails the run).
// `transfer-leader` is applied and refused (fixed membership): recorded NOT APPLIED, not fatal.

import { describe, expect, it } from 'vitest';
import { CHAOS_QUICK_TIMEOUT_MS, expectChaosPassed, runChaos } from './chaos-run.js';

const SEED = 1;

describe('chaos --quick --consensus multipaxos', () => {
  it(
    'loses nothing acknowledged, applies nothing twice, and every check holds under every fault',
    async () => {
      const r = await runChaos(['--quick', '--seed', String(SEED), '--consensus', 'multipaxos']);
      expectChaosPassed(r);
      expect(r.last.runs.map((x) => x.consensus)).toEqual(['multipaxos']);
      // The refused transfer is in the report, refused for the reason PaxosNode gives.
      expect(r.text).toMatch(
        /fault transfer-leader: NOT APPLIED: node \d+ refused the transfer to node \d+: BAD_TARGET/,
      );
    },
    CHAOS_QUICK_TIMEOUT_MS + 60_000,
  );
});
