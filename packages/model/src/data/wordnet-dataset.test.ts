import { describe, expect, it } from 'vitest';
import { parseTaskJsonl, type TaskRecord } from './task';
import {
  buildWordnetDataset,
  parseCorpusLine,
  readWordnetSources,
  WORDNET_BUILD_CONFIG,
  type WordnetBuildConfig,
} from './wordnet-dataset';

// A hand-written miniature WordNet in the wndb(5WN) format (offsets need not be byte positions here).
const MINI: Record<string, string> = {
  'data.noun': `  1 Mini licence, line one.  
  2 Line two.  
00000100 03 n 01 entity 0 000 | that which exists  
00000200 05 n 02 dog 0 domestic_dog 0 001 @ 00000300 n 0000 | a domesticated canine; "the dog barked"  
00000300 05 n 02 canine 0 canid 0 001 @ 00000100 n 0000 | a fissiped mammal  
00000400 04 n 01 run 0 001 @ 00000100 n 0000 | a race on foot  
`,
  'data.verb': `00000100 38 v 01 run 0 000 01 + 01 00 | move fast by using legs; "don't run"  
00000200 38 v 01 walk 0 000 01 + 01 00 | use one's feet to advance  
`,
  'data.adj': `00000100 00 a 01 good 0 001 ! 00000200 a 0101 | having desirable qualities; "good news"  
00000200 00 a 01 bad 0 001 ! 00000100 a 0101 | having undesirable qualities  
`,
  'data.adv': '00000100 02 r 01 fast 0 000 | quickly  \n',
  'index.noun': `canid n 1 1 @ 1 0 00000300  
canine n 1 1 @ 1 0 00000300  
dog n 1 1 @ 1 1 00000200  
domestic_dog n 1 1 @ 1 0 00000200  
entity n 1 0 1 0 00000100  
run n 1 1 @ 1 1 00000400  
`,
  'index.verb': 'run v 1 0 1 1 00000100  \nwalk v 1 0 1 0 00000200  \n',
  'index.adj': 'bad a 1 1 ! 1 0 00000200  \ngood a 1 1 ! 1 1 00000100  \n',
  'index.adv': 'fast r 1 0 1 0 00000100  \n',
  'cntlist.rev': 'run%2:38:00:: 1 5\nrun%1:04:00:: 1 2\ndog%1:05:00:: 1 3\ngood%3:00:00:: 1 4\n',
};

function build(files: Record<string, string>, split: Partial<WordnetBuildConfig>) {
  const config = { ...WORDNET_BUILD_CONFIG, ...split };
  return buildWordnetDataset(
    readWordnetSources((name) => files[name]),
    config,
  ).files;
}

const byLemma = (text: string | undefined) =>
  Object.fromEntries(parseTaskJsonl(text ?? '').map((r) => [r.lemma, r])) as Record<string, TaskRecord>;

describe('buildWordnetDataset on a miniature WordNet', () => {
  const allTrain = build(MINI, { validationPercent: 0, testPercent: 0 });

  it('describes each lemma by its most frequent sense', () => {
    const define = byLemma(allTrain.get('define/train.jsonl'));
    expect(Object.keys(define).sort()).toEqual([
      'bad',
      'canid',
      'canine',
      'dog',
      'entity',
      'fast',
      'good',
      'run',
      'walk',
    ]);
    expect(define.dog).toEqual({
      id: 'define:dog',
      task: 'define',
      lemma: 'dog',
      input: 'dog',
      output: 'a domesticated canine',
      category: 'noun.animal',
    });
    expect(define.run.output).toBe('move fast by using legs'); // verb sense: 5 tags against 2
    expect(byLemma(allTrain.get('category/train.jsonl')).run.output).toBe('verb.motion');
    expect(byLemma(allTrain.get('pos/train.jsonl')).good.output).toBe('adjective');
    expect(byLemma(allTrain.get('pos/train.jsonl')).run.output).toBe('verb');
  });

  it('accepts every lemma of the hypernym synsets and every direct antonym', () => {
    const hypernym = byLemma(allTrain.get('hypernym/train.jsonl'));
    expect(hypernym.dog).toMatchObject({ output: 'canine', answers: ['canine', 'canid'] });
    expect(hypernym.canid.answers).toEqual(['entity']);
    expect(hypernym.run).toBeUndefined(); // the verb sense has no hypernym
    const antonym = byLemma(allTrain.get('antonym/train.jsonl'));
    expect(Object.keys(antonym).sort()).toEqual(['bad', 'good']);
    expect(antonym.good).toMatchObject({ output: 'bad', answers: ['bad'], category: 'adj.all' });
  });

  it('drops pos records whose most frequent senses tie across parts of speech', () => {
    const tied = {
      ...MINI,
      'cntlist.rev': MINI['cntlist.rev'].replace('run%1:04:00:: 1 2', 'run%1:04:00:: 1 5'),
    };
    const pos = byLemma(build(tied, { validationPercent: 0, testPercent: 0 }).get('pos/train.jsonl'));
    expect(pos.run).toBeUndefined();
    expect(pos.walk.output).toBe('verb');
  });

  it('writes the corpus line format and the licence without line numbers', () => {
    expect(allTrain.get('corpus.txt')).toContain(
      'dog, domestic dog: a domesticated canine. example: the dog barked.\n',
    );
    expect(allTrain.get('corpus.txt')).toContain("run: move fast by using legs. example: don't run.\n");
    expect(allTrain.get('corpus-valid.txt')).toBe('');
    expect(allTrain.get('LICENSE')).toBe('Mini licence, line one.\nLine two.\n');
  });

  it('parses its own corpus lines back into names and definition', () => {
    const lines = allTrain.get('corpus.txt')!.split('\n').filter(Boolean);
    const dog = lines.map(parseCorpusLine).find((parts) => parts?.names.includes('dog'));
    expect(dog).toEqual({ names: ['dog', 'domestic dog'], definition: 'a domesticated canine.' });
    expect(lines.every((line) => parseCorpusLine(line) !== null)).toBe(true);
    expect(parseCorpusLine('no colon here')).toBeNull();
  });

  it('keeps test and validation lemmas out of the training corpus', () => {
    const allTest = build(MINI, { validationPercent: 0, testPercent: 100 });
    expect(allTest.get('corpus.txt')).toBe('');
    expect(allTest.get('corpus-valid.txt')).toBe('');
    expect(parseTaskJsonl(allTest.get('define/test.jsonl')!)).toHaveLength(9);
    expect(allTest.get('define/train.jsonl')).toBe('');
    const allValidation = build(MINI, { validationPercent: 100, testPercent: 0 });
    expect(allValidation.get('corpus.txt')).toBe('');
    expect(allValidation.get('corpus-valid.txt')).toContain(
      'good: having desirable qualities. example: good news.\n',
    );
  });

  it('asks the corpus-word tasks only about words corpus.txt defines', () => {
    expect(Object.keys(byLemma(allTrain.get('category/train.jsonl'))).sort()).toEqual([
      'bad',
      'canid',
      'canine',
      'dog',
      'entity',
      'fast',
      'good',
      'run',
      'walk',
    ]);
    // With every lemma held out of the corpus, define still has records; the others have none.
    const allTest = build(MINI, { validationPercent: 0, testPercent: 100 });
    expect(parseTaskJsonl(allTest.get('define/test.jsonl')!)).toHaveLength(9);
    for (const task of ['category', 'hypernym', 'pos', 'antonym'])
      for (const split of ['train', 'validation', 'test'])
        expect(allTest.get(`${task}/${split}.jsonl`)).toBe('');
  });

  it('caps each split, keeping the most frequent lemmas', () => {
    const capped = build(MINI, {
      validationPercent: 0,
      testPercent: 0,
      recordCaps: { train: 2, validation: 1, test: 1 },
    });
    expect(Object.keys(byLemma(capped.get('define/train.jsonl'))).sort()).toEqual(['good', 'run']);
  });
});
