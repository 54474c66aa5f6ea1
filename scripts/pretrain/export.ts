// Exports a pretraining checkpoint as the Hugging Face checkpoint directory that PruFed ships
// (config.json, model.safetensors in F16, tokenizer.json) and writes its model card: data, the exact
// commands, hardware, wall time, loss curve, held-out loss against the unigram entropy (measured on
// the exported F16 weights) and a few greedy samples.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  copyProbe,
  copyProbeDefaults,
  createCpuEngine,
  greedyDecode,
  type LlamaWeights,
  llamaTensorSpecs,
  loadTokenizer,
  noRepeatNgram,
  ordinaryTokenRange,
  packedBatch,
  packLines,
  unigramEntropy,
} from '@prufed/model';
import { readModelDir, writeModelDir } from '@prufed/model/node';
import type { Checkpoint, PretrainOptions, PretrainSitting, PretrainState } from './checkpoint';
import { GradPool } from './pool';

const samplePrompts = ['dog, domestic dog:', 'happy:', 'run:', 'music:', 'cold:'];

function weightsOf({ state, params }: Checkpoint): LlamaWeights {
  const { config } = state;
  const layers = Array.from({ length: config.numHiddenLayers }, (_, i) => i);
  let offset = 0;
  const tensors = new Map(
    llamaTensorSpecs(config, layers).map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = params.slice(offset, offset + size);
      offset += size;
      return [name, { shape, data }] as const;
    }),
  );
  return { config, layers, tensors };
}

export async function exportModel(
  checkpoint: Checkpoint,
  dir: string,
  tokenizerJson: unknown,
  validFile: string,
  logFile: string,
  numWorkers: number,
): Promise<void> {
  const { state } = checkpoint;
  const { config, options } = state;
  await writeModelDir(dir, config, weightsOf(checkpoint), { dtype: 'F16', tokenizerJson });
  const shipped = await readModelDir(dir);
  const tokenizer = loadTokenizer(tokenizerJson);
  const bosId = tokenizer.bosId!;
  const eosId = tokenizer.eosId!;
  const T = options.seqLen;

  // held-out loss of the shipped weights, data-parallel over the workers
  const layers = shipped.weights.layers;
  const flat = new Float32Array(checkpoint.params.length);
  let offset = 0;
  for (const { name } of llamaTensorSpecs(config, layers)) {
    const data = shipped.weights.tensors.get(name)!.data;
    flat.set(data, offset);
    offset += data.length;
  }
  const validLines = readFileSync(validFile, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => tokenizer.encode(line, { addSpecialTokens: false }));
  const stream = packLines(validLines, bosId, eosId, T);
  const pool = await GradPool.create(config, flat, numWorkers);
  let sum = 0;
  let tokens = 0;
  const rows = stream.length / T;
  for (let start = 0; start < rows; start += 8) {
    const batchRows = Array.from({ length: Math.min(8, rows - start) }, (_, b) => start + b);
    const result = await pool.loss(packedBatch(stream, batchRows, T, bosId));
    sum += result.loss * result.tokens;
    tokens += result.tokens;
  }
  await pool.close();
  const validLoss = sum / tokens;
  const entropy = unigramEntropy(stream, T, bosId);

  const engine = createCpuEngine();
  await engine.loadVariant(shipped.weights, { keptLayers: layers });
  // plain greedy, and with repeated n-grams blocked as the define task is scored (noRepeatNgram.define: 3)
  const samples: string[] = [];
  const blockedSamples: string[] = [];
  for (const prompt of samplePrompts) {
    const ids = tokenizer.encode(prompt);
    for (const [list, blocked] of [
      [samples, 0],
      [blockedSamples, noRepeatNgram.define],
    ] as const) {
      const generated = await greedyDecode(engine, ids, 40, eosId, config.maxPositionEmbeddings, {
        noRepeatNgram: blocked,
      });
      list.push(`${prompt}${tokenizer.decode(generated)}`);
    }
  }
  const copy = await copyProbe(engine, {
    ...copyProbeDefaults,
    ...ordinaryTokenRange(tokenizer),
    bosId: tokenizer.bosId,
  });
  engine.dispose();

  const log = existsSync(logFile)
    ? readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, number>)
    : [];
  const evals = log.filter((r) => r.validLoss !== undefined);
  const curve = evals
    .filter((_, i) => i % Math.max(1, Math.floor(evals.length / 10)) === 0 || i === evals.length - 1)
    .map((r) => {
      const window = log.filter((x) => x.step > r.step - 20 && x.step <= r.step);
      const train = window.reduce((s, x) => s + x.loss, 0) / window.length;
      return `| ${r.step} | ${r.epoch.toFixed(2)} | ${Number(r.lr.toPrecision(2))} | ${train.toFixed(3)} | ${r.validLoss.toFixed(3)} |`;
    });
  const params = checkpoint.params.length;
  const card = `---
license: mit
language: en
library_name: transformers
pipeline_tag: text-generation
---
# prufed-tiny

PruFed's own base model: a ${config.numHiddenLayers}-layer LLaMA-architecture decoder (${(params / 1e6).toFixed(2)} M
parameters) pretrained from scratch on WordNet glosses, so that the pruned tiers a/b/c hold
${config.numHiddenLayers}/${(3 * config.numHiddenLayers) / 4}/${config.numHiddenLayers / 2} layers. It is small enough to pretrain on a laptop CPU and to fine-tune in a browser.

| | |
|---|---|
| layers / hidden / ffn | ${config.numHiddenLayers} / ${config.hiddenSize} / ${config.intermediateSize} |
| attention | ${config.numAttentionHeads} heads, ${config.numKeyValueHeads} key-value heads (grouped-query), head size ${config.headDim}, RoPE theta ${config.ropeTheta} |
| vocabulary | ${config.vocabSize}: byte-level BPE trained by \`npm run tokenizer\` (256 bytes, learned merges, <\\|bos\\|> <\\|eos\\|> <\\|pad\\|>) |
| embeddings | tied; context ${config.maxPositionEmbeddings} positions (trained on ${T}) |
| weights | model.safetensors, F16 |

## Data
\`public/datasets/wordnet/corpus.txt\` (WordNet 3.0 glosses and examples, one synset per line, excluding the
test answers of the fine-tuning tasks), packed as \`<|bos|> line <|eos|>\` into rows of ${T} tokens, lines shuffled
each epoch.${options.repeatLines ? ` A seeded ${options.repeatLines} of the lines are packed twice in a row (\`--repeat-lines\`), so that copying from the context pays off.` : ''}${copyRowsText(state)} Held-out text: \`public/datasets/wordnet/corpus-valid.txt\`.

## Training
${commandsText(state)}
All parameters trained (\`trainBase: true\`) with the project's own engines (\`--engine auto\`: the WebGPU engine in Node
where Dawn finds an adapter and it computes a gradient faster than the CPU engine, else the CPU engine, data-parallel
over worker threads; each sitting's is listed with its hardware).
${state.step} steps of ${options.batch} x ${T} tokens (${state.tokensSeen.toLocaleString('en')} tokens, ${(state.epoch + state.row / state.rowsPerEpoch).toFixed(2)} epoch), AdamW
(beta 0.9/0.95, weight decay ${options.weightDecay} on matrices), gradient clipping 1.0, peak learning rate ${options.lr}
with ${options.warmupSteps} warm-up steps and cosine decay to ${Number((options.minLrRatio * options.lr).toPrecision(3))}, seed ${options.seed}.

Hardware: ${hardwareText(state)}. Wall time: ${(state.wallSeconds / 60).toFixed(1)} minutes.

Resuming with \`--total-steps N\` rescales the cosine decay to the new length, so where a run was lengthened or
shortened the rate jumps: the rate column is the one each step used (\`.prufed/pretrain/log.jsonl\` has every step).

| step | epoch | learning rate | train loss (last 20 steps) | validation loss (first 32 rows) |
|---|---|---|---|---|
${curve.join('\n')}

## Evaluation
On all of corpus-valid.txt with the shipped F16 weights (${tokens.toLocaleString('en')} target tokens):
validation loss **${validLoss.toFixed(3)}** nats/token (perplexity ${Math.exp(validLoss).toFixed(1)}) against the unigram entropy of the
same tokens, ${entropy.toFixed(3)} nats/token: ratio ${(validLoss / entropy).toFixed(3)}.
Reproduce: \`npx prufed eval --model public/models/prufed-tiny --corpus public/datasets/wordnet/corpus-valid.txt\`.

In-context copying (\`npm run eval:copy\`: ${copyProbeDefaults.count} runs of ${copyProbeDefaults.length} random ordinary tokens, each shown
twice): greedy accuracy on the second showing ${(100 * copy.accuracy).toFixed(1)}% (chance ${(100 * copy.chance).toFixed(2)}%), loss
${copy.loss.toFixed(2)} nats/token. The antonym task needs it: most antonyms rewrite the prompt's word with a prefix (\`excited\`, \` unexcited\`).

## Greedy samples
${sampleList(samples)}

With repeated trigrams blocked (\`prufed eval --block-repeats 3\`, as \`define\` is scored):
${sampleList(blockedSamples)}
`;
  writeFileSync(join(dir, 'README.md'), card);
  console.log(
    `exported ${dir}: validation loss ${validLoss.toFixed(3)}, unigram entropy ${entropy.toFixed(3)} ` +
      `(ratio ${(validLoss / entropy).toFixed(3)})\n${[...samples, ...blockedSamples].join('\n')}`,
  );
}

function sampleList(samples: string[]): string {
  return samples.map((s) => `- \`${s.replaceAll('`', "'")}\``).join('\n');
}

/** What the copy rows were, for the data paragraph: one share, or each sitting's (table in Training). */
function copyRowsText({ options, sittings }: PretrainState): string {
  const what =
    '(`--copy-rows`: runs of 8-24 random ordinary tokens, each shown twice, the second showing the target), which teach in-context copying.';
  if (sittings !== undefined && sittings.length > 1) {
    return ` In each sitting a seeded share of the rows, set by its \`--copy-rows\` (commands below), are synthetic copy rows instead ${what}`;
  }
  return options.copyRows
    ? ` A seeded ${options.copyRows} of the rows are synthetic copy rows instead ${what}`
    : '';
}

/** The command that trained the checkpoint, or one per sitting where the run's flags changed between sittings. */
function commandsText(state: PretrainState): string {
  const tail =
    '(each resumes from `.prufed/pretrain/checkpoint.safetensors`; `--fresh` starts over; `npm run pretrain -- --export` rewrites this directory from the checkpoint)';
  const sittings = state.sittings ?? [];
  if (sittings.length <= 1) {
    return `Command: \`npm run tokenizer && npm run pretrain${pretrainArgs(state.options)}\` ${tail}.`;
  }
  const rows = sittings.map(
    (s) =>
      `| ${s.fromStep}-${s.toStep} | \`npm run pretrain${s.flags ? ` -- ${s.flags}` : ''}\` | ${sittingHardware(s, state)} |`,
  );
  return `Commands, after \`npm run tokenizer\`, one per sitting in this order ${tail}:

| steps | command | engine and hardware |
|---|---|---|
${rows.join('\n')}
`;
}

/** A sitting's engine and hardware; sittings recorded before engines were chosen ran the CPU engine on the run's first hardware. */
function sittingHardware(sitting: PretrainSitting, state: PretrainState): string {
  return sitting.hardware ?? `CPU engine: ${state.hardware}`;
}

/** Every engine and hardware the sittings ran on. */
function hardwareText(state: PretrainState): string {
  const sittings = state.sittings ?? [];
  return sittings.length === 0
    ? state.hardware
    : [...new Set(sittings.map((s) => sittingHardware(s, state)))].join('; ');
}

/** The options of a run that differ from scripts/pretrain.ts's defaults, as command-line flags. */
function pretrainArgs(options: PretrainOptions): string {
  const flags = [
    options.epochs !== 1 ? `--epochs ${options.epochs}` : '',
    options.copyRows ? `--copy-rows ${options.copyRows}` : '',
    options.repeatLines ? `--repeat-lines ${options.repeatLines}` : '',
  ].filter(Boolean);
  return flags.length > 0 ? ` -- --fresh ${flags.join(' ')}` : '';
}
