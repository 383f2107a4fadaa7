/**
 * Challenge-response authentication of a connection with a shared key, once
 * per connection, and what an unauthenticated peer is allowed. Each side
 * sends a fresh nonce and proves it holds the key with an HMAC over both
 * nonces, its role and what the connection is for (`binding`), so a proof is
 * never valid on another connection, role or binding (the proofs themselves
 * are the protocol's: ../protocol/signing.ts).
 *
 * The TCP rank-to-rank links use the proofs directly and then send unsigned
 * frames: HMAC-SHA256 of a 9 MB payload costs ~5.5 ms here, as long as a whole
 * 2-rank allreduce of it (docs/cluster-protocol.md). The WebSocket peers answer
 * the acceptor's challenge with an `auth` message (../protocol/handshake.ts)
 * and then sign every frame with per-connection keys over sequence numbers.
 */
export { newNonce, challengeProof, proofMatches, type ChallengeRole } from '../protocol';

/** the accepting side gives a new connection this long to authenticate (loopback handshakes take ~1 ms) */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** An unauthenticated rank link gets no more than this per frame (a hello is a few hundred bytes); its header is checked before any payload is read. */
export const MAX_HANDSHAKE_FRAME_BYTES = 8 * 1024;

/**
 * Bytes a WebSocket peer may send before it has authenticated: its auth frame
 * is ~330 bytes and the register_request or connect_request sent right behind
 * it is under 2 KiB (a register_request listing 100 running task ids: ~3 KiB).
 * More than this and the connection is closed, whatever the frames claim.
 */
export const PRE_AUTH_BYTES = 8 * 1024;

/**
 * Unauthenticated WebSocket connections held at once, per remote address and
 * in all: a new one beyond either evicts the oldest (a legitimate peer
 * authenticates within a round trip, ~1 ms on loopback; an attacker must keep
 * opening connections faster than that to crowd it out). Sized for bursts of
 * legitimate engines: srun starts every engine of a node at once (250 per
 * address in the 1,000-engine scale run; 32 per address evicted all but the
 * last 32 of such a burst), and each held connection costs at most
 * PRE_AUTH_BYTES of buffer (1,024 × 8 KiB = 8 MiB).
 */
export const MAX_UNAUTHENTICATED_PER_ADDRESS = 256;
export const MAX_UNAUTHENTICATED = 1024;
