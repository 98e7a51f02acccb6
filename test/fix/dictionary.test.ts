// fix/dictionary.ts: fix/FIX44.xml read into lookup tables — our custom fields, required fields
// of the messages the acceptor handles (components expanded), repeating groups.

import { describe, expect, it } from 'vitest';
import { fix44Dictionary, loadFixDictionary, parseXml } from '../../fix/dictionary.js';

const dict = fix44Dictionary();
const message = (msgType: string) => {
  const def = dict.messages.get(msgType);
  if (def === undefined) throw new Error(`no message ${msgType}`);
  return def;
};

describe('fix44Dictionary', () => {
  it('is FIX 4.4 with its 93 messages and is read once', () => {
    expect(dict.beginString).toBe('FIX.4.4');
    expect(dict.messages.size).toBe(93);
    expect(fix44Dictionary()).toBe(dict);
    expect(message('D').name).toBe('NewOrderSingle');
    expect(message('A').admin).toBe(true);
    expect(message('D').admin).toBe(false);
  });

  it('defines our custom fields', () => {
    const stp = dict.fieldsByTag[7928];
    expect(stp?.name).toBe('SelfTradePrevention');
    expect(stp?.type).toBe('CHAR');
    expect([...(stp?.values ?? [])].sort()).toEqual(['B', 'D', 'M', 'N', 'T']);
    const cod = dict.fieldsByName.get('CancelOrdersOnDisconnect');
    expect(cod?.tag).toBe(8013);
    expect(cod?.type).toBe('BOOLEAN');
    expect(message('D').tags.has(7928)).toBe(true);
    expect(message('D').required).not.toContain(7928);
    expect(message('A').tags.has(8013)).toBe(true);
    expect(message('A').required).not.toContain(8013);
    expect(message('F').tags.has(7928)).toBe(false);
  });

  it('has the FIX 4.4 types and enums of the fields we map', () => {
    expect(dict.fieldsByTag[44]?.type).toBe('PRICE');
    expect(dict.fieldsByTag[38]?.type).toBe('QTY');
    expect(dict.fieldsByTag[60]?.type).toBe('UTCTIMESTAMP');
    expect(dict.fieldsByTag[18]?.type).toBe('MULTIPLEVALUESTRING');
    expect(dict.fieldsByTag[54]?.values?.has('1')).toBe(true);
    expect(dict.fieldsByTag[40]?.values?.has('4')).toBe(true);
    expect(dict.fieldsByTag[59]?.values?.has('6')).toBe(true);
    expect(dict.fieldsByTag[373]?.values?.has('99')).toBe(true);
    expect(dict.fieldsByTag[1]?.values).toBeUndefined(); // Account: any string
  });

  it('has the header and trailer with their required fields', () => {
    expect([...dict.header.required].sort((a, b) => a - b)).toEqual([8, 9, 34, 35, 49, 52, 56]);
    expect(dict.header.tags.has(43)).toBe(true);
    expect(dict.header.tags.has(122)).toBe(true);
    expect(dict.trailer.required).toEqual([10]);
    expect(dict.header.groups.get(627)?.delimiter).toBe(628); // NoHops → HopCompID
    expect(dict.headerTagsAll.has(628)).toBe(true);
    expect(dict.header.tags.has(628)).toBe(false);
  });

  it('pairs every DATA field with its LENGTH field', () => {
    expect(dict.fieldsByTag[96]?.lengthTag).toBe(95);
    expect(dict.fieldsByTag[89]?.lengthTag).toBe(93); // Signature ← SignatureLength
    expect(dict.fieldsByTag[355]?.lengthTag).toBe(354);
    for (const def of dict.fieldsByTag)
      if (def?.type === 'DATA') expect(dict.fieldsByTag[def.lengthTag!]?.type, def.name).toBe('LENGTH');
      else if (def !== undefined) expect(def.lengthTag).toBeUndefined();
  });

  it('expands required components: the required fields of D, F, G, H, q, A', () => {
    const required = (t: string) => [...message(t).required].sort((a, b) => a - b);
    // Instrument and OrderQtyData are required components, but Symbol (55) and OrderQty (38)
    // inside them are not: FIX 4.4 lets SecurityID or CashOrderQty stand in.
    expect(required('D')).toEqual([11, 40, 54, 60]);
    expect(required('F')).toEqual([11, 41, 54, 60]);
    expect(required('G')).toEqual([11, 40, 41, 54, 60]);
    expect(required('H')).toEqual([11, 54]);
    expect(required('q')).toEqual([11, 60, 530]);
    expect(required('A')).toEqual([98, 108]);
    expect(required('5')).toEqual([]);
    expect(required('3')).toEqual([45]);
    expect(required('2')).toEqual([7, 16]);
    expect(required('4')).toEqual([36]);
    expect(required('8')).toEqual([6, 14, 17, 37, 39, 54, 150, 151]);
    // Fields of components, optional or not, are allowed on the message.
    for (const tag of [55, 38, 48, 22, 152, 453, 1, 18, 111, 99, 44, 59, 126])
      expect(message('D').tags.has(tag), `${tag}`).toBe(true);
  });

  it('has repeating groups with their delimiter, members and nested groups', () => {
    const parties = message('D').groups.get(453); // NoPartyIDs (component Parties)
    expect(parties?.delimiter).toBe(448); // PartyID
    expect(parties?.tags.has(447)).toBe(true);
    expect(parties?.tags.has(452)).toBe(true);
    expect(parties?.tags.has(802)).toBe(true); // NoPartySubIDs (component PtysSubGrp)
    expect(parties?.groups.get(802)?.delimiter).toBe(523);
    expect(message('D').tags.has(448)).toBe(false); // members only inside the group
    const msgTypes = message('A').groups.get(384); // NoMsgTypes
    expect(msgTypes?.delimiter).toBe(372);
    const legs = message('AB').groups.get(555); // NewOrderMultileg: NoLegs, required entries
    expect(legs?.delimiter).toBe(600);
  });
});

describe('loadFixDictionary', () => {
  const tiny = (body: string) =>
    `<?xml version='1.0'?><!-- a comment --><fix type='FIX' major='4' minor='4'>
      <header><field name='BeginString' required='Y'/></header>
      <messages>${body}</messages><trailer/>
      <components><component name='C'><field name='B' required='Y'/></component></components>
      <fields><field number='8' name='BeginString' type='STRING'/><field number='1' name='A' type='CHAR'>
      <value enum='&lt;' description='LT'/></field><field number='2' name='B' type='INT'/>
      <field number='3' name='NoG' type='NUMINGROUP'/></fields></fix>`;

  it('reads a minimal dictionary, entities and optional components', () => {
    const d = loadFixDictionary(
      tiny(`<message name='M' msgtype='M' msgcat='app'><field name='A' required='Y'/>
        <component name='C' required='N'/><group name='NoG' required='Y'><field name='B' required='Y'/></group></message>`),
    );
    const m = d.messages.get('M')!;
    expect(d.fieldsByTag[1]?.values?.has('<')).toBe(true);
    expect(m.required).toEqual([1, 3]); // B is required inside C, but C is optional here
    expect(m.groups.get(3)?.required).toEqual([2]);
  });

  it('refuses a file that is not a dictionary', () => {
    expect(() => loadFixDictionary('<fix><header>')).toThrow(/not closed/);
    expect(() => parseXml('<a></b>')).toThrow(/closes/);
    expect(() => loadFixDictionary('<nofix/>')).toThrow(/root element/);
    expect(() =>
      loadFixDictionary(tiny(`<message name='M' msgtype='M'><field name='Z' required='Y'/></message>`)),
    ).toThrow(/no field named Z/);
    expect(() =>
      loadFixDictionary(tiny(`<message name='M' msgtype='M'><component name='Q' required='Y'/></message>`)),
    ).toThrow(/no component named Q/);
    expect(() =>
      loadFixDictionary(
        tiny(`<message name='M' msgtype='M'><group name='A' required='Y'><field name='B'/></group></message>`),
      ),
    ).toThrow(/not a NUMINGROUP/);
  });
});
