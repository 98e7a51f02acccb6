// Dependency rules for matchbook (issue 17), checked by `npm run lint:deps` (part of `npm run lint`).
// Paths are relative to the repository root; a folder that does not exist yet (api/) matches nothing.
//
// The layers of ARCHITECTURE.md, each importing only layers below it:
//   tools:     cli/ chaos/ bench/ test/        anything below (test/ only by tests)
//   processes: processes/ gateway/ events/     not tools; gateway never events, events never gateway
//   parts:     feed/ audit/                    feed: engine, shard, ops, replicator/client, api/decimal.ts;
//                                              audit: engine, ops, shard, api, replicator
//   log:       replicator/                     engine, shard, ops: never gateway, feed, events, api
//   config:    config/                         engine, api, replicator/cluster-config.ts, ops/tls-settings.ts (files shared by processes)
//   shared:    api/ shard/                     engine only
//   base:      engine/ ops/                    nothing of ours
//   browser:   ui/                             the page's code, bundled by esbuild: ui/, the browser-safe
//                                              modules (BROWSER_SAFE) and npm lightweight-charts; no node:
// Outside replicator/, code uses the log through replicator/log.ts and replicator/client/, never
// raft/, wal/ or transport/ (exceptions: audit/wal-reader.ts, processes/replica.ts, bench/, test/).
//
// "Imports" means any import the parser sees: value, `import type`, re-export, dynamic import(),
// require(). The swc parser (TypeScript 7 has no JavaScript API, so the tsc parser is out) does not
// tell type-only imports apart, so a type-only import counts everywhere, cycles included. That is
// the intent: a layer that may not import a module may not know its types either.

/** A local (resolved, non-npm, non-core) module outside the given top-level folders. */
const localOutside = (...folders) => ({
  dependencyTypes: ['local'],
  pathNot: `^(${folders.join('|')})/`,
});

/**
 * The modules of ours the browser page (ui/) may import: pure, no node: built-ins, importing only
 * each other (and npm crc-32). esbuild bundles them into the page; a node: import fails the bundle.
 */
const BROWSER_SAFE =
  '^api/(ui-contract|decimal|limits|order-ids)[.]ts$|^feed/(client/local-book|book-side|checksum|types|decimal-form)[.]ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import cycles, type-only ones included (the swc parser cannot tell them apart). Break a cycle by moving ' +
        'the shared piece (an error class, a type) into a module both sides import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'engine-imports-nothing-of-ours',
      severity: 'error',
      comment: 'engine/ is the pure matching core: it may import node built-ins and itself, nothing else of ours.',
      from: { path: '^engine/' },
      to: localOutside('engine'),
    },
    {
      name: 'shard-only-engine',
      severity: 'error',
      comment: 'shard/ (state machine, batch codec, snapshot envelope) builds on engine/ only.',
      from: { path: '^shard/' },
      to: localOutside('shard', 'engine'),
    },
    {
      name: 'api-only-engine',
      severity: 'error',
      comment: 'api/ (order ids, report mapping, canonical hashing, signing, auth) builds on engine/ only.',
      from: { path: '^api/' },
      to: localOutside('api', 'engine'),
    },
    {
      name: 'config-only-engine-api-cluster-file',
      severity: 'error',
      comment:
        'config/ parses the configuration files several processes share (the gateway file, read by the gateway and ' +
        'the query service): it builds on engine/ (instrument configs), api/ (key formats) and the cluster file parser.',
      from: { path: '^config/' },
      to: {
        dependencyTypes: ['local'],
        pathNot: '^(config|engine|api)/|^replicator/(cluster-config|raft/types)[.]ts$|^ops/tls-settings[.]ts$',
      },
    },
    {
      name: 'ops-imports-nothing-of-ours',
      severity: 'error',
      comment:
        'ops/ (logging, metrics, the ops endpoint, process lifecycle, assert) is used by every process: nothing else of ours.',
      from: { path: '^ops/' },
      to: localOutside('ops'),
    },
    {
      name: 'replicator-only-engine-shard-ops',
      severity: 'error',
      comment:
        'replicator/ may import engine/, shard/ and ops/ only: in particular never gateway/, feed/, events/ or api/ ' +
        '(issue 17: "replicator never gateway, feed or events"). Hosts that combine a replica with a feed live outside replicator/.',
      from: { path: '^replicator/' },
      to: localOutside('replicator', 'engine', 'shard', 'ops'),
    },
    {
      name: 'feed-only-engine-shard-ops-replicator-client',
      severity: 'error',
      comment:
        'feed/ may import engine/, shard/, ops/ and the replica client protocol (replicator/client/) only, and of api/ ' +
        'the pure decimal conversion (api/decimal.ts and its limits): in particular never gateway/ or events/, and not ' +
        'the Raft internals.',
      from: { path: '^feed/' },
      to: {
        dependencyTypes: ['local'],
        pathNot: '^(feed|engine|shard|ops|replicator/client)/|^api/(decimal|limits)[.]ts$',
      },
    },
    {
      name: 'audit-only-engine-ops-shard-api-replicator',
      severity: 'error',
      comment:
        'audit/ (offline replay and verification) reads what the log and the shard layer define and what api/ defines ' +
        'for reports; never gateway/, events/, processes/ or the tools.',
      from: { path: '^audit/' },
      to: localOutside('audit', 'engine', 'ops', 'shard', 'api', 'replicator'),
    },
    {
      name: 'fix-only-api-ops-config-gateway-types',
      severity: 'error',
      comment:
        'fix/ (the FIX 4.4 acceptor: codec, session layer, application adapter) builds on api/, ops/, config/ and ' +
        "the gateway's types (gateway/types.ts) only; the gateway core is handed to it, never imported.",
      from: { path: '^fix/' },
      to: {
        dependencyTypes: ['local'],
        pathNot: '^(fix|api|ops|config)/|^gateway/(types|grpc-server)[.]ts$',
      },
    },
    {
      name: 'events-not-gateway',
      severity: 'error',
      comment: 'events/ must not import gateway/: what both need (signing, auth, report mapping) belongs in api/.',
      from: { path: '^events/' },
      to: { path: '^gateway/' },
    },
    {
      name: 'gateway-not-events',
      severity: 'error',
      comment: 'gateway/ must not import events/; a program that runs both belongs in processes/.',
      from: { path: '^gateway/' },
      to: { path: '^events/' },
    },
    {
      name: 'not-to-processes',
      severity: 'error',
      comment:
        'processes/ holds entry points that compose parts; only tools (cli, chaos, bench, test) may import them.',
      from: { path: '^(gateway|events)/' },
      to: { path: '^processes/' },
    },
    {
      name: 'not-to-tools',
      severity: 'error',
      comment:
        'The processes (processes/, gateway/, events/) never import the tools built on them (cli, chaos, bench, scripts).',
      from: { path: '^(processes|gateway|events)/' },
      to: { path: '^(cli|chaos|bench|scripts)/' },
    },
    {
      name: 'replicator-internals-stay-inside',
      severity: 'error',
      comment:
        'Outside replicator/, use the log through replicator/log.ts and replicator/client/, never raft/, wal/ or ' +
        'transport/: that is the seam another consensus protocol plugs into. Exceptions: the audit WAL reader and ' +
        'processes/replica.ts (and bench/, test/, which measure and test the internals).',
      from: {
        path: '^(audit|processes|gateway|events|cli|chaos)/',
        pathNot: '^(audit/wal-reader|processes/replica)[.]ts$',
      },
      to: { path: '^replicator/(raft|wal|transport)/' },
    },
    {
      name: 'ui-only-browser-safe',
      severity: 'error',
      comment:
        'ui/ (the browser page) may import ui/ and the browser-safe modules of ours (BROWSER_SAFE: api/ui-contract.ts, ' +
        'api/decimal.ts, api/limits.ts, api/order-ids.ts, feed/client/local-book.ts, feed/book-side.ts, feed/checksum.ts, feed/types.ts, ' +
        'feed/decimal-form.ts), nothing else of ours: the rest is Node code.',
      from: { path: '^ui/' },
      to: { dependencyTypes: ['local'], pathNot: `^ui/|${BROWSER_SAFE}` },
    },
    {
      name: 'ui-npm-only-lightweight-charts',
      severity: 'error',
      comment:
        'ui/ imports one npm package, lightweight-charts (served to the browser from /ui/lightweight-charts.mjs, ' +
        'not bundled); anything else would be bundled into the page or fail in the browser.',
      from: { path: '^ui/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer'],
        pathNot: 'node_modules/lightweight-charts/',
      },
    },
    {
      name: 'browser-code-no-node-builtins',
      severity: 'error',
      comment:
        'The page and the modules it bundles run in a browser: no node: built-ins (esbuild would refuse the bundle).',
      from: { path: `^ui/|${BROWSER_SAFE}` },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'browser-safe-stays-browser-safe',
      severity: 'error',
      comment:
        'The browser-safe modules (BROWSER_SAFE) import only each other and npm crc-32: a new import would pull ' +
        'Node code into the page. Move what they need into a browser-safe module, or extend BROWSER_SAFE after checking it.',
      from: { path: BROWSER_SAFE },
      to: { pathNot: `${BROWSER_SAFE}|node_modules/crc-32/` },
    },
    {
      name: 'nothing-imports-ui',
      severity: 'error',
      comment:
        'ui/ is the browser page: no process imports it (the gateway serves its files by path, gateway/ui-assets.ts); ' +
        'tests may (its pure parts).',
      from: { pathNot: '^(ui|test)/' },
      to: { path: '^ui/' },
    },
    {
      name: 'nothing-imports-test',
      severity: 'error',
      comment: 'Only tests import from test/ (helpers, fixtures, the reference model).',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'Every import resolves to a file or an installed package (a moved file left an importer behind?).',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-unlisted-package',
      severity: 'error',
      comment: 'Every npm package imported is listed in package.json (not reached through another package).',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'production-not-to-dev-deps',
      severity: 'error',
      comment:
        'What runs in production must not need devDependencies (vitest, fast-check, benchmark peers): ' +
        '`npm ci --omit=dev` must still give a working exchange and CLI. The one exception: the bin loads tsx ' +
        'only as the development fallback of a source checkout without a current dist/ (bin/matchbook.mjs), and ' +
        'gateway/ui-assets.ts loads esbuild only when running from the sources (from dist/ it reads the bundle ' +
        '`npm run build` wrote).',
      from: {
        path: '^(engine|shard|api|ops|replicator|feed|audit|processes|gateway|events|fix|cli|bin|proto)/',
        pathNot: '^(bin/matchbook[.]mjs|gateway/ui-assets[.]ts)$',
      },
      to: { dependencyTypes: ['npm-dev'] },
    },
  ],
  options: {
    parser: 'swc',
    // Cruise everything of ours; data, the build's output, results and mutant copies (see .gitignore) are not code.
    exclude: { path: '^(data|dist|bench/results|\\.sim-mutants|\\.git|coverage)/' },
    doNotFollow: { path: 'node_modules' },
    // Keep `import type` (swc reports it either way; this states the intent).
    tsPreCompilationDeps: true,
    // Resolve packages the way Node's ESM loader does (package.json "exports", import condition), so
    // subpath imports such as tsx/esm/api resolve; .js specifiers of .ts files are mapped by depcruise itself.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};
