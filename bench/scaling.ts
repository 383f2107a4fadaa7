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
 * --ceiling also runs two independent 1-rank trainings at batch 64 at the same time, one per
 * engine (no communication at all): what the two processes get from the machine when they
 * share it, i.e. the best speed-up data parallelism could reach here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../cluster';
import type { TrainingOutcome } from '../cluster/train';
import { seedBenchConfig } from './train-throughput';
import { benchArgs, nonNegative, oneOf, positive, stringValue } from './support/args';

interface Options {
  steps: number;
  warmup: number;
  compression: 'none' | 'fp16';
  rounds: number;
  ceiling: boolean;
}

const USAGE = `Usage: hpcdl bench scaling [--steps 6] [--warmup 2] [--compression none|fp16] [--rounds 1] [--ceiling]
  data-parallel training on 2 engines against 1: speed-up of HEP-CNN-64 steps (--steps timed, after --warmup)`;

export async function main(argv: string[]): Promise<number> {
  const opts = parse(argv);
  if (!opts) return 0;
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
    if (opts.ceiling) {
      const independent = { ...config, batch_size_per_node: true, train_batch_size: 64 };
      const alone = (engine: number) =>
        cluster.train({ config: { ...independent, outputpath: path.join(work, `alone-${engine}-${runs}`) }, engines: [engine], threads: 1, dummyData: true, maxSteps: total, log: () => undefined });
      const [x, y] = (await Promise.all([alone(first), alone(second)])).map((o) => steady(o, opts.warmup, 64));
      const slower = Math.max(x.iterationMs, y.iterationMs);
      console.log(`2 independent 1-rank trainings at batch 64, at once (no communication): ${x.iterationMs.toFixed(0)} and ${y.iterationMs.toFixed(0)} ms per step: ceiling ${(a.iterationMs / slower).toFixed(3)}x`);
    }
    console.log(`\n# speed-up 2 engines / 1 engine: ${(b.imagesPerSec / a.imagesPerSec).toFixed(3)}x (target >= 1.8); communication ${(100 * b.commFraction).toFixed(1)}% of a step`);
    return b.imagesPerSec / a.imagesPerSec;
  }
}

/** Global figures over the steps after the warm-up. */
function steady(outcome: TrainingOutcome, warmup: number, images = 128) {
  const steps = outcome.globalSteps.filter((s) => s.step > warmup);
  if (steps.length === 0) throw new Error(`no timed steps (the run reached step ${outcome.steps})`);
  const mean = (f: (s: (typeof steps)[number]) => number) => steps.reduce((n, s) => n + f(s), 0) / steps.length;
  const iterationMs = mean((s) => s.iterationMs);
  return { iterationMs, imagesPerSec: (images * 1000) / iterationMs, commMs: mean((s) => s.commMs), commFraction: mean((s) => s.commFraction) };
}

function wireBytes(status: Record<string, unknown>): number {
  return Number((status.wire as { bytes_received?: number } | undefined)?.bytes_received ?? NaN);
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function parse(argv: string[]): Options | null {
  const flags = benchArgs(argv, {
    steps: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    compression: { type: 'string', default: 'none' },
    rounds: { type: 'string', default: '1' },
    ceiling: { type: 'boolean', default: false },
  }, USAGE);
  if (!flags) return null;
  return {
    steps: positive(stringValue(flags, 'steps'), '--steps'),
    warmup: nonNegative(stringValue(flags, 'warmup'), '--warmup'),
    compression: oneOf(stringValue(flags, 'compression'), '--compression', ['none', 'fp16'] as const),
    rounds: positive(stringValue(flags, 'rounds'), '--rounds'),
    ceiling: flags.ceiling === true,
  };
}
