// Node-only ONNX helpers: an onnxruntime-node session (CPU execution provider) for server-side
// evaluation and tests. Loading with graph optimization level 'all' runs ONNX Runtime's shape
// inference and opset validation over the whole graph, so a model that loads has passed them.
import type { Tensor } from '@prufed/model';
import * as ort from 'onnxruntime-node';
import { createSession, type OrtSession, onnxLogits, sessionOptions } from './run';

/** An onnxruntime-node CPU session for `model` (the bytes of a .onnx file); FormatError if ORT rejects it. */
export function createNodeSession(model: Uint8Array): Promise<OrtSession> {
  return createSession(() =>
    ort.InferenceSession.create(model, { ...sessionOptions, executionProviders: ['cpu'] }),
  );
}

/** Logits (B, T, V) of token ids (B, T) from an onnxruntime-node session. */
export function onnxLogitsNode(
  session: OrtSession,
  inputIds: Int32Array,
  B: number,
  T: number,
): Promise<Tensor> {
  return onnxLogits(ort, session, inputIds, B, T);
}
