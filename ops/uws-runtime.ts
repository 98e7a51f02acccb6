// Which uWebSockets.js a process runs on: the native binary (and for which Node ABI) or the JS
// fallback over node:http (issue 21). The package on npm (@trufflesuite/uws-js-unofficial 20.30,
// installed as `uWebSockets.js`) ships binaries for Node 16/18/20 (ABI 93, 108, 115) only; on a
// later Node its src/uws.js catches the failed require of `binaries/uws_<platform>_<arch>_<abi>.node`,
// prints its own warning and returns dist/index.js, an emulation that is much slower (README,
// "Supported runtimes"). Nothing in the package says which it returned, so we look at what Node
// loaded: the module is native exactly when its exports are those of a `.node` addon under the
// package's directory (this also holds for the official uNetworking build, whose binaries sit at
// the package root and which has no fallback). One place for every process that serves uWS: the
// gateway (REST and the user stream), a replica's feed and the query service.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import client from 'prom-client';
import type { Log } from './log.js';
import type { Registry } from './metrics.js';

export interface UwsRuntime {
  /** process.version, e.g. "v24.11.1". */
  node: string;
  /** process.versions.modules: the ABI a native addon must be built for ("115" on Node 20). */
  abi: string;
  uws: 'native' | 'fallback';
  /** The native addon's file name (native only), e.g. "uws_linux_x64_115.node". */
  binary?: string;
  /** Why the fallback runs (fallback only). */
  reason?: string;
}

/** What Node has loaded: the package's module exports and the `.node` files in the require cache. */
export interface UwsLoadState {
  exports: unknown;
  packageDir: string;
  /** Resolved file name → exports, for every cached module. */
  cache: ReadonlyMap<string, unknown>;
  /** Whether the binary this Node would need exists in the package. */
  binaryExists: boolean;
  fallbackForced: boolean;
}

const require = createRequire(import.meta.url);

/** The binary name src/uws.js looks for on this Node. */
export function expectedBinary(
  platform: string = process.platform,
  arch: string = process.arch,
  abi: string = process.versions.modules,
): string {
  return `uws_${platform}_${arch}_${abi}.node`;
}

/** The pure decision: which implementation `state.exports` is (no I/O; tests feed it states). */
export function classifyUws(state: UwsLoadState, node: string, abi: string): UwsRuntime {
  const inPackage = state.packageDir + path.sep;
  for (const [file, exports] of state.cache) {
    if (file.endsWith('.node') && file.startsWith(inPackage) && exports === state.exports)
      return { node, abi, uws: 'native', binary: path.basename(file) };
  }
  const major = node.replace(/^v/, '').split('.')[0];
  const reason = state.fallbackForced
    ? 'UWS_USE_FALLBACK is set'
    : state.binaryExists
      ? `the binary for Node ${major}, ABI ${abi} failed to load`
      : `no binary for Node ${major}, ABI ${abi}`;
  return { node, abi, uws: 'fallback', reason };
}

let detected: UwsRuntime | undefined;

/** Loads uWebSockets.js (cached if the process already did) and says which implementation it is. */
export function detectUwsRuntime(): UwsRuntime {
  if (detected !== undefined) return detected;
  const exports: unknown = require('uWebSockets.js');
  const packageDir = path.dirname(require.resolve('uWebSockets.js/package.json'));
  const cache = new Map<string, unknown>(Object.entries(require.cache).map(([f, m]) => [f, m?.exports]));
  const binaryExists = ['binaries', '.'].some((d) => existsSync(path.join(packageDir, d, expectedBinary())));
  const forced = ['true', 'True', 'TRUE', '1'].includes(process.env.UWS_USE_FALLBACK ?? '');
  detected = classifyUws(
    { exports, packageDir, cache, binaryExists, fallbackForced: forced },
    process.version,
    process.versions.modules,
  );
  return detected;
}

/** The one sentence every process logs at startup (and `npm start` prints in its banner). */
export function uwsRuntimeLine(rt: UwsRuntime): string {
  if (rt.uws === 'native') return `uWebSockets.js: native binary ${rt.binary} (Node ${rt.node}, ABI ${rt.abi})`;
  return `uWebSockets.js: JS fallback (${rt.reason}) — slower; see README`;
}

/** `matchbook_runtime_info{node,abi,uws} 1` on the process's registry (Prometheus "info" pattern). */
export function registerRuntimeInfo(registry: Registry, rt: UwsRuntime = detectUwsRuntime()): void {
  const gauge = new client.Gauge({
    name: 'matchbook_runtime_info',
    help: 'Always 1: the Node version and ABI this process runs on and its uWebSockets.js (native or fallback)',
    labelNames: ['node', 'abi', 'uws'],
    registers: [registry],
  });
  gauge.set({ node: rt.node, abi: rt.abi, uws: rt.uws }, 1);
}

/** Set to 1 to run on the JS fallback anyway (experiments, measurements): see UwsFallbackError. */
export const UWS_FALLBACK_ALLOW_ENV = 'MATCHBOOK_UWS_FALLBACK';

/**
 * The JS fallback cannot serve matchbook (measured on Node 22 and 24, README "Supported
 * runtimes"): it throws "not implemented" for a custom `upgrade` handler, which the feed and the
 * user stream need (their connection limits and query options), from inside node:http's
 * 'upgrade' event, so one WebSocket connection attempt kills the process; and its
 * `req.getMethod()` is upper case where the native one is lower case, so every REST route answers
 * 405. A process that any client can kill must not start: it stops here, saying why.
 */
export class UwsFallbackError extends Error {
  constructor(rt: UwsRuntime) {
    super(
      `${uwsRuntimeLine(rt)}: the fallback cannot serve the feed, the user stream or REST (a WebSocket upgrade ` +
        `crashes it, every route answers 405), so this process will not start on it. Run Node 20, or install the ` +
        `official uWebSockets.js for this Node (README "Supported runtimes"); ${UWS_FALLBACK_ALLOW_ENV}=1 starts anyway.`,
    );
    this.name = 'UwsFallbackError';
  }
}

/**
 * At startup of a process that serves uWS, before it listens: logs `uwsRuntimeLine` (warn on the
 * fallback), adds `matchbook_runtime_info` to `registry` if given, and returns the runtime for the
 * process's ready line. On the fallback it throws UwsFallbackError unless MATCHBOOK_UWS_FALLBACK=1.
 */
export function reportUwsRuntime(
  log: Log,
  registry?: Registry,
  env: NodeJS.ProcessEnv = process.env,
  rt: UwsRuntime = detectUwsRuntime(),
): UwsRuntime {
  const fields = { node: rt.node, abi: rt.abi, uws: rt.uws, ...(rt.binary !== undefined ? { binary: rt.binary } : {}) };
  if (rt.uws === 'native') log.info(uwsRuntimeLine(rt), fields);
  else log.warn(uwsRuntimeLine(rt), { ...fields, reason: rt.reason });
  if (rt.uws === 'fallback' && env[UWS_FALLBACK_ALLOW_ENV] !== '1') throw new UwsFallbackError(rt);
  if (registry !== undefined) registerRuntimeInfo(registry, rt);
  return rt;
}
