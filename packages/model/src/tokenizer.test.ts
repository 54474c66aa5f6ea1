// Tests of the tokenizer wrapper and the byte-level BPE tokenizer.json builder, against byte
// values from TextEncoder and hand-applied merges.
import { describe, expect, it } from 'vitest';
import { FormatError, InputError } from './errors';
import { byteLevelBpeTokenizerJson, byteLevelChars, loadTokenizer } from './tokenizer';

const specials = ['<|bos|>', '<|eos|>', '<|pad|>'];
const texts = [
  'Hello, world!',
  "It's a test: (a+b)*c = d; isn't it? 'quoted' \"double\"",
  'spaces   in  a row\tand\ttabs\n\nnew lines \r\n',
  '  leading and trailing  ',
  " . , ! ? 's n't",
  'café naïve — 日本 🙂 Ω≈ç',
  'digits 12345 and 3.14159',
];

describe('byteLevelChars', () => {
  it('maps bytes to GPT-2 characters: printable ASCII to itself, space to Ġ, newline to Ċ', () => {
    expect(byteLevelChars[65]).toBe('A');
    expect(byteLevelChars[32]).toBe('Ġ');
    expect(byteLevelChars[10]).toBe('Ċ');
    expect(new Set(byteLevelChars).size).toBe(256);
  });
});

describe('byte-level tokenizer without merges', () => {
  const tokenizer = loadTokenizer(byteLevelBpeTokenizerJson({ specialTokens: specials }));

  it('encodes text to its UTF-8 bytes', () => {
    for (const text of texts) {
      expect(tokenizer.encode(text)).toEqual([...new TextEncoder().encode(text)]);
    }
  });

  it('round-trips varied text', () => {
    for (const text of texts) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    expect(tokenizer.decode([])).toBe('');
  });

  it('numbers the special tokens after the bytes and finds bos/eos/pad by name', () => {
    expect(tokenizer.vocabSize).toBe(259);
    expect([tokenizer.bosId, tokenizer.eosId, tokenizer.padId]).toEqual([256, 257, 258]);
  });

  it('encodes special tokens written in the text as one id and can skip them when decoding', () => {
    expect(tokenizer.encode('<|bos|>hi<|eos|>')).toEqual([256, 104, 105, 257]);
    expect(tokenizer.decode([256, 104, 105, 257])).toBe('<|bos|>hi<|eos|>');
    expect(tokenizer.decode([256, 104, 105, 257], { skipSpecialTokens: true })).toBe('hi');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tokenizer.decode([259])).toThrow(InputError);
    expect(() => tokenizer.decode([-1])).toThrow(/not in the tokenizer's vocabulary/);
  });
});

describe('byte-level tokenizer with merges', () => {
  const json = byteLevelBpeTokenizerJson({
    merges: [
      ['h', 'e'],
      ['l', 'l'],
      ['he', 'll'],
      ['Ġ', 'w'],
    ],
    specialTokens: specials,
    bosToken: '<|bos|>',
  });
  const tokenizer = loadTokenizer(json);

  it('applies the merges in order (ids 256.. follow the merges)', () => {
    // 'hello' -> he ll o -> hell o; ' world' -> Ġw o r l d.
    expect(tokenizer.encode('hello world', { addSpecialTokens: false })).toEqual([
      258, 111, 259, 111, 114, 108, 100,
    ]);
    expect(tokenizer.vocabSize).toBe(256 + 4 + 3);
    expect(tokenizer.bosId).toBe(260);
  });

  it('prepends bos only when asked to add special tokens', () => {
    expect(tokenizer.encode('hello')).toEqual([260, 258, 111]);
    expect(tokenizer.encode('hello', { addSpecialTokens: false })).toEqual([258, 111]);
  });

  it('round-trips varied text', () => {
    for (const text of texts) {
      expect(tokenizer.decode(tokenizer.encode(text), { skipSpecialTokens: true })).toBe(text);
    }
  });

  it('rejects merges of tokens that do not exist yet', () => {
    expect(() => byteLevelBpeTokenizerJson({ merges: [['he', 'l']] })).toThrow(InputError);
    expect(() => byteLevelBpeTokenizerJson({ bosToken: '<s>' })).toThrow(/must be one of specialTokens/);
  });
});

describe('vocabulary padding and tokenizer_config.json', () => {
  it('pads with reserved special tokens up to vocabSize', () => {
    const tokenizer = loadTokenizer(byteLevelBpeTokenizerJson({ specialTokens: specials, vocabSize: 300 }));
    expect(tokenizer.vocabSize).toBe(300);
    expect(tokenizer.decode([299])).toBe('<|reserved_40|>');
    expect(() => byteLevelBpeTokenizerJson({ specialTokens: specials, vocabSize: 258 })).toThrow(
      /smaller than/,
    );
  });

  it('takes bos/eos/pad from tokenizer_config.json when given', () => {
    const json = byteLevelBpeTokenizerJson({ specialTokens: ['<a>', '<b>'] });
    const tokenizer = loadTokenizer(json, { bos_token: '<b>', eos_token: { content: '<a>' } });
    expect([tokenizer.bosId, tokenizer.eosId, tokenizer.padId]).toEqual([257, 256, undefined]);
  });
});

describe('loadTokenizer input checks', () => {
  it('throws FormatError for JSON that is not a tokenizer.json', () => {
    expect(() => loadTokenizer({})).toThrow(FormatError);
    expect(() => loadTokenizer([1, 2])).toThrow(FormatError);
    expect(() => loadTokenizer({ bos_token: '<s>', model_max_length: 2048 })).toThrow(/not a tokenizer.json/);
    expect(() => loadTokenizer({ model: { type: 'Nope' }, added_tokens: [] })).toThrow(FormatError);
    expect(() => loadTokenizer(byteLevelBpeTokenizerJson(), 'x')).toThrow(FormatError);
  });
});
