// Seeded pseudo-random numbers for initialisers, sampling and tests: xoshiro128** seeded through
// splitmix32, so the same seed gives the same numbers on every engine and platform.
import { InputError } from './errors';

function splitmix32(state: number): [next: number, output: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a hash of a string's UTF-16 code units. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** Second value of the last Box-Muller pair, returned by the next normal(). */
  private spare: number | null = null;
  /** The seed folded to 32 bits, from which forks derive. */
  private readonly seedWord: number;

  /** seed: any safe integer; streams of different seeds are independent. */
  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new InputError(`random seed must be a safe integer, got ${seed}; pass e.g. 0 or 1234`);
    }
    this.seedWord = ((seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) | 0, 0x9e3779b1)) >>> 0;
    let state = this.seedWord;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, output] = splitmix32(state);
      state = next;
      words.push(output);
    }
    this.setState(words);
  }

  /** A generator with the raw xoshiro128** state (four uint32, not all zero), e.g. to check reference outputs. */
  static fromState(state: readonly number[]): Rng {
    if (state.length !== 4 || state.every((w) => w >>> 0 === 0)) {
      throw new InputError('xoshiro128** state must be four uint32 words, not all zero');
    }
    const rng = new Rng(0);
    rng.setState(state);
    return rng;
  }

  private setState(state: readonly number[]): void {
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w >>> 0);
    this.spare = null;
  }

  /** Next uint32 of xoshiro128**. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 0x100000000;
  }

  /** Standard normal N(0, 1) by Box-Muller; the pair's second value serves the next call. */
  normal(): number {
    if (this.spare !== null) {
      const value = this.spare;
      this.spare = null;
      return value;
    }
    const u1 = 1 - this.uniform(); // (0, 1], so log(u1) is finite
    const u2 = this.uniform();
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.spare = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }

  /**
   * An independent stream named by `label`, derived from this generator's seed only: it does not
   * depend on how many numbers were drawn before, so e.g. each tensor's init is order-independent.
   */
  fork(label: string): Rng {
    const [, output] = splitmix32(this.seedWord ^ hashLabel(label));
    return new Rng(output);
  }
}
