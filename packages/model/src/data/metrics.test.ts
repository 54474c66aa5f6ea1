import { describe, expect, it } from 'vitest';
import {
  copyPromptBaseline,
  exactMatch,
  majorityClassBaseline,
  normalizeAnswer,
  scorePredictions,
  tokenF1,
} from './metrics';
import type { TaskRecord } from './task';

const record = (lemma: string, output: string, answers?: string[]): TaskRecord => ({
  id: `pos:${lemma}`,
  task: 'pos',
  lemma,
  input: lemma,
  output,
  ...(answers ? { answers } : {}),
  category: 'noun.Tops',
});

describe('metrics', () => {
  it('normalises case, punctuation, articles and whitespace', () => {
    expect(normalizeAnswer('  The  Bank!\n')).toBe('bank');
    expect(normalizeAnswer('noun.animal')).toBe('nounanimal');
    expect(normalizeAnswer('An apple, a pear')).toBe('apple pear');
  });

  it('exact match accepts any listed answer', () => {
    expect(exactMatch('Canine.', ['dog', 'canine'])).toBe(1);
    expect(exactMatch('canines', ['dog', 'canine'])).toBe(0);
  });

  it('token F1 matches hand-computed values', () => {
    // pred {financial, institution}, gold {financial, institution, that, accepts, deposits}: P=1, R=2/5.
    expect(tokenF1('a financial institution', ['financial institution that accepts deposits'])).toBeCloseTo(
      4 / 7,
      12,
    );
    // Repeated tokens count once per occurrence: pred {cat}, gold {cat, cat}: P=1, R=1/2.
    expect(tokenF1('cat', ['cat cat'])).toBeCloseTo(2 / 3, 12);
    // Best over answers; disjoint tokens give 0; both empty after normalisation give 1.
    expect(tokenF1('big dog', ['small cat', 'big dog'])).toBe(1);
    expect(tokenF1('red', ['blue'])).toBe(0);
    expect(tokenF1('the', ['a'])).toBe(1);
  });

  it('scores predictions and the two baselines', () => {
    const train = [record('a1', 'noun'), record('a2', 'noun'), record('a3', 'verb')];
    const test = [
      record('run', 'noun'),
      record('quick', 'adjective'),
      record('dog', 'verb', ['verb', 'dog']),
    ];
    expect(scorePredictions(test, ['Noun', 'adverb', 'dog'])).toEqual({
      count: 3,
      exactMatch: 2 / 3,
      f1: 2 / 3,
    });
    expect(majorityClassBaseline(train, test)).toEqual({ count: 3, exactMatch: 1 / 3, f1: 1 / 3 });
    expect(copyPromptBaseline(test)).toEqual({ count: 3, exactMatch: 1 / 3, f1: 1 / 3 });
    expect(() => scorePredictions(test, ['noun'])).toThrow(/one prediction per record/);
  });
});
