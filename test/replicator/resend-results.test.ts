// A command resent after a timeout or failover that the replicas had already applied is a
// DUPLICATE for the session table — and must still be answered with its original result (order
// id = its engine seq, log index, events), or the gateway would acknowledge an order with id 0
// and no reports (found by bench:seed under overload). A ReplicaClient with a 3 ms request
// timeout resends most of its pipelined window; every answer must carry the real result.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaClient } from '../../replicator/client-server.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create({ size: 3, fsync: false });
  await cluster.startAll();
  await cluster.waitForLeader();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('resent commands', () => {
  it('already applied ones are answered with their original order id, log index and events', async () => {
    const client = new ReplicaClient({ clientId: 77, endpoints: cluster.endpoints, requestTimeoutMs: 3 });
    try {
      const n = 1_000;
      const rs = await Promise.all(Array.from({ length: n }, (_, k) => client.submit({ type: 'new', account: 1, clOrdId: `x${k}`, symbol: 'BTC-USD', side: 'BUY', ordType: 'LIMIT', price: 4_998_000 + k, qty: 1 })));
      const dups = rs.filter((r) => r.outcome === 'DUPLICATE');
      expect(dups.length).toBeGreaterThan(0); // the 3 ms timeout made it resend
      // Every answer, first or resent, has its order's NEW report with the right order id.
      for (let k = 0; k < n; k++) {
        const r = rs[k]!;
        expect(r.seq).toBeGreaterThan(0);
        expect(r.appliedIndex).toBeGreaterThan(0);
        const exec = r.events.find((e) => (e as { kind?: string }).kind === 'exec') as { orderId: number; clOrdId: string; ordStatus: string } | undefined;
        expect(exec, `request ${k} (${r.outcome})`).toMatchObject({ orderId: r.seq, clOrdId: `x${k}`, ordStatus: 'NEW' });
      }
      expect(new Set(rs.map((r) => r.seq)).size).toBe(n);
    } finally {
      client.close();
    }
  });
});
