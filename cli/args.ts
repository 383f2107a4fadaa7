/**
 * Argument parsing shared by every command: strict `parseArgs` with `-h/--help`,
 * and the checks that turn a flag's text into a value or a one-line usage error.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {}

/** parseArgs, strict, with `-h/--help`; its errors become one-line usage errors. */
export function parse(argv: string[], options: Options, positionals = false): { values: Values; positionals: string[] } {
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

export function text(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function integer(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim()) || Number(value) < min) {
    throw new UsageError(`${flag} must be an integer ≥ ${min}, got "${value}"`);
  }
  return Number(value);
}

export function choice<T extends string>(value: string | undefined, flag: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join('|')}, got "${value}"`);
  return value as T;
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}
