// `npm start` until the replicated exchange exists: runs the example order flow through
// the engine in pipe mode and prints what happened, with the book at the end.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseConfig } from './config.js';
import { formatUnits, symbolDecimals } from './json-codec.js';
import { PipeSession } from './pipe.js';
import { Side } from './types.js';
import { engineStateHash } from './snapshot.js';

const here = dirname(fileURLToPath(import.meta.url));
const configPath = join(here, 'examples', 'instruments.json');
const commandsPath = join(here, 'examples', 'commands.jsonl');
const config = parseConfig(JSON.parse(readFileSync(configPath, 'utf8')));
const session = new PipeSession({ config });

let events = 0;
let trades = 0;
let rejects = 0;
for (const text of readFileSync(commandsPath, 'utf8').split('\n')) {
  if (text.trim() === '') continue;
  const cmd = JSON.parse(text) as { seq: number; type: string };
  const lines = session.line(text).split('\n').filter(Boolean);
  events += lines.length;
  const summary = lines.map((l) => {
    const e = JSON.parse(l);
    if (e.kind === 'trade') {
      trades++;
      const d = symbolDecimals(config, e.symbol);
      return `trade ${e.symbol} ${formatUnits(e.qty, d.qty)} @ ${formatUnits(e.price, d.price)}`;
    }
    if (e.kind === 'exec') {
      if (e.execType === 'REJECTED') rejects++;
      return `${e.execType.toLowerCase()}#${e.orderId}${e.reason !== 'NONE' ? `(${e.reason})` : ''}`;
    }
    if (e.kind === 'book') return `book ${e.side.toLowerCase()} ${e.price}=${e.qty}`;
    return e.kind;
  });
  console.log(`seq ${String(cmd.seq).padStart(2)} ${cmd.type.padEnd(6)} → ${summary.join(', ')}`);
}

console.log('');
for (const inst of config.instruments) {
  const d = { price: inst.priceDecimals, qty: inst.qtyDecimals };
  const bids = session.engine.bookLevels(inst.symbol, Side.BUY);
  const asks = session.engine.bookLevels(inst.symbol, Side.SELL);
  const fmt = (l: { price: number; qty: number } | undefined) =>
    l ? `${formatUnits(l.qty, d.qty)} @ ${formatUnits(l.price, d.price)}` : '—';
  console.log(`${inst.symbol.padEnd(8)} best bid ${fmt(bids[0])}   best ask ${fmt(asks[0])}`);
}
console.log(`\n${events} events, ${trades} trades, ${rejects} rejects; state hash ${engineStateHash(session.engine)}`);
console.log('Pipe mode (JSON lines in, JSON lines out):');
console.log('  npm run engine -- --config engine/examples/instruments.json < engine/examples/commands.jsonl');
