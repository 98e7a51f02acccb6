// A replica process with an `ops` address serves Prometheus metrics read from the node and fed
// by its observer (fsync, batch size, commit and apply time), and /readyz once it knows a leader
// and has applied what it knows committed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import { ReplicaClient } from '../../replicator/client/client.js';

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

/** The value of a sample line (name with its exact label set), or undefined. */
function sample(text: string, line: string): number | undefined {
  const l = text.split('\n').find((x) => x.startsWith(`${line} `));
  return l === undefined ? undefined : Number(l.slice(line.length + 1));
}

describe('replica metrics', () => {
  let cluster: ProcessCluster;
  beforeAll(async () => {
    cluster = await ProcessCluster.create({ ops: true });
    await cluster.startAll();
  }, 60_000);
  afterAll(async () => {
    await cluster.stop();
  });

  it('exposes Raft state, fsync, batch, commit and apply histograms; /readyz and /healthz', async () => {
    const leader = await cluster.waitForLeader(20_000);
    const client = new ReplicaClient({ endpoints: cluster.endpoints });
    try {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          client.submit({
            type: 'new_order',
            account: 1,
            clOrdId: `m${i}`,
            symbol: 'BTC-USD',
            side: 1,
            ordType: 1,
            tif: 1,
            price: 5_000_000,
            qty: 1,
          }),
        ),
      );
    } finally {
      client.close();
    }
    const port = cluster.opsPorts.get(leader)!;
    const m = await get(port, '/metrics');
    expect(m.status).toBe(200);
    const labels = `component="replica",shard="test-cluster",node="${leader}"`;
    expect(sample(m.body, `matchbook_raft_role{role="LEADER",${labels}}`)).toBe(1);
    expect(sample(m.body, `matchbook_raft_commit_index{${labels}}`)).toBeGreaterThanOrEqual(2);
    expect(sample(m.body, `matchbook_raft_batch_commands_sum{${labels}}`)).toBeGreaterThanOrEqual(20);
    expect(sample(m.body, `matchbook_raft_commit_seconds_count{${labels}}`)).toBeGreaterThan(0);
    expect(sample(m.body, `matchbook_wal_fsync_seconds_count{${labels}}`)).toBeGreaterThan(0);
    expect(sample(m.body, `matchbook_engine_match_seconds_count{${labels}}`)).toBeGreaterThan(0);
    expect(sample(m.body, `matchbook_wal_bytes{${labels}}`)).toBeGreaterThan(0);
    expect(m.body).toContain('nodejs_eventloop_lag_seconds');
    for (const id of cluster.ids) {
      const ready = await get(cluster.opsPorts.get(id)!, '/readyz');
      // A follower may not know the leader or its commit yet: it reports what it knows.
      expect([200, 503]).toContain(ready.status);
      expect(JSON.parse(ready.body)).toHaveProperty('ready', ready.status === 200);
    }
    expect((await get(port, '/readyz')).status).toBe(200);
    expect((await get(port, '/healthz')).body).toBe('ok');
  }, 60_000);
});
