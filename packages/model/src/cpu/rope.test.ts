import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { dot, gradCheck, gradTolerance, randomArray } from './gradcheck';
import { ropeBackward, ropeForward, ropeTables } from './rope';

const B = 2;
const T = 5;
const H = 3;
const HS = 8;
const theta = 10000;

function tables() {
  const cos = new Float64Array((T * HS) / 2);
  const sin = new Float64Array((T * HS) / 2);
  ropeTables(cos, sin, T, HS, theta);
  return { cos, sin };
}

describe('rope', () => {
  it('forward is HF q * cos + rotate_half(q) * sin with cos/sin = cat(freqs, freqs)', () => {
    const { cos, sin } = tables();
    const x = randomArray(B * T * H * HS, new Rng(2)); // (B, T, H, HS)
    const y = Float64Array.from(x);
    ropeForward(y, cos, sin, B, T, H, HS);
    let maxDiff = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < H; h++) {
          const head = ((b * T + t) * H + h) * HS;
          const q = Array.from(x.subarray(head, head + HS));
          const invFreq = Array.from({ length: HS / 2 }, (_, i) => 1 / theta ** ((2 * i) / HS));
          const emb = [...invFreq, ...invFreq].map((f) => t * f); // torch.cat((freqs, freqs), -1)
          const rotateHalf = [...q.slice(HS / 2).map((v) => -v), ...q.slice(0, HS / 2)];
          q.forEach((v, d) => {
            const expected = v * Math.cos(emb[d]) + rotateHalf[d] * Math.sin(emb[d]);
            maxDiff = Math.max(maxDiff, Math.abs(y[head + d] - expected));
          });
        }
      }
    }
    expect(maxDiff).toBeLessThan(1e-12);
  });

  it('position 0 is the identity', () => {
    const { cos, sin } = tables();
    const x = randomArray(HS, new Rng(3));
    const y = Float64Array.from(x);
    ropeForward(y, cos, sin, 1, 1, 1, HS);
    expect([...y]).toEqual([...x]);
  });

  it(`dx matches central differences (f64, error <= ${gradTolerance})`, () => {
    const { cos, sin } = tables();
    const rng = new Rng(4);
    const x = randomArray(B * T * H * HS, rng);
    const probe = randomArray(x.length, rng);
    const y = new Float64Array(x.length);
    const loss = () => {
      y.set(x);
      ropeForward(y, cos, sin, B, T, H, HS);
      return dot(y, probe);
    };
    const dx = Float64Array.from(probe);
    ropeBackward(dx, cos, sin, B, T, H, HS);
    const { maxError, report } = gradCheck(dx, x, loss);
    expect(maxError, report).toBeLessThanOrEqual(gradTolerance);
  });
});
