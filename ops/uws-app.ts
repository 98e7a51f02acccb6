// The one place a uWebSockets.js app is made, plain or TLS (SSLApp): the gateway's REST and user
// stream, the query service's REST and the feed. The implementation is chosen once per process
// (ops/uws-runtime.ts selectUws): the native binary, or the compat layer (ops/uws-compat/) —
// never the npm package's own JS emulation. Servers take App/SSLApp and the us_* helpers from
// here and only types from 'uWebSockets.js' (lint: biome noRestrictedImports). uWS takes its key
// and certificates as file names only, so a secret from an environment variable is written to a
// 0600 file under the server's data directory and removed when the server stops
// (ops/tls-settings.ts uwsTlsFiles).

import type { AppOptions, TemplatedApp, us_listen_socket, us_socket } from 'uWebSockets.js';
import * as compat from './uws-compat/index.js';
import { type TlsSettings, uwsTlsFiles } from './tls-settings.js';
import { selectUws } from './uws-runtime.js';

/** The part of the uWebSockets.js module matchbook calls: the native exports or the compat layer's. */
export interface UwsModule {
  App(options?: AppOptions): TemplatedApp;
  SSLApp(options: AppOptions): TemplatedApp;
  us_listen_socket_close(listenSocket: us_listen_socket): void;
  us_socket_local_port(socket: us_socket | us_listen_socket): number;
}

/** The selected implementation (decided on first use; throws as selectUws does). */
export function uwsModule(): UwsModule {
  const { runtime, nativeExports } = selectUws();
  return runtime.uws === 'native' ? (nativeExports as UwsModule) : (compat as unknown as UwsModule);
}

/** The port a listen socket is bound to (the real one after listening on port 0). */
export function us_socket_local_port(socket: us_socket | us_listen_socket): number {
  return uwsModule().us_socket_local_port(socket);
}

/** Stops listening (open connections stay; the app's close() ends them). */
export function us_listen_socket_close(listenSocket: us_listen_socket): void {
  uwsModule().us_listen_socket_close(listenSocket);
}

type ListenCb = (listenSocket: us_listen_socket | false) => void | Promise<void>;
/** uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT (the typings lack the host form that takes it). */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
type ListenWithOptions = { listen(host: string, port: number, options: number, cb: ListenCb): TemplatedApp };

/**
 * Listens on host:port and nobody else may. Native uWS sets SO_REUSEPORT unless told otherwise, so
 * a second process on the same port (a gateway left running, an exchange started at an
 * overlapping --port-offset) would also bind, and the kernel would deal it a share of the
 * connections: orders sent to the wrong exchange, or reset when it stops. With the exclusive
 * option the second listen gets `false`, as with node:net (EADDRINUSE). Every uWS server listens
 * through here (test/ops/uws-listen-exclusive.test.ts).
 */
export function listenExclusive(app: TemplatedApp, host: string, port: number, cb: ListenCb): void {
  (app as unknown as ListenWithOptions).listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, cb);
}

/** TLS for a uWS server: the settings, and where env secrets may be written (the process's data dir). */
export interface UwsTls {
  settings: TlsSettings;
  dir: string;
}

export interface UwsAppHandle {
  app: TemplatedApp;
  /** http or https (ws or wss): what clients dial. */
  scheme: 'http' | 'https';
  /** Removes the secret files written for SSLApp (none for file secrets or plain apps); call at stop. */
  release(): void;
}

export function createUwsApp(tls: UwsTls | undefined): UwsAppHandle {
  const uws = uwsModule();
  if (tls === undefined) return { app: uws.App(), scheme: 'http', release: () => undefined };
  const files = uwsTlsFiles(tls.settings, tls.dir);
  try {
    return { app: uws.SSLApp(files.options), scheme: 'https', release: () => files.remove() };
  } catch (err) {
    files.remove();
    throw err;
  }
}
