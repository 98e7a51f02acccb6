// Which uWebSockets.js a process runs on (issue 21): the native binary, or matchbook's own
// compatibility layer over node:http and `ws` (ops/uws-compat/) — never the npm package's JS
// emulation (its dist/, which answers every REST route 405 and dies on a WebSocket upgrade with a
// custom upgrade handler). The package on npm (@trufflesuite/uws-js-unofficial 20.30, installed as
// `uWebSockets.js`) ships binaries for Node 16/18/20 (ABI 93, 108, 115) under binaries/; the
// official uNetworking build has them at the package root. We load the binary for this Node
// ourselves (never the package's main, which would fall back to its emulation on its own), so we
// know for certain which one runs. MATCHBOOK_UWS picks: unset or "auto" (the binary when it
// loads, else the compat layer), "native" (the binary or refuse to start), "compat" (the compat
// layer even where the binary loads: tests, benchmarks). One place for every process that serves
// uWS: the gateway (REST and the user stream), a replica's feed and the query service.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import client from 'prom-client';
import type { Log } from './log.js';
import type { Registry } from './metrics.js';

export const UWS_MODE_ENV = 'MATCHBOOK_UWS';
export type UwsMode = 'auto' | 'native' | 'compat';
export type UwsImplementation = 'native' | 'compat';

export interface UwsRuntime {
  /** process.version, e.g. "v24.11.1". */
  node: string;
  /** process.versions.modules: the ABI a native addon must be built for ("115" on Node 20). */
  abi: string;
  uws: UwsImplementation;
  /** The native addon's file name (native only), e.g. "uws_linux_x64_115.node". */
  binary?: string;
  /** Why the compat layer runs (compat only). */
  reason?: string;
}

/** What loading the binary for this Node gave (undefined when the mode did not try). */
export type BinaryProbe = { loaded: true; file: string } | { loaded: false; exists: boolean; error: string };

/** MATCHBOOK_UWS is set to something else than auto, native or compat. */
export class UwsModeError extends Error {
  constructor(value: string) {
    super(`${UWS_MODE_ENV}=${JSON.stringify(value)}: expected auto, native or compat (README "Supported runtimes")`);
    this.name = 'UwsModeError';
  }
}

/** MATCHBOOK_UWS=native and the binary for this Node does not load: the process does not start. */
export class UwsNativeMissingError extends Error {
  constructor(reason: string) {
    super(
      `uWebSockets.js: ${UWS_MODE_ENV}=native but ${reason}; install the official uWebSockets.js for this Node or ` +
        `run Node 20 (README "Supported runtimes"), or leave ${UWS_MODE_ENV} unset to run on the compat layer.`,
    );
    this.name = 'UwsNativeMissingError';
  }
}

export function parseUwsMode(value: string | undefined): UwsMode {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'native' || value === 'compat') return value;
  throw new UwsModeError(value);
}

/** The binary name this Node needs. */
export function expectedBinary(
  platform: string = process.platform,
  arch: string = process.arch,
  abi: string = process.versions.modules,
): string {
  return `uws_${platform}_${arch}_${abi}.node`;
}

/** The pure decision: the mode and what loading the binary gave (no probe: compat mode did not try). */
export function chooseUws(mode: UwsMode, probe: BinaryProbe | undefined, node: string, abi: string): UwsRuntime {
  if (mode === 'compat') return { node, abi, uws: 'compat', reason: `${UWS_MODE_ENV}=compat` };
  if (probe?.loaded === true) return { node, abi, uws: 'native', binary: path.basename(probe.file) };
  const major = node.replace(/^v/, '').split('.')[0];
  const reason =
    probe === undefined || !probe.exists
      ? `no binary for Node ${major}, ABI ${abi}`
      : `the binary for Node ${major}, ABI ${abi} failed to load (${probe.error.split('\n')[0]})`;
  if (mode === 'native') throw new UwsNativeMissingError(reason);
  return { node, abi, uws: 'compat', reason };
}

const require = createRequire(import.meta.url);

/** Loads the native binary for this Node from the installed package (npm or official layout). */
export function probeBinary(): { probe: BinaryProbe; exports?: unknown } {
  const packageDir = path.dirname(require.resolve('uWebSockets.js/package.json'));
  const candidates = ['binaries', '.'].map((d) => path.join(packageDir, d, expectedBinary()));
  const file = candidates.find((f) => existsSync(f));
  if (file === undefined) return { probe: { loaded: false, exists: false, error: 'not installed' } };
  try {
    return { probe: { loaded: true, file }, exports: require(file) };
  } catch (err) {
    return { probe: { loaded: false, exists: true, error: String(err) } };
  }
}

let selected: { runtime: UwsRuntime; nativeExports: unknown } | undefined;

/**
 * The implementation this process runs on (decided once, cached): the runtime, and the native
 * module's exports when native. Throws UwsModeError / UwsNativeMissingError (see chooseUws).
 */
export function selectUws(env: NodeJS.ProcessEnv = process.env): { runtime: UwsRuntime; nativeExports: unknown } {
  if (selected !== undefined) return selected;
  const mode = parseUwsMode(env[UWS_MODE_ENV]);
  const probed = mode === 'compat' ? undefined : probeBinary();
  const runtime = chooseUws(mode, probed?.probe, process.version, process.versions.modules);
  selected = { runtime, nativeExports: runtime.uws === 'native' ? probed?.exports : undefined };
  return selected;
}

export function detectUwsRuntime(): UwsRuntime {
  return selectUws().runtime;
}

/** The one sentence every process logs at startup (and `npm start` prints in its banner). */
export function uwsRuntimeLine(rt: UwsRuntime): string {
  if (rt.uws === 'native') return `uWebSockets.js: native binary ${rt.binary} (Node ${rt.node}, ABI ${rt.abi})`;
  return `uWebSockets.js: compat layer over node:http and ws (${rt.reason}); see README "Supported runtimes"`;
}

/** `matchbook_runtime_info{node,abi,uws} 1` on the process's registry (Prometheus "info" pattern). */
export function registerRuntimeInfo(registry: Registry, rt: UwsRuntime = detectUwsRuntime()): void {
  const gauge = new client.Gauge({
    name: 'matchbook_runtime_info',
    help: 'Always 1: the Node version and ABI this process runs on and its uWebSockets.js (native or compat)',
    labelNames: ['node', 'abi', 'uws'],
    registers: [registry],
  });
  gauge.set({ node: rt.node, abi: rt.abi, uws: rt.uws }, 1);
}

/**
 * At startup of a process that serves uWS, before it listens: logs `uwsRuntimeLine` (info on
 * either: the compat layer serves every route and limit the same way, only slower), adds
 * `matchbook_runtime_info` to `registry` if given, and returns the runtime for the process's
 * ready line. Throws (the process does not start) on a bad MATCHBOOK_UWS or on
 * MATCHBOOK_UWS=native without a loadable binary.
 */
export function reportUwsRuntime(log: Log, registry?: Registry, rt: UwsRuntime = detectUwsRuntime()): UwsRuntime {
  const fields = { node: rt.node, abi: rt.abi, uws: rt.uws };
  if (rt.uws === 'native') log.info(uwsRuntimeLine(rt), { ...fields, binary: rt.binary });
  else log.info(uwsRuntimeLine(rt), { ...fields, reason: rt.reason });
  if (registry !== undefined) registerRuntimeInfo(registry, rt);
  return rt;
}
