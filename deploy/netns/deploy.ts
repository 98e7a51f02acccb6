// The deployment example (deploy/README.md): builds a layout's hosts as network namespaces,
// writes each host's files, starts every process on its host, prints where everything is,
// and tears it all down on Ctrl-C, SIGTERM or any failure.
//
//   sudo npx tsx deploy/netns/deploy.ts --layout dc|regions [--dir DIR] [--net N]
//
// Prints `{"event":"ready",…}` with the gateways' REST URLs, the feeds and the files once up.

import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildDist, Deployment } from './deployment.js';
import { addressOf, hostsWith, layoutByName } from './layouts.js';
import { netnsUnavailable, unusedNet } from './netns.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      layout: { type: 'string', default: 'dc' },
      dir: { type: 'string' },
      net: { type: 'string' },
    },
  });
  const why = netnsUnavailable();
  if (why !== undefined) {
    console.error(`cannot deploy: ${why}`);
    process.exit(2);
  }
  // Default: the first 10.N/16 from 200 up that no interface here uses yet.
  const net = values.net === undefined ? unusedNet(200, 249) : Number(values.net);
  if (!Number.isInteger(net) || net < 1 || net > 254) throw new Error('--net must be an integer in 1..254');
  const layout = layoutByName(values.layout);
  const dir = path.resolve(values.dir ?? mkdtempSync(path.join(os.tmpdir(), `mb-netns-${layout.name}-`)));
  const log = (line: string) => console.error(line);
  buildDist();
  const d = await Deployment.start({ layout, dir, runTag: `mb${process.pid}`, net, log, compiled: true });
  const stop = async (code: number) => {
    await d.stop();
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  try {
    const ready = {
      event: 'ready',
      layout: layout.name,
      dir,
      netem: d.netem,
      hosts: layout.hosts.map((h) => ({ host: h.name, region: h.region, address: addressOf(net, h), runs: h.roles })),
      gateways: hostsWith(layout, 'gateway').map((h) => d.restUrl(h.name)),
      feeds: [...new Set(layout.hosts.map((h) => h.region))].map((r) => d.feedUrl(r)),
      leader: await d.leader(10_000),
    };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  } catch (err) {
    console.error(`FATAL: ${err instanceof Error ? err.message : String(err)}`);
    await stop(1);
  }
}

main().catch((err: unknown) => {
  console.error(`FATAL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
