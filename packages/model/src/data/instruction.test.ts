import { describe, expect, it } from 'vitest';
import { InputError } from '../errors';
import {
  encodeInstruction,
  encodeRecord,
  formatPrompt,
  formatResponse,
  IGNORE_INDEX,
  type InstructionTokenizer,
  padInstructionBatch,
} from './instruction';

// A character-level tokenizer: id = char code + 10, so 0..9 are free for special tokens.
const tokenizer: InstructionTokenizer = {
  encode: (text) => [...text].map((ch) => ch.charCodeAt(0) + 10),
  eosId: 1,
  padId: 0,
  bosId: 2,
};
const ids = (text: string) => [...text].map((ch) => ch.charCodeAt(0) + 10);

describe('instruction format', () => {
  it('writes the prompt template', () => {
    expect(formatPrompt('Define', 'bank')).toBe('Define\nbank:');
    expect(formatPrompt('Say hi.', '')).toBe('Say hi.\n');
    expect(formatResponse('a slope')).toBe(' a slope');
    expect(formatResponse('')).toBe('');
  });

  it('masks BOS and the prompt with -100 and trains on the response and EOS', () => {
    const prompt = 'Define\nbank:';
    const { inputIds, labels } = encodeRecord(tokenizer, {
      id: 'define:bank',
      task: 'define',
      lemma: 'bank',
      input: 'bank',
      output: 'a slope',
      category: 'noun.object',
    });
    expect(inputIds).toEqual([2, ...ids(prompt), ...ids(' a slope'), 1]);
    expect(labels).toEqual([...new Array(prompt.length + 1).fill(-100), ...ids(' a slope'), 1]);
  });

  it('cuts at maxLength and refuses a prompt that leaves no response token', () => {
    const { inputIds, labels } = encodeInstruction(tokenizer, 'ab', 'xyz', 5);
    expect(inputIds).toEqual([2, ...ids('ab'), ...ids(' x')]);
    expect(labels).toEqual([IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, ...ids(' x')]);
    expect(() => encodeInstruction(tokenizer, 'abcd', 'x', 5)).toThrow(InputError);
    expect(() => encodeInstruction({ ...tokenizer, encode: () => [1.5] }, 'a', 'b')).toThrow(/token ids/);
  });

  it('pads a batch on the right with pad ids, ignored labels and a zero mask', () => {
    const a = encodeInstruction(tokenizer, 'a', 'b'); // [2, a, space, b, 1]
    const b = encodeInstruction({ ...tokenizer, bosId: undefined }, 'a', ''); // [a, 1]
    const batch = padInstructionBatch([a, b], tokenizer.padId);
    expect([batch.batch, batch.tokens]).toEqual([2, 5]);
    expect([...batch.inputIds]).toEqual([2, 107, 42, 108, 1, 107, 1, 0, 0, 0]);
    expect([...batch.labels]).toEqual([-100, -100, 42, 108, 1, -100, 1, -100, -100, -100]);
    expect([...batch.attentionMask]).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect(() => padInstructionBatch([a], 0, 3)).toThrow(/maxLength 3/);
  });
});
