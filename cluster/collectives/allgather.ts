/**
 * Allgather of arrays (lengths may differ) and of small JSON values: every
 * rank sends its own value straight to every other rank over the mesh of
 * links, so each rank sends and receives (n-1) values, like a ring, in one step.
 */
import { COLLECTIVE_CODE, FRAME_KIND } from './frame';
import type { Link } from './link';
import { parseJson } from './tcp-link';

interface MeshContext {
  rank: number;
  size: number;
  links: (Link | null)[];
}

async function exchange(ctx: MeshContext, call: number, kind: number, code: number, payload: Uint8Array, aux: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = new Array(ctx.size);
  out[ctx.rank] = payload;
  const sends: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    let outstanding = ctx.size; // size - 1 receives, + 1 while posting (an early frame completes inside expect())
    const arrived = () => {
      if (--outstanding === 0) resolve();
    };
    ctx.links.forEach((link, j) => {
      if (!link) return;
      link.expect(call, 0, {
        collective: code,
        aux: -1,
        dest: null,
        done: (bytes) => {
          out[j] = bytes;
          arrived();
        },
      });
      const p = link.send(kind, code, call, 0, aux, payload);
      p.catch(() => undefined);
      sends.push(p);
    });
    arrived();
  });
  await Promise.all(sends);
  return out;
}

export async function meshAllgather(ctx: MeshContext, call: number, data: Float32Array): Promise<Float32Array[]> {
  const own = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const parts = await exchange(ctx, call, FRAME_KIND.data, COLLECTIVE_CODE.allgather, own, data.length);
  // Fresh receive buffers start at offset 0, so a Float32Array view is aligned; this rank's own part is copied.
  return parts.map((b, j) => (j === ctx.rank ? data.slice() : new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)));
}

export async function meshAllgatherJson<T>(ctx: MeshContext, call: number, value: T, code: number = COLLECTIVE_CODE.allgatherJson): Promise<T[]> {
  const text = JSON.stringify(value === undefined ? null : value);
  const parts = await exchange(ctx, call, FRAME_KIND.json, code, Buffer.from(text, 'utf8'), 0);
  return parts.map((b, j) => (j === ctx.rank ? (JSON.parse(text) as T) : (parseJson(b, `allgatherJson value of rank ${j}`) as T)));
}
