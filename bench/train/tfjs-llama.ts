// The same LLaMA + LoRA training step as PruFed's engines, written in TensorFlow.js for the
// benchmark's baselines (webgpu and wasm backends): RMSNorm, RoPE (rotate-half), causal GQA
// attention, SwiGLU, LoRA on every target projection over frozen base weights (tf.tensor
// constants), masked cross-entropy (HF shift: position t predicts labels[t + 1]), gradients by
// tf.variableGrads, global-norm clipping as clip_grad_norm_, and AdamW = decoupled weight decay
// (p *= 1 - lr wd) followed by tf.train.adam, which is torch's AdamW update exactly.
// The caller picks the backend (tf.setBackend) and imports tfjs-core's gradients once.
// Dimension letters: B batch, T tokens, N = B * T rows, C hidden, NH heads, NKV kv-heads, HS head
// size, F ffn, V vocab, R LoRA rank.

import { type LoraModule, loraKey, loraModules, loraParent, ropeTables } from '@prufed/model';
import * as tf from '@tensorflow/tfjs-core';
import type { BenchCase } from './case';

interface LoraVars {
  A: tf.Variable; // (R, IN)
  B: tf.Variable; // (OUT, R)
}

interface LayerTensors {
  inputNorm: tf.Tensor1D; // (C)
  postNorm: tf.Tensor1D; // (C)
  proj: Map<LoraModule, tf.Tensor2D>; // (OUT, IN)
  lora: Map<LoraModule, LoraVars>;
}

export interface TfjsStepResult {
  loss: number;
  gradNorm: number;
}

export interface TfjsTrainer {
  step(): Promise<TfjsStepResult>;
  /** The adapter's current values, keyed by loraKey, for parity tests. */
  readAdapter(): Promise<Map<string, { A: Float32Array; B: Float32Array }>>;
  dispose(): void;
}

/** Builds the constants and variables of a case on the current backend; each step() trains once on its batch. */
export function createTfjsTrainer(c: BenchCase): TfjsTrainer {
  const { config, batch, optimizer, adapter } = c;
  const B = batch.batchSize;
  const T = batch.seqLen;
  const N = B * T;
  const NH = config.numAttentionHeads;
  const NKV = config.numKeyValueHeads;
  const HS = config.headDim;
  const V = config.vocabSize;
  const eps = config.rmsNormEps;
  const scale = adapter.config.alpha / adapter.config.r;
  const targets = new Set(adapter.config.targetModules);
  const weight = (name: string) => {
    const tensor = c.weights.tensors.get(name)!;
    return tf.tensor(tensor.data, tensor.shape);
  };

  const embed = weight('model.embed_tokens.weight') as tf.Tensor2D; // (V, C)
  const lmHead = config.tieWordEmbeddings ? embed : (weight('lm_head.weight') as tf.Tensor2D); // (V, C)
  const finalNorm = weight('model.norm.weight') as tf.Tensor1D; // (C)
  const variables: tf.Variable[] = [];
  const layers: LayerTensors[] = c.keptLayers.map((layer) => {
    const prefix = `model.layers.${layer}`;
    const proj = new Map<LoraModule, tf.Tensor2D>();
    const lora = new Map<LoraModule, LoraVars>();
    for (const module of loraModules) {
      proj.set(module, weight(`${prefix}.${loraParent(module)}.${module}.weight`) as tf.Tensor2D);
      if (!targets.has(module)) continue;
      const pair = adapter.weights.get(loraKey(layer, module))!;
      const vars = {
        A: tf.variable(
          tf.tensor2d(pair.A.data, pair.A.shape as [number, number]),
          true,
          `${layer}.${module}.A`,
        ),
        B: tf.variable(
          tf.tensor2d(pair.B.data, pair.B.shape as [number, number]),
          true,
          `${layer}.${module}.B`,
        ),
      };
      variables.push(vars.A, vars.B);
      lora.set(module, vars);
    }
    return {
      inputNorm: weight(`${prefix}.input_layernorm.weight`) as tf.Tensor1D,
      postNorm: weight(`${prefix}.post_attention_layernorm.weight`) as tf.Tensor1D,
      proj,
      lora,
    };
  });

  // RoPE tables widened to (T, HS): both halves of a head share pair i's angle.
  const half = HS / 2;
  const cosHalf = new Float32Array(T * half);
  const sinHalf = new Float32Array(T * half);
  ropeTables(cosHalf, sinHalf, T, HS, config.ropeTheta);
  const cos = tf.concat([tf.tensor2d(cosHalf, [T, half]), tf.tensor2d(cosHalf, [T, half])], 1); // (T, HS)
  const sin = tf.concat([tf.tensor2d(sinHalf, [T, half]), tf.tensor2d(sinHalf, [T, half])], 1); // (T, HS)
  const G = NH / NKV;
  const causal = new Float32Array(G * T * T); // (G T, T) additive mask, row g T + t for query t
  for (let g = 0; g < G; g++) {
    for (let t = 0; t < T; t++) for (let s = t + 1; s < T; s++) causal[(g * T + t) * T + s] = -1e9;
  }
  const mask = tf.tensor2d(causal, [G * T, T]);

  // Cross-entropy weights (N, V): onehot(target) / tokens on unmasked positions, so that
  // loss = -sum(weights * log_softmax(logits)).
  const lossWeights = new Float32Array(N * V);
  let tokens = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) if (batch.labels[b * T + t + 1] !== -100) tokens++;
  }
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const y = batch.labels[b * T + t + 1];
      if (y !== -100) lossWeights[(b * T + t) * V + y] = 1 / tokens;
    }
  }
  const ceWeights = tf.tensor2d(lossWeights, [N, V]);
  const ids = tf.tensor1d(batch.inputIds, 'int32'); // (N)

  const rmsnorm = (x: tf.Tensor, w: tf.Tensor1D): tf.Tensor =>
    tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);

  const linear = (x: tf.Tensor, layer: LayerTensors, module: LoraModule): tf.Tensor => {
    const y = tf.matMul(x, layer.proj.get(module)!, false, true); // (N, OUT)
    const lora = layer.lora.get(module);
    if (lora === undefined) return y;
    const u = tf.matMul(x, lora.A, false, true); // (N, R)
    return tf.add(y, tf.mul(tf.matMul(u, lora.B, false, true), scale));
  };

  /** (N, H HS) -> (B, H, T, HS), rotated by RoPE when rope. */
  const heads = (x: tf.Tensor, H: number, rope: boolean): tf.Tensor4D => {
    const h = tf.transpose(tf.reshape(x, [B, T, H, HS]), [0, 2, 1, 3]) as tf.Tensor4D;
    if (!rope) return h;
    const x1 = tf.slice(h, [0, 0, 0, 0], [B, H, T, half]);
    const x2 = tf.slice(h, [0, 0, 0, half], [B, H, T, half]);
    return tf.add(tf.mul(h, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin));
  };

  // GQA without copying k and v: query head h = kv G + g, so (B, NH, T, HS) viewed as
  // (B, NKV, G T, HS) puts every query of kv head kv in one row block against k, v (B, NKV, T, HS).
  const attention = (x: tf.Tensor, layer: LayerTensors): tf.Tensor => {
    const q = tf.reshape(heads(linear(x, layer, 'q_proj'), NH, true), [B, NKV, G * T, HS]); // (B, NKV, G T, HS)
    const k = heads(linear(x, layer, 'k_proj'), NKV, true); // (B, NKV, T, HS)
    const v = heads(linear(x, layer, 'v_proj'), NKV, false); // (B, NKV, T, HS)
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HS)), mask); // (B, NKV, G T, T)
    const y = tf.reshape(tf.matMul(tf.softmax(scores), v), [B, NH, T, HS]); // (B, NH, T, HS)
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [N, NH * HS]); // (N, NH HS)
    return linear(merged, layer, 'o_proj'); // (N, C)
  };

  const mlp = (x: tf.Tensor, layer: LayerTensors): tf.Tensor => {
    const gate = linear(x, layer, 'gate_proj'); // (N, F)
    const up = linear(x, layer, 'up_proj'); // (N, F)
    return linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), layer, 'down_proj'); // (N, C)
  };

  const lossOf = (): tf.Scalar => {
    let x = tf.gather(embed, ids); // (N, C)
    for (const layer of layers) {
      x = tf.add(x, attention(rmsnorm(x, layer.inputNorm), layer));
      x = tf.add(x, mlp(rmsnorm(x, layer.postNorm), layer));
    }
    const logits = tf.matMul(rmsnorm(x, finalNorm), lmHead, false, true); // (N, V)
    return tf.neg(tf.sum(tf.mul(ceWeights, tf.logSoftmax(logits)))) as tf.Scalar;
  };

  const adam = tf.train.adam(optimizer.lr, optimizer.beta1, optimizer.beta2, optimizer.eps);
  const decay = 1 - optimizer.lr * optimizer.weightDecay;

  return {
    async step() {
      const out = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(lossOf, variables);
        // Pairwise adds, not tf.addN: the webgpu backend binds every addN input as one storage
        // buffer, beyond the default limit of 8 per shader stage.
        const sumOfSquares = Object.values(grads).reduce<tf.Tensor>(
          (sum, g) => tf.add(sum, tf.sum(tf.square(g))),
          tf.scalar(0),
        );
        const gradNorm = tf.sqrt(sumOfSquares);
        const clip =
          optimizer.maxGradNorm === 0
            ? tf.scalar(1)
            : tf.minimum(1, tf.div(optimizer.maxGradNorm, tf.add(gradNorm, 1e-6)));
        const clipped = Object.entries(grads).map(([name, g]) => ({ name, tensor: tf.mul(g, clip) }));
        for (const variable of variables) variable.assign(tf.mul(variable, decay));
        adam.applyGradients(clipped);
        return tf.stack([value, gradNorm]);
      });
      const [loss, gradNorm] = await out.data();
      out.dispose();
      return { loss, gradNorm };
    },
    async readAdapter() {
      const result = new Map<string, { A: Float32Array; B: Float32Array }>();
      for (const [i, layer] of layers.entries()) {
        for (const [module, vars] of layer.lora) {
          result.set(loraKey(c.keptLayers[i], module), {
            A: (await vars.A.data()) as Float32Array,
            B: (await vars.B.data()) as Float32Array,
          });
        }
      }
      return result;
    },
    dispose() {
      adam.dispose();
      tf.dispose([embed, lmHead, finalNorm, cos, sin, mask, ceWeights, ids, ...variables]);
      for (const layer of layers) tf.dispose([layer.inputNorm, layer.postNorm, ...layer.proj.values()]);
    },
  };
}
