/**
 * Challenge-response authentication of a connection with a shared key, once
 * per connection (the TCP rank-to-rank links; the WebSocket peers sign every
 * message instead, see ../protocol). Each side sends a fresh nonce and proves
 * it holds the key with an HMAC over both nonces, its role and what the
 * connection is for (`binding`), so a proof is never valid on another
 * connection, role or binding. After it, frames go unsigned: HMAC-SHA256 of a
 * 9 MB payload costs ~5.5 ms here, as long as a whole 2-rank allreduce of it
 * (docs/cluster-protocol.md).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** the accepting side gives a new connection this long to authenticate (loopback handshakes take ~1 ms) */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** An unauthenticated peer gets no more than this per frame (a hello is a few hundred bytes). */
export const MAX_HANDSHAKE_FRAME_BYTES = 64 * 1024;

export type ChallengeRole = 'dialer' | 'acceptor';

/** 32 random bytes, hex */
export function newNonce(): string {
  return randomBytes(32).toString('hex');
}

/** HMAC-SHA256(key, "label|role|binding|dialer nonce|acceptor nonce") */
export function challengeProof(key: string, label: string, role: ChallengeRole, binding: string, nonceD: string, nonceA: string): Buffer {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`${label}|${role}|${binding}|${nonceD}|${nonceA}`).digest();
}

/** `got` is the hex of `expected` (compared in constant time); anything else is false. */
export function proofMatches(expected: Buffer, got: unknown): boolean {
  if (typeof got !== 'string' || !/^[0-9a-f]{64}$/.test(got)) return false;
  return timingSafeEqual(expected, Buffer.from(got, 'hex'));
}
