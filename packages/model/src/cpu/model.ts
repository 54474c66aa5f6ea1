// The whole (pruned) LLaMA with LoRA on the CPU, forward and backward over the kept layers only:
// embedding -> for each kept layer: x = x + attn(rmsnorm(x)); x = x + mlp(rmsnorm(x)) -> final
// rmsnorm -> lm_head (tied: embed_tokens) -> cross-entropy. Dropped layers are skipped: the
// residual stream passes them unchanged.
// Dimension letters: B batch, T tokens, N = B * T rows, C hidden, NH heads, NKV kv-heads, HS head
// size, F ffn, V vocab, R LoRA rank, L layers of the base model, K kept layers.
// Base parameters live in one flat buffer (table: `entries`), LoRA parameters in another; their
// gradients mirror them. Activations are allocated once per (B, T) and reused.

import { assertLlamaConfig, type LlamaConfig } from '../config';
import type { Batch, LossResult, VariantOptions } from '../engine';
import { InputError } from '../errors';
import { checkLayerList, llamaTensorSpecs } from '../hf-names';
import { type LoraAdapter, type LoraModule, type LoraPair, loraKey, loraModuleShape } from '../lora';
import { validateAdapterForModel } from '../lora-peft';
import type { FloatArray, Tensor } from '../tensor';
import type { LlamaWeights } from '../weights';
import { type StepActivations, stepActivations } from './activations';
import { attentionBackward, attentionForward } from './attention';
import { crossentropyBackward, crossentropyForward, ignoreIndex } from './crossentropy';
import { embeddingBackward, embeddingForward } from './embedding';
import {
  type LoraLinearWeights,
  loraLinearBackward,
  loraLinearForward,
  matmulBackward,
  matmulForward,
} from './linear';
import { type ModelParams, modelParams, type ParamEntry, paramTable } from './params';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';
import { ropeBackward, ropeForward, ropeTables } from './rope';
import { swigluBackward, swigluForward } from './swiglu';

export type CpuPrecision = 'f32' | 'f64';

/** One LoRA pair in the flat LoRA buffer. */
export interface LoraEntry {
  layer: number; // original index
  module: LoraModule;
  IN: number;
  OUT: number;
  offsetA: number; // A (R, IN)
  offsetB: number; // B (OUT, R)
}

/** The current adapter: flat parameters, gradients and AdamW moments, with per-layer views. */
export interface LoraState {
  adapter: Pick<LoraAdapter, 'config' | 'layers'>;
  params: FloatArray;
  grads: FloatArray;
  entries: LoraEntry[];
  /** Per kept layer (position k): the pairs of its adapted modules. */
  byLayer: Partial<Record<LoraModule, LoraLinearWeights>>[];
}

/** The step's activations (stepActivations) and the CPU kernels' own. */
interface Activations extends StepActivations<FloatArray> {
  B: number;
  T: number;
  cos: FloatArray; // (T, HS/2)
  sin: FloatArray; // (T, HS/2)
  scratch: FloatArray; // (2T) attention rows
}

/** Throws an InputError unless batch is well formed with token ids in [0, V). Labels are checked by checkLabels. */
export function checkBatch(batch: Batch, config: LlamaConfig): void {
  const { batchSize: B, seqLen: T } = batch;
  if (!Number.isSafeInteger(B) || B <= 0 || !Number.isSafeInteger(T) || T <= 0) {
    throw new InputError(`batchSize and seqLen must be positive integers, got ${B} and ${T}`);
  }
  if (T > config.maxPositionEmbeddings) {
    throw new InputError(
      `seqLen ${T} exceeds the model's maxPositionEmbeddings ${config.maxPositionEmbeddings}; use shorter sequences`,
    );
  }
  if (!(batch.inputIds instanceof Int32Array) || batch.inputIds.length !== B * T) {
    throw new InputError(`inputIds must be an Int32Array of batchSize * seqLen = ${B * T} token ids`);
  }
  const V = config.vocabSize;
  for (let n = 0; n < B * T; n++) {
    const id = batch.inputIds[n];
    if (id < 0 || id >= V) {
      throw new InputError(
        `inputIds[${n}] = ${id} is outside the vocabulary [0, ${V}); check the tokenizer matches the model`,
      );
    }
  }
}

/** Throws an InputError unless labels (B, T) hold -100 or ids in [0, V). */
export function checkLabels(batch: Batch, config: LlamaConfig): void {
  const N = batch.batchSize * batch.seqLen;
  if (!(batch.labels instanceof Int32Array) || batch.labels.length !== N) {
    throw new InputError(`labels must be an Int32Array of batchSize * seqLen = ${N} values (-100 = masked)`);
  }
  const V = config.vocabSize;
  for (let n = 0; n < N; n++) {
    const y = batch.labels[n];
    if (y !== ignoreIndex && (y < 0 || y >= V)) {
      throw new InputError(`labels[${n}] = ${y} must be -100 (masked) or a token id in [0, ${V})`);
    }
  }
}

/**
 * Throws an InputError unless the weights hold every tensor of the variant keeping
 * options.keptLayers, with the config's shapes; returns the variant's flat-buffer table.
 */
export function checkVariant(
  weights: LlamaWeights,
  options: VariantOptions,
): { entries: ParamEntry[]; total: number } {
  const config = weights.config;
  assertLlamaConfig(config);
  checkLayerList(config, options.keptLayers, 'kept layer');
  const missing = options.keptLayers.filter((layer) => !weights.layers.includes(layer));
  if (missing.length > 0) {
    throw new InputError(
      `the weights lack kept layer(s) ${missing.join(', ')}; load those layers' tensors too`,
    );
  }
  const table = paramTable(llamaTensorSpecs(config, options.keptLayers));
  for (const entry of table.entries) {
    const tensor = weights.tensors.get(entry.name);
    if (tensor === undefined) {
      throw new InputError(`the weights lack tensor ${entry.name}; load every tensor of the kept layers`);
    }
    if (tensor.shape.join(',') !== entry.shape.join(',') || tensor.data.length !== entry.size) {
      throw new InputError(
        `tensor ${entry.name} has shape [${tensor.shape}] but this config needs [${entry.shape}]`,
      );
    }
  }
  return table;
}

export class CpuModel {
  readonly config: LlamaConfig;
  readonly keptLayers: number[];
  readonly trainBase: boolean;
  /** Base parameters: one flat buffer laid out by `entries`. */
  readonly params: FloatArray;
  /** Base gradients, same layout; null unless trainBase. */
  readonly grads: FloatArray | null;
  readonly entries: ParamEntry[];
  lora: LoraState | null = null;
  private readonly weights: ModelParams<FloatArray>;
  private readonly dweights: ModelParams<FloatArray> | null;
  private acts: Activations | null = null;

  constructor(
    weights: LlamaWeights,
    options: VariantOptions,
    readonly precision: CpuPrecision = 'f32',
  ) {
    this.config = weights.config;
    this.keptLayers = [...options.keptLayers];
    this.trainBase = options.trainBase ?? false;
    const table = checkVariant(weights, options);
    this.entries = table.entries;
    this.params = this.alloc(table.total);
    for (const e of this.entries) this.params.set(weights.tensors.get(e.name)!.data, e.offset);
    this.weights = this.views(this.params);
    this.grads = this.trainBase ? this.alloc(table.total) : null;
    this.dweights = this.grads === null ? null : this.views(this.grads);
  }

  private alloc(n: number): FloatArray {
    return this.precision === 'f64' ? new Float64Array(n) : new Float32Array(n);
  }

  /** Views of the tensors of a buffer laid out by `entries`. */
  private views(buffer: FloatArray): ModelParams<FloatArray> {
    const view = new Map(this.entries.map((e) => [e.name, buffer.subarray(e.offset, e.offset + e.size)]));
    return modelParams(this.config, this.keptLayers, (name) => view.get(name)!);
  }

  /** Base tensors of a flat buffer (params or grads) by HF name, as f32 copies. */
  tensorsOf(buffer: FloatArray): Map<string, Tensor> {
    return new Map(
      this.entries.map((e) => [
        e.name,
        { shape: [...e.shape], data: Float32Array.from(buffer.subarray(e.offset, e.offset + e.size)) },
      ]),
    );
  }

  /** Replaces the adapter; it must fit this variant (see validateAdapterForModel). */
  setAdapter(adapter: LoraAdapter): void {
    validateAdapterForModel(adapter, this.config, this.keptLayers);
    const { config: lora, layers } = adapter;
    const R = lora.r;
    const entries: LoraEntry[] = [];
    const pairs: LoraPair[] = [];
    let offset = 0;
    for (const layer of layers) {
      for (const module of lora.targetModules) {
        const [IN, OUT] = loraModuleShape(this.config, module);
        entries.push({ layer, module, IN, OUT, offsetA: offset, offsetB: offset + R * IN });
        pairs.push(adapter.weights.get(loraKey(layer, module))!);
        offset += R * IN + OUT * R;
      }
    }
    const params = this.alloc(offset);
    const grads = this.alloc(offset);
    entries.forEach((e, i) => {
      params.set(pairs[i].A.data, e.offsetA);
      params.set(pairs[i].B.data, e.offsetB);
    });
    const byLayer: Partial<Record<LoraModule, LoraLinearWeights>>[] = this.keptLayers.map(() => ({}));
    for (const e of entries) {
      const sizeA = R * e.IN;
      const sizeB = e.OUT * R;
      byLayer[this.keptLayers.indexOf(e.layer)][e.module] = {
        A: params.subarray(e.offsetA, e.offsetA + sizeA),
        B: params.subarray(e.offsetB, e.offsetB + sizeB),
        dA: grads.subarray(e.offsetA, e.offsetA + sizeA),
        dB: grads.subarray(e.offsetB, e.offsetB + sizeB),
        R,
        scale: lora.alpha / R,
      };
    }
    this.lora = {
      adapter: { config: { ...lora, targetModules: [...lora.targetModules] }, layers: [...layers] },
      params,
      grads,
      entries,
      byLayer,
    };
    this.acts = null; // the LoRA activations depend on the adapter
  }

  /** The adapter with the A and B of a flat LoRA buffer (params or grads), as f32 copies. */
  adapterOf(buffer: FloatArray): LoraAdapter {
    if (this.lora === null) throw new InputError('no adapter is set; call setAdapter first');
    const R = this.lora.adapter.config.r;
    const weights = new Map<string, LoraPair>();
    for (const e of this.lora.entries) {
      const A = Float32Array.from(buffer.subarray(e.offsetA, e.offsetA + R * e.IN));
      const B = Float32Array.from(buffer.subarray(e.offsetB, e.offsetB + e.OUT * R));
      weights.set(loraKey(e.layer, e.module), {
        A: { shape: [R, e.IN], data: A },
        B: { shape: [e.OUT, R], data: B },
      });
    }
    const { config, layers } = this.lora.adapter;
    return { config: { ...config, targetModules: [...config.targetModules] }, layers: [...layers], weights };
  }

  private activations(B: number, T: number): Activations {
    if (this.acts !== null && this.acts.B === B && this.acts.T === T) return this.acts;
    const HS = this.config.headDim;
    const R = this.lora?.adapter.config.r ?? 0;
    const adapted = this.keptLayers.map((_, k) => Object.keys(this.lora?.byLayer[k] ?? {}) as LoraModule[]);
    const cos = this.alloc((T * HS) / 2);
    const sin = this.alloc((T * HS) / 2);
    ropeTables(cos, sin, T, HS, this.config.ropeTheta);
    this.acts = {
      ...stepActivations(this.config, B, T, adapted, R, (_, floats) => this.alloc(floats)),
      B,
      T,
      cos,
      sin,
      scratch: this.alloc(2 * T),
    };
    return this.acts;
  }

  /** out (N, OUT) = projection `module` of kept layer k (with its LoRA, if any) applied to inp (N, IN). */
  private project(k: number, module: LoraModule, out: FloatArray, inp: FloatArray): void {
    const acts = this.acts!;
    const [IN, OUT] = loraModuleShape(this.config, module);
    const lora = this.lora?.byLayer[k][module] ?? null;
    const loraU = acts.layers[k].loraU[module] ?? null;
    loraLinearForward(out, loraU, inp, this.weights.layers[k].proj[module], lora, acts.B * acts.T, IN, OUT);
  }

  private projectBackward(
    k: number,
    module: LoraModule,
    dinp: FloatArray,
    dout: FloatArray,
    inp: FloatArray,
  ): void {
    const acts = this.acts!;
    const [IN, OUT] = loraModuleShape(this.config, module);
    const lora = this.lora?.byLayer[k][module] ?? null;
    const loraU = acts.layers[k].loraU[module] ?? null;
    const dweight = this.dweights?.layers[k].proj[module] ?? null;
    const W = this.weights.layers[k].proj[module];
    loraLinearBackward(dinp, dweight, acts.dloraU, dout, loraU, inp, W, lora, acts.B * acts.T, IN, OUT);
  }

  private layerForward(k: number): void {
    const acts = this.acts!;
    const { B, T } = acts;
    const N = B * T;
    const {
      hiddenSize: C,
      intermediateSize: F,
      numAttentionHeads: NH,
      numKeyValueHeads: NKV,
      headDim: HS,
    } = this.config;
    const w = this.weights.layers[k];
    const a = acts.layers[k];
    const x = acts.residual[k]; // (N, C)
    const mid = acts.residualMid[k]; // (N, C)
    const out = acts.residual[k + 1]; // (N, C)
    // attention block: mid = x + o_proj(attention(rope(q), rope(k), v))
    rmsnormForward(a.ln1, a.ln1Rstd, x, w.inputNorm, N, C, this.config.rmsNormEps);
    this.project(k, 'q_proj', a.q, a.ln1);
    this.project(k, 'k_proj', a.k, a.ln1);
    this.project(k, 'v_proj', a.v, a.ln1);
    ropeForward(a.q, acts.cos, acts.sin, B, T, NH, HS);
    ropeForward(a.k, acts.cos, acts.sin, B, T, NKV, HS);
    attentionForward(a.attOut, a.lse, a.q, a.k, a.v, acts.scratch, B, T, NH, NKV, HS);
    this.project(k, 'o_proj', acts.proj, a.attOut);
    for (let i = 0; i < N * C; i++) mid[i] = x[i] + acts.proj[i];
    // MLP block: out = mid + down_proj(silu(gate_proj(.)) * up_proj(.))
    rmsnormForward(a.ln2, a.ln2Rstd, mid, w.postNorm, N, C, this.config.rmsNormEps);
    this.project(k, 'gate_proj', a.gate, a.ln2);
    this.project(k, 'up_proj', a.up, a.ln2);
    swigluForward(a.h, a.gate, a.up, N * F);
    this.project(k, 'down_proj', acts.proj, a.h);
    for (let i = 0; i < N * C; i++) out[i] = mid[i] + acts.proj[i];
  }

  /** Backward of layerForward: acts.dres holds d(out) on entry and d(x) on exit. */
  private layerBackward(k: number): void {
    const acts = this.acts!;
    const { B, T } = acts;
    const N = B * T;
    const {
      hiddenSize: C,
      intermediateSize: F,
      numAttentionHeads: NH,
      numKeyValueHeads: NKV,
      headDim: HS,
    } = this.config;
    const w = this.weights.layers[k];
    const dw = this.dweights?.layers[k] ?? null;
    const a = acts.layers[k];
    // MLP block; the residual passes dres through unchanged, the norm path adds to it.
    acts.dh.fill(0);
    this.projectBackward(k, 'down_proj', acts.dh, acts.dres, a.h);
    acts.dgate.fill(0);
    acts.dup.fill(0);
    swigluBackward(acts.dgate, acts.dup, acts.dh, a.gate, a.up, N * F);
    acts.dln.fill(0);
    this.projectBackward(k, 'gate_proj', acts.dln, acts.dgate, a.ln2);
    this.projectBackward(k, 'up_proj', acts.dln, acts.dup, a.ln2);
    rmsnormBackward(
      acts.dres,
      dw?.postNorm ?? null,
      acts.dln,
      acts.residualMid[k],
      w.postNorm,
      a.ln2Rstd,
      N,
      C,
    );
    // attention block
    acts.dattOut.fill(0);
    this.projectBackward(k, 'o_proj', acts.dattOut, acts.dres, a.attOut);
    acts.dq.fill(0);
    acts.dk.fill(0);
    acts.dv.fill(0);
    attentionBackward(
      acts.dq,
      acts.dk,
      acts.dv,
      acts.dattOut,
      a.q,
      a.k,
      a.v,
      a.lse,
      acts.scratch,
      B,
      T,
      NH,
      NKV,
      HS,
    );
    ropeBackward(acts.dq, acts.cos, acts.sin, B, T, NH, HS);
    ropeBackward(acts.dk, acts.cos, acts.sin, B, T, NKV, HS);
    acts.dln.fill(0);
    this.projectBackward(k, 'q_proj', acts.dln, acts.dq, a.ln1);
    this.projectBackward(k, 'k_proj', acts.dln, acts.dk, a.ln1);
    this.projectBackward(k, 'v_proj', acts.dln, acts.dv, a.ln1);
    rmsnormBackward(
      acts.dres,
      dw?.inputNorm ?? null,
      acts.dln,
      acts.residual[k],
      w.inputNorm,
      a.ln1Rstd,
      N,
      C,
    );
  }

  /**
   * Embedding and kept layers. Returns the residual stream: entry 0 the input embedding, entry k + 1
   * the output of kept layer k, each (B, T, C) — before the final norm, unlike HF's last hidden state.
   * The arrays are the model's own buffers, valid until the next forward.
   */
  forwardHidden(batch: Batch): FloatArray[] {
    checkBatch(batch, this.config);
    const acts = this.activations(batch.batchSize, batch.seqLen);
    const N = acts.B * acts.T;
    embeddingForward(acts.residual[0], batch.inputIds, this.weights.embed, N, this.config.hiddenSize);
    for (let k = 0; k < this.keptLayers.length; k++) this.layerForward(k);
    return acts.residual;
  }

  /** Forward to the logits (B, T, V); the array is the model's own buffer, valid until the next call. */
  forwardLogits(batch: Batch): FloatArray {
    this.forwardHidden(batch);
    const acts = this.acts!;
    const N = acts.B * acts.T;
    const C = this.config.hiddenSize;
    const last = acts.residual[this.keptLayers.length];
    rmsnormForward(acts.lnf, acts.lnfRstd, last, this.weights.finalNorm, N, C, this.config.rmsNormEps);
    matmulForward(acts.logits, acts.lnf, this.weights.lmHead, N, C, this.config.vocabSize);
    return acts.logits;
  }

  /** Forward to the loss. */
  forwardLoss(batch: Batch): LossResult {
    checkLabels(batch, this.config);
    const logits = this.forwardLogits(batch);
    return crossentropyForward(logits, batch.labels, batch.batchSize, batch.seqLen, this.config.vocabSize);
  }

  /**
   * Forward and backward: zeroes, then fills the LoRA gradients (lora.grads) and, with trainBase,
   * the base gradients (grads). The logits buffer is overwritten by dlogits.
   */
  computeGradients(batch: Batch): LossResult {
    const result = this.forwardLoss(batch);
    this.grads?.fill(0);
    this.lora?.grads.fill(0);
    if (this.dweights === null && this.lora === null) return result;
    const acts = this.acts!;
    const N = acts.B * acts.T;
    const C = this.config.hiddenSize;
    const V = this.config.vocabSize;
    const dw = this.dweights;
    const dlogits = acts.logits; // (N, V) in place
    crossentropyBackward(dlogits, acts.logits, batch.labels, acts.B, acts.T, V, result.tokens);
    acts.dln.fill(0);
    matmulBackward(acts.dln, dw?.lmHead ?? null, dlogits, acts.lnf, this.weights.lmHead, N, C, V);
    acts.dres.fill(0);
    const last = acts.residual[this.keptLayers.length];
    rmsnormBackward(
      acts.dres,
      dw?.finalNorm ?? null,
      acts.dln,
      last,
      this.weights.finalNorm,
      acts.lnfRstd,
      N,
      C,
    );
    for (let k = this.keptLayers.length - 1; k >= 0; k--) this.layerBackward(k);
    if (dw !== null) embeddingBackward(dw.embed, acts.dres, batch.inputIds, N, C);
    return result;
  }
}
