/**
 * The synthetic HEP task: RPV SUSY gluino pairs (signal) against QCD multi-jet
 * events (background), rendered as calorimeter images in the seed's layout.
 * The physics is in synth-physics.ts (processes, shower, jets, standard cuts),
 * the detector in synth-detector.ts; this file writes train/val/test files.
 * docs/data.md describes the model and its parameters.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataOptionsError } from './errors';
import { writeEventFile } from './events';
import { Rng } from './rng';
import type { Split } from './pipeline';
import { Calorimeter, ETA_MAX } from './synth-detector';
import { RECO, STANDARD_CUTS, generateEvent, type GeneratedEvent } from './synth-physics';

export { ETA_MAX, DETECTOR } from './synth-detector';
export { PROCESS, SHOWER, RECO, STANDARD_CUTS } from './synth-physics';

export interface SynthOptions {
  outDir: string;
  size: 64 | 224;
  /** total events over train + val + test */
  events: number;
  seed: number;
  /** default 0.1 */
  valFraction?: number;
  /** default 0.1 */
  testFraction?: number;
  /** fraction of signal events, default 0.5 */
  signalFraction?: number;
  /** number of train files; default: as many as needed to keep each file under maxFileBytes */
  trainFiles?: number;
  /** default 128 MiB (files are written whole, so this bounds memory) */
  maxFileBytes?: number;
  /** mean number of pile-up deposits per event, default 40 */
  pileup?: number;
  /** events per chunk: writes chunked (and gzip-compressed with `gzip`) datasets instead of contiguous ones */
  chunkEvents?: number;
  /** gzip level for chunked files */
  gzip?: number;
  log?: (s: string) => void;
}

export interface SynthFileSummary {
  split: Split;
  path: string;
  events: number;
  signal: number;
  background: number;
}

export interface CutSummary {
  /** weighted by `weight` */
  signalEfficiency: number;
  backgroundEfficiency: number;
}

export interface SynthSummary {
  outDir: string;
  size: 64 | 224;
  files: SynthFileSummary[];
  /** per-channel maxima of the training set that every split was divided by */
  channelMax: [number, number, number];
  channels: [string, string, string];
  /** the standard-cuts selection on the test split */
  cut: CutSummary;
  seconds: number;
}

export const CHANNEL_NAMES: [string, string, string] = ['total_energy', 'em_fraction', 'track_multiplicity'];
/** columns of the `jets` dataset {N, RECO.maxStoredJets, 4}: reconstructed large-R jets, pT-ordered, zero-padded */
export const JET_COLUMNS = ['pt', 'eta', 'phi', 'mass'] as const;

type EventRecord = GeneratedEvent;

/** Generate and write train/val/test files. Deterministic for a seed. */
export async function synthesize(opts: SynthOptions): Promise<SynthSummary> {
  const t0 = Date.now();
  const o = checkSynthOptions(opts);
  const log = opts.log ?? (() => {});
  fs.mkdirSync(o.outDir, { recursive: true });
  const nVal = Math.round(o.events * o.valFraction);
  const nTest = Math.round(o.events * o.testFraction);
  const nTrain = o.events - nVal - nTest;
  if (nTrain < 1) throw new DataOptionsError(`synth: ${o.events} events leave no training events after val/test fractions`);
  const splits: { split: Split; first: number; count: number }[] = [
    { split: 'train', first: 0, count: nTrain },
    { split: 'val', first: nTrain, count: nVal },
    { split: 'test', first: nTrain + nVal, count: nTest },
  ];
  const records = new Map<Split, EventRecord[]>();
  for (const s of splits) records.set(s.split, makeRecords(o, s.first, s.count));

  const plane = o.size * o.size;
  const render = new Calorimeter(o.size, o.pileup);
  const channelMax: [number, number, number] = [0, 0, 0];
  const scratch = new Float32Array(3 * plane);
  records.get('train')!.forEach((r, i) => {
    render.event(r.partons, new Rng(o.seed, i, 0x9e4d), scratch, 0);
    for (let c = 0; c < 3; c++) {
      for (let p = c * plane; p < (c + 1) * plane; p++) if (scratch[p] > channelMax[c]) channelMax[c] = scratch[p];
    }
  });
  for (let c = 0; c < 3; c++) if (channelMax[c] === 0) channelMax[c] = 1;
  log(`synth: training-set channel maxima ${channelMax.map((m) => m.toPrecision(4)).join(', ')}`);

  const files: SynthFileSummary[] = [];
  const eventBytes = 3 * plane * 4;
  for (const s of splits) {
    if (s.count === 0) continue;
    const recs = records.get(s.split)!;
    const normweight = normalisedWeights(recs);
    const nFiles = s.split === 'train' && o.trainFiles ? Math.min(o.trainFiles, s.count) : Math.max(1, Math.ceil((s.count * eventBytes) / o.maxFileBytes));
    for (let f = 0; f < nFiles; f++) {
      const lo = Math.floor((f * s.count) / nFiles);
      const hi = Math.floor(((f + 1) * s.count) / nFiles);
      const name = nFiles === 1 ? `${s.split}.h5` : `${s.split}_${String(f).padStart(3, '0')}.h5`;
      const filePath = path.join(o.outDir, name);
      const n = hi - lo;
      const data = new Float32Array(n * 3 * plane);
      const label = new Int32Array(n);
      const weight = new Float32Array(n);
      const nw = new Float32Array(n);
      const psr = new Uint8Array(n);
      const jets = new Float32Array(n * RECO.maxStoredJets * JET_COLUMNS.length);
      for (let k = 0; k < n; k++) {
        const r = recs[lo + k];
        render.event(r.partons, new Rng(o.seed, s.first + lo + k, 0x9e4d), data, k * 3 * plane);
        storeJets(r, jets, k);
        normalise(data, k * 3 * plane, plane, channelMax);
        label[k] = r.label;
        weight[k] = r.weight;
        nw[k] = normweight[lo + k];
        psr[k] = r.psr;
      }
      await writeEventFile(filePath, { data, imageShape: [3, o.size, o.size], label, normweight: nw, weight, psr }, {
        chunkEvents: o.chunkEvents,
        gzip: o.gzip,
        extra: { jets: { data: jets, shape: [n, RECO.maxStoredJets, JET_COLUMNS.length] } },
        attrs: {
          generator: 'hpcdl synth',
          seed: o.seed,
          split: s.split,
          channels: CHANNEL_NAMES.join(','),
          channel_max: [...channelMax],
          x_axis: 'phi in [-pi, pi), periodic',
          y_axis: `eta in [-${ETA_MAX}, ${ETA_MAX}]`,
          psr_definition: cutDefinition(),
          jet_columns: `jets {N,${RECO.maxStoredJets},${JET_COLUMNS.length}}: ${JET_COLUMNS.join(',')} of reconstructed large-R jets (R=${RECO.jetRadius}, pT>${RECO.jetPtMin} GeV, |eta|<${RECO.jetEtaMax}), pT-ordered, zero-padded`,
        },
      });
      const signal = label.reduce((a, b) => a + b, 0);
      files.push({ split: s.split, path: filePath, events: n, signal, background: n - signal });
      log(`synth: wrote ${filePath} (${n} events, ${signal} signal)`);
    }
  }
  const testRecs = records.get('test')!.length ? records.get('test')! : records.get('train')!;
  return {
    outDir: o.outDir,
    size: o.size,
    files,
    channelMax,
    channels: CHANNEL_NAMES,
    cut: cutEfficiencies(testRecs),
    seconds: (Date.now() - t0) / 1000,
  };
}

type CheckedSynth = Required<Omit<SynthOptions, 'log' | 'trainFiles' | 'chunkEvents' | 'gzip'>> & Pick<SynthOptions, 'trainFiles' | 'chunkEvents' | 'gzip'>;

function checkSynthOptions(opts: SynthOptions): CheckedSynth {
  const bad = (what: string, v: unknown) => new DataOptionsError(`synth: ${what}, got ${JSON.stringify(v)}`);
  if (typeof opts.outDir !== 'string' || !opts.outDir) throw bad('outDir must be a directory path', opts.outDir);
  if (opts.size !== 64 && opts.size !== 224) throw bad('size must be 64 or 224', opts.size);
  if (!Number.isInteger(opts.events) || opts.events < 1) throw bad('events must be a positive integer', opts.events);
  if (!Number.isInteger(opts.seed)) throw bad('seed must be an integer', opts.seed);
  const frac = (name: string, v: number | undefined, def: number) => {
    const x = v ?? def;
    if (!(x >= 0 && x < 1)) throw bad(`${name} must be in [0, 1)`, v);
    return x;
  };
  const valFraction = frac('valFraction', opts.valFraction, 0.1);
  const testFraction = frac('testFraction', opts.testFraction, 0.1);
  if (valFraction + testFraction >= 1) throw bad('valFraction + testFraction must be < 1', valFraction + testFraction);
  if (opts.trainFiles !== undefined && (!Number.isInteger(opts.trainFiles) || opts.trainFiles < 1)) throw bad('trainFiles must be a positive integer', opts.trainFiles);
  if (opts.chunkEvents !== undefined && (!Number.isInteger(opts.chunkEvents) || opts.chunkEvents < 1)) throw bad('chunkEvents must be a positive integer', opts.chunkEvents);
  if (opts.gzip !== undefined && !(Number.isInteger(opts.gzip) && opts.gzip >= 0 && opts.gzip <= 9)) throw bad('gzip must be an integer 0-9', opts.gzip);
  if (opts.gzip !== undefined && opts.chunkEvents === undefined) throw bad('gzip needs chunkEvents (HDF5 compresses chunked datasets only)', opts.gzip);
  return {
    outDir: opts.outDir,
    size: opts.size,
    events: opts.events,
    seed: opts.seed,
    valFraction,
    testFraction,
    signalFraction: frac('signalFraction', opts.signalFraction, 0.5),
    trainFiles: opts.trainFiles,
    maxFileBytes: opts.maxFileBytes ?? 128 * 1024 * 1024,
    pileup: opts.pileup ?? 40,
    chunkEvents: opts.chunkEvents,
    gzip: opts.gzip,
  };
}

function makeRecords(o: CheckedSynth, first: number, count: number): EventRecord[] {
  const out: EventRecord[] = [];
  for (let i = 0; i < count; i++) {
    const rng = new Rng(o.seed, first + i, 0x5eed);
    out.push(generateEvent(rng, rng.uniform() < o.signalFraction ? 1 : 0));
  }
  return out;
}

function storeJets(r: EventRecord, out: Float32Array, event: number): void {
  const stride = JET_COLUMNS.length;
  const base = event * RECO.maxStoredJets * stride;
  r.jets.slice(0, RECO.maxStoredJets).forEach((j, i) => {
    out.set([j.pt, j.eta, j.phi, j.mass], base + i * stride);
  });
}

/** The standard cuts in words (the `psr_definition` attribute and the summary line). */
export function cutDefinition(): string {
  const regions = STANDARD_CUTS.regions.map((r) => `(>= ${r.minJets} jets and summed jet mass >= ${r.minSummedMass} GeV)`).join(' or ');
  return `${regions} and |delta eta(j1, j2)| < ${STANDARD_CUTS.maxLeadingDeltaEta}; large-R jets with pT > ${STANDARD_CUTS.jetPtThreshold} GeV, |eta| < ${STANDARD_CUTS.jetEtaMax}`;
}

/** normweight: `weight` rescaled so both classes sum to half the events each. */
function normalisedWeights(recs: EventRecord[]): Float32Array {
  const sums = [0, 0];
  const counts = [0, 0];
  for (const r of recs) {
    sums[r.label] += r.weight;
    counts[r.label]++;
  }
  const target = recs.length / 2;
  const out = new Float32Array(recs.length);
  recs.forEach((r, i) => {
    out[i] = counts[r.label] ? (r.weight * target) / sums[r.label] : 0;
  });
  return out;
}

function cutEfficiencies(recs: EventRecord[]): { signalEfficiency: number; backgroundEfficiency: number } {
  const pass = [0, 0];
  const all = [0, 0];
  for (const r of recs) {
    all[r.label] += r.weight;
    if (r.psr) pass[r.label] += r.weight;
  }
  return { signalEfficiency: all[1] ? pass[1] / all[1] : 0, backgroundEfficiency: all[0] ? pass[0] / all[0] : 0 };
}

function normalise(data: Float32Array, offset: number, plane: number, max: [number, number, number]): void {
  for (let c = 0; c < 3; c++) {
    const inv = 1 / max[c];
    const end = offset + (c + 1) * plane;
    for (let p = offset + c * plane; p < end; p++) data[p] *= inv;
  }
}

/** Reconstructed jets, label, weight and psr of event `index` for a seed (what the images are drawn from); for studies and tests. */
export function eventKinematics(seed: number, index: number, signalFraction = 0.5): {
  label: 0 | 1;
  jets: { eta: number; phi: number; pt: number; mass: number; constituents: number }[];
  partons: GeneratedEvent['partons'];
  weight: number;
  psr: 0 | 1;
} {
  const o = checkSynthOptions({ outDir: '.', size: 64, events: 1, seed, signalFraction });
  const [r] = makeRecords(o, index, 1);
  return { label: r.label, jets: r.jets, partons: r.partons, weight: r.weight, psr: r.psr };
}

/** Human-readable summary of a `synthesize` run (what `hpcdl data synth` prints). */
export function formatSynthSummary(s: SynthSummary): string {
  const lines = [`synthetic ${s.size}x${s.size} events in ${s.outDir} (${s.seconds.toFixed(1)} s):`];
  for (const f of s.files) lines.push(`  ${f.split.padEnd(5)} ${f.path}: ${f.events} events (${f.signal} signal, ${f.background} background)`);
  lines.push(`  channel maxima (train): ${s.channels.map((c, i) => `${c} ${s.channelMax[i].toPrecision(4)}`).join(', ')}`);
  lines.push(
    `  standard cuts (psr: ${cutDefinition()}): ` +
      `signal efficiency ${s.cut.signalEfficiency.toFixed(3)}, background efficiency ${s.cut.backgroundEfficiency.toFixed(4)} (weighted, test split)`,
  );
  return lines.join('\n');
}
