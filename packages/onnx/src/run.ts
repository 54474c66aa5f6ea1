// Running an exported model to logits with either ONNX Runtime: onnxruntime-web (browsers: webgpu or
// wasm; in Node its wasm backend) or onnxruntime-node (see ./node). Both share onnxruntime-common's
// Tensor and InferenceSession, so one function serves both. Dimension letters: B batch, T tokens, V vocab.
import { argmaxAllowed, FormatError, InputError, repeatedNgramBans, type Tensor } from '@prufed/model';
import type * as Ort from 'onnxruntime-web';
import { inputIdsName, logitsName } from './export';

/** The part of an ONNX Runtime module (onnxruntime-web or onnxruntime-node) that onnxLogits uses. */
export type OrtModule = Pick<typeof Ort, 'Tensor'>;
export type OrtSession = Ort.InferenceSession;

/** Session options for an exported model: every graph optimization, which runs ORT's full checks. */
export const sessionOptions = { graphOptimizationLevel: 'all' } as const;

/** Creates a session, turning ONNX Runtime's refusal of the model into a FormatError. */
export async function createSession(create: () => Promise<OrtSession>): Promise<OrtSession> {
  try {
    return await create();
  } catch (error) {
    throw new FormatError(
      `ONNX Runtime rejected the model (${(error as Error).message}); export it again with exportOnnx`,
    );
  }
}

/**
 * An onnxruntime-web session for `model` (the bytes of a .onnx file). In browsers pass
 * ['webgpu', 'wasm'] to prefer WebGPU; in Node only 'wasm' exists. numThreads sets the global
 * ort.env.wasm.numThreads (1 avoids worker threads).
 */
export async function createWebSession(
  model: Uint8Array,
  options: { executionProviders?: string[]; numThreads?: number } = {},
): Promise<OrtSession> {
  const ort = await import('onnxruntime-web');
  if (options.numThreads !== undefined) ort.env.wasm.numThreads = options.numThreads;
  return createSession(() =>
    ort.InferenceSession.create(model, {
      ...sessionOptions,
      executionProviders: options.executionProviders ?? ['wasm'],
    }),
  );
}

/** Logits (B, T, V) of token ids (B, T) from a session of an exported model. */
export async function onnxLogits(
  ort: OrtModule,
  session: OrtSession,
  inputIds: Int32Array,
  B: number,
  T: number,
): Promise<Tensor> {
  if (!Number.isSafeInteger(B) || B <= 0 || !Number.isSafeInteger(T) || T <= 0 || inputIds.length !== B * T) {
    throw new InputError(
      `input ids must hold B * T token ids for positive B and T, got ${inputIds.length} ids for B=${B}, T=${T}`,
    );
  }
  const negative = inputIds.findIndex((id) => id < 0);
  if (negative >= 0)
    throw new InputError(`input id ${inputIds[negative]} at ${negative} is negative; use token ids`);
  const ids = new ort.Tensor(
    'int64',
    BigInt64Array.from(inputIds, (id) => BigInt(id)),
    [B, T],
  );
  let outputs: Awaited<ReturnType<OrtSession['run']>>;
  try {
    outputs = await session.run({ [inputIdsName]: ids });
  } catch (error) {
    throw new InputError(
      `ONNX Runtime could not run the model on ${B} x ${T} token ids (${(error as Error).message}); ` +
        'keep T within the max_sequence_length the model was exported with and the ids below its vocabulary size',
    );
  }
  const logits = outputs[logitsName];
  if (logits === undefined || logits.type !== 'float32') {
    throw new FormatError(`the model has no float32 output "${logitsName}"; export it with exportOnnx`);
  }
  return { shape: [...logits.dims], data: logits.data as Float32Array };
}

/** Logits (B, T, V) of token ids (B, T): a session bound to the ONNX Runtime that runs it. */
export type LogitsFunction = (inputIds: Int32Array, B: number, T: number) => Promise<Tensor>;

/** Label value ignored by the loss (HF convention). */
const ignoredLabel = -100;

/**
 * Mean cross-entropy (nats) over the labelled targets of a batch, HF convention: labels (B, T) are
 * aligned with the inputs and the logits at t predict labels[t + 1]; -100 is masked. NaN without targets.
 */
export async function batchLoss(
  logits: LogitsFunction,
  batch: { batchSize: number; seqLen: number; inputIds: Int32Array; labels: Int32Array },
): Promise<{ loss: number; tokens: number }> {
  const { batchSize: B, seqLen: T, labels } = batch;
  if (labels.length !== B * T) {
    throw new InputError(`labels must hold B * T = ${B * T} values (-100 = masked), got ${labels.length}`);
  }
  const out = await logits(batch.inputIds, B, T); // (B, T, V)
  const V = out.shape[2];
  let sum = 0;
  let tokens = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const target = labels[b * T + t + 1];
      if (target === ignoredLabel) continue;
      if (!Number.isInteger(target) || target < 0 || target >= V) {
        throw new InputError(`labels[${b * T + t + 1}] = ${target} must be -100 or a token id in [0, ${V})`);
      }
      const row = out.data.subarray((b * T + t) * V, (b * T + t + 1) * V); // (V)
      let max = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < V; v++) max = Math.max(max, row[v]);
      let expSum = 0;
      for (let v = 0; v < V; v++) expSum += Math.exp(row[v] - max);
      sum += Math.log(expSum) + max - row[target];
      tokens++;
    }
  }
  return { loss: tokens === 0 ? Number.NaN : sum / tokens, tokens };
}

export interface GreedyOptions {
  maxNewTokens: number;
  eosId: number;
  /** Fills the rows of shorter sequences; causal attention keeps it from touching the real tokens. */
  padId: number;
  /** Longest sequence, prompt included (the model's max_sequence_length). */
  maxLength: number;
  /** Never repeat an n-gram of an answer (Hugging Face's no_repeat_ngram_size); 0 or absent: off. */
  noRepeatNgram?: number;
  /** Called with each new token as it is chosen (prompt index, token id), e.g. to stream text. */
  onToken?: (prompt: number, token: number) => void;
}

/**
 * Greedy decoding of several prompts together: each step runs the model once on the unfinished
 * sequences, right-padded to the longest (no KV cache; answers are short), and appends each one's
 * most likely next token (lowest id on ties) until eosId, maxNewTokens or maxLength. Right padding
 * is exact: under the causal mask a position never sees the padding after it. Returns the new
 * tokens of each prompt without the final eos.
 */
export async function greedyDecodeBatch(
  logits: LogitsFunction,
  prompts: readonly (readonly number[])[],
  options: GreedyOptions,
): Promise<number[][]> {
  const { maxNewTokens, eosId, padId, maxLength } = options;
  const empty = prompts.findIndex((prompt) => prompt.length === 0);
  if (empty >= 0) throw new InputError(`prompt ${empty} has no tokens; give every prompt at least one`);
  const sequences = prompts.map((prompt) => [...prompt]);
  const generated = prompts.map((): number[] => []);
  const finished = prompts.map(() => false);
  for (let step = 0; step < maxNewTokens; step++) {
    const active = sequences.flatMap((ids, i) => (!finished[i] && ids.length < maxLength ? [i] : []));
    if (active.length === 0) break;
    const B = active.length;
    const T = Math.max(...active.map((i) => sequences[i].length));
    const inputIds = new Int32Array(B * T).fill(padId); // (B, T)
    for (const [b, i] of active.entries()) inputIds.set(sequences[i], b * T);
    const out = await logits(inputIds, B, T); // (B, T, V)
    const V = out.shape[2];
    active.forEach((i, b) => {
      const last = out.data.subarray(
        (b * T + sequences[i].length - 1) * V,
        (b * T + sequences[i].length) * V,
      ); // (V)
      const next = argmaxAllowed(last, repeatedNgramBans(generated[i], options.noRepeatNgram ?? 0));
      if (next < 0 || next === eosId) {
        finished[i] = true;
        return;
      }
      sequences[i].push(next);
      generated[i].push(next);
      options.onToken?.(i, next);
    });
  }
  return generated;
}
