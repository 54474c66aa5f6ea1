// @prufed/webgpu: the WebGPU training engine (isomorphic: browsers, workers, and Node via ./node).
export * from './autotune';
export * from './buffer-arena';
export * from './gpu-device';
export * from './matmul';
export * from './pipeline-cache';
export * from './program';
export * from './rmsnorm';
export * from './runtime';
