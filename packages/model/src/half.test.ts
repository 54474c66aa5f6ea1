import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  bfloat16ToFloat32Array,
  float16BitsToFloat32,
  float16ToFloat32Array,
  float32ToFloat16Array,
  float32ToFloat16Bits,
} from './half';

// Bit patterns from the IEEE 754 binary16 and bfloat16 definitions.
const knownHalves: [number, number][] = [
  [0x0000, 0],
  [0x3c00, 1],
  [0xc000, -2],
  [0x3555, 0.333251953125],
  [0x3bff, 0.99951171875],
  [0x2e66, 0.0999755859375],
  [0x7bff, 65504],
  [0x0400, 2 ** -14],
  [0x0001, 2 ** -24],
  [0x03ff, 1023 * 2 ** -24],
  [0x8001, -(2 ** -24)],
  [0x7c00, Number.POSITIVE_INFINITY],
  [0xfc00, Number.NEGATIVE_INFINITY],
];

describe('float16 -> float32', () => {
  it('decodes known bit patterns', () => {
    for (const [bits, value] of knownHalves)
      expect(float16BitsToFloat32(bits), `0x${bits.toString(16)}`).toBe(value);
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(float16BitsToFloat32(0x7e00)).toBeNaN();
    expect(float16BitsToFloat32(0xfc01)).toBeNaN();
  });

  it('the array version matches the scalar one for all 65536 patterns', () => {
    const all = new Uint16Array(0x10000).map((_, i) => i);
    const out = float16ToFloat32Array(all);
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) if (!Object.is(out[h], float16BitsToFloat32(h))) mismatches.push(h);
    expect(mismatches).toEqual([]);
  });
});

describe('float32 -> float16', () => {
  it('encodes known values', () => {
    for (const [bits, value] of knownHalves) expect(float32ToFloat16Bits(value), `${value}`).toBe(bits);
    expect(float32ToFloat16Bits(0.1)).toBe(0x2e66);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(float32ToFloat16Bits(1e-10)).toBe(0x0000);
    expect(float32ToFloat16Bits(-1e-10)).toBe(0x8000);
    expect(float32ToFloat16Bits(1e-40)).toBe(0x0000); // float32 subnormal
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-1e6)).toBe(0xfc00);
  });

  it('rounds ties to even, in normals, subnormals and at overflow', () => {
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie between 0x3c00 and 0x3c01
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between 0x3c01 and 0x3c02
    expect(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(float32ToFloat16Bits(2 ** -25 * (1 + 2 ** -10))).toBe(0x0001);
    expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(0x0002);
    expect(float32ToFloat16Bits(1023.5 * 2 ** -24)).toBe(0x0400); // largest subnormal rounds into normals
    expect(float32ToFloat16Bits(65519.99)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // tie between 65504 and 2^16 goes to infinity
  });

  it('keeps NaN a NaN', () => {
    for (const nan of [Number.NaN, -Number.NaN]) {
      const bits = float32ToFloat16Bits(nan);
      expect(bits & 0x7c00).toBe(0x7c00);
      expect(bits & 0x3ff).not.toBe(0);
    }
  });

  it('round-trips every finite half exactly', () => {
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) !== 0x7c00 && float32ToFloat16Bits(float16BitsToFloat32(h)) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
  });

  it('agrees with a brute-force nearest-half search on random values', () => {
    // Reference: the positive finite halves in order, searched for the nearest (ties to the even pattern).
    const halves = Array.from({ length: 0x7c00 }, (_, h) => float16BitsToFloat32(h));
    const nearest = (x: number): number => {
      let lo = 0;
      let hi = halves.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (halves[mid] <= x) lo = mid;
        else hi = mid;
      }
      const dLo = x - halves[lo];
      const dHi = halves[hi] - x;
      if (dLo < dHi) return lo;
      if (dHi < dLo) return hi;
      return lo % 2 === 0 ? lo : hi;
    };
    // Deterministic values spread over magnitudes 2^-27 .. 2^14 (subnormal to normal halves).
    const values = new Float32Array(3000);
    for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 12.9898) * 2 ** ((i % 41) - 27);
    const encoded = float32ToFloat16Array(values);
    const mismatches: string[] = [];
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      const expected = (x < 0 ? 0x8000 : 0) | nearest(Math.abs(x));
      if (encoded[i] !== expected)
        mismatches.push(`x=${x}: got 0x${encoded[i].toString(16)}, want 0x${expected.toString(16)}`);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('bfloat16 -> float32', () => {
  it('decodes known bit patterns', () => {
    const known: [number, number][] = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x4049, 3.140625],
      [0x0001, 2 ** -133],
      [0x7f80, Number.POSITIVE_INFINITY],
      [0xff80, Number.NEGATIVE_INFINITY],
    ];
    for (const [bits, value] of known) expect(bfloat16BitsToFloat32(bits)).toBe(value);
    expect(bfloat16BitsToFloat32(0x7fc0)).toBeNaN();
    expect(Array.from(bfloat16ToFloat32Array(new Uint16Array(known.map(([b]) => b))))).toEqual(
      known.map(([, v]) => v),
    );
  });
});
