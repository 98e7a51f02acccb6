// Fault profiles of the cluster simulation (cluster-sim.ts). Times are in steps: one step is
// one millisecond of simulated time. Every profile runs the production replica
// (replicator/node.ts) with the real WAL over a simulated disk; they differ in what the world
// does to it.

export interface NetworkProfile {
  /** Delay of a message in steps, uniform in [delayMin, delayMax]. */
  delayMin: number;
  delayMax: number;
  lossP: number;
  dupP: number;
  /** Per message: it is held back far past an election timeout instead (a message from an older term arriving late). */
  lateP: number;
  lateSteps: [number, number];
}

export interface SimProfile {
  name: string;
  /** Genesis voters. */
  nodes: number;
  /** Steps of the faulty phase (before healing). */
  steps: number;
  net: NetworkProfile;
  partitionP: number;
  partitionSteps: [number, number];
  /** Per step: a process is killed (how: the weights below). */
  crashP: number;
  /** Weights of the ways a process dies: between steps, at its n-th disk call, at its n-th send, with its host's power. */
  crashHow: { clean: number; atDiskCall: number; atSend: number; powerLoss: number };
  /** Per step: every host loses power at once (unsynced writes lost or torn everywhere). */
  powerCutAllP: number;
  /** Chance that a downed host's WAL is damaged at rest before it restarts (acknowledged entries lost). */
  tailDamageP: number;
  downSteps: [number, number];
  pauseP: number;
  pauseSteps: [number, number];
  /** Processes down or paused at once, at most (a power cut of every host ignores it). */
  maxDown: number;
  /** Tick period jitter per host (± ms): clocks that drift. */
  tickJitterMs: number;
  /** Disk completion latency, and the chance of a long stall instead (many inputs then batch into one Ready). */
  diskLatencyMs: [number, number];
  diskStallP: number;
  diskStallMs: [number, number];
  clients: number;
  /** Per step: an idle client starts a new command. */
  proposeP: number;
  transferP: number;
  /** Per step: a linearizable read (ReplicaNode.readIndex) is issued on some node. */
  readP: number;
  /** Membership changes (add learner, promote, remove). */
  membershipP: number;
  /** Client sessions each state machine keeps (small: eviction and SESSION_EXPIRED happen). */
  sessionsMax: number;
  /** Applied entries between snapshots. */
  snapshotIntervalEntries: number;
  /** The leader's engine time tick (ms of simulated time). */
  timeTickMs: number;
  /** Leader kills every this many steps (0: none) and election time is measured. */
  leaderKillEverySteps: number;
}

const BASE: Omit<SimProfile, 'name'> = {
  nodes: 3,
  steps: 6000,
  net: { delayMin: 1, delayMax: 4, lossP: 0, dupP: 0, lateP: 0, lateSteps: [200, 800] },
  partitionP: 0,
  partitionSteps: [100, 1000],
  crashP: 0,
  crashHow: { clean: 1, atDiskCall: 1, atSend: 1, powerLoss: 1 },
  powerCutAllP: 0,
  tailDamageP: 0,
  downSteps: [50, 1000],
  pauseP: 0,
  pauseSteps: [20, 600],
  maxDown: 1,
  tickJitterMs: 0,
  diskLatencyMs: [0, 3],
  diskStallP: 0,
  diskStallMs: [50, 300],
  clients: 3,
  proposeP: 0.03,
  transferP: 0,
  readP: 0.005,
  membershipP: 0,
  sessionsMax: 1_000,
  snapshotIntervalEntries: 30,
  timeTickMs: 300,
  leaderKillEverySteps: 0,
};

export const PROFILES: Record<string, SimProfile> = {
  'no faults': { ...BASE, name: 'no faults', transferP: 0.0005 },
  'lossy network': {
    ...BASE,
    name: 'lossy network',
    net: { delayMin: 1, delayMax: 12, lossP: 0.1, dupP: 0.06, lateP: 0.01, lateSteps: [200, 1500] },
    tickJitterMs: 2,
    diskLatencyMs: [0, 4],
  },
  partitions: {
    ...BASE,
    name: 'partitions',
    net: { delayMin: 1, delayMax: 8, lossP: 0.02, dupP: 0.02, lateP: 0.005, lateSteps: [200, 1500] },
    partitionP: 0.002,
    diskLatencyMs: [0, 6],
    transferP: 0.0005,
  },
  crashes: {
    ...BASE,
    name: 'crashes',
    net: { delayMin: 1, delayMax: 6, lossP: 0.01, dupP: 0.01, lateP: 0, lateSteps: [200, 800] },
    crashP: 0.0015,
    pauseP: 0.0005,
    diskLatencyMs: [0, 8],
    diskStallP: 0.01,
  },
  'power cuts': {
    ...BASE,
    name: 'power cuts',
    net: { delayMin: 1, delayMax: 6, lossP: 0.01, dupP: 0.01, lateP: 0, lateSteps: [200, 800] },
    crashP: 0.0008,
    crashHow: { clean: 0, atDiskCall: 1, atSend: 0, powerLoss: 2 },
    powerCutAllP: 0.0004,
    diskLatencyMs: [0, 10],
    diskStallP: 0.02,
  },
  mixed: {
    ...BASE,
    name: 'mixed',
    net: { delayMin: 1, delayMax: 10, lossP: 0.04, dupP: 0.03, lateP: 0.005, lateSteps: [200, 1500] },
    partitionP: 0.001,
    crashP: 0.001,
    pauseP: 0.0005,
    tickJitterMs: 2,
    diskLatencyMs: [0, 6],
    diskStallP: 0.005,
    transferP: 0.001,
    sessionsMax: 4,
  },
  membership: {
    ...BASE,
    name: 'membership',
    net: { delayMin: 1, delayMax: 8, lossP: 0.03, dupP: 0.02, lateP: 0.003, lateSteps: [200, 1500] },
    partitionP: 0.001,
    crashP: 0.001,
    pauseP: 0.0003,
    diskLatencyMs: [0, 5],
    transferP: 0.0008,
    membershipP: 0.003,
  },
  '5 nodes': {
    ...BASE,
    name: '5 nodes',
    nodes: 5,
    net: { delayMin: 1, delayMax: 10, lossP: 0.04, dupP: 0.03, lateP: 0.005, lateSteps: [200, 1500] },
    partitionP: 0.001,
    crashP: 0.0015,
    pauseP: 0.0005,
    maxDown: 2,
    tickJitterMs: 2,
    diskLatencyMs: [0, 6],
    transferP: 0.001,
  },
  '5 nodes, lost WAL tails': {
    ...BASE,
    name: '5 nodes, lost WAL tails',
    nodes: 5,
    net: { delayMin: 1, delayMax: 8, lossP: 0.02, dupP: 0.02, lateP: 0.003, lateSteps: [200, 1500] },
    partitionP: 0.001,
    crashP: 0.002,
    tailDamageP: 0.6,
    pauseP: 0.0005,
    maxDown: 2,
    diskLatencyMs: [0, 6],
    transferP: 0.0005,
  },
  'lost WAL tails': {
    ...BASE,
    name: 'lost WAL tails',
    // Many messages held back past elections and restarts: an old APPEND reaching a replica that
    // lost its tail must not end its wait.
    net: { delayMin: 1, delayMax: 8, lossP: 0.02, dupP: 0.04, lateP: 0.03, lateSteps: [100, 1200] },
    partitionP: 0.002,
    partitionSteps: [100, 600],
    crashP: 0.003,
    crashHow: { clean: 2, atDiskCall: 1, atSend: 1, powerLoss: 0 },
    tailDamageP: 1,
    downSteps: [50, 600],
    diskLatencyMs: [0, 6],
  },
  sessions: {
    ...BASE,
    name: 'sessions',
    net: { delayMin: 1, delayMax: 8, lossP: 0.03, dupP: 0.03, lateP: 0.003, lateSteps: [200, 1500] },
    crashP: 0.0008,
    partitionP: 0.0008,
    clients: 4,
    proposeP: 0.05,
    sessionsMax: 2,
    transferP: 0.0005,
  },
  elections: {
    ...BASE,
    name: 'elections',
    net: { delayMin: 1, delayMax: 3, lossP: 0, dupP: 0, lateP: 0, lateSteps: [200, 800] },
    tickJitterMs: 1,
    proposeP: 0.05,
    leaderKillEverySteps: 1500,
    downSteps: [300, 600],
  },
};

/**
 * The profiles a Multi-Paxos cluster runs. Not `membership` (PaxosNode runs a fixed membership and
 * refuses changes and transfers; the transfers of the other profiles are checked to be refused).
 * Not yet `lost WAL tails` and `5 nodes, lost WAL tails`: PaxosNode refuses to start on a WAL that
 * lost acknowledged records (PAXOS_WAL_TAIL_LOST); they go here once it recovers from one.
 */
export const PAXOS_PROFILES: readonly string[] = [
  'no faults',
  'lossy network',
  'partitions',
  'crashes',
  'power cuts',
  'mixed',
  '5 nodes',
  'sessions',
  'elections',
  'lost WAL tails',
  '5 nodes, lost WAL tails',
];

/** The profiles of one consensus protocol, in PROFILES order. */
export function profilesFor(consensus: 'raft' | 'multipaxos'): SimProfile[] {
  const all = Object.values(PROFILES);
  return consensus === 'raft' ? all : all.filter((p) => PAXOS_PROFILES.includes(p.name));
}
