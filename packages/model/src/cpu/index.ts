// The CPU reference engine: layer kernels (forward and backward side by side), the whole model,
// AdamW, and the TrainingEngine over them; the parameter and activation tables the WebGPU engine shares.
export {
  type LayerActivations,
  type StepActivations,
  stepActivations,
} from './activations';
export { adamwUpdate, assertAdamWConfig, clipCoefficient, sumOfSquares } from './adamw';
export { attentionBackward, attentionForward } from './attention';
export { crossentropyBackward, crossentropyForward } from './crossentropy';
export { embeddingBackward, embeddingForward } from './embedding';
export { CpuEngine, type CpuEngineOptions, createCpuEngine } from './engine';
export {
  type LoraLinearWeights,
  loraLinearBackward,
  loraLinearForward,
  matmulBackward,
  matmulForward,
} from './linear';
export { CpuModel, type CpuPrecision, checkBatch, checkLabels, checkVariant } from './model';
export { type LayerParams, type ModelParams, modelParams, type ParamEntry, paramTable } from './params';
export { rmsnormBackward, rmsnormForward } from './rmsnorm';
export { ropeBackward, ropeForward, ropeTables } from './rope';
export { swigluBackward, swigluForward } from './swiglu';
