// Running an exported model to logits with either ONNX Runtime: onnxruntime-web (browsers: webgpu or
// wasm; in Node its wasm backend) or onnxruntime-node (see ./node). Both share onnxruntime-common's
// Tensor and InferenceSession, so one function serves both. Dimension letters: B batch, T tokens, V vocab.
import { FormatError, InputError, type Tensor } from '@prufed/model';
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
