import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bpeEncode, byteLevelWords, trainByteLevelBpe } from './bpe-train';
import { InputError } from './errors';
import { byteLevelBpeTokenizerJson, loadTokenizer } from './tokenizer';

const dataset = new URL('../../../public/datasets/wordnet/', import.meta.url);
const readLines = (name: string) =>
  readFileSync(new URL(name, dataset), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0);

describe('byteLevelWords', () => {
  it('splits as GPT-2 and writes bytes in byteLevelChars', () => {
    expect(byteLevelWords("dog's  bark: 12 café")).toEqual(['dog', "'s", 'Ġ', 'Ġbark', ':', 'Ġ12', 'ĠcafÃ©']);
  });
});

describe('trainByteLevelBpe', () => {
  it('learns the merges worked out by hand, breaking ties lexicographically', () => {
    // words abab, Ġabab, Ġab: (a,b) occurs 5 times; then (ab,ab) and (Ġ,ab) both occur twice and
    // "ab" < "Ġ"; then (Ġ,abab) and (Ġ,ab) occur once each, so training stops before 300 tokens.
    const model = trainByteLevelBpe(['abab abab ab'], { numTokens: 300 });
    expect(model.merges).toEqual([
      ['a', 'b'],
      ['ab', 'ab'],
    ]);
    expect(model.tokens.slice(256)).toEqual(['ab', 'abab']);
  });

  it('stops at numTokens and rejects fewer than the 256 bytes', () => {
    expect(trainByteLevelBpe(['abab abab ab'], { numTokens: 257 }).merges).toEqual([['a', 'b']]);
    expect(() => trainByteLevelBpe([], { numTokens: 255 })).toThrow(InputError);
  });

  it('round-trips text through tokenizer.json, and the library applies the merges as the trainer does', () => {
    const model = trainByteLevelBpe(readLines('corpus.txt').slice(0, 3000), { numTokens: 700 });
    expect(model.tokens.length).toBe(700);
    const tokenizer = loadTokenizer(
      byteLevelBpeTokenizerJson({ merges: model.merges, specialTokens: ['<|bos|>', '<|eos|>', '<|pad|>'] }),
    );
    const samples = [
      ...readLines('corpus-valid.txt').slice(0, 200),
      'naïve café — 東京 😀',
      '  two  spaces\tand tab',
    ];
    for (const text of samples) {
      const ids = tokenizer.encode(text, { addSpecialTokens: false });
      expect(ids).toEqual(bpeEncode(model, text));
      expect(tokenizer.decode(ids)).toBe(text);
    }
    // merges compress: far fewer tokens than bytes
    const text = samples.slice(0, 200).join('\n');
    expect(tokenizer.encode(text).length).toBeLessThan(new TextEncoder().encode(text).length / 2);
  });

  it('reproduces the shipped tokenizer.json from the corpus (deterministic training)', () => {
    const shipped = JSON.parse(
      readFileSync(new URL('../../../public/models/prufed-tiny/tokenizer.json', import.meta.url), 'utf8'),
    );
    const model = trainByteLevelBpe(readLines('corpus.txt'), { numTokens: 2048 - 3 });
    expect(shipped.model.merges).toEqual(model.merges);
    expect(loadTokenizer(shipped).vocabSize).toBe(2048);
  });
});
