// Replays simulation seeds from the command line, with a trace.
//   npx tsx replicator/sim/run.ts --seed 123 [--profile mixed] [--trace] [--seeds 200]
// Without --profile every profile runs. --trace prints every event of the run.

import { PROFILES, SimFailure, replayCommand, runSim, type SimStats } from './cluster-sim.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const profileName = arg('profile');
const profiles = profileName !== undefined ? [PROFILES[profileName]] : Object.values(PROFILES);
if (profiles.some((p) => p === undefined)) {
  console.error(`unknown profile "${profileName}"; one of: ${Object.keys(PROFILES).join(', ')}`);
  process.exit(2);
}
const one = arg('seed');
const count = Number(arg('seeds') ?? 20);
const seeds = one !== undefined ? [Number(one)] : Array.from({ length: count }, (_, i) => i + 1);
const trace = process.argv.includes('--trace');

let failed = 0;
for (const profile of profiles) {
  const t0 = performance.now();
  const totals: Partial<Record<keyof SimStats, number>> = {};
  for (const seed of seeds) {
    try {
      const s = runSim({ seed, profile: profile!, ...(trace ? { onTrace: (l: string) => console.log(l) } : {}) });
      for (const [k, v] of Object.entries(s) as [keyof SimStats, number][]) totals[k] = (totals[k] ?? 0) + v;
    } catch (e) {
      if (!(e instanceof SimFailure)) throw e;
      failed++;
      if (!trace) console.log(e.trace.slice(-60).join('\n'));
      console.log(`FAIL ${e.message}\n  replay: ${replayCommand(seed, profile!.name)}`);
    }
  }
  console.log(`${profile!.name}: ${seeds.length} seeds in ${((performance.now() - t0) / 1000).toFixed(1)} s`, JSON.stringify(totals));
}
process.exit(failed > 0 ? 1 : 0);
