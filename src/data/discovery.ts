/**
 * Which events a worker reads: the files of a split in the input directory,
 * the seed's contiguous sharding of files over ranks (or of events, when
 * there are fewer files than ranks), opened and checked for one image shape.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataFileError, DataOptionsError } from './errors';
import { EventFile } from './events';
import { checkWeights } from './non-finite';
import { SPLIT_WORDS, type Normalised, type Split } from './source-options';

/**
 * Files of one split in `inputPath`: names containing the split word and
 * ending in `.h5`/`.hdf5`, sorted. A path to a single file is returned as is.
 */
export function discoverFiles(inputPath: string, split: Split): string[] {
  if (!SPLIT_WORDS.includes(split)) throw new DataOptionsError(`split must be one of ${SPLIT_WORDS.join('|')}, got ${JSON.stringify(split)}`);
  let st: fs.Stats;
  try {
    st = fs.statSync(inputPath);
  } catch {
    throw new DataOptionsError(`input path ${inputPath} does not exist`);
  }
  if (st.isFile()) return [inputPath];
  return fs
    .readdirSync(inputPath)
    .filter((name) => name.includes(split) && /\.(h5|hdf5)$/.test(name))
    .sort()
    .map((name) => path.join(inputPath, name));
}

/**
 * The seed's contiguous sharding: rank r of `size` gets files
 * [r*k, (r+1)*k) with k = floor(n/size). Returns null when n < size (the
 * caller then splits events instead of files).
 */
export function shardFiles(files: string[], rank: number, size: number): { files: string[]; unused: string[] } | null {
  const perRank = Math.floor(files.length / size);
  if (perRank === 0) return null;
  return { files: files.slice(rank * perRank, (rank + 1) * perRank), unused: files.slice(perRank * size) };
}

/** A contiguous event range [start, end) of one open file. */
export interface Piece {
  file: EventFile;
  start: number;
  end: number;
}

export async function planPieces(all: string[], o: Normalised): Promise<{ pieces: Piece[]; dims: [number, number, number] }> {
  const sharded = shardFiles(all, o.rank, o.size);
  const names = sharded ? sharded.files : all;
  if (sharded && sharded.unused.length > 0 && o.rank === 0) {
    o.log(`data: ${all.length} ${o.split} files over ${o.size} workers: ${sharded.unused.length} left over and unused (${sharded.unused.map((f) => path.basename(f)).join(', ')})`);
  }
  const files: EventFile[] = [];
  try {
    for (const name of names) files.push(await EventFile.open(name, { warn: o.log, readerThread: o.readerThread }));
    checkImageShapes(files, o.imageShape);
    for (const file of files) {
      file.scalars(); // labels are checked now, before a caller touches anything else
      if (o.nonFinite === 'refuse') checkWeights(file, 0, file.info.numEvents);
    }
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  const first = files[0].info;
  const dims: [number, number, number] = [first.channels, first.height, first.width];
  if (sharded) return { pieces: files.map((file) => ({ file, start: 0, end: file.info.numEvents })), dims };
  // a rank may get no events at all when there are fewer events than workers
  return { pieces: splitEvents(files, o.rank, o.size), dims };
}

/** n files < workers: every rank opens all files and takes a contiguous slice of all events. */
function splitEvents(files: EventFile[], rank: number, size: number): Piece[] {
  const total = files.reduce((s, f) => s + f.info.numEvents, 0);
  const lo = Math.floor((rank * total) / size);
  const hi = Math.floor(((rank + 1) * total) / size);
  const pieces: Piece[] = [];
  let base = 0;
  for (const file of files) {
    const n = file.info.numEvents;
    const start = Math.max(lo, base) - base;
    const end = Math.min(hi, base + n) - base;
    if (end > start) pieces.push({ file, start, end });
    else file.close();
    base += n;
  }
  return pieces;
}

function checkImageShapes(files: EventFile[], expected?: [number, number, number]): void {
  const ref = expected ?? (files[0] ? [files[0].info.channels, files[0].info.height, files[0].info.width] : undefined);
  if (!ref) return;
  for (const f of files) {
    const got = [f.info.channels, f.info.height, f.info.width];
    if (got.some((d, i) => d !== ref[i])) {
      const against = expected ? 'the expected input shape' : `${files[0].path}`;
      throw new DataFileError(f.path, `has images of [C,H,W] = [${got.join(',')}], but ${against} has [${ref.join(',')}]`, f.info.layout === 'seed' ? 'data' : 'all_events/hist');
    }
  }
}
