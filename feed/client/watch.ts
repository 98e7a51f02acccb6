// `npx matchbook watch SYMBOL`: a live top of book in the terminal, kept by the FeedClient
// (l2.throttled, checksum-verified, resynced by itself) plus the last trades and the status.
//
//   npx matchbook watch BTC-USD [--url ws://127.0.0.1:8092/v1/ws] [--depth 10] [--count N]
//
// Without --url it asks each replica feed of `npm start` (ports 8091–8093, or the comma list in
// MATCHBOOK_FEED_URLS) for its role on /healthz and uses a follower: followers carry the
// subscribers. A lost connection is retried (RECONNECTS_MAX times, then exit 1). --count N
// stops after N screens (scripts); otherwise Ctrl-C. Prices and quantities are integer units.

import { parseArgs } from 'node:util';
import { FeedClient } from './feed-client.js';
import { Channel, type StatusMessage, type Trade, type TradesMessage } from '../types.js';

export const WATCH_USAGE = 'watch SYMBOL [--url ws://HOST:PORT/v1/ws] [--depth N] [--count N]';
const DEFAULT_FEED_URLS = ['ws://127.0.0.1:8091/v1/ws', 'ws://127.0.0.1:8092/v1/ws', 'ws://127.0.0.1:8093/v1/ws'];
const RECONNECTS_MAX = 30;
const RECONNECT_DELAY_MS = 1_000;
const HEALTH_TIMEOUT_MS = 1_000;
const DEPTH_MAX = 50;
const TRADES_SHOWN = 5;

/** Picks a feed: the first follower among the candidates, else the first that answers. */
async function pickFeed(candidates: string[]): Promise<string | undefined> {
  const answers = await Promise.all(
    candidates.map(async (url) => {
      const u = new URL(url);
      try {
        const res = await fetch(`http://${u.host}/healthz`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
        const body = (await res.json()) as { info?: { role?: string } };
        return { url, role: body.info?.role ?? 'UNKNOWN' };
      } catch {
        return undefined;
      }
    }),
  );
  const up = answers.filter((a) => a !== undefined);
  return (up.find((a) => a.role === 'FOLLOWER') ?? up[0])?.url;
}

function parseWatchArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: { url: { type: 'string' }, depth: { type: 'string', default: '10' }, count: { type: 'string' } },
  });
}

export async function watch(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  let parsed: ReturnType<typeof parseWatchArgs>;
  try {
    parsed = parseWatchArgs(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\nusage: matchbook ${WATCH_USAGE}`);
    return 2;
  }
  const symbol = parsed.positionals[0];
  const depth = Number(parsed.values.depth);
  const count = parsed.values.count === undefined ? Infinity : Number(parsed.values.count);
  if (symbol === undefined || !(depth >= 1 && depth <= DEPTH_MAX) || !(count >= 1)) {
    console.error(`usage: matchbook ${WATCH_USAGE}  (depth 1–${DEPTH_MAX})`);
    return 2;
  }
  const tty = process.stdout.isTTY === true;
  let screens = 0;
  for (let attempt = 0; attempt <= RECONNECTS_MAX; attempt++) {
    const url = parsed.values.url ?? (await pickFeed(process.env.MATCHBOOK_FEED_URLS?.split(',') ?? DEFAULT_FEED_URLS));
    if (url === undefined) {
      console.error(
        `no market-data feed reachable (tried ${(process.env.MATCHBOOK_FEED_URLS ?? DEFAULT_FEED_URLS.join(',')).slice(0, 200)}; is \`npm start\` running?)`,
      );
      return 1;
    }
    let client: FeedClient;
    try {
      client = await FeedClient.connect({ url });
    } catch (err) {
      console.error(`cannot connect to ${url}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS));
      continue;
    }
    const trades: Trade[] = [];
    let status = '';
    const done = await new Promise<'count' | 'closed' | 'refused' | 'interrupted'>((resolve) => {
      const draw = () => {
        const book = client.book(symbol, Channel.L2_THROTTLED);
        if (book === undefined) return;
        screens++;
        const bids = book.levels('BUY', depth);
        const asks = book.levels('SELL', depth);
        const last = trades.at(-1);
        if (!tty) {
          out(
            `${symbol} seq ${book.seq} bid ${bids[0] ? `${bids[0][1]}@${bids[0][0]}` : '-'} ask ${asks[0] ? `${asks[0][1]}@${asks[0][0]}` : '-'} last ${last ? `${last.qty}@${last.price}` : '-'}${status !== '' && status !== 'TRADING' ? ` ${status}` : ''}\n`,
          );
        } else {
          const lines = [
            `\x1b[H\x1b[2J${symbol}  ${status}  l2 seq ${book.seq}  ${url}`,
            '',
            `${'bid qty'.padStart(12)} ${'bid'.padStart(12)} | ${'ask'.padEnd(12)} ${'ask qty'.padEnd(12)}`,
          ];
          for (let k = 0; k < depth; k++) {
            const b = bids[k];
            const a = asks[k];
            lines.push(
              `${(b ? String(b[1]) : '').padStart(12)} ${(b ? String(b[0]) : '').padStart(12)} | ${(a ? String(a[0]) : '').padEnd(12)} ${(a ? String(a[1]) : '').padEnd(12)}`,
            );
          }
          lines.push(
            '',
            `last trades: ${
              trades
                .slice(-TRADES_SHOWN)
                .reverse()
                .map((t) => `${t.qty}@${t.price} ${t.side}`)
                .join('  ') || '-'
            }`,
          );
          lines.push(
            `gaps ${client.stats.gaps}  checksum mismatches ${client.stats.checksumMismatches}  resyncs ${client.stats.resyncs + client.stats.serverResyncs}   (Ctrl-C to quit)`,
            '',
          );
          out(lines.join('\n'));
        }
        if (screens >= count) resolve('count');
      };
      client.on('l2', draw);
      client.on('trades', (m: TradesMessage) => {
        trades.push(...m.trades);
        if (trades.length > TRADES_SHOWN) trades.splice(0, trades.length - TRADES_SHOWN);
      });
      client.on('status', (m: StatusMessage) => {
        status = m.status;
      });
      client.on('close', () => resolve('closed'));
      process.once('SIGINT', () => resolve('interrupted'));
      // Status and trades first: their snapshots are in when the first book is drawn.
      client.subscribe([symbol], [Channel.STATUS, Channel.TRADES, Channel.L2_THROTTLED]).catch((err: Error) => {
        console.error(`subscribe refused: ${err.message}`);
        resolve('refused');
      });
    });
    await client.close();
    if (done === 'count' || done === 'interrupted') return 0;
    if (done === 'refused') return 1;
    console.error(`connection to ${url} lost; reconnecting`);
    await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS));
  }
  console.error(`gave up after ${RECONNECTS_MAX} reconnects`);
  return 1;
}
