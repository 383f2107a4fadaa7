/** The per-cluster key and the HMAC-SHA256 signature over a framed message. */
import { createHmac, randomBytes } from 'node:crypto';
import { hmacKeyState, hmacSha256, type HmacKeyState } from './hmac-small';

export type Key = string | Uint8Array;

function keyBytes(key: Key): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** A fresh random cluster key (hex string, as stored in the connection file). */
export function generateKey(): string {
  return randomBytes(32).toString('hex');
}

/** Up to this size the JavaScript HMAC is the faster one (see hmac-small.ts). */
const SMALL_MESSAGE_BYTES = 2048;

let cachedKey: Key | null = null;
let cachedState: HmacKeyState | null = null;

function smallKeyState(key: Key): HmacKeyState | null {
  if (key !== cachedKey) {
    const bytes = keyBytes(key);
    cachedKey = key;
    cachedState = bytes.length <= 64 ? hmacKeyState(bytes) : null;
  }
  return cachedState;
}

/** HMAC over the fixed prefix [0, 8) and everything from the frame table on (the signature slot itself is skipped). */
export function sign(key: Key, data: Uint8Array, tableStart: number): Buffer {
  const prefix = data.subarray(0, 8);
  const rest = data.subarray(tableStart);
  const small = data.length <= SMALL_MESSAGE_BYTES ? smallKeyState(key) : null;
  if (small) return hmacSha256(small, [prefix, rest]);
  const hmac = createHmac('sha256', keyBytes(key));
  hmac.update(prefix);
  hmac.update(rest);
  return hmac.digest();
}
