/**
 * A physically motivated toy generator of calorimeter images for the HEP CNN.
 *
 * Each event is a list of jets in the η–φ plane (x = φ, periodic; y = η).
 * A jet is one or more prongs (2-D Gaussian energy clusters) whose angular
 * separation grows with the jet's mass-to-pT ratio (ΔR ≈ 2m/pT, as for a
 * boosted two-body decay). The three channels are the total calorimeter
 * energy, the EM fraction and the track multiplicity. Pile-up adds soft
 * deposits and tracks everywhere.
 *
 * Signal (RPV-SUSY-like gluino pairs decaying to quarks) has more, harder and
 * more massive multi-prong jets than the QCD-like background; the per-event
 * kinematics overlap so that the classes are learnable but not trivially
 * separable. `psr` ("passes standard cuts") is a cut on the number of jets and
 * the summed jet mass, computed from smeared ("reconstructed") quantities.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataOptionsError } from './errors';
import { writeEventFile } from './events';
import { Rng } from './rng';
import type { Split } from './pipeline';

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
  minJets: number;
  jetPtThreshold: number;
  minSummedMass: number;
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
export const ETA_MAX = 2.5;

/** The standard cuts: at least MIN_JETS jets above the pT threshold and a summed jet mass above the cut. */
export const STANDARD_CUTS = { minJets: 4, jetPtThreshold: 50, minSummedMass: 90 };

interface Prong {
  eta: number;
  phi: number;
  /** share of the jet's energy */
  frac: number;
  sigma: number;
}

interface Jet {
  eta: number;
  phi: number;
  pt: number;
  mass: number;
  emFrac: number;
  trackMean: number;
  prongs: Prong[];
}

interface EventRecord {
  label: 0 | 1;
  jets: Jet[];
  weight: number;
  psr: 0 | 1;
}

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
  const render = new Renderer(o.size, o.pileup);
  const channelMax: [number, number, number] = [0, 0, 0];
  const scratch = new Float32Array(3 * plane);
  records.get('train')!.forEach((r, i) => {
    render.event(r, new Rng(o.seed, i, 0x9e4d), scratch, 0);
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
      for (let k = 0; k < n; k++) {
        const r = recs[lo + k];
        render.event(r, new Rng(o.seed, s.first + lo + k, 0x9e4d), data, k * 3 * plane);
        normalise(data, k * 3 * plane, plane, channelMax);
        label[k] = r.label;
        weight[k] = r.weight;
        nw[k] = normweight[lo + k];
        psr[k] = r.psr;
      }
      await writeEventFile(filePath, { data, imageShape: [3, o.size, o.size], label, normweight: nw, weight, psr }, {
        chunkEvents: o.chunkEvents,
        gzip: o.gzip,
        attrs: {
          generator: 'hpcdl synth',
          seed: o.seed,
          split: s.split,
          channels: CHANNEL_NAMES.join(','),
          channel_max: [...channelMax],
          x_axis: 'phi in [-pi, pi), periodic',
          y_axis: `eta in [-${ETA_MAX}, ${ETA_MAX}]`,
          psr_definition: `n_jets(pT>${STANDARD_CUTS.jetPtThreshold}) >= ${STANDARD_CUTS.minJets} and summed jet mass >= ${STANDARD_CUTS.minSummedMass}`,
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
    cut: { ...STANDARD_CUTS, ...cutEfficiencies(testRecs) },
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
    const label: 0 | 1 = rng.uniform() < o.signalFraction ? 1 : 0;
    const jets = label ? signalJets(rng) : backgroundJets(rng);
    out.push({ label, jets, weight: crossSectionWeight(label, jets, rng), psr: passesStandardCuts(jets, rng) ? 1 : 0 });
  }
  return out;
}

const TWO_PI = 2 * Math.PI;

function wrapPhi(phi: number): number {
  return phi - TWO_PI * Math.floor((phi + Math.PI) / TWO_PI);
}

function clampEta(eta: number): number {
  return Math.max(-ETA_MAX + 0.1, Math.min(ETA_MAX - 0.1, eta));
}

/** QCD-like: a back-to-back dijet plus softer radiation; light, mostly one-prong, gluon-like (many tracks) jets. */
function backgroundJets(rng: Rng): Jet[] {
  const jets: Jet[] = [];
  const n = 2 + Math.min(7, rng.poisson(1.6));
  const phi0 = rng.uniform() * TWO_PI - Math.PI;
  const pt0 = 60 + rng.exponential(120);
  for (let j = 0; j < n; j++) {
    const pt = j === 0 ? pt0 : j === 1 ? pt0 * (0.6 + 0.4 * rng.uniform()) : 30 + rng.exponential(70);
    const phi = j === 1 ? wrapPhi(phi0 + Math.PI + rng.normal(0, 0.25)) : j === 0 ? phi0 : rng.uniform() * TWO_PI - Math.PI;
    const ratio = Math.min(0.35, 0.05 + rng.exponential(0.07));
    jets.push(makeJet(rng, clampEta(rng.normal(0, 1.1)), phi, pt, ratio, 1.45, 0.32, rng.uniform() < 0.25 ? 2 : 1));
  }
  return jets;
}

/** RPV-SUSY-like: gluino pair → 6 quarks; more, harder and heavier multi-prong jets, quark-like (fewer tracks). */
function signalJets(rng: Rng): Jet[] {
  const jets: Jet[] = [];
  const n = 4 + Math.min(6, rng.poisson(1.3));
  for (let j = 0; j < n; j++) {
    const pt = 45 + rng.exponential(90);
    const ratio = Math.min(0.4, 0.07 + rng.exponential(0.08));
    const prongs = rng.uniform() < 0.55 ? 2 : rng.uniform() < 0.5 ? 3 : 1;
    jets.push(makeJet(rng, clampEta(rng.normal(0, 1.0)), rng.uniform() * TWO_PI - Math.PI, pt, ratio, 1.0, 0.38, prongs));
  }
  return jets;
}

function makeJet(rng: Rng, eta: number, phi: number, pt: number, massRatio: number, trackScale: number, emMean: number, nProngs: number): Jet {
  const mass = massRatio * pt;
  const separation = Math.min(0.8, (2 * mass) / pt);
  const prongs: Prong[] = [];
  const fracs = nProngs === 1 ? [1] : dirichletLike(rng, nProngs);
  const axis = rng.uniform() * TWO_PI;
  for (let p = 0; p < nProngs; p++) {
    const ang = axis + (TWO_PI * p) / nProngs;
    const r = nProngs === 1 ? 0 : separation * (0.5 + 0.3 * rng.uniform());
    prongs.push({ eta: clampEta(eta + r * Math.sin(ang)), phi: wrapPhi(phi + r * Math.cos(ang)), frac: fracs[p], sigma: 0.05 + 0.35 * massRatio / Math.sqrt(nProngs) });
  }
  const emFrac = Math.min(0.95, Math.max(0.05, rng.normal(emMean, 0.1)));
  const trackMean = trackScale * Math.max(1, 2 + 3 * Math.log(pt / 20));
  return { eta, phi, pt, mass, emFrac, trackMean, prongs };
}

function dirichletLike(rng: Rng, k: number): number[] {
  const x = Array.from({ length: k }, () => 0.4 + rng.uniform());
  const s = x.reduce((a, b) => a + b, 0);
  return x.map((v) => v / s);
}

/** Cross-section-like weight: QCD is far more abundant (and pT-sliced), signal is rare. */
function crossSectionWeight(label: 0 | 1, jets: Jet[], rng: Rng): number {
  if (label === 1) return 0.02 * (0.9 + 0.2 * rng.uniform());
  const lead = Math.max(...jets.map((j) => j.pt));
  return 40 * Math.pow(150 / lead, 1.5) * (0.9 + 0.2 * rng.uniform());
}

/** The standard cuts on smeared ("reconstructed") jet pT and masses. */
function passesStandardCuts(jets: Jet[], rng: Rng): boolean {
  let n = 0;
  let summed = 0;
  for (const j of jets) {
    const pt = j.pt * (1 + rng.normal(0, 0.2));
    if (pt < STANDARD_CUTS.jetPtThreshold) continue;
    n++;
    summed += j.mass * Math.max(0, 1 + rng.normal(0, 0.3));
  }
  return n >= STANDARD_CUTS.minJets && summed >= STANDARD_CUTS.minSummedMass;
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

/** Draws events into [3,S,S] float32 images (unnormalised: GeV, fraction, counts). */
class Renderer {
  private readonly size: number;
  private readonly pileup: number;
  private readonly em: Float32Array;
  private readonly wx: Float64Array;

  constructor(size: number, pileup: number) {
    this.size = size;
    this.pileup = pileup;
    this.em = new Float32Array(size * size);
    this.wx = new Float64Array(2 * size + 3);
  }

  private col(phi: number): number {
    return ((phi + Math.PI) / TWO_PI) * this.size;
  }

  private row(eta: number): number {
    return ((eta + ETA_MAX) / (2 * ETA_MAX)) * this.size;
  }

  event(r: EventRecord, rng: Rng, out: Float32Array, offset: number): void {
    const S = this.size;
    const plane = S * S;
    out.fill(0, offset, offset + 3 * plane);
    this.em.fill(0);
    const energy = out.subarray(offset, offset + plane);
    const tracks = out.subarray(offset + 2 * plane, offset + 3 * plane);
    for (const jet of r.jets) {
      const e = jet.pt * Math.cosh(jet.eta);
      for (const p of jet.prongs) this.gaussian(energy, p.eta, p.phi, p.sigma, e * p.frac, jet.emFrac);
      const nTracks = rng.poisson(jet.trackMean);
      for (let t = 0; t < nTracks; t++) {
        const p = pickProng(jet.prongs, rng.uniform());
        this.addPoint(tracks, p.eta + rng.normal(0, p.sigma), p.phi + rng.normal(0, p.sigma), 1);
      }
    }
    const nPileup = rng.poisson(this.pileup);
    for (let k = 0; k < nPileup; k++) {
      const eta = (rng.uniform() * 2 - 1) * ETA_MAX;
      const phi = rng.uniform() * TWO_PI - Math.PI;
      const e = rng.exponential(1.5) * Math.cosh(eta);
      this.addDeposit(energy, eta, phi, e, 0.3 + 0.4 * rng.uniform());
      if (rng.uniform() < 0.5) this.addPoint(tracks, eta, phi, 1);
    }
    const emFraction = out.subarray(offset + plane, offset + 2 * plane);
    for (let p = 0; p < plane; p++) emFraction[p] = energy[p] > 1e-6 ? this.em[p] / energy[p] : 0;
  }

  /** Spread `e` over a Gaussian blob (σ in η–φ units), energy-conserving over the drawn box; φ wraps. */
  private gaussian(energy: Float32Array, eta: number, phi: number, sigma: number, e: number, emFrac: number): void {
    const S = this.size;
    const sx = (sigma / TWO_PI) * S;
    const sy = (sigma / (2 * ETA_MAX)) * S;
    const cx = this.col(phi);
    const cy = this.row(eta);
    const rx = Math.min(S, Math.max(1, Math.ceil(3 * sx)));
    const ry = Math.max(1, Math.ceil(3 * sy));
    const x0 = Math.floor(cx) - rx;
    const y0 = Math.max(0, Math.floor(cy) - ry);
    const y1 = Math.min(S - 1, Math.floor(cy) + ry);
    // separable: exp(-(dx²+dy²)/2) = exp(-dx²/2)·exp(-dy²/2)
    const wx = this.wx;
    let sumX = 0;
    for (let i = 0; i <= 2 * rx; i++) {
      const dx = (x0 + i + 0.5 - cx) / sx;
      wx[i] = Math.exp(-0.5 * dx * dx);
      sumX += wx[i];
    }
    let sumY = 0;
    for (let y = y0; y <= y1; y++) {
      const dy = (y + 0.5 - cy) / sy;
      sumY += Math.exp(-0.5 * dy * dy);
    }
    if (sumX === 0 || sumY === 0) return;
    const scale = e / (sumX * sumY);
    for (let y = y0; y <= y1; y++) {
      const dy = (y + 0.5 - cy) / sy;
      const rowScale = scale * Math.exp(-0.5 * dy * dy);
      const rowBase = y * S;
      for (let i = 0; i <= 2 * rx; i++) {
        const v = rowScale * wx[i];
        const x = x0 + i;
        const idx = rowBase + (((x % S) + S) % S);
        energy[idx] += v;
        this.em[idx] += v * emFrac;
      }
    }
  }

  private addDeposit(energy: Float32Array, eta: number, phi: number, e: number, emFrac: number): void {
    const idx = this.index(eta, phi);
    if (idx < 0) return;
    energy[idx] += e;
    this.em[idx] += e * emFrac;
  }

  private addPoint(plane: Float32Array, eta: number, phi: number, v: number): void {
    const idx = this.index(eta, phi);
    if (idx >= 0) plane[idx] += v;
  }

  private index(eta: number, phi: number): number {
    const S = this.size;
    const y = Math.floor(this.row(eta));
    if (y < 0 || y >= S) return -1;
    const x = ((Math.floor(this.col(wrapPhi(phi))) % S) + S) % S;
    return y * S + x;
  }
}

function pickProng(prongs: Prong[], u: number): Prong {
  let acc = 0;
  for (const p of prongs) {
    acc += p.frac;
    if (u < acc) return p;
  }
  return prongs[prongs.length - 1];
}

/** Truth-level kinematics of event `index` for a seed (what the images are drawn from); for studies and tests. */
export function eventKinematics(seed: number, index: number, signalFraction = 0.5): {
  label: 0 | 1;
  jets: { eta: number; phi: number; pt: number; mass: number; prongs: number }[];
  weight: number;
  psr: 0 | 1;
} {
  const o = checkSynthOptions({ outDir: '.', size: 64, events: 1, seed, signalFraction });
  const [r] = makeRecords(o, index, 1);
  return { label: r.label, jets: r.jets.map((j) => ({ eta: j.eta, phi: j.phi, pt: j.pt, mass: j.mass, prongs: j.prongs.length })), weight: r.weight, psr: r.psr };
}

/** Human-readable summary of a `synthesize` run (what `hpcdl data synth` prints). */
export function formatSynthSummary(s: SynthSummary): string {
  const lines = [`synthetic ${s.size}x${s.size} events in ${s.outDir} (${s.seconds.toFixed(1)} s):`];
  for (const f of s.files) lines.push(`  ${f.split.padEnd(5)} ${f.path}: ${f.events} events (${f.signal} signal, ${f.background} background)`);
  lines.push(`  channel maxima (train): ${s.channels.map((c, i) => `${c} ${s.channelMax[i].toPrecision(4)}`).join(', ')}`);
  lines.push(
    `  standard cuts (psr: >= ${s.cut.minJets} jets with pT > ${s.cut.jetPtThreshold}, summed jet mass >= ${s.cut.minSummedMass}): ` +
      `signal efficiency ${s.cut.signalEfficiency.toFixed(3)}, background efficiency ${s.cut.backgroundEfficiency.toFixed(4)} (weighted, test split)`,
  );
  return lines.join('\n');
}
