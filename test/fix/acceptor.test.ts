// The FIX acceptor over real sockets: the TCP edge, the session layer and the store together,
// with a fake application that echoes an ExecutionReport for each NewOrderSingle.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FixAcceptor } from '../../fix/acceptor.js';
import { encodeFix } from '../../fix/codec.js';
import { formatUtcTimestamp } from '../../fix/fields.js';
import { type FixField, type FixMessage, fieldOf, MsgType, Tag } from '../../fix/message.js';
import { linesLog, type Log } from '../../ops/log.js';
import { echoApplication } from './echo-application.js';
import { type LogonOptions, TestInitiator } from './initiator.js';

const SECRETS = { 'key-1': 'secret-1' };
const LOGON: LogonOptions = { apiKey: 'key-1', signer: { hmacSecret: 'secret-1' } };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const errors: string[] = [];
const log: Log = linesLog((line) => {
  if (line.startsWith('ERROR')) errors.push(line);
});

async function startAcceptor(storeDir?: string) {
  const dir = storeDir ?? mkdtempSync(path.join(os.tmpdir(), 'fix-acceptor-'));
  if (storeDir === undefined) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const application = echoApplication(SECRETS);
  const acceptor = new FixAcceptor({ host: '127.0.0.1', port: 0, storeDir: dir, application, log });
  const port = await acceptor.start();
  cleanups.push(() => acceptor.stop());
  return { acceptor, port, application, dir };
}

async function connect(port: number, senderCompId = 'CLIENT1'): Promise<TestInitiator> {
  const ini = await TestInitiator.connect({ port, senderCompId });
  cleanups.push(() => ini.close());
  return ini;
}

const nos = (id: string): FixField[] => [
  [11, id],
  [55, 'BTC-USD'],
  [54, '1'],
  [38, '1.5'],
  [40, '2'],
  [44, '50000.25'],
];

const isEr = (id: string) => (m: FixMessage) => m.msgType === MsgType.ExecutionReport && fieldOf(m, 11) === id;

describe('FixAcceptor', () => {
  it('logs on, answers a D with the application ExecutionReport, heartbeats and answers TestRequest', async () => {
    const { port } = await startAcceptor();
    const ini = await connect(port);
    ini.logon({ ...LOGON, heartBtIntS: 1, resetSeqNum: true });
    const reply = await ini.waitForType(MsgType.Logon);
    expect([fieldOf(reply, Tag.MsgSeqNum), fieldOf(reply, Tag.TargetCompID), fieldOf(reply, 108)]).toEqual([
      '1',
      'CLIENT1',
      '1',
    ]);
    ini.send(MsgType.NewOrderSingle, nos('c1'));
    const er = await ini.waitFor(isEr('c1'));
    expect([fieldOf(er, 150), fieldOf(er, 38), fieldOf(er, 34)]).toEqual(['0', '1.5', '2']);
    ini.send(MsgType.TestRequest, [[112, 'ping-1']]);
    await ini.waitFor((m) => m.msgType === MsgType.Heartbeat && fieldOf(m, 112) === 'ping-1');
    // Silent for more than HeartBtInt: the acceptor heartbeats, then asks with a TestRequest.
    const test = await ini.waitForType(MsgType.TestRequest, 20_000);
    ini.send(MsgType.Heartbeat, [[112, fieldOf(test, 112) ?? '']]);
    ini.send(MsgType.Logout, []);
    await ini.waitForType(MsgType.Logout);
    await ini.waitClosed();
  });

  it('refuses a bad signature, and a second live connection of the same session', async () => {
    const { port } = await startAcceptor();
    const bad = await connect(port);
    bad.logon({ ...LOGON, signer: { hmacSecret: 'wrong' }, resetSeqNum: true });
    expect(fieldOf(await bad.waitForType(MsgType.Logout), Tag.Text)).toBe('bad signature');
    await bad.waitClosed();
    const first = await connect(port);
    first.logon({ ...LOGON, resetSeqNum: true });
    await first.waitForType(MsgType.Logon);
    const second = await connect(port);
    second.logon({ ...LOGON });
    expect(fieldOf(await second.waitForType(MsgType.Logout), Tag.Text)).toBe('session already logged on');
    await second.waitClosed();
    first.send(MsgType.NewOrderSingle, nos('still-here'));
    await first.waitFor(isEr('still-here'));
  });

  it('resends stored application messages with PossDupFlag, admin messages as gap fills', async () => {
    const { port } = await startAcceptor();
    const ini = await connect(port);
    ini.logon({ ...LOGON, resetSeqNum: true });
    await ini.waitForType(MsgType.Logon);
    ini.send(MsgType.TestRequest, [[112, 't']]); // our 2 → their Heartbeat 2
    await ini.waitForType(MsgType.Heartbeat);
    ini.send(MsgType.NewOrderSingle, nos('a')); // their ER 3
    await ini.waitFor(isEr('a'));
    const from = ini.received.length;
    ini.send(MsgType.ResendRequest, [
      [7, '1'],
      [16, '0'],
    ]);
    await ini.waitFor((m) => fieldOf(m, 43) === 'Y' && m.msgType === MsgType.ExecutionReport, 15_000, from);
    const resent = ini.received.slice(from);
    expect(resent.map((m) => [m.msgType, fieldOf(m, 34), fieldOf(m, 36) ?? fieldOf(m, 11), fieldOf(m, 43)])).toEqual([
      ['4', '1', '3', 'Y'],
      ['8', '3', 'a', 'Y'],
    ]);
    expect(fieldOf(resent[1]!, 122)).toBeDefined();
  });

  it('keeps sequence numbers across an acceptor restart; too-low MsgSeqNum is answered with Logout', async () => {
    const first = await startAcceptor();
    const a = await connect(first.port);
    a.logon({ ...LOGON, resetSeqNum: true }); // 1
    await a.waitForType(MsgType.Logon); // their 1
    a.send(MsgType.NewOrderSingle, nos('x')); // 2 → ER 2
    await a.waitFor(isEr('x'));
    await first.acceptor.stop(); // Logout 3 from the acceptor
    await a.waitClosed();
    const second = await startAcceptor(first.dir);
    const b = await connect(second.port);
    b.nextSeqNum = 3; // our Logout answer never went: 3 is next
    b.logon({ ...LOGON });
    const reply = await b.waitForType(MsgType.Logon);
    expect(fieldOf(reply, Tag.MsgSeqNum)).toBe('4');
    b.send(MsgType.NewOrderSingle, nos('y'));
    expect(fieldOf(await b.waitFor(isEr('y')), Tag.MsgSeqNum)).toBe('5');
    // The ExecutionReport sent before the restart is resent from the persisted store.
    const from = b.received.length;
    b.send(MsgType.ResendRequest, [
      [7, '2'],
      [16, '3'],
    ]);
    const resent = await b.waitFor((m) => fieldOf(m, 43) === 'Y' && m.msgType === MsgType.SequenceReset, 15_000, from);
    const again = b.received.slice(from);
    expect(again.map((m) => [m.msgType, fieldOf(m, 34), fieldOf(m, 11) ?? fieldOf(m, 36)])).toEqual([
      ['8', '2', 'x'],
      ['4', '3', '4'],
    ]);
    expect(fieldOf(resent, 123)).toBe('Y');
    b.close();
    await b.waitClosed();
    const c = await connect(second.port);
    c.nextSeqNum = 2;
    c.logon({ ...LOGON });
    const logout = await c.waitForType(MsgType.Logout);
    expect(fieldOf(logout, Tag.Text)).toBe('MsgSeqNum too low, expecting 6 but received 2');
    await c.waitClosed();
  });

  it('persists the outgoing number of a reply sent from inside deliver (no Logout to write it again)', async () => {
    const first = await startAcceptor();
    const a = await connect(first.port);
    a.logon({ ...LOGON, resetSeqNum: true }); // 1 → their Logon 1
    await a.waitForType(MsgType.Logon);
    a.send(MsgType.NewOrderSingle, nos('p')); // 2 → ER 2, sent by the application inside deliver()
    await a.waitFor(isEr('p'));
    a.close(); // dropped: no Logout, so nothing else is written for this session
    await a.waitClosed();
    await first.acceptor.stop();
    const second = await startAcceptor(first.dir);
    const b = await connect(second.port);
    b.nextSeqNum = 3;
    b.logon({ ...LOGON });
    expect(fieldOf(await b.waitForType(MsgType.Logon), Tag.MsgSeqNum)).toBe('3');
  });

  it('writes messages in MsgSeqNum order when the application answers while a gap queue drains', async () => {
    const { port } = await startAcceptor();
    const ini = await connect(port);
    ini.logon({ ...LOGON, resetSeqNum: true });
    await ini.waitForType(MsgType.Logon);
    ini.send(MsgType.NewOrderSingle, nos('q3'), { seqNum: 3 });
    ini.send(MsgType.TestRequest, [[112, 'q4']], { seqNum: 4 });
    await ini.waitForType(MsgType.ResendRequest);
    ini.send(MsgType.NewOrderSingle, nos('q2'), { seqNum: 2 }); // fills the gap: 2, 3, 4 are handled at once
    await ini.waitFor((m) => m.msgType === MsgType.Heartbeat && fieldOf(m, 112) === 'q4');
    await ini.waitFor(isEr('q3'));
    const seqNums = ini.received.map((m) => Number(fieldOf(m, Tag.MsgSeqNum)));
    expect(seqNums).toEqual(seqNums.map((_, i) => i + 1));
  });

  it('drops garbled frames (bad CheckSum, bad BodyLength, random bytes) and the session goes on', async () => {
    const { port } = await startAcceptor();
    const ini = await connect(port);
    ini.logon({ ...LOGON, resetSeqNum: true });
    await ini.waitForType(MsgType.Logon);
    const good = ini.encode(MsgType.NewOrderSingle, nos('g1'), { seqNum: 2 });
    const badSum = Buffer.from(good);
    badSum[badSum.length - 2] = badSum[badSum.length - 2] === 0x30 ? 0x31 : 0x30;
    const text = good.toString('latin1');
    const lengthAt = text.indexOf('\x019=') + 3;
    const badLength = Buffer.from(
      `${text.slice(0, lengthAt)}12${text.slice(text.indexOf('\x01', lengthAt))}`,
      'latin1',
    );
    ini.sendRaw(Buffer.concat([badSum, Buffer.from('\x00\xffnot fix at all\x01'), badLength]));
    ini.nextSeqNum = 2;
    ini.send(MsgType.NewOrderSingle, nos('g2'));
    const er = await ini.waitFor(isEr('g2'));
    expect(ini.received.some(isEr('g1'))).toBe(false);
    expect(ini.received.some((m) => m.msgType === MsgType.Reject || m.msgType === MsgType.ResendRequest)).toBe(false);
    expect(fieldOf(er, Tag.MsgSeqNum)).toBe('2');
  });

  it('wrong comp ids: Reject 373=9 and Logout; a gap: ResendRequest, then in-order delivery', async () => {
    const { port, application } = await startAcceptor();
    const ini = await connect(port);
    ini.logon({ ...LOGON, resetSeqNum: true });
    await ini.waitForType(MsgType.Logon);
    ini.send(MsgType.NewOrderSingle, nos('late'), { seqNum: 3 });
    const rr = await ini.waitForType(MsgType.ResendRequest);
    expect([fieldOf(rr, 7), fieldOf(rr, 16)]).toEqual(['2', '0']);
    ini.send(MsgType.NewOrderSingle, nos('early'), { seqNum: 2 });
    await ini.waitFor(isEr('late'));
    expect(application.delivered.map((m) => fieldOf(m, 11))).toEqual(['early', 'late']);
    ini.nextSeqNum = 4;
    ini.send(MsgType.NewOrderSingle, nos('w'), { senderCompId: 'SOMEONE' });
    const reject = await ini.waitForType(MsgType.Reject);
    expect(fieldOf(reject, 373)).toBe('9');
    await ini.waitForType(MsgType.Logout);
    await ini.waitClosed();
  });

  it('a flood of messages: Logout "message rate limit", the acceptor stays up', async () => {
    const { port } = await startAcceptor();
    const ini = await connect(port);
    ini.logon({ ...LOGON, resetSeqNum: true });
    await ini.waitForType(MsgType.Logon);
    const now = formatUtcTimestamp(Date.now());
    const flood: Buffer[] = [];
    for (let seq = 2; seq < 12_000; seq++)
      flood.push(
        encodeFix(
          [
            [35, '0'],
            [49, 'CLIENT1'],
            [56, 'MATCHBOOK'],
            [34, String(seq)],
            [52, now],
          ],
          [],
        ),
      );
    ini.sendRaw(Buffer.concat(flood));
    const logout = await ini.waitForType(MsgType.Logout);
    expect(fieldOf(logout, Tag.Text)).toBe('message rate limit');
    await ini.waitClosed();
    const again = await connect(port, 'CLIENT2');
    again.logon({ ...LOGON, resetSeqNum: true });
    await again.waitForType(MsgType.Logon);
    expect(errors).toEqual([]);
  });

  it('an application that throws closes that connection only; the acceptor keeps serving', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fix-acceptor-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const echo = echoApplication(SECRETS);
    const failing: string[] = [];
    const application = {
      async logon(...args: Parameters<typeof echo.logon>) {
        const result = await echo.logon(...args);
        if ('refused' in result) return result;
        return {
          ...result,
          app: {
            deliver: (m: FixMessage) => {
              if (fieldOf(m, 11) === 'boom') throw new Error('application bug');
              result.app.deliver(m);
            },
            close: () => result.app.close(),
          },
        };
      },
    };
    const acceptor = new FixAcceptor({
      host: '127.0.0.1',
      port: 0,
      storeDir: dir,
      application,
      log: linesLog((line) => {
        if (line.startsWith('ERROR')) failing.push(line);
      }),
    });
    const port = await acceptor.start();
    cleanups.push(() => acceptor.stop());
    const ini = await connect(port);
    ini.logon({ ...LOGON, resetSeqNum: true });
    await ini.waitForType(MsgType.Logon);
    ini.send(MsgType.NewOrderSingle, nos('boom'));
    await ini.waitClosed();
    expect(failing.some((l) => l.includes('application bug'))).toBe(true);
    expect(echo.closes).toBe(1);
    const next = await connect(port);
    next.logon({ ...LOGON, resetSeqNum: true });
    await next.waitForType(MsgType.Logon);
    next.send(MsgType.NewOrderSingle, nos('fine'));
    await next.waitFor(isEr('fine'));
  });

  it('over its connection limit, a connection is accepted and closed at once; the others go on', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fix-acceptor-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const acceptor = new FixAcceptor({
      host: '127.0.0.1',
      port: 0,
      storeDir: dir,
      application: echoApplication(SECRETS),
      log,
      connectionsMax: 2,
    });
    const port = await acceptor.start();
    cleanups.push(() => acceptor.stop());
    const a = await connect(port, 'A');
    const b = await connect(port, 'B');
    a.logon({ ...LOGON, resetSeqNum: true });
    b.logon({ ...LOGON, resetSeqNum: true });
    await a.waitForType(MsgType.Logon);
    await b.waitForType(MsgType.Logon);
    const c = await connect(port, 'C');
    await c.waitClosed();
    expect(c.received).toEqual([]);
    a.send(MsgType.NewOrderSingle, nos('after'));
    await a.waitFor(isEr('after'));
    b.close();
    await b.waitClosed();
    // Its slot is free again once the acceptor has seen the close.
    const deadlineMs = Date.now() + 15_000;
    while (acceptor.connectionCount > 1 && Date.now() < deadlineMs) await new Promise((r) => setTimeout(r, 20));
    expect(acceptor.connectionCount).toBe(1);
    const d = await connect(port, 'D');
    d.logon({ ...LOGON, resetSeqNum: true });
    await d.waitForType(MsgType.Logon);
  });
});
