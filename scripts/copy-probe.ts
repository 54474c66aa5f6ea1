// In-context copying of a base model: random sequences of ordinary tokens shown twice, greedy
// accuracy and loss on the second showing (packages/model/src/copy-probe.ts). Near chance means the
// model has no induction heads yet, and tasks that rewrite the prompt's word (antonym) cannot be
// learned by a small adapter. Prints JSON.
// Usage: npm run eval:copy [-- --model public/models/prufed-tiny --count 64 --length 16 --seed 0 --engine cpu]
import { parseArgs } from 'node:util';
import { copyProbe, copyProbeDefaults, loadTokenizer, ordinaryTokenRange } from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { createEngine } from '../packages/cli/src/engines';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/prufed-tiny' },
    count: { type: 'string', default: String(copyProbeDefaults.count) },
    length: { type: 'string', default: String(copyProbeDefaults.length) },
    seed: { type: 'string', default: String(copyProbeDefaults.seed) },
    engine: { type: 'string', default: 'cpu' },
  },
});
const [count, length, seed] = [values.count, values.length, values.seed].map(Number);
const { weights, tokenizerJson } = await readModelDir(values.model!);
if (tokenizerJson === undefined) {
  console.error(
    `${values.model} has no tokenizer.json, which the probe needs to tell ordinary tokens from special ones`,
  );
  process.exit(1);
}
const tokenizer = loadTokenizer(tokenizerJson);
const { low, high } = ordinaryTokenRange(tokenizer);
const engine = await createEngine(values.engine!);
try {
  await engine.loadVariant(weights, { keptLayers: weights.layers });
  const result = await copyProbe(engine, { count, length, low, high, seed, bosId: tokenizer.bosId });
  process.stdout.write(
    `${JSON.stringify({ model: values.model, count, length, low, high, ...result }, null, 2)}\n`,
  );
} finally {
  engine.dispose();
}
