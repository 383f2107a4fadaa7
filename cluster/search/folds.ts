/**
 * File-level k-fold cross-validation over a data set's training files (as
 * NNLO's MPIKFoldManager with sklearn's KFold, no shuffle): fold k holds out
 * one contiguous block of files for validation and trains on the rest. A
 * fold's data set is a directory of symbolic links named so that the input
 * pipeline's discovery (`train`/`val`/`test` in the name) finds them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { discoverFiles } from '../../src/data';

/** The held-out block of each fold, as sklearn's KFold(n_splits=k): the first n % k folds get one file more. */
export function foldBlocks(count: number, folds: number): [number, number][] {
  if (!Number.isInteger(folds) || folds < 2) throw new RangeError(`folds must be an integer ≥ 2, got ${folds}`);
  if (count < folds) throw new RangeError(`${folds}-fold cross-validation needs at least ${folds} training files, there are ${count}`);
  const blocks: [number, number][] = [];
  let start = 0;
  for (let k = 0; k < folds; k++) {
    const size = Math.floor(count / folds) + (k < count % folds ? 1 : 0);
    blocks.push([start, start + size]);
    start += size;
  }
  return blocks;
}

export interface FoldFiles {
  train: string[];
  val: string[];
  test: string[];
}

/** Which files fold `fold` of `folds` trains and validates on (the test split is untouched). */
export function foldFiles(inputPath: string, fold: number, folds: number): FoldFiles {
  const train = discoverFiles(inputPath, 'train');
  if (train.length < folds) {
    throw new RangeError(`${folds}-fold cross-validation needs at least ${folds} training files; ${inputPath} has ${train.length} (synthesise more with \`hpcdl data synth --train-files ${folds}\`)`);
  }
  if (!Number.isInteger(fold) || fold < 0 || fold >= folds) throw new RangeError(`fold must be an integer in [0, ${folds - 1}], got ${fold}`);
  const [start, end] = foldBlocks(train.length, folds)[fold];
  let test: string[] = [];
  try {
    test = discoverFiles(inputPath, 'test');
  } catch {
    test = [];
  }
  return { train: [...train.slice(0, start), ...train.slice(end)], val: train.slice(start, end), test };
}

/**
 * Writes `dir` as the data set of one fold (symbolic links to the original
 * files) and returns it; an existing directory is replaced.
 */
export function writeFoldDataset(inputPath: string, fold: number, folds: number, dir: string): string {
  const files = foldFiles(inputPath, fold, folds);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const split of ['train', 'val', 'test'] as const) {
    files[split].forEach((file, i) => {
      fs.symlinkSync(path.resolve(file), path.join(dir, `${split}-${String(i).padStart(3, '0')}${path.extname(file)}`));
    });
  }
  return dir;
}
