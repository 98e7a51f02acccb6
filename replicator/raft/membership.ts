// Cluster membership as the log defines it (Raft thesis §4.1): a configuration takes effect on
// a server as soon as its CONF_CHANGE entry is in that server's log, committed or not, and
// reverts if the entry is overwritten. So a server's configuration is a function of its log
// (the snapshot's configuration plus the CONF_CHANGE entries after it), and a restarted server
// has the same configuration it had before, whatever it had applied or knew committed.
//
// Why not apply-time configurations (etcd): there a configuration takes effect when the entry
// is applied, which needs the commit index persisted before applying and a guard against
// campaigning with unapplied changes; a restart that recovers a lower commit index than the
// one it applied (or a torn write that kept the entries but not the commit) made a server
// fall back to a configuration two changes old, win an election with it and split the
// cluster in two (replicator/README.md, "Membership").
//
// Pure: no I/O. One change at a time (one server added, promoted or removed), which keeps any
// majority of the old configuration and any majority of the new one overlapping.

import { invariant } from './raft-log.js';
import { ConfChangeType, type ConfChange, type ConfState } from './types.js';

/** Encoded size of a ConfChange: u8 type, f64 node id. */
export const CONF_CHANGE_BYTES = 9;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const b = new Uint8Array(CONF_CHANGE_BYTES);
  const v = new DataView(b.buffer);
  v.setUint8(0, cc.type);
  v.setFloat64(1, cc.node, true);
  return b;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  invariant(data.length === CONF_CHANGE_BYTES, `conf change: ${data.length} bytes, expected ${CONF_CHANGE_BYTES}`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { type: v.getUint8(0) as ConfChangeType, node: v.getFloat64(1, true) };
}

export function copyConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

/** Is `cc` a valid single change of `conf`? (add: not a member yet; promote: a learner; remove: a member, never the last voter.) */
export function confChangeValid(conf: ConfState, cc: ConfChange): boolean {
  const isVoter = conf.voters.includes(cc.node);
  const isLearner = conf.learners.includes(cc.node);
  if (!Number.isSafeInteger(cc.node) || cc.node <= 0) return false;
  switch (cc.type) {
    case ConfChangeType.ADD_LEARNER:
      return !isVoter && !isLearner;
    case ConfChangeType.PROMOTE:
      return isLearner;
    case ConfChangeType.REMOVE:
      return isLearner || (isVoter && conf.voters.length > 1);
    default:
      return false;
  }
}

/**
 * The configuration after `cc`. Total: an invalid change (which a leader never proposes) leaves
 * the configuration as it is, so every server computes the same result from the same log.
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  if (!confChangeValid(conf, cc)) return copyConf(conf);
  const voters = conf.voters.filter((v) => v !== cc.node);
  const learners = conf.learners.filter((l) => l !== cc.node);
  if (cc.type === ConfChangeType.ADD_LEARNER) learners.push(cc.node);
  else if (cc.type === ConfChangeType.PROMOTE) voters.push(cc.node);
  return { voters: voters.sort(ascending), learners: learners.sort(ascending) };
}

/**
 * The configurations of one server's log: the one in force at the snapshot index (`base`) and
 * one per CONF_CHANGE entry after it, in index order. The newest is the one in force.
 */
export class ConfLog {
  private base: ConfState;
  private readonly changes: { index: number; conf: ConfState }[] = [];

  constructor(base: ConfState) {
    this.base = copyConf(base);
  }

  /** The configuration in force: the newest in the log. */
  get current(): ConfState {
    return this.changes.length > 0 ? this.changes[this.changes.length - 1]!.conf : this.base;
  }

  /** Index of the newest CONF_CHANGE entry in the log (0 if none after the snapshot). */
  get lastChangeIndex(): number {
    return this.changes.length > 0 ? this.changes[this.changes.length - 1]!.index : 0;
  }

  /** The configuration as of `index` (≥ the snapshot index): what a snapshot taken there records. */
  at(index: number): ConfState {
    let conf = this.base;
    for (const c of this.changes) {
      if (c.index > index) break;
      conf = c.conf;
    }
    return copyConf(conf);
  }

  /** A CONF_CHANGE entry was appended at `index` (after every one already recorded). */
  appended(index: number, cc: ConfChange): void {
    invariant(index > this.lastChangeIndex, `conf log: change at ${index} after one at ${this.lastChangeIndex}`);
    this.changes.push({ index, conf: applyConfChange(this.current, cc) });
  }

  /** The log lost every entry from `index` on (overwritten by a leader): their changes are undone. */
  truncatedFrom(index: number): void {
    while (this.changes.length > 0 && this.changes[this.changes.length - 1]!.index >= index) this.changes.pop();
  }

  /** The log was compacted through `index`: the configuration there becomes the base. */
  compactedThrough(index: number): void {
    this.base = this.at(index);
    let k = 0;
    while (k < this.changes.length && this.changes[k]!.index <= index) k++;
    this.changes.splice(0, k);
  }

  /** The log was replaced by a snapshot with this configuration. */
  reset(base: ConfState): void {
    this.base = copyConf(base);
    this.changes.length = 0;
  }
}

function ascending(a: number, b: number): number {
  return a - b;
}
