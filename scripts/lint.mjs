// `npm run lint`: every machine-checked code rule (docs/code-rules.md), each step run even when an
// earlier one failed so one CI run shows everything; exits 1 if any step failed.
import { spawnSync } from 'node:child_process';

const steps = [
  ['format and lint (Biome)', 'lint:code'],
  ['dependency rules (dependency-cruiser)', 'lint:deps'],
  ['duplication (jscpd)', 'lint:dup'],
  ['protobuf contracts (buf lint, STANDARD)', 'lint:proto'],
];

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const results = [];
for (const [title, script] of steps) {
  console.log(`--- lint: ${title}`);
  const r = spawnSync(npm, ['run', '--silent', script], { stdio: 'inherit' });
  results.push({ title, script, ok: r.status === 0 });
}

console.log('--- lint: summary');
for (const r of results) console.log(`${r.ok ? 'ok    ' : 'FAILED'}  ${r.title} (npm run ${r.script})`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
