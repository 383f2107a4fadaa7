/**
 * What a command is, how a command table dispatches, and how a command loads
 * an area it does not own (lazily, so that `--help` is instant and a missing
 * optional area breaks only its own command).
 */
import * as path from 'node:path';
import { UsageError } from './args';

export const PROGRAM = 'hpcdl';

export interface Command {
  summary: string;
  /** delegated long-running commands (controller, engine) decide themselves when the process ends */
  keepAlive?: boolean;
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** Where the current command stands, for error messages and for the exit. */
export const invocation = {
  /** the subcommand path, e.g. "hpcdl data synth" */
  path: PROGRAM,
  /** whether the process may exit as soon as the command returns */
  exitWhenDone: true,
};

export function help(command: Command): number {
  console.log(command.usage);
  return 0;
}

/** Run `argv[0]` from `commands`; `parent` prints its usage for `--help`. */
export async function dispatch(argv: string[], commands: Record<string, Command>, parent: Command, name: string): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError(`missing subcommand (one of ${Object.keys(commands).join(', ')})`);
  if (first === '--help' || first === '-h' || first === 'help') return help(parent);
  const command = commands[first];
  if (!command) {
    const what = first.startsWith('-') ? `unknown option ${first}` : `unknown command "${first}"`;
    throw new UsageError(`${what} (one of ${Object.keys(commands).join(', ')})`);
  }
  invocation.path = [PROGRAM, name, first].filter(Boolean).join(' ');
  if (command.keepAlive) invocation.exitWhenDone = false;
  return command.run(rest);
}

/** `require` a module another area owns (path relative to the built tree's root); a missing one is a clear one-line error. */
export function optionalModule<T>(relative: string, what: string): T {
  const resolved = path.join(__dirname, '..', relative);
  try {
    return require(resolved) as T;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(resolved)) {
      throw new Error(`${what} is not available in this installation (${relative} is missing)`);
    }
    throw err;
  }
}

export function exportedMain(mod: unknown, name: string, file: string): (argv: string[]) => Promise<number> {
  const fn = (mod as Record<string, unknown>)[name];
  if (typeof fn !== 'function') throw new Error(`${file} does not export ${name}(argv)`);
  return fn as (argv: string[]) => Promise<number>;
}

/** A command whose flags, help and lifetime belong to another area's `main(argv)` (path relative to the tree's root). */
export function delegated(summary: string, relative: string, exportName: string, what: string): Command {
  return {
    summary,
    usage: `Usage: ${PROGRAM} ${what} [args...]   (run '${PROGRAM} ${what} --help' for its options)`,
    keepAlive: true,
    run: (argv) => exportedMain(optionalModule(relative, what), exportName, relative)(argv),
  };
}

/**
 * A command written as `async function xCommand(argv): Promise<number>` in its own
 * cli/ module, which parses its own flags and `--help`. `load` requires it lazily:
 *   search: fromFunction('run a hyperparameter search', () => require('./search').searchCommand),
 */
export function fromFunction(summary: string, load: () => (argv: string[]) => Promise<number>, opts: { usage?: string; keepAlive?: boolean } = {}): Command {
  return { summary, usage: opts.usage ?? `${summary}   (see --help of the command)`, keepAlive: opts.keepAlive, run: (argv) => load()(argv) };
}
