// `prufed lora-grad`: one forward/backward pass of a (pruned) model with a LoRA adapter on one
// batch; writes the LoRA gradients as a PEFT adapter (same tensor names as the adapter) and prints
// the loss. The reference for any other implementation's gradients (e.g. PyTorch + PEFT).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  adapterToPeft,
  initLoraAdapter,
  type LoraModule,
  type LossResult,
  loraModules,
  parseBatchJson,
  validateAdapterForModel,
} from '@prufed/model';
import { readModelDir } from '@prufed/model/node';
import { Command, Option } from 'commander';
import { parseCount, parseCountList, parseNameList, parsePositive } from './args';
import { createEngine, engineNames } from './engines';
import { adapterConfigPath, readJsonFile, readPeftAdapter } from './files';

export interface LoraGradOptions {
  model: string;
  /** PEFT adapter_model.safetensors; undefined: a fresh adapter from seed, rank, alpha, targets. */
  adapter?: string;
  batch: string;
  out: string;
  /** Kept original layer indices; undefined: all layers. */
  keep?: number[];
  engine: string;
  seed: number;
  rank: number;
  alpha: number;
  targets: LoraModule[];
}

export async function loraGrad(options: LoraGradOptions): Promise<LossResult> {
  const { config, weights } = await readModelDir(options.model, options.keep);
  const batch = parseBatchJson(await readJsonFile(options.batch, 'batch'), config.vocabSize);
  const adapter =
    options.adapter === undefined
      ? initLoraAdapter(
          config,
          { r: options.rank, alpha: options.alpha, targetModules: options.targets },
          weights.layers,
          options.seed,
        )
      : await readPeftAdapter(options.adapter);
  validateAdapterForModel(adapter, config, weights.layers);

  const engine = await createEngine(options.engine);
  try {
    await engine.loadVariant(weights, { keptLayers: weights.layers });
    await engine.setAdapter(adapter);
    const result = await engine.computeGradients(batch);
    const peft = adapterToPeft(await engine.readAdapterGradients());
    await mkdir(path.dirname(options.out), { recursive: true });
    await writeFile(options.out, peft.safetensors);
    await writeFile(adapterConfigPath(options.out), `${JSON.stringify(peft.config, null, 2)}\n`);
    return result;
  } finally {
    engine.dispose();
  }
}

export function loraGradCommand(): Command {
  return new Command('lora-grad')
    .description('one forward/backward pass on a batch; writes the LoRA gradients as a PEFT adapter')
    .requiredOption('--model <dir>', 'Hugging Face LLaMA checkpoint directory')
    .option(
      '--adapter <file>',
      'PEFT adapter_model.safetensors with adapter_config.json beside it (default: a fresh adapter)',
    )
    .requiredOption('--batch <file>', 'batch JSON: {"input_ids": [[...]], "labels": [[...]]}')
    .requiredOption(
      '--out <file>',
      'gradients file (safetensors, PEFT names); adapter_config.json goes beside it',
    )
    .option('--keep <layers>', 'kept original layer indices, e.g. 0,1,2 (default: all)', parseCountList)
    .option('--engine <name>', `training engine: ${engineNames.join(', ')}`, 'cpu')
    .option('--seed <n>', 'seed of a fresh adapter', parseCount, 0)
    .option('--rank <r>', 'LoRA rank of a fresh adapter', parseCount, 8)
    .option('--alpha <a>', 'LoRA alpha of a fresh adapter', parsePositive, 16)
    .addOption(
      new Option('--targets <modules>', 'comma-separated target modules of a fresh adapter')
        .argParser((value: string) => parseNameList(value, loraModules))
        .default([...loraModules], loraModules.join(',')),
    )
    .action(async (options: LoraGradOptions) => {
      const { loss, tokens } = await loraGrad(options);
      process.stdout.write(`${JSON.stringify({ loss, tokens })}\n`);
    });
}
