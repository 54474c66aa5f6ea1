// `npm run analysis:tasks`: facts about the WordNet tasks that the README quotes beside the fine-tuning
// table, computed from the shipped data and tokenizer (no model runs):
// - spelling baselines: a longest-suffix classifier fit on the train split, scored on the test split
//   (pos, category, hypernym): how much of those tasks the word's ending alone gives;
// - hypernym with the category known: each test word answered with its category's most frequent
//   train hypernym, an optimistic floor for a model that knows categories but no hypernyms;
// - hypernym by gloss retrieval (gloss-retrieval.ts): the train answer named by the corpus line whose
//   definition is most like the word's own, how much of the task the pretraining text holds;
// - the instruction format and antonyms: for the prefix pairs (`excited` / `unexcited`), how often the
//   answer's tokens are the prefix's tokens followed by the word's tokens as the prompt holds it.
// Prints JSON. Options: --model DIR (tokenizer), --data DIR.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  acceptedAnswers,
  formatPrompt,
  formatResponse,
  loadTokenizer,
  mostFrequentValue,
  scorePredictions,
  type TaskRecord,
} from '@prufed/model';
import { readTaskRecords } from '../packages/cli/src/task-run';
import { glossRetrievalGuesses } from './gloss-retrieval';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/prufed-tiny' },
    data: { type: 'string', default: 'public/datasets/wordnet' },
  },
});
const data = values.data!;
const tokenizer = loadTokenizer(JSON.parse(readFileSync(join(values.model!, 'tokenizer.json'), 'utf8')));
const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });

/** Exact match of the guesses, scored as the task metric is (scorePredictions), in percent. */
function exactMatch(test: TaskRecord[], guesses: string[]) {
  return {
    exactMatch: Number((100 * scorePredictions(test, guesses).exactMatch).toFixed(1)),
    records: test.length,
  };
}

/** The values grouped by key, in order. */
function groupBy(items: readonly TaskRecord[], keys: (r: TaskRecord) => string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const r of items) {
    for (const key of keys(r)) {
      const group = groups.get(key);
      if (group) group.push(r.output);
      else groups.set(key, [r.output]);
    }
  }
  return groups;
}

/** Longest-suffix classifier (suffixes of up to 6 letters seen in train; else the train majority). */
function suffixBaseline(train: TaskRecord[], test: TaskRecord[]) {
  const maxSuffix = 6;
  const bySuffix = groupBy(train, (r) =>
    Array.from({ length: Math.min(maxSuffix, r.input.length) }, (_, i) => r.input.slice(-(i + 1))),
  );
  const answer = new Map([...bySuffix].map(([key, outputs]) => [key, mostFrequentValue(outputs)]));
  const fallback = mostFrequentValue(train.map((r) => r.output));
  const guess = (word: string) => {
    for (let n = Math.min(maxSuffix, word.length); n >= 1; n--) {
      const found = answer.get(word.slice(-n));
      if (found !== undefined) return found;
    }
    return fallback;
  };
  return exactMatch(
    test,
    test.map((r) => guess(r.input)),
  );
}

function hypernymByCategory(train: TaskRecord[], test: TaskRecord[]) {
  const byCategory = groupBy(train, (r) => [r.category]);
  const guesses = test.map((r) => {
    const outputs = byCategory.get(r.category);
    return outputs === undefined ? '' : mostFrequentValue(outputs);
  });
  return exactMatch(test, guesses);
}

function antonymPrefixTokens(records: TaskRecord[]) {
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  let pairs = 0;
  let kept = 0;
  for (const r of records) {
    const answer = acceptedAnswers(r).find((a) => a.endsWith(r.input) && a.length > r.input.length);
    if (answer === undefined) continue;
    pairs++;
    const prefix = answer.slice(0, answer.length - r.input.length);
    // the word as the prompt holds it: after the instruction line, at the start of its own line
    const prompt = encode(formatPrompt('Antonym', r.input));
    const word = prompt.slice(encode('Antonym\n').length, -encode(':').length);
    if (same(encode(formatResponse(answer)), [...encode(formatResponse(prefix)), ...word])) kept++;
  }
  return { prefixPairs: pairs, answerKeepsWordTokens: kept };
}

const [posTrain, posTest, catTrain, catTest, hypTrain, hypTest, antTrain, antTest] = await Promise.all(
  (['pos', 'category', 'hypernym', 'antonym'] as const).flatMap((task) => [
    readTaskRecords(data, task, 'train'),
    readTaskRecords(data, task, 'test'),
  ]),
);
console.log(
  JSON.stringify(
    {
      suffixBaseline: {
        pos: suffixBaseline(posTrain, posTest),
        category: suffixBaseline(catTrain, catTest),
        hypernym: suffixBaseline(hypTrain, hypTest),
      },
      hypernymByCategory: hypernymByCategory(hypTrain, hypTest),
      hypernymByGlossRetrieval: exactMatch(
        hypTest,
        glossRetrievalGuesses(readFileSync(join(data, 'corpus.txt'), 'utf8'), hypTrain, hypTest),
      ),
      antonymPrefixTokens: antonymPrefixTokens([...antTrain, ...antTest]),
    },
    null,
    2,
  ),
);
