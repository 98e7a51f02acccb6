// validateFix (fix/validate.ts) against an independent FIX engine: QuickFIX's DataDictionary
// (C++, Debian's libquickfix-dev, built here from test/fix/validate-quickfix.cpp) validates the
// same messages against the same fix/FIX44.xml. The messages: the valid corpus
// (test/fix/valid-messages.ts) and seeded field-wise mutations of it (fields dropped,
// duplicated, moved, given other values, other tags, inserted), as wire text with a correct
// BodyLength and CheckSum so that QuickFIX reads them.
//
// Asserted: both accept the valid corpus; no message validateFix accepts is refused by QuickFIX;
// a message QuickFIX accepts and validateFix refuses is one of the stricter checks
// fix/DICTIONARY.md lists (a required header field missing, a nested group's count, a date
// format, a DATA field not right after its LENGTH field). Which of several faults each reports
// first may differ (QuickFIX checks required fields before formats) and is not compared.
// Skipped, saying why, when QuickFIX's headers or g++ are missing (CI installs them: .ci/run).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fix44Dictionary } from '../../fix/dictionary.js';
import type { FixField, FixMessage } from '../../fix/message.js';
import { validateFix } from '../../fix/validate.js';
import { VALID_MESSAGES } from './valid-messages.js';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const DICTIONARY_PATH = path.join(HERE, '../../fix/FIX44.xml');
const quickfixInstalled =
  fs.existsSync('/usr/include/quickfix/DataDictionary.h') &&
  spawnSync('g++', ['--version'], { stdio: 'ignore' }).status === 0;
if (!quickfixInstalled)
  console.warn('validate-quickfix: skipped, QuickFIX (apt-get install libquickfix-dev g++) is not installed');

const dict = fix44Dictionary();
const MUTATIONS = 4000;
const VALUES = [
  '',
  '-',
  '.',
  '0',
  '1',
  '1.5',
  '-1.5',
  '1e5',
  '+1',
  ' 1',
  'Y',
  'N',
  'y',
  'abc',
  'Z',
  'D',
  '2',
  '3',
  '-0',
];
const TIMES = ['20261207-14:19:55', '20261207-14:19:55.123', '20261207-24:00:00', '20261207', '14:19:55', '202612w3'];
const DEFINED_TAGS = dict.fieldsByTag.flatMap((def) => (def === undefined ? [] : [def.tag]));

/** A seeded generator (an LCG): the same corpus on every run. */
function random(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1_103_515_245 + 12_345) & 0x7fffffff;
    return state % n;
  };
}

/** One to two field-wise mutations, keeping 8, 9, 35 first and 10 last (else QuickFIX cannot read it). */
function mutate(fields: readonly FixField[], rnd: (n: number) => number): FixField[] {
  const f = [...fields];
  const value = () => (rnd(3) === 0 ? TIMES[rnd(TIMES.length)]! : VALUES[rnd(VALUES.length)]!);
  for (let k = 1 + rnd(2); k > 0 && f.length > 5; k--) {
    const span = f.length - 4;
    const i = 3 + rnd(span);
    switch (rnd(6)) {
      case 0:
        f.splice(i, 1);
        break;
      case 1:
        f.splice(3 + rnd(span), 0, f[i]!);
        break;
      case 2:
        f.splice(3 + rnd(span - 1), 0, f.splice(i, 1)[0]!);
        break;
      case 3:
        f[i] = [f[i]![0], value()];
        break;
      case 4:
        f[i] = [rnd(3) === 0 ? 1 + rnd(20_000) : DEFINED_TAGS[rnd(DEFINED_TAGS.length)]!, f[i]![1]];
        break;
      default:
        f.splice(i, 0, [DEFINED_TAGS[rnd(DEFINED_TAGS.length)]!, value()]);
    }
  }
  return f;
}

/** The message with its real BodyLength and CheckSum, and its wire text (SOH-separated, one line). */
function withFraming(fields: readonly FixField[]): { msg: FixMessage; wire: string } {
  const body = fields.slice(2, -1);
  const bodyText = body.map(([t, v]) => `${t}=${v}\x01`).join('');
  const head = `8=FIX.4.4\x019=${Buffer.byteLength(bodyText, 'latin1')}\x01`;
  let sum = 0;
  for (const byte of Buffer.from(head + bodyText, 'latin1')) sum += byte;
  const checkSum = String(sum % 256).padStart(3, '0');
  const framed: FixField[] = [
    [8, 'FIX.4.4'],
    [9, String(Buffer.byteLength(bodyText, 'latin1'))],
    ...body,
    [10, checkSum],
  ];
  return { msg: { fields: framed, msgType: fields[2]![1] }, wire: `${head}${bodyText}10=${checkSum}\x01` };
}

/** A refusal of ours that QuickFIX lets pass, as fix/DICTIONARY.md documents it. */
function documentedStricter(msg: FixMessage, reason: number, refTagId: number | undefined): boolean {
  const def = refTagId === undefined ? undefined : dict.fieldsByTag[refTagId];
  const topLevelGroups = dict.messages.get(msg.msgType)?.groups;
  if (reason === 1) return refTagId !== undefined && [34, 49, 52, 56].includes(refTagId);
  if (reason === 16) return refTagId !== undefined && topLevelGroups !== undefined && !topLevelGroups.has(refTagId);
  if (reason === 6) return def?.type === 'LOCALMKTDATE' || def?.type === 'MONTHYEAR' || def?.type === 'UTCDATEONLY';
  if (reason === 14) return def?.type === 'DATA';
  return false;
}

let dir = '';
let binary = '';

beforeAll(() => {
  if (!quickfixInstalled) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-fix-qf-validate-'));
  binary = path.join(dir, 'validate');
  const source = path.join(HERE, 'validate-quickfix.cpp');
  const build = spawnSync('g++', ['-std=c++14', '-Wno-deprecated', '-O0', '-o', binary, source, '-lquickfix'], {
    encoding: 'utf8',
  });
  if (build.status !== 0) throw new Error(`g++ failed: ${build.stderr}`);
});

afterAll(() => {
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

/** QuickFIX's verdicts on the messages, in order. */
function quickfixVerdicts(wires: readonly string[]): string[] {
  const run = spawnSync(binary, [DICTIONARY_PATH], {
    input: `${wires.join('\n')}\n`,
    encoding: 'latin1',
    maxBuffer: 1 << 26,
  });
  if (run.status !== 0) throw new Error(`QuickFIX validator exited ${run.status}: ${run.stderr}`);
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(wires.length);
  return lines;
}

describe.skipIf(!quickfixInstalled)('validateFix against QuickFIX’s DataDictionary', () => {
  it('both accept the valid corpus', () => {
    const framed = VALID_MESSAGES.map((m) => withFraming(m.fields));
    const verdicts = quickfixVerdicts(framed.map((f) => f.wire));
    framed.forEach(({ msg }, i) => {
      expect(verdicts[i], msg.msgType).toBe('ok');
      expect(validateFix(dict, msg), msg.msgType).toBeUndefined();
    });
  });

  it('accepts no mutated message QuickFIX refuses, and refuses one it accepts only for a documented reason', () => {
    const rnd = random(20261207);
    const framed = Array.from({ length: MUTATIONS }, () =>
      withFraming(mutate(VALID_MESSAGES[rnd(VALID_MESSAGES.length)]!.fields, rnd)),
    );
    const verdicts = quickfixVerdicts(framed.map((f) => f.wire));
    let bothRefused = 0;
    framed.forEach(({ msg, wire }, i) => {
      const ours = validateFix(dict, msg);
      const theirs = verdicts[i]!;
      const shown = `${wire.replaceAll('\x01', '|')} → ours ${JSON.stringify(ours)}, QuickFIX ${theirs}`;
      if (ours === undefined) expect(theirs, shown).toBe('ok');
      else if (theirs === 'ok') expect(documentedStricter(msg, ours.reason, ours.refTagId), shown).toBe(true);
      else bothRefused++;
    });
    expect(bothRefused).toBeGreaterThan(MUTATIONS / 4); // the mutations do break messages
  });
});
