import type { TaskRecord } from '@prufed/model';
import { describe, expect, it } from 'vitest';
import { glossRetrievalGuesses } from './gloss-retrieval';

const record = (input: string, output: string): TaskRecord => ({
  id: `hypernym:${input}`,
  task: 'hypernym',
  lemma: input,
  input,
  output,
  answers: [output],
  category: 'noun.person',
});

describe('hypernym by gloss retrieval', () => {
  const corpus = [
    'cyclist, bicyclist: a person who rides a bicycle.',
    'pedaler: someone who rides a bicycle or pedals.',
    'dog: a domesticated carnivorous mammal. example: the dog barked.',
    'oak: a tree of the genus Quercus.',
    'stranger: a person who is not known.',
    '',
  ].join('\n');
  const train = [record('rider', 'pedaler'), record('poodle', 'dog'), record('maple', 'tree')];

  it("answers with the train-answer line whose definition is most like the word's own", () => {
    expect(glossRetrievalGuesses(corpus, train, [record('bicyclist', 'pedaler')])).toEqual(['pedaler']);
  });

  it('skips the word’s own line and says nothing for a word the corpus does not define', () => {
    // pedaler's own line is excluded, so the only other train-answer lines compete
    const [own, unknown] = glossRetrievalGuesses(corpus, train, [
      record('pedaler', 'x'),
      record('zebra', 'y'),
    ]);
    expect(own).not.toBe('pedaler');
    expect(unknown).toBe('');
  });
});
