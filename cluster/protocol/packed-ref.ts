/**
 * Packed values inside message content: a PackedRef records which of the
 * message's buffers belong to the value, so values can be packed into,
 * read out of, and moved between messages without copying bytes.
 */
import type { PackedRef } from './content';
import { ProtocolError } from './errors';
import { isPlainObject } from './validation';
import { packValue, unpackValue } from './values';

/**
 * Pack `value` for use inside message content: its buffers are appended to
 * `messageBuffers` and the returned ref records their indexes.
 */
export function packInto(value: unknown, messageBuffers: Uint8Array[]): PackedRef {
  const { json, buffers } = packValue(value);
  const indexes = new Array<number>(buffers.length);
  for (let i = 0; i < buffers.length; i++) {
    indexes[i] = messageBuffers.length;
    messageBuffers.push(buffers[i]);
  }
  return { $v: json, $b: indexes };
}

/** Read a PackedRef out of a received message's buffers. */
export function unpackFrom(ref: PackedRef | undefined, messageBuffers: Uint8Array[]): unknown {
  if (ref === undefined || ref === null) return undefined;
  if (!isPlainObject(ref) || !Array.isArray(ref.$b)) throw new ProtocolError('malformed', 'packed value is not {$v, $b}');
  const own = ref.$b.map((i) => {
    if (!Number.isInteger(i) || i < 0 || i >= messageBuffers.length) {
      throw new ProtocolError('malformed', `packed value refers to buffer ${i} but the message has ${messageBuffers.length}`);
    }
    return messageBuffers[i];
  });
  return unpackValue(ref.$v, own);
}

/**
 * Move a packed value from one message to another without touching its JSON
 * or copying bytes: the controller relays arguments and results this way.
 */
export function relocatePacked(ref: PackedRef | undefined, from: Uint8Array[], to: Uint8Array[]): PackedRef | undefined {
  if (ref === undefined || ref === null) return ref;
  if (ref.$b.length === 0) return ref;
  const indexes = ref.$b.map((i) => {
    const b = from[i];
    if (b === undefined) throw new ProtocolError('malformed', `packed value refers to buffer ${i} but the message has ${from.length}`);
    to.push(b);
    return to.length - 1;
  });
  return { $v: ref.$v, $b: indexes };
}

/** The buffers a packed ref points at (for storing a result apart from its message). */
export function buffersOf(ref: PackedRef | undefined, from: Uint8Array[]): Uint8Array[] {
  if (!ref || ref.$b.length === 0) return [];
  return ref.$b.map((i) => from[i]);
}

/** A packed ref over standalone buffers: `$b` = 0..n-1. */
export function standalonePacked(ref: PackedRef | undefined, from: Uint8Array[]): { ref: PackedRef | undefined; buffers: Uint8Array[] } {
  if (!ref) return { ref, buffers: [] };
  const buffers = buffersOf(ref, from);
  return { ref: { $v: ref.$v, $b: buffers.map((_, i) => i) }, buffers };
}
