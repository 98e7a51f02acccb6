// A start of the local exchange (processes/local-exchange.ts, what `npm start` and most process
// tests run) that fails after its replica processes are up leaves nothing running: found when a
// test's gateway config was refused (a drop-copy grant naming an account the test had removed) and
// its three replicas stayed alive after the test, holding ports and CPU. Real processes: the
// replicas are this process's children, counted with ps.

import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startLocalExchange } from '../../processes/local-exchange.js';
import { freePort } from '../../replicator/process-cluster.js';

/** This process's live replica children (processes/replica.ts), by pid. */
function replicaChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes('processes/replica'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** Polls (generous bound) until no replica child is left. */
async function noReplicaLeft(): Promise<number[]> {
  const deadline = Date.now() + 30_000;
  let left = replicaChildren();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = replicaChildren();
  }
  return left;
}

describe('a failed start of the local exchange', () => {
  it('a refused gateway config stops the replicas it had started', async () => {
    expect(replicaChildren()).toEqual([]);
    await expect(startLocalExchange({ gatewayOverrides: { fix: { targetCompId: 'not a comp id' } } })).rejects.toThrow(
      /fix\.targetCompId/,
    );
    expect(await noReplicaLeft()).toEqual([]);
  }, 120_000);

  it('a port already taken stops the replicas and the edges already listening', async () => {
    const held = net.createServer();
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', () => r()));
    const heldPort = (held.address() as net.AddressInfo).port;
    const restPort = await freePort();
    try {
      await expect(
        startLocalExchange({ restPort, gatewayOverrides: { fix: { listen: `127.0.0.1:${heldPort}` } } }),
      ).rejects.toThrow(/EADDRINUSE/);
      expect(await noReplicaLeft()).toEqual([]);
      // The REST edge had listened before the FIX port failed: its port is free again.
      const again = net.createServer();
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.listen(restPort, '127.0.0.1', () => resolve());
      });
      await new Promise<void>((r) => again.close(() => r()));
    } finally {
      await new Promise<void>((r) => held.close(() => r()));
    }
  }, 120_000);
});
