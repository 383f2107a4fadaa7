/** `hpcdl data inspect FILE`: what an HDF5 (event) file holds. */
import * as fs from 'node:fs';
import { DataFileError } from './errors';
import { EventFile, EventLayout } from './events';
import { DatasetInfo, Hdf5File } from './hdf5';
import type { Piece } from './discovery';
import { firstNonFinite, nonFiniteEvents } from './non-finite';

export interface InspectOptions {
  file: string;
}

export interface ClassSums {
  background: number;
  signal: number;
  total: number;
}

export interface InspectReport {
  path: string;
  fileBytes: number;
  /** 'other' when the file is valid HDF5 but not an event file (then `problem` says why) */
  layout: EventLayout | 'other';
  problem?: string;
  datasets: DatasetInfo[];
  attributes: Record<string, unknown>;
  events?: number;
  /** [C,H,W] */
  imageShape?: [number, number, number];
  labelCounts?: { background: number; signal: number };
  weightSums?: ClassSums;
  normweightSums?: ClassSums;
  /** events passing the standard cuts, per class (legacy files: absent) */
  psrCounts?: { background: number; signal: number };
  /** events whose image, weight or normweight holds NaN or ±Infinity, and the first such event */
  nonFinite?: { images: number; weight: number; normweight: number; firstEvent?: number };
}

/**
 * True when an event file cannot be trained on as it is: a broken layout (e.g. a label count
 * that differs from the image count) or non-finite values. HDF5 files that hold no images at
 * all (checkpoints, predictions.h5) are described, not faulted.
 */
export function hasProblems(r: InspectReport): boolean {
  const n = r.nonFinite;
  const meantAsEvents = r.datasets.some((d) => d.name === 'data' || d.name.startsWith('all_events/'));
  return (r.problem !== undefined && meantAsEvents) || (n !== undefined && n.images + n.weight + n.normweight > 0);
}

export async function inspectFile(filePath: string): Promise<InspectReport> {
  const h5 = await Hdf5File.open(filePath, 'r');
  let datasets: DatasetInfo[];
  let attributes: Record<string, unknown>;
  try {
    datasets = h5.datasetNames().map((n) => h5.info(n));
    attributes = h5.attrs('/');
  } finally {
    h5.close();
  }
  const report: InspectReport = { path: filePath, fileBytes: fs.statSync(filePath).size, layout: 'other', datasets, attributes };
  let ev: EventFile;
  try {
    ev = await EventFile.open(filePath, { warn: () => {} });
  } catch (e) {
    if (!(e instanceof DataFileError)) throw e;
    report.problem = e.message;
    return report;
  }
  try {
    const { info } = ev;
    const sc = ev.scalars();
    const sums = (w: Float32Array): ClassSums => {
      const s = { background: 0, signal: 0, total: 0 };
      for (let i = 0; i < w.length; i++) {
        if (sc.label[i]) s.signal += w[i];
        else s.background += w[i];
      }
      s.total = s.signal + s.background;
      return s;
    };
    const signal = sc.label.reduce((a, b) => a + b, 0);
    report.layout = info.layout;
    report.events = info.numEvents;
    report.imageShape = [info.channels, info.height, info.width];
    report.labelCounts = { background: info.numEvents - signal, signal };
    report.weightSums = sums(sc.weight);
    report.normweightSums = sums(sc.normweight);
    report.nonFinite = await countNonFinite(ev);
    if (info.hasPsr) {
      const p = { background: 0, signal: 0 };
      for (let i = 0; i < sc.psr.length; i++) if (sc.psr[i]) p[sc.label[i] ? 'signal' : 'background']++;
      report.psrCounts = p;
    }
  } catch (e) {
    if (!(e instanceof DataFileError)) throw e;
    report.layout = 'other';
    report.problem = e.message;
  } finally {
    ev.close();
  }
  return report;
}

async function countNonFinite(ev: EventFile): Promise<NonNullable<InspectReport['nonFinite']>> {
  const sc = ev.scalars();
  const counts = { images: 0, weight: 0, normweight: 0, firstEvent: undefined as number | undefined };
  const n = ev.info.numEvents;
  const note = (e: number) => (counts.firstEvent = Math.min(counts.firstEvent ?? e, e));
  for (let e = 0; e < n; e++) {
    if (firstNonFinite(sc.weight, e, e + 1) >= 0) (counts.weight++, note(e));
    if (firstNonFinite(sc.normweight, e, e + 1) >= 0) (counts.normweight++, note(e));
  }
  const pieces: Piece[] = [{ file: ev, start: 0, end: n }];
  // events with a bad image: all bad events less those whose only fault is a weight
  const bad = n > 0 ? await nonFiniteEvents(pieces[0]) : [];
  for (const e of bad) {
    if (hasBadImage(ev, e)) (counts.images++, note(e));
  }
  return counts.firstEvent === undefined ? { images: counts.images, weight: counts.weight, normweight: counts.normweight } : counts;
}

function hasBadImage(ev: EventFile, event: number): boolean {
  const elems = ev.info.channels * ev.info.height * ev.info.width;
  const image = new Float32Array(elems);
  ev.readImages(event, 1, image, 0);
  return firstNonFinite(image) >= 0;
}

const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(6));

export function formatInspectReport(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`file: ${r.path} (${r.fileBytes} bytes)`);
  const layoutText = r.layout === 'seed' ? 'seed (data/label/normweight/weight/psr)' : r.layout === 'legacy' ? 'legacy (all_events/hist,y,normalized_weight,weight; no psr)' : 'not an event file';
  lines.push(`layout: ${layoutText}`);
  if (r.problem) lines.push(`problem: ${r.problem}`);
  lines.push('datasets:');
  for (const d of r.datasets) {
    const storage = d.chunks ? `chunked [${d.chunks.join(',')}]${d.filters.length ? ` filters ${d.filters.join('+')}` : ''}` : 'contiguous';
    lines.push(`  ${d.name}: shape [${d.shape.join(',')}] ${d.dtype}${d.numeric && !d.littleEndian && d.elementSize > 1 ? ' big-endian' : ''}, ${storage}`);
  }
  const attrs = Object.entries(r.attributes);
  if (attrs.length) {
    lines.push('attributes:');
    for (const [k, v] of attrs) lines.push(`  ${k}: ${JSON.stringify(v)}`);
  }
  if (r.events !== undefined) {
    lines.push(`events: ${r.events}` + (r.imageShape ? `, images [C,H,W] = [${r.imageShape.join(',')}]` : ''));
    if (r.labelCounts) lines.push(`labels: background (0) ${r.labelCounts.background}, signal (1) ${r.labelCounts.signal}`);
    if (r.weightSums) lines.push(`weight sums: background ${num(r.weightSums.background)}, signal ${num(r.weightSums.signal)}, total ${num(r.weightSums.total)}`);
    if (r.normweightSums) lines.push(`normweight sums: background ${num(r.normweightSums.background)}, signal ${num(r.normweightSums.signal)}, total ${num(r.normweightSums.total)}`);
    if (r.nonFinite) {
      const n = r.nonFinite;
      const first = n.firstEvent !== undefined ? ` (first: event ${n.firstEvent})` : '';
      lines.push(`non-finite values (NaN/Inf): images of ${n.images} events, weight ${n.weight}, normweight ${n.normweight}${first}`);
    }
    if (r.psrCounts) lines.push(`passing standard cuts (psr): background ${r.psrCounts.background}, signal ${r.psrCounts.signal}`);
    else if (r.layout === 'legacy') lines.push('passing standard cuts (psr): not stored in legacy files');
  }
  return lines.join('\n');
}
