#!/usr/bin/env node
/**
 * `hpcdl`: the command line of the whole product, one file per command in this
 * folder. Each command parses its own flags strictly (an unknown flag is an
 * error naming it), has `--help`, and reports any failure as one line on
 * stderr with a non-zero exit code (2 = usage, 1 = run). The areas are loaded
 * lazily so that `--help` is instant and a missing optional area (cluster,
 * kernel) breaks only its own command.
 *
 * Adding a command is one line in COMMANDS below.
 */
import { isUsageError } from './args';
import { benchCommand } from './bench';
import { dispatch, fromFunction, help, invocation, PROGRAM, type Command } from './command';
import { packageVersion } from '../src/package-info';
import { clusterCommand } from './cluster';
import { controllerCommand } from './controller';
import { dataCommand } from './data';
import { demoCommand } from './demo';
import { engineCommand } from './engine';
import { inferCommand } from './infer';
import { kernelCommand } from './kernel';
import { slurmCommand } from './slurm';
import { trainCommand } from './train';

/** The commands, in the order `hpcdl --help` lists them. */
const COMMANDS: Record<string, Command> = {
  data: dataCommand,
  train: trainCommand,
  infer: inferCommand,
  demo: demoCommand,
  bench: benchCommand,
  search: fromFunction('hyperparameter search on cluster engines (live table, HTML report)', () => require('./search').searchCommand),
  controller: controllerCommand,
  cluster: clusterCommand,
  engine: engineCommand,
  kernel: kernelCommand,
  slurm: slurmCommand,
};

const top: Command = {
  summary: 'interactive HPC deep learning',
  usage: `Usage: ${PROGRAM} <command> [options]      (${PROGRAM} <command> --help for its options)

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`)
  .join('\n')}

  --version   print the version
  --help      this text`,
  run(argv) {
    if (argv.length === 0) return Promise.resolve(help(top));
    if (argv[0] === '--version' || argv[0] === '-V') {
      console.log(packageVersion());
      return Promise.resolve(0);
    }
    return dispatch(argv, COMMANDS, top, '');
  },
};

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown error';
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  invocation.path = PROGRAM;
  try {
    return await top.run(argv);
  } catch (err) {
    const usage = isUsageError(err);
    const hint = usage ? ` (see '${invocation.path} --help')` : '';
    process.stderr.write(`${invocation.path}: error: ${firstLine(err)}${hint}\n`);
    if (!usage && process.env.HPCDL_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return usage ? 2 : 1;
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      // Finished commands exit now rather than wait on a lingering handle (prefetch, wasm workers).
      if (invocation.exitWhenDone) process.exit(code);
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`${PROGRAM}: error: ${firstLine(err)}\n`);
      process.exitCode = 1;
    },
  );
}
