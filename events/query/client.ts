// Signed clients of the query API (tests, tools): REST with fetch and gRPC with grpc-js, each
// request signed like order entry (api/signing.ts).

import * as grpc from '@grpc/grpc-js';
import { jsonParseExact } from '../../api/json-exact.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import { grpcChannelCredentials, type GrpcClientTls } from '../../ops/grpc-credentials.js';
import { QueryCodec, QueryGrpcServer, queryMethodPath } from './grpc-server.js';

export interface QueryKey {
  key: string;
  hmacSecret: string;
}

const EMPTY = new Uint8Array(0);

export interface QueryRestResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export class QueryRestClient {
  constructor(
    private readonly baseUrl: string,
    private readonly key: QueryKey,
  ) {}

  /** GET `pathAndQuery` (e.g. `/v1/accounts/1/orders?state=all`), signed; the JSON body (parsed exactly: jsonParseExact) and status. */
  async get(pathAndQuery: string, key: QueryKey = this.key): Promise<QueryRestResponse> {
    const auth = signRequest(key, `GET ${pathAndQuery}`, EMPTY);
    const res = await fetch(`${this.baseUrl}${pathAndQuery}`, {
      headers: {
        [HEADER_API_KEY]: auth.apiKey,
        [HEADER_TIMESTAMP]: auth.timestamp,
        [HEADER_SIGNATURE]: auth.signature,
      },
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text === '' ? {} : (jsonParseExact(text) as Record<string, unknown>),
    };
  }
}

export class QueryGrpcClient {
  private readonly client: grpc.Client & Record<string, grpc.requestCallback<unknown> | unknown>;
  private readonly codec = QueryCodec.get();

  /** `tls`: the CA the server's certificate must chain to (and a cert and key for mutual TLS); undefined: plaintext. */
  constructor(
    address: string,
    private readonly key: QueryKey,
    tls?: GrpcClientTls,
  ) {
    const Ctor = QueryGrpcServer.clientConstructor();
    this.client = new Ctor(address, grpcChannelCredentials(tls)) as unknown as grpc.Client & Record<string, unknown>;
  }

  /** Calls `method` with a request given as a plain object (proto field names, enum names in full); resolves with the reply or rejects with the ServiceError. */
  call(method: string, request: Record<string, unknown>, key: QueryKey = this.key): Promise<Record<string, unknown>> {
    const m = this.codec.service.methods[method];
    if (m === undefined) return Promise.reject(new Error(`no method ${method}`));
    const t = this.codec.root.lookupType(m.resolvedRequestType!.fullName.slice(1));
    const body = Buffer.from(t.encode(t.fromObject(request)).finish());
    const auth = signRequest(key, queryMethodPath(method), body);
    const md = new grpc.Metadata();
    md.set(HEADER_API_KEY, auth.apiKey);
    md.set(HEADER_TIMESTAMP, auth.timestamp);
    md.set(HEADER_SIGNATURE, auth.signature);
    const fn = this.client[method] as (
      req: Buffer,
      md: grpc.Metadata,
      cb: (err: grpc.ServiceError | null, v?: Record<string, unknown>) => void,
    ) => void;
    return new Promise((resolve, reject) =>
      fn.call(this.client, body, md, (err, v) => (err !== null ? reject(err) : resolve(v!))),
    );
  }

  close(): void {
    this.client.close();
  }
}
