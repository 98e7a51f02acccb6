// Dictionary-driven validation of every incoming FIX message (fix/DICTIONARY.md): what the
// session answers with a session-level Reject (35=3) carrying 373 SessionRejectReason, 371
// RefTagID and 58 Text. Pure and allocation-light (a structure pass and one pass over the
// fields; a scratch array marks the tags seen), so that it costs about a microsecond per
// NewOrderSingle (bench/fix/bench-validate.ts).
//
// The checks; the first failure is returned:
//   1. Structure, first as in QuickFIX: 8 BeginString, 9 BodyLength, 35 MsgType are the first
//      three fields; header fields (members of its groups included) before any other, trailer
//      fields after all others, 10 CheckSum the very last → else 14 TagOutOfOrder.
//   2. MsgType is a FIX 4.4 message type → else 11 InvalidMsgType.
//   3. Field by field, in wire order:
//        tag a positive integer → 0 InvalidTagNumber; defined by the dictionary → 3 UndefinedTag
//        (QuickFIX says 0 for both); a value → 4 TagSpecifiedWithoutValue;
//        a DATA field right after its LENGTH field → 1 when that is absent, 14 when elsewhere;
//        of that length → 6; no SOH in a non-DATA value → 17 NonDataValueIncludesFieldDelimiter;
//        the value's format for its type → 6 IncorrectDataFormat; one of its enumerated values
//        (each space-separated one for a MULTIPLEVALUESTRING) → 5 ValueIsIncorrect;
//        a body field defined for this message type → 2 TagNotDefinedForMessageType;
//        not twice at one level (outside a repeating group's entries) → 13 TagAppearsMoreThanOnce;
//        a NumInGroup field is followed by exactly that many entries, each starting with the
//        group's delimiter field → 15 RepeatingGroupFieldsOutOfOrder when the first field after
//        the count is another member of the group, 16 IncorrectNumInGroupCount for too few or
//        too many entries (nested groups too, which QuickFIX 1.15 lets pass); each entry has
//        the group's required fields → 1.
//   4. The header's, the message's and the trailer's required fields are present → 1
//      RequiredTagMissing (QuickFIX checks the message's before step 3, and leaves the
//      header's to its session layer).
// The order of fields inside a group entry (other than its delimiter first) is not checked, as
// QuickFIX does not either. Application rules (Symbol on D, though FIX 4.4 makes it optional;
// our supported values of OrdType, TimeInForce, …) are not here: the application answers those
// with BusinessMessageReject (35=j) or a rejecting ExecutionReport.

import type { FixDictionary, FixFieldDef, FixGroupDef, FixPartDef } from './dictionary.js';
import { isFixDate, isFixDecimal, isFixMonthYear, parseFixInt, parseUtcTimeOnly, parseUtcTimestamp } from './fields.js';
import { FIX_TAG_MAX } from './limits.js';
import { type FixField, type FixInvalid, type FixMessage, SessionRejectReason as R } from './message.js';

export type { FixInvalid } from './message.js';

const invalid = (reason: number, refTagId: number | undefined, text: string): FixInvalid =>
  refTagId === undefined ? { reason, text } : { reason, refTagId, text };

/** True when `value` has the format of `type` (FIX 4.4 Volume 1, data types). */
function hasFormat(def: FixFieldDef, value: string): boolean {
  switch (def.type) {
    case 'INT':
      return parseFixInt(value) !== undefined;
    case 'SEQNUM':
    case 'LENGTH':
    case 'NUMINGROUP': {
      const n = parseFixInt(value);
      return n !== undefined && n >= 0 && value.charCodeAt(0) !== 45; // no "-0"
    }
    case 'PRICE':
    case 'QTY':
    case 'AMT':
    case 'FLOAT':
    case 'PERCENTAGE':
    case 'PRICEOFFSET':
      return isFixDecimal(value);
    case 'CHAR':
      return value.length === 1 && value.charCodeAt(0) > 32 && value.charCodeAt(0) < 127;
    case 'BOOLEAN':
      return value === 'Y' || value === 'N';
    case 'UTCTIMESTAMP':
      return parseUtcTimestamp(value) !== undefined;
    case 'UTCTIMEONLY':
      return parseUtcTimeOnly(value) !== undefined;
    case 'UTCDATEONLY':
    case 'LOCALMKTDATE':
      return isFixDate(value);
    case 'MONTHYEAR':
      return isFixMonthYear(value);
    default: // STRING, MULTIPLEVALUESTRING, CURRENCY, EXCHANGE, COUNTRY, DATA: any text
      return true;
  }
}

function hasEnumValue(def: FixFieldDef, values: ReadonlySet<string>, value: string): boolean {
  if (def.type !== 'MULTIPLEVALUESTRING') return values.has(value);
  for (const one of value.split(' ')) if (!values.has(one)) return false;
  return true;
}

/**
 * A DATA field must come right after its LENGTH field (FIX 4.4 Vol. 1; QuickFIX 1.15 also takes
 * one further back), whose value is the data's length: 1 when the length field is absent, 14
 * when it is elsewhere, 6 when the lengths differ.
 */
function checkDataLength(def: FixFieldDef, fields: readonly FixField[], at: number): FixInvalid | undefined {
  const lengthTag = def.lengthTag!;
  const before = fields[at - 1];
  const what = `Tag ${def.tag} (${def.name})`;
  if (before?.[0] !== lengthTag)
    return fields.some(([t]) => t === lengthTag)
      ? invalid(R.TagOutOfOrder, def.tag, `${what} must come right after its length, tag ${lengthTag}`)
      : invalid(R.RequiredTagMissing, lengthTag, `${what} needs its length, tag ${lengthTag}, right before it`);
  // before[1] is a LENGTH: checked as a field already.
  if (Number(before[1]) !== fields[at]![1].length)
    return invalid(R.IncorrectDataFormat, def.tag, `${what} is not ${before[1]} bytes long`);
  return undefined;
}

/** The checks of fields[at] on its own (3a of the list above), or undefined when it passes. */
function checkField(dict: FixDictionary, fields: readonly FixField[], at: number): FixInvalid | undefined {
  const [tag, value] = fields[at]!;
  if (!Number.isInteger(tag) || tag <= 0) return invalid(R.InvalidTagNumber, undefined, `Invalid tag number ${tag}`);
  const def = tag <= FIX_TAG_MAX ? dict.fieldsByTag[tag] : undefined;
  if (def === undefined) return invalid(R.UndefinedTag, tag, `Undefined tag ${tag}`);
  if (value.length === 0) return invalid(R.TagSpecifiedWithoutValue, tag, `Tag ${tag} (${def.name}) has no value`);
  if (def.type === 'DATA') return checkDataLength(def, fields, at);
  if (value.includes('\x01'))
    return invalid(R.NonDataValueIncludesFieldDelimiter, tag, `Tag ${tag} (${def.name}) value includes SOH`);
  if (!hasFormat(def, value))
    return invalid(R.IncorrectDataFormat, tag, `Incorrect data format for tag ${tag} (${def.name}, ${def.type})`);
  if (def.values !== undefined && !hasEnumValue(def, def.values, value))
    return invalid(R.ValueIsIncorrect, tag, `Value is incorrect (out of range) for tag ${tag} (${def.name})`);
  return undefined;
}

/** Where checkStructure's walk is: fields of the header, then the body, then the trailer. */
const HEADER = 0;
const BODY = 1;
const TRAILER = 2;

/** Scratch marks of the tags seen at the top level of the message being validated (validateFix is synchronous). */
const seenStamp = new Uint32Array(FIX_TAG_MAX + 1);
let stamp = 0;

/** A new stamp: marks of earlier messages no longer count. */
function nextStamp(): number {
  stamp++;
  if (stamp === 0xffffffff) {
    seenStamp.fill(0);
    stamp = 1;
  }
  return stamp;
}

/** Result of reading a repeating group: the index after it, or why it is invalid. */
type GroupRead = number | FixInvalid;

/** The entries of `group` whose count field is fields[at]; returns the index after the group. */
function readGroup(dict: FixDictionary, group: FixGroupDef, fields: readonly FixField[], at: number): GroupRead {
  const count = Number(fields[at]![1]); // format already checked: an integer ≥ 0
  const name = dict.fieldsByTag[group.countTag]!.name;
  let i = at + 1;
  let entries = 0;
  while (i < fields.length && fields[i]![0] === group.delimiter) {
    if (++entries > count)
      return invalid(
        R.IncorrectNumInGroupCount,
        group.countTag,
        `Incorrect NumInGroup count for ${name}: over ${count}`,
      );
    const next = readEntry(dict, group, fields, i);
    if (typeof next !== 'number') return next;
    i = next;
  }
  if (entries < count) {
    const after = fields[i]?.[0];
    if (after !== undefined && group.tags.has(after))
      return invalid(
        R.RepeatingGroupFieldsOutOfOrder,
        after,
        `Repeating group ${name}: entry does not start with tag ${group.delimiter}`,
      );
    return invalid(
      R.IncorrectNumInGroupCount,
      group.countTag,
      `Incorrect NumInGroup count for ${name}: ${entries} of ${count}`,
    );
  }
  return i;
}

/** One entry of `group`, starting at its delimiter fields[at]; returns the index after it. */
function readEntry(dict: FixDictionary, group: FixGroupDef, fields: readonly FixField[], at: number): GroupRead {
  const seen = new Set<number>();
  let i = at;
  while (i < fields.length) {
    const tag = fields[i]![0];
    if (i > at && (tag === group.delimiter || !group.tags.has(tag))) break;
    const bad = checkField(dict, fields, i);
    if (bad !== undefined) return bad;
    if (seen.has(tag))
      return invalid(R.TagAppearsMoreThanOnce, tag, `Tag ${tag} appears more than once in a group entry`);
    seen.add(tag);
    const nested = group.groups.get(tag);
    const next = nested === undefined ? i + 1 : readGroup(dict, nested, fields, i);
    if (typeof next !== 'number') return next;
    i = next;
  }
  for (const tag of group.required)
    if (!seen.has(tag)) return invalid(R.RequiredTagMissing, tag, `Required tag ${tag} missing in a group entry`);
  return i;
}

/** The first three fields must be 8, 9, 35. */
function checkStart(fields: readonly FixField[]): FixInvalid | undefined {
  const expected = [8, 9, 35];
  for (let i = 0; i < 3; i++)
    if (fields[i]?.[0] !== expected[i])
      return invalid(
        R.TagOutOfOrder,
        expected[i],
        'BeginString (8), BodyLength (9), MsgType (35) must be the first three fields',
      );
  return undefined;
}

/**
 * Header fields first, trailer fields last, CheckSum the very last (QuickFIX checks this before
 * anything else too). Members of the header's groups count as header fields.
 */
function checkStructure(dict: FixDictionary, fields: readonly FixField[]): FixInvalid | undefined {
  let section = HEADER;
  for (let i = 0; i < fields.length; i++) {
    const tag = fields[i]![0];
    if (dict.headerTagsAll.has(tag)) {
      if (section !== HEADER) return invalid(R.TagOutOfOrder, tag, `Header tag ${tag} after the body`);
    } else if (dict.trailer.tags.has(tag)) {
      if (tag === 10 && i !== fields.length - 1)
        return invalid(R.TagOutOfOrder, tag, 'CheckSum (10) must be the last field');
      section = TRAILER;
    } else if (section === TRAILER) return invalid(R.TagOutOfOrder, tag, `Tag ${tag} after the trailer`);
    else section = BODY;
  }
  return undefined;
}

/** The part of the message `tag` belongs to (structure already checked), or 2 when the message type has no such field. */
function partOf(dict: FixDictionary, body: FixPartDef, tag: number): FixPartDef | FixInvalid {
  if (dict.header.tags.has(tag)) return dict.header;
  if (dict.trailer.tags.has(tag)) return dict.trailer;
  return body.tags.has(tag)
    ? body
    : invalid(R.TagNotDefinedForMessageType, tag, `Tag ${tag} not defined for this message type`);
}

function checkRequired(part: FixPartDef, mark: number, where: string): FixInvalid | undefined {
  for (const tag of part.required)
    if (seenStamp[tag] !== mark) return invalid(R.RequiredTagMissing, tag, `Required tag ${tag} missing (${where})`);
  return undefined;
}

/** Why `msg` is not a valid FIX 4.4 message of its type, or undefined when it is. Never throws. */
export function validateFix(dict: FixDictionary, msg: FixMessage): FixInvalid | undefined {
  const fields = msg.fields;
  const structure = checkStart(fields) ?? checkStructure(dict, fields);
  if (structure !== undefined) return structure;
  const body = dict.messages.get(msg.msgType);
  if (body === undefined) return invalid(R.InvalidMsgType, 35, `Invalid MsgType ${JSON.stringify(msg.msgType)}`);
  const mark = nextStamp();
  for (let i = 0; i < fields.length; ) {
    const bad = checkField(dict, fields, i);
    if (bad !== undefined) return bad;
    const tag = fields[i]![0];
    const part = partOf(dict, body, tag);
    if (!('tags' in part)) return part;
    if (seenStamp[tag] === mark) return invalid(R.TagAppearsMoreThanOnce, tag, `Tag ${tag} appears more than once`);
    seenStamp[tag] = mark;
    const group = part.groups.get(tag);
    const next = group === undefined ? i + 1 : readGroup(dict, group, fields, i);
    if (typeof next !== 'number') return next;
    i = next;
  }
  return (
    checkRequired(dict.header, mark, 'header') ??
    checkRequired(body, mark, body.name) ??
    checkRequired(dict.trailer, mark, 'trailer')
  );
}
