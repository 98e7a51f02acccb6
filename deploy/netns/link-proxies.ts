// A host's link proxies (deploy/README.md, "What is emulated"): run inside the host's namespace,
// one chaos FaultProxy per cross-region link it dials, listening on 127.0.0.1 there and
// forwarding to the remote host's address with the regions' one-way delay added in each
// direction (never reordering a stream). The kernel here has no sch_netem, so the delay is
// added in user space on the dialing host; the packets still cross this host's veth, the
// bridge and the remote host's veth.
//
//   ip netns exec <ns> node --import tsx deploy/netns/link-proxies.ts --links <links.json>
//
// links.json: [{ "listenPort": 20000, "target": { "host": "10.200.2.1", "port": 7101 }, "delayMs": 5 }, …]
// Prints `{"event":"ready","proxies":N}` once every proxy listens; SIGTERM/SIGINT stops them.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FaultProxy } from '../../chaos/fault-proxy.js';
import { runMain, stopOnSignals } from '../../ops/process.js';
import { Prng } from '../../replicator/prng.js';
import { createLogger } from '../../ops/log.js';
import { NETNS_STOP_GRACE_MS } from './limits.js';
import type { LinkProxySpec } from './layouts.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { links: { type: 'string' } } });
  if (values.links === undefined) {
    console.error('usage: tsx deploy/netns/link-proxies.ts --links <links.json>');
    process.exit(2);
  }
  const links = JSON.parse(readFileSync(values.links, 'utf8')) as LinkProxySpec[];
  const proxies: FaultProxy[] = [];
  for (const [k, l] of links.entries()) {
    const p = new FaultProxy(`link ${l.listenPort}→${l.target.host}:${l.target.port}`, l.target, new Prng(k + 1));
    p.set({ delayMs: l.delayMs });
    await p.start(l.listenPort);
    proxies.push(p);
  }
  process.stdout.write(`${JSON.stringify({ event: 'ready', proxies: proxies.length })}\n`);
  stopOnSignals({
    log: createLogger('link-proxies'),
    timeoutMs: NETNS_STOP_GRACE_MS,
    stop: async () => {
      await Promise.all(proxies.map((p) => p.stop()));
      return undefined;
    },
  });
}

runMain(main);
