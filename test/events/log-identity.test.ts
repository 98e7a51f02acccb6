// The publisher's log identity checks (events/publisher/log-identity.ts), pure: which states and
// entries can be on the log a progress record is about. The behaviour over real processes is in
// publisher-resume.test.ts.

import { describe, expect, it } from 'vitest';
import {
  anchorOf,
  anchorOfProgress,
  entryMismatch,
  entrySha256,
  stateMismatch,
} from '../../events/publisher/log-identity.js';

const entry = { index: 7, term: 2, type: 1, data: Uint8Array.of(1, 2, 3) };
const state = { appliedIndex: 7, lastSeq: 40, logTimeUs: 1_700_000_000_000_000 };
const recorded = anchorOf(state, entry);
const progress = {
  shard: 0,
  log_index: 7,
  seq: 40,
  offsets: [],
  events_published: 0,
  publisher_id: 'p',
};

describe('log identity', () => {
  it('records the entry at the applied index, and nothing of an entry elsewhere', () => {
    expect(recorded).toEqual({
      logIndex: 7,
      seq: 40,
      logTimeUs: state.logTimeUs,
      term: 2,
      entrySha256: entrySha256(entry),
    });
    const viaSnapshot = anchorOf(state, { index: 7, term: 2, type: 0, data: undefined });
    expect(viaSnapshot.term).toBe(2);
    expect(viaSnapshot.entrySha256).toBeUndefined();
    expect(anchorOf(state, { ...entry, index: 6 }).term).toBe(0);
  });

  it('an entry of another log at the index: other term or other bytes', () => {
    expect(entryMismatch(recorded, entry)).toBeUndefined();
    expect(entryMismatch(recorded, { ...entry, term: 3 })).toMatch(/term 3/);
    expect(entryMismatch(recorded, { ...entry, data: Uint8Array.of(1, 2, 4) })).toMatch(/other bytes/);
    expect(entryMismatch(recorded, { ...entry, type: 2 })).toMatch(/other bytes/);
  });

  it('the state: equal at the index, never past it before', () => {
    expect(stateMismatch(recorded, state)).toBeUndefined();
    expect(stateMismatch(recorded, { ...state, lastSeq: 41 })).toMatch(/seq 41/);
    expect(stateMismatch(recorded, { ...state, logTimeUs: state.logTimeUs + 1 })).toMatch(/log time/);
    expect(stateMismatch(recorded, { appliedIndex: 3, lastSeq: 10, logTimeUs: state.logTimeUs - 5 })).toBeUndefined();
    // A wiped exchange runs later: its log time before the index is already past the recorded one.
    expect(stateMismatch(recorded, { appliedIndex: 3, lastSeq: 1, logTimeUs: state.logTimeUs + 1 })).toMatch(
      /log time/,
    );
    expect(stateMismatch(recorded, { appliedIndex: 3, lastSeq: 41, logTimeUs: 0 })).toMatch(/seq 41/);
    expect(stateMismatch(recorded, { ...state, appliedIndex: 8, lastSeq: 99 })).toBeUndefined();
  });

  it('a record without identity is legacy: only its seq compares', () => {
    const { anchor, legacy } = anchorOfProgress(progress);
    expect(legacy).toBe(true);
    expect(entryMismatch(anchor, { ...entry, term: 9 })).toBeUndefined();
    expect(stateMismatch(anchor, { ...state, logTimeUs: 5 })).toBeUndefined();
    expect(stateMismatch(anchor, { ...state, lastSeq: 39 })).toMatch(/seq 39/);
    const full = anchorOfProgress({
      ...progress,
      log_term: 2,
      entry_sha256: entrySha256(entry),
      log_time_us: state.logTimeUs,
    });
    expect(full.legacy).toBe(false);
    expect(full.anchor).toEqual(recorded);
  });
});
