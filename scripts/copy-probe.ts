// In-context copying of a base model: random sequences of ordinary tokens shown twice, greedy
// accuracy and loss on the second showing (packages/model/src/copy-probe.ts). Near chance means the
// model has no induction heads yet, and tasks that rewrite the prompt's word (antonym) cannot be
// learned by a small adapter. Prints JSON.
// Usage: npm run eval:copy [-- --model public/models/prufed-tiny --count 64 --length 16 --seed 0 --engine cpu]
import { parseArgs } from 'node:util';
import { copyProbe } from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { createEngine } from '../packages/cli/src/engines';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/prufed-tiny' },
    count: { type: 'string', default: '64' },
    length: { type: 'string', default: '16' },
    seed: { type: 'string', default: '0' },
    engine: { type: 'string', default: 'cpu' },
  },
});
const [count, length, seed] = [values.count, values.length, values.seed].map(Number);
const { config, weights, tokenizerJson } = await readModelDir(values.model!);
// Ordinary tokens: the merged sub-words above the 256 byte tokens and below the added (special) ones.
const added =
  (tokenizerJson as { added_tokens?: { id: number; content: string }[] } | undefined)?.added_tokens ?? [];
const high = Math.min(config.vocabSize, ...added.map((t) => t.id));
const bosId = added.find((t) => t.content === '<|bos|>')?.id;
const engine = await createEngine(values.engine!);
try {
  await engine.loadVariant(weights, { keptLayers: weights.layers });
  const result = await copyProbe(engine, { count, length, low: 256, high, seed, bosId });
  process.stdout.write(
    `${JSON.stringify({ model: values.model, count, length, low: 256, high, ...result }, null, 2)}\n`,
  );
} finally {
  engine.dispose();
}
