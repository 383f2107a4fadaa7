/** Small event files and a small HEP config for tests that run train() end to end on real files. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, type HepConfig } from '../../src/config';
import { writeEventFile } from '../../src/data';

const ROOT = path.resolve(__dirname, '..', '..');

export const SIDE = 16;

export interface SplitOptions {
  /** events whose first pixel is NaN */
  nanEvents?: number[];
  /** every pixel of every image is this value (e.g. 3e38, finite but overflowing the network) */
  fill?: number;
  /** labels to write instead of alternating 0/1 */
  label?: number[];
}

/** `<dir>/<split>.h5` with `n` events of [3,16,16]: the signal's energy channel is brighter, so the task is learnable. */
export async function writeSplit(dir: string, split: 'train' | 'val' | 'test', n: number, opts: SplitOptions = {}): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const per = 3 * SIDE * SIDE;
  const label = Int32Array.from(opts.label ?? Array.from({ length: n }, (_, i) => i % 2));
  const data = new Float32Array(n * per);
  for (let e = 0; e < n; e++) {
    for (let j = 0; j < per; j++) data[e * per + j] = opts.fill ?? (((e * 7919 + j * 104729) % 1000) / 1000) * (j < SIDE * SIDE && label[e] === 1 ? 2 : 1);
  }
  for (const e of opts.nanEvents ?? []) data[e * per] = NaN;
  const file = path.join(dir, `${split}.h5`);
  const ones = new Float32Array(n).fill(1);
  await writeEventFile(file, { data, imageShape: [3, SIDE, SIDE], label, weight: ones, normweight: ones, psr: new Uint8Array(n) });
  return file;
}

/** configs/local_small.json cut down to 16×16 images, one conv layer of 4 filters, batches of 10. */
export function smallConfig(inputpath: string, outputpath: string, extra: Partial<HepConfig> = {}): HepConfig {
  const base = loadConfig(path.join(ROOT, 'configs', 'local_small.json'));
  return {
    ...base,
    input_shape: [SIDE, SIDE, 3],
    num_layers: 1,
    num_fc_units: 8,
    train_batch_size: 10,
    validation_batch_size: 4,
    display_interval: 2,
    num_epochs: 3,
    learning_rate: 1e-3,
    inputpath,
    outputpath,
    conv_params: { ...base.conv_params, num_filters: 4 },
    ...extra,
  };
}
