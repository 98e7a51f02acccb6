// The faults the chaos supervisor injects, one kind at a time or two at once. Each inject
// applies the fault, holds it, heals it, and returns when the system has been given back its
// parts (restarted, resumed, reconnected); it never waits for recovery — that is measured from
// the clients' history (chaos/run.ts).

import { closeSync, openSync, readSync, readdirSync, statSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { requestOnce } from '../replicator/client-server.js';
import type { NodeStatus } from '../replicator/node.js';
import type { NodeId } from '../replicator/raft/types.js';
import type { Prng } from '../replicator/prng.js';
import type { ChaosStack } from './stack.js';

export const FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'pause-leader',
  'isolate-leader',
  'split',
  'one-way',
  'wal-truncate',
  'wal-bitflip',
  'slow-fsync',
  'slow-network',
  'broker-restart',
  'read-model-restart',
  'gateway-restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRecord {
  kind: string;
  target: string;
  startMs: number;
  healMs: number;
  endMs: number;
}

/** Bytes from the end of a WAL segment where the damage lands (its tail). */
const WAL_TAIL_BYTES = 4_096;
/** Slow disk: added to every fdatasync of the leader (ms). */
const SLOW_FSYNC_MS = 40;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The current leader as the running replicas say (a paused one does not answer), or undefined. */
export async function findLeader(stack: ChaosStack, timeoutMs = 10_000): Promise<NodeId | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ss = await Promise.all(stack.ids.map((id) => statusOf(stack, id, 500)));
    const leaders = ss.filter((s): s is NodeStatus => s?.role === 'LEADER').sort((a, b) => b.term - a.term);
    if (leaders.length > 0) return leaders[0]!.id;
    await sleep(50);
  }
  return undefined;
}

export async function statusOf(stack: ChaosStack, id: NodeId, timeoutMs: number, hash = false): Promise<NodeStatus | undefined> {
  if (!stack.cluster.isAlive(id)) return undefined;
  try {
    const r = await requestOnce(stack.cluster.endpoint(id), { op: 'status', hash }, timeoutMs);
    return r.ok === true ? (r.status as NodeStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** The newest WAL segment of a (stopped) replica. */
function lastSegment(stack: ChaosStack, id: NodeId): string {
  const dir = stack.cluster.dataDirOf(id);
  const segs = readdirSync(dir).filter((f) => /^wal-\d+\.log$/.test(f)).sort();
  if (segs.length === 0) throw new Error(`node ${id}: no WAL segment in ${dir}`);
  return path.join(dir, segs[segs.length - 1]!);
}

/** Applies one fault for holdMs and heals it; returns what was done and when. */
export async function inject(stack: ChaosStack, kind: FaultKind, rng: Prng, holdMs: number, log: (l: string) => void): Promise<FaultRecord> {
  const startMs = Date.now();
  const leader = await findLeader(stack);
  const followers = stack.ids.filter((id) => id !== leader);
  const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)]!;
  let target = '';
  let heal: () => Promise<void>;
  const c = stack.cluster;
  switch (kind) {
    case 'kill-leader':
    case 'kill-follower': {
      const id = kind === 'kill-leader' ? leader : pick(followers);
      if (id === undefined) throw new Error('no leader to kill');
      target = `node ${id}`;
      await c.kill(id);
      heal = () => c.start(id);
      break;
    }
    case 'pause-leader': {
      if (leader === undefined) throw new Error('no leader to pause');
      target = `node ${leader}`;
      c.pause(leader, true);
      heal = async () => c.pause(leader, false);
      break;
    }
    case 'isolate-leader': {
      if (leader === undefined) throw new Error('no leader to isolate');
      target = `node ${leader}`;
      stack.network.isolate(leader);
      heal = async () => stack.network.heal();
      break;
    }
    case 'split': {
      // The leader with a minority (alone in 3, with one other in 5), the majority on the other side.
      if (leader === undefined) throw new Error('no leader');
      const others = rng.shuffle([...followers]);
      const a = [leader, ...others.slice(0, Math.floor((stack.ids.length - 1) / 2) - 1)];
      const b = stack.ids.filter((x) => !a.includes(x));
      target = `[${a.join(',')}] | [${b.join(',')}]`;
      stack.network.split(a, b);
      heal = async () => stack.network.heal();
      break;
    }
    case 'one-way': {
      // The leader's messages to everyone are lost, theirs to it arrive: it hears the others'
      // campaigns but its heartbeats go nowhere.
      if (leader === undefined) throw new Error('no leader');
      target = `node ${leader} → others cut`;
      for (const f of followers) stack.network.cutOneWay(leader, f);
      heal = async () => stack.network.heal();
      break;
    }
    case 'wal-truncate':
    case 'wal-bitflip': {
      const id = pick(followers);
      await c.kill(id);
      const file = lastSegment(stack, id);
      const size = statSync(file).size;
      if (kind === 'wal-truncate') {
        const cut = size === 0 ? 0 : 1 + rng.int(Math.min(size, WAL_TAIL_BYTES));
        truncateSync(file, size - cut);
        target = `node ${id} ${path.basename(file)} -${cut} bytes`;
      } else {
        const at = size === 0 ? 0 : Math.max(0, size - 1 - rng.int(Math.min(size, WAL_TAIL_BYTES)));
        if (size > 0) {
          const fd = openSync(file, 'r+');
          const b = Buffer.alloc(1);
          readSync(fd, b, 0, 1, at);
          b[0] = b[0]! ^ (1 << rng.int(8));
          writeSync(fd, b, 0, 1, at);
          closeSync(fd);
        }
        target = `node ${id} ${path.basename(file)} bit flipped at ${at}/${size}`;
      }
      heal = async () => undefined;
      // Restarted at once on the damaged files: recovery repairs the tail, the leader refills it.
      await c.start(id);
      break;
    }
    case 'slow-fsync': {
      if (leader === undefined) throw new Error('no leader');
      target = `node ${leader} +${SLOW_FSYNC_MS} ms per fdatasync`;
      await stack.setFsyncDelay(leader, SLOW_FSYNC_MS);
      heal = () => stack.setFsyncDelay(leader, 0).catch(() => undefined);
      break;
    }
    case 'slow-network': {
      target = 'all links: 20 ms + U[0, 30) ms, 0.5% chunk loss';
      stack.network.degrade({ delayMs: 20, jitterMs: 30, dropRate: 0.005 });
      heal = async () => stack.network.heal();
      break;
    }
    case 'broker-restart': {
      target = 'broker SIGKILL';
      await stack.killBroker();
      heal = () => stack.startBroker();
      break;
    }
    case 'read-model-restart': {
      target = 'read models stopped';
      await stack.stopReadModels();
      heal = () => stack.startReadModels();
      break;
    }
    case 'gateway-restart': {
      target = 'gateway SIGKILL';
      await stack.killGateway();
      heal = () => stack.startGateway();
      break;
    }
  }
  log(`fault ${kind}: ${target}`);
  await sleep(holdMs);
  const healMs = Date.now();
  await heal();
  return { kind, target, startMs, healMs, endMs: Date.now() };
}
