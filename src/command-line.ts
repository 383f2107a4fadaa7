/**
 * What every command line in the package shares (`hpcdl` in cli/, the
 * benchmarks in bench/, `hpcdl kernel install`): a usage mistake is a
 * `UsageError` (one line, exit code 2), and flags are parsed by node's strict
 * `parseArgs` with `-h/--help`, its errors turned into one line naming the flag.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

/** The `code` a usage mistake carries, so a caller in another area can recognise it without importing this class. */
export const USAGE_ERROR_CODE = 'ERR_HPCDL_USAGE';

/** A mistake in how a command was called (exit code 2). */
export class UsageError extends Error {
  readonly code = USAGE_ERROR_CODE;
}

export function isUsageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof UsageError || code === USAGE_ERROR_CODE || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
}

/** node's parse errors, as one line naming the flag. */
function describeParseError(message: string): string {
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option ${unknown[1]}`;
  const missing = /Option '(-\S+?)(?: <value>)?' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value`;
  const dashed = /Option '(-\S+?)' argument is ambiguous/.exec(message);
  if (dashed) return `${dashed[1]} needs a value (one starting with '-' is written ${dashed[1]}=VALUE)`;
  const stray = /Unexpected argument '([^']*)'/.exec(message);
  if (stray) return `unexpected argument "${stray[1]}"`;
  return message.split('. ')[0];
}

/** parseArgs, strict, with `-h/--help`; its errors become one-line usage errors. */
export function parse(argv: string[], options: Options, positionals = false): { values: Values; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals });
    return { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(describeParseError(e.message));
    throw err;
  }
}
