// An update's PEFT safetensors bytes read in place, the server's hot path: the header is parsed once
// and checked against the layout the client must send (its kept layers x the global's target modules,
// with the global's shapes) before a single value is read; then each F32 tensor becomes a Float32Array
// VIEW on the received bytes (the data section is copied once only when it is not 4-byte aligned; F16
// and BF16 are decoded). The adapter returned aliases `bytes`: use it before the bytes are reused.
// A header this global has accepted before is not parsed again (a per-global cache of layouts).
// Dimension letters: R LoRA rank; in / out are a projection's input / output features.
import {
  decodeTensor,
  FormatError,
  InputError,
  type LoraAdapter,
  type LoraPair,
  loraKey,
  numel,
  parsePeftTensorName,
  parseSafetensorsHeader,
  peftTensorName,
  type SafetensorsTensorInfo,
  safetensorsDataLength,
  safetensorsHeaderLength,
  type Tensor,
} from '@prufed/model';
import type { AdapterIssueCode } from './adapter-check';

export type PeftUpdateRead =
  | { ok: true; adapter: LoraAdapter }
  | { ok: false; code: AdapterIssueCode | 'malformed'; reason: string };

const peftNameTemplate = 'base_model.model.model.layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}.weight';

/** Where each tensor of an accepted layout lies in the data section, in (layer, module) order. */
interface UpdateLayout {
  dataStart: number;
  dataLength: number;
  pairs: { key: string; A: TensorSlot; B: TensorSlot }[];
}

interface TensorSlot {
  info: SafetensorsTensorInfo;
  shape: number[];
}

type LayoutRead = { ok: true; layout: UpdateLayout } | Extract<PeftUpdateRead, { ok: false }>;

/**
 * Accepted layouts by global adapter and (kept layers, header text): the clients of a tier send the
 * same header every round, so each distinct header is parsed and checked once per global. At most
 * `layoutCacheSize` per global (oldest dropped), so odd headers cannot grow memory.
 */
const layoutCache = new WeakMap<LoraAdapter, Map<string, UpdateLayout>>();
const layoutCacheSize = 16;
const headerDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The update as a LoraAdapter of `global`'s config over exactly `layers`, whose tensors view `bytes`;
 * or the first thing wrong with its layout ('malformed' when the bytes are not PEFT safetensors).
 * `global` must hold every layer in `layers` (an InputError otherwise: the caller passed the wrong one).
 */
export function readPeftUpdate(
  bytes: Uint8Array,
  global: LoraAdapter,
  layers: readonly number[],
): PeftUpdateRead {
  const read = cachedLayout(bytes, global, layers);
  if (!read.ok) return read;
  const { layout } = read;
  // Values: views on the received bytes.
  let data = bytes.subarray(layout.dataStart);
  if (data.byteOffset % 4 !== 0) data = new Uint8Array(data); // one aligned copy of the data section
  const tensorOf = ({ info, shape }: TensorSlot): Tensor => {
    const raw = data.subarray(info.begin, info.end);
    if (info.dtype === 'F32' && raw.byteOffset % 4 === 0) {
      return { shape: [...shape], data: new Float32Array(raw.buffer, raw.byteOffset, numel(shape)) };
    }
    return decodeTensor(info, raw);
  };
  const weights = new Map<string, LoraPair>();
  for (const { key, A, B } of layout.pairs) weights.set(key, { A: tensorOf(A), B: tensorOf(B) });
  return { ok: true, adapter: { config: global.config, layers: [...layers], weights } };
}

/** The layout of the update's header, from the cache when this global has accepted the same header before. */
function cachedLayout(bytes: Uint8Array, global: LoraAdapter, layers: readonly number[]): LayoutRead {
  let headerText: string;
  try {
    const headerLength = safetensorsHeaderLength(bytes);
    headerText = headerDecoder.decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    return checkLayout(bytes, global, layers); // reports what is wrong
  }
  const cacheKey = `${layers.join(',')}\n${headerText}`;
  let cache = layoutCache.get(global);
  const hit = cache?.get(cacheKey);
  if (hit) {
    const found = bytes.byteLength - hit.dataStart;
    if (found === hit.dataLength) return { ok: true, layout: hit };
  }
  const read = checkLayout(bytes, global, layers);
  if (read.ok) {
    if (!cache) {
      cache = new Map();
      layoutCache.set(global, cache);
    }
    if (cache.size >= layoutCacheSize) cache.delete(cache.keys().next().value!);
    cache.set(cacheKey, read.layout);
  }
  return read;
}

/** Parses the header and checks it against the layout the client must send, before reading any value. */
function checkLayout(bytes: Uint8Array, global: LoraAdapter, layers: readonly number[]): LayoutRead {
  const malformed = (reason: string): LayoutRead => ({
    ok: false,
    code: 'malformed',
    reason: `adapter bytes are not a PEFT LoRA adapter: ${reason}`,
  });
  let header: ReturnType<typeof parseSafetensorsHeader>;
  try {
    header = parseSafetensorsHeader(bytes);
  } catch (error) {
    if (error instanceof FormatError) return malformed(error.message);
    throw error;
  }
  const found = bytes.byteLength - header.dataStart;
  const expected = safetensorsDataLength(header);
  if (found !== expected) {
    return malformed(`the header describes ${expected} bytes of tensor data, the payload carries ${found}`);
  }

  const { targetModules } = global.config;
  const wanted = new Set(layers);
  const extra = new Set<number>();
  const entries = new Map<string, TensorSlot>();
  for (const [name, info] of header.tensors) {
    const parsed = parsePeftTensorName(name);
    if (!parsed) return malformed(`tensor "${name}" is not named ${peftNameTemplate}`);
    const { layer, module, factor } = parsed;
    if (!targetModules.includes(module)) {
      return {
        ok: false,
        code: 'wrong-modules',
        reason: `tensor "${name}" adapts ${module}, which is not among the target modules [${targetModules}]`,
      };
    }
    if (!wanted.has(layer)) {
      extra.add(layer);
      continue;
    }
    const pair = global.weights.get(loraKey(layer, module));
    if (!pair) {
      throw new InputError(
        `the global adapter lacks ${loraKey(layer, module)}, a layer the client keeps; pass the global the client received`,
      );
    }
    const reference = pair[factor];
    if (info.shape.join() !== reference.shape.join()) {
      return {
        ok: false,
        code: 'wrong-shape',
        reason: `tensor "${name}" has shape [${info.shape}], expected [${reference.shape}] (A is (R, in), B is (out, R))`,
      };
    }
    entries.set(name, { info, shape: [...reference.shape] });
  }
  if (extra.size > 0) {
    return {
      ok: false,
      code: 'extra-layers',
      reason: `layers [${[...extra].sort((a, b) => a - b)}] are not among the expected [${layers}]`,
    };
  }
  const missingLayers = layers.filter(
    (layer) => !targetModules.some((module) => entries.has(peftTensorName(layer, module, 'A'))),
  );
  if (missingLayers.length > 0) {
    return { ok: false, code: 'missing-layers', reason: `layers [${missingLayers}] are missing` };
  }
  const pairs: UpdateLayout['pairs'] = [];
  for (const layer of layers) {
    for (const module of targetModules) {
      const A = entries.get(peftTensorName(layer, module, 'A'));
      const B = entries.get(peftTensorName(layer, module, 'B'));
      if (!A || !B) {
        return {
          ok: false,
          code: 'wrong-modules',
          reason: `tensor "${peftTensorName(layer, module, A ? 'B' : 'A')}" is missing; every kept layer needs A and B of every target module`,
        };
      }
      pairs.push({ key: loraKey(layer, module), A, B });
    }
  }
  return { ok: true, layout: { dataStart: header.dataStart, dataLength: expected, pairs } };
}
