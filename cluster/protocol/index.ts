/**
 * The hpcdl cluster wire format. This folder is the only module that knows how
 * bytes on a WebSocket map to messages; controller, engines and clients all go
 * through it. It imports nothing else from cluster/.
 *
 *   envelope.ts         message types, header, Message<T> (a discriminated union),
 *                       makeMessage, type guards, sessions
 *   content.ts          content shape of each message type (ContentMap), TaskCode
 *   errors.ts           ProtocolError, WebSocket close codes and their sentences
 *   signing.ts          cluster key, HMAC-SHA256 signature, challenge proofs, channel keys
 *   handshake.ts        challenge and auth: the per-connection keys every WebSocket connection starts with
 *   framing.ts          encodeMessage / decodeMessage (binary framing, size limit);
 *                       encodeLocal / decodeLocal (same process: JSON frames, no signature)
 *   validation.ts       envelope and required-field checks on decode
 *   batch.ts            many messages in one signed frame set
 *   values.ts           packValue / unpackValue (JSON + binary buffers)
 *   packed-ref.ts       packed values inside message content
 *   connection-file.ts  how engines and clients find a controller
 *   file-trust.ts       refuse files and directories other users could write (ssh StrictModes)
 */
export {
  PROTOCOL_VERSION,
  HANDSHAKE,
  ENGINE_TO_CONTROLLER,
  CONTROLLER_TO_ENGINE,
  CLIENT_TO_CONTROLLER,
  CONTROLLER_TO_CLIENT,
  MESSAGE_TYPES,
  isMessageType,
  newSession,
  makeMessage,
  isMessageOf,
  onMessageType,
  type MessageType,
  type Header,
  type Envelope,
  type Message,
  type MessageHandlers,
  type MakeMessageOptions,
} from './envelope';
export * from './content';
export { ProtocolError, CLOSE_CODES, describeClose, type ProtocolErrorReason } from './errors';
export { generateKey, newNonce, challengeProof, proofMatches, ChannelKey, channelKeys, type ChallengeRole, type Key, type SigningKey } from './signing';
export { CHALLENGE_BYTES, encodeChallenge, decodeChallenge, answerChallenge, acceptAnswer, type WireChannel } from './handshake';
export { MAX_MESSAGE_BYTES, encodeMessage, decodeMessage, encodeLocal, decodeLocal, isLocalFrame, receivedBytes, type CodecOptions, type LocalFrame, type Received } from './framing';
export { BatchBuilder, MAX_BATCH_ITEMS, makeBatch, expandBatch, decodeMessages, MessageBatcher } from './batch';
export { packValue, unpackValue, type PackedValue } from './values';
export { packInto, unpackFrom, relocatePacked, buffersOf, standalonePacked } from './packed-ref';
export {
  hpcdlHome,
  connectionFilePath,
  resolveConnectionFile,
  readConnectionFile,
  writeConnectionFile,
  type ConnectionInfo,
} from './connection-file';
export { checkTrusted, trustedDirectory } from './file-trust';
