/**
 * `hpcdl train` on several engines or Slurm tasks (issue 9):
 *
 *   hpcdl train --config C --engines N        a local cluster of N engines, one rank each
 *   hpcdl train --config C --connect ID|FILE  every engine of a running cluster (or --engines N of them)
 *   srun -n N hpcdl train --config C          one rank per Slurm task, no controller
 *
 * The plain `train` command hands over here when it sees --engines/--connect
 * or runs as one task of a multi-task Slurm step (`isDistributedTrain`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { choice, integer, parse, required, text, UsageError, type Values } from './args';

const USAGE = `Usage: hpcdl train --config C (--engines N | --connect CLUSTER) [options]
       srun -n N hpcdl train --config C [options]

  --config C               JSON config (or a user module's run config with --module)
  --engines N|all|i,j,..   local: start N engines; with --connect: how many / which engines (default all)
  --connect CLUSTER        a running cluster (connection file or cluster id)
  --restart checkpoint     when a rank fails, re-form the group and continue from the newest checkpoint
  --warmup-epochs E        learning-rate warm-up (default 5 epochs, Horovod's) ...
  --warmup-steps S         ... or in steps
  --lr-scaling linear|none learning rate x ranks after the warm-up (default linear)
  --compression none|fp16  gradient bytes on the wire
  --num_ps P               parameter servers: the first P ranks (default: the config's num_ps; 0 = allreduce)
  --mode sync|async        parameter-server updates (default: the config's mode)
  --num-hot-spares K       sync: workers a step does not wait for (default: the config's num_hot_spares)
  --module M [--export X]  train a user module's model (exports {buildModel, batchSource}; default export 'training')
  --output DIR             override outputpath (rank 0 writes models/ and logs/ there)
  --input DIR              override inputpath
  --epochs N --max-steps N --dummy-data --threads N --resume (srun)`;

/** True when `hpcdl train` should train data-parallel: --engines/--connect, or one task of a multi-task srun step. */
export function isDistributedTrain(argv: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  if (argv.some((a) => a === '--engines' || a === '--connect' || a.startsWith('--engines=') || a.startsWith('--connect='))) return true;
  return slurmStepTasks(env) > 1 && !argv.some((a) => a === '--rank' || a === '--size');
}

/** Tasks of the Slurm job step this process is one of (0 outside a step: a batch script itself is not one). */
function slurmStepTasks(env: NodeJS.ProcessEnv): number {
  if (env.SLURM_PROCID === undefined || env.SLURM_STEP_ID === undefined) return 0;
  return Number(env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS ?? 0);
}

export async function trainDistributedCommand(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, {
    config: { type: 'string' },
    engines: { type: 'string' },
    connect: { type: 'string' },
    restart: { type: 'string' },
    'warmup-epochs': { type: 'string' },
    'warmup-steps': { type: 'string' },
    'lr-scaling': { type: 'string' },
    compression: { type: 'string' },
    module: { type: 'string' },
    export: { type: 'string' },
    output: { type: 'string' },
    input: { type: 'string' },
    epochs: { type: 'string' },
    'max-steps': { type: 'string' },
    'dummy-data': { type: 'boolean' },
    threads: { type: 'string' },
    resume: { type: 'boolean' },
    num_ps: { type: 'string' },
    mode: { type: 'string' },
    'num-hot-spares': { type: 'string' },
  });
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const common = commonOptions(v);
  if (v.connect === undefined && v.engines === undefined) return trainUnderSrun(v, common);
  return trainOnCluster(v, common);
}

interface Common {
  configPath: string;
  warmup?: { epochs: number } | { steps: number };
  lrScaling?: 'linear' | 'none';
  compression?: 'none' | 'fp16';
  output?: string;
  input?: string;
  epochs?: number;
  maxSteps?: number;
  dummyData: boolean;
  threads?: number;
  numPs?: number;
  mode?: 'sync' | 'async';
  numHotSpares?: number;
}

function commonOptions(v: Values): Common {
  const str = (k: string) => text(v[k]);
  const int = (k: string, min: number) => integer(str(k), `--${k}`, min);
  const oneOf = <T extends string>(k: string, allowed: readonly T[]) => choice(str(k), `--${k}`, allowed);
  const configPath = required(str('config'), '--config');
  if (v['warmup-epochs'] !== undefined && v['warmup-steps'] !== undefined) throw new UsageError('give --warmup-epochs or --warmup-steps, not both');
  const warmupEpochs = str('warmup-epochs');
  if (warmupEpochs !== undefined && !(Number(warmupEpochs) >= 0)) throw new UsageError(`--warmup-epochs must be a number ≥ 0, got "${warmupEpochs}"`);
  const warmupSteps = int('warmup-steps', 0);
  return {
    configPath,
    warmup: warmupEpochs !== undefined ? { epochs: Number(warmupEpochs) } : warmupSteps !== undefined ? { steps: warmupSteps } : undefined,
    lrScaling: oneOf('lr-scaling', ['linear', 'none']),
    compression: oneOf('compression', ['none', 'fp16']),
    output: str('output'),
    input: str('input'),
    epochs: int('epochs', 1),
    maxSteps: int('max-steps', 1),
    dummyData: Boolean(v['dummy-data']),
    threads: int('threads', 1),
    numPs: int('num_ps', 0),
    mode: oneOf('mode', ['sync', 'async']),
    numHotSpares: int('num-hot-spares', 0),
  };
}

/** `srun -n N hpcdl train`: this process is one rank; the group forms from the Slurm environment. */
async function trainUnderSrun(v: Values, c: Common): Promise<number> {
  if (slurmStepTasks(process.env) < 2) throw new UsageError('give --engines N or --connect CLUSTER (or run under srun -n N with N > 1)');
  if (v.restart !== undefined) throw new UsageError('--restart needs a cluster (--engines or --connect); under srun, resubmit with --resume');
  // loaded here, not at the top: `hpcdl train --help` stays instant
  const { groupFromSlurmEnv } = require('../cluster/collectives') as typeof import('../cluster/collectives');
  const { train, trainUserModel, asUserTraining } = require('../src/train') as typeof import('../src/train');
  const group = await groupFromSlurmEnv();
  try {
    if (typeof v.module === 'string') {
      if (c.numPs) throw new UsageError('--num_ps under srun trains the HEP CNN; train a --module with parameter servers on a cluster (--engines or --connect)');
      const where = path.resolve(v.module);
      if (/\.(ts|mts|cts)$/.test(where)) (require('tsx/cjs/api') as { register(): void }).register(); // a TypeScript module without a build step
      const exportName = typeof v.export === 'string' ? v.export : 'training';
      const training = asUserTraining((require(where) as Record<string, unknown>)[exportName], `${where} (export "${exportName}")`);
      const result = await trainUserModel(training, {
        config: JSON.parse(fs.readFileSync(c.configPath, 'utf8')),
        outputDir: path.resolve(c.output ?? 'distributed-training'),
        resume: Boolean(v.resume),
        group,
        warmup: c.warmup,
        lrScaling: c.lrScaling,
        compression: c.compression,
      });
      if (group.rank === 0) console.log(`Rank 0 : ${group.size} ranks, ${result.globalStep} steps; checkpoint ${result.lastCheckpoint ?? 'none'}`);
      return result.interrupted ? 130 : 0;
    }
    const options = {
      configPath: c.configPath,
      warmup: c.warmup,
      lrScaling: c.lrScaling,
      compression: c.compression,
      outputDir: c.output,
      inputPath: c.input,
      epochs: c.epochs,
      maxSteps: c.maxSteps,
      dummyData: c.dummyData,
      threads: c.threads,
      // --resume forces a restore; without it the config's restart key decides (false: restore the newest checkpoint)
      resume: v.resume ? true : undefined,
    };
    const servers = srunServers(c, group.size);
    if (servers) return await trainOrServeUnderSrun(group, servers, options);
    const result = await train({ ...options, group });
    if (result.mode === 'train' && group.rank === 0) {
      const comm = result.communication;
      console.log(`Rank 0 : ${group.size} ranks, ${result.globalStep} steps, allreduce ${comm ? (comm.commMs / Math.max(1, comm.steps)).toFixed(1) : '?'} ms per step; checkpoint ${result.lastCheckpoint ?? 'none'}`);
    }
    return result.mode === 'train' && result.interrupted ? 130 : 0;
  } finally {
    await group.close();
  }
}

/** --engines N (a local cluster started here) or --connect CLUSTER. */
async function trainOnCluster(v: Values, c: Common): Promise<number> {
  const { Cluster } = require('../cluster') as typeof import('../cluster');
  const engines = parseEngines(typeof v.engines === 'string' ? v.engines : undefined);
  if (v.connect === undefined && typeof engines !== 'number') throw new UsageError('--engines must be a number when it starts a local cluster');
  if (v.resume) throw new UsageError('--resume is for srun ranks; with a cluster use --restart checkpoint (or rerun: a config with restart: false continues from the newest checkpoint)');
  const restart = v.restart === undefined ? undefined : v.restart === 'checkpoint' || v.restart === 'none' ? v.restart : undefined;
  if (v.restart !== undefined && !restart) throw new UsageError(`--restart must be checkpoint or none, got "${v.restart}"`);
  const cluster =
    typeof v.connect === 'string'
      ? await Cluster.connect(v.connect)
      : await Cluster.start({ engines: engines as number });
  try {
    console.log(`hpcdl train: cluster ${cluster.clusterId} with engines ${cluster.engineIds.join(', ')}`);
    const config = typeof v.module === 'string' ? fs.readFileSync(c.configPath, 'utf8') : c.configPath;
    const run = cluster.train({
      config: typeof v.module === 'string' ? JSON.parse(config) : config,
      module: typeof v.module === 'string' ? v.module : undefined,
      export: typeof v.export === 'string' ? v.export : undefined,
      engines: engines ?? 'all',
      restart,
      warmup: c.warmup,
      lrScaling: c.lrScaling,
      compression: c.compression,
      output: c.output,
      inputPath: c.input,
      epochs: c.epochs,
      maxSteps: c.maxSteps,
      dummyData: c.dummyData,
      threads: c.threads,
      numPs: c.numPs,
      mode: c.mode,
      numHotSpares: c.numHotSpares,
      log: (line) => console.log(line),
    });
    const outcome = await run;
    const g = outcome.globalSteps;
    const tail = g.slice(Math.min(2, Math.max(0, g.length - 1)));
    const mean = (f: (s: (typeof g)[number]) => number) => (tail.length ? tail.reduce((a, s) => a + f(s), 0) / tail.length : NaN);
    console.log(
      `hpcdl train: ${outcome.cancelled ? 'cancelled' : 'finished'} at global step ${outcome.steps} on ${outcome.ranks.length || run.placement.length} ranks ` +
        `(${outcome.attempts} group${outcome.attempts > 1 ? 's' : ''}) in ${outcome.seconds.toFixed(1)} s: ${mean((s) => s.imagesPerSec).toFixed(1)} images/s, ` +
        `allreduce ${mean((s) => s.commMs).toFixed(1)} ms per step (${(100 * mean((s) => s.commFraction)).toFixed(1)}% of a step)`,
    );
    for (const r of outcome.ranks) console.log(`  rank ${r.rank}: engine ${r.engineId} on ${r.host}, weights sha256 ${r.weightsHash}, ${r.groupStats.bytesSent} bytes sent to peers`);
    for (const s of outcome.ranks.filter((r) => r.role === 'ps').flatMap((r) => r.parameterServers ?? [])) console.log(`  parameter server ${s.server}: ${s.pushes} pushes, ${s.applied} applied, ${s.dropped} dropped, global step ${s.globalStep}`);
    console.log(`  checkpoint: ${outcome.checkpoint ?? 'none'}`);
    return outcome.cancelled ? 130 : 0;
  } finally {
    await cluster.close();
  }
}

function parseEngines(s: string | undefined): number | 'all' | number[] | undefined {
  if (s === undefined) return undefined;
  if (s === 'all') return 'all';
  if (/^\d+$/.test(s) && Number(s) >= 1) return Number(s);
  if (/^\d+(,\d+)+$/.test(s)) return s.split(',').map(Number);
  throw new UsageError(`--engines must be a positive integer, 'all' or a list of engine ids (1,2,3), got "${s}"`);
}

/** srun with parameter servers (--num_ps or the config's num_ps > 0): the layout, else undefined. */
function srunServers(c: Common, size: number) {
  const { loadConfig } = require('../src/config') as typeof import('../src/config');
  const { checkLayout } = require('../src/train') as typeof import('../src/train');
  const config = loadConfig(c.configPath, { warn: () => undefined });
  const numPs = c.numPs ?? config.num_ps ?? 0;
  if (numPs === 0) return undefined;
  try {
    return checkLayout({ numPs, mode: c.mode ?? config.mode, numHotSpares: c.numHotSpares ?? config.num_hot_spares }, size);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function trainOrServeUnderSrun(group: import('../cluster/collectives').ProcessGroup, layout: import('../src/train').ParameterServerLayout, options: import('../src/train').TrainOptions): Promise<number> {
  const { trainOrServe } = require('../cluster/train/ps-rank') as typeof import('../cluster/train/ps-rank');
  const outcome = await trainOrServe(group, layout, options);
  if (outcome.role === 'ps') return 0;
  const result = outcome.result;
  if (result.mode === 'train' && group.rank === layout.numPs) {
    const servers = (result.parameterServers ?? []).map((s) => `server ${s.server}: ${s.pushes} pushes, ${s.applied} applied, ${s.dropped} dropped`).join('; ');
    console.log(`Rank ${group.rank} : ${group.size - layout.numPs} workers, ${layout.numPs} parameter servers, ${result.globalStep} steps (${servers}); checkpoint ${result.lastCheckpoint ?? 'none'}`);
  }
  return result.mode === 'train' && result.interrupted ? 130 : 0;
}
