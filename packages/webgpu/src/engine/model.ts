// The whole (pruned) LLaMA with LoRA on the GPU: packages/model/src/cpu/model.ts step by step, each
// CPU kernel call replaced by its GPU twin with the same arguments, so the two read side by side:
// embedding -> for each kept layer: x = x + attn(rmsnorm(x)); x = x + mlp(rmsnorm(x)) -> final
// rmsnorm -> lm_head (tied: embed_tokens) -> cross-entropy. Dropped layers are skipped.
// Dimension letters: B batch, T tokens, N = B * T rows, C hidden, NH heads, NKV kv-heads, HS head
// size, F ffn, V vocab, R LoRA rank, K kept layers.
// Storage: every base tensor of the CPU engine's flat buffers is its own arena buffer
// (`param/<HF name>`, `grad/<HF name>`), listed in the order and with the sizes of the CPU's offset
// table (paramTable); read-backs gather them into one flat buffer and fetch it with a single map.
// The adapter is packed: every A and B lives in one parameter buffer (and its gradient at the same
// offset in one gradient buffer), each tensor at an offset aligned to the device's
// minStorageBufferOffsetAlignment and bound as a range, so that zeroing the gradients, the gradient
// norm and AdamW each run as one dispatch over the whole adapter. The padding between tensors is
// never written by a kernel: it stays 0 in parameters, gradients and moments alike. Activations are
// arena buffers sized once per (B, T), so a steady-state step allocates nothing.
import {
  type Batch,
  checkBatch,
  checkLabels,
  checkVariant,
  InputError,
  type LlamaConfig,
  type LlamaWeights,
  type LoraAdapter,
  type LoraModule,
  type LoraPair,
  loraKey,
  loraModuleShape,
  type ModelParams,
  modelParams,
  type ParamEntry,
  type StepActivations,
  stepActivations,
  type Tensor,
  type VariantOptions,
  validateAdapterForModel,
} from '@prufed/model';
import { attentionBackward, attentionForward } from '../attention';
import { crossentropyBackward, crossentropyForward } from '../crossentropy';
import { uploadInt32 } from '../elementwise';
import { embeddingBackward, embeddingForward } from '../embedding';
import { type GpuLoraLinearWeights, loraLinearBackward, loraLinearForward } from '../lora-linear';
import { residualAdd } from '../residual';
import { rmsnormBackward, rmsnormForward } from '../rmsnorm';
import { ropeBackward, ropeForward, uploadRopeTables } from '../rope';
import type { GpuBinding, GpuRuntime } from '../runtime';
import { swigluBackward, swigluForward } from '../swiglu';
import { fillZero } from './fill';

/** A trainable tensor (or packed tensors): parameters and gradients of n floats. */
export interface GpuTrainable {
  name: string;
  n: number;
  param: GPUBuffer;
  grad: GPUBuffer;
}

/** One LoRA pair: A (R, IN), B (OUT, R) and their gradients. */
interface GpuLoraEntry {
  layer: number; // original index
  module: LoraModule;
  IN: number;
  OUT: number;
  /** Float offsets of A and B in the packed parameters, and of dA and dB in the packed gradients. */
  offsetA: number;
  offsetB: number;
  weights: GpuLoraLinearWeights;
}

interface GpuLoraState {
  adapter: Pick<LoraAdapter, 'config' | 'layers'>;
  entries: GpuLoraEntry[];
  /** Per kept layer (position k): the pairs of its adapted modules. */
  byLayer: Partial<Record<LoraModule, GpuLoraLinearWeights>>[];
  /** The packed parameters and gradients (padding included), for the optimizer and the gradient norm. */
  trainables: [GpuTrainable];
}

/** Float offsets of tensors of the given sizes packed one after another at multiples of `align` floats. */
export function packedOffsets(sizes: readonly number[], align: number): { offsets: number[]; total: number } {
  const offsets: number[] = [];
  let total = 0;
  for (const n of sizes) {
    offsets.push(total);
    total += Math.ceil(n / align) * align;
  }
  return { offsets, total };
}

/** Floats `offset .. offset + n` of buffer, as a binding. */
function slice(buffer: GPUBuffer, offset: number, n: number): GpuBinding {
  return { buffer, offset: offset * 4, size: n * 4 };
}

/** The step's activations (stepActivations) and the GPU kernels' own. */
interface Activations extends StepActivations<GPUBuffer> {
  B: number;
  T: number;
  R: number;
  cos: GPUBuffer; // (T, HS/2)
  sin: GPUBuffer; // (T, HS/2)
  losses: GPUBuffer; // (N) per-row loss
  logitsLse: GPUBuffer; // (N) per-row log-sum-exp of the logits
  loss: GPUBuffer; // (2) mean loss, tokens
  tokens: GPUBuffer | null; // (N) int32 input ids of the last forward
  labels: GPUBuffer | null; // (B, T) int32 labels of the last forwardLoss
  rowdot: GPUBuffer; // (B, NH, T) attention backward scratch
}

/** The arena buffers of one group (base, LoRA, activations), released together when replaced. */
class BufferGroup {
  private readonly names = new Set<string>();

  constructor(
    private readonly rt: GpuRuntime,
    private readonly prefix: string,
  ) {}

  buffer(name: string, floats: number): GPUBuffer {
    this.names.add(name);
    return this.rt.arena.buffer(`${this.prefix}/${name}`, floats * 4);
  }

  upload(name: string, data: Float32Array): GPUBuffer {
    this.names.add(name);
    return this.rt.upload(`${this.prefix}/${name}`, data);
  }

  /** Releases the buffers not named in keep (all of them by default). */
  release(keep: ReadonlySet<string> = new Set()): void {
    for (const name of this.names) {
      if (keep.has(name)) continue;
      this.rt.arena.release(`${this.prefix}/${name}`);
      this.names.delete(name);
    }
  }
}

export class GpuModel {
  readonly config: LlamaConfig;
  readonly keptLayers: number[];
  readonly trainBase: boolean;
  /** Base tensors in the CPU engine's flat-buffer order, with their offsets there. */
  readonly entries: ParamEntry[];
  /** Base parameters, one buffer per entry. */
  readonly params: GPUBuffer[];
  /** Base gradients, one buffer per entry; null unless trainBase. */
  readonly grads: GPUBuffer[] | null;
  lora: GpuLoraState | null = null;
  private readonly weights: ModelParams<GPUBuffer>;
  private readonly dweights: ModelParams<GPUBuffer> | null;
  private acts: Activations | null = null;
  private readonly baseGroup: BufferGroup;
  private readonly loraGroup: BufferGroup;
  private readonly actGroup: BufferGroup;

  constructor(
    readonly rt: GpuRuntime,
    weights: LlamaWeights,
    options: VariantOptions,
  ) {
    this.config = weights.config;
    this.keptLayers = [...options.keptLayers];
    this.trainBase = options.trainBase ?? false;
    this.entries = checkVariant(weights, options).entries;
    this.baseGroup = new BufferGroup(rt, 'base');
    this.loraGroup = new BufferGroup(rt, 'lora');
    this.actGroup = new BufferGroup(rt, 'act');
    this.params = this.entries.map((e) =>
      this.baseGroup.upload(`param/${e.name}`, weights.tensors.get(e.name)!.data),
    );
    this.weights = this.views(this.params);
    this.grads = this.trainBase
      ? this.entries.map((e) => this.baseGroup.buffer(`grad/${e.name}`, e.size))
      : null;
    this.dweights = this.grads === null ? null : this.views(this.grads);
  }

  /** The base weights as trainable tensors: empty unless trainBase. */
  get baseTrainables(): GpuTrainable[] {
    if (this.grads === null) return [];
    const grads = this.grads;
    return this.entries.map((e, i) => ({ name: e.name, n: e.size, param: this.params[i], grad: grads[i] }));
  }

  /** Buffers of a list laid out by `entries`, by role. */
  private views(buffers: GPUBuffer[]): ModelParams<GPUBuffer> {
    const byName = new Map(this.entries.map((e, i) => [e.name, buffers[i]]));
    return modelParams(this.config, this.keptLayers, (name) => byName.get(name)!);
  }

  /**
   * The floats of each buffer, gathered by copies into one flat buffer (name: what is read) and
   * read back with one map.
   */
  async gather(name: string, parts: readonly { buffer: GPUBuffer; n: number }[]): Promise<Float32Array[]> {
    const total = parts.reduce((sum, { n }) => sum + n, 0);
    const flat = this.rt.arena.buffer(`gather/${name}`, total * 4);
    this.rt.submit(); // the copies below must follow the recorded work
    const encoder = this.rt.device.createCommandEncoder({ label: `${this.rt.device.label} gather ${name}` });
    const offsets: number[] = [];
    let offset = 0;
    for (const { buffer, n } of parts) {
      encoder.copyBufferToBuffer(buffer, 0, flat, offset * 4, n * 4);
      offsets.push(offset);
      offset += n;
    }
    this.rt.device.queue.submit([encoder.finish()]);
    const data = await this.rt.read(flat, total);
    this.rt.arena.release(`gather/${name}`);
    this.rt.arena.release(`readback/${flat.label}`);
    return parts.map(({ n }, i) => data.subarray(offsets[i], offsets[i] + n));
  }

  /** Base tensors of a buffer list (params or grads) by HF name, as f32 copies. */
  async tensorsOf(buffers: GPUBuffer[], what: string): Promise<Map<string, Tensor>> {
    const data = await this.gather(
      what,
      this.entries.map((e, i) => ({ buffer: buffers[i], n: e.size })),
    );
    return new Map(this.entries.map((e, i) => [e.name, { shape: [...e.shape], data: data[i] }]));
  }

  /** Replaces the adapter; it must fit this variant (see validateAdapterForModel). */
  setAdapter(adapter: LoraAdapter): void {
    validateAdapterForModel(adapter, this.config, this.keptLayers);
    const { config: lora, layers } = adapter;
    const R = lora.r;
    this.loraGroup.release();
    const shapes = layers.flatMap((layer) =>
      lora.targetModules.map((module) => {
        const [IN, OUT] = loraModuleShape(this.config, module);
        return { layer, module, IN, OUT };
      }),
    );
    const align = this.rt.device.limits.minStorageBufferOffsetAlignment / 4;
    const packed = packedOffsets(
      shapes.flatMap((e) => [R * e.IN, e.OUT * R]),
      align,
    );
    const params = this.loraGroup.buffer('params', packed.total); // new buffers are zero
    const grads = this.loraGroup.buffer('grads', packed.total);
    const byLayer: Partial<Record<LoraModule, GpuLoraLinearWeights>>[] = this.keptLayers.map(() => ({}));
    const entries = shapes.map((e, i): GpuLoraEntry => {
      const [offsetA, offsetB] = [packed.offsets[2 * i], packed.offsets[2 * i + 1]];
      const pair: LoraPair = adapter.weights.get(loraKey(e.layer, e.module))!;
      this.rt.write(params, offsetA, pair.A.data);
      this.rt.write(params, offsetB, pair.B.data);
      const weights: GpuLoraLinearWeights = {
        A: slice(params, offsetA, R * e.IN),
        B: slice(params, offsetB, e.OUT * R),
        dA: slice(grads, offsetA, R * e.IN),
        dB: slice(grads, offsetB, e.OUT * R),
        R,
        scale: lora.alpha / R,
      };
      byLayer[this.keptLayers.indexOf(e.layer)][e.module] = weights;
      return { ...e, offsetA, offsetB, weights };
    });
    this.lora = {
      adapter: { config: { ...lora, targetModules: [...lora.targetModules] }, layers: [...layers] },
      entries,
      byLayer,
      trainables: [{ name: 'lora', n: packed.total, param: params, grad: grads }],
    };
    this.acts = null; // the LoRA activations depend on the adapter
  }

  /** The adapter with the A and B of the LoRA parameters or gradients, as f32 copies. */
  async adapterOf(which: 'params' | 'grads'): Promise<LoraAdapter> {
    if (this.lora === null) throw new InputError('no adapter is set; call setAdapter first');
    const [packed] = this.lora.trainables;
    const [data] = await this.gather(`lora-${which}`, [
      { buffer: which === 'params' ? packed.param : packed.grad, n: packed.n },
    ]);
    const R = this.lora.adapter.config.r;
    const weights = new Map<string, LoraPair>();
    for (const { layer, module, IN, OUT, offsetA, offsetB } of this.lora.entries) {
      weights.set(loraKey(layer, module), {
        A: { shape: [R, IN], data: data.slice(offsetA, offsetA + R * IN) },
        B: { shape: [OUT, R], data: data.slice(offsetB, offsetB + OUT * R) },
      });
    }
    const { config, layers } = this.lora.adapter;
    return { config: { ...config, targetModules: [...config.targetModules] }, layers: [...layers], weights };
  }

  private activations(B: number, T: number): Activations {
    const R = this.lora?.adapter.config.r ?? 0;
    if (this.acts !== null && this.acts.B === B && this.acts.T === T && this.acts.R === R) return this.acts;
    const { numAttentionHeads: NH, headDim: HS } = this.config;
    const N = B * T;
    const g = this.actGroup;
    g.release();
    const adapted = this.keptLayers.map((_, k) => Object.keys(this.lora?.byLayer[k] ?? {}) as LoraModule[]);
    this.acts = {
      ...stepActivations(this.config, B, T, adapted, R, (name, floats) => g.buffer(name, floats)),
      B,
      T,
      R,
      ...uploadRopeTables(this.rt, 'act/rope', T, HS, this.config.ropeTheta),
      losses: g.buffer('losses', N),
      logitsLse: g.buffer('logitsLse', N),
      loss: g.buffer('loss', 2),
      tokens: null,
      labels: null,
      rowdot: g.buffer('rowdot', B * NH * T),
    };
    return this.acts;
  }

  /** out (N, OUT) = projection `module` of kept layer k (with its LoRA, if any) applied to inp (N, IN). */
  private async project(k: number, module: LoraModule, out: GPUBuffer, inp: GPUBuffer): Promise<void> {
    const acts = this.acts!;
    const [IN, OUT] = loraModuleShape(this.config, module);
    const lora = this.lora?.byLayer[k][module] ?? null;
    const loraU = acts.layers[k].loraU[module] ?? null;
    const W = this.weights.layers[k].proj[module];
    await loraLinearForward(this.rt, out, loraU, inp, W, lora, acts.B * acts.T, IN, OUT);
  }

  /**
   * Backward of one projection of layer k: its weight's and LoRA pair's gradients are written (each
   * projection contributes to them once a step), dinp's is written when `freshDinp` (its first
   * contribution), else added.
   */
  private async projectBackward(
    k: number,
    module: LoraModule,
    dinp: GPUBuffer,
    dout: GPUBuffer,
    inp: GPUBuffer,
    freshDinp: boolean,
  ): Promise<void> {
    const acts = this.acts!;
    const [IN, OUT] = loraModuleShape(this.config, module);
    const lora = this.lora?.byLayer[k][module] ?? null;
    const loraU = acts.layers[k].loraU[module] ?? null;
    const dweight = this.dweights?.layers[k].proj[module] ?? null;
    const W = this.weights.layers[k].proj[module];
    await loraLinearBackward(
      this.rt,
      dinp,
      dweight,
      acts.dloraU,
      dout,
      loraU,
      inp,
      W,
      lora,
      acts.B * acts.T,
      IN,
      OUT,
      { dinp: freshDinp, weights: true },
    );
  }

  private async layerForward(k: number): Promise<void> {
    const { rt, config } = this;
    const acts = this.acts!;
    const { B, T } = acts;
    const N = B * T;
    const {
      hiddenSize: C,
      intermediateSize: F,
      numAttentionHeads: NH,
      numKeyValueHeads: NKV,
      headDim: HS,
    } = config;
    const w = this.weights.layers[k];
    const a = acts.layers[k];
    const x = acts.residual[k]; // (N, C)
    const mid = acts.residualMid[k]; // (N, C)
    const out = acts.residual[k + 1]; // (N, C)
    // attention block: mid = x + o_proj(attention(rope(q), rope(k), v))
    await rmsnormForward(rt, a.ln1, a.ln1Rstd, x, w.inputNorm, N, C, config.rmsNormEps);
    await this.project(k, 'q_proj', a.q, a.ln1);
    await this.project(k, 'k_proj', a.k, a.ln1);
    await this.project(k, 'v_proj', a.v, a.ln1);
    await ropeForward(rt, a.q, acts.cos, acts.sin, B, T, NH, HS);
    await ropeForward(rt, a.k, acts.cos, acts.sin, B, T, NKV, HS);
    await attentionForward(rt, a.attOut, a.lse, a.q, a.k, a.v, B, T, NH, NKV, HS);
    await this.project(k, 'o_proj', acts.proj, a.attOut);
    await residualAdd(rt, mid, x, acts.proj, N * C);
    // MLP block: out = mid + down_proj(silu(gate_proj(.)) * up_proj(.))
    await rmsnormForward(rt, a.ln2, a.ln2Rstd, mid, w.postNorm, N, C, config.rmsNormEps);
    await this.project(k, 'gate_proj', a.gate, a.ln2);
    await this.project(k, 'up_proj', a.up, a.ln2);
    await swigluForward(rt, a.h, a.gate, a.up, N * F);
    await this.project(k, 'down_proj', acts.proj, a.h);
    await residualAdd(rt, out, mid, acts.proj, N * C);
  }

  /** Backward of layerForward: acts.dres holds d(out) on entry and d(x) on exit. */
  private async layerBackward(k: number): Promise<void> {
    const { rt, config } = this;
    const acts = this.acts!;
    const { B, T } = acts;
    const N = B * T;
    const {
      hiddenSize: C,
      intermediateSize: F,
      numAttentionHeads: NH,
      numKeyValueHeads: NKV,
      headDim: HS,
    } = config;
    const w = this.weights.layers[k];
    const dw = this.dweights?.layers[k] ?? null;
    const a = acts.layers[k];
    // MLP block; the residual passes dres through unchanged, the norm path adds to it.
    await this.projectBackward(k, 'down_proj', acts.dh, acts.dres, a.h, true);
    await swigluBackward(rt, acts.dgate, acts.dup, acts.dh, a.gate, a.up, N * F, false);
    await this.projectBackward(k, 'gate_proj', acts.dln, acts.dgate, a.ln2, true);
    await this.projectBackward(k, 'up_proj', acts.dln, acts.dup, a.ln2, false);
    await rmsnormBackward(
      rt,
      acts.dres,
      dw?.postNorm ?? null,
      acts.dln,
      acts.residualMid[k],
      w.postNorm,
      a.ln2Rstd,
      N,
      C,
      false,
    );
    // attention block
    await this.projectBackward(k, 'o_proj', acts.dattOut, acts.dres, a.attOut, true);
    await attentionBackward(
      rt,
      acts.dq,
      acts.dk,
      acts.dv,
      acts.dattOut,
      a.q,
      a.k,
      a.v,
      a.attOut,
      a.lse,
      acts.rowdot,
      B,
      T,
      NH,
      NKV,
      HS,
      false,
    );
    await ropeBackward(rt, acts.dq, acts.cos, acts.sin, B, T, NH, HS);
    await ropeBackward(rt, acts.dk, acts.cos, acts.sin, B, T, NKV, HS);
    await this.projectBackward(k, 'q_proj', acts.dln, acts.dq, a.ln1, true);
    await this.projectBackward(k, 'k_proj', acts.dln, acts.dk, a.ln1, false);
    await this.projectBackward(k, 'v_proj', acts.dln, acts.dv, a.ln1, false);
    await rmsnormBackward(
      rt,
      acts.dres,
      dw?.inputNorm ?? null,
      acts.dln,
      acts.residual[k],
      w.inputNorm,
      a.ln1Rstd,
      N,
      C,
      false,
    );
  }

  /** Records the embedding and kept layers; returns the residual stream (see CpuModel.forwardHidden). */
  async forwardHidden(batch: Batch): Promise<GPUBuffer[]> {
    checkBatch(batch, this.config);
    this.rt.ctx.check();
    const acts = this.activations(batch.batchSize, batch.seqLen);
    const N = acts.B * acts.T;
    acts.tokens = uploadInt32(this.rt, 'act/tokens', batch.inputIds); // (N)
    await embeddingForward(
      this.rt,
      acts.residual[0],
      acts.tokens,
      this.weights.embed,
      N,
      this.config.hiddenSize,
    );
    for (let k = 0; k < this.keptLayers.length; k++) await this.layerForward(k);
    return acts.residual;
  }

  /** Records the forward to the logits (B, T, V); returns the model's own buffer. */
  async forwardLogits(batch: Batch): Promise<GPUBuffer> {
    await this.forwardHidden(batch);
    const acts = this.acts!;
    const N = acts.B * acts.T;
    const { hiddenSize: C, vocabSize: V, rmsNormEps } = this.config;
    const last = acts.residual[this.keptLayers.length];
    await rmsnormForward(this.rt, acts.lnf, acts.lnfRstd, last, this.weights.finalNorm, N, C, rmsNormEps);
    await loraLinearForward(this.rt, acts.logits, null, acts.lnf, this.weights.lmHead, null, N, C, V);
    return acts.logits;
  }

  /** Records the forward to the loss; returns the (2) buffer of (mean loss, tokens), see readLoss. */
  async forwardLoss(batch: Batch): Promise<GPUBuffer> {
    checkLabels(batch, this.config);
    const logits = await this.forwardLogits(batch);
    const acts = this.acts!;
    acts.labels = uploadInt32(this.rt, 'act/labels', batch.labels); // (B, T)
    const { batchSize: B, seqLen: T } = batch;
    await crossentropyForward(
      this.rt,
      acts.loss,
      acts.losses,
      acts.logitsLse,
      logits,
      acts.labels,
      B,
      T,
      this.config.vocabSize,
    );
    return acts.loss;
  }

  /**
   * Records forward and backward: zeroes, then fills the LoRA gradients and, with trainBase, the base
   * gradients. The logits buffer is overwritten by dlogits. Returns forwardLoss's buffer.
   */
  async computeGradients(batch: Batch): Promise<GPUBuffer> {
    const loss = await this.forwardLoss(batch);
    const { rt } = this;
    const dw = this.dweights;
    // every base gradient's only writer writes it (projections, norms, the LM head) except the
    // embedding's, which adds token rows: zeroed unless tied, where the LM head writes it first
    if (dw !== null && dw.embed !== dw.lmHead) await fillZero(rt, dw.embed);
    // the packed adapter's padding must stay zero: one fill of the whole buffer
    for (const t of this.lora?.trainables ?? []) await fillZero(rt, t.grad);
    if (dw === null && this.lora === null) return loss;
    const acts = this.acts!;
    const { B, T } = acts;
    const N = B * T;
    const { hiddenSize: C, vocabSize: V } = this.config;
    const dlogits = acts.logits; // (N, V) in place
    await crossentropyBackward(rt, dlogits, acts.labels!, acts.logitsLse, loss, B, T, V);
    await loraLinearBackward(
      rt,
      acts.dln,
      dw?.lmHead ?? null,
      null,
      dlogits,
      null,
      acts.lnf,
      this.weights.lmHead,
      null,
      N,
      C,
      V,
      { dinp: true, weights: true },
    );
    await fillZero(rt, acts.dres);
    const last = acts.residual[this.keptLayers.length];
    await rmsnormBackward(
      rt,
      acts.dres,
      dw?.finalNorm ?? null,
      acts.dln,
      last,
      this.weights.finalNorm,
      acts.lnfRstd,
      N,
      C,
      false,
    );
    for (let k = this.keptLayers.length - 1; k >= 0; k--) await this.layerBackward(k);
    if (dw !== null) await embeddingBackward(rt, dw.embed, acts.dres, acts.tokens!, N, C);
    return loss;
  }

  /** Releases every buffer of this variant. */
  dispose(): void {
    this.actGroup.release();
    this.loraGroup.release();
    this.baseGroup.release();
    this.rt.arena.release('act/rope/cos');
    this.rt.arena.release('act/rope/sin');
    this.rt.arena.release('act/tokens');
    this.rt.arena.release('act/labels');
    this.acts = null;
    this.lora = null;
  }
}
