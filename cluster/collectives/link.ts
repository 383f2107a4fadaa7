/**
 * What the collectives need from a rank-to-rank link (implemented by
 * ./tcp-link.ts): ordered binary frames to one peer, a table of expected
 * frames so payload bytes land directly where the collective wants them, and
 * one failure callback (the peer died, went silent, closed, or broke the
 * protocol).
 */
import type { FrameHeader } from './frame';

/** Who a rank is, as rank 0 hands it to every member (named in every error about it). */
export interface MemberInfo {
  rank: number;
  /** "host:port" of the rank's own listener */
  address: string;
  hostname: string;
  pid: number;
  engineId?: number | string | null;
}

export function describeMember(m: Pick<MemberInfo, 'rank' | 'hostname' | 'pid' | 'engineId'> & { address?: string }): string {
  const engine = m.engineId !== undefined && m.engineId !== null ? `, engine ${m.engineId}` : '';
  return `rank ${m.rank} (pid ${m.pid} on ${m.hostname}${engine})`;
}

/** What a frame must be for an expected receive; a frame that differs fails the group naming both calls. */
export interface Expectation {
  collective: number;
  /** the element count this rank passes (checked against the sender's), or -1 for any */
  aux: number;
  /** the broadcast root, when it must match */
  tag?: number;
  /** where the payload goes (exactly its length), or null to get a fresh buffer of the frame's length */
  dest: Uint8Array | null;
  done(payload: Uint8Array, header: FrameHeader): void;
}

export interface Link {
  readonly peer: MemberInfo;
  /** queue a frame; resolves when the bytes have left this process (the payload may then be reused) */
  send(kind: number, collective: number, call: number, sub: number, aux: number, payload?: Uint8Array, tag?: number): Promise<void>;
  expect(call: number, sub: number, expectation: Expectation): void;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** send a close frame and end the connection (the peer sees an orderly close) */
  close(reason: string): Promise<void>;
  /** drop the connection at once */
  destroy(): void;
}
