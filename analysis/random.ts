// Seeded randomness for the report's resampling, subsampling and cross-validation folds: the same seed gives the
// same numbers on every machine (xoshiro128** on 32-bit integer arithmetic; no Math.random).
import { logGamma } from "./distributions.ts";

/** MurmurHash3's 32-bit finalizer: a bijection of uint32 that mixes every input bit into every output bit. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A 32-bit hash of a row index (an integer below 2^53) under a seed, e.g. to put rows in folds. */
export function hashIndex(index: number, seed: number): number {
  const low = index >>> 0, high = Math.floor(index / 0x100000000) >>> 0;
  return mix32(mix32(low ^ mix32(seed >>> 0)) ^ Math.imul(high, 0x9e3779b9) ^ 0x6a09e667);
}

/** xoshiro128** (Blackman & Vigna), seeded through splitmix32 so that nearby seeds give unrelated streams. */
export class Rng {
  // The state is kept as int32 (| 0): values above 2^31 would be boxed doubles, 4× slower to update.
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator seeded with `seed` (its low 32 bits). */
  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      return mix32(s) | 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1; // the state must not be all zero
  }

  /** A generator in the given state (not all zero), to check the stream against the reference's. */
  static fromState(a: number, b: number, c: number, d: number): Rng {
    const rng = new Rng(0);
    [rng.a, rng.b, rng.c, rng.d] = [a | 0, b | 0, c | 0, d | 0];
    return rng;
  }

  /** A uniform uint32. */
  nextUint32(): number {
    const b = this.b, result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0, t = b << 9;
    this.c ^= this.a;
    this.d ^= b;
    this.b = b ^ this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextUint32() >>> 5) * 67108864 + (this.nextUint32() >>> 6)) / 9007199254740992;
  }

  /** A Poisson(lambda) draw: inversion below lambda 10, Hörmann's PTRS transformed rejection above. */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    return lambda < 10 ? this.poissonInversion(lambda) : this.poissonRejection(lambda);
  }

  /** Inversion by sequential search (a few steps for lambda < 10); e^-lambda from a table for counts. */
  private poissonInversion(lambda: number): number {
    let k = 0, p = Number.isInteger(lambda) ? EXP_NEG[lambda] : Math.exp(-lambda), sum = p;
    const u = this.uniform();
    while (u > sum && p > 0) {
      k++;
      p *= lambda / k;
      sum += p;
    }
    return k;
  }

  /** Hörmann's PTRS transformed rejection, for lambda ≥ 10. */
  private poissonRejection(lambda: number): number {
    const slam = Math.sqrt(lambda), loglam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b, invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.uniform() - 0.5, v = this.uniform(), us = 0.5 - Math.abs(u);
      const k = Math.floor((2 * a / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (
        Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <=
          -lambda + k * loglam - logGamma(k + 1)
      ) return k;
    }
  }
}

const EXP_NEG = Float64Array.from({ length: 10 }, (_, k) => Math.exp(-k));

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));
