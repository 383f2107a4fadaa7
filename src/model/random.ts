/**
 * Small deterministic PRNG used for weight initialisation and dropout masks, so that a
 * seed gives the same model on every backend and in every process.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // splitmix32 of the seed, so nearby seeds give unrelated streams
    let z = (seed | 0) + 0x9e3779b9;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.state = (z ^ (z >>> 16)) | 0 || 0x6d2b79f5;
  }

  /** next unsigned 32-bit integer (xorshift32) */
  nextUint32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return x >>> 0;
  }

  /** uniform in [0, 1) */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** standard normal (Box–Muller) */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** normal truncated at ±2 standard deviations (resampled), as TF's truncated_normal */
  truncatedNormal(): number {
    for (;;) {
      const z = this.normal();
      if (z > -2 && z < 2) return z;
    }
  }
}

/**
 * He-normal values (TF 1.x `he_normal`: truncated normal, stddev sqrt(2 / fan_in)).
 */
export function heNormalValues(count: number, fanIn: number, rng: Rng): Float32Array {
  const std = Math.sqrt(2 / fanIn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.truncatedNormal() * std;
  return out;
}

/**
 * A dropout mask with entries 1/keep (kept) or 0 (dropped), as tf.nn.dropout scales.
 * Written directly from the integer stream: much cheaper than tf.randomUniform + compare.
 */
export function dropoutMask(count: number, keep: number, rng: Rng): Float32Array {
  const out = new Float32Array(count);
  const threshold = keep * 4294967296;
  const scale = 1 / keep;
  for (let i = 0; i < count; i++) out[i] = rng.nextUint32() < threshold ? scale : 0;
  return out;
}
