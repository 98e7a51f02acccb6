// `npm run bench:seed -- --paper`: its arguments, its plan (the paper's three scenarios per
// consensus protocol, exactly as the paper defines them), the report of a protocol the replicas
// refuse (its rows left out, never run), and the tables it prints. No benchmark is run here; the
// only processes started are the one-replica availability probes.

import { describe, expect, it } from 'vitest';
import { parsePaperArgs, planPaper, unavailableLine } from '../../bench/seed/paper-plan.js';
import { configRefusal, probeConsensus } from '../../bench/seed/paper.js';
import { SEED_TABLE_2 } from '../../bench/suite/seed-model.js';
import { cpuCeilingPerSec, type PaperRun, seedPaperMarkdown } from '../../bench/suite/seed-paper-report.js';
import { ClusterConfigError, parseClusterConfig } from '../../replicator/cluster-config.js';

/** A probe starts a real replica process: generous on a loaded 2-core machine. */
const PROBE_TEST_TIMEOUT_MS = 120_000;

describe('parsePaperArgs', () => {
  it('defaults to both protocols, REST (the paper used HTTP clients), fsync on', () => {
    const o = parsePaperArgs(['--paper']);
    expect(o.consensus).toEqual(['raft', 'multipaxos']);
    expect([o.protocol, o.fsync]).toEqual(['rest', true]);
    expect(parsePaperArgs(['--paper', '--protocol', 'grpc', '--fsync', 'off'])).toMatchObject({
      protocol: 'grpc',
      fsync: false,
    });
    expect(() => parsePaperArgs(['--paper', '--protocol', 'udp'])).toThrow(/--protocol: udp/);
    expect(o.seconds).toBeGreaterThan(0);
  });

  it('takes --consensus, --seconds, --warmup', () => {
    const o = parsePaperArgs(['--paper', '--consensus', 'multipaxos,raft,raft', '--seconds', '5', '--warmup', '0']);
    expect(o.consensus).toEqual(['multipaxos', 'raft']);
    expect([o.seconds, o.warmupSeconds]).toEqual([5, 0]);
  });

  it('refuses an unknown protocol, a bad duration and an unknown flag with a message', () => {
    expect(() => parsePaperArgs(['--paper', '--consensus', 'pbft'])).toThrow(/--consensus: pbft is not one of/);
    expect(() => parsePaperArgs(['--paper', '--consensus', ','])).toThrow(/--consensus: empty list/);
    expect(() => parsePaperArgs(['--paper', '--seconds', '0'])).toThrow(/--seconds/);
    expect(() => parsePaperArgs(['--paper', '--seconds', 'x'])).toThrow(/--seconds/);
    expect(() => parsePaperArgs(['--paper', '--rates', '5'])).toThrow();
  });
});

describe('planPaper', () => {
  const opts = {
    consensus: ['raft', 'multipaxos'] as ('raft' | 'multipaxos')[],
    protocol: 'grpc' as const,
    fsync: true,
  };

  it("plans exactly the paper's three scenarios per available protocol: 1,000/s on 3 nodes, 10,000/s on 5, 50,000/s on 7", () => {
    const { plans, unavailable } = planPaper(opts, { raft: { available: true }, multipaxos: { available: true } });
    expect(unavailable).toEqual([]);
    expect(plans.map((p) => [p.consensus, p.load, p.replicas, p.offeredPerSec])).toEqual([
      ['raft', 'low', 3, 1000],
      ['raft', 'medium', 5, 10000],
      ['raft', 'high', 7, 50000],
      ['multipaxos', 'low', 3, 1000],
      ['multipaxos', 'medium', 5, 10000],
      ['multipaxos', 'high', 7, 50000],
    ]);
    expect(plans.every((p) => p.protocol === 'grpc' && p.fsync)).toBe(true);
  });

  it('reports a refused protocol with the refusal and plans none of its rows', () => {
    const error = "cluster config: consensus 'multipaxos' is not available in this build";
    const { plans, unavailable } = planPaper(opts, {
      raft: { available: true },
      multipaxos: { available: false, error, refusedByConfig: true },
    });
    expect(plans.map((p) => p.consensus)).toEqual(['raft', 'raft', 'raft']);
    expect(unavailable).toEqual([
      {
        consensus: 'multipaxos',
        error,
        line: `multipaxos: not available in this build (cluster config consensus=multipaxos refused: ${error})`,
      },
    ]);
  });

  it('refuses to plan a protocol that was not tried', () => {
    expect(() => planPaper(opts, { raft: { available: true } })).toThrow(/multipaxos was not tried/);
  });
});

describe('availability is found by trying a replica', () => {
  it('finds the refusal line in a failed start', () => {
    expect(
      configRefusal(
        "node 1 exited (1) before it was ready\n  [1] FATAL: ClusterConfigError: cluster config: consensus 'x' is not available in this build\n  [1]     at fail",
      ),
    ).toBe("cluster config: consensus 'x' is not available in this build");
    expect(configRefusal('node 1 not ready within 30000 ms')).toBeUndefined();
  });

  /** What the parser says of `consensus`: the probe of a real replica must agree with it. */
  function parserSays(consensus: string): string | undefined {
    try {
      parseClusterConfig(
        { clusterId: 'c', dataDir: 'd', shardConfig: 's', members: [{ id: 1, raft: 'h:1', client: 'h:2' }], consensus },
        '/tmp',
      );
      return undefined;
    } catch (err) {
      if (err instanceof ClusterConfigError) return err.message;
      throw err;
    }
  }

  it(
    'a real replica accepts raft, refuses an unknown name, and accepts multipaxos exactly when the cluster config parser does',
    async () => {
      expect(await probeConsensus('raft')).toEqual({ available: true });
      // A name no build knows: the real replica refuses it (a replica that ignored the field would run Raft under it).
      const unknown = await probeConsensus('pbft');
      expect(unknown).toMatchObject({ available: false, refusedByConfig: true });
      expect(unknown.available ? '' : unknown.error).toMatch(/cluster config: consensus: must be one of "raft"/);
      const refusal = parserSays('multipaxos');
      const probe = await probeConsensus('multipaxos');
      if (refusal === undefined) expect(probe).toEqual({ available: true });
      else {
        expect(probe).toEqual({ available: false, error: refusal, refusedByConfig: true });
        expect(unavailableLine('multipaxos', { error: refusal, refusedByConfig: true })).toContain(
          'multipaxos: not available in this build (cluster config consensus=multipaxos refused: ',
        );
      }
    },
    PROBE_TEST_TIMEOUT_MS,
  );
});

describe('seedPaperMarkdown', () => {
  const scenario = (
    load: 'low' | 'medium' | 'high',
    replicas: number,
    offered: number,
    achieved: number,
    avg: number,
  ) => ({
    consensus: 'raft',
    load,
    replicas,
    offeredPerSec: offered,
    achievedPerSec: achieved,
    avgMs: avg,
    p50Ms: avg / 2,
    p99Ms: avg * 2,
    consistency: 1,
    acked: achieved * 10,
    lost: 0,
    duplicates: 0,
    cpuUsPerOrder: { total: 400 },
    coresBusy: 1.9,
  });
  const run: PaperRun = {
    date: '2026-12-07',
    cpus: 2,
    cpuModel: 'test CPU',
    node: 'v20',
    loadAverageBefore: [1, 2, 3],
    loadAverageAfter: [4, 5, 6],
    protocol: 'grpc',
    fsync: true,
    seconds: 20,
    warmupSeconds: 2,
    consensusRequested: ['raft', 'multipaxos'],
    unavailable: [{ consensus: 'multipaxos', error: 'refused', line: 'multipaxos: not available in this build (x)' }],
    scenarios: [
      scenario('low', 3, 1000, 1000, 5),
      scenario('medium', 5, 10000, 4000, 900),
      { ...scenario('high', 7, 50000, 0, 0), achievedPerSec: null, avgMs: null, consistency: null, error: 'boom' },
    ],
  };
  const md = seedPaperMarkdown(run, 'bench/results/x.json');

  it("puts each of our rows beside the paper's, with the CPU per order and the ceiling it implies", () => {
    expect(cpuCeilingPerSec(2, 400)).toBe(5000);
    expect(md).toContain(
      '| low load | 3 | Raft | 1,000 | 1,000 | 5.0 ms | 2.5 ms | 10 ms | 100% | 400 | 1.90 | 5,000 | 980 / 12 ms / 100% |',
    );
    expect(md).toContain('| high load | 7 | Raft | 50,000 | failed: boom |');
    expect(md).toContain('achieved 4,000/s of the 10,000/s offered (40%)');
    expect(md).toContain('--paper --consensus raft,multipaxos --protocol grpc --fsync on --seconds 20 --warmup 2');
    expect(md).toContain('so 2 cores carry at most 5,000 orders/s');
  });

  it("has the paper's printed Table 3, a pooled one with its five rows and our measured ones, and the Multi-Paxos placeholder", () => {
    expect(md).toContain('| medium load | Raft | 0.789 | 0.185 | 0.75 | 0.6 | 0.479 |');
    for (const r of SEED_TABLE_2) expect(md).toContain(`| paper: ${r.load} load (${r.algorithm}), ${r.nodes} nodes |`);
    expect(md).toContain('| ours: medium load (Raft), 5 nodes |');
    expect(md).not.toContain('| ours: high load (Raft), 7 nodes |');
    expect(md).toContain('**Multi-Paxos rows: not yet measured: Multi-Paxos is not in this build.**');
    expect(md).toContain('`multipaxos: not available in this build (x)`');
    expect(md).toContain('load average (1/5/15 min) 1.00 / 2.00 / 3.00 before');
  });
});
