// An update's PEFT safetensors bytes read in place, the server's hot path: the header is parsed once
// and checked against the layout the client must send (its kept layers x the global's target modules,
// with the global's shapes) before a single value is read; then each F32 tensor becomes a Float32Array
// VIEW on the received bytes (the data section is copied once only when it is not 4-byte aligned; F16
// and BF16 are decoded). The adapter returned aliases `bytes`: use it before the bytes are reused.
// Dimension letters: R LoRA rank; in / out are a projection's input / output features.
import {
  decodeTensor,
  FormatError,
  InputError,
  type LoraAdapter,
  type LoraModule,
  type LoraPair,
  loraKey,
  numel,
  parsePeftTensorName,
  parseSafetensorsHeader,
  peftTensorName,
  type SafetensorsTensorInfo,
  safetensorsDataLength,
  type Tensor,
} from '@prufed/model';
import type { AdapterIssueCode } from './adapter-check';

export type PeftUpdateRead =
  | { ok: true; adapter: LoraAdapter }
  | { ok: false; code: AdapterIssueCode | 'malformed'; reason: string };

const peftNameTemplate = 'base_model.model.model.layers.{i}.{self_attn|mlp}.{module}.lora_{A|B}.weight';

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
  const malformed = (reason: string): PeftUpdateRead => ({
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

  // Layout, from the header alone.
  const { targetModules } = global.config;
  const wanted = new Set(layers);
  const extra = new Set<number>();
  const entries = new Map<string, { info: SafetensorsTensorInfo; reference: Tensor }>();
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
    entries.set(name, { info, reference });
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

  // Values: views on the received bytes.
  let data = bytes.subarray(header.dataStart);
  if (data.byteOffset % 4 !== 0) data = new Uint8Array(data); // one aligned copy of the data section
  const tensorOf = (layer: number, module: LoraModule, factor: 'A' | 'B'): Tensor | null => {
    const entry = entries.get(peftTensorName(layer, module, factor));
    if (!entry) return null;
    const { info, reference } = entry;
    const raw = data.subarray(info.begin, info.end);
    const shape = [...reference.shape];
    if (info.dtype === 'F32' && raw.byteOffset % 4 === 0) {
      return { shape, data: new Float32Array(raw.buffer, raw.byteOffset, numel(shape)) };
    }
    return decodeTensor(info, raw);
  };
  const weights = new Map<string, LoraPair>();
  for (const layer of layers) {
    for (const module of targetModules) {
      const A = tensorOf(layer, module, 'A');
      const B = tensorOf(layer, module, 'B');
      if (!A || !B) {
        return {
          ok: false,
          code: 'wrong-modules',
          reason: `tensor "${peftTensorName(layer, module, A ? 'B' : 'A')}" is missing; every kept layer needs A and B of every target module`,
        };
      }
      weights.set(loraKey(layer, module), { A, B });
    }
  }
  return { ok: true, adapter: { config: global.config, layers: [...layers], weights } };
}
