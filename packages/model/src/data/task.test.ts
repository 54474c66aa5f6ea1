import { describe, expect, it } from 'vitest';
import { FormatError } from '../errors';
import { parseTaskJsonl, serializeTaskJsonl, type TaskRecord } from './task';

const records: TaskRecord[] = [
  {
    id: 'antonym:good',
    task: 'antonym',
    lemma: 'good',
    input: 'good',
    output: 'bad',
    answers: ['bad', 'evil'],
    category: 'adj.all',
  },
  { id: 'pos:run', task: 'pos', lemma: 'run', input: 'run', output: 'verb', category: 'verb.motion' },
];

describe('task JSONL', () => {
  it('writes compact lines in a fixed key order and reads them back', () => {
    const text = serializeTaskJsonl(records);
    expect(text.split('\n')[1]).toBe(
      '{"id":"pos:run","task":"pos","lemma":"run","input":"run","output":"verb","category":"verb.motion"}',
    );
    expect(parseTaskJsonl(`${text}\n`)).toEqual(records);
  });

  it('names the line of a bad record', () => {
    const good = serializeTaskJsonl(records.slice(1));
    expect(() => parseTaskJsonl(`${good}{"id":`, 'pos/train.jsonl')).toThrow(
      /pos\/train\.jsonl line 2: not valid JSON/,
    );
    expect(() => parseTaskJsonl(`${good}${good.replace('"verb"', '3')}`)).toThrow(/line 2: field 'output'/);
    expect(() => parseTaskJsonl(good.replace('"pos"', '"rhyme"'))).toThrow(/line 1: task 'rhyme'/);
    expect(() => parseTaskJsonl(good.replace('"category"', '"answers":[],"category"'))).toThrow(FormatError);
    expect(() => parseTaskJsonl('[1,2]')).toThrow(/line 1: expected a JSON object/);
  });
});
