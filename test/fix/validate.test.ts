// fix/validate.ts: each 373 SessionRejectReason validateFix gives, from a concrete message, and
// the messages the acceptor handles accepted as a FIX 4.4 counterparty (QuickFIX) sends them.

import { describe, expect, it } from 'vitest';
import { fix44Dictionary } from '../../fix/dictionary.js';
import type { FixField, FixMessage } from '../../fix/message.js';
import { validateFix } from '../../fix/validate.js';
import { NOS, VALID, fix, header } from './valid-messages.js';

const dict = fix44Dictionary();

describe('validateFix accepts valid messages', () => {
  for (const [msgType, body] of Object.entries(VALID))
    it(`35=${msgType}`, () => expect(validateFix(dict, fix(msgType, body))).toBeUndefined());

  it('a NewOrderSingle with repeating groups (nested), and a header group', () => {
    const msg = fix('D', [
      [11, 'c1'],
      [453, '2'],
      [448, 'P1'],
      [447, 'D'],
      [452, '3'],
      [802, '2'],
      [523, 'S1'],
      [803, '1'],
      [523, 'S2'],
      [448, 'P2'],
      [452, '11'],
      [54, '2'],
      [60, '20261207-14:19:55'],
      [40, '1'],
    ]);
    expect(validateFix(dict, msg)).toBeUndefined();
    const hops: FixField[] = [...header('0').slice(0, 7), [627, '1'], [628, 'HOP'], [629, '20261207-14:19:55']];
    expect(validateFix(dict, { msgType: '0', fields: [...hops, [10, '000']] })).toBeUndefined();
  });

  it('PossDup resends with OrigSendingTime, and an empty group count', () => {
    const msg = fix('D', NOS);
    const fields = [
      ...msg.fields.slice(0, 7),
      [43, 'Y'],
      [122, '20261207-14:19:54'],
      ...msg.fields.slice(7),
    ] as FixField[];
    expect(validateFix(dict, { msgType: 'D', fields })).toBeUndefined();
    expect(validateFix(dict, fix('D', [...NOS.slice(0, -1), [453, '0']]))).toBeUndefined();
  });
});

/** Replaces (or with `value` undefined, removes) the first field `tag` of the valid NewOrderSingle. */
const nosWith = (tag: number, value?: string): FixMessage =>
  fix(
    'D',
    NOS.flatMap(([t, v]): FixField[] => (t !== tag ? [[t, v]] : value === undefined ? [] : [[t, value]])),
  );

describe('validateFix: each SessionRejectReason', () => {
  it('0 InvalidTagNumber: a tag that is not a positive integer', () => {
    for (const tag of [0, -1, 1.5, Number.NaN])
      expect(validateFix(dict, fix('D', [[tag, 'x'], ...NOS]))).toMatchObject({ reason: 0 });
    expect(validateFix(dict, fix('D', [[0, 'x'], ...NOS]))?.refTagId).toBeUndefined();
  });

  it('1 RequiredTagMissing: the required fields of D, F, G, H, q, A, the header and trailer', () => {
    const cases: [string, number[]][] = [
      ['D', [11, 54, 60, 40]],
      ['F', [41, 11, 54, 60]],
      ['G', [41, 11, 54, 60, 40]],
      ['H', [11, 54]],
      ['q', [11, 530, 60]],
      ['A', [98, 108]],
    ];
    for (const [msgType, tags] of cases)
      for (const tag of tags) {
        const body = VALID[msgType]!.filter(([t]) => t !== tag);
        expect(validateFix(dict, fix(msgType, body)), `${msgType} without ${tag}`).toEqual({
          reason: 1,
          refTagId: tag,
          text: expect.stringContaining(`${tag}`),
        });
      }
    for (const tag of [34, 49, 52, 56]) {
      const fields = fix('D', NOS).fields.filter(([t]) => t !== tag);
      expect(validateFix(dict, { msgType: 'D', fields })).toMatchObject({ reason: 1, refTagId: tag });
    }
    const noCheckSum = fix('D', NOS).fields.slice(0, -1);
    expect(validateFix(dict, { msgType: 'D', fields: noCheckSum })).toMatchObject({ reason: 1, refTagId: 10 });
  });

  it('1 RequiredTagMissing in a group entry', () => {
    // NoOrders (73) of NewOrderList (E): each entry needs ClOrdID (11, the delimiter), ListSeqNo (67), Side (54).
    expect(dict.messages.get('E')!.groups.get(73)!.required).toEqual([11, 67, 54]);
    const list = (second: FixField[]) =>
      fix('E', [
        [66, 'L1'],
        [394, '3'],
        [68, '2'],
        [73, '2'],
        [11, 'c1'],
        [67, '1'],
        [55, 'BTC-USD'],
        [54, '1'],
        ...second,
      ]);
    expect(
      validateFix(
        dict,
        list([
          [11, 'c2'],
          [67, '2'],
          [54, '2'],
        ]),
      ),
    ).toBeUndefined();
    expect(
      validateFix(
        dict,
        list([
          [11, 'c2'],
          [54, '2'],
        ]),
      ),
    ).toMatchObject({ reason: 1, refTagId: 67 });
  });

  it('2 TagNotDefinedForMessageType: a defined tag on the wrong message, a group member outside its group', () => {
    expect(validateFix(dict, fix('F', [[7928, 'T'], ...VALID['F']!]))).toMatchObject({ reason: 2, refTagId: 7928 });
    expect(validateFix(dict, fix('A', [[112, 'T1'], ...VALID['A']!]))).toMatchObject({ reason: 2, refTagId: 112 });
    expect(validateFix(dict, fix('D', [[448, 'P1'], ...NOS]))).toMatchObject({ reason: 2, refTagId: 448 });
  });

  it('3 UndefinedTag: a tag the dictionary does not define', () => {
    for (const tag of [5000, 7927, 9999, 10_000, 20_000, 2 ** 40])
      expect(validateFix(dict, fix('D', [...NOS, [tag, 'x']]))).toMatchObject({ reason: 3, refTagId: tag });
  });

  it('4 TagSpecifiedWithoutValue', () => {
    expect(validateFix(dict, nosWith(44, ''))).toMatchObject({ reason: 4, refTagId: 44 });
    expect(validateFix(dict, nosWith(1, ''))).toMatchObject({ reason: 4, refTagId: 1 });
  });

  it('5 ValueIsIncorrect: a value outside the enumeration', () => {
    const cases: [number, string][] = [
      [54, 'Z'],
      [40, 'Z'],
      [59, '9'],
      [7928, 'X'],
      [18, '6 ZZ'],
      [18, '6  E'],
    ];
    for (const [tag, value] of cases)
      expect(validateFix(dict, nosWith(tag, value)), `${tag}=${value}`).toMatchObject({ reason: 5, refTagId: tag });
    expect(validateFix(dict, nosWith(18, '6 E'))).toBeUndefined(); // MULTIPLEVALUESTRING: each value checked
    const logon = VALID['A']!.map(([t, v]): FixField => [t, t === 8013 ? 'y' : v]);
    expect(validateFix(dict, fix('A', logon))).toMatchObject({ reason: 6, refTagId: 8013 }); // BOOLEAN: format first
    expect(
      validateFix(
        dict,
        fix('A', [
          [98, '7'],
          [108, '30'],
        ]),
      ),
    ).toMatchObject({ reason: 5, refTagId: 98 });
  });

  it('6 IncorrectDataFormat: per type', () => {
    const cases: [number, string][] = [
      [44, '1e5'],
      [44, '1,5'],
      [44, '+1'],
      [44, 'abc'],
      [44, '1'.repeat(41)],
      [38, '.'],
      [111, '-'],
      [60, '20261207-14:19:55.1234'],
      [60, '2026-12-07T14:19:55Z'],
      [60, '20261232-00:00:00'],
      [126, '20261207'],
      [7928, 'TT'],
      [54, ''.padEnd(2, '1')],
    ];
    for (const [tag, value] of cases)
      expect(validateFix(dict, nosWith(tag, value)), `${tag}=${value}`).toMatchObject({ reason: 6, refTagId: tag });
    const header34 = fix('D', NOS).fields.map(([t, v]): FixField => [t, t === 34 ? '-2' : v]);
    expect(validateFix(dict, { msgType: 'D', fields: header34 })).toMatchObject({ reason: 6, refTagId: 34 });
    expect(
      validateFix(
        dict,
        fix('A', [
          [98, '0'],
          [108, '3x'],
        ]),
      ),
    ).toMatchObject({ reason: 6, refTagId: 108 });
    expect(
      validateFix(
        dict,
        fix('A', [
          [98, '0'],
          [108, '99999999999999999'],
        ]),
      ),
    ).toMatchObject({ reason: 6, refTagId: 108 });
    expect(
      validateFix(
        dict,
        fix('2', [
          [7, '1'],
          [16, '1.0'],
        ]),
      ),
    ).toMatchObject({ reason: 6, refTagId: 16 });
    expect(validateFix(dict, fix('D', [...NOS.slice(0, -1), [453, '-1']]))).toMatchObject({ reason: 6, refTagId: 453 });
    expect(
      validateFix(
        dict,
        fix('H', [
          [11, 'c1'],
          [54, '1'],
          [75, '2026120'],
        ]),
      ),
    ).toMatchObject({ reason: 6, refTagId: 75 });
  });

  it('11 InvalidMsgType', () => {
    for (const msgType of ['BI', 'ZZ', 'd0', 'U1', 'Aa', ''])
      expect(validateFix(dict, fix(msgType, []))).toMatchObject({ reason: 11, refTagId: 35 });
  });

  it('13 TagAppearsMoreThanOnce: in the body, the header, a group entry', () => {
    expect(validateFix(dict, fix('D', [...NOS, [44, '1']]))).toMatchObject({ reason: 13, refTagId: 44 });
    const twice49 = fix('D', NOS).fields.flatMap((f): FixField[] => (f[0] === 49 ? [f, f] : [f]));
    expect(validateFix(dict, { msgType: 'D', fields: twice49 })).toMatchObject({ reason: 13, refTagId: 49 });
    const entry: FixField[] = [
      [453, '1'],
      [448, 'P1'],
      [452, '3'],
      [452, '3'],
    ];
    expect(validateFix(dict, fix('D', [...entry, ...NOS]))).toMatchObject({ reason: 13, refTagId: 452 });
  });

  it('14 TagOutOfOrder: 8, 9, 35 first; header before body; trailer last', () => {
    const base = fix('D', NOS).fields;
    const swap = (i: number, j: number) => {
      const f = [...base];
      [f[i], f[j]] = [f[j]!, f[i]!];
      return { msgType: 'D', fields: f };
    };
    expect(validateFix(dict, swap(0, 1))).toMatchObject({ reason: 14, refTagId: 8 });
    expect(validateFix(dict, swap(1, 2))).toMatchObject({ reason: 14, refTagId: 9 });
    expect(validateFix(dict, swap(2, 3))).toMatchObject({ reason: 14, refTagId: 35 });
    expect(validateFix(dict, swap(6, 7))).toMatchObject({ reason: 14, refTagId: 56 }); // 56 after 11
    expect(validateFix(dict, swap(base.length - 1, base.length - 2))).toMatchObject({ reason: 14 }); // 10 not last
    const afterTrailer: FixField[] = [...base.slice(0, -1), [93, '1'], [89, 'x'], [99, '1'], [10, '000']];
    expect(validateFix(dict, { msgType: 'D', fields: afterTrailer })).toMatchObject({ reason: 14, refTagId: 99 });
    const withTrailer: FixField[] = [...base.slice(0, -1), [93, '1'], [89, 'x'], [10, '000']];
    expect(validateFix(dict, { msgType: 'D', fields: withTrailer })).toBeUndefined();
    expect(validateFix(dict, { msgType: 'D', fields: base.slice(0, 2) })).toMatchObject({ reason: 14, refTagId: 35 });
  });

  it('15 RepeatingGroupFieldsOutOfOrder: an entry not starting with the delimiter', () => {
    const msg = fix('D', [[453, '1'], [452, '3'], [448, 'P1'], ...NOS]);
    expect(validateFix(dict, msg)).toMatchObject({ reason: 15, refTagId: 452 });
  });

  it('16 IncorrectNumInGroupCount: too few or too many entries', () => {
    const parties = (count: string, ids: string[]): FixField[] => [
      [453, count],
      ...ids.map((id): FixField => [448, id]),
    ];
    expect(validateFix(dict, fix('D', [...parties('2', ['P1']), ...NOS]))).toMatchObject({ reason: 16, refTagId: 453 });
    expect(validateFix(dict, fix('D', [...parties('1', ['P1', 'P2']), ...NOS]))).toMatchObject({
      reason: 16,
      refTagId: 453,
    });
    expect(validateFix(dict, fix('D', [...parties('0', ['P1']), ...NOS]))).toMatchObject({ reason: 16, refTagId: 453 });
    expect(validateFix(dict, fix('D', [...parties('9007199254740991', ['P1']), ...NOS]))).toMatchObject({ reason: 16 });
    expect(validateFix(dict, fix('D', [...parties('1', ['P1']), ...NOS]))).toBeUndefined();
  });

  it('17 NonDataValueIncludesFieldDelimiter, and a DATA field may hold SOH', () => {
    expect(validateFix(dict, nosWith(1, 'a\x01b'))).toMatchObject({ reason: 17, refTagId: 1 });
    const logon = VALID['A']!.map(([t, v]): FixField => [t, t === 96 ? 'ab\x01cdefg' : v]);
    expect(validateFix(dict, fix('A', logon))).toBeUndefined();
  });

  it('returns the first failure in wire order', () => {
    const msg = fix('D', [[44, 'x'], [54, 'Z'], ...NOS.filter(([t]) => t !== 44 && t !== 54 && t !== 11)]);
    expect(validateFix(dict, msg)).toMatchObject({ reason: 6, refTagId: 44 });
  });
});

describe('validateFix: structure and DATA fields', () => {
  it('checks the structure first, as QuickFIX: a header field after the body is 14 before any field error', () => {
    const fields = fix('D', [[44, 'not a price'], ...NOS.filter(([t]) => t !== 44)]).fields.filter(([t]) => t !== 49);
    const late49: FixField[] = [...fields.slice(0, -1), [49, 'CLIENT1'], fields[fields.length - 1]!];
    expect(validateFix(dict, { msgType: 'D', fields: late49 })).toMatchObject({ reason: 14, refTagId: 49 });
    expect(validateFix(dict, { msgType: 'ZZ', fields: late49 })).toMatchObject({ reason: 14, refTagId: 49 });
  });

  it('a header group (NoHops) stays in the header; its members outside it are not defined at the top', () => {
    const hops: FixField[] = [...header('0'), [627, '1'], [628, 'HOP'], [52, '20261207-14:19:55']];
    expect(
      validateFix(dict, { msgType: '0', fields: [...hops.filter((f, i) => f[0] !== 52 || i > 6), [10, '0']] }),
    ).toBeUndefined();
    const stray: FixField[] = [...header('0'), [629, '20261207-14:19:55'], [10, '0']];
    expect(validateFix(dict, { msgType: '0', fields: stray })).toMatchObject({ reason: 2, refTagId: 629 });
  });

  it('a DATA field follows its LENGTH field and has its length', () => {
    const logon = (pair: FixField[]) => fix('A', [[98, '0'], [108, '30'], ...pair, [553, 'k']]);
    expect(
      validateFix(
        dict,
        logon([
          [95, '3'],
          [96, 'a=b'],
        ]),
      ),
    ).toBeUndefined();
    expect(
      validateFix(
        dict,
        logon([
          [95, '4'],
          [96, 'a=b'],
        ]),
      ),
    ).toMatchObject({ reason: 6, refTagId: 96 });
    expect(validateFix(dict, logon([[96, 'a=b']]))).toMatchObject({ reason: 1, refTagId: 95 });
    expect(
      validateFix(
        dict,
        logon([
          [96, 'a=b'],
          [95, '3'],
        ]),
      ),
    ).toMatchObject({ reason: 14, refTagId: 96 });
    expect(
      validateFix(
        dict,
        logon([
          [95, 'x'],
          [96, 'a=b'],
        ]),
      ),
    ).toMatchObject({ reason: 6, refTagId: 95 });
    // SignatureLength (93) → Signature (89) in the trailer: the pair is not tag − 1.
    const signed = [...fix('0', []).fields.slice(0, -1), [93, '2'], [89, 'zz'], [10, '0']] as FixField[];
    expect(validateFix(dict, { msgType: '0', fields: signed })).toBeUndefined();
  });
});
