// The network as Linux does it (root only): one namespace per host, a veth pair from each to one
// bridge in the machine's own namespace, addresses 10.<net>.R.H/16; link down/up on a host's
// bridge port (a real cut: the host's interface loses carrier), every process of a host killed,
// and the whole thing deleted. Every command is iproute2 (`ip`, `tc`), run synchronously and
// bounded (IP_COMMAND_TIMEOUT_MS).

import { execFileSync } from 'node:child_process';
import { IP_COMMAND_TIMEOUT_MS, NETNS_HOSTS_MAX } from './limits.js';
import { addressOf, type HostSpec, type LayoutSpec, linkNames, namespaceOf, operatorAddress } from './layouts.js';

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { timeout: IP_COMMAND_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] }).toString(
    'utf8',
  );
}

const ip = (...args: string[]) => run('ip', args);

/** Why namespaces cannot be used here, or undefined if they can (root, and `ip netns` answers). */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: network namespaces need CAP_NET_ADMIN';
  try {
    ip('netns', 'list');
    return undefined;
  } catch (err) {
    return `\`ip netns\` is not usable: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Whether the kernel has sch_netem: tried on the loopback of a scratch namespace, which is then deleted. */
export function netemAvailable(runTag: string): boolean {
  const ns = `${runTag}-netem`;
  ip('netns', 'add', ns);
  try {
    run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    return true;
  } catch {
    return false;
  } finally {
    ip('netns', 'del', ns);
  }
}

export interface Network {
  runTag: string;
  net: number;
  bridge: string;
  /** Host name → its namespace, and its veth end on the bridge (the one partitions take down). */
  ns: Map<string, string>;
  veth: Map<string, string>;
}

/** Creates the bridge (with the operator's address), and per host a namespace joined to it. */
export function createNetwork(runTag: string, net: number, layout: LayoutSpec): Network {
  if (layout.hosts.length > NETNS_HOSTS_MAX) throw new RangeError(`${layout.hosts.length} hosts > NETNS_HOSTS_MAX`);
  const names = linkNames(runTag, layout);
  const network: Network = { runTag, net, bridge: names.bridge, ns: new Map(), veth: names.veth };
  try {
    ip('link', 'add', names.bridge, 'type', 'bridge');
    ip('addr', 'add', `${operatorAddress(net)}/16`, 'dev', names.bridge);
    ip('link', 'set', names.bridge, 'up');
    for (const h of layout.hosts) addHost(network, h);
  } catch (err) {
    // Half a network is deleted as a whole one is: nothing of a failed start stays behind.
    deleteNetwork(network);
    throw err;
  }
  return network;
}

function addHost(network: Network, h: HostSpec): void {
  const ns = namespaceOf(network.runTag, h);
  const outer = network.veth.get(h.name)!;
  const inner = `${outer}i`;
  network.ns.set(h.name, ns);
  ip('netns', 'add', ns);
  ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
  ip('link', 'set', inner, 'netns', ns);
  ip('-n', ns, 'link', 'set', inner, 'name', 'eth0');
  ip('-n', ns, 'addr', 'add', `${addressOf(network.net, h)}/16`, 'dev', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('link', 'set', outer, 'master', network.bridge);
  ip('link', 'set', outer, 'up');
}

/** With sch_netem: `delayMs` on the egress of every host's interface (each direction crosses one). */
export function addNetemDelay(network: Network, delayMs: number): void {
  for (const ns of network.ns.values())
    run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', `${delayMs}ms`]);
}

/** Takes a host's bridge port down (up = false) or up: a real cut of every link to and from that host. */
export function setHostLink(network: Network, host: string, up: boolean): void {
  ip('link', 'set', network.veth.get(host)!, up ? 'up' : 'down');
}

/** SIGKILLs every process in a host's namespace (a host lost with everything on it). */
export function killHostProcesses(network: Network, host: string): number[] {
  const ns = network.ns.get(host);
  if (ns === undefined) return [];
  const pids = ip('netns', 'pids', ns)
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((p) => Number.isSafeInteger(p) && p > 0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return pids;
}

/** Kills what is left in every namespace, deletes them (their veths go with them) and the bridge. Never throws. */
export function deleteNetwork(network: Network): string[] {
  const problems: string[] = [];
  for (const [host, ns] of network.ns) {
    try {
      killHostProcesses(network, host);
      ip('netns', 'del', ns);
    } catch (err) {
      problems.push(`${ns}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  network.ns.clear();
  try {
    ip('link', 'del', network.bridge);
  } catch (err) {
    problems.push(`${network.bridge}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return problems;
}

/**
 * The first N in [from, to] such that no interface of this namespace holds an address in
 * 10.N.0.0/16: a run's bridge route never overlaps another run's (tests and benchmarks in parallel).
 */
export function unusedNet(from: number, to: number): number {
  const used = new Set<number>();
  for (const m of ip('-o', '-4', 'addr', 'show').matchAll(/inet 10\.(\d+)\./g)) used.add(Number(m[1]));
  for (let n = from; n <= to; n++) if (!used.has(n)) return n;
  throw new Error(`every 10.N/16 with N in ${from}..${to} is in use here`);
}
