/**
 * Pipelined chain broadcast: the root sends its data chunk by chunk to the
 * next rank in ring order, and each rank forwards every chunk as soon as it
 * has it, so for large arrays every link carries the data once, concurrently.
 */
import { COLLECTIVE_CODE, FRAME_KIND } from './frame';
import type { RingContext } from './ring-allreduce';

export async function chainBroadcast(ctx: RingContext, call: number, data: Float32Array, root: number): Promise<void> {
  const n = ctx.size;
  if (n === 1) return;
  const pos = (ctx.rank - root + n) % n;
  const prev = ctx.links[(ctx.rank - 1 + n) % n]!;
  const next = ctx.links[(ctx.rank + 1) % n]!;
  const code = COLLECTIVE_CODE.broadcast;
  const total = data.length;
  const C = ctx.chunkElements;
  const chunks: Array<[number, number]> = [];
  for (let a = 0; a < total; a += C) chunks.push([a, Math.min(a + C, total)]);
  if (chunks.length === 0) chunks.push([0, 0]);
  const view = (a: number, b: number) => new Uint8Array(data.buffer, data.byteOffset + a * 4, (b - a) * 4);
  const sends: Promise<void>[] = [];
  const forward = (k: number, a: number, b: number) => {
    const p = next.send(FRAME_KIND.data, code, call, k, total, view(a, b), root);
    p.catch(() => undefined);
    sends.push(p);
  };
  if (pos === 0) {
    chunks.forEach(([a, b], k) => forward(k, a, b));
    await Promise.all(sends);
    return;
  }
  let outstanding = chunks.length + 1; // + 1 while posting: an early frame completes inside expect()
  await new Promise<void>((resolve) => {
    const arrived = () => {
      if (--outstanding === 0) resolve();
    };
    chunks.forEach(([a, b], k) => {
      prev.expect(call, k, {
        collective: code,
        aux: total,
        tag: root,
        dest: view(a, b),
        done: () => {
          if (pos < n - 1) forward(k, a, b);
          arrived();
        },
      });
    });
    arrived();
  });
  await Promise.all(sends);
}
