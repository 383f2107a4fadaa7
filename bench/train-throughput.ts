/**
 * Training and inference throughput of the seed's HEP CNN (64 and 224 variants), hpcdl on the
 * selected backend vs PyTorch (Debian python3-torch via /usr/bin/python3) in the same run.
 *
 *   npx tsx bench/train-throughput.ts [--sizes 64,224] [--batch 128] [--steps 3] [--warmup 1]
 *        [--micro-batch N] [--threads 2] [--backend onednn] [--precision fp32|bf16] [--no-peer]
 *        [--no-installed] [--no-profile] [--order around|peer-first|hpcdl-first]
 *
 * --threads is used by both sides: torch.set_num_threads, and for hpcdl the threads computing
 * gradients (onednn: oneDNN's thread pool; wasm: DataParallelGradients' worker threads, each
 * with its own wasm heap). --micro-batch N: most images per forward/backward pass (default:
 * what fits the wasm heap, or a quarter of the memory on onednn).
 * PyTorch runs tuned (channels_last, the thread count set, glibc told to keep large buffers:
 * MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=8589934592), before and after hpcdl,
 * and once as installed (default memory format and allocator, the thread count set). hpcdl's
 * addon sets the same two allocator values with mallopt when it loads.
 * --precision bf16: hpcdl's convolutions in bf16 (onednn), PyTorch under bf16 autocast.
 * Prints the figures, the ratios to tuned and as-installed PyTorch, GFLOP/s against the
 * machine's fp32 peak, the load average, and the per-kernel profile of one hpcdl training step.
 * Figures, not a pass/fail test.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend';
import { formatKernelTimes, KernelTime, profileKernels } from '../src/backend/kernel-profile';
import type { HepConfig } from '../src/config/types';
import { buildHepCnn, DataParallelGradients, HepCnn } from '../src/model';
import { UsageError } from '../src/command-line';
import { benchArgs, nonNegative, oneOf, positive, positiveList, stringValue } from './support/args';
import { Adam } from '../src/train/adam';
import { cpuPeak } from './support/cpu-peak';
import { hepFlops } from './support/hep-flops';

interface Options {
  sizes: number[];
  batch: number;
  steps: number;
  warmup: number;
  microBatch?: number;
  threads: number;
  backend?: string;
  precision: 'fp32' | 'bf16';
  peer: boolean;
  installed: boolean;
  profile: boolean;
  /** run the tuned peer before hpcdl, after it, or both (then averaged: the machine's load drifts) */
  order: 'peer-first' | 'hpcdl-first' | 'around';
}

interface Rates {
  train: number;
  infer: number;
  /** hpcdl only: images per forward/backward pass */
  imagesPerPass?: number;
  /** hpcdl only: kernel times of one profiled training step */
  profile?: { rows: KernelTime[]; wallMs: number };
}

/** glibc keeps large buffers instead of unmapping and re-faulting them every step */
const TUNED_MALLOC = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '8589934592' };

const USAGE = `Usage: hpcdl bench train-throughput [--sizes 64,224] [--batch 128] [--steps 3] [--warmup 1] [--micro-batch N]
                        [--threads 2] [--backend tensorflow-gpu|tensorflow|onednn|wasm|cpu] [--precision fp32|bf16]
                        [--no-peer] [--no-installed] [--no-profile] [--order around|peer-first|hpcdl-first]
  HEP CNN training and inference images/s: hpcdl against PyTorch (tuned and as installed) with the same threads`;

export async function main(argv: string[]): Promise<number> {
  const opts = parseArgs(argv);
  if (!opts) return 0;
  const backend = await initBackend({ force: opts.backend });
  const peak = cpuPeak();
  console.log(`# HEP CNN throughput, batch ${opts.batch}, ${opts.steps} timed steps after ${opts.warmup} warm-up, ${opts.precision}`);
  console.log(`# ${peak.model}, ${os.cpus().length} cores; fp32 peak ${peak.gflops(opts.threads).toFixed(0)} GFLOP/s on ${opts.threads} thread(s) (${peak.basis})`);
  console.log(`# load average at start: ${loadText()} (the machine is shared)`);
  const rows: string[] = [];
  for (const size of opts.sizes) {
    const tuned: Rates[] = [];
    if (opts.peer && opts.order !== 'hpcdl-first') tuned.push(runPeer(size, opts, true));
    const ours = await measureHpcdl(size, opts);
    if (opts.peer && opts.order !== 'peer-first') tuned.push(runPeer(size, opts, true));
    const installed = opts.peer && opts.installed ? runPeer(size, opts, false) : undefined;
    for (const run of tuned.length > 1 ? tuned : []) {
      console.log(`  (tuned torch run: train ${run.train.toFixed(2)} img/s, inference ${run.infer.toFixed(2)} img/s)`);
    }
    const peer = tuned.length ? averageRates(tuned) : undefined;
    const flops = hepFlops(seedBenchConfig(size));
    const gflops = (rate: number, perImage: number) => (rate * perImage) / 1e9;
    const pct = (g: number) => `${((100 * g) / peak.gflops(opts.threads)).toFixed(0)}% of peak`;
    const passes = ours.imagesPerPass !== undefined && ours.imagesPerPass < opts.batch ? `, passes of at most ${ours.imagesPerPass} images` : '';
    const ourTrainG = gflops(ours.train, flops.train);
    const ourInferG = gflops(ours.infer, flops.forward);
    console.log(`hpcdl ${backend.name} ${opts.threads} thread(s) hep-cnn-${size}: train ${ours.train.toFixed(2)} img/s (${ourTrainG.toFixed(0)} GFLOP/s, ${pct(ourTrainG)}${passes}), ` +
      `inference ${ours.infer.toFixed(2)} img/s (${ourInferG.toFixed(0)} GFLOP/s, ${pct(ourInferG)})`);
    if (peer) {
      const g = gflops(peer.train, flops.train);
      console.log(`torch tuned ${opts.threads} threads hep-cnn-${size}${tuned.length > 1 ? ' (mean of the runs before and after)' : ''}: train ${peer.train.toFixed(2)} img/s (${g.toFixed(0)} GFLOP/s), inference ${peer.infer.toFixed(2)} img/s`);
    }
    if (installed) console.log(`torch as installed ${opts.threads} threads hep-cnn-${size}: train ${installed.train.toFixed(2)} img/s, inference ${installed.infer.toFixed(2)} img/s`);
    if (ours.profile) {
      console.log(`hpcdl per-kernel profile of one training step, hep-cnn-${size} (wall ${ours.profile.wallMs.toFixed(0)} ms${backend.name === 'wasm' && opts.threads > 1 ? '; main thread only, worker threads not shown' : ''}):`);
      for (const line of formatKernelTimes(ours.profile.rows)) console.log(line);
    }
    if (peer) {
      rows.push(
        `hep-cnn-${size}  train ${ours.train.toFixed(2)} vs ${peer.train.toFixed(2)} img/s  ratio ${(ours.train / peer.train).toFixed(3)}` +
          `${installed ? ` (vs as installed ${(ours.train / installed.train).toFixed(3)})` : ''}` +
          `  |  inference ${ours.infer.toFixed(2)} vs ${peer.infer.toFixed(2)} img/s  ratio ${(ours.infer / peer.infer).toFixed(3)}` +
          `${installed ? ` (vs as installed ${(ours.infer / installed.infer).toFixed(3)})` : ''}`,
      );
    }
  }
  console.log(`# load average at end: ${loadText()}`);
  if (rows.length) {
    console.log(`\n# hpcdl (${backend.name}, ${backend.detail}, ${opts.threads} thread(s), ${opts.precision}) / torch tuned (${opts.threads} threads, channels_last, malloc kept${opts.precision === 'bf16' ? ', bf16 autocast' : ''})`);
    for (const row of rows) console.log(row);
  }
  return 0;
}

function loadText(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

function parseArgs(argv: string[]): Options | null {
  const flags = benchArgs(argv, {
    sizes: { type: 'string', default: '64,224' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    'micro-batch': { type: 'string' },
    threads: { type: 'string', default: '2' },
    backend: { type: 'string' },
    precision: { type: 'string', default: 'fp32' },
    'no-peer': { type: 'boolean', default: false },
    'no-installed': { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    order: { type: 'string', default: 'around' },
  }, USAGE);
  if (!flags) return null;
  const sizes = positiveList(stringValue(flags, 'sizes'), '--sizes');
  if (sizes.some((s) => s !== 64 && s !== 224)) throw new UsageError(`--sizes takes 64 and/or 224, got ${JSON.stringify(flags.sizes)}`);
  return {
    sizes,
    batch: positive(stringValue(flags, 'batch'), '--batch'),
    steps: positive(stringValue(flags, 'steps'), '--steps'),
    warmup: nonNegative(stringValue(flags, 'warmup'), '--warmup'),
    microBatch: typeof flags['micro-batch'] === 'string' ? positive(flags['micro-batch'], '--micro-batch') : undefined,
    threads: positive(stringValue(flags, 'threads'), '--threads'),
    backend: typeof flags.backend === 'string' ? flags.backend : undefined,
    precision: oneOf(stringValue(flags, 'precision'), '--precision', ['fp32', 'bf16'] as const),
    peer: flags['no-peer'] !== true,
    installed: flags['no-installed'] !== true,
    profile: flags['no-profile'] !== true,
    order: oneOf(stringValue(flags, 'order'), '--order', ['around', 'peer-first', 'hpcdl-first'] as const),
  };
}

/** The seed's configs: cori_haswell_64 (3 layers, FC 512) and the 224 scaling_improvements variant. */
export function seedBenchConfig(size: number): HepConfig {
  return {
    input_shape: [size, size, 3],
    inputpath: '',
    outputpath: '',
    trainsamples: 726016,
    arch: 'cpu',
    mode: 'sync',
    num_hot_spares: 0,
    display_interval: 10,
    save_interval: 1,
    learning_rate: 1e-3,
    dropout_p: 0.5,
    optimizer: 'ADAM',
    weight_decay: 0,
    num_layers: size === 64 ? 3 : 4,
    num_fc_units: size === 64 ? 512 : undefined,
    momentum: 0.9,
    num_epochs: 1,
    train_batch_size: 128,
    validation_batch_size: 128,
    batch_size_per_node: true,
    batch_norm: false,
    scaling_improvements: size === 224,
    time: true,
    create_summary: false,
    restart: false,
    conv_params: { data_format: 'NHWC', num_filters: 128, filter_size: 3, padding: 'SAME', activation: 'ReLU', initializer: 'HE' },
  };
}

async function measureHpcdl(size: number, opts: Options): Promise<Rates> {
  const model = buildHepCnn(seedBenchConfig(size), { seed: 12345, precision: opts.precision });
  const optimizer = new Adam({ learningRate: 1e-3 });
  const images = tf.randomUniform([opts.batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: opts.batch }, (_, i) => i % 2), 'int32');
  const weights = tf.ones([opts.batch]) as tf.Tensor1D;
  const parallel = await DataParallelGradients.create(model, { threads: opts.threads, imagesPerPass: opts.microBatch });
  const step = async () => {
    const { value, grads } = await parallel.compute(images, labels, weights);
    optimizer.applyGradients(model.variables, model.variables.map((v) => grads[v.name]));
    tf.dispose([value, ...Object.values(grads)]);
  };
  for (let i = 0; i < opts.warmup; i++) await step();
  let start = performance.now();
  for (let i = 0; i < opts.steps; i++) await step();
  const train = (opts.batch * opts.steps * 1000) / (performance.now() - start);
  const imagesPerPass = Math.min(parallel.imagesPerPass, opts.batch);
  const profile = opts.profile ? await profileKernels(step) : undefined;
  await parallel.dispose();

  const infer = () => tf.tidy(() => predictInChunks(model, images, imagesPerPass).dataSync());
  for (let i = 0; i < opts.warmup; i++) infer();
  start = performance.now();
  for (let i = 0; i < opts.steps; i++) infer();
  const inferRate = (opts.batch * opts.steps * 1000) / (performance.now() - start);
  tf.dispose([images, labels, weights]);
  optimizer.dispose();
  model.dispose();
  return { train, infer: inferRate, imagesPerPass, profile };
}

function predictInChunks(model: HepCnn, images: tf.Tensor4D, chunk: number): tf.Tensor {
  const batch = images.shape[0];
  if (chunk >= batch) return model.predict(images);
  const parts: tf.Tensor[] = [];
  for (let start = 0; start < batch; start += chunk) parts.push(model.predict(tf.slice(images, start, Math.min(chunk, batch - start))));
  return tf.concat(parts);
}

function averageRates(runs: Rates[]): Rates {
  const mean = (f: (r: Rates) => number) => runs.reduce((sum, r) => sum + f(r), 0) / runs.length;
  return { train: mean((r) => r.train), infer: mean((r) => r.infer) };
}

/** bench/peers/torch_hep_cnn.py, from the source tree (tsx) or from dist/bench (compiled). */
function peerScript(): string {
  const candidates = [
    path.join(__dirname, 'peers', 'torch_hep_cnn.py'),
    path.join(__dirname, '..', '..', 'bench', 'peers', 'torch_hep_cnn.py'),
  ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (!found) throw new Error(`torch peer script not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** PyTorch tuned (channels_last, large buffers kept) or as installed; the thread count set either way */
function runPeer(size: number, opts: Options, tuned: boolean): Rates {
  const script = peerScript();
  const args = [script, '--size', String(size), '--batch', String(opts.batch), '--steps', String(opts.steps),
    '--warmup', String(opts.warmup), '--threads', String(opts.threads)];
  if (tuned) args.push('--channels-last');
  if (opts.precision === 'bf16') args.push('--bf16');
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(TUNED_MALLOC)) delete env[name];
  const result = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', maxBuffer: 1 << 20, env: tuned ? { ...env, ...TUNED_MALLOC } : env });
  if (result.status !== 0) {
    throw new Error(`torch peer failed (${script}, exit ${result.status}): ${(result.stderr || result.error?.message || '').trim()}`);
  }
  const line = result.stdout.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(line) as { train_img_s: number; infer_img_s: number };
  return { train: parsed.train_img_s, infer: parsed.infer_img_s };
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`train-throughput: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
