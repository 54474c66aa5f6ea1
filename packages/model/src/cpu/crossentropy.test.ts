import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { crossentropyBackward, crossentropyForward } from './crossentropy';
import { gradCheck, gradTolerance, randomArray } from './gradcheck';

describe('cross-entropy (HF shift, -100 masked)', () => {
  it('position t predicts labels[t + 1]; masked targets and the last position are skipped', () => {
    // B = 1, T = 3, V = 2. Targets: position 0 -> labels[1] = 1, position 1 -> labels[2] = -100.
    const logits = new Float64Array([0, 2, 5, 5, 9, -9]);
    const labels = new Int32Array([0, 1, -100]);
    const { loss, tokens } = crossentropyForward(logits, labels, 1, 3, 2);
    expect(tokens).toBe(1);
    expect(loss).toBeCloseTo(Math.log(1 + Math.exp(2)) - 2, 14); // -log softmax([0, 2])[1]
  });

  it('loss is the mean over unmasked targets across rows', () => {
    // B = 2, T = 2, V = 2: row 0 target 0 at position 0, row 1 target 1 at position 0.
    const logits = new Float64Array([1, 0, 7, 7, 0, 0, 7, 7]);
    const labels = new Int32Array([-100, 0, 3, 1]);
    const { loss, tokens } = crossentropyForward(logits, labels, 2, 2, 2);
    expect(tokens).toBe(2);
    expect(loss).toBeCloseTo((Math.log(1 + Math.exp(-1)) + Math.log(2)) / 2, 14);
  });

  it('no unmasked target gives loss NaN and zero gradients', () => {
    const logits = new Float64Array([1, 2, 3, 4]);
    const labels = new Int32Array([5, -100]);
    const { loss, tokens } = crossentropyForward(logits, labels, 1, 2, 2);
    expect(tokens).toBe(0);
    expect(loss).toBeNaN();
    const dlogits = new Float64Array(4).fill(7);
    crossentropyBackward(dlogits, logits, labels, 1, 2, 2, tokens);
    expect([...dlogits]).toEqual([0, 0, 0, 0]);
  });

  it(`dlogits matches central differences with masking and padding, also in place (f64, error <= ${gradTolerance})`, () => {
    const B = 2;
    const T = 4;
    const V = 5;
    const logits = randomArray(B * T * V, new Rng(10), 2); // (B, T, V)
    const labels = new Int32Array([3, 1, -100, 4, 0, 2, -100, -100]); // row 1 ends in padding
    const loss = () => crossentropyForward(logits, labels, B, T, V).loss;
    const { tokens } = crossentropyForward(logits, labels, B, T, V);
    expect(tokens).toBe(3);
    const dlogits = new Float64Array(B * T * V);
    crossentropyBackward(dlogits, logits, labels, B, T, V, tokens);
    const { maxError, report } = gradCheck(dlogits, logits, loss);
    expect(maxError, report).toBeLessThanOrEqual(gradTolerance);
    const inPlace = Float64Array.from(logits);
    crossentropyBackward(inPlace, inPlace, labels, B, T, V, tokens);
    expect([...inPlace]).toEqual([...dlogits]);
  });
});
