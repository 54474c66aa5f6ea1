import { FormatError, formatPrompt, IGNORE_INDEX, type InstructionTokenizer, Rng } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { assignedData, parseOwnJsonl, stepBatch } from './local-data';

describe('parseOwnJsonl', () => {
  it('reads instruction/response pairs and task records, skipping blank lines', () => {
    const text = [
      '{"instruction": "Say hi.", "response": "hi"}',
      '',
      '{"instruction": "Define the word.", "input": "lively", "response": "full of life"}',
      '{"id":"define:x","task":"define","lemma":"x","input":"x","output":"a letter","category":"noun.a"}',
    ].join('\n');
    const data = parseOwnJsonl(text, 'mine.jsonl');
    expect(data.own).toBe(true);
    expect(data.source).toMatch(/mine\.jsonl .*stays in this browser/);
    expect(data.examples).toEqual([
      { prompt: 'Say hi.\n', response: 'hi' },
      { prompt: 'Define the word.\nlively:', response: 'full of life' },
      { prompt: formatPrompt('Define', 'x'), response: 'a letter' },
    ]);
  });

  it('names the line and the expected fields of a bad file', () => {
    expect(() => parseOwnJsonl('{"instruction": "x"}', 'a.jsonl')).toThrow(
      /a\.jsonl line 1 needs non-empty "instruction" and "response"/,
    );
    expect(() => parseOwnJsonl('{"instruction": "x", "response": "y"}\nnot json', 'a.jsonl')).toThrow(
      FormatError,
    );
    expect(() => parseOwnJsonl('\n\n', 'empty.jsonl')).toThrow(/holds no examples/);
  });
});

describe('assignedData', () => {
  // Six records in two categories; an IID split into 3 shards with seed 4.
  const records = ['a', 'b', 'c', 'd', 'e', 'f'].map((lemma, i) => ({
    id: `define:${lemma}`,
    task: 'define',
    lemma,
    input: lemma,
    output: `meaning ${i}`,
    category: i % 2 ? 'noun.x' : 'noun.y',
  }));
  const jsonl = records.map((record) => JSON.stringify(record)).join('\n');
  const url = '/datasets/wordnet/define/train.jsonl';

  it('turns the task records into prompts and reference responses, all of them without a shard', () => {
    const data = assignedData(jsonl, { task: 'define', url, shard: null });
    expect(data.examples[1]).toEqual({
      prompt: formatPrompt('Define', 'b'),
      response: 'meaning 1',
    });
    expect(data.examples).toHaveLength(6);
    expect(data.source).toBe('public WordNet data, all of the define train split');
  });

  it('keeps only the assigned shard: the shards are disjoint and cover the split', () => {
    const shard = (index: number) => ({ index, count: 3, scheme: 'iid' as const, alpha: null, seed: 4 });
    const shards = [0, 1, 2].map((index) =>
      assignedData(jsonl, { task: 'define', url, shard: shard(index) }),
    );
    const responses = shards.flatMap((data) => data.examples.map((example) => example.response));
    expect(shards.map((data) => data.examples.length)).toEqual([2, 2, 2]);
    expect(responses.sort()).toEqual(records.map((record) => record.output).sort());
    expect(shards[2].source).toBe(
      'public WordNet data, shard 2 of 3 (iid, seed 4) of the define train split',
    );
  });
});

describe('stepBatch', () => {
  const tokenizer: InstructionTokenizer = {
    encode: (text) => [...text].map(() => 7),
    eosId: 2,
    padId: 0,
    bosId: 1,
  };
  const data = {
    source: 't',
    own: true,
    examples: [
      { prompt: 'p', response: 'r' },
      { prompt: 'pp', response: 'rrr' },
    ],
  };

  it('draws batchSize seeded examples, masks prompts, pads and cuts to seqLen', () => {
    const train = { localSteps: 1, batchSize: 3, learningRate: 0, seqLen: 6 };
    const rng = new Rng(3);
    const picks = [0, 1, 2].map(() => Math.floor(rng.uniform() * 2));
    const batch = stepBatch(data, tokenizer, train, new Rng(3));
    // BOS, prompt, the response after its space (formatResponse), EOS; cut at seqLen.
    const rows = { 0: [1, 7, 7, 7, 2], 1: [1, 7, 7, 7, 7, 7] } as Record<number, number[]>;
    const labels = {
      0: [IGNORE_INDEX, IGNORE_INDEX, 7, 7, 2],
      1: [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 7, 7, 7],
    } as Record<number, number[]>;
    const T = Math.max(...picks.map((pick) => rows[pick].length));
    expect(batch.batchSize).toBe(3);
    expect(batch.seqLen).toBe(T);
    picks.forEach((pick, b) => {
      const padded = [...rows[pick], ...Array(T - rows[pick].length).fill(0)];
      const paddedLabels = [...labels[pick], ...Array(T - labels[pick].length).fill(IGNORE_INDEX)];
      expect([...batch.inputIds.subarray(b * T, (b + 1) * T)]).toEqual(padded);
      expect([...batch.labels.subarray(b * T, (b + 1) * T)]).toEqual(paddedLabels);
    });
  });
});
