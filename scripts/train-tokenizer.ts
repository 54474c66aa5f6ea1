// Trains PruFed's byte-level BPE tokenizer on the WordNet pretraining corpus and writes it as a
// Hugging Face tokenizer.json (256 bytes + learned merges + <|bos|> <|eos|> <|pad|> = --vocab-size).
// Deterministic: re-running it reproduces the shipped bytes.
// Usage: npx tsx scripts/train-tokenizer.ts [--corpus FILE] [--vocab-size N] [--out FILE]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { byteLevelBpeTokenizerJson, loadTokenizer, trainByteLevelBpe } from '@prufed/model';

export const specialTokens = ['<|bos|>', '<|eos|>', '<|pad|>'];

const { values } = parseArgs({
  options: {
    corpus: {
      type: 'string',
      default: resolve(import.meta.dirname, '../public/datasets/wordnet/corpus.txt'),
    },
    'vocab-size': { type: 'string', default: '2048' },
    out: {
      type: 'string',
      default: resolve(import.meta.dirname, '../public/models/prufed-tiny/tokenizer.json'),
    },
  },
});
const vocabSize = Number(values['vocab-size']);
if (!Number.isSafeInteger(vocabSize) || vocabSize < 256 + specialTokens.length) {
  console.error(
    `--vocab-size must be an integer >= ${256 + specialTokens.length}, got ${values['vocab-size']}`,
  );
  process.exit(1);
}

const started = performance.now();
const lines = readFileSync(values.corpus!, 'utf8')
  .split('\n')
  .filter((line) => line.length > 0);
const model = trainByteLevelBpe(lines, {
  numTokens: vocabSize - specialTokens.length,
  progressEvery: 200,
  onProgress: (n) => process.stderr.write(`\r${n} merges`),
});
process.stderr.write('\n');
const json = byteLevelBpeTokenizerJson({
  merges: model.merges,
  specialTokens,
  bosToken: '<|bos|>',
  vocabSize,
});
const tokenizer = loadTokenizer(json);
const tokensPerLine = lines
  .slice(0, 1000)
  .reduce((n, line) => n + tokenizer.encode(line, { addSpecialTokens: false }).length, 0);
const charsPerLine = lines.slice(0, 1000).reduce((n, line) => n + line.length, 0);
mkdirSync(dirname(values.out!), { recursive: true });
writeFileSync(values.out!, `${JSON.stringify(json)}\n`);
console.log(
  `${values.out}: ${model.merges.length} merges, vocabulary ${tokenizer.vocabSize}, ` +
    `${(charsPerLine / tokensPerLine).toFixed(2)} characters per token, ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
