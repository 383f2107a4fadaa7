/**
 * Baselines against the CNN on the synthetic task, all on one test split:
 * the standard cuts (`psr`), a logistic regression on the summed per-channel
 * energies, one on 8×8-pooled images, a small fully connected network on the
 * reconstructed large-R jets (`jets`), and the CNN (`configs/local_small.json`,
 * trained as `npm run demo` trains it). Prints the weighted test AUC and the
 * signal efficiency at the cuts' background efficiency of each, and the CNN's
 * ratio to the best baseline.
 *
 *   npx tsx bench/baselines.ts [--events 16000] [--seed 2018] [--epochs 5] [--dir D] [--keep]
 *
 * The baselines are trained with tfjs (full-batch / minibatch Adam), unweighted
 * like the CNN (the seed trains unweighted); metrics are weighted by `weight`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { synthesize, readArrays, discoverFiles, JET_COLUMNS, RECO } from '../src/data/index';
import { initBackend } from '../src/backend/index';
import { rocCurve, rocAuc, signalEfficiencyAt, selectionEfficiencies } from '../src/metrics/index';
import { train } from '../src/train/train';
import { infer } from '../src/train/infer';
import { defaultConfigPath } from '../src/train/demo';
import { benchArgs, positive, stringValue } from './support/args';
import { runIfMain } from './support/bench-main';

/** Per-event features of one split, computed file by file (the images are not kept). */
export interface SplitFeatures {
  label: Int32Array;
  weight: Float32Array;
  psr: Uint8Array;
  /** log(1 + Σ pixel) per channel: [N, 3] */
  sums: Float32Array;
  /** images summed over 8×8 blocks: [N, 3·(H/8)·(W/8)] */
  pooled: Float32Array;
  pooledWidth: number;
  /** pT, η, φ, m of the leading large-R jets and their count: [N, maxStoredJets·4 + 1] */
  jets: Float32Array;
  jetWidth: number;
}

const POOL = 8;

export async function splitFeatures(dataDir: string, split: 'train' | 'test'): Promise<SplitFeatures> {
  const pieces: { label: number[]; weight: number[]; psr: number[]; sums: number[]; pooled: number[]; jets: number[] } = { label: [], weight: [], psr: [], sums: [], pooled: [], jets: [] };
  let pooledWidth = 0;
  const jetWidth = RECO.maxStoredJets * JET_COLUMNS.length + 1;
  for (const file of discoverFiles(dataDir, split)) {
    const a = await readArrays(file);
    if (!a.jets) throw new Error(`${file}: has no 'jets' dataset (write it with hpcdl data synth)`);
    const [n, c, h, w] = a.data.shape;
    const img = a.data.data as Float32Array;
    const ph = Math.floor(h / POOL);
    const pw = Math.floor(w / POOL);
    pooledWidth = c * ph * pw;
    for (let k = 0; k < n; k++) {
      pieces.label.push(a.label.data[k]);
      pieces.weight.push(a.weight.data[k]);
      pieces.psr.push(a.psr.data[k]);
      const pooled = new Float64Array(pooledWidth);
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        const base = (k * c + ch) * h * w;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const v = img[base + y * w + x];
            sum += v;
            pooled[(ch * ph + Math.min(ph - 1, Math.floor(y / POOL))) * pw + Math.min(pw - 1, Math.floor(x / POOL))] += v;
          }
        }
        pieces.sums.push(Math.log1p(sum));
      }
      for (const v of pooled) pieces.pooled.push(v);
      const jets = Array.from(a.jets.data.slice(k * (jetWidth - 1), (k + 1) * (jetWidth - 1)) as ArrayLike<number>);
      let count = 0;
      for (let j = 0; j < RECO.maxStoredJets; j++) if (jets[j * JET_COLUMNS.length] > 0) count++;
      pieces.jets.push(...jets, count);
    }
  }
  return {
    label: Int32Array.from(pieces.label),
    weight: Float32Array.from(pieces.weight),
    psr: Uint8Array.from(pieces.psr),
    sums: Float32Array.from(pieces.sums),
    pooled: Float32Array.from(pieces.pooled),
    pooledWidth,
    jets: Float32Array.from(pieces.jets),
    jetWidth,
  };
}

/** Standardise columns with the training set's mean and standard deviation. */
function standardise(train: Float32Array, test: Float32Array, width: number): [tf.Tensor2D, tf.Tensor2D] {
  const a = tf.tensor2d(train, [train.length / width, width]);
  const b = tf.tensor2d(test, [test.length / width, width]);
  const { mean, variance } = tf.moments(a, 0);
  const sd = tf.sqrt(tf.add(variance, 1e-8));
  const out: [tf.Tensor2D, tf.Tensor2D] = [tf.div(tf.sub(a, mean), sd), tf.div(tf.sub(b, mean), sd)];
  tf.dispose([a, b, mean, variance, sd]);
  return out;
}

/**
 * A network with the given hidden layers (none: logistic regression), trained
 * with Adam on the binary cross-entropy; returns test scores.
 */
export function fitAndScore(
  trainX: Float32Array,
  trainY: Int32Array,
  testX: Float32Array,
  width: number,
  opts: { hidden: number[]; epochs: number; batch: number; learningRate: number; l2: number; seed: number },
): Float32Array {
  const [x, xt] = standardise(trainX, testX, width);
  const y = tf.tensor2d(Float32Array.from(trainY), [trainY.length, 1]);
  const sizes = [width, ...opts.hidden, 1];
  const vars: tf.Variable[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const scale = Math.sqrt(2 / sizes[i]);
    vars.push(tf.variable(tf.mul(tf.randomNormal([sizes[i], sizes[i + 1]], 0, 1, 'float32', opts.seed + i), scale)));
    vars.push(tf.variable(tf.zeros([sizes[i + 1]])));
  }
  const forward = (input: tf.Tensor2D): tf.Tensor2D => {
    let h = input;
    for (let i = 0; i < vars.length; i += 2) {
      h = tf.add(tf.matMul(h, vars[i] as tf.Tensor2D), vars[i + 1]);
      if (i + 2 < vars.length) h = tf.relu(h);
    }
    return h;
  };
  const optimizer = tf.train.adam(opts.learningRate);
  const n = trainY.length;
  let order = Array.from({ length: n }, (_, i) => i);
  let rng = opts.seed >>> 0;
  const next = () => ((rng = (Math.imul(rng, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    order = order.map((v) => [next(), v] as const).sort((p, q) => p[0] - q[0]).map((p) => p[1]);
    for (let lo = 0; lo < n; lo += opts.batch) {
      const idx = tf.tensor1d(order.slice(lo, lo + opts.batch), 'int32');
      tf.tidy(() => {
        const xb = tf.gather(x, idx);
        const yb = tf.gather(y, idx);
        optimizer.minimize(() => {
          const loss = tf.losses.sigmoidCrossEntropy(yb, forward(xb));
          const l2 = vars.filter((_, i) => i % 2 === 0).reduce((s, v) => tf.add(s, tf.sum(tf.square(v))), tf.scalar(0));
          return tf.add(loss, tf.mul(l2, opts.l2)) as tf.Scalar;
        });
      });
      idx.dispose();
    }
  }
  const scores = tf.tidy(() => tf.sigmoid(forward(xt)).dataSync() as Float32Array);
  tf.dispose([x, xt, y, ...vars]);
  optimizer.dispose();
  return Float32Array.from(scores);
}

export interface BaselineRow {
  name: string;
  weightedAuc: number;
  /** signal efficiency at the cuts' background efficiency (weighted) */
  signalEfficiency: number;
}

function row(name: string, test: SplitFeatures, scores: Float32Array, cutFpr: number): BaselineRow {
  const roc = rocCurve(test.label, scores, test.weight);
  return { name, weightedAuc: rocAuc(test.label, scores, test.weight), signalEfficiency: signalEfficiencyAt(roc, cutFpr) };
}

/** The four non-CNN baselines on one data directory. */
export async function baselineRows(dataDir: string, log: (s: string) => void = () => {}): Promise<{ rows: BaselineRow[]; cut: { fpr: number; tpr: number }; test: SplitFeatures }> {
  await initBackend();
  const trainF = await splitFeatures(dataDir, 'train');
  const test = await splitFeatures(dataDir, 'test');
  const cut = selectionEfficiencies(test.label, test.psr, test.weight);
  const rows: BaselineRow[] = [{ name: 'standard cuts (psr)', weightedAuc: rocAuc(test.label, Float32Array.from(test.psr), test.weight), signalEfficiency: cut.tpr }];
  log(`baselines: ${trainF.label.length} training and ${test.label.length} test events`);
  const lr = { hidden: [], epochs: 40, batch: 512, learningRate: 0.02, l2: 1e-4, seed: 7 };
  rows.push(row('logistic regression, summed channel energies', test, fitAndScore(trainF.sums, trainF.label, test.sums, 3, lr), cut.fpr));
  rows.push(row(`logistic regression, ${POOL}x${POOL}-pooled images`, test, fitAndScore(trainF.pooled, trainF.label, test.pooled, trainF.pooledWidth, lr), cut.fpr));
  const fc = { hidden: [64, 32], epochs: 40, batch: 128, learningRate: 0.002, l2: 1e-5, seed: 11 };
  rows.push(row('fully connected network, large-R jets', test, fitAndScore(trainF.jets, trainF.label, test.jets, trainF.jetWidth, fc), cut.fpr));
  return { rows, cut, test };
}

const USAGE = `Usage: hpcdl bench baselines [--events 16000] [--seed 2018] [--epochs 5] [--dir D] [--keep]
  the standard cuts, logistic regressions, a jet-level network and the CNN on one test split of synthetic events`;

export async function main(argv: string[]): Promise<number> {
  const flags = benchArgs(argv, {
    events: { type: 'string', default: '16000' },
    seed: { type: 'string', default: '2018' },
    epochs: { type: 'string', default: '5' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
  }, USAGE);
  if (!flags) return 0;
  const events = positive(stringValue(flags, 'events'), '--events');
  const seed = positive(stringValue(flags, 'seed'), '--seed');
  const epochs = positive(stringValue(flags, 'epochs'), '--epochs');
  const given = typeof flags.dir === 'string' ? flags.dir : undefined;
  const dir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-baselines-'));
  const dataDir = path.join(dir, 'data');
  console.log(`machine: ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`synthesising ${events} 64x64 events (seed ${seed}) → ${dataDir}`);
  await synthesize({ outDir: dataDir, size: 64, events, seed });
  const t0 = Date.now();
  const { rows, cut, test } = await baselineRows(dataDir, console.log);
  console.log(`baselines trained in ${((Date.now() - t0) / 1000).toFixed(0)} s; training the CNN (${epochs} epochs, ${defaultConfigPath()})`);
  const runDir = path.join(dir, 'run');
  const t1 = Date.now();
  const training = await train({ configPath: defaultConfigPath(), inputPath: dataDir, outputDir: runDir, epochs, log: () => {} });
  if (training.mode !== 'train') throw new Error('baselines: training returned an iotest result');
  const evaluation = await infer({ configPath: defaultConfigPath(), inputPath: dataDir, outputDir: runDir, checkpoint: training.modelsDir, predictionsFormat: 'h5', log: () => {} });
  const pred = await readArrays(evaluation.predictionsPath);
  if (!(pred.label.data as Int32Array).every((l, i) => l === test.label[i])) throw new Error('baselines: the CNN predictions are not in test-split order');
  rows.push(row(`CNN (local_small, ${epochs} epochs)`, test, pred.score.data as Float32Array, cut.fpr));
  console.log(`CNN trained and evaluated in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
  console.log(`\ntest split: ${test.label.length} events; the cuts' background efficiency (weighted): ${cut.fpr.toExponential(3)}\n`);
  console.log(`| method | weighted AUC | signal efficiency at the cuts' background efficiency |`);
  console.log(`|---|---|---|`);
  for (const r of rows) console.log(`| ${r.name} | ${r.weightedAuc.toFixed(3)} | ${r.signalEfficiency.toFixed(3)} |`);
  const cnn = rows[rows.length - 1];
  const best = rows.slice(0, -1).reduce((a, b) => (b.signalEfficiency > a.signalEfficiency ? b : a));
  console.log(`\nCNN / best baseline (${best.name}) signal efficiency: ${(cnn.signalEfficiency / Math.max(1e-9, best.signalEfficiency)).toFixed(2)}x`);
  if (!flags.keep && !given) fs.rmSync(dir, { recursive: true, force: true });
  return 0;
}

runIfMain(module, main);
