// The client protocol's edges, against a fake replica: malformed input gets an error reply
// (or, for an oversized frame, a reply and a closed connection), never a crash; the client
// registers its session, resends unacknowledged requests with the same (clientId, requestSeq),
// in order, to the leader a refusal names, and after a lost session (SESSION_EXPIRED,
// UNKNOWN_SESSION) fails what it had sent and goes on under a new session.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ProposalError,
  ProposalErrorCode,
  type EncodedProposal,
  type NodeStatus,
  type Proposal,
  type ProposalCallback,
  type ProposalReply,
} from '../../replicator/log.js';
import { ApplyOutcome, type ApplyResult } from '../../shard/state-machine.js';
import { FrameReader, JsonFrameReader, encodeFrame, encodeSubmitFrame } from '../../replicator/client/protocol.js';
import { ClientServer, type ClientServerNode } from '../../replicator/client/server.js';
import { ClientRequestError, ReplicaClient, type SubmitResult } from '../../replicator/client/client.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import { NO_LOG } from '../../ops/log.js';

class FakeNode implements ClientServerNode {
  /** Every proposal seen, in arrival order (registrations are clientId 0). */
  readonly seen: { clientId: number; requestSeq: number }[] = [];
  private readonly events = new EventBuffer();
  /** Per registered session: last requestSeq applied (the state machine's session rule). */
  readonly last = new Map<number, number>();
  /** Ids handed out so far (dense, like the state machine's). */
  allocated = 0;
  /** Registrations to leave unanswered (a lost reply), before answering again. */
  dropRegisters = 0;
  constructor(
    readonly id: number,
    public leader: number,
  ) {}
  /** The session is evicted, as the state machine would when the table is full. */
  expire(clientId: number): void {
    this.last.delete(clientId);
  }
  private decide(p: {
    clientId: number;
    requestSeq: number;
    body?: Uint8Array;
  }): ApplyResult | ProposalError | undefined {
    this.seen.push({ clientId: p.clientId, requestSeq: p.requestSeq });
    if (this.leader !== this.id) return new ProposalError(ProposalErrorCode.NOT_LEADER, this.leader);
    const result = (outcome: ApplyOutcome, clientId = p.clientId): ApplyResult => ({
      outcome,
      clientId,
      requestSeq: p.requestSeq,
      appliedIndex: p.requestSeq,
      seq: p.requestSeq,
      eventsFrom: 0,
      eventsTo: 0,
    });
    if (p.clientId === 0 && p.requestSeq === 0 && p.body?.length === 0) {
      if (this.dropRegisters > 0) {
        this.dropRegisters--;
        return undefined;
      }
      this.last.set(++this.allocated, 0);
      return result(ApplyOutcome.REGISTERED, this.allocated);
    }
    const last = this.last.get(p.clientId);
    if (last === undefined)
      return result(
        p.clientId >= 1 && p.clientId <= this.allocated ? ApplyOutcome.SESSION_EXPIRED : ApplyOutcome.UNKNOWN_SESSION,
      );
    let outcome: ApplyOutcome = ApplyOutcome.APPLIED;
    if (p.requestSeq <= last) outcome = ApplyOutcome.DUPLICATE;
    else if (p.requestSeq !== last + 1) outcome = ApplyOutcome.SEQUENCE_GAP;
    else this.last.set(p.clientId, p.requestSeq);
    return result(outcome);
  }
  propose(p: Proposal): Promise<ProposalReply> {
    const r = this.decide(p);
    if (r === undefined) return new Promise(() => undefined);
    return r instanceof ProposalError ? Promise.reject(r) : Promise.resolve({ result: r, events: [] });
  }
  proposeEncoded(p: EncodedProposal, cb: ProposalCallback): void {
    const r = this.decide(p);
    if (r === undefined) return;
    // Like the real node: answered later, when "applied".
    queueMicrotask(() => (r instanceof ProposalError ? cb(r, undefined, undefined) : cb(undefined, r, this.events)));
  }
  status(): NodeStatus {
    return {
      id: this.id,
      role: 'LEADER',
      term: 1,
      leader: this.leader,
      commit: 0,
      applied: 0,
      firstIndex: 1,
      lastIndex: 0,
      snapshotIndex: 0,
      pendingProposals: 0,
      conf: { voters: [this.id], learners: [] },
      logTailLost: false,
      stats: {} as NodeStatus['stats'],
    };
  }
  liveOrder(): never {
    throw new Error('not in the fake');
  }
  ordersDump(): never {
    throw new Error('not in the fake');
  }
}

const servers: ClientServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function serve(node: ClientServerNode, frameBytesMax?: number): Promise<ClientServer> {
  const s = new ClientServer({
    node,
    host: '127.0.0.1',
    port: 0,
    log: NO_LOG,
    ...(frameBytesMax !== undefined ? { frameBytesMax } : {}),
  });
  await s.start();
  servers.push(s);
  return s;
}

/** Writes raw bytes, collects reply frames until `n` arrived or the connection closed. */
function raw(port: number, bytes: Buffer, n: number): Promise<{ replies: Record<string, unknown>[]; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const reader = new JsonFrameReader(1 << 20);
    const replies: Record<string, unknown>[] = [];
    const timer = setTimeout(() => done(false), 5_000);
    let finished = false;
    const done = (closed: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ replies, closed });
    };
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => {
      reader.push(d);
      for (let f = reader.next(); f !== undefined; f = reader.next())
        if (f.ok) replies.push(f.value as Record<string, unknown>);
      if (replies.length >= n) done(false);
    });
    s.on('close', () => done(true));
    s.on('error', () => undefined);
  });
}

function rawFrame(body: string | Buffer, type = 1): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const h = Buffer.alloc(5);
  h.writeUInt32BE(b.length + 1, 0);
  h[4] = type;
  return Buffer.concat([h, b]);
}

describe('frame reader', () => {
  it('returns the same frames however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), body: fc.uint8Array({ maxLength: 300 }) }), {
          maxLength: 20,
        }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 50 }),
        (frames, cuts) => {
          const stream = Buffer.concat(
            frames.map((f) => {
              const h = Buffer.alloc(5);
              h.writeUInt32BE(f.body.length + 1, 0);
              h[4] = f.type;
              return Buffer.concat([h, f.body]);
            }),
          );
          const r = new FrameReader(1 << 20);
          const got: { type: number; body: number[] }[] = [];
          let at = 0;
          for (let k = 0; at < stream.length; k++) {
            const n = cuts[k % cuts.length]!;
            r.push(stream.subarray(at, at + n));
            at += n;
            for (let f = r.next(); f !== undefined; f = r.next()) got.push({ type: f.type, body: [...f.body] });
          }
          expect(got).toEqual(frames.map((f) => ({ type: f.type, body: [...f.body] })));
          expect(r.pendingBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('client server', () => {
  it('answers malformed requests with errors and keeps serving', async () => {
    const node = new FakeNode(1, 1);
    const s = await serve(node);
    const bytes = Buffer.concat([
      encodeFrame({ id: 100, op: 'register' }), // session 1, used by request 5
      rawFrame('{not json'),
      rawFrame('[1,2]'),
      encodeFrame({ id: 1, clientId: 0, requestSeq: 1, command: {} }),
      encodeFrame({ id: 2, clientId: 1, requestSeq: 1.5, command: {} }),
      encodeFrame({ id: 3, clientId: 1, requestSeq: 1, command: 'x' }),
      encodeFrame({ id: 4, op: 'nope' }),
      encodeFrame({ id: 5, clientId: 1, requestSeq: 1, command: { type: 'tick' } }),
      encodeFrame({ id: 6, op: 'status' }),
      rawFrame('x', 9), // unknown frame type
      rawFrame(Buffer.alloc(3), 2), // truncated SUBMIT
      encodeSubmitFrame(0, [{ requestSeq: 1, body: new Uint8Array([1]) }]), // reserved clientId
      encodeSubmitFrame(7, [{ requestSeq: 0, body: new Uint8Array([1]) }]), // bad requestSeq
    ]);
    const { replies } = await raw(s.port, bytes, 13);
    // Replies carry the request id; a status is answered at once, a proposal when applied.
    const byId = (r: Record<string, unknown>) => (typeof r.id === 'number' ? r.id : 0);
    expect(
      [...replies]
        .sort((x, y) => byId(x) - byId(y) || String(x.error).localeCompare(String(y.error)))
        .map((r) => [r.id, r.ok, r.error]),
    ).toEqual([
      [null, false, 'BAD_FRAME_TYPE'],
      [null, false, 'BAD_JSON'],
      [null, false, 'BAD_REQUEST'],
      [null, false, 'BAD_REQUEST'],
      [null, false, 'BAD_REQUEST'],
      [null, false, 'BAD_REQUEST'],
      [1, false, 'BAD_REQUEST'],
      [2, false, 'BAD_REQUEST'],
      [3, false, 'BAD_REQUEST'],
      [4, false, 'BAD_REQUEST'],
      [5, true, undefined],
      [6, true, undefined],
      [100, true, undefined],
    ]);
    expect(replies.find((r) => r.id === 100)).toMatchObject({ ok: true, clientId: 1 });
    expect(node.seen).toEqual([
      { clientId: 0, requestSeq: 0 },
      { clientId: 1, requestSeq: 1 },
    ]);
  });

  it('closes the connection after an oversized frame, with an error reply', async () => {
    const s = await serve(new FakeNode(1, 1), 1024);
    const h = Buffer.alloc(5);
    h.writeUInt32BE(1 << 30, 0);
    h[4] = 2;
    const { replies, closed } = await raw(s.port, Buffer.concat([h, Buffer.alloc(100)]), 2);
    expect(replies[0]).toMatchObject({ ok: false, error: 'FRAME_TOO_LARGE' });
    expect(closed).toBe(true);
    // The server is still up.
    const again = await raw(s.port, encodeFrame({ id: 9, op: 'status' }), 1);
    expect(again.replies[0]).toMatchObject({ id: 9, ok: true });
  });

  it('client: follows the leader hint and resends with the same requestSeq, in order', async () => {
    const a = new FakeNode(1, 2);
    const b = new FakeNode(2, 2);
    const sa = await serve(a);
    const sb = await serve(b);
    const client = new ReplicaClient({
      endpoints: [
        { id: 1, host: '127.0.0.1', port: sa.port },
        { id: 2, host: '127.0.0.1', port: sb.port },
      ],
      retryDelayMs: 1,
      requestTimeoutMs: 60_000, // only the NOT_LEADER hint may cause a resend here, never a stall
    });
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, k) => client.submit({ type: 'tick', k })));
      expect(results.map((r) => r.requestSeq)).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
      expect(results.every((r) => r.node === 2 && r.outcome === 'APPLIED')).toBe(true);
      // Node 1 refused (NOT_LEADER, naming 2): the registration went to node 2, then every
      // request, in order, once, under the session it allocated.
      expect(a.seen).toEqual([{ clientId: 0, requestSeq: 0 }]);
      expect(b.seen[0]).toEqual({ clientId: 0, requestSeq: 0 });
      expect(client.clientId).toBe(1);
      expect(b.seen.slice(1).map((p) => p.requestSeq)).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
      expect(b.seen.slice(1).every((p) => p.clientId === 1)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('client: a lost session fails the requests already sent, for good; the unsent ones and later ones go to a new session', async () => {
    const node = new FakeNode(1, 1);
    const s = await serve(node);
    // A window of 2: of 5 requests submitted at once, 3 wait unsent in the backlog.
    const client = new ReplicaClient({
      endpoints: [{ id: 1, host: '127.0.0.1', port: s.port }],
      windowMax: 2,
      retryDelayMs: 1,
      requestTimeoutMs: 60_000,
    });
    const settle = (p: Promise<SubmitResult>) =>
      p.then(
        (r) => ({ ok: true as const, seq: r.requestSeq }),
        (e: unknown) => ({ ok: false as const, code: (e as ClientRequestError).code }),
      );
    try {
      expect((await client.submit({ type: 'tick' })).requestSeq).toBe(1);
      expect(client.clientId).toBe(1);
      node.expire(1);
      const out = await Promise.all(Array.from({ length: 5 }, () => settle(client.submit({ type: 'tick' }))));
      // Requests 2 and 3 were sent under session 1 and refused: they may have taken effect under
      // it (had they been resends), so they fail and are never resent under another session.
      expect(out).toEqual([
        { ok: false, code: 'SESSION_EXPIRED' },
        { ok: false, code: 'SESSION_EXPIRED' },
        { ok: true, seq: 1 },
        { ok: true, seq: 2 },
        { ok: true, seq: 3 },
      ]);
      expect(client.clientId).toBe(2);
      expect(node.seen.filter((p) => p.clientId === 1).map((p) => p.requestSeq)).toEqual([1, 2, 3]);
      expect(node.seen.filter((p) => p.clientId === 2).map((p) => p.requestSeq)).toEqual([1, 2, 3]);
      expect(client.stats).toMatchObject({ registrations: 2, sessionsLost: 1 });
      expect((await client.submit({ type: 'tick' })).requestSeq).toBe(4);
    } finally {
      client.close();
    }
  });

  it('client: a pinned session the replicas never registered fails UNKNOWN_SESSION; a lost registration is asked again', async () => {
    const node = new FakeNode(1, 1);
    const s = await serve(node);
    const client = new ReplicaClient({
      clientId: 99,
      endpoints: [{ id: 1, host: '127.0.0.1', port: s.port }],
      retryDelayMs: 1,
      requestTimeoutMs: 300,
    });
    try {
      const err = await client.submit({ type: 'tick' }).then(
        () => undefined,
        (e: unknown) => e as ClientRequestError,
      );
      expect(err).toBeInstanceOf(ClientRequestError);
      expect(err!.code).toBe('UNKNOWN_SESSION');
      // The next request registers a session; the first registration's reply is lost, so the
      // client times out, reconnects and registers again.
      node.dropRegisters = 1;
      const r = await client.submit({ type: 'tick' });
      expect(r).toMatchObject({ requestSeq: 1, outcome: 'APPLIED' });
      expect(client.clientId).toBe(1);
      expect(node.seen.filter((p) => p.clientId === 0)).toHaveLength(2);
      expect(client.stats.errors.UNKNOWN_SESSION).toBe(1);
      expect(client.stats.timeouts).toBeGreaterThanOrEqual(1);
    } finally {
      client.close();
    }
  });
});
