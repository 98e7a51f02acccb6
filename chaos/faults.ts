// The faults the chaos supervisor injects, one kind at a time or two at once. Each inject
// applies the fault, holds it, heals it, and returns when the system has been given back its
// parts (restarted, resumed, reconnected); it never waits for recovery — that is measured from
// the clients' history (chaos/run.ts).
//
// The faults of one step share a plan (FaultPlan): the leader is looked up once, before any of
// them is applied, and a node one fault targets is never picked by the other — so a WAL fault's
// follower is never the leader a paired fault paused or killed (which, frozen, answers no status
// and would otherwise look like a follower), and two faults never pick the same follower. A pair
// is applied in its listed order, one after the other, held together, and healed together.
// A fault that cannot be applied (no leader, no free follower, a refused transfer) is recorded
// as NOT APPLIED, never fatal; a part it left down half-way (a WAL fault's killed replica whose
// files could not be damaged) is restarted by the final healing in chaos/run.ts.

import { closeSync, cpSync, openSync, readSync, readdirSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { NodeStatus } from '../replicator/log.js';
import type { NodeId } from '../replicator/log.js';
import { requestOnce } from '../replicator/client/client.js';
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
  'transfer-leader',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRecord {
  kind: string;
  target: string;
  /** The other fault of its pair ('' for a fault applied alone). */
  pairedWith: string;
  startMs: number;
  healMs: number;
  endMs: number;
}

/** The targets the faults of one step share, decided before any of them is applied. */
export interface FaultPlan {
  /** The leader when the step began (undefined: none answered). */
  leader: NodeId | undefined;
  /** Nodes a fault of this step already targets: no other fault of the step picks them. */
  taken: Set<NodeId>;
}

/** A fault applied, not yet healed. */
interface Applied {
  target: string;
  startMs: number;
  heal: () => Promise<void>;
  /** After the heal: what came of it, appended to the target (transfer-leader: who leads). */
  outcome?: () => Promise<string>;
}

/** Bytes from the end of a WAL segment where the damage lands (its tail). */
const WAL_TAIL_BYTES = 4_096;
/** Slow disk: added to every fdatasync of the leader (ms). */
const SLOW_FSYNC_MS = 40;
/** A leader that does not answer the transfer request within this has not accepted it (ms). */
const TRANSFER_REQUEST_TIMEOUT_MS = 5_000;
/** After the heal, how long to look for the leader that a transfer left (ms). */
const TRANSFER_OUTCOME_WAIT_MS = 5_000;
/** A refused restart's error message, cut to this many characters in the record. */
const ERROR_CHARS_MAX = 160;
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

export async function statusOf(
  stack: ChaosStack,
  id: NodeId,
  timeoutMs: number,
  hash = false,
): Promise<NodeStatus | undefined> {
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
  const segs = readdirSync(dir)
    .filter((f) => /^wal-\d+\.log$/.test(f))
    .sort();
  if (segs.length === 0) throw new Error(`node ${id}: no WAL segment in ${dir}`);
  return path.join(dir, segs[segs.length - 1]!);
}

/**
 * Applies the faults of one step (one fault, or a pair) in their order, on one plan
 * (chaos/README.md, "Pairs"), holds them holdMs from the last one applied, heals them together;
 * one record per fault.
 */
export async function injectTogether(
  stack: ChaosStack,
  kinds: readonly FaultKind[],
  rngs: readonly Prng[],
  holdMs: number,
  log: (l: string) => void,
): Promise<FaultRecord[]> {
  const plan: FaultPlan = { leader: await findLeader(stack), taken: new Set() };
  const applied: Applied[] = [];
  for (let i = 0; i < kinds.length; i++) {
    const startMs = Date.now();
    try {
      applied.push(await apply(stack, kinds[i]!, rngs[i]!, plan, startMs));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      applied.push({ target: `NOT APPLIED: ${why}`, startMs, heal: async () => undefined });
    }
    log(
      `fault ${kinds[i]}: ${applied[i]!.target}${kinds.length > 1 ? ` (with ${kinds.filter((_, j) => j !== i).join(', ')})` : ''}`,
    );
  }
  await sleep(holdMs);
  const healMs = Date.now();
  // A heal that fails leaves its part down; the final healing in chaos/run.ts restarts it.
  await Promise.all(
    applied.map((a, i) =>
      a
        .heal()
        .catch((err: unknown) =>
          log(`fault ${kinds[i]}: heal failed: ${err instanceof Error ? err.message : String(err)}`),
        ),
    ),
  );
  const endMs = Date.now();
  const records: FaultRecord[] = [];
  for (let i = 0; i < kinds.length; i++) {
    const a = applied[i]!;
    const outcome =
      a.outcome === undefined
        ? ''
        : `; ${await a.outcome().catch((err: unknown) => `outcome unknown: ${String(err)}`)}`;
    if (outcome !== '') log(`fault ${kinds[i]} healed${outcome}`);
    records.push({
      kind: kinds[i]!,
      target: a.target + outcome,
      pairedWith: kinds.filter((_, j) => j !== i).join('+'),
      startMs: a.startMs,
      healMs,
      endMs,
    });
  }
  return records;
}

/** A fault as applied, before the step stamps its start: what it hit, how to undo it, and what came of it. */
type Effect = Omit<Applied, 'startMs'>;

/** What one fault works with: the stack, its own PRNG, and the step's targets (see the file's head). */
interface FaultContext {
  stack: ChaosStack;
  rng: Prng;
  /** Every node but the step's leader. */
  followers: NodeId[];
  /** A follower no other fault of the step targets; taken for this one. */
  pickFree: () => NodeId;
  /** The step's leader, taken for this fault; throws if there was none. */
  takeLeader: (what: string) => NodeId;
}

/** Applies one fault on the step's plan; throws if it cannot (see the file's head for what a throw may leave down). */
async function apply(
  stack: ChaosStack,
  kind: FaultKind,
  rng: Prng,
  plan: FaultPlan,
  startMs: number,
): Promise<Applied> {
  const leader = plan.leader;
  const followers = stack.ids.filter((id) => id !== leader);
  const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)]!;
  const x: FaultContext = {
    stack,
    rng,
    followers,
    pickFree: () => {
      const free = followers.filter((id) => !plan.taken.has(id));
      if (free.length === 0) throw new Error('no follower left to target');
      const id = pick(free);
      plan.taken.add(id);
      return id;
    },
    takeLeader: (what) => {
      if (leader === undefined) throw new Error(`no leader to ${what}`);
      plan.taken.add(leader);
      return leader;
    },
  };
  const { target, heal, outcome } = await APPLY_BY_KIND[kind](x);
  return outcome === undefined ? { target, startMs, heal } : { target, startMs, heal, outcome };
}

/** How each kind of fault is applied, and healed. */
const APPLY_BY_KIND: Record<FaultKind, (x: FaultContext) => Promise<Effect>> = {
  'kill-leader': async (x) => killNode(x.stack, x.takeLeader('kill')),
  'kill-follower': async (x) => killNode(x.stack, x.pickFree()),
  'pause-leader': async ({ stack, takeLeader }) => {
    const id = takeLeader('pause');
    stack.cluster.pause(id, true);
    return { target: `node ${id}`, heal: async () => stack.cluster.pause(id, false) };
  },
  'isolate-leader': async ({ stack, takeLeader }) => {
    const id = takeLeader('isolate');
    stack.network.isolate(id);
    return { target: `node ${id}`, heal: async () => stack.network.heal() };
  },
  split: async ({ stack, rng, followers, takeLeader }) => {
    // The leader with a minority (alone in 3, with one other in 5), the majority on the other side.
    const id = takeLeader('split off');
    const others = rng.shuffle([...followers]);
    const a = [id, ...others.slice(0, Math.floor((stack.ids.length - 1) / 2) - 1)];
    const b = stack.ids.filter((n) => !a.includes(n));
    stack.network.split(a, b);
    return { target: `[${a.join(',')}] | [${b.join(',')}]`, heal: async () => stack.network.heal() };
  },
  'one-way': async ({ stack, followers, takeLeader }) => {
    // The leader's messages to everyone are lost, theirs to it arrive: it hears the others'
    // campaigns but its heartbeats go nowhere.
    const id = takeLeader('cut off');
    for (const f of followers) stack.network.cutOneWay(id, f);
    return { target: `node ${id} → others cut`, heal: async () => stack.network.heal() };
  },
  'wal-truncate': async (x) => damageWalTail(x, truncateTail),
  'wal-bitflip': async (x) => damageWalTail(x, flipTailBit),
  'slow-fsync': async ({ stack, takeLeader }) => {
    const id = takeLeader('slow down');
    await stack.setFsyncDelay(id, SLOW_FSYNC_MS);
    return {
      target: `node ${id} +${SLOW_FSYNC_MS} ms per fdatasync`,
      heal: () => stack.setFsyncDelay(id, 0).catch(() => undefined),
    };
  },
  'transfer-leader': async (x) => transferLeader(x),
  'slow-network': async ({ stack }) => {
    stack.network.degrade({ delayMs: 20, jitterMs: 30, dropRate: 0.005 });
    return { target: 'all links: 20 ms + U[0, 30) ms, 0.5% chunk loss', heal: async () => stack.network.heal() };
  },
  'broker-restart': async ({ stack }) => {
    await stack.killBroker();
    return { target: 'broker SIGKILL', heal: () => stack.startBroker() };
  },
  'read-model-restart': async ({ stack }) => {
    await stack.stopReadModels();
    return { target: 'read models stopped', heal: () => stack.startReadModels() };
  },
  'gateway-restart': async ({ stack }) => {
    await stack.killGateway();
    return { target: 'gateway SIGKILL', heal: () => stack.startGateway() };
  },
};

/** Kills a replica; the heal starts it again. */
async function killNode(stack: ChaosStack, id: NodeId): Promise<Effect> {
  await stack.cluster.kill(id);
  return { target: `node ${id}`, heal: () => stack.cluster.start(id) };
}

/** Marks a record whose replica did not come back up on its damaged WAL (chaos/README.md, Faults). */
export const RESTART_FAILED = 'RESTART FAILED';

/**
 * Kills a free follower, damages the tail of its newest WAL segment (`damage` says how, and
 * returns what it did) and restarts it at once on the damaged files.
 */
async function damageWalTail(
  x: FaultContext,
  damage: (file: string, size: number, rng: Prng) => string,
): Promise<Effect> {
  const { stack } = x;
  const c = stack.cluster;
  const id = x.pickFree();
  await c.kill(id);
  const dataDir = c.dataDirOf(id);
  // The replica's files as they were before the damage: what it acknowledged. Used only if it
  // refuses to start on the damaged files even at the heal (see restartOnUndamaged).
  const undamaged = `${dataDir}.undamaged`;
  rmSync(undamaged, { recursive: true, force: true });
  cpSync(dataDir, undamaged, { recursive: true });
  const file = lastSegment(stack, id);
  const size = statSync(file).size;
  const seg = `node ${id} wal seg ${Number(/\d+/.exec(path.basename(file))![0])}`;
  let target = `${seg}: ${damage(file, size, x.rng)}`;
  // Restarted at once on the damaged files: recovery repairs the tail, the leader refills it.
  // The damage is done either way: a replica that does not come back up is reported as
  // such (a finding, not a fault that could not be applied) and tried again at the heal.
  try {
    await c.start(id);
    rmSync(undamaged, { recursive: true, force: true });
    // Whether recovery found entries it may have acknowledged gone (the tail-lost rule then
    // governs its votes until it is caught up) or only a never-synced torn write; read at
    // once, before a leader can catch it up.
    const s = await statusOf(stack, id, 2_000);
    target += s === undefined ? '; status unknown' : s.logTailLost ? '; tail lost' : '; nothing acked lost';
    return { target, heal: async () => undefined };
  } catch (err) {
    const why = restartError(err);
    target += ` — ${RESTART_FAILED}: ${why}`;
    let outcome = 'restarted at the heal on its damaged files';
    return {
      target,
      heal: async () => {
        outcome = await restartOnUndamaged(stack, id, undamaged, why);
      },
      outcome: async () => outcome,
    };
  }
}

/** A failed start's first line and the error its log names (e.g. `PaxosTailLostError: …`), if any. */
function restartError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // The replica logs its fatal error's stack as JSON: the name and message end at an escaped newline or the quote.
  const cause = /\b([A-Z]\w*Error): (.*?)(?:\\n|"|$)/m.exec(msg.split('\n').slice(1).join('\n'));
  return `${msg.split('\n')[0]}${cause === null ? '' : `: ${cause[1]}: ${cause[2]!.slice(0, ERROR_CHARS_MAX)}`}`;
}

/**
 * The heal of a WAL fault whose replica did not come back up: once more on the damaged files;
 * if it refuses again, on its files as they were before the damage (a copy kept for this), so
 * that the rest of the run has all its replicas — the refusal stays recorded (a finding that
 * fails the run), and the undamaged copy holds nothing the replica had not acknowledged.
 */
async function restartOnUndamaged(
  stack: ChaosStack,
  id: NodeId,
  undamaged: string,
  firstError: string,
): Promise<string> {
  const c = stack.cluster;
  try {
    await c.start(id);
    rmSync(undamaged, { recursive: true, force: true });
    return 'restarted at the heal on its damaged files';
  } catch (err) {
    const dataDir = c.dataDirOf(id);
    rmSync(dataDir, { recursive: true, force: true });
    cpSync(undamaged, dataDir, { recursive: true });
    rmSync(undamaged, { recursive: true, force: true });
    await c.start(id);
    const why = restartError(err);
    return `refused again${why === firstError ? '' : ` (${why})`}; restarted on its undamaged files`;
  }
}

/** Cuts 1..WAL_TAIL_BYTES bytes off the end of the segment (nothing off an empty one). */
function truncateTail(file: string, size: number, rng: Prng): string {
  const cut = size === 0 ? 0 : 1 + rng.int(Math.min(size, WAL_TAIL_BYTES));
  truncateSync(file, size - cut);
  return `-${cut} B`;
}

/** Flips one bit of one of the segment's last WAL_TAIL_BYTES bytes (nothing in an empty one). */
function flipTailBit(file: string, size: number, rng: Prng): string {
  const at = size === 0 ? 0 : Math.max(0, size - 1 - rng.int(Math.min(size, WAL_TAIL_BYTES)));
  if (size > 0) {
    const fd = openSync(file, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ (1 << rng.int(8));
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
  }
  return `bit flipped at ${at}/${size}`;
}

/**
 * The operator's transfer (cli/operator-commands.ts, op 'transfer-leader'): the leader
 * catches the follower up, sends it TimeoutNow and refuses proposals meanwhile (the
 * gateway retries them); it gives up after an election timeout. Nothing to heal: the
 * leadership stays where it went. The outcome (who leads after the hold) is recorded.
 */
async function transferLeader(x: FaultContext): Promise<Effect> {
  const c = x.stack.cluster;
  const from = x.takeLeader('ask for a transfer');
  const to = x.pickFree();
  const r = await requestOnce(c.endpoint(from), { op: 'transfer-leader', to }, TRANSFER_REQUEST_TIMEOUT_MS);
  if (r.ok !== true)
    throw new Error(`node ${from} refused the transfer to node ${to}: ${String(r.error)} ${String(r.message ?? '')}`);
  return {
    target: `node ${from} → node ${to}`,
    heal: async () => undefined,
    outcome: async () => {
      const now = await findLeader(x.stack, TRANSFER_OUTCOME_WAIT_MS);
      return now === to ? `node ${to} leads` : `node ${now ?? 'none'} leads, not ${to}`;
    },
  };
}
