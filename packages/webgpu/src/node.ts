// @prufed/webgpu/node: Node-only helpers (WebGPU through Dawn for tests, CLIs and benchmarks).
export * from './node-gpu';
