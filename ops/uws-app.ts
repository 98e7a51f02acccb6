// The one place a uWebSockets.js app is made, plain or TLS (SSLApp): the gateway's REST and user
// stream, the query service's REST and the feed. uWS takes its key and certificates as file
// names only, so a secret from an environment variable is written to a 0600 file under the
// server's data directory and removed when the server stops (ops/tls-settings.ts uwsTlsFiles).

import uWS, { type TemplatedApp } from 'uWebSockets.js';
import { type TlsSettings, uwsTlsFiles } from './tls-settings.js';

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
  if (tls === undefined) return { app: uWS.App(), scheme: 'http', release: () => undefined };
  const files = uwsTlsFiles(tls.settings, tls.dir);
  try {
    return { app: uWS.SSLApp(files.options), scheme: 'https', release: () => files.remove() };
  } catch (err) {
    files.remove();
    throw err;
  }
}
