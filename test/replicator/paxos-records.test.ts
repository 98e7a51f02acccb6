// The record log's codec and recovery (replicator/paxos/records.ts): encode/decode round trips,
// strict decoding (every malformed record is an error), and recovery checked against the
// in-memory harness (paxos-harness.ts): at every step of faulty runs, what recovery rebuilds from
// the encoded records of a replica's disk equals what its live core holds of durable state, and
// every prefix of a replica's record log (a torn tail) recovers to what the core itself rebuilds
// from that prefix.

import { describe, expect, it } from 'vitest';
import { PaxosCore } from '../../replicator/paxos/paxos-core.js';
import { PaxosRecordCorruptError, decodeRecord, encodeRecord, recoverRecords } from '../../replicator/paxos/records.js';
import { RecordKind, ValueType, type Ballot, type PaxosRecord } from '../../replicator/paxos/types.js';
import { Prng } from '../../replicator/prng.js';
import { PaxosCluster, paxosConfig, text } from './paxos-harness.js';

const FAULTS = { drop: 0.1, duplicate: 0.05, crash: 0.5, partition: 0.4, crashMidReady: 0.01, crashLostTail: 0.3 };

function randomBallot(rng: Prng): Ballot {
  const round = rng.chance(0.1) ? Number.MAX_SAFE_INTEGER - rng.int(3) : 1 + rng.int(1000);
  const leader = rng.chance(0.1) ? 0xffff_ffff : 1 + rng.int(7);
  return { round, leader };
}

function randomRecord(rng: Prng): PaxosRecord {
  const noop = rng.chance(0.2);
  const data = noop ? new Uint8Array(0) : Uint8Array.from({ length: rng.int(40) }, () => rng.int(256));
  const kind = rng.chance(0.5) ? RecordKind.ACCEPTED : RecordKind.CHOSEN;
  return {
    kind,
    slot: rng.chance(0.1) ? Number.MAX_SAFE_INTEGER : 1 + rng.int(100_000),
    ballot: randomBallot(rng),
    value: { type: noop ? ValueType.NOOP : ValueType.NORMAL, origin: randomBallot(rng), data },
    valueInAccepted: kind === RecordKind.CHOSEN && rng.chance(0.5),
  };
}

describe('paxos record codec', () => {
  it('round-trips every record; a CHOSEN whose value is in the accepted record becomes a reference', () => {
    const rng = new Prng(7);
    for (let k = 0; k < 5000; k++) {
      const r = randomRecord(rng);
      const d = decodeRecord(encodeRecord(r), k + 1);
      if (r.kind === RecordKind.CHOSEN && r.valueInAccepted) {
        expect(d).toEqual({ kind: RecordKind.CHOSEN, ref: true, slot: r.slot, ballot: r.ballot });
      } else expect(d).toEqual({ ...r, value: { ...r.value, data: Uint8Array.from(r.value.data) } });
    }
  });

  it('refuses every truncation, an extra byte, an unknown tag or value type, a zero ballot, a no-op with data', () => {
    const rng = new Prng(8);
    const corrupt = (buf: Uint8Array): void => {
      expect(() => decodeRecord(buf, 42)).toThrow(PaxosRecordCorruptError);
    };
    for (let k = 0; k < 300; k++) {
      const buf = encodeRecord(randomRecord(rng));
      for (let cut = 0; cut < buf.length; cut++) corrupt(buf.subarray(0, cut));
      corrupt(Uint8Array.from([...buf, 0]));
    }
    const base: PaxosRecord = {
      kind: RecordKind.ACCEPTED,
      slot: 3,
      ballot: { round: 2, leader: 1 },
      value: { type: ValueType.NORMAL, origin: { round: 2, leader: 1 }, data: Uint8Array.of(1, 2) },
      valueInAccepted: false,
    };
    const good = encodeRecord(base);
    expect(decodeRecord(good).slot).toBe(3);
    const edit = (at: number, byte: number): Uint8Array => {
      const b = Uint8Array.from(good);
      b[at] = byte;
      return b;
    };
    corrupt(edit(0, 9)); // tag
    corrupt(edit(21, 7)); // value type
    corrupt(edit(1, 0)); // slot 0
    corrupt(edit(9, 0)); // ballot round 0
    corrupt(edit(17, 0)); // ballot leader 0
    corrupt(edit(22, 0)); // origin round 0
    corrupt(edit(21, ValueType.NOOP)); // a no-op with 2 bytes of data
    expect(() => encodeRecord({ ...base, ballot: { round: 0, leader: 1 } })).toThrow(RangeError);
    expect(() => encodeRecord({ ...base, slot: 0 })).toThrow(RangeError);
  });

  it('recovery refuses contradictions: a reference without its record, two values chosen or accepted at one ballot', () => {
    const b = { round: 4, leader: 2 };
    const v = (s: string) => ({ type: ValueType.NORMAL, origin: b, data: new TextEncoder().encode(s) });
    const acc = (s: string): PaxosRecord => ({
      kind: RecordKind.ACCEPTED,
      slot: 5,
      ballot: b,
      value: v(s),
      valueInAccepted: false,
    });
    const cho = (s: string): PaxosRecord => ({ ...acc(s), kind: RecordKind.CHOSEN });
    const ref = { kind: RecordKind.CHOSEN, ref: true as const, slot: 5, ballot: b };
    expect(() => recoverRecords(b, 0, [ref], 10)).toThrow(/record 10: slot 5: a chosen reference/);
    expect(() => recoverRecords(b, 0, [acc('x'), acc('y')])).toThrow(PaxosRecordCorruptError);
    expect(() => recoverRecords(b, 0, [cho('x'), cho('y')])).toThrow(/two values chosen/);
    // A lower-ballot copy after a higher one (copy-forward): the highest stays the acceptor's state.
    const high = { ...acc('x'), ballot: { round: 5, leader: 1 } };
    const r = recoverRecords(b, 0, [acc('x'), high, acc('x'), ref]);
    expect(r.records).toEqual([high, { ...cho('x'), valueInAccepted: false }]);
    // Records the snapshot covers are dropped.
    expect(recoverRecords(b, 5, [acc('x'), cho('x')]).records).toEqual([]);
  });
});

/** Everything durable a core holds about its slots: the promise, the prefixes, per slot the acceptance and the learned value. */
function durableView(core: PaxosCore, slotMax: number): unknown {
  const st = core.status();
  const slots: string[] = [];
  for (let s = core.slots.compacted + 1; s <= slotMax; s++) {
    const a = core.slots.acceptedAt(s);
    const l = core.slots.learnedAt(s);
    if (a !== undefined)
      slots.push(`A${s}@${a.ballot.round}.${a.ballot.leader}=${text(a.value)}/${a.value.origin.round}`);
    if (l !== undefined) slots.push(`C${s}=${text(l.value)}/${l.value.origin.round}`);
  }
  return { promised: st.promised, chosen: st.chosen, compacted: st.compacted, slots };
}

function viaCodec(promised: Ballot, snapshotSlot: number, records: PaxosRecord[]) {
  return recoverRecords(
    promised,
    snapshotSlot,
    records.map((r, k) => decodeRecord(encodeRecord(r), k + 1)),
    1,
  );
}

function coreFrom(id: number, members: number[], state: ReturnType<typeof viaCodec>): PaxosCore {
  return new PaxosCore(
    paxosConfig(id, members, () => 0),
    state,
  );
}

function checkHosts(cl: PaxosCluster, members: number[]): number {
  let checked = 0;
  for (const h of cl.hosts.values()) {
    const { promised, records, snapshot } = h.disk;
    const slotMax = records.reduce((m, r) => Math.max(m, r.slot), snapshot.slot) + 1;
    const recovered = coreFrom(h.id, members, viaCodec(promised, snapshot.slot, records));
    // The harness's own restart path: the core replaying the raw records.
    const raw = coreFrom(h.id, members, { promised, snapshotSlot: snapshot.slot, records: [...records] });
    expect(durableView(recovered, slotMax)).toEqual(durableView(raw, slotMax));
    // A live replica between Readies has everything durable: recovery rebuilds exactly its state.
    if (h.core !== undefined) expect(durableView(recovered, slotMax)).toEqual(durableView(h.core, slotMax));
    checked++;
  }
  return checked;
}

describe('paxos record log recovery against the harness', () => {
  it('at every step of faulty runs, recovery from the encoded disk equals the live core; every prefix recovers as the core does', () => {
    let checks = 0;
    let prefixes = 0;
    const members = [1, 2, 3];
    for (let seed = 1; seed <= 40; seed++) {
      const cl = new PaxosCluster(members, new Prng(seed), FAULTS);
      for (let step = 0; step < 300; step++) {
        cl.randomStep();
        checks += checkHosts(cl, members);
      }
      cl.healAndConverge(20_000);
      checks += checkHosts(cl, members);
      for (const h of cl.hosts.values()) {
        const { promised, records, snapshot } = h.disk;
        const slotMax = records.reduce((m, r) => Math.max(m, r.slot), snapshot.slot) + 1;
        for (let n = 0; n <= records.length; n++) {
          const prefix = records.slice(0, n);
          const a = coreFrom(h.id, members, viaCodec(promised, snapshot.slot, prefix));
          const b = coreFrom(h.id, members, { promised, snapshotSlot: snapshot.slot, records: prefix });
          expect(durableView(a, slotMax)).toEqual(durableView(b, slotMax));
          prefixes++;
        }
      }
    }
    expect(checks).toBeGreaterThan(30_000);
    expect(prefixes).toBeGreaterThan(1000);
  }, 120_000);
});
