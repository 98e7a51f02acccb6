// The FIX acceptor with TLS on its port, over real sockets: a throwaway CA made at test time
// (openssl, bench/tls/throwaway-ca.ts), the acceptor with the echo application. A logon and an
// order round trip over TLS; plaintext on the TLS port, and a client that never handshakes, are
// closed without an answer and the acceptor keeps serving; with client certificates required, a
// client without one or with one from another CA is refused; sockets past the handshake bound
// are dropped. Every wait is bounded and generous (a loaded 2-core machine).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeLeaf } from '../../bench/tls/throwaway-ca.js';
import { FixAcceptor } from '../../fix/acceptor.js';
import { type FixField, type FixMessage, fieldOf, MsgType } from '../../fix/message.js';
import { linesLog } from '../../ops/log.js';
import type { TlsSettings } from '../../ops/tls-settings.js';
import { echoApplication } from './echo-application.js';
import { type InitiatorOptions, type LogonOptions, TestInitiator } from './initiator.js';

const opensslInstalled = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
if (!opensslInstalled) console.warn('openssl is missing: the FIX TLS test is skipped (apt-get install -y openssl)');

/** Bound on every wait (ms): generous for a loaded 2-core machine (the handshake timeout is 10 s). */
const WAIT_MS = 60_000;
const LOGON: LogonOptions = { apiKey: 'key-1', signer: { hmacSecret: 'secret-1' }, resetSeqNum: true };

let dir: string;
let caPem: Buffer;
let server: { cert: string; key: string };
let client: { cert: string; key: string };
let rogue: { cert: string; key: string };
let caFile: string;

const lines: string[] = [];
const log = linesLog((line) => lines.push(line));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  lines.length = 0;
});

beforeAll(() => {
  if (!opensslInstalled) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'fix-tls-'));
  const ca = makeCa(dir, 'fix');
  caFile = ca.caCert;
  caPem = readFileSync(ca.caCert);
  server = makeLeaf(ca, 'acceptor');
  client = makeLeaf(ca, 'client');
  rogue = makeLeaf(makeCa(dir, 'other'), 'rogue');
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function tlsSettings(requireClientCert: boolean): TlsSettings {
  return {
    cert: { file: server.cert },
    key: { file: server.key },
    ca: requireClientCert ? { file: caFile } : undefined,
    requireClientCert,
    serverName: undefined,
    where: 'test fix tls',
  };
}

async function startAcceptor(tls: TlsSettings, limits: { connectionsMax?: number; tlsHandshakesMax?: number } = {}) {
  const storeDir = mkdtempSync(path.join(os.tmpdir(), 'fix-tls-store-'));
  cleanups.push(() => rmSync(storeDir, { recursive: true, force: true }));
  const acceptor = new FixAcceptor({
    host: '127.0.0.1',
    port: 0,
    storeDir,
    application: echoApplication({ 'key-1': 'secret-1' }),
    log,
    tls,
    ...limits,
  });
  const port = await acceptor.start();
  cleanups.push(() => acceptor.stop());
  return { acceptor, port };
}

async function connect(port: number, opts: Partial<InitiatorOptions> = {}): Promise<TestInitiator> {
  const ini = await TestInitiator.connect({ port, senderCompId: 'TLS1', ...opts });
  cleanups.push(() => ini.close());
  return ini;
}

const nos = (id: string): FixField[] => [
  [11, id],
  [55, 'BTC-USD'],
  [54, '1'],
  [38, '2.25'],
  [40, '2'],
  [44, '50000.5'],
];
const isEr = (id: string) => (m: FixMessage) => m.msgType === MsgType.ExecutionReport && fieldOf(m, 11) === id;

/** Logs on over TLS and round-trips one order: what "the acceptor serves" means below. */
async function roundTrip(port: number, clOrdId: string, tls: InitiatorOptions['tls'] = { ca: caPem }): Promise<void> {
  const ini = await connect(port, { tls, senderCompId: `S-${clOrdId}` });
  ini.logon(LOGON);
  await ini.waitForType(MsgType.Logon, WAIT_MS);
  ini.send(MsgType.NewOrderSingle, nos(clOrdId));
  const er = await ini.waitFor(isEr(clOrdId), WAIT_MS);
  expect([fieldOf(er, 150), fieldOf(er, 38), fieldOf(er, 55)]).toEqual(['0', '2.25', 'BTC-USD']);
  ini.send(MsgType.Logout, []);
  await ini.waitForType(MsgType.Logout, WAIT_MS);
  await ini.waitClosed(WAIT_MS);
}

/**
 * Whether a TLS client with these credentials gets a Logon answer. Under TLS 1.3 the server checks
 * the client's certificate after the client considers the handshake done, so a refusal shows as
 * a close (or an error) after connecting: the Logon is sent and the connection must end unanswered.
 */
async function logsOn(port: number, tls: InitiatorOptions['tls']): Promise<boolean> {
  let ini: TestInitiator;
  try {
    ini = await connect(port, { tls, senderCompId: 'MTLS' });
  } catch {
    return false; // refused during the handshake (TLS 1.2)
  }
  ini.logon(LOGON);
  const deadlineMs = Date.now() + WAIT_MS;
  while (!ini.closed && ini.received.length === 0 && Date.now() < deadlineMs)
    await new Promise((r) => setTimeout(r, 20));
  if (ini.received.length === 0 && !ini.closed) throw new Error('neither answered nor closed');
  return ini.received.some((m) => m.msgType === MsgType.Logon);
}

/** A raw TCP client: resolves with what it received once the acceptor closed it. */
function plainSocket(port: number, bytes?: Buffer): { closed: Promise<Buffer>; socket: net.Socket } {
  const socket = net.connect({ host: '127.0.0.1', port });
  cleanups.push(() => void socket.destroy());
  const closed = new Promise<Buffer>((resolve, reject) => {
    let got = Buffer.alloc(0);
    if (bytes !== undefined) socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    socket.on('error', () => undefined);
    const timer = setTimeout(() => reject(new Error(`not closed within ${WAIT_MS} ms`)), WAIT_MS);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
  closed.catch(() => undefined); // a test that fails earlier leaves it unawaited: not an unhandled rejection
  return { closed, socket };
}

const errorLines = () => lines.filter((l) => l.startsWith('ERROR'));

describe.skipIf(!opensslInstalled)('FixAcceptor over TLS', () => {
  it('logs on and round-trips an order over TLS', async () => {
    const { port, acceptor } = await startAcceptor(tlsSettings(false));
    const ini = await connect(port, { tls: { ca: caPem } });
    ini.logon(LOGON);
    await ini.waitForType(MsgType.Logon, WAIT_MS);
    expect(acceptor.connectionCount).toBe(1);
    ini.send(MsgType.NewOrderSingle, nos('tls-1'));
    const er = await ini.waitFor(isEr('tls-1'), WAIT_MS);
    expect([fieldOf(er, 150), fieldOf(er, 39), fieldOf(er, 38), fieldOf(er, 151)]).toEqual(['0', '0', '2.25', '2.25']);
    expect(errorLines()).toEqual([]);
  }, 120_000);

  it('closes a plaintext client on the TLS port without an answer, and keeps serving', async () => {
    const { port, acceptor } = await startAcceptor(tlsSettings(false));
    // A FIX client that does not speak TLS: its Logon is not a TLS record.
    const plain = await connect(port, { senderCompId: 'PLAIN' });
    plain.logon(LOGON);
    await plain.waitClosed(WAIT_MS);
    expect(plain.received).toEqual([]);
    // Bytes that are not even FIX.
    const junk = plainSocket(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect((await junk.closed).toString('latin1')).not.toContain('HTTP');
    expect(lines.some((l) => l.startsWith('DEBUG fix tls handshake failed'))).toBe(true);
    expect(acceptor.connectionCount).toBe(0);
    await roundTrip(port, 'after-plain');
    expect(errorLines()).toEqual([]);
  }, 120_000);

  it('closes a client that never completes its handshake (FIX_TLS_HANDSHAKE_TIMEOUT_MS)', async () => {
    const { port } = await startAcceptor(tlsSettings(false));
    const silent = plainSocket(port);
    expect((await silent.closed).length).toBe(0);
    await roundTrip(port, 'after-silent');
  }, 120_000);

  it('drops sockets beyond connectionsMax + tlsHandshakesMax at accept, with a warning', async () => {
    const { port } = await startAcceptor(tlsSettings(false), { connectionsMax: 1, tlsHandshakesMax: 1 });
    // Two silent sockets fill the listener (1 + 1); the third is closed at accept.
    const held = [plainSocket(port), plainSocket(port)];
    const third = plainSocket(port);
    expect((await third.closed).length).toBe(0);
    expect(
      lines.some((l) => l.startsWith('WARN fix connection refused: FIX_CONNECTIONS_MAX + FIX_TLS_HANDSHAKES_MAX')),
    ).toBe(true);
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    // Room again once they are gone (the server counts them down as their close reaches it).
    const deadlineMs = Date.now() + WAIT_MS;
    for (;;) {
      try {
        await roundTrip(port, `after-drop-${Date.now()}`);
        break;
      } catch (err) {
        if (Date.now() > deadlineMs) throw err;
      }
    }
  }, 180_000);

  it('with client certificates required: refuses a client without one or from another CA, serves one of the CA', async () => {
    const { port } = await startAcceptor(tlsSettings(true));
    expect(await logsOn(port, { ca: caPem })).toBe(false);
    expect(await logsOn(port, { ca: caPem, cert: readFileSync(rogue.cert), key: readFileSync(rogue.key) })).toBe(false);
    const mine = { ca: caPem, cert: readFileSync(client.cert), key: readFileSync(client.key) };
    expect(await logsOn(port, mine)).toBe(true);
    await roundTrip(port, 'mtls', mine);
    expect(errorLines()).toEqual([]);
  }, 120_000);

  it('refuses to start without a certificate and key, naming the setting', async () => {
    const acceptor = new FixAcceptor({
      host: '127.0.0.1',
      port: 0,
      storeDir: dir,
      application: echoApplication({}),
      log,
      tls: { ...tlsSettings(false), key: { file: path.join(dir, 'missing.key') } },
    });
    await expect(acceptor.start()).rejects.toThrow(/test fix tls\.key: cannot read .*missing\.key/);
  });
});
