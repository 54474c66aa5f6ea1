// `prufed finetune`: trains a fresh LoRA adapter on a WordNet task's train split (frozen base model,
// optionally pruned to the kept layers) for a fixed number of AdamW steps over a seeded shuffle of the
// records, and writes it in PEFT's format (adapter_model.safetensors + adapter_config.json).
// Dimension letters: B batch, T tokens, R LoRA rank.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  adapterToPeft,
  encodeRecord,
  InputError,
  type InstructionExample,
  initLoraAdapter,
  instructionTokenizer,
  type LoraModule,
  loadTokenizer,
  loraModules,
  TASKS,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { parseCount, parseCountList, parseNameList, parsePositive } from './args';
import { createEngine, engineNames } from './engines';
import { readTaskRecords, trainLoraSteps } from './task-run';

export interface FinetuneOptions {
  model: string;
  task: string;
  data: string;
  /** Directory that receives adapter_model.safetensors and adapter_config.json. */
  out: string;
  /** Kept original layer indices; default all. */
  keep?: number[];
  steps: number;
  batchSize: number; // B
  lr: number;
  rank: number; // R
  alpha: number;
  targets: LoraModule[];
  /** Most tokens per example (prompt + response + eos): longer examples are cut at the end. */
  seqLen: number; // T at most
  /** Use only the first n train records. */
  limit?: number;
  seed: number;
  engine: string;
}

export interface FinetuneResult {
  adapter: string;
  model: string;
  task: string;
  keptLayers: number[];
  trainRecords: number;
  steps: number;
  batchSize: number;
  /** Training loss of every step (nats/token over the response tokens). */
  losses: number[];
  /** Mean loss of the first and the last tenth of the steps (at least one step each). */
  firstLoss: number;
  lastLoss: number;
  seconds: number;
  tokensPerSecond: number;
}

/** Mean of the first and of the last max(1, n/10) values. */
function endMeans(values: number[]): [number, number] {
  const n = Math.max(1, Math.floor(values.length / 10));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return [mean(values.slice(0, n)), mean(values.slice(-n))];
}

export async function finetune(options: FinetuneOptions): Promise<FinetuneResult> {
  for (const [name, value] of [
    ['--steps', options.steps],
    ['--batch-size', options.batchSize],
    ['--rank', options.rank],
  ] as const) {
    if (value < 1) throw new InputError(`${name} must be at least 1, got ${value}`);
  }
  const records = await readTaskRecords(options.data, options.task, 'train', options.limit);
  const { config, weights, tokenizerJson } = await readModelDir(options.model, options.keep);
  if (tokenizerJson === undefined) {
    throw new InputError(
      `${options.model} has no tokenizer.json, which fine-tuning needs to tokenise the task`,
    );
  }
  const instruction = instructionTokenizer(loadTokenizer(tokenizerJson), options.model);
  const maxLength = Math.min(options.seqLen, config.maxPositionEmbeddings);
  const examples: InstructionExample[] = records.map((record) =>
    encodeRecord(instruction, record, maxLength),
  );

  const lora = { r: options.rank, alpha: options.alpha, targetModules: options.targets };
  const engine = await createEngine(options.engine);
  const bar = new SingleBar({
    format: `finetune ${options.task} {bar} {value}/{total} steps | loss {loss} | {tps} tok/s | ETA {eta_formatted}`,
  });
  try {
    await engine.loadVariant(weights, { keptLayers: weights.layers });
    await engine.setAdapter(initLoraAdapter(config, lora, weights.layers, options.seed));
    const started = performance.now();
    bar.start(options.steps, 0, { loss: '-', tps: '-' });
    const { losses, tokens } = await trainLoraSteps(
      engine,
      examples,
      instruction.padId,
      { steps: options.steps, batchSize: options.batchSize, lr: options.lr, seed: options.seed },
      (step, loss, tokensSoFar) => {
        const seconds = (performance.now() - started) / 1000;
        bar.update(step + 1, { loss: loss.toFixed(3), tps: (tokensSoFar / seconds).toFixed(0) });
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const { safetensors, config: peftConfig } = adapterToPeft(await engine.readAdapter(), {
      baseModel: options.model,
    });
    await mkdir(options.out, { recursive: true });
    const adapter = path.join(options.out, 'adapter_model.safetensors');
    await writeFile(adapter, safetensors);
    await writeFile(
      path.join(options.out, 'adapter_config.json'),
      `${JSON.stringify(peftConfig, null, 2)}\n`,
    );
    const [firstLoss, lastLoss] = endMeans(losses);
    return {
      adapter,
      model: options.model,
      task: options.task,
      keptLayers: weights.layers,
      trainRecords: records.length,
      steps: options.steps,
      batchSize: options.batchSize,
      losses,
      firstLoss,
      lastLoss,
      seconds,
      tokensPerSecond: tokens / seconds,
    };
  } finally {
    bar.stop();
    engine.dispose();
  }
}

export function finetuneCommand(): Command {
  return new Command('finetune')
    .description(
      "train a fresh LoRA adapter on a WordNet task's train split and write it in PEFT's format; prints JSON " +
        '(loss of every step, first and last tenth, wall time)',
    )
    .requiredOption('--model <dir>', 'Hugging Face LLaMA checkpoint directory with tokenizer.json')
    .addOption(new Option('--task <name>', 'WordNet task').choices([...TASKS]).makeOptionMandatory())
    .requiredOption('--out <dir>', 'directory for adapter_model.safetensors and adapter_config.json')
    .option('--data <dir>', 'dataset directory', 'public/datasets/wordnet')
    .option(
      '--keep <layers>',
      'original indices of the kept layers, e.g. 0,1,2 (default: all)',
      parseCountList,
    )
    .option('--steps <n>', 'AdamW steps', parseCount, 150)
    .option('--batch-size <b>', 'examples per step', parseCount, 8)
    .option('--lr <x>', 'learning rate (constant)', parsePositive, 2e-3)
    .option('--rank <r>', 'LoRA rank', parseCount, 8)
    .option('--alpha <x>', 'LoRA alpha (scale alpha / r)', parsePositive, 16)
    .option(
      '--targets <modules>',
      `adapted projections, comma-separated from ${loraModules.join(',')}`,
      (value: string) => parseNameList(value, loraModules),
      [...loraModules],
    )
    .option('--seq-len <t>', 'most tokens per example; longer ones are cut', parseCount, 96)
    .option('--limit <n>', 'train on the first n records only', parseCount)
    .option('--seed <n>', 'seed of the adapter initialisation and the record order', parseCount, 0)
    .addOption(new Option('--engine <name>', 'training engine').choices(engineNames).default('cpu'))
    .action(async (options: FinetuneOptions) => {
      process.stdout.write(`${JSON.stringify(await finetune(options), null, 2)}\n`);
    });
}
