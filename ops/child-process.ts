// Child processes of the project's own programs, for tests, benchmarks and the chaos suite:
// spawn the program from the package root — `node --import tsx <script>.ts` when this code runs
// from the source tree (tests, development), `node dist/<script>.js` with no tsx when it runs
// compiled from dist/ (package-root.ts nodeArgsForScript) — wait (bounded) for its
// `{"event":"ready",…}` stdout line or any later `{"event":…}` line, keep the last lines of its
// output for diagnostics, and stop it (SIGTERM, then SIGKILL after a grace period).

import { spawn, type ChildProcess } from 'node:child_process';
import { PACKAGE_ROOT, nodeArgsForScript } from './package-root.js';

/** Output lines kept per child. */
const CHILD_LINES_KEPT = 2_000;
/** Default wait for the ready line (ms). */
const READY_TIMEOUT_MS_DEFAULT = 30_000;

export interface Child {
  name: string;
  proc: ChildProcess;
  /** The last CHILD_LINES_KEPT lines: stdout as is, stderr prefixed with "! ". */
  lines: string[];
  exited: Promise<number | null>;
  alive: () => boolean;
  /** Resolves with the next stdout JSON line whose `event` is `event` (rejects on timeout or exit). */
  nextEvent(event: string, timeoutMs: number): Promise<Record<string, unknown>>;
}

export interface SpawnOptions {
  /** For messages (default: the script). */
  name?: string;
  env?: NodeJS.ProcessEnv;
  /** Give the child a stdin pipe (default: none). */
  stdin?: boolean;
  readyTimeoutMs?: number;
  /** Options for node itself, before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** A command that runs node, before it (e.g. `ip netns exec <ns>`: deploy/netns/ runs each host's processes in its namespace). */
  prefix?: string[];
  /**
   * Run the compiled `dist/` form with plain node even when this code runs from the sources
   * (default: only when it runs from dist/). The caller must have built first (`npm run build`):
   * deploy/netns/ does, so a deployment runs what a user deploys.
   */
  compiled?: boolean;
}

/** Spawns `<script> args` (a source path: `events/query/main.ts`) from the package root; `ready` resolves with its ready line. */
export function spawnTsx(
  script: string,
  args: string[],
  opts: SpawnOptions = {},
): Child & { ready: Promise<Record<string, unknown>> } {
  const name = opts.name ?? script;
  const nodeArgv = [process.execPath, ...(opts.nodeArgs ?? []), ...nodeArgsForScript(script, opts.compiled), ...args];
  const argv = [...(opts.prefix ?? []), ...nodeArgv];
  const proc = spawn(argv[0]!, argv.slice(1), {
    cwd: PACKAGE_ROOT,
    stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const lines: string[] = [];
  let alive = true;
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      alive = false;
      resolve(code);
    }),
  );
  const keep = (l: string) => {
    lines.push(l);
    if (lines.length > CHILD_LINES_KEPT) lines.splice(0, lines.length - CHILD_LINES_KEPT);
  };
  const byLine = (each: (line: string) => void) => {
    let buf = '';
    return (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        each(line);
      }
    };
  };
  proc.stderr!.on(
    'data',
    byLine((l) => keep(`! ${l}`)),
  );
  const waiters: { event: string; resolve: (v: Record<string, unknown>) => void }[] = [];
  proc.stdout!.on(
    'data',
    byLine((line) => {
      keep(line);
      if (waiters.length === 0 || !line.startsWith('{"event":')) return;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      const k = waiters.findIndex((w) => w.event === msg.event);
      if (k >= 0) waiters.splice(k, 1)[0]!.resolve(msg);
    }),
  );
  const nextEvent = (event: string, timeoutMs: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const w = {
        event,
        resolve: (v: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(v);
        },
      };
      const timer = setTimeout(() => {
        const k = waiters.indexOf(w);
        if (k >= 0) waiters.splice(k, 1);
        reject(new Error(`${name}: no "${event}" within ${timeoutMs} ms\n${lines.slice(-30).join('\n')}`));
      }, timeoutMs);
      waiters.push(w);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code}) waiting for "${event}"\n${lines.slice(-30).join('\n')}`));
      });
    });
  const ready = nextEvent('ready', opts.readyTimeoutMs ?? READY_TIMEOUT_MS_DEFAULT);
  ready.catch(() => undefined); // the caller may await it later
  return { name, proc, lines, exited, alive: () => alive, nextEvent, ready };
}

/** Spawns `<script> args` (as spawnTsx) and waits for its ready line. */
export async function spawnReady(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = READY_TIMEOUT_MS_DEFAULT,
): Promise<Child & { ready: Record<string, unknown> }> {
  const c = spawnTsx(script, args, { env, readyTimeoutMs: timeoutMs });
  return { ...c, ready: await c.ready };
}

export async function kill(child: Child | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  if (child === undefined || !child.alive()) return null;
  child.proc.kill(signal);
  return child.exited;
}

/** SIGTERM, then SIGKILL if it has not exited within graceMs. */
export async function terminate(child: Child | undefined, graceMs: number): Promise<void> {
  if (child === undefined || !child.alive()) return;
  child.proc.kill('SIGTERM');
  await Promise.race([child.exited, new Promise((r) => setTimeout(r, graceMs))]);
  if (child.alive()) await kill(child, 'SIGKILL');
}
