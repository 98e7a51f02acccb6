// Where every replica-protocol socket is made: the replica↔replica links (tcp-transport.ts, and so
// paxos-transport.ts over it) and the client protocol (server.ts, client.ts here, and the publisher's entry reader in events/).
// Without TLS material a plain node:net socket; with it node:tls, both ways checked against the
// cluster CA (ops/tls-settings.ts): a server with requireClientCert refuses a peer without a
// certificate of that CA during the handshake, before a byte of our protocol is read.
//
// A client verifies the server's certificate against the host it dials (an IP address against
// the certificate's IP SANs, a name against its DNS SANs), or against `serverName` when the
// settings give one (a certificate issued for a name while members are listed by address).

import net from 'node:net';
import tls from 'node:tls';
import type { TlsMaterial } from '../../ops/tls-settings.js';
import { TLS_HANDSHAKE_TIMEOUT_MS } from '../limits.js';

export interface SocketAddress {
  host: string;
  port: number;
}

/**
 * A listening server whose `onSocket` gets each connection: a plain one at once, a TLS one after
 * its handshake (a failed handshake never reaches onSocket; `onTlsError` hears about it).
 */
export function createSocketServer(
  material: TlsMaterial | undefined,
  onSocket: (s: net.Socket) => void,
  onTlsError?: (err: Error, remote: string) => void,
): net.Server {
  if (material === undefined) return net.createServer(onSocket);
  if (material.cert === undefined || material.key === undefined)
    throw new Error('TLS server: cert and key are required');
  const server = tls.createServer(
    {
      cert: material.cert,
      key: material.key,
      ...(material.ca !== undefined ? { ca: material.ca } : {}),
      requestCert: material.requireClientCert,
      rejectUnauthorized: material.requireClientCert,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      minVersion: 'TLSv1.2',
    },
    onSocket,
  );
  server.on('tlsClientError', (err, s) => {
    onTlsError?.(err, `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`);
    s.destroy();
  });
  return server;
}

/** A dialled socket and the event that says it can carry our frames ('connect', or 'secureConnect' once verified). */
export interface DialledSocket {
  socket: net.Socket;
  readyEvent: 'connect' | 'secureConnect';
}

export function connectSocket(addr: SocketAddress, material: TlsMaterial | undefined): DialledSocket {
  if (material === undefined)
    return { socket: net.connect({ host: addr.host, port: addr.port }), readyEvent: 'connect' };
  // SNI carries names only; an address is still checked against the certificate's IP SANs.
  const name = material.serverName ?? (net.isIP(addr.host) === 0 ? addr.host : undefined);
  const socket = tls.connect({
    host: addr.host,
    port: addr.port,
    ...(name !== undefined ? { servername: name } : {}),
    ...(material.ca !== undefined ? { ca: material.ca } : {}),
    ...(material.cert !== undefined ? { cert: material.cert, key: material.key } : {}),
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  return { socket, readyEvent: 'secureConnect' };
}
