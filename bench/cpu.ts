// CPU time per process over a benchmark step, from /proc (Linux): where the cycles of a step
// went — the load generator, the gateway, the replicas — which on a 2-core machine says more
// about a throughput ceiling than any latency figure. Elsewhere (no /proc) the figures are null.

import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat utime/stime (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/** utime + stime of a process in ms, or undefined if it cannot be read. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
}

/** Named processes to account; 'self' is this process. */
export type CpuTargets = Record<string, number | 'self'>;

export interface CpuSample {
  at: Record<string, number | undefined>;
}

export function sampleCpu(targets: CpuTargets): CpuSample {
  const at: Record<string, number | undefined> = {};
  for (const [name, pid] of Object.entries(targets)) {
    if (pid === 'self') {
      const u = process.cpuUsage();
      at[name] = (u.user + u.system) / 1000;
    } else at[name] = processCpuMs(pid);
  }
  return { at };
}

/**
 * CPU µs per unit of work (e.g. per order) of each process between two samples, plus
 * `total`; and `coresBusy`: CPU time over wall time (2.0 = both cores of this machine busy).
 */
export function cpuPerUnit(
  before: CpuSample,
  after: CpuSample,
  units: number,
  wallMs: number,
): { usPerUnit: Record<string, number | null>; coresBusy: number | null } {
  const usPerUnit: Record<string, number | null> = {};
  let totalMs = 0;
  let complete = true;
  for (const name of Object.keys(after.at)) {
    const a = before.at[name];
    const b = after.at[name];
    if (a === undefined || b === undefined || units <= 0) {
      usPerUnit[name] = null;
      complete = false;
      continue;
    }
    totalMs += b - a;
    usPerUnit[name] = Math.round(((b - a) * 1000) / units);
  }
  usPerUnit.total = complete && units > 0 ? Math.round((totalMs * 1000) / units) : null;
  return { usPerUnit, coresBusy: complete && wallMs > 0 ? Math.round((totalMs / wallMs) * 100) / 100 : null };
}
