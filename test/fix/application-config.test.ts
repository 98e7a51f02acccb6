// The gateway config's "fix" section (config/gateway-config.ts): defaults, and the clear errors
// of a bad listen address, CompID or drop-copy grant (a grant must name an admin key and
// configured accounts: operators grant drop copy, not clients).

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadGatewayConfig, parseGatewayConfig } from '../../config/gateway-config.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

const dir = path.join(REPO_ROOT, 'gateway/examples');

function parse(fix: unknown) {
  return parseGatewayConfig(
    {
      shards: [{ id: 0, clusterConfig: path.join(REPO_ROOT, 'replicator/examples/cluster-3-local.json') }],
      accounts: [{ account: 1, apiKeys: [{ key: 'k1', hmacSecret: 's1' }] }],
      adminKeys: [{ key: 'adm', hmacSecret: 'sa' }],
      ...(fix === undefined ? {} : { fix }),
    },
    dir,
  );
}

describe('gateway config: fix', () => {
  it('defaults to 127.0.0.1:9878, MATCHBOOK and no drop copy', () => {
    expect(parse(undefined).fix).toEqual({
      listen: { host: '127.0.0.1', port: 9878 },
      targetCompId: 'MATCHBOOK',
      dropCopy: [],
    });
  });

  it('reads the example file: demo-admin copies accounts 1 and 2', () => {
    const c = loadGatewayConfig(path.join(dir, 'gateway-local.json'));
    expect(c.fix).toEqual({
      listen: { host: '127.0.0.1', port: 9878 },
      targetCompId: 'MATCHBOOK',
      dropCopy: [{ apiKey: 'demo-admin', accounts: [1, 2] }],
    });
  });

  it('refuses a bad CompID, a grant to a non-admin key, twice, or of an unknown account', () => {
    expect(() => parse({ targetCompId: 'A=B' })).toThrow(/fix.targetCompId must be 1-64 characters/);
    expect(() => parse({ dropCopy: [{ apiKey: 'k1', accounts: [1] }] })).toThrow(
      /fix.dropCopy\[0\].apiKey must be one of adminKeys/,
    );
    expect(() =>
      parse({
        dropCopy: [
          { apiKey: 'adm', accounts: [1] },
          { apiKey: 'adm', accounts: [1] },
        ],
      }),
    ).toThrow(/granted twice/);
    expect(() => parse({ dropCopy: [{ apiKey: 'adm', accounts: [7] }] })).toThrow(/7 is not a configured account/);
    expect(() => parse({ dropCopy: [{ apiKey: 'adm', accounts: [] }] })).toThrow(/non-empty array/);
    expect(() => parse({ listen: 'nowhere' })).toThrow(/fix.listen/);
  });
});
