// Fuzz of the FIX 4.4 message validation (fix/validate.ts validateFix against the real
// dictionary, fix/FIX44.xml): valid messages of every type the acceptor receives (logon,
// admin, orders, a NewOrderSingle with nested repeating groups, an ExecutionReport) are
// mutated field-wise — fields dropped, duplicated, moved, their values replaced (empty, signs,
// exponents, SOH, overlong, other types' values, other enum values), tags replaced by random
// numbers (0, negative, fractional, NaN, huge, defined elsewhere), fields inserted, MsgType
// changed — and validated.
//
// Asserted for every input: validateFix never throws; it returns undefined or a FixInvalid
// whose reason is one of FIX 4.4's 373 SessionRejectReason values, whose refTagId (when set)
// is a tag of the message (a defined tag it lacks for 1 RequiredTagMissing; 8, 9 or 35 for 14 when the
// message does not start with them), and whose text is not empty; validating it twice gives the same
// answer, also after another message was validated in between (the scratch state of the tags
// seen does not leak between messages); the unmutated messages are always accepted. Exact
// oracles for the mutations with one known answer: a required field dropped → 1 with that tag;
// a body field repeated → 13; a tag the dictionary does not define → 3; an enumerated field
// given a well-formed value outside its enumeration → 5.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/fix-validate.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fix44Dictionary } from '../../fix/dictionary.js';
import { type FixField, type FixMessage, SessionRejectReason } from '../../fix/message.js';
import { type FixInvalid, validateFix } from '../../fix/validate.js';
import { VALID_MESSAGES } from '../fix/valid-messages.js';
import { fcParams } from './harness.js';

const dict = fix44Dictionary();
const REASONS = new Set<number>(Object.values(SessionRejectReason));
const DEFINED_TAGS = dict.fieldsByTag.flatMap((def) => (def === undefined ? [] : [def.tag]));

const valueArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', '-', '.', '-0', '0', '1', '1.5', '-1.5', '1e5', '+1', ' 1', 'Y', 'N', 'y', '\x01', 'a\x01b'),
  fc.constantFrom(
    '20261207-14:19:55',
    '20261207-14:19:55.123',
    '20261207-24:00:00',
    '20261207',
    '14:19:55',
    '202612w3',
  ),
  fc.constantFrom('9007199254740991', '9007199254740992', '1'.repeat(41), '0'.repeat(100), 'FIX.4.4', 'D', 'ZZ'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.integer({ min: -5, max: 1_000_000 }).map(String),
);

const tagArb: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...DEFINED_TAGS),
  fc.constantFrom(0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 5000, 9999, 10_000, 2 ** 31, 2 ** 53),
  fc.integer({ min: -10, max: 20_000 }),
);

type Mutation =
  | { kind: 'drop'; at: number }
  | { kind: 'duplicate'; at: number; to: number }
  | { kind: 'move'; at: number; to: number }
  | { kind: 'value'; at: number; value: string }
  | { kind: 'tag'; at: number; tag: number }
  | { kind: 'insert'; to: number; tag: number; value: string }
  | { kind: 'msgType'; value: string };

const at = fc.nat({ max: 40 });
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at }),
  fc.record({ kind: fc.constant('duplicate' as const), at, to: at }),
  fc.record({ kind: fc.constant('move' as const), at, to: at }),
  fc.record({ kind: fc.constant('value' as const), at, value: valueArb }),
  fc.record({ kind: fc.constant('tag' as const), at, tag: tagArb }),
  fc.record({ kind: fc.constant('insert' as const), to: at, tag: tagArb, value: valueArb }),
  fc.record({
    kind: fc.constant('msgType' as const),
    value: fc.oneof(fc.constantFrom('D', 'A', '8', 'j', 'Z', 'ZZ', ''), valueArb),
  }),
);

function applyMutation(msg: FixMessage, m: Mutation): FixMessage {
  const fields: FixField[] = [...msg.fields];
  const n = fields.length;
  switch (m.kind) {
    case 'drop':
      fields.splice(m.at % n, 1);
      break;
    case 'duplicate':
      fields.splice(m.to % (n + 1), 0, fields[m.at % n]!);
      break;
    case 'move': {
      const [f] = fields.splice(m.at % n, 1);
      fields.splice(m.to % n, 0, f!);
      break;
    }
    case 'value':
      fields[m.at % n] = [fields[m.at % n]![0], m.value];
      break;
    case 'tag':
      fields[m.at % n] = [m.tag, fields[m.at % n]![1]];
      break;
    case 'insert':
      fields.splice(m.to % (n + 1), 0, [m.tag, m.value]);
      break;
    case 'msgType': {
      const i = fields.findIndex(([t]) => t === 35);
      if (i >= 0) fields[i] = [35, m.value];
      return { fields, msgType: m.value };
    }
  }
  const type = fields.find(([t]) => t === 35)?.[1] ?? msg.msgType;
  return { fields, msgType: type };
}

/** Checks the invariants of one answer; returns it. */
function checkAnswer(msg: FixMessage, answer: FixInvalid | undefined): FixInvalid | undefined {
  if (answer === undefined) return answer;
  expect(REASONS.has(answer.reason), `reason ${answer.reason}`).toBe(true);
  expect(answer.text.length).toBeGreaterThan(0);
  const tags = msg.fields.map(([t]) => t);
  // A required tag missing at the top level is absent; one missing in a group entry may be in another entry.
  if (answer.reason === SessionRejectReason.RequiredTagMissing)
    expect(dict.fieldsByTag[answer.refTagId!]).toBeDefined();
  else if (answer.reason === SessionRejectReason.TagOutOfOrder && answer.refTagId! in { 8: 1, 9: 1, 35: 1 })
    return answer;
  else if (answer.refTagId !== undefined) expect(tags, `refTagId ${answer.refTagId}`).toContain(answer.refTagId);
  return answer;
}

const messageArb = fc.constantFrom(...VALID_MESSAGES);

describe('fuzz: validateFix', () => {
  it('accepts every unmutated message', () => {
    for (const msg of VALID_MESSAGES) expect(validateFix(dict, msg), msg.msgType).toBeUndefined();
  });

  it('never throws on mutated messages, answers a 373 reason, deterministically', () => {
    fc.assert(
      fc.property(messageArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), messageArb, (base, ms, other) => {
        const msg = ms.reduce(applyMutation, base);
        const first = checkAnswer(msg, validateFix(dict, msg));
        expect(validateFix(dict, other)).toBeUndefined();
        expect(validateFix(dict, msg)).toEqual(first);
      }),
      fcParams(20_000),
    );
  });

  it('a required field dropped → 1 RequiredTagMissing with its tag', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (base, k) => {
        const required = [
          ...dict.header.required,
          ...dict.messages.get(base.msgType)!.required,
          ...dict.trailer.required,
        ].filter((t) => t !== 8 && t !== 9 && t !== 35);
        const tag = required[k % required.length]!;
        const fields = base.fields.filter(([t]) => t !== tag);
        expect(validateFix(dict, { fields, msgType: base.msgType })).toMatchObject({ reason: 1, refTagId: tag });
      }),
      fcParams(500),
    );
  });

  it('a body field repeated → 13; an undefined tag → 3; a value outside the enumeration → 5', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 10_000, max: 2 ** 40 }), (base, k, undefinedTag) => {
        const def = dict.messages.get(base.msgType)!;
        const body = base.fields.filter(
          ([t]) => def.tags.has(t) && !def.groups.has(t) && dict.fieldsByTag[t]!.type !== 'DATA', // DATA: its length first
        );
        if (body.length === 0) return;
        const [tag, value] = body[k % body.length]!;
        const end = base.fields.length - 1; // before CheckSum
        const repeated = [...base.fields.slice(0, end), [tag, value] as FixField, base.fields[end]!];
        expect(validateFix(dict, { fields: repeated, msgType: base.msgType })).toMatchObject({
          reason: 13,
          refTagId: tag,
        });
        const undefinedField = [...base.fields.slice(0, end), [undefinedTag, 'x'] as FixField, base.fields[end]!];
        expect(validateFix(dict, { fields: undefinedField, msgType: base.msgType })).toMatchObject({ reason: 3 });
        const enumerated = body.filter(
          ([t]) => dict.fieldsByTag[t]!.values !== undefined && dict.fieldsByTag[t]!.type === 'CHAR',
        );
        if (enumerated.length === 0) return;
        const [eTag] = enumerated[k % enumerated.length]!;
        const outside = '~'; // a well-formed CHAR no FIX 4.4 enumeration has
        const fields = base.fields.map(([t, v]): FixField => [t, t === eTag ? outside : v]);
        expect(validateFix(dict, { fields, msgType: base.msgType })).toMatchObject({ reason: 5, refTagId: eTag });
      }),
      fcParams(500),
    );
  });
});
