// The feed inside real replica processes (processes/replica.ts with a `feed` address per member,
// fsync on, snapshots every few entries): orders go to the leader over the client protocol,
// clients read market data from a FOLLOWER's feed and from the leader's. After the flow, the
// follower-fed book equals the replicas' live orders level by level, and the two feeds agree
// order by order. A follower SIGKILLed mid-stream and restarted (recovering from its snapshot,
// perhaps installing the leader's) serves a correct book again. Every wait is bounded.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stp } from '../../engine/types.js';
import { FeedClient } from '../../feed/client/feed-client.js';
import { Channel } from '../../feed/types.js';
import type { OrdersDump } from '../../replicator/client/protocol.js';
import { ReplicaClient, requestOnce } from '../../replicator/client/client.js';
import { ProcessCluster, freePort } from '../../replicator/process-cluster.js';
import type { NodeId } from '../../replicator/raft/types.js';
import { SYM_A, SYM_B, flowConfig } from './flow.js';

const WAIT_MS = 30_000;
let dir: string;
let cluster: ProcessCluster;
const feedPorts = new Map<NodeId, number>();
const clients: FeedClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-feed-cluster-'));
  const cfg = flowConfig();
  const stpName = (v: number) => Object.entries(Stp).find(([, n]) => n === v)![0];
  writeFileSync(
    path.join(dir, 'shard.json'),
    JSON.stringify({
      ...cfg,
      defaultStp: stpName(cfg.defaultStp),
      accounts: cfg.accounts.map((a) => ({ id: a.id, stp: stpName(a.stp) })),
    }),
  );
  const members = [];
  for (const id of [1, 2, 3]) {
    const feed = await freePort();
    feedPorts.set(id, feed);
    members.push({
      id,
      raft: `127.0.0.1:${await freePort()}`,
      client: `127.0.0.1:${await freePort()}`,
      feed: `127.0.0.1:${feed}`,
    });
  }
  writeFileSync(
    path.join(dir, 'cluster.json'),
    JSON.stringify({
      clusterId: 'feed-test',
      dataDir: path.join(dir, 'data'),
      shardConfig: path.join(dir, 'shard.json'),
      fsync: true,
      seed: 3,
      snapshotIntervalEntries: 8,
      timeTickMs: 200,
      members,
    }),
  );
  cluster = ProcessCluster.open(path.join(dir, 'cluster.json'));
  await cluster.startAll();
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function feedClient(id: NodeId): Promise<FeedClient> {
  const c = await FeedClient.connect({ url: `ws://127.0.0.1:${feedPorts.get(id)}/v1/ws` });
  clients.push(c);
  await c.subscribe([SYM_A, SYM_B], [Channel.L2, Channel.L3, Channel.TRADES]);
  return c;
}

/** Levels [price, qty, count] best first, from a replica's live orders (no icebergs in this flow: displayed = leaves). */
function levelsFromDump(d: OrdersDump, symbol: string, side: 'BUY' | 'SELL'): number[][] {
  const m = new Map<number, [number, number]>();
  for (const o of d.orders) {
    if (o.symbol !== symbol || o.side !== side) continue;
    const l = m.get(o.price) ?? [0, 0];
    m.set(o.price, [l[0] + o.leavesQty, l[1] + 1]);
  }
  return [...m.entries()].sort((a, b) => (side === 'BUY' ? b[0] - a[0] : a[0] - b[0])).map(([p, [q, n]]) => [p, q, n]);
}

/** A deterministic flow of makers, crossing takers, amends and cancels (ids from the acknowledgements). */
async function orderFlow(count: number, seed: number, onProgress?: (k: number) => Promise<void>): Promise<void> {
  const clientsOut = [1, 2].map(() => new ReplicaClient({ endpoints: cluster.endpoints, requestTimeoutMs: 1_000 }));
  const live: number[] = [];
  let x = seed;
  const rnd = (n: number) => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n;
  try {
    const inflight: Promise<unknown>[] = [];
    for (let k = 0; k < count; k++) {
      const c = clientsOut[k % 2]!;
      const account = 1 + rnd(5);
      const a = rnd(10) < 7;
      const sym = a ? SYM_A : SYM_B;
      const tick = a ? 5 : 1;
      const lot = a ? 10 : 1;
      const mid = a ? 1_000_000 : 500_000;
      const side = rnd(2) === 0 ? 'BUY' : 'SELL';
      const r = rnd(100);
      let cmd: Record<string, unknown>;
      if (r < 55 || live.length < 10) {
        cmd = {
          type: 'new',
          account,
          clOrdId: `p${seed}-${k}`,
          symbol: sym,
          side,
          ordType: 'LIMIT',
          tif: r % 9 === 0 ? 'IOC' : 'GTC',
          price: mid + (side === 'BUY' ? -1 : 1) * tick * (rnd(25) - 3),
          qty: lot * (1 + rnd(20)),
        };
      } else if (r < 80) {
        cmd = { type: 'cancel', account: 0, orderId: live.splice(rnd(live.length), 1)[0]! };
      } else {
        cmd = { type: 'amend', account: 0, orderId: live[rnd(live.length)]!, qty: lot * (1 + rnd(20)) };
      }
      // The flow does not track accounts: cancel/amend use the owner recorded at placement.
      if (cmd.type !== 'new') cmd.account = owners.get(cmd.orderId as number) ?? 1;
      const p = c.submit(cmd).then((res) => {
        if (cmd.type === 'new') {
          live.push(res.seq);
          owners.set(res.seq, cmd.account as number);
        }
      });
      inflight.push(p);
      if (inflight.length >= 64) await Promise.all(inflight.splice(0));
      if (onProgress !== undefined && k % 100 === 99) await onProgress(k);
    }
    await Promise.all(inflight);
  } finally {
    for (const c of clientsOut) c.close();
  }
}
const owners = new Map<number, number>();

async function expectFeedMatchesReplica(c: FeedClient, replica: NodeId): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let last = '';
  for (;;) {
    const dump = (await requestOnce(cluster.endpoint(replica), { op: 'orders' })) as unknown as OrdersDump;
    last = '';
    for (const s of [SYM_A, SYM_B]) {
      for (const side of ['BUY', 'SELL'] as const) {
        const want = JSON.stringify(levelsFromDump(dump, s, side));
        const got = JSON.stringify(c.book(s)!.levels(side));
        const l3 = JSON.stringify(c.l3(s)!.levels(side));
        if (last === '' && (want !== got || want !== l3))
          last = `${s} ${side}: replica ${want.slice(0, 300)} feed ${got.slice(0, 300)}`;
      }
    }
    if (last === '') return;
    if (Date.now() > deadline) throw new Error(`feed client does not match replica ${replica}: ${last}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until each of `ids` has applied everything the leader had committed when this was called. */
async function waitApplied(ids: NodeId[]): Promise<void> {
  const target = (await cluster.status(await cluster.waitForLeader(WAIT_MS)))!.commit;
  for (const id of ids) {
    for (const deadline = Date.now() + WAIT_MS; ; ) {
      const st = await cluster.status(id);
      if ((st?.applied ?? 0) >= target) break;
      if (Date.now() > deadline)
        throw new Error(`node ${id} did not catch up (applied ${st?.applied}, leader commit ${target})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('feed in replica processes', () => {
  it("a follower's feed and the leader's serve the replicas' book; a killed and restarted follower serves it again", async () => {
    const leader = await cluster.waitForLeader(WAIT_MS);
    const [f1, f2] = cluster.ids.filter((id) => id !== leader) as [NodeId, NodeId];
    const onFollower = await feedClient(f1);
    const onLeader = await feedClient(leader);
    await orderFlow(1200, 1);
    // Every order is acknowledged, so committed: both replicas apply all of it (later entries are
    // time ticks, which change no book), then each feed client catches up with its replica.
    await waitApplied([f1, leader]);
    await expectFeedMatchesReplica(onFollower, f1);
    await expectFeedMatchesReplica(onLeader, leader);
    // Both replicas' feeds agree order by order, priority included.
    for (const s of [SYM_A, SYM_B]) {
      for (const side of ['BUY', 'SELL'] as const)
        expect(onFollower.l3(s)!.ordersOf(side)).toEqual(onLeader.l3(s)!.ordersOf(side));
    }
    const trades = onFollower.lastSeq(SYM_A, Channel.TRADES);
    expect(trades).toBeGreaterThan(0);
    for (const c of [onFollower, onLeader]) {
      expect(c.stats.gaps + c.stats.checksumMismatches + c.stats.errors).toBe(0);
    }

    // Kill the other follower mid-stream, restart it later: it recovers from its snapshot (and
    // may install the leader's); its feed rebuilds from the engine and serves the right book.
    let killed = false;
    let lastAtKill = 0;
    await orderFlow(1200, 2, async (k) => {
      if (!killed && k >= 300) {
        killed = true;
        lastAtKill = (await cluster.status(f2))?.lastIndex ?? 0;
        await cluster.kill(f2);
      }
    });
    // Until the leader has compacted its log past what f2 holds (time ticks add entries), so that
    // f2 usually catches up through the leader's snapshot (onStateReset) rather than entries.
    for (const deadline = Date.now() + WAIT_MS; ; ) {
      const l = await cluster.waitForLeader(WAIT_MS, f2);
      if (((await cluster.status(l))?.firstIndex ?? 0) > lastAtKill + 1) break;
      if (Date.now() > deadline) throw new Error('leader did not compact its log');
      await new Promise((r) => setTimeout(r, 100));
    }
    await cluster.start(f2);
    const restarted = await feedClient(f2);
    await orderFlow(300, 3);
    // f2 has caught up with the leader (its feed is compared with its own state next).
    await waitApplied([f2]);
    await expectFeedMatchesReplica(restarted, f2);
    await expectFeedMatchesReplica(onFollower, f1);
    expect(restarted.stats.gaps + restarted.stats.checksumMismatches + restarted.stats.errors).toBe(0);
  }, 120_000);
});
