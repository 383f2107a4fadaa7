/**
 * Ring allreduce: reduce-scatter then all-gather, each segment cut into
 * chunks that move on as soon as they are ready, so the send of chunk k+1
 * overlaps the reduction of chunk k and a chunk's all-gather starts while
 * later chunks are still being reduced.
 *
 * With n ranks the data is cut into n segments. In reduce-scatter step s
 * (0..n-2) rank r sends segment r-s to its right neighbour and adds what its
 * left neighbour sends (segment r-s-1) into its own copy; after n-1 steps it
 * owns the full sum of segment r+1. In all-gather step s it sends segment
 * r+1-s and receives segment r-s straight into the caller's array. Each
 * segment is summed in ring order once and copied everywhere, so every rank
 * ends with bit-identical results.
 */
import { COLLECTIVE_CODE, FRAME_KIND } from './frame';
import { addHalf, decodeHalf, encodeHalf } from './fp16';
import type { Link } from './link';
import { SimdAdder } from './simd-add';
import type { Compression, ReduceOp } from './types';

export interface RingContext {
  rank: number;
  size: number;
  links: (Link | null)[];
  /** elements per chunk on the wire */
  chunkElements: number;
  /** reusable scratch space, grown as needed (one allreduce at a time) */
  scratch: ScratchSpace;
}

export class ScratchSpace {
  private u16a = new Uint16Array(0);
  private u16b = new Uint16Array(0);
  private simd: SimdAdder | null = null;
  /** the float32 receive buffer and its reduction kernel (./simd-add.ts) */
  adder(chunkElements: number): SimdAdder {
    this.simd ??= new SimdAdder(chunkElements);
    return this.simd;
  }
  /** two independent half buffers (send side and receive side) */
  half(n: number): [Uint16Array, Uint16Array] {
    if (this.u16a.length < n) {
      this.u16a = new Uint16Array(n);
      this.u16b = new Uint16Array(n);
    }
    return [this.u16a, this.u16b];
  }
}

const MAX_STEPS = 1 << 11;
const MAX_CHUNKS = 1 << 20;

/** sub field of a frame: phase (reduce-scatter 0, all-gather 1), step, chunk */
function sub(phase: 0 | 1, step: number, chunk: number): number {
  return ((phase << 31) | (step << 20) | chunk) >>> 0;
}

function bytes(a: Float32Array | Uint16Array, start: number, end: number): Uint8Array {
  const w = a.BYTES_PER_ELEMENT;
  return new Uint8Array(a.buffer, a.byteOffset + start * w, (end - start) * w);
}

/** segment i of n over `total` elements: [start, end), sizes differ by at most one */
export function segmentBounds(total: number, n: number, i: number): [number, number] {
  const base = Math.floor(total / n);
  const extra = total % n;
  const start = i * base + Math.min(i, extra);
  return [start, start + base + (i < extra ? 1 : 0)];
}

function divideInto(dst: Float32Array, d: number, a: number, b: number): void {
  for (let i = a; i < b; i++) dst[i] /= d;
}

export async function ringAllreduce(ctx: RingContext, call: number, data: Float32Array, op: ReduceOp, compression: Compression): Promise<void> {
  const n = ctx.size;
  const r = ctx.rank;
  const total = data.length;
  if (n === 1) return; // the sum and the mean of one rank's data are the data
  if (n > MAX_STEPS) throw new Error(`allreduce: at most ${MAX_STEPS} ranks`);
  const C = ctx.chunkElements;
  if (Math.ceil(total / n / C) > MAX_CHUNKS) throw new Error(`allreduce: ${total} elements make more than ${MAX_CHUNKS} chunks per segment`);
  const left = ctx.links[(r - 1 + n) % n]!;
  const right = ctx.links[(r + 1) % n]!;
  const mod = (i: number) => ((i % n) + n) % n;
  const half = compression === 'fp16';
  const adder = half ? null : ctx.scratch.adder(C);
  const recv32 = adder ? adder.receive(total) : null;
  const [send16, recv16] = half ? ctx.scratch.half(total) : [null, null];
  const code = COLLECTIVE_CODE.allreduce;
  const sends: Promise<void>[] = [];
  const send = (phase: 0 | 1, step: number, k: number, payload: Uint8Array) => {
    const p = right.send(FRAME_KIND.data, code, call, sub(phase, step, k), total, payload);
    p.catch(() => undefined); // awaited below; a failed link fails the group anyway
    sends.push(p);
  };

  // chunk k of segment j: [start, end). An empty segment still has one (empty)
  // chunk, so every rank sends and checks the length even for empty arrays.
  const chunksOf = (j: number): Array<[number, number]> => {
    const [s, e] = segmentBounds(total, n, j);
    const out: Array<[number, number]> = [];
    for (let a = s; a < e; a += C) out.push([a, Math.min(a + C, e)]);
    if (out.length === 0) out.push([s, s]);
    return out;
  };

  /** the wire bytes of data[a, b): the floats themselves, or their half encoding */
  const wire = (a: number, b: number): Uint8Array => {
    if (!half) return bytes(data, a, b);
    encodeHalf(data.subarray(a, b), send16!.subarray(a, b));
    return bytes(send16!, a, b);
  };

  // Starts at one for the posting below: a frame that arrived early completes inside expect().
  let outstanding = 1;
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const received = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const arrived = () => {
    if (--outstanding === 0) finish();
  };
  const guard = (f: () => void) => () => {
    try {
      f();
      arrived();
    } catch (err) {
      fail(err as Error);
    }
  };

  /** the last addition into chunk [a, b): finish it (mean, half rounding) and start its all-gather */
  const finalChunk = (k: number, a: number, b: number) => {
    if (op === 'mean') divideInto(data, n, a, b);
    const out = wire(a, b);
    // Every rank must hold the same values: the owner keeps what the others will decode.
    if (half) decodeHalf(send16!.subarray(a, b), data.subarray(a, b));
    send(1, 0, k, out);
  };

  for (let s = 0; s < n - 1; s++) {
    const j = mod(r - s - 1);
    chunksOf(j).forEach(([a, b], k) => {
      outstanding++;
      left.expect(call, sub(0, s, k), {
        collective: code,
        aux: total,
        dest: half ? bytes(recv16!, a, b) : bytes(recv32!, a, b),
        done: guard(() => {
          if (half) addHalf(data.subarray(a, b), recv16!.subarray(a, b));
          else adder!.addInto(data, a, b);
          if (s < n - 2) send(0, s + 1, k, wire(a, b));
          else finalChunk(k, a, b);
        }),
      });
    });
  }
  for (let s = 0; s < n - 1; s++) {
    const j = mod(r - s);
    chunksOf(j).forEach(([a, b], k) => {
      outstanding++;
      const dest = half ? bytes(recv16!, a, b) : bytes(data, a, b);
      left.expect(call, sub(1, s, k), {
        collective: code,
        aux: total,
        dest,
        done: guard(() => {
          if (half) decodeHalf(recv16!.subarray(a, b), data.subarray(a, b));
          // Forward the very bytes received (for half: no re-encoding, the values stay identical).
          if (s < n - 2) send(1, s + 1, k, dest);
        }),
      });
    });
  }
  arrived();
  chunksOf(r).forEach(([a, b], k) => send(0, 0, k, wire(a, b)));
  await received;
  await Promise.all(sends);
}
