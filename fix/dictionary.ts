// The FIX 4.4 data dictionary: fix/FIX44.xml (QuickFIX's spec/FIX44.xml, vendored with its
// license note in fix/FIX44.LICENSE.md), read into lookup tables for fix/validate.ts. The very
// same file is the QuickFIX test initiator's DataDictionary (UseDataDictionary=Y), so both ends
// check messages against one definition.
//
// Our custom fields (user-defined range 5000–9999; fix/DICTIONARY.md):
//   7928 SelfTradePrevention (CHAR, optional on NewOrderSingle D): N none, T expire taker,
//        M expire maker, B expire both, D decrement and cancel; absent = the account's default.
//   8013 CancelOrdersOnDisconnect (BOOLEAN, optional on Logon A): Y = the session's orders are
//        canceled when it ends; absent = N.
//
// The file is QuickFIX's format: <header>, <messages>, <trailer>, <components>, <fields>. A
// message (or header, trailer, group) lists fields, groups and components by name; components
// are expanded in place (a field is required when it is required='Y' and so is every component
// around it); a group's count (NumInGroup) field is named by the group, its first field is the
// delimiter that starts each entry, and the required fields of a group are required per entry.
// A small hand parser reads it (the file is regular, machine-written XML: elements with quoted
// attributes, no text content, no CDATA), in a few milliseconds, once: `fix44Dictionary()` caches it.

import { readFileSync } from 'node:fs';
import { FIX_GROUP_DEPTH_MAX, FIX_TAG_MAX } from './limits.js';

/** FIX 4.4 field types (as fix/FIX44.xml names them) that validateFix checks the format of. */
export type FixType =
  | 'INT'
  | 'SEQNUM'
  | 'LENGTH'
  | 'NUMINGROUP'
  | 'PRICE'
  | 'QTY'
  | 'AMT'
  | 'FLOAT'
  | 'PERCENTAGE'
  | 'PRICEOFFSET'
  | 'CHAR'
  | 'BOOLEAN'
  | 'STRING'
  | 'MULTIPLEVALUESTRING'
  | 'CURRENCY'
  | 'EXCHANGE'
  | 'COUNTRY'
  | 'UTCTIMESTAMP'
  | 'UTCTIMEONLY'
  | 'UTCDATEONLY'
  | 'LOCALMKTDATE'
  | 'MONTHYEAR'
  | 'DATA';

const FIX_TYPES: ReadonlySet<string> = new Set<FixType>([
  'INT',
  'SEQNUM',
  'LENGTH',
  'NUMINGROUP',
  'PRICE',
  'QTY',
  'AMT',
  'FLOAT',
  'PERCENTAGE',
  'PRICEOFFSET',
  'CHAR',
  'BOOLEAN',
  'STRING',
  'MULTIPLEVALUESTRING',
  'CURRENCY',
  'EXCHANGE',
  'COUNTRY',
  'UTCTIMESTAMP',
  'UTCTIMEONLY',
  'UTCDATEONLY',
  'LOCALMKTDATE',
  'MONTHYEAR',
  'DATA',
]);

export interface FixFieldDef {
  readonly tag: number;
  readonly name: string;
  readonly type: FixType;
  /** The enumerated values, when the dictionary lists any (else any well-formed value). */
  readonly values: ReadonlySet<string> | undefined;
  /**
   * For a DATA field, its LENGTH field, which must come right before it (FIX 4.4 Vol. 1): the
   * tag before (RawDataLength 95 → RawData 96), else the field named <name>Length or <name>Len
   * (SignatureLength 93 → Signature 89), as QuickFIX pairs them.
   */
  readonly lengthTag: number | undefined;
}

/** The fields of a header, trailer, message body or group entry, components expanded. */
export interface FixPartDef {
  /** The tags that may appear directly at this level (group count tags included, group members not). */
  readonly tags: ReadonlySet<number>;
  /** The tags that must appear at this level (per entry, for a group). */
  readonly required: readonly number[];
  /** The repeating groups at this level, by their count (NumInGroup) tag. */
  readonly groups: ReadonlyMap<number, FixGroupDef>;
}

export interface FixGroupDef extends FixPartDef {
  /** The NumInGroup tag. */
  readonly countTag: number;
  /** The first field of the group: each entry starts with it. */
  readonly delimiter: number;
}

export interface FixMessageDef extends FixPartDef {
  readonly msgType: string;
  readonly name: string;
  /** msgcat='admin' (session-level) or 'app'. */
  readonly admin: boolean;
}

export interface FixDictionary {
  /** "FIX.4.4". */
  readonly beginString: string;
  /** Field definitions indexed by tag (0 … FIX_TAG_MAX; undefined where none). */
  readonly fieldsByTag: readonly (FixFieldDef | undefined)[];
  readonly fieldsByName: ReadonlyMap<string, FixFieldDef>;
  readonly header: FixPartDef;
  /** Every tag of the header, members of its groups (NoHops) included: where the header ends. */
  readonly headerTagsAll: ReadonlySet<number>;
  readonly trailer: FixPartDef;
  readonly messages: ReadonlyMap<string, FixMessageDef>;
}

/** One XML element of the dictionary file. */
interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
}

const TAG_RE = /<(\/?)([A-Za-z_][\w.-]*)([^>]*?)(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g;
const ATTR_RE = /([A-Za-z_][\w.-]*)\s*=\s*(?:'([^']*)'|"([^"]*)")/g;
const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

const decodeEntities = (text: string): string =>
  text.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ENTITIES[e]!);

function parseAttrs(text: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const m of text.matchAll(ATTR_RE)) attrs[m[1]!] = decodeEntities(m[2] ?? m[3] ?? '');
  return attrs;
}

/** The root element of `xml` (elements and attributes only; text, comments and the prolog are skipped). */
export function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: '#document', attrs: {}, children: [] };
  const stack: XmlElement[] = [root];
  for (const m of xml.matchAll(TAG_RE)) {
    if (m[2] === undefined) continue; // a comment or the <?xml …?> prolog
    const top = stack[stack.length - 1]!;
    if (m[1] === '/') {
      if (top.name !== m[2]) throw new Error(`FIX dictionary: </${m[2]}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const element: XmlElement = { name: m[2], attrs: parseAttrs(m[3] ?? ''), children: [] };
    top.children.push(element);
    if (m[4] !== '/') stack.push(element);
  }
  if (stack.length !== 1) throw new Error(`FIX dictionary: <${stack[stack.length - 1]!.name}> is not closed`);
  const fix = root.children[0];
  if (fix === undefined || fix.name !== 'fix') throw new Error('FIX dictionary: the root element is not <fix>');
  return fix;
}

const childNamed = (parent: XmlElement, name: string): XmlElement => {
  const child = parent.children.find((c) => c.name === name);
  if (child === undefined) throw new Error(`FIX dictionary: no <${name}> in <${parent.name}>`);
  return child;
};

function readFields(fields: XmlElement): Map<string, FixFieldDef> {
  const byName = new Map<string, FixFieldDef>();
  for (const f of fields.children) {
    const tag = Number(f.attrs['number']);
    const name = f.attrs['name'] ?? '';
    const type = f.attrs['type'] ?? '';
    if (!Number.isInteger(tag) || tag < 1 || tag > FIX_TAG_MAX)
      throw new Error(`FIX dictionary: field ${name} has tag ${f.attrs['number']}`);
    if (!FIX_TYPES.has(type)) throw new Error(`FIX dictionary: field ${name} has unknown type ${type}`);
    const values = f.children.map((v) => v.attrs['enum'] ?? '');
    const def = { tag, name, type: type as FixType, values: values.length > 0 ? new Set(values) : undefined };
    byName.set(name, { ...def, lengthTag: undefined });
  }
  for (const def of byName.values())
    if (def.type === 'DATA') byName.set(def.name, { ...def, lengthTag: lengthTagOf(byName, def) });
  return byName;
}

function lengthTagOf(byName: ReadonlyMap<string, FixFieldDef>, data: FixFieldDef): number {
  const before = [...byName.values()].find((f) => f.tag === data.tag - 1 && f.type === 'LENGTH');
  const named = byName.get(`${data.name}Length`) ?? byName.get(`${data.name}Len`);
  const length = before ?? (named?.type === 'LENGTH' ? named : undefined);
  if (length === undefined) throw new Error(`FIX dictionary: DATA field ${data.name} has no LENGTH field`);
  return length.tag;
}

/** `part`'s tags and those of its groups, nested ones included. */
function allTags(part: FixPartDef, out = new Set<number>()): Set<number> {
  for (const tag of part.tags) out.add(tag);
  for (const group of part.groups.values()) allTags(group, out);
  return out;
}

/** A FixPartDef (or group) being built. */
interface PartBuilder {
  tags: Set<number>;
  required: number[];
  groups: Map<number, FixGroupDef>;
  /** The first field added (a group's delimiter). */
  first: number | undefined;
}

interface BuildContext {
  readonly fields: ReadonlyMap<string, FixFieldDef>;
  readonly components: ReadonlyMap<string, XmlElement>;
}

function fieldNamed(ctx: BuildContext, name: string | undefined): FixFieldDef {
  const def = ctx.fields.get(name ?? '');
  if (def === undefined) throw new Error(`FIX dictionary: no field named ${name}`);
  return def;
}

/** Adds `items` (field, group and component elements) to `part`; `required` is false inside an optional component. */
function addItems(
  ctx: BuildContext,
  part: PartBuilder,
  items: readonly XmlElement[],
  required: boolean,
  depth: number,
) {
  for (const item of items) {
    const isRequired = required && item.attrs['required'] === 'Y';
    if (item.name === 'component') {
      const component = ctx.components.get(item.attrs['name'] ?? '');
      if (component === undefined) throw new Error(`FIX dictionary: no component named ${item.attrs['name']}`);
      addItems(ctx, part, component.children, isRequired, depth);
      continue;
    }
    const def = fieldNamed(ctx, item.attrs['name']);
    part.first ??= def.tag;
    part.tags.add(def.tag);
    if (isRequired && !part.required.includes(def.tag)) part.required.push(def.tag);
    if (item.name === 'group') part.groups.set(def.tag, buildGroup(ctx, def, item, depth + 1));
    else if (item.name !== 'field') throw new Error(`FIX dictionary: unexpected <${item.name}>`);
  }
}

function buildGroup(ctx: BuildContext, count: FixFieldDef, group: XmlElement, depth: number): FixGroupDef {
  if (count.type !== 'NUMINGROUP') throw new Error(`FIX dictionary: group ${count.name} is not a NUMINGROUP field`);
  if (depth > FIX_GROUP_DEPTH_MAX)
    throw new Error(`FIX dictionary: group ${count.name} nested over ${FIX_GROUP_DEPTH_MAX}`);
  const part = newPart();
  addItems(ctx, part, group.children, true, depth);
  if (part.first === undefined) throw new Error(`FIX dictionary: group ${count.name} is empty`);
  return { tags: part.tags, required: part.required, groups: part.groups, countTag: count.tag, delimiter: part.first };
}

const newPart = (): PartBuilder => ({ tags: new Set(), required: [], groups: new Map(), first: undefined });

function buildPart(ctx: BuildContext, element: XmlElement): FixPartDef {
  const part = newPart();
  addItems(ctx, part, element.children, true, 0);
  return { tags: part.tags, required: part.required, groups: part.groups };
}

/** The dictionary of a QuickFIX-format XML text. Throws when the file is not one (our own, vendored file). */
export function loadFixDictionary(xml: string): FixDictionary {
  const fix = parseXml(xml);
  const fieldsByName = readFields(childNamed(fix, 'fields'));
  const components = new Map(childNamed(fix, 'components').children.map((c) => [c.attrs['name'] ?? '', c]));
  const ctx: BuildContext = { fields: fieldsByName, components };
  const messages = new Map<string, FixMessageDef>();
  for (const m of childNamed(fix, 'messages').children) {
    const msgType = m.attrs['msgtype'] ?? '';
    const name = m.attrs['name'] ?? '';
    messages.set(msgType, { ...buildPart(ctx, m), msgType, name, admin: m.attrs['msgcat'] === 'admin' });
  }
  const header = buildPart(ctx, childNamed(fix, 'header'));
  const fieldsByTag: (FixFieldDef | undefined)[] = new Array(FIX_TAG_MAX + 1).fill(undefined);
  for (const def of fieldsByName.values()) fieldsByTag[def.tag] = def;
  return {
    beginString: `${fix.attrs['type'] ?? 'FIX'}.${fix.attrs['major']}.${fix.attrs['minor']}`,
    fieldsByTag,
    fieldsByName,
    header,
    headerTagsAll: allTags(header),
    trailer: buildPart(ctx, childNamed(fix, 'trailer')),
    messages,
  };
}

/**
 * fix/FIX44.xml: next to this module when run from source (fix/dictionary.ts); from the build
 * (dist/fix/dictionary.js) the source tree's copy two folders up, as the build copies no XML.
 */
function dictionaryFileText(): string {
  const candidates = [new URL('./FIX44.xml', import.meta.url), new URL('../../fix/FIX44.xml', import.meta.url)];
  for (const url of candidates) {
    try {
      return readFileSync(url, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new Error(`FIX dictionary: FIX44.xml not found (${candidates.map(String).join(', ')})`);
}

let cached: FixDictionary | undefined;

/** The FIX 4.4 dictionary of fix/FIX44.xml, read once per process. */
export function fix44Dictionary(): FixDictionary {
  cached ??= loadFixDictionary(dictionaryFileText());
  return cached;
}
