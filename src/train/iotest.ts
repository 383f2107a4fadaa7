import type { BatchSource } from '../data/types';

export interface IoTestResult {
  mode: 'iotest';
  batches: number;
  images: number;
  totalSeconds: number;
  imagesPerSec: number;
  batchSeconds: number[];
}

/**
 * Read batches only, as CosmicTagger's `mode=iotest`: one pass over the
 * source (or `maxBatches`), timing every fetch.
 */
export async function runIoTest(
  source: BatchSource,
  opts: { maxBatches?: number; log?: (line: string) => void } = {},
): Promise<IoTestResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  source.startEpoch(0);
  const batchSeconds: number[] = [];
  let images = 0;
  for (let i = 0; !opts.maxBatches || i < opts.maxBatches; i++) {
    const start = performance.now();
    const batch = await source.next();
    const seconds = (performance.now() - start) / 1000;
    if (!batch) break;
    batchSeconds.push(seconds);
    images += batch.label.length;
    source.recycle?.(batch);
    log(`${i}: Time to fetch a minibatch of data: ${seconds.toFixed(2)}s`);
  }
  const totalSeconds = batchSeconds.reduce((a, b) => a + b, 0);
  const imagesPerSec = totalSeconds > 0 ? images / totalSeconds : 0;
  log(`Total IO Time: ${totalSeconds.toFixed(2)}s`);
  log(`Total images read per batch: ${source.batchSize}`);
  log(`Average Image IO Throughput: ${imagesPerSec.toFixed(3)}`);
  return { mode: 'iotest', batches: batchSeconds.length, images, totalSeconds, imagesPerSec, batchSeconds };
}
