// docs/BENCHMARKS.md generation from a fixed results file. The fixture
// (fixtures/suite-results.json) holds the per-bench results of the 2026-11-22 runs for engine,
// replay, replicator, grpc, feed and events, a failed rest entry, and seed-scenario figures
// made up for this test (two configurations at the seed's three load levels, one overloaded).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { discussWinners, renderDocs, type SuiteResults } from '../../bench/suite/report.js';
import { lastJsonLine } from '../../bench/suite/run-all.js';
import { SEED_TABLE_3, table3 } from '../../bench/suite/seed-model.js';
import { checkWellFormedXml } from './xml.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const FIXTURE = path.join(HERE, 'fixtures', 'suite-results.json');
const results = JSON.parse(readFileSync(FIXTURE, 'utf8')) as SuiteResults;
const docs = renderDocs(results, 'test/bench/fixtures/suite-results.json');
const md = docs.markdown;

function section(title: string): string {
  const start = md.indexOf(`## ${title}`);
  expect(start).toBeGreaterThanOrEqual(0);
  const next = md.indexOf('\n## ', start + 3);
  return md.slice(start, next < 0 ? undefined : next);
}

describe('renderDocs', () => {
  it('describes the machine and the commands run', () => {
    expect(md).toContain('| CPU | AMD EPYC (fixture) |');
    expect(md).toContain('| cores | 2 |');
    expect(md).toContain('| memory | 24 GiB |');
    expect(md).toContain('| Node.js | v20.20.2 |');
    expect(md).toContain('`npm run bench:engine -- --quick`');
    expect(md).toContain('npm run bench -- --quick');
  });

  it("has the seed's Table 2 figures in its Table 3 form, with F under both weightings", () => {
    const s = section("The seed paper's evaluation model");
    expect(s).toContain(
      '| scenario | T avg latency (ms) | Th (req/s) | K | T_norm | Th_norm | K_norm | F real-time priority (0.5/0.3/0.2) | F throughput priority (0.3/0.5/0.2) |',
    );
    // The paper's five rows, normalised together: its printed Table 3 at two decimals.
    expect(s).toContain('| low load (Raft) | 12 | 980 | 100% | 1.00 | 0.00 | 1.00 | **0.70** | 0.50 |');
    expect(s).toContain('| medium load (Raft) | 38 | 9,450 | 99% | 0.79 | 0.18 | 0.75 | 0.60 | 0.48 |');
    expect(s).toContain('| high load (Raft) | 120 | 46,800 | 97% | 0.12 | 1.00 | 0.25 | 0.41 | **0.59** |');
    expect(s).toContain('| medium load (Paxos) | 45 | 9,200 | 99% | 0.73 | 0.18 | 0.75 | 0.57 | 0.46 |');
    expect(s).toContain('| high load (Paxos) | 135 | 45,000 | 96% | 0.00 | 0.96 | 0.00 | 0.29 | 0.48 |');
    expect(s).toMatch(
      /real-time priority\*\* \(α 0\.5, β 0\.3, γ 0\.2\) \*\*low load \(Raft\)\*\* wins with F = 0\.70/,
    );
    expect(s).toMatch(
      /throughput priority\*\* \(α 0\.3, β 0\.5, γ 0\.2\) \*\*high load \(Raft\)\*\* wins with F = 0\.59/,
    );
  });

  it('scores our seed scenarios in the same form, side by side with the seed, and pooled', () => {
    const s = section("The seed paper's evaluation model");
    expect(s).toContain('`npm run bench:seed -- --quick`: 14 scenarios; 1 more failed before they were measured');
    expect(s).toContain(
      '| grpc, 1 replica, fsync on @ 10,000/s | 4.2 | 9,990 | 100% | 1.00 | 0.35 | 1.00 | 0.80 | 0.67 |',
    );
    expect(s).toContain(
      '| grpc, 3 replicas, fsync off @ 50,000/s | 1,500 | 26,800 | 100% | 0.69 | 1.00 | 1.00 | **0.84** | **0.91** |',
    );
    expect(s).toContain(
      '| rest, 3 replicas, fsync on @ 50,000/s | 4,800 | 10,200 | 99.95% | 0.00 | 0.36 | 0.00 | 0.11 | 0.18 |',
    );
    // The discussion: who wins under each weighting, why, and how the normalisation shaped it.
    expect(s).toMatch(
      /real-time priority\*\* .* \*\*grpc, 3 replicas, fsync off @ 50,000\/s\*\* wins with F = 0\.84 .*comes from throughput \(\+0\.20\), which outweighs what it gives up on latency \(-0\.16\)\. Its average latency, 1,500 ms, is 714× the fastest scenario's \(2\.1 ms\)/,
    );
    expect(s).toMatch(/throughput priority\*\* .* \*\*grpc, 3 replicas, fsync off @ 50,000\/s\*\* wins with F = 0\.91/);
    expect(s).toContain('Consistency differs by only 0.05 percentage points (99.95% to 100%)');
    expect(s).toContain('Latency spans 2.1 ms to 4,800 ms');
    expect(s).toContain(
      'Among the 9 scenarios that kept up with their offered rate (acknowledged ≥ 95% of it), normalised over those alone: under real-time priority **grpc, 1 replica, fsync on @ 10,000/s** (F = 0.90); under throughput priority **grpc, 1 replica, fsync on @ 10,000/s** (F = 0.94).',
    );
    // Side by side: each of ours next to the seed's nearest load level.
    expect(s).toContain(
      '| grpc, 3 replicas, fsync off | 50,000 | 26,800 | 1,500 ms | 100% | high load (Raft), 7 nodes | 46,800 | 120 ms | 97% |',
    );
    expect(s).toContain(
      '| grpc, 5 replicas, fsync on | 1,000 | 999 | 4.6 ms | 100% | low load (Raft), 3 nodes | 980 | 12 ms | 100% |',
    );
    // Pooled: the seed's rows and ours on one scale.
    expect(s).toContain(
      '| seed: high load, Raft, 7 nodes | 120 | 46,800 | 97% | 0.98 | 1.00 | 0.25 | **0.84** | **0.84** |',
    );
    expect(s).toContain('| seed: high load, Paxos, 7 nodes | 135 | 45,000 | 96% | 0.97 | 0.96 | 0.00 | 0.77 | 0.77 |');
    // Every scenario in the last table, the failed one with its error.
    expect(s).toContain(
      '| grpc | 5 | on | 50,000 | – | – | – | – | – | – | – | – | 0 | 0 | – | – | failed: gateway not ready within 30 s |',
    );
    expect(s).toContain('![Seed scenarios: latency vs offered load per configuration](bench-latency-seed.svg)');
  });

  it('still shows the seed table, and says why ours is missing, without a seed run', () => {
    const { seed: _seed, ...rest } = results.benches;
    const without = renderDocs({ ...results, benches: rest }, 'x.json').markdown;
    expect(without).toContain('| low load (Raft) | 12 | 980 | 100% | 1.00 | 0.00 | 1.00 | **0.70** | 0.50 |');
    expect(without).toContain('`bench:seed` was not part of this run');
  });

  it('has a table per benchmark', () => {
    expect(section('Matching engine')).toContain(
      '| mix 1 (exchange-core style) | matchbook | 2,000,000 | 2,280,090 | 0.49 | 1.4 | 2.5 | 5,379 | 7.2× |',
    );
    expect(section('Replay and audit')).toContain('| verify | 2,688 | 372,034 |');
    const rep = section('Replication');
    expect(rep).toContain('| 20,000 | 20,004 | 1.8 ms | 13 ms | 23 ms | 27 ms |');
    expect(rep).toContain('| max (closed loop) | 199,578 | 9.4 ms | 29 ms | 40 ms | 41 ms |');
    expect(rep).toContain('| first commit | 244 | 266 | 571 |');
    expect(section('Order entry over gRPC')).toContain('| batched | 50 | 50,000 | 27,090 | 13,853 ms |');
    expect(section('Market data')).toContain(
      '| 1,000 | 10,000 | 998 | 1,000,407 | 15 ms | 40 ms | 58 ms | 80 ms | 0 |',
    );
    expect(section('Events to Kafka')).toContain(
      '| 5,000 | 24,918 | 104 ms | 356 ms | 398 ms | 139 ms | 411 ms | 414 ms |',
    );
  });

  it('records a failed benchmark with its exit code and stderr tail', () => {
    const s = section('Order entry over REST');
    expect(s).toContain('**Failed** after 6.3 s: exit code 1.');
    expect(s).toContain('Error: gateway not ready within 30 s');
    expect(md).toContain('**1 of 8 failed**: rest.');
    expect(md).toContain(
      '| rest | `npm run bench:rest -- --rates 2000,5000,10000,max --seconds 2` | **failed** (exit 1) | 6.3 |',
    );
  });

  it('embeds every chart it generates, and every chart is well-formed SVG', () => {
    const files = docs.charts.map((c) => c.file).sort();
    expect(files).toEqual([
      'bench-latency-events.svg',
      'bench-latency-feed.svg',
      'bench-latency-grpc.svg',
      'bench-latency-replicator.svg',
      'bench-latency-seed.svg',
      'bench-throughput-engine.svg',
      'bench-throughput-order-path.svg',
      'bench-throughput-seed.svg',
    ]);
    for (const c of docs.charts) {
      expect(md).toContain(`](${c.file})`);
      expect(checkWellFormedXml(c.svg)[0]).toBe('svg');
    }
    const seedLat = docs.charts.find((c) => c.file === 'bench-latency-seed.svg')!.svg;
    expect(seedLat).toContain('data-name="grpc, 3 replicas, fsync on p99"');
    expect(seedLat).toContain('data-name="rest, 3 replicas, fsync on p99.9"');
    const seedBars = docs.charts.find((c) => c.file === 'bench-throughput-seed.svg')!.svg;
    expect(seedBars).toContain('data-name="offered 50,000/s"');
    expect(seedBars).toContain('>26,800</text>');
  });

  it('explains a single winner by the term that decides it', () => {
    const lines = discussWinners([...SEED_TABLE_3]);
    expect(lines[0]).toContain(
      'Its margin over the runner-up comes from latency (+0.11), which outweighs what it gives up on throughput (-0.06).',
    );
  });

  it('calls a lead below the printed precision a tie at two decimals', () => {
    const rows = table3([
      { name: 'a', avgLatencyMs: 3.1, throughputPerSec: 9449, consistency: 1 },
      { name: 'b', avgLatencyMs: 4.0, throughputPerSec: 9440, consistency: 1 },
      { name: 'c', avgLatencyMs: 3900, throughputPerSec: 21000, consistency: 1 },
    ]);
    const lines = discussWinners(rows);
    expect(lines[0]).toMatch(
      /\*\*a\*\* wins with F = 0\.70 .*runner-up b is only 0\.0003 behind \(F = 0\.6999\): a tie at two decimals\. What edge there is comes from throughput\./,
    );
  });
});

describe('lastJsonLine', () => {
  it('takes the last stdout line that is a JSON object, skipping lines printed after it', () => {
    const out = ['table', '{"bench":"rest","steps":[]}', '[gateway] stats {"gateway":{}}', ''].join('\n');
    expect(lastJsonLine(out)).toEqual({ bench: 'rest', steps: [] });
    expect(lastJsonLine('no json here\n[1,2]\n')).toBeUndefined();
  });
});

describe('run-all --from-results', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-suite-docs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('regenerates BENCHMARKS.md and the charts from a results file without running anything', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/suite/run-all.ts',
        '--from-results',
        FIXTURE,
        '--docs-dir',
        dir,
        '--seed-paper',
        'none',
        '--failover',
        'none',
      ],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(path.join(dir, 'BENCHMARKS.md'))).toBe(true);
    expect(readFileSync(path.join(dir, 'BENCHMARKS.md'), 'utf8')).toBe(md);
    expect(readdirSync(dir).filter((f) => f.endsWith('.svg'))).toHaveLength(docs.charts.length);
  });

  it("inserts the seed paper's experiment (a bench:seed --paper results file) after the seed-model section", () => {
    const paperFile = path.join(dir, 'seed-paper-fixture.json');
    const run = {
      bench: 'seed-paper',
      date: '2026-12-07',
      cpus: 2,
      cpuModel: 'fixture CPU',
      node: 'v20.20.2',
      loadAverageBefore: [1, 1, 1],
      loadAverageAfter: [2, 2, 2],
      protocol: 'grpc',
      fsync: true,
      seconds: 20,
      warmupSeconds: 2,
      consensusRequested: ['raft'],
      unavailable: [],
      scenarios: [
        {
          consensus: 'raft',
          load: 'low',
          replicas: 3,
          offeredPerSec: 1000,
          achievedPerSec: 1001,
          avgMs: 7,
          p50Ms: 5,
          p99Ms: 30,
          consistency: 1,
          acked: 20020,
          lost: 0,
          duplicates: 0,
          cpuUsPerOrder: { total: 1800 },
          coresBusy: 1.8,
        },
      ],
    };
    writeFileSync(paperFile, JSON.stringify(run));
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/suite/run-all.ts',
        '--from-results',
        FIXTURE,
        '--docs-dir',
        dir,
        '--seed-paper',
        paperFile,
      ],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = readFileSync(path.join(dir, 'BENCHMARKS.md'), 'utf8');
    const model = out.indexOf("## The seed paper's evaluation model");
    const paper = out.indexOf("## The seed paper's experiment as the paper ran it");
    expect(model).toBeGreaterThanOrEqual(0);
    expect(paper).toBeGreaterThan(model);
    expect(out.indexOf('\n## ', model + 3)).toBe(paper - 1);
    expect(out).toContain(
      '| low load | 3 | Raft | 1,000 | 1,001 | 7.0 ms | 5.0 ms | 30 ms | 100% | 1,800 | 1.80 | 1,111 |',
    );
    expect(out).toContain('**Multi-Paxos rows: not yet measured: Multi-Paxos is not in this build.**');
  });

  it('refuses an unknown benchmark name with a usage message', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'bench/suite/run-all.ts', '--only', 'nope', '--docs-dir', dir],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown benchmark(s): nope');
  });
});
