/**
 * The input pipeline's entry: a batch source over event files or dummy data.
 * Its parts: source-options.ts (options and defaults), discovery.ts (files of a
 * split, sharding by rank), prefetch.ts (read-ahead), batch-source.ts (what
 * every source shares), dummy-source.ts, file-source.ts (shuffle windows).
 */
import { DataOptionsError } from './errors';
import { discoverFiles, planPieces } from './discovery';
import { DummySource } from './dummy-source';
import { FileSource } from './file-source';
import { normaliseOptions, type EventSourceOptions } from './source-options';
import type { BatchSource } from './types';

export { discoverFiles, shardFiles } from './discovery';
export { chwToHwc } from './file-source';
export type { EventSourceOptions, Split, ImageLayout } from './source-options';

/** Open a batch source over event files or dummy data. */
export async function openEventSource(opts: EventSourceOptions): Promise<BatchSource> {
  const o = normaliseOptions(opts);
  if (o.dummy) return new DummySource(o);
  const all = opts.files ?? (opts.inputPath !== undefined ? discoverFiles(opts.inputPath, opts.split) : null);
  if (!all) throw new DataOptionsError('openEventSource needs inputPath, files or dummy: true');
  if (all.length === 0) {
    throw new DataOptionsError(`no ${o.split} files in ${opts.inputPath}: names must contain '${o.split}' and end in .h5 or .hdf5`);
  }
  const { pieces, dims } = await planPieces(all, o);
  return new FileSource(pieces, dims, o);
}
