// Child processes of the project's own programs, for tests, benchmarks and the chaos suite:
// spawn `node --import tsx <script>` from the repo root and wait (bounded) for its
// `{"event":"ready",…}` stdout line; keep the last lines of its output for diagnostics.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Output lines kept per child. */
const CHILD_LINES_KEPT = 2_000;

export interface Child {
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  alive: () => boolean;
}

/** Spawns `tsx <script> args` from the repo root; resolves once a stdout line contains `"event":"ready"`. */
export async function spawnReady(script: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<Child & { ready: Record<string, unknown> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: string[] = [];
  let alive = true;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => ((alive = false), resolve(code))));
  const keep = (prefix: string) => (d: Buffer) => {
    for (const l of d.toString('utf8').split('\n')) if (l !== '') lines.push(`${prefix}${l}`);
    if (lines.length > CHILD_LINES_KEPT) lines.splice(0, lines.length - CHILD_LINES_KEPT);
  };
  proc.stderr!.on('data', keep('! '));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${script} not ready within ${timeoutMs} ms\n${lines.slice(-30).join('\n')}`)), timeoutMs);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (lines.length > CHILD_LINES_KEPT) lines.splice(0, lines.length - CHILD_LINES_KEPT);
        if (line.includes('"event":"ready"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as Record<string, unknown>);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}) before it was ready\n${lines.slice(-30).join('\n')}`));
    });
  });
  return { proc, lines, exited, alive: () => alive, ready };
}

export async function kill(child: Child | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  if (child === undefined || !child.alive()) return null;
  child.proc.kill(signal);
  return child.exited;
}
