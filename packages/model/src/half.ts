// Half-precision conversions for checkpoints stored as float16 or bfloat16: IEEE binary16 <-> float32
// (round to nearest, ties to even; subnormals, infinities and NaN kept) and bfloat16 -> float32.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The float32 value of a binary16 bit pattern (exact: every half is a float). */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero or subnormal
  if (exponent === 0x1f) {
    if (mantissa === 0) return sign * Number.POSITIVE_INFINITY;
    // Keep sign and payload: bit-for-bit the float32 NaN that widening the half gives.
    scratchU32[0] = ((bits & 0x8000) << 16) | 0x7f800000 | (mantissa << 13);
    return scratchF32[0];
  }
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** The binary16 bit pattern nearest to `value` (first rounded to float32), ties to even. */
export function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff; // biased by 127
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    // Infinity, or NaN kept quiet (and non-zero) whatever its payload.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const halfExponent = exponent - 112; // rebiased by 15
  if (halfExponent >= 0x1f) return sign | 0x7c00; // overflow rounds to infinity
  if (halfExponent > 0) {
    // Normal half: drop 13 mantissa bits; a carry out of the mantissa correctly bumps the exponent.
    const half = sign | (halfExponent << 10) | (mantissa >>> 13);
    return half + roundUp(mantissa, 13, half);
  }
  // Subnormal half (value = m * 2^-24): shift the full 24-bit significand right by 14 - halfExponent.
  const shift = 14 - halfExponent;
  if (shift > 25) return sign; // below half the smallest subnormal: rounds to zero
  const significand = mantissa | 0x800000;
  const half = significand >>> shift;
  return sign | (half + roundUp(significand, shift, half));
}

/** 1 when the `shift` low bits dropped from `bits` round the kept value `kept` up (ties to even). */
function roundUp(bits: number, shift: number, kept: number): number {
  const dropped = bits & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return dropped > halfway || (dropped === halfway && (kept & 1) === 1) ? 1 : 0;
}

/** The float32 value of a bfloat16 bit pattern (the top 16 bits of a float32). */
export function bfloat16BitsToFloat32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

// All 65536 halves widened once (256 KiB), so decoding a checkpoint is one lookup per element.
let float16Table: Float32Array | undefined;

export function float16ToFloat32Array(bits: Uint16Array): Float32Array {
  if (float16Table === undefined) {
    float16Table = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) float16Table[h] = float16BitsToFloat32(h);
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16Table[bits[i]];
  return out;
}

export function float32ToFloat16Array(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
  return out;
}

export function bfloat16ToFloat32Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}
