/**
 * The binary frame of a rank-to-rank link. One TCP stream carries frames back
 * to back, each a fixed 24-byte header and `length` payload bytes:
 *
 *   offset 0  u8   kind (FRAME_KIND)
 *          1  u8   collective (COLLECTIVE_CODE, data and JSON frames; checks that both ranks run the same call)
 *          2  u16  tag: the broadcast root (checked), else 0
 *          4  u32  sequence number of the frame on this link direction (checked: consecutive)
 *          8  u32  collective call number (the n-th collective of the group)
 *         12  u32  sub: step and chunk within the call (see ring-allreduce.ts)
 *         16  u32  payload length in bytes
 *         20  u32  aux: the caller's element count (checked: every rank passes the same length)
 *
 * Frames are not signed one by one: the connection is authenticated once
 * (./link-auth.ts, challenge-response HMAC bound to the group and both ranks)
 * and the sequence number makes a replayed or dropped frame fail the link.
 * Why: HMAC-SHA256 over a 9 MB gradient segment costs ~5 ms here, as long as
 * the whole 2-rank allreduce of it.
 */
export const HEADER_BYTES = 24;

export const FRAME_KIND = {
  /** handshake messages (JSON payload), before the link is authenticated */
  hello: 1,
  /** tensor bytes of a collective */
  data: 2,
  /** a JSON value of a collective (allgatherJson, barrier, the member list) */
  json: 3,
  /** liveness only */
  ping: 4,
  /** the sender closes the group in good order (JSON payload: reason) */
  close: 5,
  /** the sender's group failed; the receiver fails too (JSON payload: reason) */
  abort: 6,
} as const;
export type FrameKind = (typeof FRAME_KIND)[keyof typeof FRAME_KIND];

export const COLLECTIVE_CODE = { none: 0, allreduce: 1, broadcast: 2, allgather: 3, allgatherJson: 4, barrier: 5, members: 6, pointToPoint: 7 } as const;
export type CollectiveName = keyof typeof COLLECTIVE_CODE;
export const COLLECTIVE_NAME: Record<number, CollectiveName> = Object.fromEntries(Object.entries(COLLECTIVE_CODE).map(([k, v]) => [v, k])) as Record<number, CollectiveName>;

export interface FrameHeader {
  kind: number;
  collective: number;
  tag: number;
  seq: number;
  call: number;
  sub: number;
  length: number;
  aux: number;
}

export function writeHeader(out: Buffer, h: FrameHeader): void {
  out.writeUInt8(h.kind, 0);
  out.writeUInt8(h.collective, 1);
  out.writeUInt16LE(h.tag, 2);
  out.writeUInt32LE(h.seq >>> 0, 4);
  out.writeUInt32LE(h.call >>> 0, 8);
  out.writeUInt32LE(h.sub >>> 0, 12);
  out.writeUInt32LE(h.length >>> 0, 16);
  out.writeUInt32LE(h.aux >>> 0, 20);
}

export function readHeader(buf: Uint8Array, offset: number): FrameHeader {
  const b = Buffer.from(buf.buffer, buf.byteOffset + offset, HEADER_BYTES);
  return {
    kind: b.readUInt8(0),
    collective: b.readUInt8(1),
    tag: b.readUInt16LE(2),
    seq: b.readUInt32LE(4),
    call: b.readUInt32LE(8),
    sub: b.readUInt32LE(12),
    length: b.readUInt32LE(16),
    aux: b.readUInt32LE(20),
  };
}

/**
 * The key of a data/JSON frame in a link's receive table. Only a few calls are
 * ever in flight, so the call number modulo 2^20 is unique among them, and
 * 2^20 * 2^32 stays below 2^53 (exact in a double).
 */
export function frameKey(call: number, sub: number): number {
  return (call % 0x10_0000) * 0x1_0000_0000 + sub;
}
