/**
 * The protocol's handshake and per-connection keys (cluster/protocol/handshake.ts,
 * signing.ts): a frame verifies once, in order, on its own connection and in
 * its own direction; an auth answers one challenge only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProtocolError,
  acceptAnswer,
  answerChallenge,
  decodeChallenge,
  decodeMessages,
  encodeChallenge,
  encodeMessage,
  generateKey,
  makeMessage,
  newNonce,
  type WireChannel,
} from '../../cluster/protocol';

function connect(key: string): { dialer: WireChannel; acceptor: WireChannel } {
  const challenge = newNonce();
  const { frame, channel } = answerChallenge(key, newNonce(), decodeChallenge(encodeChallenge(challenge)));
  return { dialer: channel, acceptor: acceptAnswer(frame, key, challenge, 8192) };
}

function reason(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, String(err));
    return err.reason;
  }
  return 'accepted';
}

const heartbeat = (n: number) => makeMessage('heartbeat', { running: n });

test('a frame verifies once, in order, only on its own connection and direction', () => {
  const key = generateKey();
  const one = connect(key);
  const two = connect(key);
  const first = encodeMessage(heartbeat(1), one.dialer.send);
  const second = encodeMessage(heartbeat(2), one.dialer.send);
  assert.equal(reason(() => decodeMessages(second, one.acceptor.receive)), 'signature', 'out of order');
  assert.equal(reason(() => decodeMessages(first, two.acceptor.receive)), 'signature', 'another connection');
  assert.equal(reason(() => decodeMessages(first, one.dialer.receive)), 'signature', 'reflected back to its sender');
  assert.equal(reason(() => decodeMessages(first, key)), 'signature', 'the cluster key alone');
  const [got] = decodeMessages(first, one.acceptor.receive);
  assert.deepEqual(got.content, { running: 1 });
  assert.equal(reason(() => decodeMessages(first, one.acceptor.receive)), 'signature', 'the same frame again');
  assert.equal(reason(() => decodeMessages(second, one.acceptor.receive)), 'accepted', 'the next one in order');
  const reply = encodeMessage(makeMessage('heartbeat_reply', {}), one.acceptor.send);
  assert.equal(decodeMessages(reply, one.dialer.receive)[0].header.msg_type, 'heartbeat_reply');
});

test('the unhashed first bytes of a channel-signed frame are checked byte for byte', () => {
  const { dialer, acceptor } = connect(generateKey());
  const frame = encodeMessage(heartbeat(1), dialer.send);
  const flagged = Buffer.from(frame);
  flagged[5] = 1;
  assert.equal(reason(() => decodeMessages(flagged, acceptor.receive)), 'malformed');
  const magic = Buffer.from(frame);
  magic[0] ^= 1;
  assert.equal(reason(() => decodeMessages(magic, acceptor.receive)), 'malformed');
  assert.equal(reason(() => decodeMessages(frame, acceptor.receive)), 'accepted', 'the intact frame (no sequence number used by the rejects)');
});

test('an auth answers one challenge: another connection\'s, a wrong key, or anything else first is refused', () => {
  const key = generateKey();
  const challenge = newNonce();
  const { frame } = answerChallenge(key, newNonce(), challenge);
  assert.equal(reason(() => acceptAnswer(frame, key, newNonce(), 8192)), 'replay');
  assert.equal(reason(() => acceptAnswer(frame, generateKey(), challenge, 8192)), 'signature');
  assert.equal(reason(() => acceptAnswer(encodeMessage(makeMessage('connect_request', { client_session: 's' }), key), key, challenge, 8192)), 'malformed');
  assert.equal(reason(() => acceptAnswer(frame, key, challenge, 100)), 'too_large');
  assert.equal(reason(() => decodeChallenge(Buffer.from('not a challenge'))), 'malformed');
});
