// What the network-namespace tests share (test/hosts/netns-*.test.ts): a REST workload through
// a gateway host while the test's faults run on the network between the namespaces, then the
// replicas converged, every replica's log read, the read models caught up, and the chaos
// checker's invariants (every ok order in the log exactly once, refused ones absent, replicas
// on one state, read models equal to a replay, K = 1).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { logLevel } from 'kafkajs';
import { expect } from 'vitest';
import { check, type ReplicaHash, type ReplicaLog } from '../../chaos/checker.js';
import { CHAOS_ACCOUNTS } from '../../chaos/stack.js';
import { Workload } from '../../chaos/workload.js';
import type { Deployment } from '../../deploy/netns/deployment.js';
import { parseConfig } from '../../engine/config.js';
import { ReadModelConsumer } from '../../events/read-models/consumer.js';
import { readWholeLog } from '../../events/read-models/reference.js';
import { NO_LOG } from '../../ops/log.js';
import { Prng } from '../../replicator/prng.js';
import { REPO_ROOT, sleep } from '../../replicator/process-cluster.js';

/** Generous bound for anything the cluster must reach after healing (ms). */
export const CONVERGE_MS = 90_000;

export interface FaultRun {
  /** The gateway host the workload sends to. */
  gateway: string;
  /** The host running the publisher. */
  eventsHost: string;
  /** The faults; resolves with the wall-clock time (ms) after which a new leader must have served. */
  faults: (d: Deployment) => Promise<number>;
  log: string[];
  dir: string;
}

/** Read models of the operator's own, the workload under `run.faults`, and the checker over all of it. */
export async function checkedUnderFaults(d: Deployment, run: FaultRun): Promise<void> {
  const readModels = new ReadModelConsumer({
    brokers: [d.brokers],
    dataDir: path.join(run.dir, 'operator-read-models'),
    groupId: 'netns-test-read-models',
    snapshotIntervalMs: 1_000,
    log: NO_LOG,
    kafkaLogLevel: logLevel.NOTHING,
  });
  await readModels.start();
  // Stopped in any case before the network goes (afterAll): nothing of ours keeps dialling 10.x.
  try {
    await workloadUnderFaults(d, readModels, run);
  } finally {
    await readModels.stop();
  }
}

/** A REST workload under the faults, then convergence, every replica's log, the read models, and the checker. */
async function workloadUnderFaults(d: Deployment, readModels: ReadModelConsumer, run: FaultRun): Promise<void> {
  const workload = new Workload({
    restUrl: d.restUrl(run.gateway),
    accounts: CHAOS_ACCOUNTS,
    rng: new Prng(21),
    ratePerClient: 4,
    maxOps: 1_000,
  });
  workload.start();
  let leaderCutAtMs = 0;
  try {
    leaderCutAtMs = await run.faults(d);
  } finally {
    await workload.stop();
  }
  const hashes = await converge(d);
  const applied = Math.max(...hashes.map((h) => h.applied));
  const logs: ReplicaLog[] = await Promise.all(
    d.endpoints.map(async (e) => ({ id: e.id, entries: await readWholeLog([e], applied) })),
  );
  const deadline = Date.now() + CONVERGE_MS;
  while (Date.now() < deadline && !(publishedIndex(d, run.eventsHost) >= applied && (await readModels.caughtUp())))
    await sleep(200);
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
    run.log.join('\n'),
  ).toEqual({ violations: [], lost: 0, duplicates: 0 });
  expect(result.acked).toBeGreaterThan(20);
  // The new leader served: orders sent after the old leader's host was cut off were acknowledged.
  expect(workload.ops.some((o) => o.outcome === 'ok' && o.sentAtMs > leaderCutAtMs)).toBe(true);
  expect(result.k).toBe(1);
}

/** Every replica answering with the same applied index and state hash (bounded). */
export async function converge(d: Deployment): Promise<ReplicaHash[]> {
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
function publishedIndex(d: Deployment, host: string): number {
  const pub = (d.children.get(host) ?? []).find((c) => c.name === `${host}/publisher`);
  const lines = (pub?.lines ?? []).filter((l) => l.startsWith('{"event":"status"'));
  return lines.length === 0
    ? 0
    : Number((JSON.parse(lines[lines.length - 1]!) as { publishedIndex: number }).publishedIndex);
}
