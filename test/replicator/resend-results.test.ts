// A command resent after a timeout or failover that the replicas had already applied is a
// DUPLICATE for the session table — and must still be answered with its original result (order
// id = its engine seq, log index, events), or the gateway would acknowledge an order with id 0
// and no reports (found by bench:seed under overload). The same 500 requests sent again under
// the same session: every answer must carry the original result.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaClient } from '../../replicator/client/client.js';
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
    const n = 500; // within RECENT_RESULTS_PER_SESSION_MAX (a client resends at most its window of 256)
    const commands = Array.from({ length: n }, (_, k) => ({
      type: 'new',
      account: 1,
      clOrdId: `x${k}`,
      symbol: 'BTC-USD',
      side: 'BUY',
      ordType: 'LIMIT',
      price: 4_998_000 + k,
      qty: 1,
    }));
    // The first client's requests take effect; a second client continuing the first one's
    // session with the same request numbers is what a resend after a timeout looks like to the
    // replicas. A long request timeout: a resend after a stall would make the first answer DUPLICATE too.
    const first = new ReplicaClient({ endpoints: cluster.endpoints, requestTimeoutMs: 60_000 });
    const original = await Promise.all(commands.map((c) => first.submit(c)));
    first.close();
    expect(first.clientId).toBeGreaterThan(0);
    const again = new ReplicaClient({
      clientId: first.clientId,
      endpoints: cluster.endpoints,
      requestTimeoutMs: 60_000,
    });
    try {
      const resent = await Promise.all(commands.map((c) => again.submit(c)));
      for (let k = 0; k < n; k++) {
        const [o, r] = [original[k]!, resent[k]!];
        expect(o.outcome).toBe('APPLIED');
        expect(r.outcome, `request ${k}`).toBe('DUPLICATE');
        expect({ seq: r.seq, appliedIndex: r.appliedIndex, events: r.events }).toEqual({
          seq: o.seq,
          appliedIndex: o.appliedIndex,
          events: o.events,
        });
        expect(r.events.find((e) => (e as { kind?: string }).kind === 'exec')).toMatchObject({
          orderId: o.seq,
          clOrdId: `x${k}`,
          ordStatus: 'NEW',
        });
      }
    } finally {
      again.close();
    }
  });
});
