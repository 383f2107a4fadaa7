/**
 * Argument parsing shared by every command: strict `parseArgs` with `-h/--help`
 * (src/command-line.ts, which the benchmarks use too), and the checks that turn a
 * flag's text into a value or a one-line usage error.
 */
import { UsageError } from '../src/command-line';

export { isUsageError, parse, UsageError, type Options, type Values } from '../src/command-line';

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
