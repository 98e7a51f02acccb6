// The user stream's core without sockets (gateway/user-stream.ts): stream_seq is dense per
// account, the ring holds the newest reportsHeldMax reports, a resume plan starts right after
// the resume point when it is held and announces the gap (with where to re-sync) when it is not
// or when the epoch is another run's; and the login parser refuses every malformed login with
// its reason. Checked against a plain list as the reference, over random sequences.

import { describe, expect, it } from 'vitest';
import { UserStreamHub, parseLogin } from '../../gateway/user-stream.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';

/** A report of `account` with engine seq `seq` on shard 0 (only the fields the ring reads matter). */
function report(account: number, seq: number): ExecutionReportOut {
  return { account, seq, order_id: seq, exec_id: seq } as unknown as ExecutionReportOut;
}

/** A small deterministic PRNG (mulberry32): the same sequences on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('UserStreamHub', () => {
  it('holds the newest reports per account under dense stream_seq; resume plans match a plain list', () => {
    const rand = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const held = 1 + Math.floor(rand() * 20);
      const hub = new UserStreamHub({ reportsHeldMax: held, epoch: 'e1' });
      const s = hub.open(1);
      hub.open(2);
      const all: number[] = []; // engine seqs of account 1, in order: the reference
      const n = Math.floor(rand() * 60);
      for (let k = 1; k <= n; k++) {
        const account = rand() < 0.7 ? 1 : 2;
        hub.publish(report(account, k), `c${k}`);
        if (account === 1) all.push(k);
      }
      hub.publish(report(3, 999), 'never opened: not held'); // an account that never logged in
      expect(hub.stream(3)).toBeUndefined();
      expect(s.lastSeq).toBe(all.length);
      const first = Math.max(1, all.length - held + 1);
      expect(s.firstSeq).toBe(first);
      for (let q = 1; q <= all.length; q++) expect(s.get(q)?.report.seq).toBe(q >= first ? all[q - 1] : undefined);
      expect(s.get(all.length + 1)).toBeUndefined();
      // Every resume point of this epoch.
      for (let from = 0; from <= all.length; from++) {
        const plan = hub.plan(s, { fromSeq: from, epoch: 'e1' });
        if (from + 1 >= first) {
          expect(plan).toEqual({ fromSeq: from + 1, gap: undefined });
        } else {
          expect(plan.fromSeq).toBe(first);
          expect(plan.gap).toMatchObject({ epoch_changed: false, missed_from: from + 1, missed_to: first - 1 });
          // min_seq: the newest engine seq among the dropped reports.
          expect(plan.gap!.min_seq).toEqual({ '0': all[first - 2] });
        }
      }
      expect(hub.plan(s, undefined)).toEqual({ fromSeq: all.length + 1, gap: undefined });
      const other = hub.plan(s, { fromSeq: 3, epoch: 'e0' });
      expect(other.fromSeq).toBe(first);
      expect(other.gap).toMatchObject({ epoch: 'e1', epoch_changed: true, missed_from: 1, missed_to: first - 1 });
    }
  });

  it('publishes copies with the chain fields empty, and wakes every reader of the account only', () => {
    const hub = new UserStreamHub({ reportsHeldMax: 4 });
    const s1 = hub.open(1);
    const s2 = hub.open(2);
    let woke1 = 0;
    let woke2 = 0;
    s1.readers.add({ wake: () => woke1++ });
    s2.readers.add({ wake: () => woke2++ });
    const r = { ...report(1, 5), chain_seq: 9, chain_hash: 'h', signature: 's' };
    hub.publish(r, 'c');
    r.signature = 'changed later';
    expect(s1.get(1)!.report).toMatchObject({ chain_seq: 0, chain_hash: '', signature: '' });
    expect([woke1, woke2]).toEqual([1, 0]);
  });
});

describe('parseLogin', () => {
  const good = { op: 'login', api_key: 'k', timestamp: '1767225600000', signature: 'ab' };
  it.each([
    ['not json', 'LOGIN_REQUIRED'],
    ['[]', 'LOGIN_REQUIRED'],
    ['{"op":"ping"}', 'LOGIN_REQUIRED'],
    [JSON.stringify({ ...good, x: 1 }), 'UNKNOWN_FIELD'],
    [JSON.stringify({ ...good, api_key: '' }), 'FIELD_MISSING'],
    [JSON.stringify({ ...good, signature: 5 }), 'FIELD_MISSING'],
    [JSON.stringify({ ...good, timestamp: 1.5 }), 'FIELD_MISSING'],
    [JSON.stringify({ ...good, epoch: 'e' }), 'FIELD_NOT_ALLOWED'],
    [JSON.stringify({ ...good, resume_from: 1 }), 'FIELD_MISSING'],
    [JSON.stringify({ ...good, resume_from: -1, epoch: 'e' }), 'INVALID_INTEGER'],
    [JSON.stringify({ ...good, resume_from: 1.5, epoch: 'e' }), 'INVALID_INTEGER'],
    [JSON.stringify({ ...good, resume_from: '3', epoch: 'e' }), 'INVALID_INTEGER'],
  ])('%s → %s', (text, reason) => {
    const p = parseLogin(text);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.error).toMatchObject({ code: 'INVALID_ARGUMENT', reason });
  });

  it('reads a login, with and without a resume point (timestamp as a string or an integer)', () => {
    expect(parseLogin(JSON.stringify(good))).toEqual({
      ok: true,
      login: { auth: { apiKey: 'k', timestamp: '1767225600000', signature: 'ab' }, resume: undefined },
    });
    const r = parseLogin(JSON.stringify({ ...good, timestamp: 1767225600000, resume_from: 0, epoch: 'e' }));
    expect(r).toMatchObject({
      ok: true,
      login: { auth: { timestamp: '1767225600000' }, resume: { fromSeq: 0, epoch: 'e' } },
    });
  });
});
