// gRPC credentials from the one TLS settings shape (ops/tls-settings.ts), for the order-entry and
// query servers (health and reflection share their port, hence their credentials) and their
// clients. Without settings: insecure (the local `npm start`, on 127.0.0.1).

import grpc from '@grpc/grpc-js';
import { loadTlsMaterial, requireServerIdentity, type TlsSettings } from './tls-settings.js';

export function grpcServerCredentials(tls: TlsSettings | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  requireServerIdentity(tls);
  const m = loadTlsMaterial(tls);
  return grpc.ServerCredentials.createSsl(
    tls.requireClientCert ? m.ca! : null,
    [{ private_key: m.key!, cert_chain: m.cert! }],
    tls.requireClientCert,
  );
}

/** What a gRPC client needs for TLS: the CA (PEM; default Node's roots) and, for mutual TLS, its cert and key. */
export interface GrpcClientTls {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
}

export function grpcChannelCredentials(tls: GrpcClientTls | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  const b = (v: Buffer | string | undefined) => (v === undefined ? null : Buffer.from(v));
  return grpc.credentials.createSsl(b(tls.ca), b(tls.key), b(tls.cert));
}
