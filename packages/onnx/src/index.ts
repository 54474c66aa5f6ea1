// @prufed/onnx: ONNX export of pruned LLaMA variants with merged LoRA adapters, a structural checker
// of the exported graphs, and inference with onnxruntime-web (Node-only helpers live in ./node).
export * from './check';
export * from './export';
export { decodeModel, encodeModel, type ModelProto } from './graph';
export * from './merge';
export * from './run';
