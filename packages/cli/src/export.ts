// `prufed export`: export a pruned variant of a checkpoint, with an optional PEFT adapter merged
// into its projections, as an ONNX model (input_ids int64 (batch, sequence) -> logits float32) that
// onnxruntime-web and onnxruntime-node run; prints a JSON summary of the written file.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readModelDir } from '@prufed/model/node';
import { assertOnnxStructure, buildOnnxModel, encodeModel, type Opset, supportedOpsets } from '@prufed/onnx';
import { Command, Option } from 'commander';
import { parseCount, parseCountList } from './args';
import { readPeftAdapter } from './files';

export interface ExportCommandOptions {
  model: string;
  adapter?: string;
  keep?: number[];
  out: string;
  opset: string;
  maxSeqLen?: number;
}

export interface ExportSummary {
  out: string;
  keptLayers: number[];
  adapter: string | null;
  opset: number;
  nodes: number;
  initializers: number;
  bytes: number;
}

export async function exportModel(options: ExportCommandOptions): Promise<ExportSummary> {
  const { weights } = await readModelDir(options.model, options.keep);
  const adapter = options.adapter === undefined ? undefined : await readPeftAdapter(options.adapter);
  const opset = Number(options.opset) as Opset;
  const model = buildOnnxModel(weights, weights.layers, adapter, {
    opset,
    maxSequenceLength: options.maxSeqLen,
  });
  assertOnnxStructure(model);
  const bytes = encodeModel(model);
  await mkdir(path.dirname(path.resolve(options.out)), { recursive: true });
  await writeFile(options.out, bytes);
  return {
    out: options.out,
    keptLayers: weights.layers,
    adapter: options.adapter ?? null,
    opset,
    nodes: model.graph!.node!.length,
    initializers: model.graph!.initializer!.length,
    bytes: bytes.length,
  };
}

export function exportCommand(): Command {
  return new Command('export')
    .description(
      'export a (pruned, adapted) model to ONNX with the adapter merged: input_ids (batch, sequence) -> ' +
        'logits (batch, sequence, vocab); prints a JSON summary',
    )
    .requiredOption('--model <dir>', 'Hugging Face LLaMA checkpoint directory')
    .option('--adapter <file>', 'PEFT adapter_model.safetensors to merge (adapter_config.json beside it)')
    .option(
      '--keep <layers>',
      'original indices of the kept layers, e.g. 0,1,2 (default: all)',
      parseCountList,
    )
    .requiredOption('--out <file>', 'the .onnx file to write')
    .addOption(
      new Option('--opset <n>', 'ONNX opset')
        .choices(supportedOpsets.map(String))
        .default(String(supportedOpsets[0])),
    )
    .option(
      '--max-seq-len <t>',
      'longest sequence the model accepts (default: max_position_embeddings)',
      parseCount,
    )
    .action(async (options: ExportCommandOptions) => {
      process.stdout.write(`${JSON.stringify(await exportModel(options), null, 2)}\n`);
    });
}
