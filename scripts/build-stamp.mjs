// Whether dist/ was built from the sources as they are now: `npm run build` (scripts/build.mjs)
// skips tsc when it was, and the `matchbook` bin in a source checkout runs dist/ only when it
// was (otherwise the TypeScript through tsx), so nobody runs code older than the sources. The
// stamp is a hash of every build input's path, size and modification time, written after a
// successful build; a changed, added or removed input changes it.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The production folders tsconfig.build.json compiles (its `include`). */
export const BUILD_FOLDERS = [
  'engine',
  'shard',
  'processes',
  'api',
  'config',
  'gateway',
  'replicator',
  'feed',
  'events',
  'audit',
  'ops',
  'cli',
];
/** Files copied into dist/ as they are: JavaScript modules the compiled code imports next to itself. */
export const COPIED_FILES = ['audit/chain-hash.mjs', 'audit/chain-hash.d.mts'];
/**
 * The browser page's sources (ui/): its TypeScript is bundled into dist/ui/app.js by the build
 * (gateway/ui-assets.ts uiBuildOptions); the HTML and the style sheet are served from ui/ as they are.
 */
export const UI_SOURCE_DIR = 'ui/src';
export const UI_STATIC_FILES = ['ui/index.html', 'ui/style.css', 'ui/tsconfig.json'];
export const STAMP_FILE = 'dist/.build-stamp';
const INPUT_RE = /\.(ts|mts|mjs)$/;

function inputsUnder(root, dir, out) {
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) inputsUnder(root, rel, out);
    else if (INPUT_RE.test(entry.name)) out.push(rel);
  }
  return out;
}

/** The hash of the build's inputs as they are now. */
export function sourceStamp(root) {
  const files = ['package.json', 'tsconfig.json', 'tsconfig.build.json', ...UI_STATIC_FILES];
  for (const dir of [...BUILD_FOLDERS, UI_SOURCE_DIR]) inputsUnder(root, dir, files);
  const h = createHash('sha256');
  for (const rel of files.sort()) {
    const st = statSync(path.join(root, rel));
    h.update(`${rel}\t${st.size}\t${st.mtimeMs}\n`);
  }
  return h.digest('hex');
}

/** True when dist/ holds a build of the sources as they are now. */
export function distIsFresh(root) {
  const stamp = path.join(root, STAMP_FILE);
  return existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === sourceStamp(root);
}
