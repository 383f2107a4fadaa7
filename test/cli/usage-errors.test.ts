/**
 * The promise of README and docs/cli.md: every error is one line on stderr,
 * `hpcdl <command>: error: <reason>`, and a usage mistake exits 2 ending with
 * `(see 'hpcdl <command> --help')`. Checked for every command, subcommand and
 * benchmark, with an unknown flag, a flag missing its value and a missing
 * required option, through the CLI's own entry (`main`) in this process, so a
 * command added without a case here fails the coverage test below.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../cli/index';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hpcdl ...argv` in this process, capturing what it writes. */
async function run(argv: string[]): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const write = { out: process.stdout.write, err: process.stderr.write, log: console.log, error: console.error };
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  console.log = (...args: unknown[]) => void (stdout += args.join(' ') + '\n');
  console.error = (...args: unknown[]) => void (stderr += args.join(' ') + '\n');
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    console.log = write.log;
    console.error = write.error;
  }
}

interface Case {
  /** the command path after `hpcdl` */
  command: string[];
  /** a flag that takes a value (given last, without one) */
  valueFlag?: string;
  /** arguments missing something required, and what the message names */
  missingRequired?: { args: string[]; names: RegExp };
  /** arguments that make the command otherwise valid, placed before a bad flag */
  valid?: string[];
}

const CASES: Case[] = [
  { command: ['data', 'synth'], valueFlag: '--out', missingRequired: { args: [], names: /--out is required/ } },
  { command: ['data', 'inspect'], missingRequired: { args: [], names: /expected one FILE, got 0/ }, valid: ['f.h5'] },
  { command: ['train'], valueFlag: '--config', missingRequired: { args: [], names: /--config is required/ } },
  { command: ['infer'], valueFlag: '--checkpoint', missingRequired: { args: ['--config', 'c.json'], names: /--checkpoint is required/ } },
  { command: ['demo'], valueFlag: '--events' },
  { command: ['search'], valueFlag: '--engines', missingRequired: { args: [], names: /--config .*--objective/ } },
  { command: ['controller'], valueFlag: '--port', missingRequired: { args: ['--resume'], names: /--resume needs --cluster-id/ } },
  { command: ['engine'], valueFlag: '--connect', missingRequired: { args: [], names: /--connect FILE\|ID is required/ } },
  { command: ['cluster', 'list'], valueFlag: '--profile-dir' },
  { command: ['cluster', 'prune'], valueFlag: '--profile-dir' },
  { command: ['kernel', 'install'], valueFlag: '--prefix', missingRequired: { args: ['--python', '/usr/bin/python3'], names: /--python only applies to --sys-prefix/ } },
  { command: ['slurm', 'hostnames'], valid: ['n[1-2]'] },
  { command: ['slurm', 'hostlist'], missingRequired: { args: [], names: /give the host names to compress/ }, valid: ['n1'] },
  { command: ['slurm', 'env'] },
];

const BENCH_VALUE_FLAG: Record<string, string> = {
  allreduce: '--ranks',
  baselines: '--events',
  'cluster-noop': '--tasks',
  'cluster-scale': '--engines',
  'display-latency': '--reports',
  'hdf5-read': '--events',
  'hpo-overhead': '--sizes',
  'hpo-quality': '--seeds',
  'hpo-search': '--trials',
  scaling: '--steps',
  'train-throughput': '--batch',
};

function assertUsage(r: Outcome, command: string[], reason: RegExp, what: string): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${what}: one stderr line, got:\n${r.stderr}`);
  const prefix = `hpcdl ${command.join(' ')}`;
  assert.ok(lines[0].startsWith(`${prefix}: error: `), `${what}: starts with "${prefix}: error: ", got: ${lines[0]}`);
  assert.ok(lines[0].endsWith(`(see '${prefix} --help')`), `${what}: ends with the help hint, got: ${lines[0]}`);
  assert.match(lines[0], reason, what);
  assert.equal(r.code, 2, `${what}: exit code 2 (${lines[0]})`);
}

async function checkCommand(c: Case): Promise<void> {
  const name = c.command.join(' ');
  const valid = c.valid ?? [];
  assertUsage(await run([...c.command, ...valid, '--no-such-flag']), c.command, /unknown option --no-such-flag/, `${name} --no-such-flag`);
  if (c.valueFlag) {
    assertUsage(await run([...c.command, ...valid, c.valueFlag]), c.command, new RegExp(`${c.valueFlag} needs a value`), `${name} ${c.valueFlag} (no value)`);
  }
  if (c.missingRequired) {
    assertUsage(await run([...c.command, ...c.missingRequired.args]), c.command, c.missingRequired.names, `${name} ${c.missingRequired.args.join(' ')} (missing a required option)`);
  }
}

test('every command and subcommand: unknown flag, missing value, missing required option are one line, exit 2', async () => {
  for (const c of CASES) await checkCommand(c);
});

test('every benchmark refuses an unknown flag and a flag without its value before it runs anything', async () => {
  const listed = (await run(['bench'])).stdout.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.trim());
  assert.deepEqual([...listed].sort(), Object.keys(BENCH_VALUE_FLAG).sort(), 'every benchmark has a case here');
  for (const name of listed) await checkCommand({ command: ['bench', name], valueFlag: BENCH_VALUE_FLAG[name] });
});

test('a value that starts with a dash names the flag and how to pass it', async () => {
  const r = await run(['train', '--config', 'c.json', '--epochs', '-1']);
  assertUsage(r, ['train'], /--epochs needs a value \(one starting with '-' is written --epochs=VALUE\)/, 'train --epochs -1');
});

test('every command listed by hpcdl --help has a case here', async () => {
  const help = (await run(['--help'])).stdout;
  const commands = [...help.matchAll(/^ {2}([a-z][a-z-]*) {2,}/gm)].map((m) => m[1]);
  assert.ok(commands.length >= 9, `hpcdl --help lists the commands:\n${help}`);
  const covered = new Set([...CASES.map((c) => c.command[0]), 'bench']);
  // kernel jupyter hands every argument to Jupyter itself, so it has no flags of its own to refuse
  for (const name of commands) assert.ok(covered.has(name), `hpcdl ${name} has no usage-error case in this test`);
});
