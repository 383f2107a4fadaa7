/**
 * HMAC-SHA256 in plain JavaScript for small messages, bit-for-bit the same as
 * node:crypto's. Why: a lone task's messages are a few hundred bytes, and on a
 * CPU whose caches went cold while the process slept, creating a native Hmac
 * object costs ~15-20 µs of the ~30 µs a signature takes; this path, with the
 * key's inner and outer pad states computed once, takes ~14 µs. Large messages
 * (SHA extensions make OpenSSL much faster per byte) stay native; see signing.ts.
 */

// SHA-256 round constants and initial hash value (FIPS 180-4, 4.2.2 and 5.3.3).
const ROUND = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const BLOCK = 64;

const schedule = new Int32Array(64);
const tail = new Uint8Array(BLOCK);

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

/** Absorb one 64-byte block of `bytes` at `offset` into `state`. */
function compress(state: Int32Array, bytes: Uint8Array, offset: number): void {
  const w = schedule;
  for (let i = 0; i < 16; i++) {
    const j = offset + 4 * i;
    w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15];
    const y = w[i - 2];
    const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
    const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + ROUND[i] + w[i]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

/** SHA-256 of the concatenated `parts`, continuing from `start`, which has absorbed `absorbed` bytes (a multiple of 64). */
function digestFrom(start: Int32Array, absorbed: number, parts: Uint8Array[]): Buffer {
  const state = Int32Array.from(start);
  let filled = 0;
  let total = absorbed;
  for (const part of parts) {
    total += part.length;
    let i = 0;
    if (filled > 0) {
      const n = Math.min(BLOCK - filled, part.length);
      tail.set(part.subarray(0, n), filled);
      filled += n;
      i = n;
      if (filled === BLOCK) {
        compress(state, tail, 0);
        filled = 0;
      }
    }
    for (; i + BLOCK <= part.length; i += BLOCK) compress(state, part, i);
    if (i < part.length) {
      tail.set(part.subarray(i), 0);
      filled = part.length - i;
    }
  }
  tail[filled++] = 0x80;
  if (filled > BLOCK - 8) {
    tail.fill(0, filled);
    compress(state, tail, 0);
    filled = 0;
  }
  tail.fill(0, filled, BLOCK - 8);
  const bits = total * 8;
  const high = Math.floor(bits / 0x1_0000_0000);
  const low = bits >>> 0;
  for (let i = 0; i < 4; i++) {
    tail[BLOCK - 8 + i] = (high >>> (24 - 8 * i)) & 0xff;
    tail[BLOCK - 4 + i] = (low >>> (24 - 8 * i)) & 0xff;
  }
  compress(state, tail, 0);
  const out = Buffer.allocUnsafe(32);
  for (let i = 0; i < 8; i++) out.writeInt32BE(state[i], 4 * i);
  return out;
}

/** The key's HMAC pad states: SHA-256 after absorbing key XOR ipad, and key XOR opad. */
export interface HmacKeyState {
  inner: Int32Array;
  outer: Int32Array;
}

/** `key` must be at most 64 bytes (longer HMAC keys are hashed first; cluster keys are 64 hex characters). */
export function hmacKeyState(key: Uint8Array): HmacKeyState {
  if (key.length > BLOCK) throw new RangeError(`hmacKeyState: key of ${key.length} bytes; at most ${BLOCK}`);
  const pad = new Uint8Array(BLOCK);
  const inner = Int32Array.from(INITIAL);
  const outer = Int32Array.from(INITIAL);
  for (let i = 0; i < BLOCK; i++) pad[i] = (key[i] ?? 0) ^ 0x36;
  compress(inner, pad, 0);
  for (let i = 0; i < BLOCK; i++) pad[i] = (key[i] ?? 0) ^ 0x5c;
  compress(outer, pad, 0);
  return { inner, outer };
}

/** HMAC-SHA256 over the concatenated `parts`. */
export function hmacSha256(state: HmacKeyState, parts: Uint8Array[]): Buffer {
  return digestFrom(state.outer, BLOCK, [digestFrom(state.inner, BLOCK, parts)]);
}
