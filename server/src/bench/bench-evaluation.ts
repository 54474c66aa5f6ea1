// `npx tsx server/src/bench/bench-evaluation.ts [--samples 32] [--max-new-tokens 16] [--model DIR]`:
// how long the server-side evaluation of one round takes per tier for the shipped model shape.
// Uses public/models/prufed-tiny when its checkpoint is there, else a random model of the same shape
// (12 layers, C 128, NH 4, NKV 2, F 384, V 2048) with prufed-tiny's tokenizer. The global adapter is
// the server's initial one with random B (a trained adapter's cost), r 8 on every projection; the
// records are the first N of the define validation split, as the server evaluates them. Prints per
// tier: ONNX export (merge + graph + encode), session creation, loss + greedy decoding, and the
// longest event-loop stall meanwhile (what sockets and HTTP wait at worst).
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { tiers } from '@prufed/fl';
import {
  initLoraAdapter,
  type LlamaConfig,
  type LoraConfig,
  loadTokenizer,
  loraModules,
  parseTaskJsonl,
  Rng,
  randomLlamaWeights,
} from '@prufed/model';
import { readModelDir, writeModelDir } from '@prufed/model/node';
import { benchLlamaConfig, benchModelShape } from '@prufed/model/testing';
import { createNodeSession, onnxLogitsNode } from '@prufed/onnx/node';
import { evaluateModel } from '../evaluation';
import { OnnxModels } from '../onnx-models';
import { Store } from '../store';
import { planTiers } from '../tiers';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const shipped = path.join(repoRoot, 'public/models/prufed-tiny');
const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '32' },
    'max-new-tokens': { type: 'string', default: '16' },
    'seq-len': { type: 'string', default: '128' },
    model: { type: 'string', default: shipped },
  },
});

async function modelDir(): Promise<{ dir: string; what: string }> {
  if (existsSync(path.join(values.model, 'config.json'))) return { dir: values.model, what: values.model };
  // the shipped model's shape (untied, with a long context like a real checkpoint's)
  const config: LlamaConfig = {
    ...benchLlamaConfig(benchModelShape('default')),
    maxPositionEmbeddings: 2048,
    tieWordEmbeddings: false,
  };

  const dir = await mkdtemp(path.join(os.tmpdir(), 'prufed-bench-eval-'));
  const tokenizerJson = JSON.parse(readFileSync(path.join(shipped, 'tokenizer.json'), 'utf8'));
  await writeModelDir(dir, config, randomLlamaWeights(config, { seed: 1 }), { tokenizerJson });
  return {
    dir,
    what: 'a random model of the prufed-tiny shape (no checkpoint in public/models/prufed-tiny)',
  };
}

const { dir, what } = await modelDir();
const model = await readModelDir(dir);
const L = model.config.numHiddenLayers;
const lora: LoraConfig = { r: 8, alpha: 16, targetModules: [...loraModules] };
const adapter = initLoraAdapter(
  model.config,
  lora,
  Array.from({ length: L }, (_, i) => i),
  0,
);
const rng = new Rng(2);
for (const { B } of adapter.weights.values())
  for (let i = 0; i < B.data.length; i++) B.data[i] = 0.01 * rng.normal();
const store = new Store(await mkdtemp(path.join(os.tmpdir(), 'prufed-bench-eval-data-')));
store.openRun({ modelId: 'bench', numLayers: L, lora }, {}, () => adapter);
const tierPlan = planTiers({
  numLayers: L,
  enabled: [...tiers],
  depths: { a: 1, b: 0.75, c: 0.5 },
  pruning: 'top',
});
const models = new OnnxModels({ modelDir: dir, store, tierPlan });
const split = path.join(repoRoot, 'public/datasets/wordnet/define/validation.jsonl');
const data = {
  task: 'define' as const,
  records: parseTaskJsonl(readFileSync(split, 'utf8'), split).slice(0, Number(values.samples)),
  tokenizer: loadTokenizer(model.tokenizerJson),
  maxLength: Number(values['seq-len']),
  maxNewTokens: Number(values['max-new-tokens']),
};

console.log(`model: ${what}`);
console.log(
  `${data.records.length} define validation records, ${data.maxNewTokens} new tokens at most, seqLen ${data.maxLength}; ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}`,
);
console.log(
  'tier | layers | ONNX MB | export ms | session ms | loss+decode ms | total ms | max event-loop stall ms | loss | token_f1',
);
for (const tier of tierPlan.enabled) {
  const stall = monitorEventLoopDelay({ resolution: 5 });
  stall.enable();
  const started = performance.now();
  const exported = (await models.model(0, tier))!;
  const sessionStarted = performance.now();
  const session = await createNodeSession(exported.bytes);
  const evalStarted = performance.now();
  const result = await evaluateModel((ids, B, T) => onnxLogitsNode(session, ids, B, T), data);
  const done = performance.now();
  stall.disable();
  await session.release();
  console.log(
    [
      tier,
      tierPlan.layers[tier]!.length,
      (exported.bytes.byteLength / 2 ** 20).toFixed(1),
      exported.exportMs.toFixed(0),
      (evalStarted - sessionStarted).toFixed(0),
      (done - evalStarted).toFixed(0),
      (done - started).toFixed(0),
      (stall.max / 1e6).toFixed(0),
      result.loss.toFixed(3),
      result.value.toFixed(3),
    ].join(' | '),
  );
}
store.close();
