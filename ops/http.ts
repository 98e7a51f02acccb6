// A small HTTP endpoint for processes that have no HTTP server of their own (replicas, the
// publisher, the broker): GET /metrics (Prometheus), /healthz (alive) and /readyz (ready to
// serve, as the process defines it). node:http is plenty for a scrape every few seconds.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exposition, type Registry } from './metrics.js';

/** Requests served at once at most; beyond, 503 (a scrape storm must not hurt the process). */
export const OPS_HTTP_CONCURRENT_MAX = 16;

export interface OpsHttpOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Readiness: `ready` false answers 503 with the detail as JSON. */
  ready?: () => { ready: boolean } & Record<string, unknown>;
}

export interface OpsHttp {
  port: number;
  close(): Promise<void>;
}

export function startOpsHttp(opts: OpsHttpOptions): Promise<OpsHttp> {
  let busy = 0;
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'text/plain', 'GET only\n');
    if (busy >= OPS_HTTP_CONCURRENT_MAX) return send(503, 'text/plain', 'busy\n');
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/healthz') return send(200, 'text/plain', 'ok');
    if (url === '/readyz') {
      const r = opts.ready?.() ?? { ready: true };
      return send(r.ready ? 200 : 503, 'application/json', JSON.stringify(r));
    }
    if (url === '/metrics') {
      busy++;
      exposition(opts.registry)
        .then(
          (m) => send(200, m.contentType, m.body),
          (err: unknown) => send(500, 'text/plain', `metrics: ${String(err)}\n`),
        )
        .finally(() => busy--);
      return;
    }
    send(404, 'text/plain', 'not found\n');
  });
  server.maxConnections = OPS_HTTP_CONCURRENT_MAX * 4;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
