// Reading and writing a Hugging Face LLaMA checkpoint directory on disk (Node only): config.json,
// model.safetensors (or shards listed in model.safetensors.index.json) and an optional tokenizer.json.
// Reading goes tensor by tensor through file byte ranges, so a pruned variant reads only its layers.
import { type FileHandle, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type LlamaConfig, llamaConfigToHf, parseLlamaConfig } from '../config';
import { FormatError, InputError } from '../errors';
import { safetensorsDataLength, writeSafetensors } from '../safetensors';
import { type FetchRange, openSafetensorsByRange } from '../safetensors-range';
import type { Tensor } from '../tensor';
import type { LlamaWeights } from '../weights';
import { llamaWeightsFromMap, loadLlamaWeights } from '../weights-load';

const dirContents =
  'a model directory must contain config.json and model.safetensors (or model.safetensors.index.json with ' +
  'its shards), and may contain tokenizer.json';

export interface ModelDir {
  config: LlamaConfig;
  weights: LlamaWeights;
  /** The parsed tokenizer.json, or undefined when the directory has none. */
  tokenizerJson: unknown | undefined;
  /** Absolute path of the directory. */
  dir: string;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The parsed JSON file, or undefined when it does not exist. */
async function readJsonIfPresent(file: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError(`${file} is not valid JSON (${(error as Error).message})`);
  }
}

function fileFetchRange(handle: FileHandle): FetchRange {
  return async (start, end) => {
    const buffer = new Uint8Array(end - start);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
      if (bytesRead === 0) break; // end of file: the caller reports the short read
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  };
}

/** Opens the single file or the shards, returning a tensor getter and the handles to close. */
async function openWeightFiles(
  dir: string,
): Promise<{ getTensor: (name: string) => Promise<Tensor>; handles: FileHandle[] }> {
  const handles: FileHandle[] = [];
  const openFile = async (file: string) => {
    const handle = await open(path.join(dir, file), 'r');
    handles.push(handle);
    const reader = await openSafetensorsByRange(fileFetchRange(handle));
    const expected = safetensorsDataLength(reader.header);
    const found = (await handle.stat()).size - reader.header.dataStart;
    if (found !== expected) {
      throw new FormatError(
        `${file} is truncated or corrupt: expected ${expected} bytes of data, found ${found}; copy it again`,
      );
    }
    return reader;
  };
  try {
    const single = await openFile('model.safetensors');
    return { getTensor: single.readTensor, handles };
  } catch (error) {
    if (!isMissing(error)) {
      await Promise.all(handles.map((h) => h.close()));
      throw error;
    }
  }
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  const index = await readJsonIfPresent(indexFile);
  if (index === undefined) throw new InputError(`${dir} has no model.safetensors; ${dirContents}`);
  const weightMap = (index as { weight_map?: Record<string, unknown> } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null) {
    throw new FormatError(`${indexFile} has no "weight_map" object mapping tensor names to shard files`);
  }
  const shards = new Map<string, ReturnType<typeof openFile>>();
  const getTensor = async (name: string) => {
    const file = weightMap[name];
    if (typeof file !== 'string') throw new FormatError(`${indexFile} lists no shard for tensor "${name}"`);
    if (!shards.has(file)) shards.set(file, openFile(file));
    try {
      return (await shards.get(file)!).readTensor(name);
    } catch (error) {
      if (isMissing(error)) throw new InputError(`${dir} lacks ${file}, a shard listed in ${indexFile}`);
      throw error;
    }
  };
  return { getTensor, handles };
}

/** Reads config.json, the weights of keptLayers (default: all layers) and tokenizer.json if present. */
export async function readModelDir(dir: string, keptLayers?: number[]): Promise<ModelDir> {
  const absolute = path.resolve(dir);
  const configJson = await readJsonIfPresent(path.join(absolute, 'config.json'));
  if (configJson === undefined) throw new InputError(`${absolute} has no config.json; ${dirContents}`);
  const config = parseLlamaConfig(configJson);
  const layers = keptLayers ?? Array.from({ length: config.numHiddenLayers }, (_, i) => i);
  const { getTensor, handles } = await openWeightFiles(absolute);
  try {
    const weights = await loadLlamaWeights(config, getTensor, layers);
    const tokenizerJson = await readJsonIfPresent(path.join(absolute, 'tokenizer.json'));
    return { config, weights, tokenizerJson, dir: absolute };
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}

export interface WriteModelDirOptions {
  /** Storage type of model.safetensors; default F32. */
  dtype?: 'F32' | 'F16';
  tokenizerJson?: unknown;
}

/** Writes a complete model (every layer) as an HF checkpoint directory loadable by transformers. */
export async function writeModelDir(
  dir: string,
  config: LlamaConfig,
  weights: LlamaWeights,
  options: WriteModelDirOptions = {},
): Promise<void> {
  const allLayers = Array.from({ length: config.numHiddenLayers }, (_, i) => i);
  if (weights.layers.join() !== allLayers.join()) {
    throw new InputError(
      `the weights hold layers [${weights.layers}] but config.json needs all ${config.numHiddenLayers}; ` +
        'a model directory stores a complete model, so pass the full weights or a config that matches them',
    );
  }
  const { tensors } = llamaWeightsFromMap(config, weights.tensors, allLayers);
  const dtype = options.dtype ?? 'F32';
  await mkdir(dir, { recursive: true });
  const hf = llamaConfigToHf(config, dtype === 'F32' ? 'float32' : 'float16');
  await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(hf, null, 2)}\n`);
  // transformers reads the metadata's format field and refuses a file unless it names a known framework.
  await writeFile(
    path.join(dir, 'model.safetensors'),
    writeSafetensors(tensors, { dtype, metadata: { format: 'pt' } }),
  );
  if (options.tokenizerJson !== undefined) {
    await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(options.tokenizerJson));
  }
}
