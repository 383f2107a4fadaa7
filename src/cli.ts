#!/usr/bin/env node
/**
 * `hpcdl`: the command line. Each subcommand parses its own flags strictly
 * (an unknown flag is an error naming it), has `--help`, and reports any
 * failure as one line on stderr with a non-zero exit code (2 = usage, 1 = run).
 * The library is loaded lazily so that `--help` is instant and a missing
 * optional area (cluster, kernel) breaks only its own subcommand.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A mistake in how the command was called (exit code 2). */
class UsageError extends Error {}

interface Command {
  summary: string;
  /** delegated long-running commands (controller, engine) decide themselves when the process ends */
  keepAlive?: boolean;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const PROGRAM = 'hpcdl';

function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hpcdl') return pkg.version ?? 'unknown';
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

/** parseArgs, strict, with `-h/--help`; its errors become one-line usage errors. */
type Values = Record<string, string | boolean | undefined>;

function parse(argv: string[], options: Options, positionals = false): { values: Values; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals });
    return { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code?.startsWith('ERR_PARSE_ARGS')) {
      const unknown = /Unknown option '([^']+)'/.exec(e.message);
      throw new UsageError(unknown ? `unknown option ${unknown[1]}` : e.message.split('. ')[0]);
    }
    throw err;
  }
}

function text(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function integer(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim()) || Number(value) < min) {
    throw new UsageError(`${flag} must be an integer ≥ ${min}, got "${value}"`);
  }
  return Number(value);
}

function choice<T extends string>(value: string | undefined, flag: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join('|')}, got "${value}"`);
  return value as T;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

const lib = {
  get train() {
    return require('./train') as typeof import('./train');
  },
  get data() {
    return require('./data') as typeof import('./data');
  },
};

/** `require` a module another area owns; a missing one is a clear one-line error. */
function optionalModule<T>(relative: string, what: string): T {
  const resolved = path.join(__dirname, relative);
  try {
    return require(resolved) as T;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(resolved)) {
      throw new Error(`${what} is not available in this installation (${path.relative(path.join(__dirname, '..'), resolved)} is missing)`);
    }
    throw err;
  }
}

function exportedMain(mod: unknown, name: string, file: string): (argv: string[]) => Promise<number> {
  const fn = (mod as Record<string, unknown>)[name];
  if (typeof fn !== 'function') throw new Error(`${file} does not export ${name}(argv)`);
  return fn as (argv: string[]) => Promise<number>;
}

// ---------------------------------------------------------------- data

const dataSynth: Command = {
  summary: 'write synthetic train/val/test HDF5 event files',
  usage: `Usage: ${PROGRAM} data synth --out DIR [--size 64|224] [--events N] [--seed S]

Generates a toy RPV-SUSY-like signal and QCD-like background (jets as energy
clusters over three calorimeter channels) and writes train, val and test files
in the seed's HDF5 layout, with psr from a cut-based selection.

  --out DIR       output directory (required)
  --size 64|224   image size (default 64)
  --events N      total events over the three splits (default 16000)
  --seed S        random seed (default 2018)`,
  async run(argv) {
    const { values } = parse(argv, {
      out: { type: 'string' },
      size: { type: 'string' },
      events: { type: 'string' },
      seed: { type: 'string' },
    });
    if (values.help) return help(this);
    const size = choice(text(values.size) ?? '64', '--size', ['64', '224'] as const)!;
    await lib.data.synthesize({
      outDir: required(text(values.out), '--out'),
      size: Number(size) as 64 | 224,
      events: integer(text(values.events), '--events', 1) ?? 16000,
      seed: integer(text(values.seed), '--seed', 0) ?? 2018,
      log: (s) => console.log(s),
    });
    return 0;
  },
};

const dataInspect: Command = {
  summary: 'describe an HDF5 event file',
  usage: `Usage: ${PROGRAM} data inspect FILE

Prints the layout, shapes, dtypes, event count, label counts and weight sums.`,
  async run(argv) {
    const { values, positionals } = parse(argv, {}, true);
    if (values.help) return help(this);
    if (positionals.length !== 1) throw new UsageError(`expected one FILE, got ${positionals.length}`);
    const { inspectFile, formatInspectReport } = lib.data;
    console.log(formatInspectReport(await inspectFile(positionals[0])));
    return 0;
  },
};

const data: Command = {
  summary: 'synthesize or inspect event files (data synth | data inspect)',
  usage: `Usage: ${PROGRAM} data <synth|inspect> [options]

  synth     ${dataSynth.summary}
  inspect   ${dataInspect.summary}`,
  run: (argv) => dispatch(argv, { synth: dataSynth, inspect: dataInspect }, data, 'data'),
};

// ---------------------------------------------------------------- train / infer

const train: Command = {
  summary: 'train the HEP CNN from a config',
  usage: `Usage: ${PROGRAM} train --config C [options]

  --config C              JSON config (configs/*.json)
  --dummy-data            random images instead of files (seed: rank*13, 10000/1000 events)
  --epochs N              override num_epochs
  --output DIR            override outputpath (logs/ and models/ are created below it)
  --input DIR             override inputpath
  --mode train|iotest     iotest only reads batches and prints I/O timings
  --precision fp32|fp16   fp16 needs a backend that computes in half precision
  --unweighted            force every training weight to 1 (the seed's behaviour)
  --weighted              train with normweight (overrides use_weights_in_training)
  --max-steps N           stop at global step N
  --resume                continue from the newest checkpoint in <output>/models
  --rank R --size S       train on shard R of S (default 0 of 1)
  --backend B             force tensorflow-gpu|tensorflow|wasm|cpu (also HPCDL_BACKEND)
  --threads N             threads computing the gradients (default: HPCDL_TRAIN_THREADS,
                          else the cores, at most 8)
  --engines N | --connect CLUSTER, or under srun -n N: data-parallel on N ranks
                          (hpcdl train --engines 2 --help for those options)`,
  async run(argv) {
    const distributed = optionalModule<typeof import('../cli/train-distributed')>(path.join('..', 'cli', 'train-distributed'), 'distributed training');
    if (distributed.isDistributedTrain(argv)) return distributed.trainDistributedCommand(argv);
    const { values } = parse(argv, {
      config: { type: 'string' },
      'dummy-data': { type: 'boolean' },
      epochs: { type: 'string' },
      output: { type: 'string' },
      input: { type: 'string' },
      mode: { type: 'string' },
      precision: { type: 'string' },
      unweighted: { type: 'boolean' },
      weighted: { type: 'boolean' },
      'max-steps': { type: 'string' },
      resume: { type: 'boolean' },
      rank: { type: 'string' },
      size: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
    });
    if (values.help) return help(this);
    const v = values;
    if (v.unweighted && v.weighted) throw new UsageError('--weighted and --unweighted contradict each other');
    const size = integer(text(v.size), '--size', 1) ?? 1;
    const rank = integer(text(v.rank), '--rank', 0) ?? 0;
    if (rank >= size) throw new UsageError(`--rank must be below --size ${size}, got ${rank}`);
    const stop = interruptToStop();
    const result = await lib.train.train({
      signal: stop.signal,
      configPath: required(text(v.config), '--config'),
      dummyData: Boolean(v['dummy-data']),
      epochs: integer(text(v.epochs), '--epochs', 1),
      outputDir: text(v.output),
      inputPath: text(v.input),
      mode: choice(text(v.mode), '--mode', ['train', 'iotest'] as const),
      precision: choice(text(v.precision), '--precision', ['fp32', 'fp16'] as const),
      unweighted: Boolean(v.unweighted),
      weighted: Boolean(v.weighted),
      maxSteps: integer(text(v['max-steps']), '--max-steps', 1),
      resume: Boolean(v.resume),
      rank,
      size,
      backend: text(v.backend),
      threads: integer(text(v.threads), '--threads', 1),
      progress: true,
    });
    stop.release();
    return result.mode === 'train' && result.interrupted ? 130 : 0;
  },
};

/**
 * First Ctrl-C: finish the current step, write a checkpoint, exit 130.
 * Second Ctrl-C: exit at once.
 */
function interruptToStop(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    process.stderr.write('\ninterrupted: stopping after this step and writing a checkpoint (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, release: () => process.off('SIGINT', onSigint) };
}

const infer: Command = {
  summary: 'evaluate a checkpoint on the test split (metrics, predictions, ROC report)',
  usage: `Usage: ${PROGRAM} infer --config C --checkpoint P [options]

  --config C                 the config the model was trained with
  --checkpoint P             a ckpt-<step>.json manifest, or a directory (its newest)
  --output DIR               where predictions and plots/roc.html go (default: the checkpoint's run dir)
  --input DIR                override inputpath
  --format csv|h5            predictions file format (default csv)
  --max-steps N              evaluate at most N test batches
  --dummy-data               random test images
  --backend B                force tensorflow-gpu|tensorflow|wasm|cpu`,
  async run(argv) {
    const { values } = parse(argv, {
      config: { type: 'string' },
      checkpoint: { type: 'string' },
      output: { type: 'string' },
      input: { type: 'string' },
      format: { type: 'string' },
      'max-steps': { type: 'string' },
      'dummy-data': { type: 'boolean' },
      backend: { type: 'string' },
    });
    if (values.help) return help(this);
    const v = values;
    await lib.train.infer({
      configPath: required(text(v.config), '--config'),
      checkpoint: required(text(v.checkpoint), '--checkpoint'),
      outputDir: text(v.output),
      inputPath: text(v.input),
      predictionsFormat: choice(text(v.format), '--format', ['csv', 'h5'] as const),
      maxSteps: integer(text(v['max-steps']), '--max-steps', 1),
      dummyData: Boolean(v['dummy-data']),
      backend: text(v.backend),
    });
    return 0;
  },
};

const demo: Command = {
  summary: 'local cluster: synthetic data → train configs/local_small.json on an engine → evaluate → report',
  usage: `Usage: ${PROGRAM} demo [--dir DIR] [--events N] [--epochs N] [--config C] [--engines N | --local]

The main job on the embedded default: writes synthetic 64x64 events, starts a
local cluster (controller + engines), trains configs/local_small.json on an
engine with its log lines and validation reports streaming back, evaluates
the test split and prints the AUC, the comparison with the standard cuts and
where the ROC report is.

  --dir DIR      working directory (default ./hpcdl-demo)
  --events N     synthetic events (default 16000)
  --epochs N     override num_epochs
  --config C     another config instead of configs/local_small.json
  --engines N    engines of the local cluster (default 2)
  --local        train in this process, without a cluster`,
  async run(argv) {
    const { values } = parse(argv, {
      dir: { type: 'string' },
      events: { type: 'string' },
      epochs: { type: 'string' },
      config: { type: 'string' },
      engines: { type: 'string' },
      local: { type: 'boolean' },
    });
    if (values.help) return help(this);
    const v = values;
    const options = {
      dir: text(v.dir),
      events: integer(text(v.events), '--events', 100),
      epochs: integer(text(v.epochs), '--epochs', 1),
      configPath: text(v.config),
      progress: true,
    };
    if (v.local) {
      await lib.train.runDemo(options);
      return 0;
    }
    await runDemoOnCluster(options, integer(text(v.engines), '--engines', 1) ?? 2);
    return 0;
  },
};

/** The demo with its training on an engine of a local cluster started (and stopped) here. */
async function runDemoOnCluster(options: import('./train').DemoOptions, engines: number): Promise<void> {
  const { Cluster } = optionalModule<typeof import('../cluster')>(path.join('..', 'cluster'), 'demo on a cluster');
  const { remoteTrainer } = optionalModule<typeof import('../cluster/tasks/remote_trainer')>(path.join('..', 'cluster', 'tasks', 'remote_trainer'), 'demo on a cluster');
  console.log(`== starting a local cluster: controller + ${engines} engines`);
  const cluster = await Cluster.start({ engines });
  try {
    for (const e of await cluster.engines()) console.log(`engine ${e.engine_id}: ${e.host} pid ${e.pid}, ${e.slots} slot(s)`);
    await lib.train.runDemo({ ...options, progress: false, trainer: remoteTrainer(cluster) });
  } finally {
    await cluster.close();
    console.log('== cluster stopped');
  }
}

// ---------------------------------------------------------------- bench

function benchDir(): string {
  // src/cli.ts → ../bench ; dist/src/cli.js → ../bench (dist/bench)
  return path.join(__dirname, '..', 'bench');
}

function listBenchmarks(): string[] {
  const dir = benchDir();
  if (!fs.existsSync(dir)) return [];
  const ext = __filename.endsWith('.ts') ? '.ts' : '.js';
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts') && !f.startsWith('_'))
    .map((f) => f.slice(0, -ext.length))
    .sort();
}

const bench: Command = {
  summary: 'run a benchmark from bench/ (alone: list them)',
  usage: `Usage: ${PROGRAM} bench [<name> [args...]]

Runs bench/<name>.ts (its exported main(argv)); the arguments after the name go
to the benchmark. Without a name, lists the benchmarks.`,
  async run(argv) {
    if (argv.length === 0) {
      const names = listBenchmarks();
      console.log(names.length > 0 ? `benchmarks:\n${names.map((n) => `  ${n}`).join('\n')}` : 'no benchmarks found in bench/');
      return 0;
    }
    const [name, ...rest] = argv;
    if (name === '--help' || name === '-h') return help(this);
    if (!/^[A-Za-z0-9_-]+$/.test(name) || !listBenchmarks().includes(name)) {
      throw new UsageError(`unknown benchmark "${name}" (available: ${listBenchmarks().join(', ') || 'none'})`);
    }
    const mod = optionalModule<unknown>(path.join('..', 'bench', name), `benchmark ${name}`);
    return exportedMain(mod, 'main', `bench/${name}`)(rest);
  },
};

// ---------------------------------------------------------------- delegated areas

function delegated(summary: string, relative: string, exportName: string, what: string): Command {
  return {
    summary,
    usage: `Usage: ${PROGRAM} ${what} [args...]   (run '${PROGRAM} ${what} --help' for its options)`,
    keepAlive: true,
    run: (argv) => exportedMain(optionalModule(relative, what), exportName, relative)(argv),
  };
}

const controller = delegated('run or manage a cluster controller', path.join('..', 'cluster', 'controller', 'cli'), 'controllerMain', 'controller');
const engine = delegated('run a cluster engine', path.join('..', 'cluster', 'engine', 'cli'), 'engineMain', 'engine');
const kernelInstall = delegated('install the hpcdl Jupyter kernel spec', path.join('..', 'kernel', 'install'), 'kernelInstallMain', 'kernel install');
const kernelJupyter = delegated('install the kernel spec, then start Jupyter with it', path.join('..', 'kernel', 'jupyter'), 'kernelJupyterMain', 'kernel jupyter');
const kernel: Command = {
  summary: 'Jupyter kernel (kernel install | kernel jupyter)',
  usage: `Usage: ${PROGRAM} kernel install|jupyter [args...]

  install   ${kernelInstall.summary}
  jupyter   ${kernelJupyter.summary}`,
  run: (argv) => dispatch(argv, { install: kernelInstall, jupyter: kernelJupyter }, kernel, 'kernel'),
};

// ---------------------------------------------------------------- top level

const COMMANDS: Record<string, Command> = { data, train, infer, demo, bench, controller, engine, kernel };

const top: Command = {
  summary: 'interactive HPC deep learning',
  usage: `Usage: ${PROGRAM} <command> [options]      (${PROGRAM} <command> --help for its options)

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`)
  .join('\n')}

  --version   print the version
  --help      this text`,
  run: (argv) => dispatch(argv, COMMANDS, top, ''),
};

function help(command: Command): number {
  console.log(command.usage);
  return 0;
}

/** Where the current subcommand path is recorded for error messages. */
let commandPath = PROGRAM;
/** whether the process may exit as soon as the command returns */
let exitWhenDone = true;

async function dispatch(argv: string[], commands: Record<string, Command>, parent: Command, name: string): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    if (parent === top) return help(top);
    throw new UsageError(`missing subcommand (one of ${Object.keys(commands).join(', ')})`);
  }
  if (first === '--help' || first === '-h' || first === 'help') return help(parent);
  if (parent === top && (first === '--version' || first === '-V')) {
    console.log(packageVersion());
    return 0;
  }
  const command = commands[first];
  if (!command) {
    const what = first.startsWith('-') ? `unknown option ${first}` : `unknown command "${first}"`;
    throw new UsageError(`${what} (one of ${Object.keys(commands).join(', ')})`);
  }
  commandPath = [PROGRAM, name, first].filter(Boolean).join(' ');
  if (command.keepAlive) exitWhenDone = false;
  return command.run(rest);
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown error';
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  commandPath = PROGRAM;
  try {
    return await top.run(argv);
  } catch (err) {
    const usage = err instanceof UsageError;
    const hint = usage ? ` (see '${commandPath} --help')` : '';
    process.stderr.write(`${commandPath}: error: ${firstLine(err)}${hint}\n`);
    if (!usage && process.env.HPCDL_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return usage ? 2 : 1;
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      // Finished commands exit now rather than wait on a lingering handle (prefetch, wasm workers).
      if (exitWhenDone) process.exit(code);
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`${PROGRAM}: error: ${firstLine(err)}\n`);
      process.exitCode = 1;
    },
  );
}
