// Pipe mode: JSON command lines on stdin → JSON event lines on stdout, byte-for-byte
// deterministic. This is how users backtest against the real engine and how replay and
// audit tools drive it.
//
//   npm run engine -- --config instruments.json [--hash] [--snapshot-in F] [--snapshot-out F] < commands.jsonl

import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { parseConfig } from './config.js';
import { Engine } from './engine.js';
import { EventBuffer } from './event-buffer.js';
import { COMMAND_JSON_BYTES_MAX, commandFromJson, eventToJson } from './json-codec.js';
import { EventKind, Reason, type Command, type ShardConfig } from './types.js';
import { engineStateHash, readSnapshot, writeSnapshot } from './snapshot.js';

/** Output is flushed to stdout in chunks of about this size. */
const OUTPUT_CHUNK_BYTES = 256 * 1024;

export interface PipeOptions {
  config: ShardConfig;
  engine?: Engine;
}

/**
 * Runs JSON command lines through an engine and yields JSON event lines.
 * Missing `seq` = previous + 1; missing `tsUs` = previous effective time.
 */
export class PipeSession {
  readonly engine: Engine;
  private readonly out = new EventBuffer();

  constructor(options: PipeOptions) {
    this.engine = options.engine ?? new Engine(options.config);
  }

  /** Applies one input line; returns the event lines (each ending with '\n'). */
  line(text: string): string {
    if (text.trim() === '') return '';
    const e = this.engine;
    let value: unknown;
    if (text.length > COMMAND_JSON_BYTES_MAX) return rejectLine(e, 'unknown', Reason.MALFORMED_COMMAND);
    try {
      value = JSON.parse(text);
    } catch {
      return rejectLine(e, 'unknown', Reason.MALFORMED_COMMAND);
    }
    const cmd = commandFromJson(value);
    if ('error' in cmd) return rejectLine(e, cmd.command, cmd.error);
    const c = cmd as Command & { seq?: unknown; tsUs?: unknown };
    if (c.seq === undefined) c.seq = e.lastSeq + 1;
    if (c.tsUs === undefined) c.tsUs = e.nowUs;
    this.out.clear();
    e.apply(c as Command, this.out);
    let lines = '';
    for (let i = 0; i < this.out.count; i++) lines += `${eventToJson(this.out.event(i))}\n`;
    return lines;
  }
}

/** A line that never reached the engine (not JSON, not an object): seq 0, engine state untouched. */
function rejectLine(e: Engine, command: string, reason: Reason): string {
  const out = new EventBuffer(1);
  const i = out.next(EventKind.COMMAND_REJECT, 0, e.nowUs);
  out.symbol[i] = command;
  out.reason[i] = reason;
  return `${eventToJson(out.event(0))}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      hash: { type: 'boolean', default: false },
      'snapshot-in': { type: 'string' },
      'snapshot-out': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || values.config === undefined) {
    process.stderr.write(
      'usage: npm run engine -- --config instruments.json [--hash] [--snapshot-in FILE] [--snapshot-out FILE] < commands.jsonl > events.jsonl\n' +
        'Reads JSON commands (one per line), writes JSON events (one per line). See engine/README.md.\n',
    );
    process.exit(values.help ? 0 : 2);
  }
  let config: ShardConfig;
  try {
    config = parseConfig(JSON.parse(readFileSync(values.config, 'utf8')));
  } catch (err) {
    process.stderr.write(`engine: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const snapshotIn = values['snapshot-in'];
  const engine = snapshotIn === undefined ? undefined : readSnapshot(config, new Uint8Array(readFileSync(snapshotIn)));
  const session = new PipeSession({ config, ...(engine ? { engine } : {}) });
  const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let pending = '';
  for await (const text of input) {
    pending += session.line(text);
    if (pending.length >= OUTPUT_CHUNK_BYTES) {
      if (!process.stdout.write(pending)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      pending = '';
    }
  }
  if (values.hash)
    pending += `${JSON.stringify({ kind: 'state_hash', seq: session.engine.lastSeq, hash: engineStateHash(session.engine) })}\n`;
  process.stdout.write(pending);
  if (values['snapshot-out'] !== undefined) writeFileSync(values['snapshot-out'], writeSnapshot(session.engine));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    process.stderr.write(`engine: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
