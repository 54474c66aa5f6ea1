// Does a base model recall what it read? For the first N hypernym train words (each defined by a line
// of corpus.txt, which pretraining read every epoch), the model greedily continues the line's start
// (`<|bos|>names:`) for 16 tokens; the probe counts continuations that name one of the word's hypernyms
// (as the gloss often does: `oak: a tree ...`; glossNamesHypernym counts the glosses that do) and that
// begin with the gloss's first word. Prints JSON with a few continuations. A model that recalls
// nothing cannot be fine-tuned to answer from memory.
// Usage: npm run eval:recall [-- --model public/models/prufed-tiny --count 40 --engine cpu]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { acceptedAnswers, greedyDecode, loadTokenizer, parseCorpusLine } from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { createEngine } from '../packages/cli/src/engines';
import { readTaskRecords } from '../packages/cli/src/task-run';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/prufed-tiny' },
    data: { type: 'string', default: 'public/datasets/wordnet' },
    count: { type: 'string', default: '40' },
    engine: { type: 'string', default: 'cpu' },
  },
});
const count = Number(values.count);
if (!Number.isSafeInteger(count) || count < 1) {
  console.error(`--count must be a positive integer, got ${values.count}`);
  process.exit(1);
}
const { weights, tokenizerJson } = await readModelDir(values.model!);
if (tokenizerJson === undefined) {
  console.error(`${values.model} has no tokenizer.json, which the probe needs`);
  process.exit(1);
}
const tokenizer = loadTokenizer(tokenizerJson);
const lines = readFileSync(join(values.data!, 'corpus.txt'), 'utf8').split('\n');
/** The corpus line that names `word`: what the model is given (the names and the colon) and what it read after. */
const lineOf = (word: string) => {
  for (const line of lines) {
    const parts = parseCorpusLine(line);
    if (parts?.names.some((name) => name.toLowerCase() === word)) {
      const start = `${parts.names.join(', ')}:`;
      return { start, gloss: line.slice(start.length + 1) };
    }
  }
  return undefined;
};
const records = (await readTaskRecords(values.data!, 'hypernym', 'train')).slice(0, count);
const engine = await createEngine(values.engine!);
const samples: string[] = [];
let namesHypernym = 0;
let glossNamesHypernym = 0; // what the model read: how often the line itself names a hypernym
let firstWordRight = 0;
let probed = 0;
try {
  await engine.loadVariant(weights, { keptLayers: weights.layers });
  for (const record of records) {
    const line = lineOf(record.input);
    if (line === undefined) continue;
    probed++;
    const prompt = [tokenizer.bosId!, ...tokenizer.encode(line.start, { addSpecialTokens: false })];
    const continuation = tokenizer
      .decode(await greedyDecode(engine, prompt, 16, tokenizer.eosId!, 128))
      .trim();
    const names = (text: string) =>
      acceptedAnswers(record).some((a) => ` ${text.toLowerCase()} `.includes(` ${a.toLowerCase()}`));
    if (names(continuation)) namesHypernym++;
    if (names(line.gloss)) glossNamesHypernym++;
    if (continuation.split(' ')[0] === line.gloss.split(' ')[0]) firstWordRight++;
    if (samples.length < 6)
      samples.push(`${line.start} ${continuation}   (read: ${line.gloss.slice(0, 60)})`);
  }
} finally {
  engine.dispose();
}
process.stdout.write(
  `${JSON.stringify({ model: values.model, probed, namesHypernym, glossNamesHypernym, firstWordRight, samples }, null, 2)}\n`,
);
