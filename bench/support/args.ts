/**
 * Flag parsing for the benchmarks: the package's strict parser
 * (src/command-line.ts: an unknown flag, a missing value or a stray argument is
 * a one-line usage error, exit 2 under `hpcdl bench`) and the value checks
 * benchmarks share.
 */
import { parse, UsageError, type Options, type Values } from '../../src/command-line';

/** `null` when `--help` was asked for (the usage is printed); the flag values otherwise. */
export function benchArgs(argv: string[], flags: Options, usage: string): Values | null {
  const { values } = parse(argv, flags);
  if (values.help) {
    console.log(usage);
    return null;
  }
  return values;
}

/** A string flag's value: its default is declared with the flag, so it is always there. */
export function stringValue(values: Values, flag: string): string {
  const v = values[flag];
  if (typeof v !== 'string') throw new UsageError(`--${flag} needs a value`);
  return v;
}

/** A number > 0 (an integer unless `integer` is false), e.g. `--tasks 5000`. */
export function positive(raw: string, flag: string, integer = true): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** An integer ≥ 0, e.g. `--warmup 0`. */
export function nonNegative(raw: string, flag: string): number {
  return raw.trim() === '0' ? 0 : positive(raw, flag);
}

/** A comma-separated list of positive integers, e.g. `--sizes 100,1000`. */
export function positiveList(raw: string, flag: string): number[] {
  return raw.split(',').map((s) => positive(s.trim(), flag));
}

/** One of `allowed`. */
export function oneOf<T extends string>(raw: string, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) throw new UsageError(`${flag} must be one of ${allowed.join('|')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}
