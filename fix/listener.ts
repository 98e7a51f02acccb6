// The acceptor's listening socket: plain TCP (node:net), or TLS (node:tls) when the gateway
// config has `tls` — the same settings, and the same client-certificate rule, as the gateway's
// gRPC and REST ports (ops/tls-settings.ts). Kept apart from acceptor.ts so the connection
// handling there sees a plain net.Socket either way (a TLSSocket is one), handed over only once
// its handshake is done.

import net from 'node:net';
import tls from 'node:tls';
import type { Log } from '../ops/log.js';
import { loadTlsMaterial, requireServerIdentity, type TlsSettings } from '../ops/tls-settings.js';
import { FIX_TLS_HANDSHAKE_TIMEOUT_MS, FIX_TLS_HANDSHAKES_MAX } from './limits.js';

export interface FixListenerOptions {
  /** TLS settings (the gateway config's `tls`); undefined: plain TCP. */
  tls: TlsSettings | undefined;
  /** Connections the acceptor keeps at once (its own limit); TLS adds FIX_TLS_HANDSHAKES_MAX for handshakes. */
  connectionsMax: number;
  /** Handshakes in progress beyond connectionsMax; default FIX_TLS_HANDSHAKES_MAX (tests lower it). */
  tlsHandshakesMax?: number | undefined;
  log: Log;
}

/**
 * A server that hands each connection to `onSocket`: at once for TCP, after a completed handshake
 * for TLS. A failed handshake (plaintext on the TLS port, a client certificate missing or from
 * another CA, a client silent past FIX_TLS_HANDSHAKE_TIMEOUT_MS) never reaches `onSocket`: it is
 * logged at debug and that socket is destroyed; nothing else is affected. Secrets are read here
 * (at start): a missing file stops the start with its name.
 */
export function createFixListener(opts: FixListenerOptions, onSocket: (socket: net.Socket) => void): net.Server {
  if (opts.tls === undefined) return net.createServer(onSocket);
  requireServerIdentity(opts.tls);
  const material = loadTlsMaterial(opts.tls);
  const server = tls.createServer(
    {
      key: material.key,
      cert: material.cert,
      // As the gRPC port: the CA is used only to check client certificates, when they are required.
      ...(opts.tls.requireClientCert ? { ca: material.ca, requestCert: true, rejectUnauthorized: true } : {}),
      handshakeTimeout: FIX_TLS_HANDSHAKE_TIMEOUT_MS,
    },
    onSocket,
  );
  server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    opts.log.debug('fix tls handshake failed', { remote: socket.remoteAddress, err: String(err) });
    socket.destroy();
  });
  // Sockets still in their handshake are not yet the acceptor's connections: node bounds all of
  // them, closing one more at accept ('drop').
  server.maxConnections = opts.connectionsMax + (opts.tlsHandshakesMax ?? FIX_TLS_HANDSHAKES_MAX);
  server.on('drop', (data?: { remoteAddress?: string }) =>
    opts.log.warn('fix connection refused: FIX_CONNECTIONS_MAX + FIX_TLS_HANDSHAKES_MAX', {
      remote: data?.remoteAddress,
    }),
  );
  return server;
}
