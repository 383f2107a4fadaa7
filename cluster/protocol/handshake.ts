/**
 * The WebSocket handshake every connection between two processes starts with:
 *
 *   acceptor → dialer   challenge   40 bytes: magic "HPCH", version 1, 3 zero bytes,
 *                                   the acceptor's fresh 32-byte nonce A (not signed)
 *   dialer → acceptor   auth        a message signed with the cluster key:
 *                                   {nonce: D (fresh), challenge: A}
 *
 * The acceptor checks the signature and that `challenge` is this connection's
 * A, so an auth captured on another connection is refused. From then on each
 * side signs with its own ChannelKey, derived from the cluster key, D and A
 * (signing.ts channelKeys), over a per-direction sequence number: a frame is
 * valid once, in one direction, on one connection. The dialer learns that the
 * acceptor holds the key from the first frame it verifies.
 */
import { makeMessage } from './envelope';
import { ProtocolError } from './errors';
import { decodeMessage, encodeMessage, type Received } from './framing';
import { ChannelKey, channelKeys } from './signing';

const CHALLENGE_MAGIC = 0x48435048; // "HPCH" read as uint32 LE
const CHALLENGE_VERSION = 1;
export const CHALLENGE_BYTES = 40;

/** The keys one side of an authenticated connection signs and verifies with. */
export interface WireChannel {
  send: ChannelKey;
  receive: ChannelKey;
}

export function encodeChallenge(nonceA: string): Buffer {
  const out = Buffer.alloc(CHALLENGE_BYTES);
  out.writeUInt32LE(CHALLENGE_MAGIC, 0);
  out.writeUInt8(CHALLENGE_VERSION, 4);
  Buffer.from(nonceA, 'hex').copy(out, 8);
  return out;
}

/** The acceptor's nonce from its challenge frame; ProtocolError when the frame is not one. */
export function decodeChallenge(raw: Received): string {
  const data = Buffer.isBuffer(raw) ? raw : raw instanceof ArrayBuffer ? Buffer.from(raw) : Array.isArray(raw) ? Buffer.concat(raw) : ArrayBuffer.isView(raw) ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  if (!data || data.length !== CHALLENGE_BYTES || data.readUInt32LE(0) !== CHALLENGE_MAGIC) {
    throw new ProtocolError('malformed', 'expected the acceptor\'s 40-byte challenge first (not an hpcdl controller, or one older than protocol 1.0 with challenges?)');
  }
  if (data.readUInt8(4) !== CHALLENGE_VERSION) throw new ProtocolError('version', `challenge version ${data.readUInt8(4)} is not supported (expected ${CHALLENGE_VERSION})`);
  return data.subarray(8).toString('hex');
}

/** The dialer's answer to challenge A: its auth frame and the channel it continues on. */
export function answerChallenge(key: string | Uint8Array, nonceD: string, nonceA: string): { frame: Buffer; channel: WireChannel } {
  const frame = encodeMessage(makeMessage('auth', { nonce: nonceD, challenge: nonceA }), key);
  const keys = channelKeys(key, nonceD, nonceA);
  return { frame, channel: { send: new ChannelKey(keys.dialer), receive: new ChannelKey(keys.acceptor) } };
}

/**
 * The acceptor's check of the dialer's first frame against its challenge A:
 * the channel it continues on. ProtocolError: signature (wrong key), replay (an
 * auth made for another connection), malformed, too_large, version.
 */
export function acceptAnswer(raw: Received, key: string | Uint8Array, nonceA: string, maxBytes: number): WireChannel {
  if (!(raw instanceof ArrayBuffer || ArrayBuffer.isView(raw) || Array.isArray(raw))) throw new ProtocolError('malformed', 'expected a binary auth frame');
  const msg = decodeMessage(raw, key, { maxBytes });
  if (msg.header.msg_type !== 'auth') throw new ProtocolError('malformed', `expected auth first, got ${msg.header.msg_type}`);
  const { nonce, challenge } = msg.content as { nonce: string; challenge: string };
  if (challenge !== nonceA) throw new ProtocolError('replay', 'auth answers another connection\'s challenge (a replayed frame)');
  if (!/^[0-9a-f]{64}$/.test(nonce)) throw new ProtocolError('malformed', 'auth nonce is not 64 hex characters');
  const keys = channelKeys(key, nonce, nonceA);
  return { send: new ChannelKey(keys.acceptor), receive: new ChannelKey(keys.dialer) };
}
