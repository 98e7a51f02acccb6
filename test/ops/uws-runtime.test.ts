// ops/uws-runtime.ts: which uWebSockets.js a process runs on (issue 21). The decision is pure
// (classifyUws over what Node loaded), so every case is fed here; detectUwsRuntime is checked on
// this machine's Node, whose binary the package ships when it is Node 16/18/20 (here: 20, native).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_LOG } from '../../ops/log.js';
import { createRegistry, exposition } from '../../ops/metrics.js';
import {
  classifyUws,
  detectUwsRuntime,
  expectedBinary,
  registerRuntimeInfo,
  reportUwsRuntime,
  UwsFallbackError,
  uwsRuntimeLine,
  type UwsLoadState,
} from '../../ops/uws-runtime.js';

const PKG = '/x/node_modules/uWebSockets.js';
const nativeExports = { App: () => undefined, native: true };
const fallbackExports = { App: () => undefined, _cfg: () => undefined };

function state(over: Partial<UwsLoadState>): UwsLoadState {
  return {
    exports: fallbackExports,
    packageDir: PKG,
    cache: new Map<string, unknown>([[`${PKG}/dist/index.js`, fallbackExports]]),
    binaryExists: false,
    fallbackForced: false,
    ...over,
  };
}

describe('classifyUws', () => {
  it('is native when the exports are those of a .node addon in the package (npm layout and official layout)', () => {
    for (const file of [`${PKG}/binaries/uws_linux_x64_115.node`, `${PKG}/uws_linux_x64_115.node`]) {
      const rt = classifyUws(
        state({ exports: nativeExports, cache: new Map([[file, nativeExports]]), binaryExists: true }),
        'v20.20.2',
        '115',
      );
      expect(rt).toEqual({ node: 'v20.20.2', abi: '115', uws: 'native', binary: 'uws_linux_x64_115.node' });
    }
  });

  it('is the fallback when no binary exists for the ABI, and says so in the startup line', () => {
    const rt = classifyUws(state({}), 'v24.11.1', '137');
    expect(rt).toEqual({ node: 'v24.11.1', abi: '137', uws: 'fallback', reason: 'no binary for Node 24, ABI 137' });
    expect(uwsRuntimeLine(rt)).toBe(
      'uWebSockets.js: JS fallback (no binary for Node 24, ABI 137) — slower; see README',
    );
  });

  it('names UWS_USE_FALLBACK, or a binary that exists but failed to load', () => {
    expect(classifyUws(state({ fallbackForced: true, binaryExists: true }), 'v20.1.0', '115').reason).toBe(
      'UWS_USE_FALLBACK is set',
    );
    expect(classifyUws(state({ binaryExists: true }), 'v20.1.0', '115').reason).toBe(
      'the binary for Node 20, ABI 115 failed to load',
    );
  });

  it('does not take a loaded addon of another package, or one with other exports, for uWS', () => {
    const other = new Map<string, unknown>([
      ['/x/node_modules/other/build/uws_linux_x64_115.node', fallbackExports],
      [`${PKG}/binaries/uws_linux_x64_115.node`, nativeExports],
    ]);
    expect(classifyUws(state({ cache: other }), 'v20.1.0', '115').uws).toBe('fallback');
  });
});

describe('detectUwsRuntime on this machine', () => {
  it('matches what the package ships for this Node (native on Node 20)', () => {
    const req = createRequire(import.meta.url);
    const pkg = path.dirname(req.resolve('uWebSockets.js/package.json'));
    const shipped = existsSync(path.join(pkg, 'binaries', expectedBinary()));
    const rt = detectUwsRuntime();
    expect(rt.node).toBe(process.version);
    expect(rt.abi).toBe(process.versions.modules);
    if (shipped) expect(rt).toMatchObject({ uws: 'native', binary: expectedBinary() });
    else expect(rt).toMatchObject({ uws: 'fallback' });
    if (process.versions.node.startsWith('20.')) expect(rt.uws).toBe('native');
    // The module the servers import is the one detected: a native App has SSLApp, the fallback not.
    expect(typeof (req('uWebSockets.js') as { SSLApp?: unknown }).SSLApp === 'function').toBe(rt.uws === 'native');
  });

  it('exports matchbook_runtime_info with the node, abi and uws labels', async () => {
    const registry = createRegistry('test');
    registerRuntimeInfo(registry, { node: 'v24.11.1', abi: '137', uws: 'fallback', reason: 'r' });
    const { body } = await exposition(registry);
    expect(body).toMatch(/^matchbook_runtime_info\{node="v24\.11\.1",abi="137",uws="fallback",component="test"\} 1$/m);
  });
});

describe('reportUwsRuntime', () => {
  const fallback = { node: 'v24.11.1', abi: '137', uws: 'fallback', reason: 'no binary for Node 24, ABI 137' } as const;

  it('refuses the JS fallback with the reason (it cannot serve our WebSockets or routes), and warns first', () => {
    const lines: string[] = [];
    const log = { ...NO_LOG, warn: (m: string) => lines.push(m) };
    expect(() => reportUwsRuntime(log, undefined, {}, fallback)).toThrow(UwsFallbackError);
    expect(() => reportUwsRuntime(log, undefined, {}, fallback)).toThrow(/MATCHBOOK_UWS_FALLBACK=1 starts anyway/);
    expect(lines[0]).toBe('uWebSockets.js: JS fallback (no binary for Node 24, ABI 137) — slower; see README');
  });

  it('runs on the fallback with MATCHBOOK_UWS_FALLBACK=1, and on the native binary, with the metric', async () => {
    const registry = createRegistry('test');
    expect(reportUwsRuntime(NO_LOG, registry, { MATCHBOOK_UWS_FALLBACK: '1' }, fallback).uws).toBe('fallback');
    expect((await exposition(registry)).body).toContain('uws="fallback"');
    expect(reportUwsRuntime(NO_LOG, undefined, {}, detectUwsRuntime())).toEqual(detectUwsRuntime());
  });
});
