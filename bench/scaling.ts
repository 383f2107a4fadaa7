/**
 * Data-parallel scaling of the seed's HEP-CNN-64 (cori_haswell_64: 3×conv128, FC 512, about
 * 4.5 M parameters = an 18 MB gradient) at global batch 128, in one run on one local cluster:
 * 1 engine with 1 gradient thread against 2 engines with 1 thread each (batch 64 per rank,
 * gradients averaged engine to engine every step). Prints the speed-up, the share of a step
 * spent in the allreduce, and the controller's and client's byte counters during the 2-engine
 * training next to the bytes the ranks sent each other.
 *
 *   hpcdl bench scaling [--steps 6] [--warmup 2] [--compression none|fp16] [--rounds 1]
 *
 * --rounds N alternates the two configurations N times (the machine's load drifts; other jobs
 * share its 2 cores) and prints each round's speed-up and their median.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../cluster';
import type { TrainingOutcome } from '../cluster/train';
import { seedBenchConfig } from './train_throughput';

interface Options {
  steps: number;
  warmup: number;
  compression: 'none' | 'fp16';
  rounds: number;
}

const USAGE = 'usage: scaling [--steps N (timed, default 6)] [--warmup N (default 2)] [--compression none|fp16] [--rounds N (default 1)]';

export async function main(argv: string[]): Promise<number> {
  let opts: Options;
  try {
    opts = parse(argv);
  } catch (err) {
    console.error(`scaling: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-bench-scaling-'));
  const config = {
    ...seedBenchConfig(64),
    batch_size_per_node: false, // 128 is the global batch: 64 per rank on 2 engines
    train_batch_size: 128,
    validation_batch_size: 128,
    validation_max_steps: 1,
    outputpath: path.join(work, 'run'),
    inputpath: path.join(work, 'none'),
  };
  console.log(`# HEP-CNN-64 data-parallel scaling, global batch 128, ${opts.warmup} warm-up + ${opts.steps} timed steps, dummy data, gradient compression ${opts.compression}`);
  const cluster = await Cluster.start({ engines: 2, profileDir: path.join(work, 'home'), output: 'none', log: () => undefined });
  try {
    const speedups: number[] = [];
    for (let round = 1; round <= opts.rounds; round++) {
      if (opts.rounds > 1) console.log(`## round ${round} of ${opts.rounds}`);
      speedups.push(await measureRound(cluster, config, work, opts));
    }
    const sorted = [...speedups].sort((x, y) => x - y);
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    if (opts.rounds > 1) console.log(`\n# speed-ups per round: ${speedups.map((s) => s.toFixed(3)).join(', ')}; median ${median.toFixed(3)}x (target >= 1.8)`);
    return 0;
  } finally {
    await cluster.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

let runs = 0;

/** One 1-engine and one 2-engine training; prints their figures and returns the speed-up. */
async function measureRound(cluster: Cluster, config: ReturnType<typeof seedBenchConfig>, work: string, opts: Options): Promise<number> {
  {
    const [first, second] = cluster.engineIds;
    const total = opts.warmup + opts.steps;
    const one = await cluster.train({ config: { ...config, outputpath: path.join(work, `one-${++runs}`) }, engines: [first], threads: 1, dummyData: true, maxSteps: total, lrScaling: 'none', log: () => undefined });
    const status0 = await cluster.controllerStatus();
    const client0 = cluster.bytesReceived;
    const two = await cluster.train({
      config: { ...config, outputpath: path.join(work, `two-${runs}`) },
      engines: [first, second],
      threads: 1,
      dummyData: true,
      maxSteps: total,
      compression: opts.compression,
      log: () => undefined,
    });
    const status1 = await cluster.controllerStatus();
    const controllerBytes = wireBytes(status1) - wireBytes(status0);
    const clientBytes = cluster.bytesReceived - client0;

    const a = steady(one, opts.warmup);
    const b = steady(two, opts.warmup);
    console.log(`1 engine  x 1 thread : ${a.imagesPerSec.toFixed(2)} img/s (${a.iterationMs.toFixed(0)} ms per step of 128 images)`);
    console.log(`2 engines x 1 thread : ${b.imagesPerSec.toFixed(2)} img/s (${b.iterationMs.toFixed(0)} ms per step, 64 images per rank; allreduce ${b.commMs.toFixed(1)} ms = ${(100 * b.commFraction).toFixed(1)}% of a step)`);
    const peerBytes = two.ranks.reduce((n, r) => n + r.groupStats.bytesSent, 0);
    console.log(`bytes during the 2-engine training: ranks to each other ${mb(peerBytes)}, controller received ${mb(controllerBytes)}, client received ${mb(clientBytes)}`);
    console.log(`weights sha256 per rank: ${two.ranks.map((r) => `rank ${r.rank} ${r.weightsHash}`).join(', ')}`);
    console.log(`\n# speed-up 2 engines / 1 engine: ${(b.imagesPerSec / a.imagesPerSec).toFixed(3)}x (target >= 1.8); communication ${(100 * b.commFraction).toFixed(1)}% of a step`);
    return b.imagesPerSec / a.imagesPerSec;
  }
}

/** Global figures over the steps after the warm-up. */
function steady(outcome: TrainingOutcome, warmup: number) {
  const steps = outcome.globalSteps.filter((s) => s.step > warmup);
  if (steps.length === 0) throw new Error(`no timed steps (the run reached step ${outcome.steps})`);
  const mean = (f: (s: (typeof steps)[number]) => number) => steps.reduce((n, s) => n + f(s), 0) / steps.length;
  const iterationMs = mean((s) => s.iterationMs);
  return { iterationMs, imagesPerSec: (128 * 1000) / iterationMs, commMs: mean((s) => s.commMs), commFraction: mean((s) => s.commFraction) };
}

function wireBytes(status: Record<string, unknown>): number {
  return Number((status.wire as { bytes_received?: number } | undefined)?.bytes_received ?? NaN);
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function parse(argv: string[]): Options {
  const opts: Options = { steps: 6, warmup: 2, compression: 'none', rounds: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--rounds') {
      if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`--rounds must be a positive integer, got "${value}"`);
      opts.rounds = Number(value);
    } else if (flag === '--steps' || flag === '--warmup') {
      if (!/^\d+$/.test(value) || (flag === '--steps' && Number(value) < 1)) throw new Error(`${flag} must be a ${flag === '--steps' ? 'positive' : 'non-negative'} integer, got "${value}"`);
      opts[flag === '--steps' ? 'steps' : 'warmup'] = Number(value);
    } else if (flag === '--compression') {
      if (value !== 'none' && value !== 'fp16') throw new Error(`--compression must be none or fp16, got "${value}"`);
      opts.compression = value;
    } else {
      throw new Error(`unknown option ${flag}`);
    }
  }
  return opts;
}
