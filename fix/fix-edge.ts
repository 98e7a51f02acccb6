// The FIX acceptor as a gateway process runs it (processes/local-exchange.ts for `npm start`,
// gateway/main.ts for a gateway alone): the application over the gateway core, every incoming
// message checked against the FIX 4.4 dictionary, the sessions' stores under the gateway's data
// directory (`<dataDir>/fix/`), listening on the config's `fix.listen`, over TLS when the gateway
// config has `tls` (like its REST and gRPC ports).

import path from 'node:path';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { Log } from '../ops/log.js';
import { FixAcceptor } from './acceptor.js';
import { createFixApplication, type FixCore } from './application.js';
import { fix44Dictionary } from './dictionary.js';
import { validateFix } from './validate.js';

export interface FixEdge {
  acceptor: FixAcceptor;
  /** The port it listens on (the wanted one, or the kernel's for 0). */
  port: number;
  /** `host:port` clients connect to. */
  address: string;
}

/** Starts the acceptor on `portWanted` (default: the config's `fix.listen` port; 0 = a free one). */
export async function startFixEdge(opts: {
  core: FixCore;
  config: GatewayConfig;
  log: Log;
  portWanted?: number;
}): Promise<FixEdge> {
  const { core, config, log } = opts;
  const dict = fix44Dictionary();
  const acceptor = new FixAcceptor({
    host: config.fix.listen.host,
    port: opts.portWanted ?? config.fix.listen.port,
    targetCompId: config.fix.targetCompId,
    storeDir: path.join(config.dataDir, 'fix'),
    application: createFixApplication({ core, targetCompId: config.fix.targetCompId, config: config.fix, log }),
    validate: (msg) => validateFix(dict, msg),
    // One switch for every port of the gateway: with the config's `tls`, FIX is TLS too, as REST and gRPC.
    tls: config.tls,
    log,
  });
  const port = await acceptor.start();
  return { acceptor, port, address: `${config.fix.listen.host}:${port}` };
}
