// The independent FIX engine of the interop tests, driven from TypeScript: builds the QuickFIX C++
// programs of this folder (initiator.cpp, acceptor-selftest.cpp) once per source hash under the
// OS temp dir, starts them with a session settings file filled from the templates next to them,
// writes their line commands and reads their JSON lines (every message in and out, every session
// event, one ack per command). README.md describes the commands and the JSON lines.

import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '../../..');
const QUICKFIX_HEADER = '/usr/include/quickfix/Application.h';
/** The findings of issue 22: C++14 for the 1.15.1 headers' throw() specs; no HAVE_STD_UNIQUE_PTR (ABI). */
const CXX_FLAGS = ['-std=c++14', '-Wno-deprecated', '-O1'];
const LINK_FLAGS = ['-lquickfix', '-lcrypto'];
/** g++ on a loaded 2-core machine: ~2 s alone, far more under load. */
const COMPILE_TIMEOUT_MS = 300_000;
/** Generous: the machine is shared; nothing here measures time. */
export const QUICKFIX_WAIT_MS = 60_000;
const STOP_WAIT_MS = 30_000;
/** Lines of stderr kept for error messages. */
const STDERR_TAIL_LINES = 40;

/** QuickFIX's headers and g++ are here (Debian: apt-get install libquickfix-dev g++). */
export function quickfixAvailable(): boolean {
  return existsSync(QUICKFIX_HEADER) && spawnSync('g++', ['--version'], { stdio: 'ignore' }).status === 0;
}

export const QUICKFIX_MISSING = `QuickFIX C++ not found (${QUICKFIX_HEADER} and g++): apt-get install -y libquickfix-dev g++`;

/**
 * Tests skip when QuickFIX is absent locally (with a warning), but in CI (CI=true, .ci/run
 * installs it) absence is a failure: the suite runs and `requireQuickFix` throws.
 */
export const QUICKFIX_SKIP = !quickfixAvailable() && process.env.CI !== 'true';

export function requireQuickFix(): void {
  if (!quickfixAvailable()) throw new Error(QUICKFIX_MISSING);
}

/**
 * The FIX 4.4 dictionary QuickFIX validates against: the repo's fix/FIX44.xml (with matchbook's
 * custom tags), else the file named by MATCHBOOK_FIX44_XML; undefined when neither exists.
 */
export function fixDictionaryPath(): string | undefined {
  const vendored = path.join(REPO_ROOT, 'fix', 'FIX44.xml');
  if (existsSync(vendored)) return vendored;
  const fromEnv = process.env.MATCHBOOK_FIX44_XML;
  return fromEnv !== undefined && existsSync(fromEnv) ? fromEnv : undefined;
}

export type QuickFixProgram = 'initiator' | 'acceptor-selftest';

/**
 * Compiles one program of this folder and returns its binary's path. Cached by a hash of the
 * sources and flags under `outDir` (default os.tmpdir()); compiled to a temporary name and renamed,
 * so test files building at the same time never run a half-written binary.
 */
export async function buildProgram(program: QuickFixProgram, outDir = os.tmpdir()): Promise<string> {
  const source = path.join(HERE, `${program}.cpp`);
  const hash = createHash('sha256');
  for (const file of [source, path.join(HERE, 'fix-json.h')]) hash.update(readFileSync(file));
  hash.update(JSON.stringify([CXX_FLAGS, LINK_FLAGS]));
  const dir = path.join(outDir, `matchbook-quickfix-${hash.digest('hex').slice(0, 16)}`);
  const binary = path.join(dir, program);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const partial = `${binary}.partial-${process.pid}`;
  try {
    await promisify(execFile)('g++', [...CXX_FLAGS, '-o', partial, source, ...LINK_FLAGS], {
      timeout: COMPILE_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`g++ failed to build ${program}.cpp: ${e.stderr ?? e.message}`);
  }
  renameSync(partial, binary);
  return binary;
}

export function buildInitiator(outDir?: string): Promise<string> {
  return buildProgram('initiator', outDir);
}

/** One message as the wire carried it, reported by the program that sent or received it. */
export interface FixWireMessage {
  dir: 'in' | 'out';
  msgType: string;
  seqNum: number;
  /** Tag → value (the first value of a repeated tag). */
  fields: Record<string, string>;
  /** Every field in wire order. */
  pairs: [number, string][];
  /** The whole message, SOH included. */
  wire: string;
}

/** A session or program event: started, logon, logout, stopped, error, log (QuickFIX's event log), command (an ack). */
export interface FixEvent {
  event: string;
  text?: string;
  command?: string;
  ok?: boolean;
}

type Line = FixWireMessage | FixEvent;

interface Waiter {
  /** Settles the waiter when it can; true once settled. */
  test: () => boolean;
}

/**
 * Fills {{name}} in a settings template, dropping its # comment lines (for the reader, not for
 * QuickFIX); a value with a line break would inject settings, so it is refused.
 */
function fillTemplate(template: string, values: Record<string, string>): string {
  const settings = template
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n');
  return settings.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`settings template: no value for {{${name}}}`);
    if (/[\r\n]/.test(value)) throw new Error(`settings template: {{${name}}} holds a line break`);
    return value;
  });
}

/** A running QuickFIX program of this folder: its JSON lines, its commands, its stop. */
export class QuickFixProcess {
  private readonly msgs: FixWireMessage[] = [];
  private readonly evts: FixEvent[] = [];
  private readonly stderrTail: string[] = [];
  private waiters: Waiter[] = [];
  private acksAwaited = 0;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  protected constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    /** The directory of its settings file, message store and logs. */
    readonly storeDir: string,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    });
    child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      this.notify();
    });
  }

  protected static launch(binary: string, settingsPath: string): ChildProcess {
    return spawn(binary, [settingsPath], { stdio: ['pipe', 'pipe', 'pipe'], cwd: path.dirname(settingsPath) });
  }

  /** Every message in and out so far, in the order the program reported them. */
  messages(): FixWireMessage[] {
    return [...this.msgs];
  }

  events(): FixEvent[] {
    return [...this.evts];
  }

  /** How the program ended, once it has. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exit;
  }

  /**
   * The first reported message (from index `after` on) that satisfies `predicate`; fails with
   * `what` and the last messages when none arrives within `timeoutMs` or the program exits.
   */
  waitFor(
    predicate: (m: FixWireMessage, index: number) => boolean,
    what: string,
    timeoutMs = QUICKFIX_WAIT_MS,
    after = 0,
  ): Promise<FixWireMessage> {
    const find = () => {
      for (let i = after; i < this.msgs.length; i++) if (predicate(this.msgs[i]!, i)) return this.msgs[i];
      return undefined;
    };
    return this.until(find, what, timeoutMs);
  }

  /** The first event (from index `after` on) that satisfies `predicate`, as `waitFor`. */
  waitForEvent(
    predicate: (e: FixEvent) => boolean,
    what: string,
    timeoutMs = QUICKFIX_WAIT_MS,
    after = 0,
  ): Promise<FixEvent> {
    return this.until(() => this.evts.slice(after).find(predicate), what, timeoutMs);
  }

  /** Writes one command line; resolves with its ack, rejects when the program refused it. */
  async send(command: string): Promise<FixEvent> {
    if (/[\r\n]/.test(command)) throw new Error('a command is one line');
    const ackIndex = this.acksAwaited++;
    this.child.stdin!.write(`${command}\n`);
    const ack = await this.until(
      () => this.evts.filter((e) => e.event === 'command')[ackIndex],
      `the ack of "${command}"`,
      QUICKFIX_WAIT_MS,
    );
    if (ack.ok !== true) throw new Error(`${this.name} refused "${command}": ${ack.text ?? ''}`);
    return ack;
  }

  /** `quit` (a logged-on initiator logs out first), then waits for the exit; SIGKILL if it hangs. */
  async stop(): Promise<void> {
    if (this.exit === undefined) {
      this.child.stdin!.write('quit\n');
      this.child.stdin!.end();
      const gone = await this.until(() => this.exit, 'the exit after quit', STOP_WAIT_MS).catch(() => undefined);
      if (gone === undefined && this.child.pid !== undefined) {
        this.child.kill('SIGKILL');
        await this.until(() => this.exit, 'the exit after SIGKILL', STOP_WAIT_MS);
      }
    }
  }

  /** Removes the store directory (after stop; for a store kept across restarts, don't). */
  removeStore(): void {
    rmSync(this.storeDir, { recursive: true, force: true });
  }

  private onLine(line: string): void {
    let parsed: Line;
    try {
      parsed = JSON.parse(line) as Line;
    } catch {
      parsed = { event: 'unparsed', text: line };
    }
    if ('dir' in parsed) this.msgs.push(parsed);
    else this.evts.push(parsed);
    this.notify();
  }

  private notify(): void {
    this.waiters = this.waiters.filter((w) => !w.test());
  }

  private until<T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (why: string) => {
        const last = this.msgs
          .slice(-10)
          .map((m) => `${m.dir} ${m.msgType} ${m.seqNum}: ${m.wire.replaceAll('\x01', '|')}`);
        reject(
          new Error(
            `${this.name}: ${why} waiting for ${what}\nlast messages:\n${last.join('\n')}\nstderr:\n${this.stderrTail.join('\n')}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        fail(`no answer in ${timeoutMs} ms`);
      }, timeoutMs);
      const waiter: Waiter = {
        test: () => {
          const found = find();
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
            return true;
          }
          if (this.exit !== undefined) {
            clearTimeout(timer);
            fail(`exited (code ${this.exit.code}, signal ${this.exit.signal})`);
            return true;
          }
          return false;
        },
      };
      if (!waiter.test()) this.waiters.push(waiter);
    });
  }
}

export interface InitiatorOptions {
  host: string;
  port: number;
  senderCompId: string;
  /** What the acceptor expects in 56 (matchbook's default: MATCHBOOK). */
  targetCompId?: string;
  /** 553 Username. */
  apiKey: string;
  /** The HMAC secret the Logon's 96 RawData is signed with. */
  secret: string;
  /** The FIX44.xml QuickFIX validates incoming messages against (fixDictionaryPath()). */
  dictionaryPath: string;
  /** 8013 CancelOrdersOnDisconnect on the Logon (default false: N). */
  cancelOnDisconnect?: boolean;
  /** Settings, message store and logs; kept across starts to continue the sequence numbers (default: a new temp dir). */
  storeDir?: string;
  /** QuickFIX's ResetOnLogon (141=Y on every Logon); default false, so sequence numbers continue. */
  resetOnLogon?: boolean;
  heartBtIntSeconds?: number;
  /** More QuickFIX session settings (key → value), e.g. ValidateUserDefinedFields: 'N'. */
  extraSettings?: Record<string, string>;
}

/** The QuickFIX C++ initiator (initiator.cpp), started and logging on by itself. */
export class QuickFixInitiator extends QuickFixProcess {
  static async start(opts: InitiatorOptions): Promise<QuickFixInitiator> {
    const binary = await buildInitiator();
    const storeDir = opts.storeDir ?? mkdtempSync(path.join(os.tmpdir(), 'matchbook-quickfix-initiator-'));
    mkdirSync(storeDir, { recursive: true });
    const extra = Object.entries(opts.extraSettings ?? {}).map(([k, v]) => `${k}=${v}`);
    const settings = fillTemplate(readFileSync(path.join(HERE, 'initiator.cfg.template'), 'utf8'), {
      storeDir,
      host: opts.host,
      port: String(opts.port),
      senderCompId: opts.senderCompId,
      targetCompId: opts.targetCompId ?? 'MATCHBOOK',
      apiKey: opts.apiKey,
      secret: opts.secret,
      dictionaryPath: opts.dictionaryPath,
      cancelOnDisconnect: opts.cancelOnDisconnect === true ? 'Y' : 'N',
      resetOnLogon: opts.resetOnLogon === true ? 'Y' : 'N',
      heartBtIntSeconds: String(opts.heartBtIntSeconds ?? 30),
      extraSettings: extra.join('\n'),
    });
    const settingsPath = path.join(storeDir, 'initiator.cfg');
    writeFileSync(settingsPath, settings);
    const initiator = new QuickFixInitiator(
      'QuickFIX initiator',
      QuickFixProcess.launch(binary, settingsPath),
      storeDir,
    );
    await initiator.waitForEvent((e) => e.event === 'started', 'the initiator to start');
    return initiator;
  }
}

export interface SelftestAcceptorOptions {
  port: number;
  /** The acceptor's own comp id (the initiator's TargetCompID). */
  senderCompId: string;
  /** The initiator's SenderCompID. */
  targetCompId: string;
  dictionaryPath: string;
  storeDir?: string;
}

/** The QuickFIX C++ acceptor that proves the harness (acceptor-selftest.cpp). */
export class QuickFixSelftestAcceptor extends QuickFixProcess {
  static async start(opts: SelftestAcceptorOptions): Promise<QuickFixSelftestAcceptor> {
    const binary = await buildProgram('acceptor-selftest');
    const storeDir = opts.storeDir ?? mkdtempSync(path.join(os.tmpdir(), 'matchbook-quickfix-acceptor-'));
    const settings = fillTemplate(readFileSync(path.join(HERE, 'acceptor-selftest.cfg.template'), 'utf8'), {
      storeDir,
      port: String(opts.port),
      senderCompId: opts.senderCompId,
      targetCompId: opts.targetCompId,
      dictionaryPath: opts.dictionaryPath,
    });
    const settingsPath = path.join(storeDir, 'acceptor.cfg');
    writeFileSync(settingsPath, settings);
    const acceptor = new QuickFixSelftestAcceptor(
      'QuickFIX self-test acceptor',
      QuickFixProcess.launch(binary, settingsPath),
      storeDir,
    );
    await acceptor.waitForEvent((e) => e.event === 'started', 'the acceptor to start');
    return acceptor;
  }
}

/** FIX UTCTimestamp "YYYYMMDD-HH:MM:SS[.sss…]" → ms since the epoch (fraction truncated to ms), as the Logon signature uses it. */
export function utcTimestampMs(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value);
  if (m === null) throw new Error(`not a UTCTimestamp: ${value}`);
  const [, y, mo, d, h, mi, s, frac] = m;
  const ms = Number(`${frac ?? ''}000`.slice(0, 3));
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) + ms;
}
