// The tensor type shared by every module: a row-major float array and its shape.

/** Float32 for training; Float64 for the gradient-check path of the CPU reference engine. */
export type FloatArray = Float32Array | Float64Array;

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
