/** The per-cluster key and the HMAC-SHA256 signature over a framed message. */
import { createHmac, randomBytes } from 'node:crypto';

export type Key = string | Uint8Array;

function keyBytes(key: Key): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** A fresh random cluster key (hex string, as stored in the connection file). */
export function generateKey(): string {
  return randomBytes(32).toString('hex');
}

/** HMAC over the fixed prefix [0, 8) and everything from the frame table on (the signature slot itself is skipped). */
export function sign(key: Key, data: Uint8Array, tableStart: number): Buffer {
  const hmac = createHmac('sha256', keyBytes(key));
  hmac.update(data.subarray(0, 8));
  hmac.update(data.subarray(tableStart));
  return hmac.digest();
}
