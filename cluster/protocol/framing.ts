/**
 * Framing and signing of one message: the only place that knows how bytes on
 * a WebSocket map to a message.
 *
 * One WebSocket binary message = one protocol message:
 *
 *   offset 0   4 bytes   magic "HPDL"
 *          4   1 byte    framing version (1)
 *          5   1 byte    flags (0)
 *          6   2 bytes   frame count F (uint16 LE), F >= 4
 *          8  32 bytes   HMAC-SHA256 signature (raw bytes)
 *         40  4*F bytes  frame lengths (uint32 LE)
 *         ..             frames, each starting on an 8-byte boundary:
 *                        JSON(header), JSON(parent_header), JSON(metadata),
 *                        JSON(content), buffer 0, buffer 1, ...
 *
 * The signature covers bytes [0, 8) and everything from offset 40 on, i.e. the
 * frame table and every frame including the binary buffers, so a tampered
 * payload is detected, not only a tampered header. Signed with a connection's
 * ChannelKey (after the handshake, ./handshake.ts) it covers the frame's
 * sequence number in that direction (counted, not sent) in place of bytes
 * [0, 6), which are constants checked byte for byte.
 */
import { timingSafeEqual } from 'node:crypto';
import { type Message } from './envelope';
import { ProtocolError } from './errors';
import { advance, sign, type SigningKey } from './signing';
import { checkContent, checkEnvelope } from './validation';

const FRAMING_VERSION = 1;
const MAGIC = 0x4c445048; // "HPDL" read as uint32 LE
const PREFIX_BYTES = 40;
const SIGNATURE_BYTES = 32;
const ENVELOPE_FRAMES = 4;
const MAX_FRAMES = 0xffff;

/** Default maximum encoded message size: 256 MiB (override with HPCDL_MAX_MESSAGE_BYTES). */
export const MAX_MESSAGE_BYTES = parseMaxBytes(process.env.HPCDL_MAX_MESSAGE_BYTES) ?? 256 * 1024 * 1024;

function parseMaxBytes(raw: string | undefined): number | undefined {
  if (!raw) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

export interface CodecOptions {
  maxBytes?: number;
}

/** Encode and sign a message. Throws ProtocolError('too_large') above the size limit. */
export function encodeMessage(msg: Message, key: SigningKey, opts: CodecOptions = {}): Buffer {
  const maxBytes = opts.maxBytes ?? MAX_MESSAGE_BYTES;
  const json = envelopeJson(msg);
  const buffers = msg.buffers ?? [];
  const frameCount = ENVELOPE_FRAMES + buffers.length;
  if (frameCount > MAX_FRAMES) throw new ProtocolError('too_large', `message has ${frameCount} frames; the limit is ${MAX_FRAMES}`);
  const lengths = new Array<number>(frameCount);
  for (let i = 0; i < ENVELOPE_FRAMES; i++) lengths[i] = Buffer.byteLength(json[i], 'utf8');
  for (let i = 0; i < buffers.length; i++) lengths[ENVELOPE_FRAMES + i] = buffers[i].byteLength;
  const { offsets, total } = layoutFrames(lengths);
  if (total > maxBytes) {
    throw new ProtocolError('too_large', `${msg.header.msg_type} message is ${total} bytes; the limit is ${maxBytes}`);
  }
  // Not zero-filled: every byte is written below (the frames, the padding between them, then the signature).
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt8(FRAMING_VERSION, 4);
  out.writeUInt8(0, 5);
  out.writeUInt16LE(frameCount, 6);
  let end = PREFIX_BYTES;
  for (let i = 0; i < frameCount; i++) {
    out.writeUInt32LE(lengths[i], PREFIX_BYTES + 4 * i);
    end = PREFIX_BYTES + 4 * (i + 1);
  }
  for (let i = 0; i < frameCount; i++) {
    out.fill(0, end, offsets[i]);
    if (i < ENVELOPE_FRAMES) out.write(json[i], offsets[i], 'utf8');
    else out.set(buffers[i - ENVELOPE_FRAMES], offsets[i]);
    end = offsets[i] + lengths[i];
  }
  out.fill(0, end, total);
  sign(key, out, PREFIX_BYTES).copy(out, 8);
  advance(key);
  return out;
}

const EMPTY_OBJECT_JSON = '{}';

function envelopeJson(msg: Message): string[] {
  return [
    JSON.stringify(msg.header),
    msg.parent_header ? JSON.stringify(msg.parent_header) : EMPTY_OBJECT_JSON,
    msg.metadata ? JSON.stringify(msg.metadata) : EMPTY_OBJECT_JSON,
    msg.content ? JSON.stringify(msg.content) : EMPTY_OBJECT_JSON,
  ];
}

/** Where each frame starts (8-byte aligned, after the prefix and frame table) and the total size. */
function layoutFrames(lengths: number[]): { offsets: number[]; total: number } {
  let offset = align8(PREFIX_BYTES + 4 * lengths.length);
  const offsets = new Array<number>(lengths.length);
  for (let i = 0; i < lengths.length; i++) {
    offsets[i] = offset;
    offset = align8(offset + lengths[i]);
  }
  return { offsets, total: offset };
}

function toBuffer(data: Uint8Array | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function parseJsonFrame(frame: Buffer, what: string): any {
  return parseJson(frame.toString('utf8'), what);
}

function parseJson(text: string, what: string): any {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ProtocolError('malformed', `${what} frame is not valid JSON (${(err as Error).message})`);
  }
}

/**
 * A message between a client and the controller running in the same process
 * (an in-process socket pair): the same JSON frames and copies of the binary
 * buffers, as decodeMessage would hand them over, but no framing bytes and no
 * signature, since nothing crosses a process or machine boundary. Saves four
 * HMACs per task round trip (each ~20 µs when the CPU caches are cold).
 */
export interface LocalFrame {
  readonly json: string[];
  readonly buffers: Uint8Array[];
}

/** What a receiver gets: wire bytes from a WebSocket, or a LocalFrame from an in-process socket. */
export type Received = Uint8Array | ArrayBuffer | Buffer[] | LocalFrame;

export function isLocalFrame(data: Received): data is LocalFrame {
  return !Array.isArray(data) && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data) && Array.isArray((data as LocalFrame).json);
}

/** Bytes a received frame carries (a LocalFrame: its JSON characters and buffers), for the wire counters. */
export function receivedBytes(data: Received): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.byteLength, 0);
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return data.json.reduce((n, j) => n + j.length, 0) + data.buffers.reduce((n, b) => n + b.byteLength, 0);
}

export function encodeLocal(msg: Message, opts: CodecOptions = {}): LocalFrame {
  const maxBytes = opts.maxBytes ?? MAX_MESSAGE_BYTES;
  const json = envelopeJson(msg);
  const buffers = (msg.buffers ?? []).map((b) => b.slice());
  let total = 0;
  for (const j of json) total += j.length;
  for (const b of buffers) total += b.byteLength;
  if (total > maxBytes) throw new ProtocolError('too_large', `${msg.header.msg_type} message is ${total} bytes; the limit is ${maxBytes}`);
  return { json, buffers };
}

export function decodeLocal(frame: LocalFrame): Message {
  if (frame.json.length !== ENVELOPE_FRAMES) throw new ProtocolError('malformed', `in-process message has ${frame.json.length} JSON frames, not ${ENVELOPE_FRAMES}`);
  const [header, parent, metadata, content] = frame.json.map((text, i) => parseJson(text, ['header', 'parent_header', 'metadata', 'content'][i]));
  checkEnvelope(header, parent, metadata, content);
  const buffers = frame.buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  checkContent(header.msg_type, content as Record<string, unknown>, buffers.length);
  // checkEnvelope and checkContent vouch for the shape the type claims
  return { header, parent_header: parent, metadata, content, buffers } as Message;
}

/**
 * Verify and decode one wire message. Throws ProtocolError with the reason:
 * too_large, malformed (bad framing / JSON / envelope), signature (missing or
 * wrong HMAC), version (incompatible protocol major version), unknown_type.
 * The signature is checked before any JSON is parsed.
 */
export function decodeMessage(raw: Uint8Array | ArrayBuffer | Buffer[], key: SigningKey, opts: CodecOptions = {}): Message {
  const maxBytes = opts.maxBytes ?? MAX_MESSAGE_BYTES;
  const data = toBuffer(raw);
  if (data.length > maxBytes) throw new ProtocolError('too_large', `message is ${data.length} bytes; the limit is ${maxBytes}`);
  const frameCount = readPrefix(data);
  verifySignature(data, key);
  const frames = sliceFrames(data, frameCount);
  const header = parseJsonFrame(frames[0], 'header');
  const parent = parseJsonFrame(frames[1], 'parent_header');
  const metadata = parseJsonFrame(frames[2], 'metadata');
  const content = parseJsonFrame(frames[3], 'content');
  checkEnvelope(header, parent, metadata, content);
  const buffers = frames.slice(ENVELOPE_FRAMES);
  checkContent(header.msg_type, content as Record<string, unknown>, buffers.length);
  return { header, parent_header: parent, metadata, content, buffers } as Message;
}

/** Check the fixed prefix and that the frame table fits; returns the frame count. */
function readPrefix(data: Buffer): number {
  if (data.length < PREFIX_BYTES + 4 * ENVELOPE_FRAMES) {
    throw new ProtocolError('malformed', `message is ${data.length} bytes, shorter than the smallest valid message`);
  }
  if (data.readUInt32LE(0) !== MAGIC) throw new ProtocolError('malformed', 'message does not start with the hpcdl magic "HPDL"');
  if (data.readUInt8(4) !== FRAMING_VERSION) {
    throw new ProtocolError('version', `framing version ${data.readUInt8(4)} is not supported (expected ${FRAMING_VERSION})`);
  }
  // A channel key's signature does not cover bytes [0, 6) (signing.ts ChannelKey): they must be exactly these.
  if (data.readUInt8(5) !== 0) throw new ProtocolError('malformed', `flags byte is ${data.readUInt8(5)}, not 0`);
  const frameCount = data.readUInt16LE(6);
  if (frameCount < ENVELOPE_FRAMES) throw new ProtocolError('malformed', `message has ${frameCount} frames; at least ${ENVELOPE_FRAMES} are required`);
  if (PREFIX_BYTES + 4 * frameCount > data.length) throw new ProtocolError('malformed', `frame table of ${frameCount} entries runs past the end of the message`);
  return frameCount;
}

function verifySignature(data: Buffer, key: SigningKey): void {
  const signature = data.subarray(8, 8 + SIGNATURE_BYTES);
  if (signature.every((b) => b === 0)) throw new ProtocolError('signature', 'message is not signed');
  const expected = sign(key, data, PREFIX_BYTES);
  if (!timingSafeEqual(signature, expected)) {
    throw new ProtocolError('signature', 'message signature does not match (wrong key, tampered, replayed, or from another connection)');
  }
  advance(key);
}

function sliceFrames(data: Buffer, frameCount: number): Buffer[] {
  const frames: Buffer[] = new Array(frameCount);
  let offset = align8(PREFIX_BYTES + 4 * frameCount);
  for (let i = 0; i < frameCount; i++) {
    const len = data.readUInt32LE(PREFIX_BYTES + 4 * i);
    if (offset + len > data.length) throw new ProtocolError('malformed', `frame ${i} (${len} bytes) runs past the end of the message`);
    frames[i] = data.subarray(offset, offset + len);
    offset = align8(offset + len);
  }
  return frames;
}
