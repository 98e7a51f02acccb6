// A uWS server owns its port alone (ops/uws-app.ts listenExclusive). Native uWS sets SO_REUSEPORT
// unless told otherwise: a second process on the same port binds too and the kernel deals it a
// share of the connections. Found in CI: an exchange started by one test at a port offset another
// test's exchange was using had a REST request reset ("fetch failed") when the other exchange
// stopped. Real sockets; the native binary where it loads (Node 20), the compat layer always.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { QueryServiceOptions } from '../../events/query/service.js';
import { QueryRestServer } from '../../events/query/rest-server.js';
import { QueryService } from '../../events/query/service.js';
import type { ReadModelLag, ReadModelName } from '../../events/read-models/consumer.js';
import { ReadModels } from '../../events/read-models/model.js';
import { NO_LOG } from '../../ops/log.js';
import * as compat from '../../ops/uws-compat/index.js';
import { createUwsApp, listenExclusive, us_listen_socket_close } from '../../ops/uws-app.js';
import { selectUws } from '../../ops/uws-runtime.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

/** What to close after each test; `closeSocket` is the implementation's own (a native call on a compat socket crashes). */
type Listened = { app: TemplatedApp; ls: us_listen_socket | false; closeSocket: (ls: us_listen_socket) => void };
const opened: Listened[] = [];

function listenWith(
  app: TemplatedApp,
  port: number,
  how: 'exclusive' | 'default',
  closeSocket: (ls: us_listen_socket) => void = us_listen_socket_close,
): Promise<us_listen_socket | false> {
  return new Promise((resolve) => {
    const cb = (ls: us_listen_socket | false) => {
      opened.push({ app, ls, closeSocket });
      resolve(ls);
    };
    if (how === 'exclusive') listenExclusive(app, '127.0.0.1', port, cb);
    else app.listen('127.0.0.1', port, cb);
  });
}

/** A port free now (node:net, closed again at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

afterEach(() => {
  for (const { app, ls, closeSocket } of opened.splice(0)) {
    if (ls !== false) closeSocket(ls);
    (app as TemplatedApp & { close(): void }).close();
  }
});

describe('uWS servers listen exclusively', () => {
  it('a second listen on a port a uWS server holds fails (the selected implementation)', async () => {
    // A named port, as the exchange's are: one the kernel picks (port 0) is never shared anyway.
    const port = await freePort();
    expect(await listenWith(createUwsApp(undefined).app, port, 'exclusive')).not.toBe(false);
    expect(await listenWith(createUwsApp(undefined).app, port, 'exclusive')).toBe(false);
  });

  it('native uWS without the option would share the port: the hazard listenExclusive removes', async () => {
    if (selectUws().runtime.uws !== 'native') return; // the binary loads on Node 20 only
    const port = await freePort();
    expect(await listenWith(createUwsApp(undefined).app, port, 'default')).not.toBe(false);
    expect(await listenWith(createUwsApp(undefined).app, port, 'default')).not.toBe(false);
  });

  it('the compat layer takes the options form of listen and is exclusive too', async () => {
    const app = () => compat.App() as unknown as TemplatedApp;
    const close = compat.us_listen_socket_close as (ls: us_listen_socket) => void;
    const port = await freePort();
    expect(await listenWith(app(), port, 'exclusive', close)).not.toBe(false);
    expect(await listenWith(app(), port, 'exclusive', close)).toBe(false);
  });

  it('a query service started on a port another one holds refuses to start', async () => {
    const make = (port: number) => {
      const config = {
        accounts: [],
        adminKeys: [],
        receiveWindowMs: 5_000,
        shards: [{ id: 0, instruments: [] }],
      } as unknown as QueryServiceOptions['config'];
      const lag = {} as Record<ReadModelName, ReadModelLag>;
      const service = new QueryService({ config, source: { model: new ReadModels(), lag: () => lag } });
      return new QueryRestServer({ service, host: '127.0.0.1', port, log: NO_LOG });
    };
    const port = await freePort();
    const a = make(port);
    expect(await a.start()).toBe(port);
    try {
      await expect(make(port).start()).rejects.toThrow(`query REST: cannot listen on 127.0.0.1:${port}`);
    } finally {
      await a.stop();
    }
  });

  it('every uWS server listens through listenExclusive', () => {
    for (const file of ['gateway/rest-server.ts', 'feed/feed-server.ts', 'events/query/rest-server.ts']) {
      const src = readFileSync(path.join(REPO_ROOT, file), 'utf8');
      expect(src, file).toContain('listenExclusive(app,');
      expect(src, file).not.toMatch(/\bapp\.listen\(/);
    }
  });
});
