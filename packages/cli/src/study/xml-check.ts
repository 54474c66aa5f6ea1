// A strict, minimal XML well-formedness check for the tests of the SVG reports (no XML parser is a
// dependency): tags nest and close, attributes are quoted, text and attribute values escape < and &.
// Returns every element in document order so tests can count bars, lines and points.

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
}

const entity = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function checkText(text: string, where: string): void {
  if (/[<&]/.test(text.replace(entity, '')))
    throw new Error(`unescaped < or & in ${where}: ${text.slice(0, 80)}`);
}

export function parseXml(text: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const open: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/y;
  const attribute = /([\w:-]+)="([^"]*)"/g;
  let i = 0;
  let roots = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt === -1 ? text.length : lt);
    checkText(chunk, 'text');
    if (open.length === 0 && chunk.trim() !== '')
      throw new Error(`text outside the root element: ${chunk.trim()}`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const match = tag.exec(text);
    if (!match) throw new Error(`malformed tag at offset ${lt}: ${text.slice(lt, lt + 80)}`);
    const [whole, closing, name, attrs, selfClosing] = match;
    if (closing) {
      if (attrs || selfClosing) throw new Error(`closing tag with attributes at offset ${lt}`);
      const top = open.pop();
      if (top !== name) throw new Error(`</${name}> at offset ${lt} closes <${top}>`);
    } else {
      if (open.length === 0 && roots++ > 0) throw new Error(`second root element <${name}> at offset ${lt}`);
      const attributes: Record<string, string> = {};
      for (const [, key, value] of attrs.matchAll(attribute)) {
        if (key in attributes) throw new Error(`duplicate attribute ${key} on <${name}> at offset ${lt}`);
        checkText(value, `attribute ${key}`);
        attributes[key] = value;
      }
      elements.push({ name, attributes });
      if (!selfClosing) open.push(name);
    }
    i = lt + whole.length;
  }
  if (open.length > 0) throw new Error(`unclosed <${open.join('>, <')}>`);
  if (roots === 0) throw new Error('no root element');
  return elements;
}

/** How many elements carry `className` in their class attribute. */
export function countClass(elements: XmlElement[], className: string): number {
  return elements.filter((e) => (e.attributes.class ?? '').split(/\s+/).includes(className)).length;
}
