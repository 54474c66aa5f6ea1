// Pretraining checkpoints: weights, AdamW moments and the training state (step, data position, RNG
// seed, options, wall time) in one safetensors file, written atomically (temp file + rename) so an
// interruption mid-write leaves the previous checkpoint intact.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  FormatError,
  type LlamaConfig,
  parseSafetensorsHeader,
  readSafetensors,
  writeSafetensors,
} from '@prufed/model';

export interface PretrainOptions {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  seqLen: number;
  batch: number;
  epochs: number;
  lr: number;
  minLrRatio: number;
  warmupSteps: number;
  weightDecay: number;
  seed: number;
  /**
   * Share of the corpus lines packed twice in a row (`<|bos|> line <|eos|> <|bos|> line <|eos|>`, the
   * same seeded subset every epoch), so that copying from the context pays off; absent: 0.
   */
  repeatLines?: number;
  /**
   * Share of each batch's rows replaced by synthetic copy rows (random distinct ordinary tokens, each
   * run shown twice; only the second showings are targets), which teach in-context copying; absent: 0.
   */
  copyRows?: number;
}

/** One sitting of a run: the steps it trained, its command-line flags (paths left out) and hardware. */
export interface PretrainSitting {
  fromStep: number;
  toStep: number;
  flags: string;
  /** The engine and what it ran on (absent in sittings recorded before engines were chosen). */
  hardware?: string;
}

/** A sitting's flags as typed, without the file and folder paths (they differ between machines). */
export function sittingFlags(argv: readonly string[]): string {
  const pathFlags = new Set(['--out', '--model-out', '--tokenizer', '--corpus', '--valid']);
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [name] = argv[i].split('=');
    if (pathFlags.has(name)) {
      if (!argv[i].includes('=')) i++;
      continue;
    }
    kept.push(argv[i]);
  }
  return kept.join(' ');
}

export interface PretrainState {
  format: 'prufed-pretrain-checkpoint';
  version: 1;
  options: PretrainOptions;
  config: LlamaConfig;
  /** Optimizer steps done; the next batch starts at global row step * batch. */
  step: number;
  totalSteps: number;
  /** Data position of the next batch: epoch and row within it (epoch e shuffles lines with seed fork `epoch-e`). */
  epoch: number;
  row: number;
  rowsPerEpoch: number;
  tokensSeen: number;
  /** Seconds spent training, summed over runs. */
  wallSeconds: number;
  hardware: string;
  /** The sittings so far, oldest first (absent in checkpoints from before they were recorded). */
  sittings?: PretrainSitting[];
}

export interface Checkpoint {
  state: PretrainState;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export function saveCheckpoint(file: string, { state, params, m, v }: Checkpoint): void {
  const tensor = (data: Float32Array) => ({ shape: [data.length], data });
  const bytes = writeSafetensors(
    new Map([
      ['params', tensor(params)],
      ['adamw.m', tensor(m)],
      ['adamw.v', tensor(v)],
    ]),
    { metadata: { state: JSON.stringify(state) } },
  );
  writeFileSync(`${file}.tmp`, bytes);
  renameSync(`${file}.tmp`, file);
}

export function loadCheckpoint(file: string): Checkpoint {
  const bytes = new Uint8Array(readFileSync(file));
  const tensors = readSafetensors(bytes);
  const { metadata } = parseSafetensorsHeader(bytes);
  const state = JSON.parse(metadata.state ?? 'null') as PretrainState | null;
  const get = (name: string) => tensors.get(name)?.data as Float32Array | undefined;
  const [params, m, v] = [get('params'), get('adamw.m'), get('adamw.v')];
  if (state?.format !== 'prufed-pretrain-checkpoint' || !params || !m || !v) {
    throw new FormatError(`${file} is not a PruFed pretraining checkpoint; delete it or run with --fresh`);
  }
  return { state, params, m, v };
}
