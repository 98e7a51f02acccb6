// The browser page's files (ui/), loaded once when the gateway starts and served from memory by
// its REST edge (gateway/ui-routes.ts). The page's TypeScript is bundled by esbuild into one ES
// module, `app.js`: from the source tree (tests, development) at start, in memory (~50 ms); from
// dist/ (`npm start`, an installed package, which has no esbuild) the bundle `npm run build`
// wrote to dist/ui/app.js. The charting library is served from its package, unbundled, with its
// license beside it (Apache-2.0, with TradingView's attribution in the page's footer).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { UiAsset } from './ui-routes.js';
import { DIST_DIR, packagePath, RUNNING_FROM_DIST } from '../ops/package-root.js';

/** The bundle's entry, relative to the package root. */
export const UI_ENTRY = 'ui/src/main.ts';
/** Where `npm run build` writes the bundle (relative to the package root). */
export const UI_BUNDLE_DIST = `${DIST_DIR}/ui/app.js`;
/** The browsers the bundle is written for: evergreen desktop and phone browsers of 2023 on. */
export const UI_TARGETS = ['chrome115', 'firefox115', 'safari16'];

const JS = 'text/javascript; charset=utf-8';

/** esbuild's options for the page's bundle, one definition for the build script and the source tree. */
export function uiBuildOptions(): Record<string, unknown> {
  return {
    entryPoints: [packagePath(UI_ENTRY)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: UI_TARGETS,
    minify: true,
    sourcemap: false,
    legalComments: 'eof',
    // The charting library is loaded by the browser from /ui/lightweight-charts.mjs, not bundled.
    alias: { 'lightweight-charts': '/ui/lightweight-charts.mjs' },
    external: ['/ui/lightweight-charts.mjs'],
    logLevel: 'silent',
  };
}

async function bundleFromSources(): Promise<Uint8Array> {
  // A development dependency: only imported when running from the sources.
  const esbuild = await import('esbuild');
  const out = await esbuild.build({ ...uiBuildOptions(), write: false } as Parameters<typeof esbuild.build>[0]);
  const file = out.outputFiles?.[0];
  if (file === undefined) throw new Error('ui: esbuild produced no output');
  return file.contents;
}

function chartsLibrary(): { module: Uint8Array; license: Uint8Array } {
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('lightweight-charts/package.json'));
  return {
    module: readFileSync(path.join(dir, 'dist', 'lightweight-charts.standalone.production.mjs')),
    license: readFileSync(path.join(dir, 'LICENSE')),
  };
}

/** Every file of the page by URL path. */
export async function loadUiAssets(fromDist: boolean = RUNNING_FROM_DIST): Promise<Map<string, UiAsset>> {
  const app = fromDist ? readFileSync(packagePath(UI_BUNDLE_DIST)) : await bundleFromSources();
  const charts = chartsLibrary();
  return new Map<string, UiAsset>([
    ['/', { contentType: 'text/html; charset=utf-8', body: readFileSync(packagePath('ui/index.html')) }],
    ['/ui/style.css', { contentType: 'text/css; charset=utf-8', body: readFileSync(packagePath('ui/style.css')) }],
    ['/ui/app.js', { contentType: JS, body: app }],
    ['/ui/lightweight-charts.mjs', { contentType: JS, body: charts.module }],
    ['/ui/lightweight-charts.LICENSE.txt', { contentType: 'text/plain; charset=utf-8', body: charts.license }],
  ]);
}
