// ONNX export of a pruned LLaMA variant: the graph computes exactly what the CPU reference engine
// (packages/model/src/cpu/model.ts) computes, with standard operators only (opset 17 or 18):
// embedding -> per kept layer: x += o_proj(attention(rope(q), rope(k), v)) on rmsnorm(x);
// x += down_proj(silu(gate_proj(.)) * up_proj(.)) on rmsnorm(x) -> final rmsnorm -> lm_head.
// A LoRA adapter is merged into the projections first. No KV cache: every call sees the whole
// sequence. Input `input_ids` int64 (B, T), output `logits` float32 (B, T, V), B and T dynamic.
// Dimension letters: B batch, T tokens, C hidden, NH heads, NKV kv-heads, HS head size, F ffn,
// V vocab, P positions in the RoPE tables.
import {
  checkLayerList,
  embedTokensName,
  finalNormName,
  InputError,
  inputNormName,
  type LlamaWeights,
  type LoraAdapter,
  type LoraModule,
  lmHeadName,
  postAttentionNormName,
  projectionName,
  ropeTables,
  type Tensor,
  validateAdapterForModel,
} from '@prufed/model';
import { DataType, encodeModel, GraphBuilder, irVersion, type ModelProto, valueInfo } from './graph';
import { mergeLoraIntoWeights } from './merge';

export const supportedOpsets = [17, 18] as const;
export type Opset = (typeof supportedOpsets)[number];

export interface ExportOptions {
  /** Default opset of the graph; default 17. */
  opset?: Opset;
  /** P, the longest sequence the model accepts (rows of the RoPE tables); default maxPositionEmbeddings. */
  maxSequenceLength?: number;
}

export const inputIdsName = 'input_ids';
export const logitsName = 'logits';

/** The float32 lowest value: HF's additive causal mask, finite so that no row can become NaN. */
const maskValue = -3.4028234663852886e38;

/** A tensor of the weights, with a shape check against what the config needs. */
function tensorOf(weights: LlamaWeights, name: string, shape: number[]): Tensor {
  const tensor = weights.tensors.get(name);
  if (tensor === undefined)
    throw new InputError(`the weights lack ${name}; load every tensor of the kept layers`);
  if (
    tensor.shape.join() !== shape.join() ||
    tensor.data.length !== tensor.shape.reduce((a, b) => a * b, 1)
  ) {
    throw new InputError(`${name} has shape [${tensor.shape}] but this config needs [${shape}]`);
  }
  return tensor;
}

/** W (OUT, IN) transposed to (IN, OUT), the right operand of MatMul. */
function transposed(W: Tensor): Float32Array {
  const [OUT, IN] = W.shape;
  const out = new Float32Array(IN * OUT); // (IN, OUT)
  for (let o = 0; o < OUT; o++) for (let i = 0; i < IN; i++) out[i * OUT + o] = W.data[o * IN + i];
  return out;
}

/** cos and sin tables (P, HS): the CPU engine's (P, HS/2) tables repeated over both halves, as in HF. */
function ropeFullTables(P: number, HS: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = HS / 2;
  const cosHalf = new Float32Array(P * half); // (P, HS/2)
  const sinHalf = new Float32Array(P * half); // (P, HS/2)
  ropeTables(cosHalf, sinHalf, P, HS, theta);
  const cos = new Float32Array(P * HS); // (P, HS)
  const sin = new Float32Array(P * HS); // (P, HS)
  for (let p = 0; p < P; p++) {
    for (const offset of [0, half]) {
      cos.set(cosHalf.subarray(p * half, (p + 1) * half), p * HS + offset);
      sin.set(sinHalf.subarray(p * half, (p + 1) * half), p * HS + offset);
    }
  }
  return { cos, sin };
}

/** Builds the ONNX model (a ModelProto ready to encode) of the variant keeping `keptLayers`. */
export function buildOnnxModel(
  weights: LlamaWeights,
  keptLayers: number[],
  adapter?: LoraAdapter,
  options: ExportOptions = {},
): ModelProto {
  const { config } = weights;
  const opset = options.opset ?? 17;
  if (!supportedOpsets.includes(opset)) {
    throw new InputError(`opset ${opset} is not supported; use one of ${supportedOpsets.join(', ')}`);
  }
  const P = options.maxSequenceLength ?? config.maxPositionEmbeddings;
  if (!Number.isSafeInteger(P) || P <= 0) {
    throw new InputError(`maxSequenceLength must be a positive integer, got ${P}`);
  }
  checkLayerList(config, keptLayers, 'kept layer');
  const missing = keptLayers.filter((layer) => !weights.layers.includes(layer));
  if (missing.length > 0) {
    throw new InputError(
      `the weights lack kept layer(s) ${missing.join(', ')}; load those layers' tensors too`,
    );
  }
  if (adapter !== undefined) validateAdapterForModel(adapter, config, keptLayers);
  const merged = adapter === undefined ? weights : mergeLoraIntoWeights(weights, adapter);
  const {
    hiddenSize: C,
    intermediateSize: F,
    numAttentionHeads: NH,
    numKeyValueHeads: NKV,
    headDim: HS,
    vocabSize: V,
  } = config;
  const g = new GraphBuilder();
  const i64 = (values: number[]) => g.int64([values.length], values);
  const scalarF = (name: string, value: number) => g.float(name, [], Float32Array.of(value));
  const eps = scalarF('rms_norm_eps', config.rmsNormEps);

  /** RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) * weight. */
  const rmsnorm = (x: string, weightName: string, prefix: string): string => {
    const weight = g.float(weightName, [C], tensorOf(merged, weightName, [C]).data);
    const square = g.node('Mul', [x, x], `${prefix}/square`);
    const meanSquare =
      opset >= 18
        ? g.node('ReduceMean', [square, i64([-1])], `${prefix}/mean_square`, { keepdims: 1 })
        : g.node('ReduceMean', [square], `${prefix}/mean_square`, { axes: [-1], keepdims: 1 });
    const rms = g.node(
      'Sqrt',
      [g.node('Add', [meanSquare, eps], `${prefix}/mean_square_eps`)],
      `${prefix}/rms`,
    );
    const normed = g.node('Mul', [x, g.node('Reciprocal', [rms], `${prefix}/rstd`)], `${prefix}/normed`);
    return g.node('Mul', [normed, weight], `${prefix}/out`);
  };

  /** x (B, T, IN) @ W^T: the projection `module` of `layer` (adapter already merged). */
  const project = (x: string, layer: number, module: LoraModule, IN: number, OUT: number): string => {
    const name = projectionName(layer, module);
    const weightT = g.float(`${name}.T`, [IN, OUT], transposed(tensorOf(merged, name, [OUT, IN])));
    return g.node('MatMul', [x, weightT], `layers.${layer}/${module}`);
  };

  // Inputs and what every layer shares: positions, causal mask, RoPE tables for 0..T-1.
  const inputIds = g.reserve(inputIdsName); // (B, T)
  const embed = g.float(embedTokensName, [V, C], tensorOf(merged, embedTokensName, [V, C]).data);
  let x = g.node('Gather', [embed, inputIds], 'embed', { axis: 0 }); // (B, T, C)
  const shape = g.node('Shape', [inputIds], 'input_shape'); // (2) = [B, T]
  const T = g.node('Gather', [shape, g.int64([], [1])], 'seq_len', { axis: 0 }); // ()
  const T1 = g.node('Slice', [shape, i64([1]), i64([2]), i64([0])], 'seq_len_1d'); // (1)
  const positions = g.node('Range', [g.int64([], [0]), T, g.int64([], [1])], 'positions'); // (T)
  const queryPos = g.node('Unsqueeze', [positions, i64([1])], 'query_positions'); // (T, 1)
  const keyPos = g.node('Unsqueeze', [positions, i64([0])], 'key_positions'); // (1, T)
  const future = g.node('Less', [queryPos, keyPos], 'future'); // (T, T) key after query
  const mask = g.node('Where', [future, scalarF('mask_value', maskValue), scalarF('zero', 0)], 'causal_mask'); // (T, T)
  const tables = ropeFullTables(P, HS, config.ropeTheta);
  const sliceRows = (table: string) => g.node('Slice', [table, i64([0]), T1, i64([0])], `${table}_t`); // (T, HS)
  const cos = sliceRows(g.float('rope_cos', [P, HS], tables.cos));
  const sin = sliceRows(g.float('rope_sin', [P, HS], tables.sin));
  const scale = scalarF('attention_scale', 1 / Math.sqrt(HS));
  const group = NH / NKV;

  /** (B, T, H*HS) -> (B, H, T, HS) */
  const splitHeads = (y: string, H: number) =>
    g.node('Transpose', [g.node('Reshape', [y, i64([0, 0, H, HS])], `${y}/heads`)], `${y}/bhts`, {
      perm: [0, 2, 1, 3],
    });
  /** x * cos + rotate_half(x) * sin on (B, H, T, HS), rotate_half(x) = concat(-x2, x1). */
  const rope = (y: string) => {
    const x1 = g.node('Slice', [y, i64([0]), i64([HS / 2]), i64([-1])], `${y}/x1`);
    const x2 = g.node('Slice', [y, i64([HS / 2]), i64([HS]), i64([-1])], `${y}/x2`);
    const rotated = g.node('Concat', [g.node('Neg', [x2], `${y}/neg_x2`), x1], `${y}/rotate_half`, {
      axis: -1,
    });
    return g.node(
      'Add',
      [g.node('Mul', [y, cos], `${y}/cos`), g.node('Mul', [rotated, sin], `${y}/sin`)],
      `${y}/rope`,
    );
  };
  /** (B, NKV, T, HS) -> (B, NH, T, HS): kv head j serves query heads j*group .. (j+1)*group-1. */
  const repeatKv = (y: string) => {
    if (group === 1) return y;
    const unsqueezed = g.node('Unsqueeze', [y, i64([2])], `${y}/unsqueeze`); // (B, NKV, 1, T, HS)
    const expanded = g.node('Expand', [unsqueezed, i64([1, 1, group, 1, 1])], `${y}/expand`); // (B, NKV, group, T, HS)
    return g.node('Reshape', [expanded, i64([0, NH, -1, HS])], `${y}/repeat_kv`);
  };

  for (const layer of keptLayers) {
    const p = `layers.${layer}`;
    // attention block
    const ln1 = rmsnorm(x, inputNormName(layer), `${p}/input_layernorm`); // (B, T, C)
    const q = rope(splitHeads(project(ln1, layer, 'q_proj', C, NH * HS), NH)); // (B, NH, T, HS)
    const k = rope(splitHeads(project(ln1, layer, 'k_proj', C, NKV * HS), NKV)); // (B, NKV, T, HS)
    const v = splitHeads(project(ln1, layer, 'v_proj', C, NKV * HS), NKV); // (B, NKV, T, HS)
    const kT = g.node('Transpose', [repeatKv(k)], `${p}/k_t`, { perm: [0, 1, 3, 2] }); // (B, NH, HS, T)
    const scores = g.node('Mul', [g.node('MatMul', [q, kT], `${p}/qk`), scale], `${p}/scores`); // (B, NH, T, T)
    const probs = g.node('Softmax', [g.node('Add', [scores, mask], `${p}/masked`)], `${p}/probs`, {
      axis: -1,
    });
    const att = g.node('MatMul', [probs, repeatKv(v)], `${p}/att`); // (B, NH, T, HS)
    const attT = g.node('Transpose', [att], `${p}/att_bthd`, { perm: [0, 2, 1, 3] }); // (B, T, NH, HS)
    const attOut = g.node('Reshape', [attT, i64([0, 0, NH * HS])], `${p}/att_out`); // (B, T, NH*HS)
    x = g.node('Add', [x, project(attOut, layer, 'o_proj', NH * HS, C)], `${p}/residual_mid`); // (B, T, C)
    // MLP block
    const ln2 = rmsnorm(x, postAttentionNormName(layer), `${p}/post_attention_layernorm`); // (B, T, C)
    const gate = project(ln2, layer, 'gate_proj', C, F); // (B, T, F)
    const silu = g.node('Mul', [gate, g.node('Sigmoid', [gate], `${p}/sigmoid`)], `${p}/silu`);
    const h = g.node('Mul', [silu, project(ln2, layer, 'up_proj', C, F)], `${p}/swiglu`); // (B, T, F)
    x = g.node('Add', [x, project(h, layer, 'down_proj', F, C)], `${p}/residual_out`); // (B, T, C)
  }

  const lnf = rmsnorm(x, finalNormName, 'norm'); // (B, T, C)
  const lmHeadT = config.tieWordEmbeddings
    ? g.node('Transpose', [embed], 'lm_head_t', { perm: [1, 0] })
    : g.float(`${lmHeadName}.T`, [C, V], transposed(tensorOf(merged, lmHeadName, [V, C])));
  g.namedNode('MatMul', [lnf, lmHeadT], logitsName); // (B, T, V)

  return {
    irVersion,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'prufed',
    producerVersion: '0.1.0',
    docString:
      `LLaMA variant keeping layers [${keptLayers.join(', ')}] of ${config.numHiddenLayers}` +
      (adapter === undefined ? '' : `, LoRA r=${adapter.config.r} alpha=${adapter.config.alpha} merged`),
    metadataProps: [
      { key: 'kept_layers', value: JSON.stringify(keptLayers) },
      { key: 'lora_merged', value: String(adapter !== undefined) },
      { key: 'max_sequence_length', value: String(P) },
    ],
    graph: {
      name: 'prufed_llama',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(inputIdsName, DataType.INT64, ['batch', 'sequence'])],
      output: [valueInfo(logitsName, DataType.FLOAT, ['batch', 'sequence', V])],
    },
  };
}

/**
 * The .onnx bytes of the variant keeping `keptLayers` (original indices, ascending) with `adapter`
 * merged into its projections (see buildOnnxModel).
 */
export function exportOnnx(
  weights: LlamaWeights,
  keptLayers: number[],
  adapter?: LoraAdapter,
  options: ExportOptions = {},
): Uint8Array {
  return encodeModel(buildOnnxModel(weights, keptLayers, adapter, options));
}
