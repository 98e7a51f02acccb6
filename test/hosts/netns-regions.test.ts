// Several regions for real: the `regions` layout (deploy/netns/), compact — 5 replica hosts over
// three regions (r1 r2 | r3 r4 | r5), one-way 5/20/15 ms between regions through the link
// proxies, one gateway host and one events host (broker, publisher, query) in region 2 — every
// host a network namespace reaching the others only by host address. While REST clients send
// orders through the gateway: region 3 is partitioned (every host of it cut off), then region 1
// (two of five replicas: the three left must go on, electing a leader among themselves if the
// leader was there), then a link of region 2 flaps; healed; and the chaos checker's invariants
// must hold. Root only (CI runs as root): skipped, saying why, without `ip netns`.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deployment } from '../../deploy/netns/deployment.js';
import { regionsLayout, replicaHosts } from '../../deploy/netns/layouts.js';
import { netnsUnavailable, unusedNet } from '../../deploy/netns/netns.js';
import { sleep } from '../../replicator/process-cluster.js';
import { CONVERGE_MS, checkedUnderFaults } from './netns-checks.js';

const unavailable = netnsUnavailable();
if (unavailable !== undefined) console.warn(`test/hosts/netns-regions.test.ts skipped: ${unavailable}`);

/** How long each cut is held (ms): several election timeouts (600 ms in this layout), few orders. */
const HOLD_MS = 4_000;
const LAYOUT = regionsLayout(true);

describe.skipIf(unavailable !== undefined)('hosts as network namespaces (regions layout)', () => {
  let d: Deployment;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-netns-regions-'));
  const logLines: string[] = [];

  beforeAll(async () => {
    d = await Deployment.start({
      layout: LAYOUT,
      dir,
      // pid in the names: parallel test files and a bench run never share a namespace or a subnet.
      runTag: `mr${process.pid}`,
      net: unusedNet(100, 149),
      log: (l) => logLines.push(l),
    });
  }, 300_000);

  afterAll(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('keeps every invariant through a region partitioned, then the leader’s, and a flapping link', async () => {
    await checkedUnderFaults(d, { gateway: 'gw2', eventsHost: 'ev', faults: regionFaults, log: logLines, dir });
  }, 600_000);
});

/** Every host of `region` cut off (up = false) or back. */
function setRegion(d: Deployment, region: number, up: boolean): void {
  for (const h of LAYOUT.hosts.filter((x) => x.region === region)) d.setLink(h.name, up);
}

/**
 * Region 3 partitioned and healed; region 1 partitioned (the other three replicas must have a
 * leader among them and serve) and healed; a region-2 replica's link flapped. Returns when
 * region 1 was cut (ms, wall clock).
 */
async function regionFaults(d: Deployment): Promise<number> {
  await sleep(HOLD_MS);
  await d.leader(CONVERGE_MS);
  setRegion(d, 3, false);
  // The cut is real: region 3's replica does not answer across the bridge.
  expect(await d.status(5, 2_000)).toBeUndefined();
  await sleep(HOLD_MS);
  setRegion(d, 3, true);
  await d.leader(CONVERGE_MS);

  const region1 = replicaHosts(LAYOUT)
    .filter((h) => h.region === 1)
    .map((h) => h.replicaId!);
  setRegion(d, 1, false);
  const cutAtMs = Date.now();
  // Replicas 3, 4 and 5 are a majority of five: one of them leads (a new election if 1 or 2 led).
  const next = await d.leader(CONVERGE_MS, region1);
  expect(region1).not.toContain(next);
  await sleep(HOLD_MS);
  setRegion(d, 1, true);

  for (let k = 0; k < 4; k++) {
    d.setLink('r3', false);
    await sleep(500);
    d.setLink('r3', true);
    await sleep(800);
  }
  await d.leader(CONVERGE_MS);
  await sleep(HOLD_MS);
  return cutAtMs;
}
