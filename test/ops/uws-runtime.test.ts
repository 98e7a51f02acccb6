// ops/uws-runtime.ts: which uWebSockets.js a process runs on (issue 21): the native binary or the
// compat layer (ops/uws-compat/), never the npm package's JS emulation. The decision is pure
// (chooseUws over the mode and what loading the binary gave), so every case is fed here; the probe
// is checked on this machine's Node, whose binary the package ships when it is Node 16/18/20.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_LOG } from '../../ops/log.js';
import { createRegistry, exposition } from '../../ops/metrics.js';
import {
  type BinaryProbe,
  chooseUws,
  expectedBinary,
  parseUwsMode,
  probeBinary,
  registerRuntimeInfo,
  reportUwsRuntime,
  UwsModeError,
  UwsNativeMissingError,
  uwsRuntimeLine,
} from '../../ops/uws-runtime.js';

const loaded: BinaryProbe = { loaded: true, file: '/x/node_modules/uWebSockets.js/binaries/uws_linux_x64_115.node' };
const missing: BinaryProbe = { loaded: false, exists: false, error: 'not installed' };
const broken: BinaryProbe = { loaded: false, exists: true, error: 'Error: GLIBC_2.38 not found\nstack' };

describe('parseUwsMode (MATCHBOOK_UWS)', () => {
  it('takes auto (also unset or empty), native and compat; anything else stops the process', () => {
    expect([undefined, '', 'auto', 'native', 'compat'].map(parseUwsMode)).toEqual([
      'auto',
      'auto',
      'auto',
      'native',
      'compat',
    ]);
    for (const bad of ['fallback', 'NATIVE', '1']) expect(() => parseUwsMode(bad)).toThrow(UwsModeError);
  });
});

describe('chooseUws', () => {
  it('auto: the binary when it loads, else the compat layer saying why', () => {
    expect(chooseUws('auto', loaded, 'v20.20.2', '115')).toEqual({
      node: 'v20.20.2',
      abi: '115',
      uws: 'native',
      binary: 'uws_linux_x64_115.node',
    });
    const rt = chooseUws('auto', missing, 'v24.11.1', '137');
    expect(rt).toEqual({ node: 'v24.11.1', abi: '137', uws: 'compat', reason: 'no binary for Node 24, ABI 137' });
    expect(uwsRuntimeLine(rt)).toBe(
      'uWebSockets.js: compat layer over node:http and ws (no binary for Node 24, ABI 137); see README "Supported runtimes"',
    );
    expect(chooseUws('auto', broken, 'v22.1.0', '127').reason).toBe(
      'the binary for Node 22, ABI 127 failed to load (Error: GLIBC_2.38 not found)',
    );
  });

  it('compat: the compat layer even where the binary loads', () => {
    expect(chooseUws('compat', undefined, 'v20.20.2', '115')).toMatchObject({
      uws: 'compat',
      reason: 'MATCHBOOK_UWS=compat',
    });
  });

  it('native: the binary, or the process does not start', () => {
    expect(chooseUws('native', loaded, 'v20.20.2', '115').uws).toBe('native');
    expect(() => chooseUws('native', missing, 'v24.11.1', '137')).toThrow(UwsNativeMissingError);
    expect(() => chooseUws('native', broken, 'v24.11.1', '137')).toThrow(/MATCHBOOK_UWS=native but the binary/);
  });
});

describe('probeBinary on this machine', () => {
  it('loads the binary the package ships for this Node (Node 20: yes), never the package main', () => {
    const req = createRequire(import.meta.url);
    const pkg = path.dirname(req.resolve('uWebSockets.js/package.json'));
    const shipped = existsSync(path.join(pkg, 'binaries', expectedBinary()));
    const { probe, exports } = probeBinary();
    expect(probe.loaded).toBe(shipped);
    if (process.versions.node.startsWith('20.')) expect(probe.loaded).toBe(true);
    if (probe.loaded) expect(typeof (exports as { SSLApp?: unknown }).SSLApp).toBe('function');
    // The package's main (which falls back to its emulation by itself) was never loaded.
    expect(Object.keys(req.cache).some((f) => f.startsWith(path.join(pkg, 'src')))).toBe(false);
  });
});

describe('reportUwsRuntime and matchbook_runtime_info', () => {
  it('logs the line and exports node, abi and uws (native or compat)', async () => {
    const lines: string[] = [];
    const log = { ...NO_LOG, info: (m: string) => lines.push(m) };
    const registry = createRegistry('test');
    const rt = chooseUws('auto', missing, 'v24.11.1', '137');
    expect(reportUwsRuntime(log, registry, rt)).toEqual(rt);
    expect(lines).toEqual([uwsRuntimeLine(rt)]);
    const { body } = await exposition(registry);
    expect(body).toMatch(/^matchbook_runtime_info\{node="v24\.11\.1",abi="137",uws="compat",component="test"\} 1$/m);
    const other = createRegistry('test');
    registerRuntimeInfo(other, chooseUws('auto', loaded, 'v20.20.2', '115'));
    expect((await exposition(other)).body).toContain('uws="native"');
  });
});
