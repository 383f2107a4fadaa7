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

/**
 * The indexes of a packed ref's buffers, checked: `ref` must be `{$v, $b}`
 * and every index an integer naming one of the message's `bufferCount`
 * buffers. Both reading (unpackFrom) and relaying (relocatePacked) use this
 * one rule.
 */
function checkedIndexes(ref: unknown, bufferCount: number): number[] {
  if (!isPlainObject(ref) || !Array.isArray(ref.$b)) throw new ProtocolError('malformed', 'packed value is not {$v, $b}');
  for (const i of ref.$b) {
    if (!Number.isInteger(i) || i < 0 || i >= bufferCount) {
      throw new ProtocolError('malformed', `packed value refers to buffer ${JSON.stringify(i)} but the message has ${bufferCount}`);
    }
  }
  return ref.$b as number[];
}

/** Read a PackedRef out of a received message's buffers. */
export function unpackFrom(ref: PackedRef | undefined, messageBuffers: Uint8Array[]): unknown {
  if (ref === undefined || ref === null) return undefined;
  const own = checkedIndexes(ref, messageBuffers.length).map((i) => messageBuffers[i]);
  return unpackValue(ref.$v, own);
}

/**
 * Move a packed value from one message to another without touching its JSON
 * or copying bytes: the controller relays arguments and results this way.
 * Throws ProtocolError('malformed') on exactly the refs unpackFrom rejects
 * for their shape or buffer indexes.
 */
export function relocatePacked(ref: PackedRef | undefined, from: Uint8Array[], to: Uint8Array[]): PackedRef | undefined {
  if (ref === undefined || ref === null) return ref;
  const own = checkedIndexes(ref, from.length);
  if (own.length === 0) return ref;
  const indexes = own.map((i) => {
    to.push(from[i]);
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
