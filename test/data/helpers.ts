import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { writeEventFile } from '../../src/data/index';

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
}

/** Run a Python snippet with Debian's python3 (h5py); argv after the script is available as sys.argv[1:]. */
export function py(script: string, ...args: string[]): string {
  return execFileSync('/usr/bin/python3', ['-c', script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Image value that identifies (file, event, channel, row, col) exactly in float32. */
export function pixelValue(id: number, c: number, h: number, w: number): number {
  return id * 100 + c * 25 + h * 5 + w;
}

/**
 * Write a tiny seed-layout file whose event k has id `firstId + k`: label = id % 2,
 * weight = id, normweight = id / 2, psr = (id % 3 == 0), images [3,4,5] from `pixelValue`.
 */
export async function writeIdFile(file: string, firstId: number, n: number, opts: { chunkEvents?: number; gzip?: number; height?: number; width?: number } = {}): Promise<void> {
  const C = 3, H = opts.height ?? 4, W = opts.width ?? 5;
  const data = new Float32Array(n * C * H * W);
  const label = new Int32Array(n);
  const weight = new Float32Array(n);
  const normweight = new Float32Array(n);
  const psr = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const id = firstId + k;
    for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) data[((k * C + c) * H + h) * W + w] = pixelValue(id, c, h, w);
    label[k] = id % 2;
    weight[k] = id;
    normweight[k] = id / 2;
    psr[k] = id % 3 === 0 ? 1 : 0;
  }
  await writeEventFile(file, { data, imageShape: [C, H, W], label, weight, normweight, psr }, opts);
}

/** Event id of event `k` of a batch in NCHW or NHWC layout (from its first pixel). */
export function batchIds(images: Float32Array, n: number): number[] {
  const per = images.length / n;
  return Array.from({ length: n }, (_, k) => Math.round(images[k * per] / 100));
}
