/** `hpcdl bench [<name> [args...]]`: list the benchmarks in bench/, or run one. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './args';
import { exportedMain, help, optionalModule, PROGRAM, type Command } from './command';

function benchDir(): string {
  // cli/bench.ts → ../bench ; dist/cli/bench.js → ../bench (dist/bench)
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

export const benchCommand: Command = {
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
    const mod = optionalModule<unknown>(path.join('bench', name), `benchmark ${name}`);
    return exportedMain(mod, 'main', `bench/${name}`)(rest);
  },
};
