// A layout (layouts.ts) deployed for real: the namespaces and links (netns.ts), one directory
// per host with the files its processes read (cluster file, link proxies, gateway config), and
// the processes, each started inside its host's namespace with `ip netns exec` and reaching the
// others only by their host addresses. Faults on the network between hosts (link down, flap,
// a host lost with everything on it), and a stop that always deletes the namespaces.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CHAOS_ACCOUNTS, CHAOS_RISK, keyOf } from '../../chaos/stack.js';
import { type Child, spawnTsx, terminate } from '../../ops/child-process.js';
import { PACKAGE_ROOT, packagePath } from '../../ops/package-root.js';
import { requestOnce, type ClientEndpoint } from '../../replicator/client/client.js';
import type { NodeStatus } from '../../replicator/log.js';
import { REPO_ROOT, sleep } from '../../replicator/process-cluster.js';
import {
  addressOf,
  clusterFileFor,
  type HostSpec,
  hostsWith,
  type LayoutSpec,
  PORTS,
  replicaHosts,
} from './layouts.js';
import { LEADER_WAIT_MS, NETNS_READY_TIMEOUT_MS, NETNS_STOP_GRACE_MS } from './limits.js';
import {
  addNetemDelay,
  createNetwork,
  deleteNetwork,
  killHostProcesses,
  type Network,
  netemAvailable,
  setHostLink,
} from './netns.js';

/** `npm run build` (skipped when dist/ is current): what `compiled: true` runs. */
export function buildDist(): void {
  const r = spawnSync(process.execPath, [packagePath('scripts/build.mjs')], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal})`);
}

export interface DeployOptions {
  layout: LayoutSpec;
  /** Every host's files go under <dir>/<host>/. */
  dir: string;
  /** Prefix of namespace and interface names (≤ 9 characters; carry the pid so parallel runs never clash). */
  runTag: string;
  /** The second octet of the hosts' addresses (10.<net>.R.H). */
  net: number;
  log: (line: string) => void;
  /** The delay within one data centre when sch_netem exists (ms, each direction); without it, none is added. */
  dcDelayMs?: number;
  /**
   * The exchange's processes run as compiled JavaScript from dist/ with plain node, as deployed
   * (the caller builds first: `buildDist()`); otherwise as TypeScript through tsx (the test).
   * The link proxies are a tool of this folder and always run through tsx.
   */
  compiled?: boolean;
}

interface HostFiles {
  dir: string;
  cluster: string;
  links: string;
  gateway: string;
  proxies: number;
}

export class Deployment {
  /** The running processes of each host. */
  readonly children = new Map<string, Child[]>();
  readonly files = new Map<string, HostFiles>();
  netem = false;

  private constructor(
    readonly opts: DeployOptions,
    readonly network: Network,
  ) {}

  /** Builds the network, writes every host's files and starts every process; on failure, deletes everything and throws. */
  static async start(opts: DeployOptions): Promise<Deployment> {
    const netem = netemAvailable(opts.runTag);
    const d = new Deployment(opts, createNetwork(opts.runTag, opts.net, opts.layout));
    d.netem = netem;
    try {
      if (netem) addNetemDelay(d.network, opts.dcDelayMs ?? 0.2);
      opts.log(
        `sch_netem ${netem ? 'present: netem delay on every host interface' : 'absent: no delay within a region'}`,
      );
      for (const h of opts.layout.hosts) d.writeHostFiles(h);
      await Promise.all(opts.layout.hosts.map((h) => d.startHost(h, ['proxies', 'replica'])));
      await d.leader(LEADER_WAIT_MS);
      for (const role of ['broker', 'publisher', 'gateway', 'query'] as const)
        await Promise.all(hostsWith(opts.layout, role).map((h) => d.startHost(h, [role])));
    } catch (err) {
      await d.stop();
      throw err;
    }
    return d;
  }

  address(host: string): string {
    return addressOf(this.opts.net, this.host(host));
  }

  host(name: string): HostSpec {
    const h = this.opts.layout.hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  /** The REST base URL of a gateway host, by its host address. */
  restUrl(gatewayHost: string): string {
    return `http://${this.address(gatewayHost)}:${PORTS.rest}`;
  }

  /** The feed a region's clients read: the first replica host of that region. */
  feedUrl(region: number): string {
    const h = replicaHosts(this.opts.layout).find((x) => x.region === region);
    if (h === undefined) throw new Error(`no replica in region ${region}`);
    return `ws://${addressOf(this.opts.net, h)}:${PORTS.feed}`;
  }

  /** Each replica's client-protocol address, as the operator reaches it (directly, by host address). */
  get endpoints(): ClientEndpoint[] {
    return replicaHosts(this.opts.layout).map((h) => ({
      id: h.replicaId!,
      host: addressOf(this.opts.net, h),
      port: PORTS.client,
    }));
  }

  /** The replica host whose member id is `id`. */
  replicaHost(id: number): string {
    return replicaHosts(this.opts.layout).find((h) => h.replicaId === id)!.name;
  }

  get brokers(): string {
    return `${this.address(hostsWith(this.opts.layout, 'broker')[0]!.name)}:${PORTS.broker}`;
  }

  async status(id: number, timeoutMs: number, hash = false): Promise<NodeStatus | undefined> {
    try {
      const e = this.endpoints.find((x) => x.id === id)!;
      const r = await requestOnce(e, { op: 'status', hash }, timeoutMs);
      return r.ok === true ? (r.status as NodeStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Leadership moved to member `to` (the operator's `transfer-leader`, asked of the current
   * leader) and awaited: where a leader sits decides every commit's round trip across regions.
   */
  async transferLeader(to: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await this.leader(timeoutMs);
      if (leader === to) return;
      if (Date.now() > deadline) throw new Error(`leadership not on ${to} within ${timeoutMs} ms (on ${leader})`);
      const e = this.endpoints.find((x) => x.id === leader)!;
      await requestOnce(e, { op: 'transfer-leader', to }, timeoutMs).catch(() => undefined);
      await sleep(500);
    }
  }

  /** The leader that the replicas answering agree on (polled until `timeoutMs`; throws if none). */
  async leader(timeoutMs: number, excluding: number[] = []): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ids = this.endpoints.map((e) => e.id).filter((id) => !excluding.includes(id));
      const ss = (await Promise.all(ids.map((id) => this.status(id, 2_000)))).filter((s) => s !== undefined);
      const leaders = ss.filter((s) => s.role === 'LEADER');
      const top = leaders.sort((a, b) => b.term - a.term)[0];
      if (top !== undefined && ss.filter((s) => s.leader === top.id).length * 2 > this.endpoints.length) return top.id;
      if (Date.now() > deadline)
        throw new Error(`no leader within ${timeoutMs} ms: ${JSON.stringify(ss.map((s) => [s.id, s.role, s.term]))}`);
      await sleep(200);
    }
  }

  /** Cuts (up = false) or restores every link of a host: its bridge port goes down or up. */
  setLink(host: string, up: boolean): void {
    this.opts.log(`${host}: link ${up ? 'up' : 'down'}`);
    setHostLink(this.network, host, up);
  }

  /** The host is lost: every process in its namespace SIGKILLed and its link down. */
  loseHost(host: string): void {
    this.opts.log(`${host}: lost (every process killed, link down)`);
    killHostProcesses(this.network, host);
    setHostLink(this.network, host, false);
  }

  /** A lost host comes back: link up, its processes started again on their files and data. */
  async restoreHost(host: string): Promise<void> {
    setHostLink(this.network, host, true);
    await this.startHost(this.host(host), ['proxies', ...this.host(host).roles]);
  }

  /** Stops every process (SIGTERM, then SIGKILL) and deletes the namespaces and the bridge. Never throws. */
  async stop(): Promise<void> {
    const all = [...this.children.values()].flat();
    this.children.clear();
    await Promise.all(all.map((c) => terminate(c, NETNS_STOP_GRACE_MS).catch(() => undefined)));
    for (const p of deleteNetwork(this.network)) this.opts.log(`teardown: ${p}`);
  }

  private writeHostFiles(h: HostSpec): void {
    const dir = path.join(this.opts.dir, h.name);
    mkdirSync(dir, { recursive: true });
    const { config, proxies } = clusterFileFor(this.opts.layout, this.opts.net, h, {
      dataDir: path.join(dir, 'data'),
      shardConfig: path.join(REPO_ROOT, 'engine/examples/instruments.json'),
    });
    const files: HostFiles = {
      dir,
      cluster: path.join(dir, 'cluster.json'),
      links: path.join(dir, 'links.json'),
      gateway: path.join(dir, 'gateway.json'),
      proxies: proxies.length,
    };
    writeFileSync(files.cluster, JSON.stringify(config, null, 2));
    writeFileSync(files.links, JSON.stringify(proxies, null, 2));
    writeFileSync(files.gateway, JSON.stringify(this.gatewayConfig(h, files), null, 2));
    this.files.set(h.name, files);
  }

  /** The gateway's config (also read by the query service on its host: accounts, keys, shards). */
  private gatewayConfig(h: HostSpec, files: Pick<HostFiles, 'dir' | 'cluster'>): Record<string, unknown> {
    const example = JSON.parse(
      readFileSync(path.join(REPO_ROOT, 'gateway/examples/gateway-local.json'), 'utf8'),
    ) as Record<string, unknown>;
    const addr = addressOf(this.opts.net, h);
    return {
      ...example,
      accounts: CHAOS_ACCOUNTS.map((account) => ({ account, apiKeys: [keyOf(account)], risk: CHAOS_RISK })),
      listen: { rest: `${addr}:${PORTS.rest}`, grpc: `${addr}:${PORTS.grpc}` },
      fix: { ...(example.fix as object), listen: `${addr}:${PORTS.fix}` },
      shards: [{ id: 0, clusterConfig: files.cluster }],
      signingKey: path.join(files.dir, 'gateway', 'exchange-ed25519.pem'),
      dataDir: path.join(files.dir, 'gateway'),
      workers: 1,
      query: {
        rest: `${addr}:${PORTS.queryRest}`,
        grpc: `${addr}:${PORTS.queryGrpc}`,
        dataDir: path.join(files.dir, 'query'),
      },
    };
  }

  /** Starts the named parts of a host inside its namespace and waits for each one's ready line. */
  private async startHost(h: HostSpec, parts: ('proxies' | HostSpec['roles'][number])[]): Promise<void> {
    const f = this.files.get(h.name)!;
    const addr = addressOf(this.opts.net, h);
    const argsOf: Record<string, [string, string[]] | undefined> = {
      proxies: f.proxies > 0 ? ['deploy/netns/link-proxies.ts', ['--links', f.links]] : undefined,
      replica:
        h.replicaId !== undefined
          ? ['processes/replica.ts', ['--config', f.cluster, '--node', String(h.replicaId)]]
          : undefined,
      gateway: ['gateway/main.ts', ['--config', f.gateway]],
      broker: [
        'events/broker/main.ts',
        [
          '--data-dir',
          path.join(f.dir, 'broker'),
          '--host',
          addr,
          '--advertised-host',
          addr,
          '--port',
          String(PORTS.broker),
        ],
      ],
      publisher: [
        'events/publisher/main.ts',
        [
          '--cluster',
          f.cluster,
          '--brokers',
          this.brokers,
          '--data-dir',
          path.join(f.dir, 'publisher'),
          '--status-every-ms',
          '1000',
        ],
      ],
      query: ['events/query/main.ts', ['--config', f.gateway, '--brokers', this.brokers]],
    };
    for (const part of parts) {
      const a = argsOf[part];
      if (a === undefined || (part !== 'proxies' && !h.roles.includes(part))) continue;
      const c = spawnTsx(a[0], a[1], {
        name: `${h.name}/${part}`,
        prefix: ['ip', 'netns', 'exec', this.network.ns.get(h.name)!],
        compiled: part !== 'proxies' && this.opts.compiled === true,
        env: { LOG_LEVEL: 'warn' },
        readyTimeoutMs: NETNS_READY_TIMEOUT_MS,
      });
      this.children.set(h.name, [...(this.children.get(h.name) ?? []).filter((x) => x.alive()), c]);
      await c.ready;
    }
  }
}
