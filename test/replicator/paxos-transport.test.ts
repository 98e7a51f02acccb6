// Multi-Paxos on the TCP transport: snapshot chunking and reassembly (paxos-snapshot-assembly.ts,
// pure), and two TcpTransports with the Multi-Paxos codec over loopback sockets (OS-chosen
// ports) carrying core messages and a snapshot in several chunks, reassembled byte for byte; a
// Raft HELLO to a Multi-Paxos transport is refused WRONG_PROTOCOL. Waits are bounded polls.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PaxosMessageType, type PaxosMessage } from '../../replicator/paxos/types.js';
import type { PaxosSnapshotChunk, PaxosWireItem } from '../../replicator/transport/paxos-codec.js';
import {
  PaxosSnapshotAssembly,
  toPaxosWireItems,
  type PaxosDelivery,
} from '../../replicator/transport/paxos-snapshot-assembly.js';
import { PROTOCOL_VERSION, encodeHello } from '../../replicator/transport/raft-codec.js';
import { PaxosTransport } from '../../replicator/transport/paxos-transport.js';
import { TcpTransport, type TransportLogFields } from '../../replicator/transport/tcp-transport.js';
import { paxosWireCodec } from '../../replicator/transport/wire-codecs.js';
import { collectLog, type LogRecord } from '../ops/collect-log.js';

const HOST = '127.0.0.1';

function prepare(from: number, to: number, round: number): PaxosMessage {
  return {
    type: PaxosMessageType.PREPARE,
    from,
    to,
    ballot: { round, leader: from },
    index: 0,
    slot: 0,
    values: [],
  };
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 31) & 0xff;
  return b;
}

function snapshot(from: number, to: number, slot: number, data: Uint8Array): PaxosDelivery {
  return { kind: 'snapshot', from, to, slot, data };
}

function chunksOf(d: PaxosDelivery, chunkBytes: number): PaxosSnapshotChunk[] {
  return toPaxosWireItems([d], chunkBytes).map((it) => (it as { chunk: PaxosSnapshotChunk }).chunk);
}

const asItems = (cs: PaxosSnapshotChunk[]): PaxosWireItem[] => cs.map((chunk) => ({ kind: 'snapshotChunk', chunk }));

describe('snapshot chunks and reassembly', () => {
  it('cuts a snapshot into chunks and puts it back together, messages passing through in order', () => {
    const data = bytes(2500, 7);
    const items = toPaxosWireItems(
      [
        { kind: 'message', message: prepare(1, 2, 3) },
        snapshot(1, 2, 40, data),
        { kind: 'message', message: prepare(1, 2, 4) },
      ],
      1000,
    );
    expect(items.map((i) => i.kind)).toEqual(['message', 'snapshotChunk', 'snapshotChunk', 'snapshotChunk', 'message']);
    const a = new PaxosSnapshotAssembly(10_000);
    // One item at a time, as separate socket reads would deliver them.
    const out = items.flatMap((it) => a.receive([it]));
    expect(out).toHaveLength(3);
    expect(out[1]).toEqual(snapshot(1, 2, 40, data));
    expect(a.stats).toEqual({ delivered: 1, refusedTooLarge: 0, dropped: 0 });
    expect(a.bufferedBytes).toBe(0);
  });

  it('keeps senders apart, drops a snapshot with a gap and one replaced by a newer offer', () => {
    const a = new PaxosSnapshotAssembly(10_000);
    const s1 = chunksOf(snapshot(1, 3, 10, bytes(300, 1)), 100);
    const s2 = chunksOf(snapshot(2, 3, 11, bytes(250, 2)), 100);
    // Interleaved senders: both complete.
    const out = a.receive(asItems([s1[0]!, s2[0]!, s1[1]!, s2[1]!, s2[2]!, s1[2]!]));
    expect(out.map((d) => (d.kind === 'snapshot' ? [d.from, d.slot, d.data.byteLength] : []))).toEqual([
      [2, 11, 250],
      [1, 10, 300],
    ]);
    // A gap (the middle chunk lost): nothing delivered, the rest dropped.
    expect(a.receive(asItems([s1[0]!, s1[2]!]))).toEqual([]);
    expect(a.stats.dropped).toBe(1);
    expect(a.bufferedBytes).toBe(0);
    // A newer snapshot's first chunk replaces the one in progress; a stray chunk of the old one is dropped alone.
    const newer = chunksOf(snapshot(1, 3, 20, bytes(150, 3)), 100);
    expect(a.receive(asItems([s1[0]!, newer[0]!, s1[1]!, newer[1]!]))).toEqual([snapshot(1, 3, 20, bytes(150, 3))]);
    expect(a.stats).toEqual({ delivered: 3, refusedTooLarge: 0, dropped: 3 }); // the gap, the replaced offer, its stray chunk
  });

  it('refuses a snapshot over the size limit at its first chunk and holds nothing for it', () => {
    const a = new PaxosSnapshotAssembly(1000);
    const big = chunksOf(snapshot(1, 2, 5, bytes(1001, 4)), 400);
    expect(a.receive(asItems(big.slice(0, 1)))).toEqual([]);
    expect(a.bufferedBytes).toBe(0);
    expect(a.receive(asItems(big.slice(1)))).toEqual([]);
    expect(a.stats).toMatchObject({ delivered: 0, refusedTooLarge: 1 });
    // At the limit exactly: delivered.
    const edge = snapshot(1, 2, 6, bytes(1000, 5));
    expect(a.receive(asItems(chunksOf(edge, 400)))).toEqual([edge]);
  });
});

describe('TcpTransport with the Multi-Paxos codec (real sockets)', () => {
  const open: TcpTransport<PaxosWireItem>[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.stop()));
  });

  function paxosTransport(id: number, peers: Map<number, { host: string; port: number }>) {
    const received: PaxosDelivery[] = [];
    const logs: LogRecord<TransportLogFields>[] = [];
    const assembly = new PaxosSnapshotAssembly(1 << 20);
    const t = new TcpTransport<PaxosWireItem>({
      selfId: id,
      clusterId: 'paxos-test',
      codec: paxosWireCodec(),
      listen: { host: HOST, port: 0 },
      peers,
      onMessages: (items) => received.push(...assembly.receive(items)),
      log: collectLog(logs),
    });
    open.push(t);
    return { t, received, logs };
  }

  it('carries core messages and a snapshot in chunks, reassembled byte for byte', async () => {
    const b = paxosTransport(2, new Map());
    await b.t.start();
    const a = paxosTransport(1, new Map([[2, { host: HOST, port: b.t.port }]]));
    await a.t.start();
    const data = bytes(10_000, 9);
    a.t.send(toPaxosWireItems([{ kind: 'message', message: prepare(1, 2, 1) }, snapshot(1, 2, 77, data)], 3000));
    await waitFor('delivery', () => b.received.length === 2);
    expect(b.received[0]).toMatchObject({ kind: 'message', message: { type: PaxosMessageType.PREPARE, from: 1 } });
    const s = b.received[1]!;
    expect(s.kind === 'snapshot' && s.slot === 77 && Buffer.from(s.data).equals(Buffer.from(data))).toBe(true);
    expect(a.t.stats().messagesSent).toBe(5); // one message + four chunks
  });

  it('refuses a Raft HELLO with WRONG_PROTOCOL', async () => {
    const b = paxosTransport(2, new Map());
    await b.t.start();
    const s = net.connect({ host: HOST, port: b.t.port });
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.write(encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId: 1, clusterId: 'paxos-test' }));
    await closed;
    await waitFor('refusal logged', () => b.logs.some((l) => l.reason === 'WRONG_PROTOCOL'));
    expect(b.received).toEqual([]);
  });
});

describe('PaxosTransport (real sockets): snapshots paced on the peer queue', () => {
  const open: PaxosTransport[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.stop()));
  });

  /** A peer queue of 64 KiB (the newest dropped beyond), chunks of 8 KiB, at most 16 KiB of them queued. */
  function paxosNode(id: number, peers: Map<number, { host: string; port: number }>) {
    const received: PaxosDelivery[] = [];
    const t = new PaxosTransport({
      selfId: id,
      clusterId: 'paxos-test',
      listen: { host: HOST, port: 0 },
      peers,
      onDeliveries: (items) => received.push(...items),
      limits: { peerQueueBytesMax: 64 * 1024 },
      snapshotChunkBytes: 8 * 1024,
      snapshotQueuedBytesMax: 16 * 1024,
      log: collectLog([]),
    });
    open.push(t);
    return { t, received };
  }

  it('delivers a snapshot 16 times the peer queue whole, with messages between its chunks, and ignores re-offers meanwhile', async () => {
    const b = paxosNode(2, new Map());
    await b.t.start();
    const a = paxosNode(1, new Map([[2, { host: HOST, port: b.t.port }]]));
    // Queued before the connection is up: everything waits in the 64 KiB peer queue at first.
    const data = bytes(1024 * 1024, 11);
    a.t.send([snapshot(1, 2, 90, data), { kind: 'message', message: prepare(1, 2, 1) }]);
    a.t.send([snapshot(1, 2, 91, bytes(10, 1))]); // still being queued: ignored
    await a.t.start();
    for (let round = 2; round <= 5; round++) a.t.send([{ kind: 'message', message: prepare(1, 2, round) }]);
    await waitFor('the snapshot', () => b.received.some((d) => d.kind === 'snapshot'));
    await waitFor('the messages', () => b.received.filter((d) => d.kind === 'message').length === 5);
    const snaps = b.received.filter((d) => d.kind === 'snapshot');
    expect(snaps).toHaveLength(1);
    expect(snaps[0]!.slot).toBe(90);
    expect(Buffer.from(snaps[0]!.data).equals(Buffer.from(data))).toBe(true);
    const st = a.t.stats();
    expect(st.droppedMessages).toBe(0); // nothing cut by the queue limit
    expect(st.snapshots).toMatchObject({ sent: 1, offersIgnored: 1 });
    expect(b.t.stats().snapshots).toMatchObject({ delivered: 1, dropped: 0, refusedTooLarge: 0 });
    // Once the first is queued, the next offer goes out.
    a.t.send([snapshot(1, 2, 92, bytes(20_000, 2))]);
    await waitFor('the second snapshot', () => b.received.filter((d) => d.kind === 'snapshot').length === 2);
  });
});

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const stepMs = 10;
  for (let i = 0; i * stepMs < timeoutMs; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
