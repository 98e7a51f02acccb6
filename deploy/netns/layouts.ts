// The two deployments as data (pure: no I/O): which hosts exist, in which region, at which
// address, what each runs, the one-way delay between regions, and the configuration files each
// host's processes are started with. deploy/netns/deployment.ts turns this into namespaces,
// files and processes; deploy/README.md describes both layouts.
//
// Addresses: host H of region R is 10.<net>.R.H/16 (net defaults to 200). The operator (the
// machine's own namespace, where the bridge lives) is 10.<net>.0.254: clients run there and
// count as local to every region.

export type LayoutName = 'dc' | 'regions';
export type Role = 'replica' | 'gateway' | 'broker' | 'publisher' | 'query';

export interface HostSpec {
  /** Short name, unique in the layout (r1, gw2, ev, …). */
  name: string;
  region: number;
  /** H in 10.<net>.R.H. */
  index: number;
  roles: Role[];
  /** The replica's member id (replica hosts only). */
  replicaId?: number;
}

export interface LayoutSpec {
  name: LayoutName;
  hosts: HostSpec[];
  /** One-way delay (ms) added between two different regions, by region pair (a<b). Same region: 0. */
  interRegionDelayMs: Record<string, number>;
  /** Raft timing for the cluster file: a leader must hold its lease across the slowest link. */
  raft: { tickMs: number; electionTicks: number; heartbeatTicks: number };
}

/** Fixed ports: every host is its own network stack, so every host uses the same ones. */
export const PORTS = {
  raft: 7101,
  client: 7201,
  feed: 8091,
  ops: 9101,
  rest: 8080,
  grpc: 50051,
  fix: 9878,
  broker: 9092,
  queryRest: 8081,
  queryGrpc: 50052,
  /** First port of a host's link proxies (127.0.0.1 in its namespace), one per cross-region link. */
  proxyBase: 20_000,
} as const;

const replica = (id: number, region: number, index: number): HostSpec => ({
  name: `r${id}`,
  region,
  index,
  roles: ['replica'],
  replicaId: id,
});

/**
 * `dc`: one data centre — 3 replica hosts, a gateway host, and the broker, publisher and
 * query service each on its own host (or all three on one, `eventsOnOneHost`, for the test).
 */
export function dcLayout(eventsOnOneHost = false): LayoutSpec {
  const events: HostSpec[] = eventsOnOneHost
    ? [{ name: 'ev', region: 1, index: 20, roles: ['broker', 'publisher', 'query'] }]
    : [
        { name: 'broker', region: 1, index: 20, roles: ['broker'] },
        { name: 'pub', region: 1, index: 21, roles: ['publisher'] },
        { name: 'query', region: 1, index: 22, roles: ['query'] },
      ];
  return {
    name: 'dc',
    hosts: [
      replica(1, 1, 1),
      replica(2, 1, 2),
      replica(3, 1, 3),
      { name: 'gw', region: 1, index: 10, roles: ['gateway'] },
      ...events,
    ],
    interRegionDelayMs: {},
    raft: { tickMs: 10, electionTicks: 30, heartbeatTicks: 3 },
  };
}

/**
 * `regions`: 5 replicas over 3 regions (2+2+1), a gateway in each region, the events services
 * in region 1. One-way delays 5/20/15 ms: round trips of 10 ms (1↔2), 40 ms (1↔3), 30 ms (2↔3).
 * `compact` (the test, fewer processes on a 2-core machine): one gateway and one events host
 * (broker, publisher, query), both in region 2.
 */
export function regionsLayout(compact = false): LayoutSpec {
  const services: HostSpec[] = compact
    ? [
        { name: 'gw2', region: 2, index: 10, roles: ['gateway'] },
        { name: 'ev', region: 2, index: 20, roles: ['broker', 'publisher', 'query'] },
      ]
    : [
        { name: 'gw1', region: 1, index: 10, roles: ['gateway'] },
        { name: 'gw2', region: 2, index: 10, roles: ['gateway'] },
        { name: 'gw3', region: 3, index: 10, roles: ['gateway'] },
        { name: 'broker', region: 1, index: 20, roles: ['broker'] },
        { name: 'pub', region: 1, index: 21, roles: ['publisher'] },
        { name: 'query', region: 1, index: 22, roles: ['query'] },
      ];
  return {
    name: 'regions',
    hosts: [replica(1, 1, 1), replica(2, 1, 2), replica(3, 2, 1), replica(4, 2, 2), replica(5, 3, 1), ...services],
    interRegionDelayMs: { '1-2': 5, '1-3': 20, '2-3': 15 },
    // Election timeout 600 ms: well above the slowest round trip (40 ms) plus a loaded machine.
    raft: { tickMs: 20, electionTicks: 30, heartbeatTicks: 3 },
  };
}

export function layoutByName(name: string, eventsOnOneHost = false): LayoutSpec {
  if (name === 'dc') return dcLayout(eventsOnOneHost);
  if (name === 'regions') return regionsLayout();
  throw new Error(`unknown layout "${name}" (dc or regions)`);
}

export const addressOf = (net: number, h: Pick<HostSpec, 'region' | 'index'>) => `10.${net}.${h.region}.${h.index}`;
export const operatorAddress = (net: number) => `10.${net}.0.254`;

export function delayMsBetween(layout: LayoutSpec, a: number, b: number): number {
  if (a === b) return 0;
  return layout.interRegionDelayMs[`${Math.min(a, b)}-${Math.max(a, b)}`] ?? 0;
}

export const replicaHosts = (l: LayoutSpec) => l.hosts.filter((h) => h.replicaId !== undefined);
export const hostsWith = (l: LayoutSpec, role: Role) => l.hosts.filter((h) => h.roles.includes(role));

/** One link proxy on a host: it listens on 127.0.0.1:listenPort there and forwards, delayed, to target. */
export interface LinkProxySpec {
  listenPort: number;
  target: { host: string; port: number };
  delayMs: number;
}

/**
 * The cluster file the processes on host `from` read: every member at its host address, except
 * that a member in another region with a delay is reached through a link proxy on `from`
 * (its raft and client addresses become 127.0.0.1:<proxy>); the proxies it needs are returned.
 */
export function clusterFileFor(
  layout: LayoutSpec,
  net: number,
  from: HostSpec,
  files: { dataDir: string; shardConfig: string },
): { config: Record<string, unknown>; proxies: LinkProxySpec[] } {
  const proxies: LinkProxySpec[] = [];
  const via = (to: HostSpec, port: number): string => {
    const delayMs = delayMsBetween(layout, from.region, to.region);
    if (delayMs === 0) return `${addressOf(net, to)}:${port}`;
    const listenPort = PORTS.proxyBase + proxies.length;
    proxies.push({ listenPort, target: { host: addressOf(net, to), port }, delayMs });
    return `127.0.0.1:${listenPort}`;
  };
  const members = replicaHosts(layout).map((h) => {
    const own = (port: number) => `${addressOf(net, h)}:${port}`;
    return {
      id: h.replicaId,
      raft: h === from ? own(PORTS.raft) : via(h, PORTS.raft),
      client: h === from ? own(PORTS.client) : via(h, PORTS.client),
      feed: own(PORTS.feed),
      ops: own(PORTS.ops),
    };
  });
  const config = {
    clusterId: `netns-${layout.name}`,
    dataDir: files.dataDir,
    shardConfig: files.shardConfig,
    fsync: true,
    seed: 1,
    ...layout.raft,
    members,
  };
  return { config, proxies };
}

/** Interface names (≤ 15 bytes): the bridge and each host's veth end on the bridge, unique per run. */
export function linkNames(runTag: string, layout: LayoutSpec): { bridge: string; veth: Map<string, string> } {
  const veth = new Map<string, string>();
  for (const [k, h] of layout.hosts.entries()) veth.set(h.name, `${runTag}v${k}`);
  return { bridge: `${runTag}br`, veth };
}

/** Namespace of a host: `<runTag>-<host>` (the tag carries the pid, so parallel runs never clash). */
export const namespaceOf = (runTag: string, h: Pick<HostSpec, 'name'>) => `${runTag}-${h.name}`;
