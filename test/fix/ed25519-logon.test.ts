// A FIX Logon signed with an Ed25519 API key (fix/README.md "Connecting": base64 Ed25519 in 96
// RawData, the same canonical form as every other edge), over a real socket to the acceptor as a
// gateway process runs it (fix/fix-edge.ts) in front of a real gateway and replica: logged on and
// trading; the same Logon signed by another key refused with a Logout naming the error.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519PrivateKeyFromSeed, ed25519RawPublicKey } from '../../api/signing.js';
import type { FixCore } from '../../fix/application.js';
import { formatUtcTimestamp } from '../../fix/fields.js';
import { type FixEdge, startFixEdge } from '../../fix/fix-edge.js';
import { fieldOf, MsgType, Tag } from '../../fix/message.js';
import { NO_LOG } from '../../ops/log.js';
import { type InProcessExchange, startInProcessExchange } from '../fuzz/harness.js';
import { TestInitiator } from './initiator.js';

const ED_PRIV = ed25519PrivateKeyFromSeed(randomBytes(32).toString('base64'));
const OTHER_PRIV = ed25519PrivateKeyFromSeed(randomBytes(32).toString('base64'));
const ED_KEY = 'fix-ed-3';
const WAIT_MS = 20_000;

let ex: InProcessExchange;
let edge: FixEdge;

beforeAll(async () => {
  ex = await startInProcessExchange({
    accounts: [
      {
        account: 3,
        apiKeys: [{ key: ED_KEY, ed25519PublicKey: ed25519RawPublicKey(ED_PRIV) }] as never,
        risk: {
          maxOrderQty: 1_000_000,
          maxNotional: 10_000_000_000_000,
          maxOpenOrders: 1_000,
          ratePerSec: 1_000,
          burst: 1_000,
        },
      },
    ],
  });
  edge = await startFixEdge({ core: ex.gateway as FixCore, config: ex.config, log: NO_LOG, portWanted: 0 });
}, 60_000);

afterAll(async () => {
  await edge?.acceptor.stop();
  await ex?.stop();
});

describe('a FIX Logon signed with an Ed25519 key', () => {
  it('logs on and trades', async () => {
    const ini = await TestInitiator.connect({ port: edge.port, senderCompId: 'ED1' });
    ini.logon({ apiKey: ED_KEY, signer: { ed25519: ED_PRIV } });
    await ini.waitForType(MsgType.Logon, WAIT_MS);
    ini.send(MsgType.NewOrderSingle, [
      [11, 'ed-1'],
      [55, 'BTC-USD'],
      [54, '1'],
      [60, formatUtcTimestamp(Date.now())],
      [38, '0.0001'],
      [40, '2'],
      [44, '49000.00'],
      [59, '1'],
    ]);
    const er = await ini.waitFor((m) => m.msgType === MsgType.ExecutionReport, WAIT_MS);
    expect([fieldOf(er, 150), fieldOf(er, 1), fieldOf(er, 11)]).toEqual(['0', '3', 'ed-1']);
    ini.close();
  });

  it('signed by another key: Logout naming the error, then disconnect', async () => {
    const ini = await TestInitiator.connect({ port: edge.port, senderCompId: 'ED2' });
    ini.logon({ apiKey: ED_KEY, signer: { ed25519: OTHER_PRIV } });
    const out = await ini.waitForType(MsgType.Logout, WAIT_MS);
    expect(fieldOf(out, Tag.Text)).toMatch(/UNAUTHENTICATED/);
    await ini.waitClosed(WAIT_MS);
  });
});
