// Several hosts for real: the `dc` layout (deploy/netns/) with every host a Linux network
// namespace on one bridge — 3 replica hosts, a gateway host, one events host (broker, publisher,
// query) — each process reaching the others only by host address. Orders go to the gateway
// by its host address and fill; then, while REST clients keep sending orders, the network
// between the namespaces fails: a follower's host cut off (its link down), later the leader's
// host, a link flapped; healed; and the chaos checker's invariants must hold (every ok order
// in the log exactly once, refused ones absent, replicas on one state, the read models equal a
// replay). Root only (CI runs as root): skipped, saying why, without `ip netns`.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyOf } from '../../chaos/stack.js';
import { Deployment } from '../../deploy/netns/deployment.js';
import { dcLayout } from '../../deploy/netns/layouts.js';
import { netnsUnavailable, unusedNet } from '../../deploy/netns/netns.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { sleep } from '../../replicator/process-cluster.js';
import { CONVERGE_MS, checkedUnderFaults } from './netns-checks.js';

const unavailable = netnsUnavailable();
if (unavailable !== undefined) console.warn(`test/hosts/netns-hosts.test.ts skipped: ${unavailable}`);

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
    await checkedUnderFaults(d, { gateway: 'gw', eventsHost: 'ev', faults, log: logLines, dir });
  }, 600_000);
});

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
