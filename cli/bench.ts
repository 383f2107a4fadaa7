/** `hpcdl bench [<name> [args...]]`: list the benchmarks in bench/, or run one. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './args';
import { exportedMain, help, invocation, optionalModule, PROGRAM, type Command } from './command';

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
to the benchmark. Without a name, lists the benchmarks. Names are kebab-case
(cluster-noop); the snake_case spelling (cluster_noop) is accepted too.`,
  async run(argv) {
    if (argv.length === 0) {
      const names = listBenchmarks();
      console.log(names.length > 0 ? `benchmarks:\n${names.map((n) => `  ${n}`).join('\n')}` : 'no benchmarks found in bench/');
      return 0;
    }
    const [typed, ...rest] = argv;
    if (typed === '--help' || typed === '-h') return help(this);
    // bench files are kebab-case; the snake_case names of earlier releases (cluster_noop) still work
    const name = typed.replace(/_/g, '-');
    if (!/^[A-Za-z0-9-]+$/.test(name) || !listBenchmarks().includes(name)) {
      throw new UsageError(`unknown benchmark "${typed}" (available: ${listBenchmarks().join(', ') || 'none'})`);
    }
    invocation.path = `${PROGRAM} bench ${name}`;
    const mod = optionalModule<unknown>(path.join('bench', name), `benchmark ${name}`);
    return exportedMain(mod, 'main', `bench/${name}`)(rest);
  },
};
