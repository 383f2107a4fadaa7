/** The arrays a test rank contributes, generated the same way in the rank and in the test that checks it. */

/** integer-valued floats (sums stay exact in float32) */
export function intData(rank: number, length: number, salt = 0): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = ((i * 7 + rank * 13 + salt) % 61) - 30 + rank;
  return a;
}

/** uniform floats in [-1, 1) from a per-rank seed (mulberry32) */
export function randomData(rank: number, length: number, salt = 0): Float32Array {
  let s = (rank * 0x9e3779b1 + salt * 0x85ebca6b + 1) >>> 0;
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    a[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return a;
}

export function toBase64(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

export function fromBase64(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.length / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}
