// docs/BENCHMARKS.md's failover section (bench/suite/failover-report.ts): rendered from a
// bench:failover results file, placed after the replication section, discussion included, so
// that regenerating the docs from the suite's results keeps it.

import { describe, expect, it } from 'vitest';
import { type FailoverRun, failoverMarkdown, insertFailoverSection } from '../../bench/suite/failover-report.js';

const medians = (failoverMs: number, cleanP50Ms: number) => ({
  runs: 2,
  failoverMs,
  electedMs: failoverMs - 50,
  cleanP50Ms,
  cleanP99Ms: 40,
  lossyP50Ms: 60,
  lossyP99Ms: 300,
  lossyResets: 12,
  unanswered: 0,
});

const RUN: FailoverRun = {
  bench: 'failover',
  date: '2026-12-07T10:00:00.000Z',
  replicas: 3,
  ratePerSec: 200,
  latencySeconds: 8,
  lossy: { delayMs: 10, jitterMs: 10, dropRate: 0.005 },
  machine: { cpus: 2, node: 'v20.20.2', loadAverageAtEnd: [9, 8, 7] },
  byConsensus: { raft: medians(310, 13), multipaxos: medians(620, 24) },
  runs: [
    { consensus: 'raft', run: 1, failover: { failoverMs: 300, electedMs: 250 } },
    { consensus: 'multipaxos', run: 1, failover: { failoverMs: 600, electedMs: 550 } },
    { consensus: 'raft', run: 2, failover: { failoverMs: 320, electedMs: 270 } },
    { consensus: 'multipaxos', run: 2, failover: { failoverMs: 640, electedMs: 590 } },
  ],
  discussion: ['Paragraph one.', 'Paragraph two.'],
};

describe('failover section of docs/BENCHMARKS.md', () => {
  it('renders each protocol’s medians, its failover range, the command and the discussion', () => {
    const md = failoverMarkdown(RUN, 'bench/results/failover-2026-12-07.json');
    expect(md).toContain('--consensus raft,multipaxos --replicas 3 --runs 2');
    expect(md).toContain('| Raft | 2 | 310 ms | 300–320 ms | 260 ms | 13 ms | 40 ms | 60 ms | 300 ms | 12 | 0 |');
    expect(md).toContain('| Multi-Paxos | 2 | 620 ms | 600–640 ms | 570 ms | 24 ms |');
    expect(md).toContain('[`bench/results/failover-2026-12-07.json`](../bench/results/failover-2026-12-07.json)');
    expect(md.indexOf('Paragraph one.')).toBeLessThan(md.indexOf('Paragraph two.'));
  });

  it('goes after the replication section and before the next one, or at the end without it', () => {
    const doc =
      '# B\n\n## Replication (Raft log)\n\ntext\n\n### Failover\n\nmore\n\n## Order entry over REST\n\nrest\n';
    const out = insertFailoverSection(doc, '## Failover and latency under loss\n\nX\n');
    expect(out.indexOf('### Failover')).toBeLessThan(out.indexOf('## Failover and latency'));
    expect(out.indexOf('## Failover and latency')).toBeLessThan(out.indexOf('## Order entry over REST'));
    expect(insertFailoverSection('# B\n', 'S\n')).toBe('# B\n\nS\n');
  });
});
