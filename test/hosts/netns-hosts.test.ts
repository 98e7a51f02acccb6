// Several hosts for real: the `dc` layout (deploy/netns/) with every host a Linux network
// namespace on one bridge — 3 replica hosts, a gateway host, one events host (broker, publisher,
// query) — each process reaching the others only by host address. Orders go to the gateway
// by its host address and fill; then, while REST clients keep sending orders, the network
// between the namespaces fails: a follower's host cut off (its link down), later the leader's
// host, a link flapped; healed; and the chaos checker's invariants must hold (every ok order
// in the log exactly once, refused ones absent, replicas on one state, the read models equal a
// replay). Root only (CI runs as root): skipped, saying why, without `ip netns`.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, type ReplicaHash, type ReplicaLog } from '../../chaos/checker.js';
import { keyOf, CHAOS_ACCOUNTS } from '../../chaos/stack.js';
import { Workload } from '../../chaos/workload.js';
import { Deployment } from '../../deploy/netns/deployment.js';
import { dcLayout } from '../../deploy/netns/layouts.js';
import { netnsUnavailable, unusedNet } from '../../deploy/netns/netns.js';
import { parseConfig } from '../../engine/config.js';
import { ReadModelConsumer } from '../../events/read-models/consumer.js';
import { readWholeLog } from '../../events/read-models/reference.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { NO_LOG } from '../../ops/log.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { Prng } from '../../replicator/prng.js';
import { REPO_ROOT, sleep } from '../../replicator/process-cluster.js';

const unavailable = netnsUnavailable();
if (unavailable !== undefined) console.warn(`test/hosts/netns-hosts.test.ts skipped: ${unavailable}`);

/** Generous bound for anything the cluster must reach after healing (ms). */
const CONVERGE_MS = 90_000;
/** How long each cut is held (ms): many election timeouts (300 ms), few orders. */
const HOLD_MS = 3_000;

describe.skipIf(unavailable !== undefined)('hosts as network namespaces (dc layout)', () => {
  let d: Deployment;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-netns-test-'));
  const logLines: string[] = [];

  beforeAll(async () => {
    d = await Deployment.start({
      layout: dcLayout(true),
      dir,
      // pid in the names: parallel test files and a bench run never share a namespace or a subnet.
      runTag: `mh${process.pid}`,
      net: unusedNet(150, 199),
      log: (l) => logLines.push(l),
    });
  }, 300_000);

  afterAll(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('places orders through the gateway by its host address, and they fill', async () => {
    const url = d.restUrl('gw');
    expect(url).toMatch(/^http:\/\/10\.\d+\.1\.10:8080$/);
    const seller = new OrderEntryRestClient({ baseUrl: url, key: keyOf(1), timeoutMs: 15_000 });
    const buyer = new OrderEntryRestClient({ baseUrl: url, key: keyOf(2), timeoutMs: 15_000 });
    const order = { symbol: 'BTC-USD', order_type: 'LIMIT', time_in_force: 'GTC', price: 5_000_000, quantity: 3 };
    const sell = await seller.placeOrder({ ...order, client_order_id: 'hosts-s1', side: 'SELL' });
    expect(sell.status, JSON.stringify(sell.body)).toBe(201);
    const buy = await buyer.placeOrder({ ...order, client_order_id: 'hosts-b1', side: 'BUY', quantity: 2 });
    expect(buy.status, JSON.stringify(buy.body)).toBe(201);
    const reports = (buy.body as { result?: { reports?: ExecutionReportOut[] } }).result?.reports ?? [];
    // The buyer's report: filled 2 at the resting sell's price, on the log the replicas agreed on.
    expect(reports.map((r) => [r.order_status, r.last_qty, r.last_px])).toContainEqual(['FILLED', 2, 5_000_000]);
  });

  it('keeps every invariant through partitions, a leader cut off and a flapping link', async () => {
    const readModels = new ReadModelConsumer({
      brokers: [d.brokers],
      dataDir: path.join(dir, 'operator-read-models'),
      groupId: 'netns-test-read-models',
      snapshotIntervalMs: 1_000,
      log: NO_LOG,
      kafkaLogLevel: logLevel.NOTHING,
    });
    await readModels.start();
    // Stopped in any case before the network goes (afterAll): nothing of ours keeps dialling 10.x.
    try {
      await workloadUnderFaults(d, readModels, logLines);
    } finally {
      await readModels.stop();
    }
  }, 600_000);
});

/** A REST workload under the faults, then convergence, every replica's log, the read models, and the checker. */
async function workloadUnderFaults(d: Deployment, readModels: ReadModelConsumer, logLines: string[]): Promise<void> {
  const workload = new Workload({
    restUrl: d.restUrl('gw'),
    accounts: CHAOS_ACCOUNTS,
    rng: new Prng(21),
    ratePerClient: 4,
    maxOps: 1_000,
  });
  workload.start();
  let leaderCutAtMs = 0;
  try {
    leaderCutAtMs = await faults(d);
  } finally {
    await workload.stop();
  }
  const hashes = await converge(d);
  const applied = Math.max(...hashes.map((h) => h.applied));
  const logs: ReplicaLog[] = await Promise.all(
    d.endpoints.map(async (e) => ({ id: e.id, entries: await readWholeLog([e], applied) })),
  );
  const deadline = Date.now() + CONVERGE_MS;
  while (Date.now() < deadline && !(publishedIndex(d) >= applied && (await readModels.caughtUp()))) await sleep(200);
  const config = parseConfig(
    JSON.parse(readFileSync(path.join(REPO_ROOT, 'engine/examples/instruments.json'), 'utf8')),
  );
  const result = check({
    ops: workload.ops,
    entries: logs[0]!.entries,
    config,
    replicas: hashes,
    logs,
    readModels: readModels.model,
  });
  expect(
    { violations: result.violations, lost: result.lost, duplicates: result.duplicates },
    logLines.join('\n'),
  ).toEqual({ violations: [], lost: 0, duplicates: 0 });
  expect(result.acked).toBeGreaterThan(20);
  // The new leader served: orders sent after the old leader's host was cut off were acknowledged.
  expect(workload.ops.some((o) => o.outcome === 'ok' && o.sentAtMs > leaderCutAtMs)).toBe(true);
  expect(result.k).toBe(1);
}

/**
 * The faults, in order: a follower's host cut off, then the leader's (a new leader must take
 * over), then a link flapped. Returns when the leader's host was cut (ms, wall clock).
 */
async function faults(d: Deployment): Promise<number> {
  await sleep(HOLD_MS);
  const leader = await d.leader(CONVERGE_MS);
  const follower = d.endpoints.map((e) => e.id).find((id) => id !== leader)!;
  d.setLink(d.replicaHost(follower), false);
  // The cut is real: the host does not answer across the bridge.
  expect(await d.status(follower, 2_000)).toBeUndefined();
  await sleep(HOLD_MS);
  d.setLink(d.replicaHost(follower), true);
  await d.leader(CONVERGE_MS);

  const old = await d.leader(CONVERGE_MS);
  d.setLink(d.replicaHost(old), false);
  const cutAtMs = Date.now();
  // The two hosts left elect one of them: the cut is real, the old leader hears nothing.
  const next = await d.leader(CONVERGE_MS, [old]);
  expect(next).not.toBe(old);
  await sleep(HOLD_MS);
  d.setLink(d.replicaHost(old), true);

  const flapped = d.replicaHost(await d.leader(CONVERGE_MS));
  for (let k = 0; k < 4; k++) {
    d.setLink(flapped, false);
    await sleep(400);
    d.setLink(flapped, true);
    await sleep(600);
  }
  await d.leader(CONVERGE_MS);
  await sleep(HOLD_MS);
  return cutAtMs;
}

/** Every replica answering with the same applied index and state hash (bounded). */
async function converge(d: Deployment): Promise<ReplicaHash[]> {
  const deadline = Date.now() + CONVERGE_MS;
  for (;;) {
    const ss = await Promise.all(d.endpoints.map((e) => d.status(e.id, 5_000, true)));
    const all = ss.filter((s) => s !== undefined);
    if (
      all.length === ss.length &&
      all.every((s) => s.applied === all[0]!.applied && s.stateHash === all[0]!.stateHash)
    )
      return all.map((s) => ({ id: s.id, applied: s.applied, stateHash: s.stateHash! }));
    if (Date.now() > deadline) return all.map((s) => ({ id: s.id, applied: s.applied, stateHash: s.stateHash ?? '' }));
    await sleep(200);
  }
}

/** The publisher's last published index, from its status lines. */
function publishedIndex(d: Deployment): number {
  const pub = (d.children.get('ev') ?? []).find((c) => c.name === 'ev/publisher');
  const lines = (pub?.lines ?? []).filter((l) => l.startsWith('{"event":"status"'));
  return lines.length === 0
    ? 0
    : Number((JSON.parse(lines[lines.length - 1]!) as { publishedIndex: number }).publishedIndex);
}
