// The pure rules of `npm start -- --shards N` (processes/shard-plan.ts, exchange-layout.ts): how
// instruments are dealt, which values are refused, the port plan per shard and when a data root
// refuses a new plan. The processes themselves: two-shards*.test.ts.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EXAMPLE_CLUSTER_CONFIG,
  clusterConfigFor,
  exchangeLayout,
  planConflict,
  symbolShards,
} from '../../processes/exchange-layout.js';
import { SHARD_PORT_STRIDE, SHARDS_MAX } from '../../processes/limits.js';
import { splitInstruments } from '../../processes/shard-plan.js';

const file = (symbols: string[]) => ({
  shardId: 0,
  accounts: [{ id: 1 }],
  instruments: symbols.map((symbol) => ({ symbol })),
});

describe('splitInstruments', () => {
  it('deals round-robin in file order, each shard its own shardId, the other fields kept', () => {
    const plan = splitInstruments(file(['A', 'B', 'C', 'D', 'E']), 2);
    expect(plan.map((p) => [p.shardId, p.instruments.map((i) => i.symbol)])).toEqual([
      [0, ['A', 'C', 'E']],
      [1, ['B', 'D']],
    ]);
    for (const p of plan) expect(p.accounts).toEqual([{ id: 1 }]);
    expect(splitInstruments(file(['A', 'B']), 1)[0]!.instruments.map((i) => i.symbol)).toEqual(['A', 'B']);
  });
  it('refuses a count outside 1..SHARDS_MAX, fewer instruments than shards, a symbol twice', () => {
    for (const n of [0, -1, SHARDS_MAX + 1, 1.5, Number.NaN])
      expect(() => splitInstruments(file(['A', 'B']), n)).toThrow(/--shards must be an integer in 1\.\.8/);
    expect(() => splitInstruments(file(['A', 'B']), 3)).toThrow(/needs at least 3 instruments/);
    expect(() => splitInstruments(file(['A', 'B', 'A']), 2)).toThrow(/symbol A is twice/);
    expect(() => splitInstruments({}, 1)).toThrow(/no "instruments" array/);
  });
});

describe('the layout of N shards', () => {
  const raw = JSON.parse(readFileSync(EXAMPLE_CLUSTER_CONFIG, 'utf8')) as Record<string, unknown>;
  it('shard s: ports + s × SHARD_PORT_STRIDE (+ the offset), its own data dir and cluster id; shard 0 as before', () => {
    const s0 = clusterConfigFor(raw, path.dirname(EXAMPLE_CLUSTER_CONFIG), '/root', 0);
    const s3 = clusterConfigFor(raw, path.dirname(EXAMPLE_CLUSTER_CONFIG), '/root', 100, 3, '/root/config/i3.json');
    const m0 = (s0.members as Record<string, string>[])[0]!;
    const m3 = (s3.members as Record<string, string>[])[0]!;
    expect([m0.raft, m0.client, m0.feed, m0.ops]).toEqual([
      '127.0.0.1:7101',
      '127.0.0.1:7201',
      '127.0.0.1:8091',
      '127.0.0.1:9101',
    ]);
    const d = 100 + 3 * SHARD_PORT_STRIDE;
    expect([m3.raft, m3.client, m3.feed, m3.ops]).toEqual([7101, 7201, 8091, 9101].map((p) => `127.0.0.1:${p + d}`));
    expect([s0.dataDir, s3.dataDir]).toEqual(['/root/cluster-3-local', '/root/shard-3']);
    expect([s0.clusterId, s3.clusterId]).toEqual(['shard-0-local', 'shard-3-local']);
    expect(s3.shardConfig).toBe('/root/config/i3.json');
  });
  it("no two shards' ports clash, nor with the exchange-wide ones, up to SHARDS_MAX", () => {
    const layout = exchangeLayout('/root', 0, SHARDS_MAX);
    const ports = layout.shards.flatMap((sh) => {
      const c = clusterConfigFor(raw, path.dirname(EXAMPLE_CLUSTER_CONFIG), '/root', 0, sh.shard);
      return [
        ...(c.members as Record<string, string>[]).flatMap((m) => [m.raft, m.client, m.feed, m.ops]),
        sh.publisherOps,
      ];
    });
    const e = layout.events;
    const all = [
      ...ports,
      '127.0.0.1:8080',
      '127.0.0.1:50051',
      e.queryRest,
      e.queryGrpc,
      `127.0.0.1:${e.brokerPort}`,
      e.brokerOps,
    ];
    expect(new Set(all).size).toBe(all.length);
    expect(() => exchangeLayout('/root', 0, SHARDS_MAX + 1)).toThrow(/--shards/);
  });
  it('a data root refuses a plan that moves a symbol, accepts the same plan and new symbols', () => {
    const two = symbolShards(splitInstruments(file(['A', 'B']), 2));
    expect(two).toEqual({ A: 0, B: 1 });
    expect(planConflict(undefined, two)).toBeUndefined();
    expect(planConflict(two, two)).toBeUndefined();
    expect(planConflict(two, symbolShards(splitInstruments(file(['A', 'B', 'C']), 2)))).toBeUndefined();
    expect(planConflict(two, symbolShards(splitInstruments(file(['A', 'B']), 1)))).toMatch(
      /symbol B was on shard 1 of this data root and would be on shard 0/,
    );
  });
});
