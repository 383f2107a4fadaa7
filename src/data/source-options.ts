/** The options of an event batch source, checked and filled with their defaults. */
import { DataOptionsError } from './errors';

export type Split = 'train' | 'val' | 'test';
export type ImageLayout = 'NCHW' | 'NHWC';

export interface EventSourceOptions {
  /** directory searched with `discoverFiles` (ignored when `files` is given) */
  inputPath?: string;
  /** explicit file list (taken as given, before sharding) */
  files?: string[];
  split: Split;
  batchSize: number;
  layout: ImageLayout;
  /** this worker's rank, default 0 */
  rank?: number;
  /** number of workers, default 1 */
  size?: number;
  /** default: true for 'train', false otherwise */
  shuffle?: boolean;
  /** shuffle seed, default 12345 (the seed benchmark's v2d value) */
  seed?: number;
  /** the seed's `--dummy_data`: random images, no files read */
  dummy?: boolean;
  /** batches read ahead while the consumer works, default 2 (0 = none) */
  prefetch?: number;
  /** drop the last, smaller batch of an epoch */
  dropRemainder?: boolean;
  /** files must have images of this [C,H,W] (e.g. from the config); dummy data uses it, default [3,64,64] */
  imageShape?: [number, number, number];
  /** dummy mode: events per epoch, default 10000 for train, 1000 otherwise (as the seed) */
  dummyEvents?: number;
  /** memory for the shuffle window (events read and permuted together), default 128 MiB */
  shuffleBufferBytes?: number;
  /** notes and warnings (legacy layout, unused files); default stderr */
  log?: (line: string) => void;
  /**
   * read files that need the HDF5 library (chunked, compressed) in a worker
   * thread, off the main thread; default true (contiguous float32 files are
   * read with plain file reads in any case)
   */
  readerThread?: boolean;
  /**
   * events whose image or weights hold NaN or ±Infinity: 'refuse' (default) throws a
   * DataFileError naming the file and the event; 'skip' leaves them out (the files are scanned
   * once at open) and logs how many
   */
  nonFinite?: 'refuse' | 'skip';
}

export const SPLIT_WORDS: Split[] = ['train', 'val', 'test'];

export type Normalised = Required<Omit<EventSourceOptions, 'inputPath' | 'files' | 'imageShape' | 'dummyEvents'>> & {
  imageShape?: [number, number, number];
  dummyEvents: number;
};

export function normaliseOptions(opts: EventSourceOptions): Normalised {
  const rank = opts.rank ?? 0;
  const size = opts.size ?? 1;
  if (!SPLIT_WORDS.includes(opts.split)) throw new DataOptionsError(`split must be one of ${SPLIT_WORDS.join('|')}, got ${JSON.stringify(opts.split)}`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new DataOptionsError(`batchSize must be a positive integer, got ${opts.batchSize}`);
  if (opts.layout !== 'NCHW' && opts.layout !== 'NHWC') throw new DataOptionsError(`layout must be NCHW or NHWC, got ${JSON.stringify(opts.layout)}`);
  if (!Number.isInteger(size) || size < 1) throw new DataOptionsError(`size (number of workers) must be a positive integer, got ${size}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw new DataOptionsError(`rank must be an integer in [0, ${size}), got ${rank}`);
  const prefetch = opts.prefetch ?? 2;
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new DataOptionsError(`prefetch must be a non-negative integer, got ${prefetch}`);
  if (opts.nonFinite !== undefined && opts.nonFinite !== 'refuse' && opts.nonFinite !== 'skip') throw new DataOptionsError(`nonFinite must be 'refuse' or 'skip', got ${JSON.stringify(opts.nonFinite)}`);
  if (opts.imageShape && (opts.imageShape.length !== 3 || opts.imageShape.some((d) => !Number.isInteger(d) || d < 1))) {
    throw new DataOptionsError(`imageShape must be [C,H,W] of positive integers, got ${JSON.stringify(opts.imageShape)}`);
  }
  return {
    split: opts.split,
    batchSize: opts.batchSize,
    layout: opts.layout,
    rank,
    size,
    shuffle: opts.shuffle ?? opts.split === 'train',
    seed: opts.seed ?? 12345,
    // a batch script's --dummy-data (make_scripts) reaches the notebook's sources through the environment
    dummy: opts.dummy ?? process.env.HPCDL_DUMMY_DATA === '1',
    prefetch,
    dropRemainder: opts.dropRemainder ?? false,
    imageShape: opts.imageShape,
    dummyEvents: opts.dummyEvents ?? (opts.split === 'train' ? 10000 : 1000),
    shuffleBufferBytes: opts.shuffleBufferBytes ?? 128 * 1024 * 1024,
    log: opts.log ?? ((s: string) => process.stderr.write(s + '\n')),
    readerThread: opts.readerThread ?? true,
    nonFinite: opts.nonFinite ?? 'refuse',
  };
}
