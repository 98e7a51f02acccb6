// Client sessions end to end, against a real one-member replica in this process (ReplicaNode +
// ClientServer over TCP, fsync off): a ReplicaClient registers its session itself; once the
// replicas evict that session (SESSION_COUNT_MAX later registrations while it sat unused), its
// requests are refused SESSION_EXPIRED — the outstanding ones fail for good, nothing is applied
// twice — and the client goes on under a newly registered session. The JSON path answers the
// same codes. (The state machine's side, with a small table: test/shard/state-machine.test.ts.)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_LOST_CODES } from '../../replicator/client/protocol.js';
import { ClientServer, registerSession } from '../../replicator/client/server.js';
import { ClientRequestError, ReplicaClient, requestOnce } from '../../replicator/client/client.js';
import { ReplicaNode } from '../../replicator/node.js';
import { SESSION_COUNT_MAX, type ShardStateMachine } from '../../shard/state-machine.js';
import { shardConfig, waitFor } from '../fuzz/harness.js';
import { NO_LOG } from '../../ops/log.js';

let node: ReplicaNode;
let server: ClientServer;
let dir: string;
const fatal: unknown[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-session-expiry-'));
  node = new ReplicaNode({
    id: 1,
    members: [1],
    dataDir: dir,
    shardConfig,
    send: () => undefined,
    fsync: false,
    timeTickMs: 0,
    onFatal: (e) => fatal.push(e),
    log: NO_LOG,
  });
  node.start();
  await waitFor('leader', () => node.status().role === 'LEADER');
  server = new ClientServer({ node, host: '127.0.0.1', port: 0, log: NO_LOG });
  await server.start();
}, 30_000);

afterAll(async () => {
  await server?.stop();
  await node?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const order = (clOrdId: string, price: number) => ({
  type: 'new',
  account: 1,
  clOrdId,
  symbol: 'BTC-USD',
  side: 'BUY',
  ordType: 'LIMIT',
  tif: 'GTC',
  price,
  qty: 1,
});

describe('client sessions on a real replica', () => {
  it('ReplicaClient: registers, fails its outstanding requests for good on SESSION_EXPIRED, works again on a new session', async () => {
    const client = new ReplicaClient({
      endpoints: [{ id: 1, host: '127.0.0.1', port: server.port }],
      requestTimeoutMs: 30_000,
    });
    try {
      const a1 = await client.submit(order('a1', 4_990_000));
      expect(a1).toMatchObject({ requestSeq: 1, outcome: 'APPLIED' });
      const first = client.clientId;
      expect(first).toBe(1);
      expect(client.stats.registrations).toBe(1);

      // SESSION_COUNT_MAX other sessions registered while this one sits unused: it is evicted.
      await Promise.all(Array.from({ length: SESSION_COUNT_MAX }, () => registerSession(node)));
      const sm = node.stateMachine as ShardStateMachine;
      expect(sm.sessionsAllocated).toBe(SESSION_COUNT_MAX + 1);
      const seqBefore = sm.lastSeq;
      const liveBefore = sm.engine.liveOrderCount;

      const refused = await Promise.all(
        ['a2', 'a3'].map((id, k) =>
          client.submit(order(id, 4_990_001 + k)).then(
            () => undefined,
            (e: unknown) => e as ClientRequestError,
          ),
        ),
      );
      for (const e of refused) {
        expect(e).toBeInstanceOf(ClientRequestError);
        expect(e!.code).toBe('SESSION_EXPIRED');
        expect(SESSION_LOST_CODES.has(e!.code)).toBe(true);
      }
      expect(sm.lastSeq, 'nothing applied').toBe(seqBefore);
      expect(sm.engine.liveOrderCount).toBe(liveBefore);

      // The next request goes through a new session, from requestSeq 1.
      const a4 = await client.submit(order('a4', 4_990_004));
      expect(a4).toMatchObject({ requestSeq: 1, outcome: 'APPLIED', seq: seqBefore + 1 });
      expect(client.clientId).toBe(SESSION_COUNT_MAX + 2);
      expect(client.stats).toMatchObject({ registrations: 2, sessionsLost: 1 });
      expect(sm.engine.liveOrderCount).toBe(liveBefore + 1);

      // The JSON path: the same codes, not retryable.
      const endpoint = { host: '127.0.0.1', port: server.port };
      expect(
        await requestOnce(endpoint, { clientId: first, requestSeq: 2, command: order('a2', 4_990_001) }),
      ).toMatchObject({ ok: false, error: 'SESSION_EXPIRED', retryable: false });
      expect(
        await requestOnce(endpoint, { clientId: 10 ** 9, requestSeq: 1, command: order('x', 4_990_009) }),
      ).toMatchObject({ ok: false, error: 'UNKNOWN_SESSION', retryable: false });
      expect(sm.lastSeq).toBe(seqBefore + 1);
      expect(fatal).toEqual([]);
    } finally {
      client.close();
    }
  }, 60_000);
});
