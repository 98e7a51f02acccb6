// What a replay found. Every finding names where (shard, replica, log index or chain position,
// file and byte offset) and what differs; the exit code follows from the worst severity.

export const Severity = {
  /** Something differs or is damaged: the data do not prove what they claim. Exit 1. */
  FAIL: 'fail',
  /** Nothing differs, but something the data claim could not be checked (outside the replayed range, no key, no journal). Exit 3. */
  INCOMPLETE: 'incomplete',
  /** For the record (a torn tail beyond the commit index, a diverged uncommitted suffix). */
  NOTE: 'note',
} as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

export type CheckName = 'wal' | 'replicas' | 'snapshot' | 'replay' | 'journal' | 'heads' | 'chain' | 'reports';

export interface Finding {
  severity: Severity;
  check: CheckName;
  message: string;
  shard?: number;
  replica?: string;
  /** Raft log index. */
  index?: number;
  /** Gateway run (1-based, journal order) and position in its chain. */
  run?: number;
  chainSeq?: number;
  file?: string;
  offset?: number;
  line?: number;
}

export const ExitCode = {
  OK: 0,
  MISMATCH: 1,
  USAGE: 2,
  INCOMPLETE: 3,
} as const;

export class Findings {
  readonly list: Finding[] = [];
  /** Findings kept in full; beyond it only counted (a badly damaged log could produce millions). */
  static readonly KEPT_MAX = 1000;
  counts = { fail: 0, incomplete: 0, note: 0 };

  add(f: Finding): void {
    this.counts[f.severity]++;
    if (this.list.length < Findings.KEPT_MAX) this.list.push(f);
  }

  fail(check: CheckName, message: string, where: Omit<Finding, 'severity' | 'check' | 'message'> = {}): void {
    this.add({ severity: Severity.FAIL, check, message, ...where });
  }

  incomplete(check: CheckName, message: string, where: Omit<Finding, 'severity' | 'check' | 'message'> = {}): void {
    this.add({ severity: Severity.INCOMPLETE, check, message, ...where });
  }

  note(check: CheckName, message: string, where: Omit<Finding, 'severity' | 'check' | 'message'> = {}): void {
    this.add({ severity: Severity.NOTE, check, message, ...where });
  }

  exitCode(): number {
    if (this.counts.fail > 0) return ExitCode.MISMATCH;
    if (this.counts.incomplete > 0) return ExitCode.INCOMPLETE;
    return ExitCode.OK;
  }
}

/** One line for a human: severity, where, what. */
export function formatFinding(f: Finding): string {
  const where: string[] = [];
  if (f.shard !== undefined) where.push(`shard ${f.shard}`);
  if (f.replica !== undefined) where.push(f.replica);
  if (f.index !== undefined) where.push(`index ${f.index}`);
  if (f.run !== undefined) where.push(`run ${f.run}`);
  if (f.chainSeq !== undefined) where.push(`chain_seq ${f.chainSeq}`);
  if (f.file !== undefined)
    where.push(
      f.offset !== undefined ? `${f.file} @${f.offset}` : f.line !== undefined ? `${f.file}:${f.line}` : f.file,
    );
  return `${f.severity.toUpperCase()} [${f.check}]${where.length > 0 ? ` ${where.join(', ')}` : ''}: ${f.message}`;
}
