// The chaos suite in its CI size (chaos/README.md): `npm run chaos -- --quick` with a fixed
// seed — 3 replica processes behind fault proxies, the gateway, broker, publisher and read
// models; every fault kind once, then mixed pairs; the history checked against the log, the
// replicas and the read models. Passes only with K = 100%, no loss, no duplicate, no violation.
// A failure prints the run's report, whose last lines give the seed and the command that
// replays the schedule. The same against Multi-Paxos: chaos-quick-paxos.test.ts.

import { describe, expect, it } from 'vitest';
import { CHAOS_QUICK_TIMEOUT_MS, expectChaosPassed, runChaos } from './chaos-run.js';

const SEED = 1;

describe('chaos --quick', () => {
  it(
    'loses nothing acknowledged, applies nothing twice, and every check holds under every fault',
    async () => {
      const r = await runChaos(['--quick', '--seed', String(SEED)]);
      expectChaosPassed(r);
      expect(r.last.runs.map((x) => x.consensus)).toEqual(['raft']);
    },
    CHAOS_QUICK_TIMEOUT_MS + 60_000,
  );
});
