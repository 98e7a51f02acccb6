// ops/uws-compat/: the uWebSockets.js API matchbook uses, over node:http and `ws` (issue 21), held
// to the native semantics the servers rely on, over real sockets: lower-case getMethod, the most
// specific route, the request valid only during its handler, onAborted when the client goes away,
// onData's chunks, send() 0/1/2 at maxBackpressure and drain, topics (publish, numSubscribers),
// a frame over maxPayloadLength dropping the connection (1006, as native), a malformed upgrade
// refused without harm, the idle timeout, close handlers on app.close(). The servers' own tests run on the native
// binary by default and on this layer with MATCHBOOK_UWS=compat (test/processes/uws-compat-exchange.test.ts).

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpRequest, TemplatedApp, us_listen_socket, WebSocket } from 'uWebSockets.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { App, us_listen_socket_close, us_socket_local_port } from '../../ops/uws-compat/index.js';
import { COMPAT_HTTP_HEADER_BYTES_MAX } from '../../ops/uws-compat/limits.js';

/** Polls `probe` until it is defined (generous: a loaded 2-core machine). */
async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const apps: { app: TemplatedApp; ls: us_listen_socket }[] = [];
const clients: WsConnection[] = [];

afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
  for (const { app, ls } of apps.splice(0)) {
    us_listen_socket_close(ls);
    (app as TemplatedApp & { close(): void }).close();
  }
});

function listen(app: TemplatedApp): Promise<number> {
  return new Promise((resolve, reject) =>
    app.listen('127.0.0.1', 0, (ls) => {
      if (ls === false) return reject(new Error('listen failed'));
      apps.push({ app, ls });
      resolve(us_socket_local_port(ls));
    }),
  );
}

/** Sends raw bytes, returns everything the server wrote until it closed (or the deadline). */
function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 10_000).unref();
  });
}

describe('HTTP', () => {
  it('routes to the most specific pattern, lower-case method, raw parameters, query, headers', async () => {
    const app = App();
    const seen: string[] = [];
    app.any('/*', (res, req) => {
      seen.push(`any ${req.getMethod()} ${req.getUrl()}`);
      res.writeStatus('404 Not Found').end('nope');
    });
    app.get('/v1/book/:symbol', (res, req) => {
      res
        .writeHeader('x-q', req.getQuery() ?? '(none)')
        .writeHeader('x-depth', req.getQuery('depth') ?? '(none)')
        .writeHeader('x-h', req.getHeader('x-test'))
        .end(`${req.getMethod()} ${req.getParameter(0)}`);
    });
    app.get('/v1/book/special', (res) => {
      res.end('static wins');
    });
    const port = await listen(app);
    const base = `http://127.0.0.1:${port}`;
    const r1 = await fetch(`${base}/v1/book/BTC%2DUSD?depth=5&x=1`, { headers: { 'x-test': 'yes' } });
    expect([r1.status, await r1.text()]).toEqual([200, 'get BTC%2DUSD']);
    expect([r1.headers.get('x-q'), r1.headers.get('x-depth'), r1.headers.get('x-h')]).toEqual([
      'depth=5&x=1',
      '5',
      'yes',
    ]);
    expect(r1.headers.get('content-length')).toBe('13');
    expect(await (await fetch(`${base}/v1/book/special`)).text()).toBe('static wins');
    const r3 = await fetch(`${base}/v1/book/BTC-USD`, { method: 'POST', body: 'x' });
    expect([r3.status, await r3.text()]).toEqual([404, 'nope']);
    const r4 = await fetch(`${base}/v1/book`);
    expect(r4.headers.get('x-q')).toBeNull();
    expect(seen).toEqual(['any post /v1/book/BTC-USD', 'any get /v1/book']);
    // A method node:http does not know reaches `any` as in uWS (lower case), answered, then closed.
    const odd = await rawExchange(port, 'FROB /v1/x?a=1 HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(odd).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(odd.endsWith('\r\n\r\nnope')).toBe(true);
    expect(seen[2]).toBe('any frob /v1/x');
  });

  it('the request is dead after its handler returns; the body arrives in copies, then isLast', async () => {
    const app = App();
    let kept: HttpRequest | undefined;
    const chunks: Buffer[] = [];
    app.post('/body', (res, req) => {
      kept = req;
      res.onAborted(() => undefined);
      res.onData((chunk, isLast) => {
        chunks.push(Buffer.from(chunk));
        if (isLast) res.cork(() => res.writeStatus('201 Created').end(`${Buffer.concat(chunks).length}`));
      });
    });
    const port = await listen(app);
    const body = 'x'.repeat(200_000);
    const r = await fetch(`http://127.0.0.1:${port}/body`, { method: 'POST', body });
    expect([r.status, await r.text()]).toEqual([201, '200000']);
    expect(() => kept!.getUrl()).toThrow(/must not be accessed after await or route handler return/);
  });

  it('onAborted fires once when the client goes away before the answer; nothing is written after', async () => {
    const app = App();
    let aborted = 0;
    app.get('/slow', (res) => {
      res.onAborted(() => aborted++);
    });
    const port = await listen(app);
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\n'));
    s.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    s.destroy();
    await until('the abort', () => aborted === 1);
  });

  it('refuses headers over COMPAT_HTTP_HEADER_BYTES_MAX (431) and garbage (400), and serves on', async () => {
    const app = App();
    app.get('/ok', (res) => {
      res.end('ok');
    });
    const port = await listen(app);
    const big = await rawExchange(
      port,
      `GET /ok HTTP/1.1\r\nhost: x\r\nx-big: ${'b'.repeat(COMPAT_HTTP_HEADER_BYTES_MAX)}\r\n\r\n`,
    );
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await (await fetch(`http://127.0.0.1:${port}/ok`)).text()).toBe('ok');
  });

  it('a request whose headers trickle in (slowloris) is closed without an answer, as uWS does', async () => {
    const app = App();
    app.get('/ok', (res) => {
      res.end('ok');
    });
    const port = await listen(app);
    const got = await new Promise<{ answer: string; closedByServer: boolean }>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      const head = 'GET /ok HTTP/1.1\r\nhost: x\r\nx-pad: ' + 'p'.repeat(400);
      let sent = 0;
      let answer = '';
      const trickle = setInterval(() => sent < head.length && s.write(head[sent++]!), 250);
      const giveUp = setTimeout(() => s.destroy(), 60_000); // bounded: a server that never closes fails below
      s.on('data', (d) => (answer += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearInterval(trickle);
        clearTimeout(giveUp);
        resolve({ answer, closedByServer: sent < head.length });
      });
    });
    expect(got).toEqual({ answer: '', closedByServer: true });
    expect(await (await fetch(`http://127.0.0.1:${port}/ok`)).text()).toBe('ok');
  }, 90_000);

  it('a handler that throws is reported, the server keeps serving', async () => {
    const app = App();
    app.get('/boom', () => {
      throw new Error('handler bug');
    });
    app.get('/ok', (res) => {
      res.end('ok');
    });
    const port = await listen(app);
    const boom = fetch(`http://127.0.0.1:${port}/boom`, { signal: AbortSignal.timeout(2_000) }).catch(() => 'aborted');
    expect(await (await fetch(`http://127.0.0.1:${port}/ok`)).text()).toBe('ok');
    expect(await boom).toBe('aborted');
  });
});

interface Ud {
  id: number;
}

function wsApp(opts: { maxBackpressure?: number; idleTimeout?: number; closeOnBackpressureLimit?: boolean } = {}) {
  const app = App();
  const open: WebSocket<Ud>[] = [];
  const closed: { id: number; code: number }[] = [];
  const messages: string[] = [];
  let drains = 0;
  let next = 1;
  app.ws<Ud>('/ws', {
    maxPayloadLength: 1024,
    maxBackpressure: opts.maxBackpressure ?? 64 * 1024,
    idleTimeout: opts.idleTimeout ?? 60,
    closeOnBackpressureLimit: opts.closeOnBackpressureLimit === true ? 1 : 0,
    upgrade: (res, req, ctx) => {
      if (req.getQuery('refuse') === '1') {
        res.writeStatus('503 Service Unavailable').end('{"code":"UNAVAILABLE"}');
        return;
      }
      res.upgrade(
        { id: next++ },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        ctx,
      );
    },
    open: (ws) => {
      open.push(ws);
    },
    message: (ws, m) => {
      messages.push(Buffer.from(m).toString('utf8'));
      ws.send(`echo ${Buffer.from(m).toString('utf8')}`);
    },
    drain: () => drains++,
    close: (ws, code) => closed.push({ id: ws.getUserData().id, code }),
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end('no route');
  });
  return { app, open, closed, messages, drains: () => drains };
}

async function connect(
  port: number,
  query = '',
): Promise<{ c: WsConnection; got: string[]; closed: () => number | undefined }> {
  const got: string[] = [];
  let closeCode = 0;
  const c = await WsConnection.connect(`ws://127.0.0.1:${port}/ws${query}`, {
    onMessage: (d) => got.push(d.toString('utf8')),
    onClose: (code) => (closeCode = code),
  });
  clients.push(c);
  return { c, got, closed: () => (closeCode === 0 ? undefined : closeCode) };
}

describe('WebSocket', () => {
  it('upgrade handler, open, message, topics (publish to subscribers only, numSubscribers), end runs close at once', async () => {
    const s = wsApp();
    const port = await listen(s.app);
    const a = await connect(port);
    const b = await connect(port);
    await until('two open', () => s.open.length === 2);
    a.c.send('hello');
    await until('the echo', () => a.got.includes('echo hello'));
    expect(s.open[0]!.subscribe('t')).toBe(true);
    expect(s.open[0]!.subscribe('t')).toBe(false);
    expect(s.app.numSubscribers('t')).toBe(1);
    s.app.publish('t', 'to t', false);
    s.app.publish('nobody', 'lost', false);
    await until('the publish', () => a.got.includes('to t'));
    expect(b.got).toEqual([]);
    s.open[0]!.end(4008, 'slow consumer: test');
    expect(s.closed).toEqual([{ id: 1, code: 4008 }]); // the close handler ran inside end()
    expect(s.app.numSubscribers('t')).toBe(0);
    expect(() => s.open[0]!.send('x')).toThrow(/closed uWS.WebSocket/);
    expect(await until('the client sees 4008', () => a.closed())).toBe(4008);
  });

  it('refuses in the upgrade handler with an HTTP answer; a malformed upgrade gets 400; a plain GET falls to HTTP', async () => {
    const s = wsApp();
    const port = await listen(s.app);
    const refused = await rawExchange(
      port,
      'GET /ws?refuse=1 HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n',
    );
    expect(refused).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(refused).toContain('{"code":"UNAVAILABLE"}');
    const noKey = await rawExchange(
      port,
      'GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n\r\n',
    );
    expect(noKey).toMatch(/^HTTP\/1\.1 400 /);
    const garbage = await rawExchange(
      port,
      'GET /ws HTTP/1.1\r\nupgrade: websocket\r\nconnection: upgrade\r\n\x00\x01\r\n\r\n',
    );
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    const plain = await fetch(`http://127.0.0.1:${port}/ws`);
    expect([plain.status, await plain.text()]).toEqual([404, 'no route']);
    expect(s.open).toEqual([]);
    const ok = await connect(port); // still serving
    ok.c.send('still');
    await until('the echo', () => ok.got.includes('echo still'));
  });

  it('a frame over maxPayloadLength drops that connection without a close frame (1006), as native uWS', async () => {
    const s = wsApp();
    const port = await listen(s.app);
    const big = await connect(port);
    const other = await connect(port);
    big.c.send('x'.repeat(2_000));
    expect(await until('the drop', () => big.closed())).toBe(1006);
    expect(s.messages).toEqual([]);
    other.c.send('fine');
    await until('the other still served', () => other.got.includes('echo fine'));
  });

  it('send() is 1 while bytes wait, 2 (dropped) past maxBackpressure; drain runs once the reader catches up', async () => {
    const s = wsApp({ maxBackpressure: 256 * 1024 });
    const port = await listen(s.app);
    const slow = await connect(port);
    await until('open', () => s.open.length === 1);
    slow.c.pause();
    const ws = s.open[0]!;
    const chunk = 'y'.repeat(16 * 1024);
    const results = new Set<number>();
    for (let i = 0; i < 2_000 && !results.has(2); i++) results.add(ws.send(chunk));
    expect(results.has(1)).toBe(true);
    expect(results.has(2)).toBe(true);
    expect(ws.getBufferedAmount()).toBeGreaterThan(256 * 1024);
    slow.c.resume();
    await until('drain', () => s.drains() > 0 && ws.getBufferedAmount() === 0);
    expect(ws.send('after')).toBe(0);
  });

  it('closeOnBackpressureLimit closes the connection instead of dropping quietly', async () => {
    const s = wsApp({ maxBackpressure: 64 * 1024, closeOnBackpressureLimit: true });
    const port = await listen(s.app);
    const slow = await connect(port);
    await until('open', () => s.open.length === 1);
    slow.c.pause();
    const ws = s.open[0]!;
    let r = 0;
    for (let i = 0; i < 2_000 && r !== 2; i++) r = ws.send('z'.repeat(16 * 1024));
    expect(r).toBe(2);
    expect(s.closed).toEqual([{ id: 1, code: 1006 }]);
  });

  it('idleTimeout: a client that answers nothing (not even the automatic ping) is closed', async () => {
    const s = wsApp({ idleTimeout: 1 });
    const port = await listen(s.app);
    const mute = await connect(port);
    await until('open', () => s.open.length === 1);
    mute.c.pause();
    await until('the idle close', () => s.closed.length === 1);
    expect(s.closed).toEqual([{ id: 1, code: 1006 }]);
  });

  it('app.close() ends every connection (close handlers run) and stops listening', async () => {
    const s = wsApp();
    const port = await listen(s.app);
    const a = await connect(port);
    await until('open', () => s.open.length === 1);
    (s.app as TemplatedApp & { close(): void }).close();
    expect(s.closed).toEqual([{ id: 1, code: 1006 }]);
    await until('the client sees the close', () => a.closed());
    await expect(fetch(`http://127.0.0.1:${port}/x`)).rejects.toThrow();
  });
});
