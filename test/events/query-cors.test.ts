// CORS on the query service's REST edge over a real server: the browser page is served by the
// gateway (another port, so another origin) and reads this API, signed routes included (their
// x-mb-* headers make the browser preflight with OPTIONS first).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUERY_CORS_MAX_AGE_S } from '../../events/query/limits.js';
import { QueryRestServer } from '../../events/query/rest-server.js';
import { QueryService, type QueryServiceOptions } from '../../events/query/service.js';
import type { ReadModelLag, ReadModelName } from '../../events/read-models/consumer.js';
import { ReadModels } from '../../events/read-models/model.js';
import { exposition, createRegistry } from '../../ops/metrics.js';
import { NO_LOG } from '../../ops/log.js';

const ORIGIN = 'http://127.0.0.1:8080';
let rest: QueryRestServer;
let url: string;

beforeAll(async () => {
  const config = {
    accounts: [{ account: 1, apiKeys: [{ key: 'q-key-1', hmacSecret: 'q-secret-1' }] }],
    adminKeys: [],
    receiveWindowMs: 5_000,
    shards: [{ id: 0, instruments: [] }],
  } as unknown as QueryServiceOptions['config'];
  const lag = {} as Record<ReadModelName, ReadModelLag>;
  const service = new QueryService({ config, source: { model: new ReadModels(), lag: () => lag } });
  const registry = createRegistry('query');
  rest = new QueryRestServer({ service, host: '127.0.0.1', port: 0, log: NO_LOG, metrics: () => exposition(registry) });
  url = `http://127.0.0.1:${await rest.start()}`;
});

afterAll(async () => {
  await rest?.stop();
});

describe('query REST: CORS', () => {
  it('answers a preflight with 204, GET and the signature headers allowed', async () => {
    const res = await fetch(`${url}/v1/accounts/1/orders?state=open`, {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-mb-apikey,x-mb-signature,x-mb-timestamp',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim());
    expect(allowed.sort()).toEqual(['x-mb-apikey', 'x-mb-signature', 'x-mb-timestamp']);
    expect(res.headers.get('access-control-max-age')).toBe(String(QUERY_CORS_MAX_AGE_S));
    expect(await res.text()).toBe('');
  });

  it('lets any origin read every answer: success, refusal, unknown route, wrong method, ops', async () => {
    const answers = await Promise.all([
      fetch(`${url}/v1/time`, { headers: { origin: ORIGIN } }),
      fetch(`${url}/v1/accounts/1/orders`, { headers: { origin: ORIGIN, 'x-mb-apikey': 'q-key-1' } }),
      fetch(`${url}/v1/nope`, { headers: { origin: ORIGIN } }),
      fetch(`${url}/v1/time`, { method: 'POST', headers: { origin: ORIGIN } }),
      fetch(`${url}/metrics`, { headers: { origin: ORIGIN } }),
      fetch(`${url}/readyz`, { headers: { origin: ORIGIN } }),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 401, 404, 405, 200, 200]);
    for (const a of answers) expect(a.headers.get('access-control-allow-origin')).toBe('*');
  });
});
