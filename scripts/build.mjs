// `npm run build`: compiles the production folders to dist/ (JavaScript and declarations) with
// TypeScript's native tsc and tsconfig.build.json, copies the JavaScript modules that are not
// compiled (COPIED_FILES) next to their importers, removes outputs whose source is gone, and
// bundles the browser page (ui/src → dist/ui/app.js, with esbuild and the options of the compiled
// dist/gateway/ui-assets.js: one definition for the build and a gateway run from the sources),
// writes the stamp (build-stamp.mjs). Skips all of it when the stamp says dist/ is current —
// `npm start` builds first, and tests or other processes may be running from dist/ meanwhile,
// so files are only rewritten when something changed. `--force` always builds. Messages go to
// stderr: the process npm runs after it (`npm run engine < commands > events`) owns stdout.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { COPIED_FILES, STAMP_FILE, distIsFresh, sourceStamp } from './build-stamp.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const OUTPUT_RE = /(\.d\.ts|\.js)$/;

/** Compiled outputs (dist/x/y.js, .d.ts, .map) whose source x/y.ts no longer exists. */
function staleOutputs(dir = DIST, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) staleOutputs(full, out);
    else if (OUTPUT_RE.test(entry.name)) {
      const source = path.join(ROOT, path.relative(DIST, full).replace(OUTPUT_RE, '.ts'));
      if (!existsSync(source)) out.push(full);
    }
  }
  return out;
}

/** dist/ui/app.js: what a gateway run from dist/ serves (it has no esbuild: a development dependency). */
async function bundleUi() {
  const { uiBuildOptions, UI_BUNDLE_DIST } = await import(
    pathToFileURL(path.join(DIST, 'gateway', 'ui-assets.js')).href
  );
  const esbuild = await import('esbuild');
  try {
    await esbuild.build({ ...uiBuildOptions(), outfile: path.join(ROOT, UI_BUNDLE_DIST), write: true });
  } catch (err) {
    console.error(`build: the page's bundle (ui/src) failed: ${err.message}`);
    process.exit(1);
  }
}

if (!process.argv.includes('--force') && distIsFresh(ROOT)) {
  console.error('build: dist/ is up to date');
  process.exit(0);
}
const stamp = sourceStamp(ROOT); // taken before compiling: an edit during the build makes the next one rebuild
const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`build: tsc failed (${r.status ?? r.signal})`);
  process.exit(1);
}
for (const rel of COPIED_FILES) {
  mkdirSync(path.dirname(path.join(DIST, rel)), { recursive: true });
  copyFileSync(path.join(ROOT, rel), path.join(DIST, rel));
}
for (const file of staleOutputs()) rmSync(file);
await bundleUi();
writeFileSync(path.join(ROOT, STAMP_FILE), `${stamp}\n`);
console.error('build: dist/ written');
