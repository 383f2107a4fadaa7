/**
 * What every batch script make_scripts writes calls first: the seed's flags
 * (overriding what the notebook sets, through the environment its helper
 * modules read), the Slurm rank (a notebook runs once, on rank 0, not as N
 * identical copies racing on the same files), and the file display channel
 * (figures as HTML + JSON under the output directory).
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runCellEndHooks, setDisplayChannel } from '../notebook-hooks';
import { FileDisplayChannel } from './file-display';

export interface BatchScriptOptions {
  /** the script's name (the notebook's, without .ipynb) */
  name: string;
  /** the notebook it was made from, for --help */
  notebook: string;
  argv?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface BatchScript {
  readonly name: string;
  /** this task's rank and the number of tasks (SLURM_PROCID / SLURM_NTASKS; 0 of 1 outside srun) */
  readonly rank: number;
  readonly size: number;
  /** false on ranks > 0: the script returns without running the notebook's cells */
  readonly runs: boolean;
  readonly outputDir: string;
  readonly figuresDir: string;
  /** after each cell: flushes throttled live displays, as the kernel does when a cell ends */
  cellEnd(): void;
  /** writes the final figures (HTML + JSON) */
  finish(): void;
}

const FLAGS = {
  config: { type: 'string' },
  epochs: { type: 'string' },
  'dummy-data': { type: 'boolean' },
  precision: { type: 'string' },
  num_tasks: { type: 'string' },
  engines: { type: 'string' },
  output: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function batchScriptUsage(name: string, notebook: string): string {
  return `Usage: ${name} [options]        (made by make_scripts from ${notebook})

Runs the notebook's cells in order; under srun -n N they run on rank 0 only.
Options override what the notebook sets (through its environment variables):
  --config FILE        config JSON (HPCDL_CONFIG; default hpcdl's configs/local_small.json)
  --epochs N           training epochs (HPCDL_EPOCHS)
  --dummy-data         random images instead of event files, as the seed (HPCDL_DUMMY_DATA=1)
  --precision P        fp32|fp16 (HPCDL_PRECISION)
  --num_tasks N        engines the notebook starts (HPCDL_NOTEBOOK_ENGINES); --engines N is the same
  --output DIR         data, runs and figures go below DIR (HPCDL_NOTEBOOK_DIR; default ./hpcdl-notebook-runs)
  -h, --help           this text
Figures are written to DIR/${name}/figures/ as HTML (plotly.js inlined) and JSON.`;
}

class ScriptUsageError extends Error {}

function positive(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new ScriptUsageError(`${flag} must be an integer ≥ 1, got "${value}"`);
  return value;
}

/** Reads the flags into the environment; exits 0 after --help and 2 on a bad flag (one line). */
export function startBatchScript(opts: BatchScriptOptions): BatchScript {
  const env = opts.env ?? process.env;
  try {
    return start(opts, env);
  } catch (err) {
    if (!(err instanceof ScriptUsageError) && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') !== true) throw err;
    process.stderr.write(`${opts.name}: error: ${(err as Error).message.split('. ')[0]} (see '${opts.name} --help')\n`);
    process.exit(2);
  }
}

function start(opts: BatchScriptOptions, env: NodeJS.ProcessEnv): BatchScript {
  const { values } = parseArgs({ args: opts.argv ?? process.argv.slice(2), options: FLAGS, strict: true, allowPositionals: false });
  if (values.help) {
    console.log(batchScriptUsage(opts.name, opts.notebook));
    process.exit(0);
  }
  if (values.config !== undefined) env.HPCDL_CONFIG = path.resolve(values.config);
  const epochs = positive(values.epochs, '--epochs');
  if (epochs) env.HPCDL_EPOCHS = epochs;
  if (values['dummy-data']) env.HPCDL_DUMMY_DATA = '1';
  if (values.precision !== undefined) {
    if (!['fp32', 'fp16'].includes(values.precision)) throw new ScriptUsageError(`--precision must be one of fp32|fp16, got "${values.precision}"`);
    env.HPCDL_PRECISION = values.precision;
  }
  if (values.num_tasks !== undefined && values.engines !== undefined && values.num_tasks !== values.engines) {
    throw new ScriptUsageError('--num_tasks and --engines are the same option; give one');
  }
  const engines = positive(values.num_tasks ?? values.engines, values.num_tasks !== undefined ? '--num_tasks' : '--engines');
  if (engines) env.HPCDL_NOTEBOOK_ENGINES = engines;
  if (values.output !== undefined) env.HPCDL_NOTEBOOK_DIR = path.resolve(values.output);
  const outputDir = path.resolve(env.HPCDL_NOTEBOOK_DIR || 'hpcdl-notebook-runs');
  const figuresDir = path.join(outputDir, opts.name, 'figures');
  const rank = Number(env.SLURM_PROCID ?? 0);
  const size = Number(env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS ?? 1);
  const runs = rank === 0;
  if (!runs) {
    console.log(`${opts.name}: rank ${rank} of ${size}: the notebook runs on rank 0 only; this rank has nothing to do`);
  } else if (size > 1) {
    console.log(`${opts.name}: rank 0 of ${size} runs the notebook (for one training over all ranks, use the run scripts: srun hpcdl train)`);
  }
  const channel = new FileDisplayChannel(figuresDir);
  if (runs) setDisplayChannel(channel);
  let finished = false;
  return {
    name: opts.name,
    rank,
    size,
    runs,
    outputDir,
    figuresDir,
    cellEnd: () => runCellEndHooks((error) => console.error(`display: ${(error as Error).message}`)),
    finish: () => {
      if (finished || !runs) return;
      finished = true;
      runCellEndHooks(() => undefined);
      channel.finish();
    },
  };
}
