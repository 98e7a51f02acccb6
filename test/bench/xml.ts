// A small well-formedness check for the SVG the suite writes (no XML parser among the
// dependencies): one root element, tags balanced and properly nested, attributes quoted and not
// repeated, no raw '<' or stray '&' in text or attribute values. Returns the element names seen.

const NAME = '[A-Za-z_][\\w.:-]*';
const ATTR = new RegExp(`\\s+(${NAME})\\s*=\\s*("[^"]*"|'[^']*')`, 'y');
const ENTITY = /&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);/g;

function checkText(text: string, where: string): void {
  if (text.includes('<')) throw new Error(`raw '<' in ${where}`);
  if (text.replace(ENTITY, '').includes('&')) throw new Error(`stray '&' in ${where}: ${text.slice(0, 60)}`);
}

export function checkWellFormedXml(xml: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  let roots = 0;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = lt < 0 ? xml.slice(i) : xml.slice(i, lt);
    if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside the root: ${text.slice(0, 40)}`);
    checkText(text, 'text');
    if (lt < 0) break;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<?', lt)) {
      const end = xml.indexOf('?>', lt);
      if (end < 0) throw new Error('unterminated processing instruction');
      i = end + 2;
      continue;
    }
    const close = new RegExp(`</(${NAME})\\s*>`, 'y');
    close.lastIndex = lt;
    const c = close.exec(xml);
    if (c) {
      const open = stack.pop();
      if (open !== c[1]) throw new Error(`</${c[1]}> closes <${open ?? 'nothing'}>`);
      i = close.lastIndex;
      continue;
    }
    const start = new RegExp(`<(${NAME})`, 'y');
    start.lastIndex = lt;
    const s = start.exec(xml);
    if (!s) throw new Error(`bad markup at ${lt}: ${xml.slice(lt, lt + 40)}`);
    const name = s[1]!;
    let p = start.lastIndex;
    const attrs = new Set<string>();
    for (;;) {
      ATTR.lastIndex = p;
      const a = ATTR.exec(xml);
      if (!a) break;
      if (attrs.has(a[1]!)) throw new Error(`<${name}> repeats attribute ${a[1]}`);
      attrs.add(a[1]!);
      checkText(a[2]!.slice(1, -1), `attribute ${a[1]} of <${name}>`);
      p = ATTR.lastIndex;
    }
    const tail = /\s*(\/?)>/y;
    tail.lastIndex = p;
    const t = tail.exec(xml);
    if (!t) throw new Error(`bad start tag <${name}> at ${lt}: ${xml.slice(lt, lt + 60)}`);
    if (stack.length === 0) roots++;
    if (roots > 1) throw new Error('more than one root element');
    seen.push(name);
    if (t[1] !== '/') stack.push(name);
    i = tail.lastIndex;
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  if (roots !== 1) throw new Error('no root element');
  return seen;
}
