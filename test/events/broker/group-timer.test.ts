// The broker's group deadline timer (broker.ts armGroupTimer): with no polling tick, a silent
// member is still expired after its session timeout, and a rebalance still completes at its
// deadline when a member does not rejoin — over real TCP, raw requests.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../events/broker/server.js';
import { ApiKey, ErrorCode } from '../../../events/broker/protocol.js';
import { RawClient, removeTmpDirs, tmpDir } from './helpers.js';

/** Session and rebalance timeout the members ask for (ms): short, so the test waits little. */
const TIMEOUT_MS = 300;
const GROUP = 'timer-group';

let running: RunningBroker;
const clients: RawClient[] = [];

beforeEach(async () => {
  running = await startBroker({ dataDir: tmpDir(), port: 0, sessionTimeoutMsMin: 100 });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await running.close();
  removeTmpDirs();
});

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(running.port);
  clients.push(c);
  return c;
}

async function join(
  c: RawClient,
  memberId: string,
): Promise<{ error: number; generation: number; leader: string; memberId: string }> {
  const r = await c.request(ApiKey.JoinGroup, 5, (w) => {
    w.string(GROUP).int32(TIMEOUT_MS).int32(TIMEOUT_MS).string(memberId).nullableString(null).string('consumer');
    w.array(['roundrobin'], (w2, n) => w2.string(n).bytes(Buffer.from('m')));
  });
  r.int32();
  const error = r.int16();
  const generation = r.int32();
  r.string();
  const leader = r.string();
  return { error, generation, leader, memberId: r.string() };
}

async function sync(c: RawClient, generation: number, memberId: string): Promise<number> {
  const r = await c.request(ApiKey.SyncGroup, 3, (w) => {
    w.string(GROUP).int32(generation).string(memberId).nullableString(null);
    w.array([memberId], (w2, id) => w2.string(id).bytes(Buffer.from('a')));
  });
  r.int32();
  return r.int16();
}

async function heartbeat(c: RawClient, generation: number, memberId: string): Promise<number> {
  const r = await c.request(ApiKey.Heartbeat, 3, (w) =>
    w.string(GROUP).int32(generation).string(memberId).nullableString(null),
  );
  r.int32();
  return r.int16();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('group deadline timer', () => {
  it('expires a member that stops heartbeating', async () => {
    const c = await connect();
    const a = await join(c, '');
    expect(a.error).toBe(ErrorCode.NONE);
    expect(await sync(c, a.generation, a.memberId)).toBe(ErrorCode.NONE);
    expect(await heartbeat(c, a.generation, a.memberId)).toBe(ErrorCode.NONE);
    await sleep(TIMEOUT_MS * 4); // silent well past the session timeout
    expect(await heartbeat(c, a.generation, a.memberId)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('completes a rebalance at its deadline without the member that did not rejoin', async () => {
    const ca = await connect();
    const a = await join(ca, '');
    expect(await sync(ca, a.generation, a.memberId)).toBe(ErrorCode.NONE);
    // B joins: a rebalance starts; A never rejoins, so only the deadline can complete B's join.
    const cb = await connect();
    const b = await join(cb, '');
    expect(b.error).toBe(ErrorCode.NONE);
    expect(b.generation).toBe(a.generation + 1);
    expect(b.leader).toBe(b.memberId);
    expect(await heartbeat(ca, a.generation, a.memberId)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });
});
