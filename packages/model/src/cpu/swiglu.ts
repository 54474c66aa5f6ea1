// The LLaMA MLP's gated activation: out = silu(gate) * up, silu(g) = g * sigmoid(g). n = N * F.
import type { FloatArray } from '../tensor';

/** out, gate, up (N, F). */
export function swigluForward(out: FloatArray, gate: FloatArray, up: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    out[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}

/** Backward (accumulates): dgate += dout * up * silu'(gate), dup += dout * silu(gate). */
export function swigluBackward(
  dgate: FloatArray,
  dup: FloatArray,
  dout: FloatArray,
  gate: FloatArray,
  up: FloatArray,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const sig = 1 / (1 + Math.exp(-g));
    dgate[i] += dout[i] * up[i] * sig * (1 + g * (1 - sig));
    dup[i] += dout[i] * g * sig;
  }
}
