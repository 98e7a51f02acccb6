// The pure session state machine: inputs with an explicit clock, actions asserted.
import { describe, expect, it } from 'vitest';
import { encodeFix, parseFix } from '../../fix/codec.js';
import { formatUtcTimestamp } from '../../fix/fields.js';
import {
  FIX_GAP_QUEUE_MAX,
  FIX_INBOUND_BURST_MESSAGES_MAX,
  FIX_LOGON_TIMEOUT_MS,
  FIX_LOGOUT_TIMEOUT_MS,
  FIX_TEST_REQUEST_FACTOR,
} from '../../fix/limits.js';
import { type FixField, type FixMessage, fieldOf, type LogonAccepted, MsgType, Tag } from '../../fix/message.js';
import { FixSession, type SessionAction } from '../../fix/session.js';
import type { SessionStoreView, StoredMessage } from '../../fix/session-store.js';

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);

class MemoryStore implements SessionStoreView {
  nextOutSeq = 1;
  nextInSeq = 1;
  readonly messages = new Map<number, Buffer>();
  range(begin: number, end: number): StoredMessage[] {
    return [...this.messages]
      .filter(([s]) => s >= begin && s <= end)
      .sort((a, b) => a[0] - b[0])
      .map(([seqNum, bytes]) => ({ seqNum, bytes }));
  }
  /** What the edge does with the actions. */
  apply(actions: SessionAction[]): void {
    for (const a of actions) {
      if (a.kind === 'persistSeq') {
        this.nextOutSeq = a.nextOut;
        this.nextInSeq = a.nextIn;
      } else if (a.kind === 'store') this.messages.set(a.seqNum, a.bytes);
      else if (a.kind === 'reset') {
        this.messages.clear();
        this.nextOutSeq = 1;
        this.nextInSeq = 1;
      }
    }
  }
}

const ACCEPTED: LogonAccepted = { app: { deliver() {}, close() {} }, account: 1, kind: 'trading' };

function msg(type: string, seq: number, body: FixField[] = [], extra: { nowMs?: number; header?: FixField[] } = {}) {
  const header: FixField[] = [
    [35, type],
    [49, 'CLIENT1'],
    [56, 'MATCHBOOK'],
    [34, String(seq)],
    [52, formatUtcTimestamp(extra.nowMs ?? T0)],
    ...(extra.header ?? []),
  ];
  return parseFix(encodeFix(header, body)) as FixMessage;
}

function logon(seq = 1, reset = false, body: FixField[] = []): FixMessage {
  return msg(MsgType.Logon, seq, [[98, '0'], [108, '30'], ...(reset ? ([[141, 'Y']] as FixField[]) : []), ...body]);
}

function sent(actions: SessionAction[]): FixMessage[] {
  return actions.flatMap((a) => (a.kind === 'send' ? [parseFix(a.bytes) as FixMessage] : []));
}

function kinds(actions: SessionAction[]): string[] {
  return actions.map((a) => (a.kind === 'send' ? `send ${a.msgType}` : a.kind));
}

/** A logged-on session (store numbers as given), and the store. */
function loggedOn(store = new MemoryStore(), logonSeq = store.nextInSeq) {
  const s = new FixSession({ targetCompId: 'MATCHBOOK', nowMs: T0 });
  expect(kinds(s.onMessage(logon(logonSeq), T0))).toEqual(['requestLogon']);
  const actions = s.onLogonResult(ACCEPTED, T0, store);
  store.apply(actions);
  return { s, store, actions };
}

describe('FixSession logon', () => {
  it('answers a Logon with Logon, persisting the numbers before the send', () => {
    const { s, actions } = loggedOn();
    expect(kinds(actions)).toEqual(['persistSeq', 'send A', 'loggedOn', 'persistSeq']);
    const [reply] = sent(actions);
    expect(fieldOf(reply!, Tag.HeartBtInt)).toBe('30');
    expect(fieldOf(reply!, Tag.TargetCompID)).toBe('CLIENT1');
    expect(s.expectedSeqNum).toBe(2);
    expect(s.nextSenderSeqNum).toBe(2);
  });

  it('refuses a first message that is not a Logon, bad HeartBtInt, EncryptMethod, TargetCompID, 141=Y with 34>1', () => {
    const cases: [FixMessage, RegExp][] = [
      [msg('D', 1), /first message must be Logon/],
      [
        msg(MsgType.Logon, 1, [
          [98, '0'],
          [108, '0'],
        ]),
        /HeartBtInt/,
      ],
      [
        msg(MsgType.Logon, 1, [
          [98, '1'],
          [108, '30'],
        ]),
        /EncryptMethod/,
      ],
      [logon(2, true), /ResetSeqNumFlag=Y must have MsgSeqNum 1/],
      [
        msg(
          MsgType.Logon,
          1,
          [
            [98, '0'],
            [108, '30'],
          ],
          { nowMs: T0 - 10 * 60_000 },
        ),
        /SendingTime/,
      ],
    ];
    for (const [m, text] of cases) {
      const s = new FixSession({ targetCompId: 'MATCHBOOK', nowMs: T0 });
      const actions = s.onMessage(m, T0);
      expect(kinds(actions)).toEqual(['send 5', 'disconnect']);
      expect(fieldOf(sent(actions)[0]!, Tag.Text)).toMatch(text);
    }
    const wrongTarget = new FixSession({ targetCompId: 'OTHER', nowMs: T0 });
    const actions = wrongTarget.onMessage(logon(), T0);
    expect(fieldOf(sent(actions)[0]!, Tag.Text)).toBe('TargetCompID must be OTHER');
  });

  it('a refused Logon gets a Logout with the application text', () => {
    const s = new FixSession({ targetCompId: 'MATCHBOOK', nowMs: T0 });
    s.onMessage(logon(), T0);
    const actions = s.onLogonResult({ refused: true, text: 'bad signature' }, T0);
    expect(kinds(actions)).toEqual(['send 5', 'disconnect']);
    expect(fieldOf(sent(actions)[0]!, Tag.Text)).toBe('bad signature');
  });

  it('MsgSeqNum too low on Logon: Logout with FIX text; 141=Y resets both sides to 1', () => {
    const store = new MemoryStore();
    store.nextInSeq = 10;
    store.nextOutSeq = 7;
    const low = new FixSession({ targetCompId: 'MATCHBOOK', nowMs: T0 });
    low.onMessage(logon(5), T0);
    const actions = low.onLogonResult(ACCEPTED, T0, store);
    expect(fieldOf(sent(actions)[0]!, Tag.Text)).toBe('MsgSeqNum too low, expecting 10 but received 5');
    expect(fieldOf(sent(actions)[0]!, Tag.MsgSeqNum)).toBe('7');
    expect(actions.at(-1)?.kind).toBe('disconnect');

    const reset = new FixSession({ targetCompId: 'MATCHBOOK', nowMs: T0 });
    reset.onMessage(logon(1, true), T0);
    const r = reset.onLogonResult(ACCEPTED, T0, store);
    store.apply(r);
    expect(kinds(r)[0]).toBe('reset');
    expect(fieldOf(sent(r)[0]!, Tag.MsgSeqNum)).toBe('1');
    expect(fieldOf(sent(r)[0]!, Tag.ResetSeqNumFlag)).toBe('Y');
    expect([store.nextOutSeq, store.nextInSeq]).toEqual([2, 2]);
  });

  it('MsgSeqNum too high on Logon: accepted, then ResendRequest for the gap', () => {
    const { s, actions } = loggedOn(new MemoryStore(), 4);
    expect(sent(actions).map((m) => m.msgType)).toEqual(['A', '2']);
    const rr = sent(actions)[1]!;
    expect([fieldOf(rr, Tag.BeginSeqNo), fieldOf(rr, Tag.EndSeqNo)]).toEqual(['1', '0']);
    // The gap is filled: 1..3 by a gap fill, then the queued Logon's 4 is consumed.
    s.onMessage(
      msg(
        MsgType.SequenceReset,
        1,
        [
          [123, 'Y'],
          [36, '4'],
        ],
        {
          header: [
            [43, 'Y'],
            [122, formatUtcTimestamp(T0)],
          ],
        },
      ),
      T0,
    );
    expect(s.expectedSeqNum).toBe(5);
  });
});

describe('FixSession before the Logon is answered', () => {
  it('holds what the application sends and what arrives, and handles both after the Logon answer', () => {
    const store = new MemoryStore();
    const s = new FixSession({ targetCompId: 'MATCHBOOK', nowMs: T0 });
    s.onMessage(logon(), T0);
    expect(s.sendApp({ msgType: '8', body: [[11, 'early']] }, T0)).toEqual([]);
    expect(s.onMessage(msg('D', 2, [[11, 'd2']]), T0)).toEqual([]);
    const actions = s.onLogonResult(ACCEPTED, T0, store);
    expect(sent(actions).map((m) => [m.msgType, fieldOf(m, 34)])).toEqual([
      ['A', '1'],
      ['8', '2'],
    ]);
    expect(actions.flatMap((a) => (a.kind === 'deliver' ? [fieldOf(a.msg, 11)] : []))).toEqual(['d2']);
    expect(s.expectedSeqNum).toBe(3);
  });

  it('no Logon within FIX_LOGON_TIMEOUT_MS: disconnect', () => {
    const s = new FixSession({ targetCompId: 'MATCHBOOK', nowMs: T0 });
    expect(kinds(s.onTick(T0 + FIX_LOGON_TIMEOUT_MS - 1))).toEqual([]);
    expect(kinds(s.onTick(T0 + FIX_LOGON_TIMEOUT_MS))).toEqual(['disconnect']);
  });
});

describe('FixSession in session', () => {
  it('heartbeats when idle, TestRequest after 1.2 intervals of silence, disconnect after a second', () => {
    const { s } = loggedOn();
    expect(kinds(s.onTick(T0 + 29_000))).toEqual([]);
    expect(kinds(s.onTick(T0 + 30_000))).toEqual(['persistSeq', 'send 0']);
    const testAt = T0 + 30_000 * FIX_TEST_REQUEST_FACTOR;
    const t = s.onTick(testAt);
    expect(sent(t).map((m) => m.msgType)).toEqual(['1']);
    expect(fieldOf(sent(t)[0]!, Tag.TestReqID)).toBe('TEST-1');
    expect(kinds(s.onTick(testAt + 1000))).toEqual([]);
    expect(kinds(s.onTick(T0 + 2 * 30_000 * FIX_TEST_REQUEST_FACTOR))).toEqual(['disconnect']);
  });

  it('answers TestRequest with a Heartbeat echoing 112, and delivers application messages in order', () => {
    const { s } = loggedOn();
    const hb = sent(s.onMessage(msg(MsgType.TestRequest, 2, [[112, 'abc']]), T0));
    expect(hb.map((m) => [m.msgType, fieldOf(m, 112)])).toEqual([['0', 'abc']]);
    const d = s.onMessage(msg('D', 3, [[11, 'c1']]), T0);
    expect(kinds(d)).toEqual(['deliver', 'persistSeq']);
    expect(s.expectedSeqNum).toBe(4);
  });

  it('a gap: one ResendRequest, queued messages delivered in order once the gap is filled', () => {
    const { s } = loggedOn();
    const a = s.onMessage(msg('D', 4, [[11, 'c4']]), T0);
    expect(sent(a).map((m) => [m.msgType, fieldOf(m, 7), fieldOf(m, 16)])).toEqual([['2', '2', '0']]);
    expect(kinds(s.onMessage(msg('D', 5, [[11, 'c5']]), T0))).toEqual([]);
    const fill = s.onMessage(
      msg('D', 2, [[11, 'c2']], {
        header: [
          [43, 'Y'],
          [122, formatUtcTimestamp(T0)],
        ],
      }),
      T0,
    );
    expect(fill.filter((x) => x.kind === 'deliver')).toHaveLength(1);
    const rest = s.onMessage(msg('D', 3, [[11, 'c3']]), T0);
    const delivered = rest.flatMap((x) => (x.kind === 'deliver' ? [fieldOf(x.msg, 11)] : []));
    expect(delivered).toEqual(['c3', 'c4', 'c5']);
    expect(s.expectedSeqNum).toBe(6);
  });

  it('a gap queue over FIX_GAP_QUEUE_MAX: Logout and disconnect', () => {
    const { s } = loggedOn();
    let last: SessionAction[] = [];
    for (let i = 0; i <= FIX_GAP_QUEUE_MAX && !s.closed; i++) last = s.onMessage(msg('D', 10 + i), T0 + i);
    expect(kinds(last).slice(-2)).toEqual(['send 5', 'disconnect']);
  });

  it('too low without PossDupFlag: Logout; a PossDup duplicate is ignored, without 122 rejected 373=1', () => {
    const { s } = loggedOn();
    s.onMessage(msg('D', 2), T0);
    expect(
      kinds(
        s.onMessage(
          msg('D', 2, [], {
            header: [
              [43, 'Y'],
              [122, formatUtcTimestamp(T0)],
            ],
          }),
          T0,
        ),
      ),
    ).toEqual([]);
    const no122 = sent(s.onMessage(msg('D', 2, [], { header: [[43, 'Y']] }), T0));
    expect(no122.map((m) => [m.msgType, fieldOf(m, 373), fieldOf(m, 371)])).toEqual([['3', '1', '122']]);
    const low = s.onMessage(msg('D', 1), T0);
    expect(fieldOf(sent(low)[0]!, Tag.Text)).toBe('MsgSeqNum too low, expecting 3 but received 1');
    expect(low.at(-1)?.kind).toBe('disconnect');
  });

  it('SequenceReset: gap fill moves forward only; reset mode sets the number, lower is rejected 373=5', () => {
    const { s } = loggedOn();
    s.onMessage(
      msg(MsgType.SequenceReset, 2, [
        [123, 'Y'],
        [36, '10'],
      ]),
      T0,
    );
    expect(s.expectedSeqNum).toBe(10);
    const back = sent(
      s.onMessage(
        msg(MsgType.SequenceReset, 10, [
          [123, 'Y'],
          [36, '5'],
        ]),
        T0,
      ),
    );
    expect(back.map((m) => [m.msgType, fieldOf(m, 373), fieldOf(m, 45)])).toEqual([['3', '5', '10']]);
    expect(s.expectedSeqNum).toBe(11);
    s.onMessage(msg(MsgType.SequenceReset, 999, [[36, '20']]), T0);
    expect(s.expectedSeqNum).toBe(20);
    const lower = sent(
      s.onMessage(
        msg(MsgType.SequenceReset, 1, [
          [123, 'N'],
          [36, '15'],
        ]),
        T0,
      ),
    );
    expect(lower.map((m) => [m.msgType, fieldOf(m, 373)])).toEqual([['3', '5']]);
    expect(s.expectedSeqNum).toBe(20);
  });

  it('wrong comp ids: Reject 373=9 then Logout; SendingTime off: Reject 373=10 then Logout', () => {
    const b = loggedOn().s;
    const bad = parseFix(
      encodeFix(
        [
          [35, 'D'],
          [49, 'OTHER'],
          [56, 'MATCHBOOK'],
          [34, '2'],
          [52, formatUtcTimestamp(T0)],
        ],
        [],
      ),
    ) as FixMessage;
    const r = sent(b.onMessage(bad, T0));
    expect(r.map((m) => [m.msgType, fieldOf(m, 373)])).toEqual([
      ['3', '9'],
      ['5', undefined],
    ]);
    expect(b.closed).toBe(true);
    const c = loggedOn().s;
    const late = sent(c.onMessage(msg('D', 2, [], { nowMs: T0 - 5 * 60_000 }), T0));
    expect(late.map((m) => [m.msgType, fieldOf(m, 373)])).toEqual([
      ['3', '10'],
      ['5', undefined],
    ]);
  });

  it('a validation failure: Reject with 45/371/372/373/58 and the number still advances', () => {
    const store = new MemoryStore();
    const s = new FixSession({
      targetCompId: 'MATCHBOOK',
      nowMs: T0,
      validate: (m) =>
        m.msgType === 'Z'
          ? { reason: 11, text: 'Invalid MsgType' }
          : fieldOf(m, 11) === undefined && m.msgType === 'D'
            ? { reason: 1, refTagId: 11, text: 'Required tag missing' }
            : undefined,
    });
    s.onMessage(logon(), T0);
    store.apply(s.onLogonResult(ACCEPTED, T0, store));
    const r = sent(s.onMessage(msg('D', 2), T0));
    expect(r.map((m) => [fieldOf(m, 45), fieldOf(m, 371), fieldOf(m, 372), fieldOf(m, 373), fieldOf(m, 58)])).toEqual([
      ['2', '11', 'D', '1', 'Required tag missing'],
    ]);
    expect(sent(s.onMessage(msg('Z', 3), T0)).map((m) => fieldOf(m, 373))).toEqual(['11']);
    expect(s.expectedSeqNum).toBe(4);
  });

  it('ResendRequest: stored application messages with 43=Y and 122, admin messages as gap fills', () => {
    const { s, store } = loggedOn();
    const er = (id: string) => ({ msgType: '8', body: [[11, id]] as FixField[] });
    store.apply(s.sendApp(er('a'), T0)); // 2
    store.apply(s.onTick(T0 + 30_000)); // 3 heartbeat
    store.apply(s.sendApp(er('b'), T0 + 30_000)); // 4
    store.apply(s.onMessage(msg(MsgType.TestRequest, 2, [[112, 'x']]), T0 + 30_000)); // 5 heartbeat
    const out = sent(
      s.onMessage(
        msg(
          MsgType.ResendRequest,
          3,
          [
            [7, '1'],
            [16, '0'],
          ],
          { nowMs: T0 + 31_000 },
        ),
        T0 + 31_000,
      ),
    );
    expect(out.map((m) => [m.msgType, fieldOf(m, 34), fieldOf(m, 36) ?? fieldOf(m, 11), fieldOf(m, 43)])).toEqual([
      ['4', '1', '2', 'Y'],
      ['8', '2', 'a', 'Y'],
      ['4', '3', '4', 'Y'],
      ['8', '4', 'b', 'Y'],
      ['4', '5', '6', 'Y'],
    ]);
    expect(fieldOf(out[1]!, 122)).toBe(formatUtcTimestamp(T0));
    expect(fieldOf(out[1]!, 52)).toBe(formatUtcTimestamp(T0 + 31_000));
    expect(s.nextSenderSeqNum).toBe(6);
  });

  it('Logout is answered with Logout; our Logout waits FIX_LOGOUT_TIMEOUT_MS for the answer', () => {
    const a = loggedOn().s;
    expect(kinds(a.onMessage(msg(MsgType.Logout, 2), T0))).toEqual(['persistSeq', 'send 5', 'disconnect']);
    const b = loggedOn().s;
    expect(kinds(b.logout('bye', T0))).toEqual(['persistSeq', 'send 5']);
    expect(kinds(b.onTick(T0 + FIX_LOGOUT_TIMEOUT_MS - 1))).toEqual([]);
    expect(kinds(b.onTick(T0 + FIX_LOGOUT_TIMEOUT_MS))).toEqual(['disconnect']);
  });

  it('a flood over the token bucket: Logout "message rate limit"', () => {
    const { s } = loggedOn();
    let last: SessionAction[] = [];
    let n = 2;
    while (!s.closed && n < 3 * FIX_INBOUND_BURST_MESSAGES_MAX) last = s.onMessage(msg(MsgType.Heartbeat, n++), T0);
    expect(s.closed).toBe(true);
    expect(n).toBeGreaterThan(FIX_INBOUND_BURST_MESSAGES_MAX);
    expect(fieldOf(sent(last).at(-1)!, Tag.Text)).toBe('message rate limit');
  });
});

describe('FixSession parked (the connection ended, acceptor.ts parks the session)', () => {
  it('numbers and stores application messages as a live send would; the next Logon starts past them and resends them', () => {
    const { s, store } = loggedOn();
    expect(s.park()).toBe(true);
    const er = { msgType: MsgType.ExecutionReport, body: [[37, '7'] as FixField, [17, '0-1'] as FixField] };
    const actions = s.sendApp(er, T0 + 1_000);
    expect(kinds(actions)).toEqual(['store', 'persistSeq', 'send 8']);
    store.apply(actions);
    expect(store.nextOutSeq).toBe(3);
    expect(fieldOf(parseFix(store.messages.get(2)!)!, Tag.MsgSeqNum)).toBe('2');
    // Nothing else moves a parked session: no timers, no input.
    expect(s.onTick(T0 + 3_600_000)).toEqual([]);
    expect(s.onMessage(msg(MsgType.Heartbeat, 2), T0)).toEqual([]);

    const next = loggedOn(store, 2);
    expect(fieldOf(sent(next.actions)[0]!, Tag.MsgSeqNum)).toBe('3');
    const resend = sent(
      next.s.onMessage(
        msg(MsgType.ResendRequest, 3, [
          [7, '2'],
          [16, '0'],
        ]),
        T0 + 2_000,
      ),
    );
    expect(resend.map((m) => [m.msgType, fieldOf(m, Tag.MsgSeqNum), fieldOf(m, Tag.PossDupFlag)])).toEqual([
      ['8', '2', 'Y'],
      ['4', '3', 'Y'],
    ]);
  });

  it('a session that never got its store is not parked', () => {
    const s = new FixSession({ targetCompId: 'MATCHBOOK', nowMs: T0 });
    expect(s.park()).toBe(false);
    expect(s.closed).toBe(true);
  });
});
