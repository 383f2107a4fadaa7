/**
 * Events whose image or weights hold NaN or ±Infinity. By default a source refuses them (one
 * error naming the file and the event); with `nonFinite: 'skip'` it leaves them out and counts
 * them. Weights are checked when a file is opened, images as they are read (refuse) or in one
 * pass over the files at open (skip: the events must be known before the epoch is planned).
 */
import { DataFileError } from './errors';
import type { EventFile } from './events';
import type { Piece } from './discovery';

/** Events read per image scan in skip mode (bounded memory: 256 events of 3×224×224 float32 = 154 MB). */
const SCAN_EVENTS = 256;

/** Index of the first non-finite value in `values`, or -1. */
export function firstNonFinite(values: Float32Array, from = 0, to = values.length): number {
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (v - v !== 0) return i; // NaN and ±Infinity only: x - x is 0 for every finite x
  }
  return -1;
}

/** The error for a non-finite value at element `element` of event `event`'s image in `file`. */
export function nonFiniteImageError(file: EventFile, event: number, element: number, value: number): DataFileError {
  const { height, width } = file.info;
  const [c, rest] = [Math.floor(element / (height * width)), element % (height * width)];
  const where = `[${c},${Math.floor(rest / width)},${rest % width}]`;
  return new DataFileError(file.path, `event ${event} has a non-finite image value (${value}) at [C,H,W] ${where}; repair the file, or skip such events (hpcdl train --skip-non-finite)`, file.info.layout === 'seed' ? 'data' : 'all_events/hist');
}

/** Refuse a non-finite weight or normweight in events [start, end) of `file`. */
export function checkWeights(file: EventFile, start: number, end: number): void {
  const sc = file.scalars();
  for (const [name, column] of [['weight', sc.weight], ['normweight', sc.normweight]] as const) {
    const at = firstNonFinite(column, start, end);
    if (at >= 0) {
      throw new DataFileError(file.path, `event ${at} has a non-finite ${name} (${column[at]}); repair the file, or skip such events (hpcdl train --skip-non-finite)`, file.info.layout === 'seed' ? name : name === 'weight' ? 'all_events/weight' : 'all_events/normalized_weight');
    }
  }
}

/** Throw for the first non-finite value among `count` events of `file` (starting at `firstEvent`) held at `offset` of `images`. */
export function checkImages(images: Float32Array, offset: number, count: number, eventElems: number, file: EventFile, firstEvent: number): void {
  const at = firstNonFinite(images, offset, offset + count * eventElems);
  if (at < 0) return;
  const k = Math.floor((at - offset) / eventElems);
  throw nonFiniteImageError(file, firstEvent + k, at - offset - k * eventElems, images[at]);
}

/** Non-finite events of one piece: their file event indices, ascending. */
export async function nonFiniteEvents(piece: Piece): Promise<number[]> {
  const { file } = piece;
  const sc = file.scalars();
  const elems = file.info.channels * file.info.height * file.info.width;
  const buffer = new Float32Array(Math.min(SCAN_EVENTS, piece.end - piece.start) * elems);
  const bad: number[] = [];
  for (let s = piece.start; s < piece.end; s += SCAN_EVENTS) {
    const n = Math.min(SCAN_EVENTS, piece.end - s);
    await file.readImagesAsync(s, n, buffer, 0);
    for (let k = 0; k < n; k++) {
      const e = s + k;
      const weightsBad = firstNonFinite(sc.weight, e, e + 1) >= 0 || firstNonFinite(sc.normweight, e, e + 1) >= 0;
      if (weightsBad || firstNonFinite(buffer, k * elems, (k + 1) * elems) >= 0) bad.push(e);
    }
  }
  return bad;
}

/** `pieces` without the events listed in `bad` (per piece): each piece split around them. */
export function withoutEvents(pieces: Piece[], bad: number[][]): Piece[] {
  const out: Piece[] = [];
  pieces.forEach((piece, i) => {
    let start = piece.start;
    for (const e of bad[i]) {
      if (e > start) out.push({ file: piece.file, start, end: e });
      start = e + 1;
    }
    if (piece.end > start) out.push({ file: piece.file, start, end: piece.end });
  });
  return out;
}
