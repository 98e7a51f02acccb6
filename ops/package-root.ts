// Where the package's files are, whether this code runs as TypeScript from the source tree (tsx:
// tests, development) or as compiled JavaScript from dist/ (`npm start`, the `matchbook` bin, an
// installed package). Both find the same root — the nearest folder upward with a package.json —
// so files that are not compiled (proto/, the example configs) are read where they are, never
// copied into dist/. Pure but for the few stats made once at load.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder compiled JavaScript is emitted to (tsconfig.build.json `outDir`). */
export const DIST_DIR = 'dist';

/** The nearest folder at or above `start` holding a package.json (throws if there is none). */
export function packageRootOf(start: string): string {
  for (let dir = start; ; ) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json at or above ${start}`);
    dir = up;
  }
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The package's root: the repo in development, node_modules/matchbook when installed. */
export const PACKAGE_ROOT = packageRootOf(HERE);
/** True when this module is compiled JavaScript under <root>/dist/ (then so is every module of ours). */
export const RUNNING_FROM_DIST = path.relative(PACKAGE_ROOT, HERE).split(path.sep)[0] === DIST_DIR;

/** A path relative to the package root (`proto/exchange/v1/events.proto`), made absolute. */
export function packagePath(relative: string): string {
  return path.join(PACKAGE_ROOT, relative);
}

/**
 * What node runs for one of our programs, given as its source path relative to the package root
 * (`processes/replica.ts`) or absolute: from dist/, the compiled `dist/processes/replica.js` with
 * plain node (tsx is a development dependency, absent from an installed package); from the
 * source tree, the TypeScript file through `--import tsx`.
 */
export function nodeArgsForScript(script: string, fromDist: boolean = RUNNING_FROM_DIST): string[] {
  const relative = path.isAbsolute(script) ? path.relative(PACKAGE_ROOT, script) : script;
  if (!fromDist) return ['--import', 'tsx', script];
  if (relative.startsWith('..') || path.isAbsolute(relative))
    throw new Error(`${script} is outside the package: it has no compiled form under ${DIST_DIR}/`);
  return [path.join(PACKAGE_ROOT, DIST_DIR, relative.replace(/\.ts$/, '.js'))];
}
