/**
 * The input pipeline's entry: a batch source over event files or dummy data.
 * Its parts: source-options.ts (options and defaults), discovery.ts (files of a
 * split, sharding by rank), prefetch.ts (read-ahead), batch-source.ts (what
 * every source shares), dummy-source.ts, file-source.ts (shuffle windows).
 */
import { DataOptionsError } from './errors';
import * as path from 'node:path';
import { discoverFiles, planPieces, type Piece } from './discovery';
import { nonFiniteEvents, withoutEvents } from './non-finite';
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
  const planned = await planPieces(all, o);
  const pieces = o.nonFinite === 'skip' ? await skipNonFinite(planned.pieces, o.split, o.log) : planned.pieces;
  return new FileSource(pieces, planned.dims, o);
}

async function skipNonFinite(pieces: Piece[], split: string, log: (line: string) => void): Promise<Piece[]> {
  const bad: number[][] = [];
  for (const piece of pieces) bad.push(await nonFiniteEvents(piece));
  const count = bad.reduce((n, b) => n + b.length, 0);
  if (count === 0) return pieces;
  const files = new Map<string, number>();
  pieces.forEach((p, i) => bad[i].length && files.set(p.file.path, (files.get(p.file.path) ?? 0) + bad[i].length));
  log(`data: skipped ${count} ${split} event${count === 1 ? '' : 's'} with non-finite values (${[...files].map(([f, n]) => `${path.basename(f)}: ${n}`).join(', ')})`);
  return withoutEvents(pieces, bad);
}
