/**
 * Point-to-point messages between two ranks of a formed group, on the same
 * authenticated links as the collectives: `send(peer, message)` and
 * `recv(peer)` (the next message from that peer, in the order sent). A
 * message is a small JSON header and an optional Float32Array, in one frame:
 *
 *   u32 header length | header (UTF-8 JSON) | zero padding to 4 bytes | float32 values
 *
 * Frames carry the collective code `pointToPoint` and call numbers from
 * P2P_CALL_BASE up, one per message and link direction, so they never meet a
 * collective's call (numbered from 1) in a link's receive table. A receive may
 * be posted before the message arrives or after (it waits in the link's stash).
 * Rule for callers: do not post a receive from a peer that may already be
 * sending frames of a LATER collective on that link (the link takes those as a
 * call mismatch); the parameter-server protocol has no collective after its
 * first message.
 */
import { COLLECTIVE_CODE, FRAME_KIND } from './frame';
import { LinkedProcessGroup } from './process-group';
import { parseJson, type TcpLink } from './tcp-link';
import type { ProcessGroup } from './types';

export interface PeerMessage {
  meta: Record<string, unknown>;
  data?: Float32Array;
}

/** 2^19: collectives would need half a million calls to reach it (frame keys use call mod 2^20) */
const P2P_CALL_BASE = 0x8_0000;
const P2P_CALLS = 0x8_0000;

export class PointToPoint {
  private readonly sent: number[];
  private readonly received: number[];
  private pending = 0;
  /** the group unrefs idle sockets; a rank waiting for a message must stay alive */
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(private readonly group: LinkedProcessGroup) {
    this.sent = new Array(group.size).fill(0);
    this.received = new Array(group.size).fill(0);
  }

  get rank(): number {
    return this.group.rank;
  }

  get size(): number {
    return this.group.size;
  }

  async send(peer: number, message: PeerMessage): Promise<void> {
    const link = this.linkTo(peer, 'send');
    const call = P2P_CALL_BASE + (this.sent[peer]++ % P2P_CALLS);
    const payload = encode(message);
    try {
      await link.send(FRAME_KIND.data, COLLECTIVE_CODE.pointToPoint, call, 0, message.data?.length ?? 0, payload);
    } catch (err) {
      throw this.group.error ?? err;
    }
  }

  recv(peer: number): Promise<PeerMessage> {
    const link = this.linkTo(peer, 'recv');
    const call = P2P_CALL_BASE + (this.received[peer]++ % P2P_CALLS);
    this.hold(+1);
    const arrived = new Promise<PeerMessage>((resolve, reject) => {
      try {
        link.expect(call, 0, {
          collective: COLLECTIVE_CODE.pointToPoint,
          aux: -1,
          dest: null,
          done: (bytes) => {
            try {
              resolve(decode(bytes, `message from rank ${peer}`));
            } catch (err) {
              reject(err);
            }
          },
        });
      } catch (err) {
        reject(this.group.error ?? err);
      }
    });
    return Promise.race([arrived, this.group.whenFailed]).finally(() => this.hold(-1));
  }

  private linkTo(peer: number, what: string): TcpLink {
    if (this.group.error) throw this.group.error;
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.group.size || peer === this.group.rank) {
      throw new RangeError(`point-to-point ${what}: peer ${peer} is not another rank of group ${this.group.groupId} (ranks 0..${this.group.size - 1}, this is ${this.group.rank})`);
    }
    const link = this.group.links[peer];
    if (!link) throw new Error(`point-to-point ${what}: no link to rank ${peer}`);
    if (link.error) throw this.group.error ?? link.error;
    return link;
  }

  private hold(delta: number): void {
    this.pending += delta;
    if (this.pending > 0 && !this.keepAlive) this.keepAlive = setInterval(() => undefined, 1 << 30);
    if (this.pending === 0 && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }
}

/** Point-to-point messaging on a group formed by joinGroup (2 ranks or more). */
export function pointToPoint(group: ProcessGroup): PointToPoint {
  if (!(group instanceof LinkedProcessGroup)) {
    throw new Error(`point-to-point messages need a group of linked ranks (joinGroup with size >= 2); group ${group.groupId} has ${group.size} rank${group.size === 1 ? '' : 's'}`);
  }
  return new PointToPoint(group);
}

function encode(message: PeerMessage): Uint8Array {
  const header = Buffer.from(JSON.stringify(message.meta ?? {}), 'utf8');
  const start = align4(4 + header.length);
  const floats = message.data?.length ?? 0;
  const out = new Uint8Array(start + floats * 4);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  if (message.data) out.set(new Uint8Array(message.data.buffer, message.data.byteOffset, message.data.byteLength), start);
  return out;
}

function decode(bytes: Uint8Array, what: string): PeerMessage {
  if (bytes.length < 4) throw new Error(`${what}: ${bytes.length}-byte frame is not a point-to-point message`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const start = align4(4 + headerLength);
  if (start > bytes.length || (bytes.length - start) % 4 !== 0) throw new Error(`${what}: malformed point-to-point message (${bytes.length} bytes, header ${headerLength})`);
  const meta = parseJson(bytes.subarray(4, 4 + headerLength), what) as Record<string, unknown>;
  if (bytes.length === start) return { meta };
  // a fresh receive buffer starts at offset 0, so start (a multiple of 4) is aligned; copy otherwise
  const aligned = (bytes.byteOffset + start) % 4 === 0;
  const data = aligned ? new Float32Array(bytes.buffer, bytes.byteOffset + start, (bytes.length - start) / 4) : new Float32Array(bytes.slice(start).buffer);
  return { meta, data };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
