// Pipe mode: JSON command lines on stdin → JSON event lines on stdout, byte-for-byte
// deterministic. This is how users backtest against the real engine and how replay and
// audit tools drive it.
//
//   npm run engine -- --config instruments.json [--hash] [--snapshot-in F] [--snapshot-out F] < commands.jsonl

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseConfig } from './config.js';
import { Engine } from './engine.js';
import { EventBuffer } from './event-buffer.js';
import { commandFromJson, eventToJson, reasonName } from './json-codec.js';
import { PIPE_LINE_BYTES_MAX } from './limits.js';
import { LineSplitter } from './line-splitter.js';
import { Reason, type Command, type ShardConfig } from './types.js';
import { engineStateHash, readSnapshot, writeSnapshot } from './snapshot.js';

/** Output is flushed to stdout in chunks of about this size. */
const OUTPUT_CHUNK_BYTES = 256 * 1024;

/** The messages of lines refused before the engine sees them (the `message` field of their command_reject). */
export const LINE_REJECT_MESSAGES = {
  tooLong: `line longer than ${PIPE_LINE_BYTES_MAX} bytes`,
  notUtf8: 'line is not valid UTF-8',
  notJson: 'line is not valid JSON',
  notObject: 'line is not a JSON object',
  noType: 'command has no string "type"',
} as const;

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
  // fatal: invalid UTF-8 is refused, not silently replaced; ignoreBOM: a BOM stays and fails JSON.parse.
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  constructor(options: PipeOptions) {
    this.engine = options.engine ?? new Engine(options.config);
  }

  /** Applies one line as LineSplitter delivers it (null: over PIPE_LINE_BYTES_MAX); returns the event lines. */
  lineBytes(bytes: Uint8Array | null): string {
    if (bytes === null) return rejectLine(this.engine, LINE_REJECT_MESSAGES.tooLong);
    let text: string;
    try {
      text = this.utf8.decode(bytes);
    } catch {
      return rejectLine(this.engine, LINE_REJECT_MESSAGES.notUtf8);
    }
    return this.line(text);
  }

  /** Applies one input line (without its `\n`); returns the event lines (each ending with '\n'). */
  line(text: string): string {
    if (text.trim() === '') return '';
    const e = this.engine;
    // A string of n UTF-16 units has at most 3n UTF-8 bytes: measure only lines that might be too long.
    if (text.length * 3 > PIPE_LINE_BYTES_MAX && Buffer.byteLength(text, 'utf8') > PIPE_LINE_BYTES_MAX)
      return rejectLine(e, LINE_REJECT_MESSAGES.tooLong);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return rejectLine(e, LINE_REJECT_MESSAGES.notJson);
    }
    const cmd = commandFromJson(value);
    if ('error' in cmd) {
      const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
      return rejectLine(e, isObject ? LINE_REJECT_MESSAGES.noType : LINE_REJECT_MESSAGES.notObject);
    }
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

/**
 * A line that never reached the engine: a command_reject MALFORMED_COMMAND with seq 0 (it consumes
 * no seq), command "unknown" and a message saying why; engine state untouched.
 */
function rejectLine(e: Engine, message: string): string {
  const reject = {
    kind: 'command_reject',
    seq: 0,
    tsUs: e.nowUs,
    command: 'unknown',
    reason: reasonName(Reason.MALFORMED_COMMAND),
    message,
  };
  return `${JSON.stringify(reject)}\n`;
}

/** Feeds stdin through a LineSplitter into the session; writes event lines in chunks, honouring backpressure. */
async function pump(session: PipeSession): Promise<string> {
  const splitter = new LineSplitter(PIPE_LINE_BYTES_MAX);
  let pending = '';
  const sink = (line: Uint8Array | null): void => {
    pending += session.lineBytes(line);
  };
  for await (const chunk of process.stdin as AsyncIterable<Uint8Array>) {
    splitter.push(chunk, sink);
    if (pending.length >= OUTPUT_CHUNK_BYTES) {
      if (!process.stdout.write(pending)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      pending = '';
    }
  }
  splitter.end(sink);
  return pending;
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
  let pending = await pump(session);
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
