/**
 * The per-cluster key, the HMAC-SHA256 signature over a framed message, and
 * the keys of one connection: a challenge-response proof over both sides'
 * nonces (the rank links' handshake and the WebSocket handshake share it) and
 * the per-direction channel keys derived from it, whose frames are signed over
 * an implicit sequence number so that no frame is valid twice or on another
 * connection.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { hmacKeyState, hmacSha256, type HmacKeyState } from './hmac-small';

/** The cluster key (the hex string of the connection file, or bytes). */
export type Key = string | Uint8Array;

/** What a frame is signed with: the cluster key, or one direction of one connection (a ChannelKey: signing advances its sequence number). */
export type SigningKey = Key | ChannelKey;

function keyBytes(key: Key): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** A fresh random cluster key (hex string, as stored in the connection file). */
export function generateKey(): string {
  return randomBytes(32).toString('hex');
}

/** 32 random bytes, hex */
export function newNonce(): string {
  return randomBytes(32).toString('hex');
}

export type ChallengeRole = 'dialer' | 'acceptor';

/** HMAC-SHA256(key, "label|role|binding|dialer nonce|acceptor nonce") */
export function challengeProof(key: string | Uint8Array, label: string, role: ChallengeRole, binding: string, nonceD: string, nonceA: string): Buffer {
  return createHmac('sha256', keyBytes(key)).update(`${label}|${role}|${binding}|${nonceD}|${nonceA}`).digest();
}

/** `got` is the hex of `expected` (compared in constant time); anything else is false. */
export function proofMatches(expected: Buffer, got: unknown): boolean {
  if (typeof got !== 'string' || !/^[0-9a-f]{64}$/.test(got)) return false;
  return timingSafeEqual(expected, Buffer.from(got, 'hex'));
}

/**
 * One direction of one connection: a key derived from the cluster key and both
 * sides' nonces, and the sequence number of the next frame in that direction.
 * Each frame's HMAC covers its sequence number (not sent: both sides count), so
 * a frame replayed, reordered or moved to another connection fails the check.
 *
 * The sequence number takes the place of the constant first six bytes of the
 * frame (magic, version, flags, which the receiver checks byte for byte) in
 * what is hashed, so the hashed input is no longer than with the cluster key:
 * 8 more bytes would cost a whole extra SHA-256 block for one message size in
 * eight (measured: +12% encode+decode time for a 272-byte task_result). Six
 * bytes count 2^48 frames per connection.
 */
export class ChannelKey {
  /** sequence number of the next frame signed or verified with this key */
  seq = 0;
  readonly small: HmacKeyState;
  private readonly seqBytes = Buffer.alloc(8);

  constructor(readonly bytes: Uint8Array) {
    this.small = hmacKeyState(bytes);
  }

  /** What is hashed instead of the frame's first 8 bytes: the sequence number (uint48 LE), then the frame's bytes [6, 8) (its frame count). */
  prefixField(frame: Uint8Array): Buffer {
    const b = this.seqBytes;
    b.writeUInt32LE(this.seq >>> 0, 0);
    b.writeUInt16LE(Math.floor(this.seq / 0x1_0000_0000) & 0xffff, 4);
    b[6] = frame[6];
    b[7] = frame[7];
    return b;
  }
}

/** The keys of a WebSocket connection after the handshake: what the dialer signs with, what the acceptor signs with. */
export function channelKeys(key: string | Uint8Array, nonceD: string, nonceA: string): { dialer: Uint8Array; acceptor: Uint8Array } {
  return {
    dialer: challengeProof(key, 'hpcdl-wire-v1', 'dialer', 'frames', nonceD, nonceA),
    acceptor: challengeProof(key, 'hpcdl-wire-v1', 'acceptor', 'frames', nonceD, nonceA),
  };
}

/** Up to this size the JavaScript HMAC is the faster one (see hmac-small.ts). */
const SMALL_MESSAGE_BYTES = 2048;

let cachedKey: string | Uint8Array | null = null;
let cachedState: HmacKeyState | null = null;

function smallKeyState(key: string | Uint8Array): HmacKeyState | null {
  if (key !== cachedKey) {
    const bytes = keyBytes(key);
    cachedKey = key;
    cachedState = bytes.length <= 64 ? hmacKeyState(bytes) : null;
  }
  return cachedState;
}

/**
 * HMAC over the fixed prefix [0, 8) (with a channel key: the sequence number
 * and the frame count, see ChannelKey) and everything from the frame table on
 * (the signature slot itself is skipped).
 */
export function sign(key: SigningKey, data: Uint8Array, tableStart: number): Buffer {
  const prefix = data.subarray(0, 8);
  const rest = data.subarray(tableStart);
  const small = data.length <= SMALL_MESSAGE_BYTES;
  if (key instanceof ChannelKey) {
    const first = key.prefixField(data);
    if (small) return hmacSha256(key.small, [first, rest]);
    return createHmac('sha256', key.bytes).update(first).update(rest).digest();
  }
  const state = small ? smallKeyState(key) : null;
  if (state) return hmacSha256(state, [prefix, rest]);
  const hmac = createHmac('sha256', keyBytes(key));
  hmac.update(prefix);
  hmac.update(rest);
  return hmac.digest();
}

/** A frame was signed or verified with `key`: a channel key moves on to the next sequence number. */
export function advance(key: SigningKey): void {
  if (key instanceof ChannelKey) key.seq += 1;
}
