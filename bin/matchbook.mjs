#!/usr/bin/env node
// `npx matchbook …`: runs the compiled CLI (dist/cli/matchbook.js) with plain node. An installed
// package has only dist/. In a source checkout dist/ is used when it is a build of the current
// sources (scripts/build-stamp.mjs); when it is absent or older, the TypeScript CLI runs through
// tsx instead — the development fallback (tsx is a development dependency), so a checkout never
// runs stale compiled code.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const compiled = new URL('../dist/cli/matchbook.js', import.meta.url);
const source = new URL('../cli/matchbook.ts', import.meta.url);

async function useCompiled() {
  if (!existsSync(compiled)) return false;
  if (!existsSync(source)) return true; // an installed package: no sources to be older than
  const { distIsFresh } = await import('../scripts/build-stamp.mjs');
  return distIsFresh(root);
}

let main;
if (await useCompiled()) ({ main } = await import(compiled.href));
else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
}
process.exit(await main(process.argv.slice(2)));
