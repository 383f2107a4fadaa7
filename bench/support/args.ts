/** `--name <positive number>` from a benchmark's argv, or `dflt` when absent. */
export function numberArg(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const n = Number(argv[i + 1]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number, got ${JSON.stringify(argv[i + 1])}`);
  return n;
}
