// Which log a progress record is about (issue 18). A progress record says "every event of the
// shard's log up to log_index is in the topics"; resuming after it skips the first log_index
// entries of whatever log the replicas hold now. If the exchange was wiped (new data dirs, a new
// log) while the brokers were kept, those entries are another log's and skipping them loses
// acknowledged fills. So the record carries the identity of the log at log_index — the entry's
// term and SHA-256 and the state machine's seq and log time there — and a publisher resumes from
// it only after the replicas' log showed the same (pure checks here; publisher.ts reads the log).
//
// Why these: the term and the entry bytes identify the entry (two logs hold byte-equal entries
// with the same term only for empty ones: a new leader's no-op); the seq (commands before it)
// and the log time (the newest command time, µs, from the leader's clock) identify the history
// up to it, and both only grow along one log, so a log that passes either of them *before*
// log_index cannot be the recorded one (a wiped exchange runs later: its log time is past the
// old one's at its first command).

import { createHash } from 'node:crypto';
import type { ProgressRecord } from '../codec.js';

/** The recorded identity of the log at one index (what a progress record carries). */
export interface LogAnchor {
  logIndex: number;
  /** The shard's engine seq at logIndex. */
  seq: number;
  /** The state machine's log time at logIndex (µs); undefined in records written before issue 18. */
  logTimeUs: number | undefined;
  /** Term of the entry at logIndex; 0 = not recorded. */
  term: number;
  /** SHA-256 of the entry at logIndex (entrySha256); undefined = not recorded (reached through a snapshot). */
  entrySha256: Uint8Array | undefined;
}

/** A point of the replicas' log as the publisher's own state machine sees it. */
export interface StateAt {
  appliedIndex: number;
  lastSeq: number;
  logTimeUs: number;
}

/** SHA-256 of an entry: its type byte, then its data (the bytes op `entries` serves). */
export function entrySha256(e: { type: number; data: Uint8Array }): Uint8Array {
  return createHash('sha256')
    .update(Uint8Array.of(e.type & 0xff))
    .update(e.data)
    .digest();
}

/** The anchor a progress record carries; `legacy` when it has none of the identity fields (written before them). */
export function anchorOfProgress(p: ProgressRecord): { anchor: LogAnchor; legacy: boolean } {
  const sha = p.entry_sha256 !== undefined && p.entry_sha256.length === 32 ? p.entry_sha256 : undefined;
  const term = p.log_term ?? 0;
  const logTimeUs = p.log_time_us ?? 0;
  const legacy = sha === undefined && term === 0 && logTimeUs === 0;
  return {
    anchor: { logIndex: p.log_index, seq: p.seq, logTimeUs: legacy ? undefined : logTimeUs, term, entrySha256: sha },
    legacy,
  };
}

/** Why the replicas' entry at the anchor's index is not the recorded one (undefined: it is, as far as recorded). */
export function entryMismatch(
  a: LogAnchor,
  e: { index: number; term: number; type: number; data: Uint8Array },
): string | undefined {
  if (e.index !== a.logIndex) return `entry ${e.index} is not at the recorded index ${a.logIndex}`;
  if (a.term !== 0 && e.term !== a.term)
    return `the replicas' entry ${a.logIndex} has term ${e.term}, the progress record's has term ${a.term}`;
  if (a.entrySha256 !== undefined && !Buffer.from(entrySha256(e)).equals(Buffer.from(a.entrySha256)))
    return `the replicas' entry ${a.logIndex} (term ${e.term}) has other bytes than the progress record's (SHA-256 differs)`;
  return undefined;
}

/**
 * Why the state at or before the anchor's index cannot be on the recorded log: at the index, seq
 * and log time must equal the recorded ones; before it, neither may be past them (both only grow
 * along a log). Undefined: consistent.
 */
export function stateMismatch(a: LogAnchor, s: StateAt): string | undefined {
  if (s.appliedIndex > a.logIndex) return undefined;
  const at = s.appliedIndex === a.logIndex;
  if (at ? s.lastSeq !== a.seq : s.lastSeq > a.seq)
    return `the replicas' log has engine seq ${s.lastSeq} at index ${s.appliedIndex}, the progress record has seq ${a.seq} at index ${a.logIndex}`;
  if (a.logTimeUs !== undefined && (at ? s.logTimeUs !== a.logTimeUs : s.logTimeUs > a.logTimeUs))
    return `the replicas' log has log time ${s.logTimeUs} µs at index ${s.appliedIndex}, the progress record has ${a.logTimeUs} µs at index ${a.logIndex}`;
  return undefined;
}

/** The anchor to record for the state machine's current point (entry: the raw entry applied last, if it is at that point). */
export function anchorOf(
  s: StateAt,
  last: { index: number; term: number; type: number; data: Uint8Array | undefined } | undefined,
): LogAnchor {
  const here = last !== undefined && last.index === s.appliedIndex;
  return {
    logIndex: s.appliedIndex,
    seq: s.lastSeq,
    logTimeUs: s.logTimeUs,
    term: here ? last.term : 0,
    entrySha256: here && last.data !== undefined ? entrySha256({ type: last.type, data: last.data }) : undefined,
  };
}
