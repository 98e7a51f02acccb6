// Issue 17: every rule `npm run lint` checks fails on a planted violation, and the code it must
// accept passes. Each tool runs with the project's own config file, copied into a temporary
// directory with the planted files, so the repository's own lint run never sees them.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'node_modules', '.bin');
const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;

const dirs: string[] = [];

/** A temporary project: the given config files copied from the repository, node_modules linked, `files` written. */
function project(configs: string[], files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'matchbook-lint-'));
  dirs.push(dir);
  for (const c of configs) cpSync(join(ROOT, c), join(dir, c));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function run(dir: string, bin: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(BIN, bin), args, { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('dependency rules (.dependency-cruiser.cjs)', () => {
  // A layout that follows every rule (the layers of ARCHITECTURE.md), then one file per planted
  // violation. Each bad-*.ts file is imported by nothing, so it adds no cycle of its own.
  const uses = (from: Record<string, string>, name: string) =>
    `${Object.entries(from)
      .map(([n, path]) => `import { ${n} } from '${path}';\n`)
      .join('')}export const ${name} = [${Object.keys(from).join(', ')}];\n`;
  const allowed: Record<string, string> = {
    'package.json': JSON.stringify({
      type: 'module',
      dependencies: { 'lightweight-charts': '*', 'crc-32': '*' },
      devDependencies: { vitest: '*' },
    }),
    'engine/core.ts': "import { createHash } from 'node:crypto';\nexport const core = () => createHash('sha256');\n",
    'ops/log.ts': 'export const log = (s: string): string => s;\n',
    'shard/machine.ts': uses({ core: '../engine/core.js' }, 'machine'),
    'api/ids.ts': uses({ core: '../engine/core.js' }, 'ids'),
    'replicator/raft/raft.ts': uses({ machine: '../../shard/machine.js', log: '../../ops/log.js' }, 'raft'),
    'replicator/wal/segment.ts': uses({ core: '../../engine/core.js' }, 'segment'),
    'replicator/log.ts': uses({ raft: './raft/raft.js', segment: './wal/segment.js' }, 'replicatedLog'),
    'replicator/client/client.ts': uses({ replicatedLog: '../log.js' }, 'client'),
    'feed/server.ts': uses(
      { client: '../replicator/client/client.js', machine: '../shard/machine.js', log: '../ops/log.js' },
      'feed',
    ),
    'audit/audit.ts': uses(
      { replicatedLog: '../replicator/log.js', ids: '../api/ids.js', machine: '../shard/machine.js' },
      'audit',
    ),
    'audit/wal-reader.ts': uses({ segment: '../replicator/wal/segment.js' }, 'walReader'),
    'events/publisher.ts': uses(
      {
        ids: '../api/ids.js',
        replicatedLog: '../replicator/log.js',
        feed: '../feed/server.js',
        audit: '../audit/audit.js',
      },
      'publisher',
    ),
    'gateway/gateway.ts': uses(
      {
        ids: '../api/ids.js',
        client: '../replicator/client/client.js',
        feed: '../feed/server.js',
        audit: '../audit/audit.js',
      },
      'gateway',
    ),
    'processes/replica.ts': uses(
      { raft: '../replicator/raft/raft.js', feed: '../feed/server.js', log: '../ops/log.js' },
      'replica',
    ),
    'processes/exchange.ts': uses(
      { gateway: '../gateway/gateway.js', publisher: '../events/publisher.js', replica: './replica.js' },
      'exchange',
    ),
    'cli/tool.ts': uses({ exchange: '../processes/exchange.js', audit: '../audit/audit.js' }, 'tool'),
    'chaos/faults.ts': uses({ exchange: '../processes/exchange.js', replicatedLog: '../replicator/log.js' }, 'faults'),
    'bench/wal.ts': uses({ segment: '../replicator/wal/segment.js', tool: '../cli/tool.js' }, 'benchWal'),
    'test/helpers.ts': uses(
      { tool: '../cli/tool.js', faults: '../chaos/faults.js', raft: '../replicator/raft/raft.js' },
      'helper',
    ),
    'gateway/types.ts': 'export type Core = { ready: boolean };\n',
    'fix/acceptor.ts':
      "import type { Core } from '../gateway/types.js';\nimport { ids } from '../api/ids.js';\nimport { log } from '../ops/log.js';\nexport type F = Core;\nexport const fix = [ids, log];\n",
    'test/x.test.ts': "import { it } from 'vitest';\nimport { helper } from './helpers.js';\nit('x', () => helper);\n",
    // The browser page: ui/, the browser-safe modules, npm lightweight-charts; a test may import the page's pure parts.
    'api/ui-contract.ts': 'export type UiConfig = { version: 1 };\n',
    'feed/checksum.ts': "import CRC32 from 'crc-32';\nexport const crc = CRC32;\n",
    'ui/src/context.ts': "import type { UiConfig } from '../../api/ui-contract.js';\nexport type Ctx = UiConfig;\n",
    'ui/src/main.ts':
      "import { createChart } from 'lightweight-charts';\nimport type { Ctx } from './context.js';\nimport { crc } from '../../feed/checksum.js';\nexport type M = Ctx;\nexport const main = [createChart, crc];\n",
    'test/ui.test.ts':
      "import { it } from 'vitest';\nimport { main } from '../ui/src/main.js';\nit('x', () => main);\n",
  };
  const planted: Record<string, string> = {
    'engine/bad.ts': uses({ gateway: '../gateway/gateway.js' }, 'x'),
    'engine/bad-type.ts': "import type { log } from '../ops/log.js';\nexport type X = typeof log;\n",
    'ops/bad.ts': uses({ core: '../engine/core.js' }, 'x'),
    'shard/bad.ts': uses({ replicatedLog: '../replicator/log.js' }, 'x'),
    'api/bad.ts': uses({ log: '../ops/log.js' }, 'x'),
    'replicator/bad-gateway.ts': uses({ gateway: '../gateway/gateway.js' }, 'x'),
    'replicator/bad-feed.ts': uses({ feed: '../feed/server.js' }, 'x'),
    'replicator/bad-events.ts': uses({ publisher: '../events/publisher.js' }, 'x'),
    'replicator/bad-api.ts': uses({ ids: '../api/ids.js' }, 'x'),
    'feed/bad-gateway.ts': uses({ gateway: '../gateway/gateway.js' }, 'x'),
    'feed/bad-events.ts': uses({ publisher: '../events/publisher.js' }, 'x'),
    'feed/bad-raft.ts': uses({ raft: '../replicator/raft/raft.js' }, 'x'),
    'audit/bad-gateway.ts': uses({ gateway: '../gateway/gateway.js' }, 'x'),
    'audit/bad-events.ts': uses({ publisher: '../events/publisher.js' }, 'x'),
    'events/bad.ts': uses({ gateway: '../gateway/gateway.js' }, 'x'),
    'gateway/bad-events.ts': uses({ publisher: '../events/publisher.js' }, 'x'),
    'events/bad-processes.ts': uses({ replica: '../processes/replica.js' }, 'x'),
    'gateway/bad-tool.ts': uses({ tool: '../cli/tool.js' }, 'x'),
    'processes/bad-tool.ts': uses({ benchWal: '../bench/wal.js' }, 'x'),
    'gateway/bad-raft.ts': uses({ raft: '../replicator/raft/raft.js' }, 'x'),
    'cli/bad-wal.ts': uses({ segment: '../replicator/wal/segment.js' }, 'x'),
    'bench/bad.ts': uses({ helper: '../test/helpers.js' }, 'x'),
    'cli/bad.ts': uses({ gone: './moved-away.js' }, 'x'),
    'gateway/bad-dev.ts': uses({ it: 'vitest' }, 'x'),
    'fix/bad-gateway.ts': uses({ gateway: '../gateway/gateway.js' }, 'x'),
    'fix/bad-engine.ts': uses({ core: '../engine/core.js' }, 'x'),
    'audit/bad-pkg.ts': "import semver from 'semver';\nexport const x = semver;\n",
    'ui/src/bad-node.ts': "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
    'ui/src/bad-local.ts': uses({ log: '../../ops/log.js' }, 'x'),
    'ui/src/bad-npm.ts': uses({ it: 'vitest' }, 'x'),
    'feed/types.ts': uses({ log: '../ops/log.js' }, 'x'),
    'gateway/bad-ui.ts': uses({ main: '../ui/src/main.js' }, 'x'),
    // A cycle through type-only imports: counted (the swc parser cannot tell them apart, and they are still a cycle).
    'gateway/cycle-a.ts': "import type { B } from './cycle-b.js';\nexport type A = { b?: B };\n",
    'gateway/cycle-b.ts': "import { type A } from './cycle-a.js';\nexport type B = { a?: A };\n",
  };
  let byRule: Map<string, string[]>;

  beforeAll(() => {
    const dir = project(['.dependency-cruiser.cjs'], { ...allowed, ...planted });
    const r = run(dir, 'depcruise', ['--config', '.dependency-cruiser.cjs', '--output-type', 'json', '.']);
    expect(r.stderr).not.toMatch(/ERROR/);
    const out = JSON.parse(r.stdout) as {
      summary: { violations: { from: string; to: string; rule: { name: string } }[] };
    };
    byRule = new Map();
    for (const v of out.summary.violations)
      byRule.set(v.rule.name, [...(byRule.get(v.rule.name) ?? []), `${v.from} -> ${v.to}`]);
    for (const edges of byRule.values()) edges.sort();
  });

  const expected: Record<string, string[]> = {
    'engine-imports-nothing-of-ours': ['engine/bad-type.ts -> ops/log.ts', 'engine/bad.ts -> gateway/gateway.ts'],
    'ops-imports-nothing-of-ours': ['ops/bad.ts -> engine/core.ts'],
    'shard-only-engine': ['shard/bad.ts -> replicator/log.ts'],
    'api-only-engine': ['api/bad.ts -> ops/log.ts'],
    'replicator-only-engine-shard-ops': [
      'replicator/bad-api.ts -> api/ids.ts',
      'replicator/bad-events.ts -> events/publisher.ts',
      'replicator/bad-feed.ts -> feed/server.ts',
      'replicator/bad-gateway.ts -> gateway/gateway.ts',
    ],
    'feed-only-engine-shard-ops-replicator-client': [
      'feed/bad-events.ts -> events/publisher.ts',
      'feed/bad-gateway.ts -> gateway/gateway.ts',
      'feed/bad-raft.ts -> replicator/raft/raft.ts',
    ],
    'audit-only-engine-ops-shard-api-replicator': [
      'audit/bad-events.ts -> events/publisher.ts',
      'audit/bad-gateway.ts -> gateway/gateway.ts',
    ],
    'fix-only-api-ops-config-gateway-types': [
      'fix/bad-engine.ts -> engine/core.ts',
      'fix/bad-gateway.ts -> gateway/gateway.ts',
    ],
    'events-not-gateway': ['events/bad.ts -> gateway/gateway.ts'],
    'gateway-not-events': ['gateway/bad-events.ts -> events/publisher.ts'],
    'not-to-processes': ['events/bad-processes.ts -> processes/replica.ts'],
    'not-to-tools': ['gateway/bad-tool.ts -> cli/tool.ts', 'processes/bad-tool.ts -> bench/wal.ts'],
    'replicator-internals-stay-inside': [
      'cli/bad-wal.ts -> replicator/wal/segment.ts',
      'gateway/bad-raft.ts -> replicator/raft/raft.ts',
    ],
    'nothing-imports-test': ['bench/bad.ts -> test/helpers.ts'],
    'not-to-unresolvable': ['cli/bad.ts -> ./moved-away.js'],
    'no-unlisted-package': ['audit/bad-pkg.ts -> npm:semver'],
    'production-not-to-dev-deps': ['gateway/bad-dev.ts -> npm:vitest'],
    'ui-only-browser-safe': ['ui/src/bad-local.ts -> ops/log.ts'],
    'ui-npm-only-lightweight-charts': ['ui/src/bad-npm.ts -> npm:vitest'],
    'browser-code-no-node-builtins': ['ui/src/bad-node.ts -> fs'],
    'browser-safe-stays-browser-safe': ['feed/types.ts -> ops/log.ts'],
    'nothing-imports-ui': ['gateway/bad-ui.ts -> ui/src/main.ts'],
  };

  it.each(Object.keys(expected))('%s: reports exactly the planted imports', (rule) => {
    // An npm package by its name: where it resolves inside node_modules depends on its version.
    const got = (byRule.get(rule) ?? []).map((e) =>
      e.replace(/ -> .*node_modules\/((@[^/]+\/)?[^/]+)\/.*$/, ' -> npm:$1'),
    );
    expect(got).toEqual(expected[rule]);
  });

  it('no-circular: reports the planted cycle of type-only imports, and no other', () => {
    const edges = byRule.get('no-circular') ?? [];
    expect(edges.length).toBeGreaterThan(0);
    const files = new Set(edges.flatMap((e) => e.split(' -> ')));
    expect([...files].sort()).toEqual(['gateway/cycle-a.ts', 'gateway/cycle-b.ts']);
  });

  it('reports nothing else: every rule is exercised above, and the allowed imports pass', () => {
    expect([...byRule.keys()].sort()).toEqual([...Object.keys(expected), 'no-circular'].sort());
  });

  it('npm run lint:deps runs this config over the whole tree', () => {
    expect(scripts['lint:deps']).toMatch(/^depcruise --config \.dependency-cruiser\.cjs .* \.$/);
  });
});

describe('format and lint (biome.json)', () => {
  /** A function whose body has `n` lines (blank lines excluded). */
  const fn = (name: string, n: number) =>
    `export function ${name}(): number {\n  let x = 0;\n${'  x += 1;\n'.repeat(n - 2)}  return x;\n}\n`;
  const formatted = "export const a = 'quoted';\n";
  const items = Array.from({ length: 10 }, (_, i) => `'item-${i}'`).join(', ');
  const WIDE = `export const wide = [${items}];`; // 121 columns: the formatter breaks it
  const FITS = `export const fit = [${items}];`; // 120 columns: left as it is
  const badlyFormatted = 'export const a = "quoted"\n';
  const files: Record<string, string> = {
    // Function length: at most 80 body lines, blank lines not counted; tests exempt.
    'engine/limit.ts': fn('atLimit', 80),
    'engine/over.ts': fn('overLimit', 81),
    'engine/blank.ts': fn('withBlanks', 80).replace(/ {2}x \+= 1;\n/g, (s, i: number) => (i % 3 ? s : `${s}\n`)),
    'test/long.test.ts': `import { describe, it } from 'vitest';\ndescribe('long', () => {\n${"  it('x', () => {});\n".repeat(150)}});\n`,
    // Formatting: quotes and semicolons, and the 120-column width on code that can be broken.
    'gateway/quotes.ts': badlyFormatted,
    'gateway/wide.ts': `${WIDE}\n`,
    'gateway/fits.ts': `${FITS}\n`,
    // Lint: a recommended rule at error level, and one at warning level (warnings fail too).
    'gateway/equals.ts': 'export const eq = (a: unknown, b: unknown): boolean => a == b;\n',
    'gateway/any.ts': 'export const anyValue = (a: any): number => a;\n',
    // The deliberate idioms the config allows: `!` on indexed access, assignment in a condition,
    // `return f()` from a void function, bracket access on a record.
    'engine/idioms.ts': [
      'const log = (s: string): void => {',
      '  void s;',
      '};',
      'export function idioms(xs: number[], r: Record<string, unknown>, next: () => number | undefined): void {',
      '  let v: number | undefined;',
      '  while ((v = next()) !== undefined) xs.push(v + xs[0]!);',
      "  if (r['kind'] === 'x') return log('x');",
      "  return log('y');",
      '}',
      '',
    ].join('\n'),
    // Not code: never checked.
    'data/ignored.ts': badlyFormatted,
    'bench/results/ignored.ts': badlyFormatted,
    'scripts/ok.mjs': formatted,
  };
  // `npm run lint:code`'s own command, with every diagnostic listed as JSON.
  const [bin, ...args] = scripts['lint:code']!.split(/\s+/).filter((a) => !a.startsWith('--max-diagnostics'));
  let dir: string;
  let diagnostics: { category: string; path: string }[];
  let status: number | null;

  beforeAll(() => {
    dir = project(['biome.json'], files);
    const r = run(dir, bin!, [...args, '--max-diagnostics=none', '--reporter=json']);
    status = r.status;
    const out = JSON.parse(r.stdout) as { diagnostics: { category: string; location: { path: string } }[] };
    diagnostics = out.diagnostics.map((d) => ({ category: d.category, path: d.location.path }));
  });

  const at = (path: string) => diagnostics.filter((d) => d.path === path).map((d) => d.category);

  it('fails, and reports nothing but the planted violations', () => {
    expect(status).not.toBe(0);
    const reported = [...new Set(diagnostics.map((d) => d.path))].sort();
    expect(reported).toEqual([
      'engine/over.ts',
      'gateway/any.ts',
      'gateway/equals.ts',
      'gateway/quotes.ts',
      'gateway/wide.ts',
    ]);
  });

  it('function length: 81 body lines fail, 80 pass, blank lines do not count, tests are exempt', () => {
    expect(at('engine/over.ts')).toEqual(['lint/complexity/noExcessiveLinesPerFunction']);
    expect(at('engine/limit.ts')).toEqual([]);
    expect(at('engine/blank.ts')).toEqual([]);
    expect(at('test/long.test.ts')).toEqual([]);
  });

  it('format: double quotes and a missing semicolon, and a breakable line over 120 columns', () => {
    expect(at('gateway/quotes.ts')).toEqual(['format']);
    expect([WIDE.length, FITS.length]).toEqual([121, 120]);
    expect(at('gateway/wide.ts')).toEqual(['format']);
    expect(at('gateway/fits.ts')).toEqual([]);
  });

  it('lint: recommended rules at error and at warning level', () => {
    expect(at('gateway/equals.ts')).toEqual(['lint/suspicious/noDoubleEquals']);
    expect(at('gateway/any.ts')).toEqual(['lint/suspicious/noExplicitAny']);
  });

  it("the code's deliberate idioms pass; data and bench results are not checked", () => {
    expect(at('engine/idioms.ts')).toEqual([]);
    expect(at('data/ignored.ts')).toEqual([]);
    expect(at('bench/results/ignored.ts')).toEqual([]);
  });

  it('npm run lint:code fails on a warning alone, and passes clean code', () => {
    expect(run(dir, bin!, [...args, 'gateway/any.ts']).status).toBe(1);
    expect(run(dir, bin!, [...args, 'engine/limit.ts', 'engine/idioms.ts', 'gateway/fits.ts']).status).toBe(0);
  });
});

describe('duplication (.jscpd.json)', () => {
  const block = (name: string) =>
    `export function ${name}(input: number[]): number {\n` +
    Array.from(
      { length: 12 },
      (_, i) => `  const v${i} = input[${i}] ?? ${i} * 3 + (input.length > ${i} ? 1 : 2);\n`,
    ).join('') +
    `  return ${Array.from({ length: 12 }, (_, i) => `v${i}`).join(' + ')};\n}\n`;

  it('fails when a block is copied in non-test code', () => {
    const dir = project(['.jscpd.json'], { 'engine/a.ts': block('a'), 'gateway/b.ts': block('b') });
    const r = run(dir, 'jscpd', []);
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/too many duplicates/);
  });

  it('passes when the copies are in test/ (setup repeated for readability is allowed there)', () => {
    const dir = project(['.jscpd.json'], {
      'engine/a.ts': 'export const a = 1;\n',
      'test/a.test.ts': block('a'),
      'test/b.test.ts': block('b'),
    });
    const r = run(dir, 'jscpd', []);
    expect(r.status).toBe(0);
  });
});

describe('protobuf contracts (buf.yaml, STANDARD)', () => {
  const proto = (rpc: string, messages: string) =>
    `syntax = "proto3";\n\npackage exchange.v1;\n\n${messages}\nservice QueryService {\n  ${rpc}\n}\n`;

  it('fails on an RPC whose request and response are not named after it (the old QueryService.GetOrder)', () => {
    const dir = project(['buf.yaml'], {
      'proto/exchange/v1/query.proto': proto(
        'rpc GetOrder(QueryOrderRequest) returns (QueryOrderResponse);',
        'message QueryOrderRequest {\n  uint64 order_id = 1;\n}\n\nmessage QueryOrderResponse {\n  uint64 order_id = 1;\n}\n',
      ),
    });
    const r = run(dir, 'buf', ['lint']);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/RPC request type "QueryOrderRequest" should be named/);
    expect(r.stdout + r.stderr).toMatch(/RPC response type "QueryOrderResponse" should be named/);
  });

  it('passes the names STANDARD asks for; npm run lint:proto is buf lint over proto/', () => {
    const dir = project(['buf.yaml'], {
      'proto/exchange/v1/query.proto': proto(
        'rpc GetOrder(QueryServiceGetOrderRequest) returns (QueryServiceGetOrderResponse);',
        'message QueryServiceGetOrderRequest {\n  uint64 order_id = 1;\n}\n\nmessage QueryServiceGetOrderResponse {\n  uint64 order_id = 1;\n}\n',
      ),
    });
    expect(run(dir, 'buf', ['lint']).status).toBe(0);
    expect(scripts['lint:proto']).toBe('buf lint');
  });
});
