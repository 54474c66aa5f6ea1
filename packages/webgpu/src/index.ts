// @prufed/webgpu: the WebGPU training engine (isomorphic: browsers, workers, and Node via ./node).

export * from './adamw';
export * from './attention';
export * from './autotune';
export * from './buffer-arena';
export * from './capability/index';
export * from './crossentropy';
export * from './elementwise';
export * from './embedding';
export * from './engine/engine';
export * from './gpu-device';
export * from './lora-linear';
export * from './matmul';
export * from './pipeline-cache';
export * from './program';
export * from './residual';
export * from './rmsnorm';
export * from './rope';
export * from './runtime';
export * from './swiglu';
