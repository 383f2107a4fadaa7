import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hpcdl, oneLine, ROOT } from './support';

const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;

test('hpcdl --help lists every command; no arguments prints it too', async () => {
  for (const args of [['--help'], []]) {
    const r = await hpcdl(args);
    assert.equal(r.code, 0);
    for (const name of ['data', 'train', 'infer', 'demo', 'bench', 'controller', 'engine', 'kernel']) {
      assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'), name);
    }
  }
});

test('hpcdl --version prints the package version', async () => {
  const r = await hpcdl(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), version);
});

test('every subcommand has --help (exit 0, its own usage)', async () => {
  const cases: [string[], RegExp][] = [
    [['data', '--help'], /Usage: hpcdl data <synth\|inspect>/],
    [['data', 'synth', '--help'], /Usage: hpcdl data synth --out DIR/],
    [['data', 'inspect', '-h'], /Usage: hpcdl data inspect FILE/],
    [['train', '--help'], /Usage: hpcdl train --config C[\s\S]*--mode train\|iotest[\s\S]*--precision fp32\|bf16\|fp16/],
    [['infer', '--help'], /Usage: hpcdl infer --config C --checkpoint P/],
    [['demo', '--help'], /Usage: hpcdl demo/],
    [['bench', '--help'], /Usage: hpcdl bench/],
    [['kernel', '--help'], /Usage: hpcdl kernel install/],
  ];
  for (const [args, usage] of cases) {
    const r = await hpcdl(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, usage, args.join(' '));
    assert.equal(r.stderr, '', args.join(' '));
  }
});

test('usage errors: one line naming the problem, exit code 2', async () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^hpcdl: error: unknown command "frobnicate"/],
    [['--bogus'], /^hpcdl: error: unknown option --bogus/],
    [['train', '--bogus', 'x'], /^hpcdl train: error: unknown option --bogus \(see 'hpcdl train --help'\)$/],
    [['train'], /^hpcdl train: error: --config is required/],
    [['train', '--config', 'c.json', '--epochs', 'abc'], /--epochs must be an integer ≥ 1, got "abc"/],
    [['train', '--config', 'c.json', '--mode', 'fast'], /--mode must be one of train\|iotest, got "fast"/],
    [['train', '--config', 'c.json', '--precision', 'fp8'], /--precision must be one of fp32\|bf16\|fp16/],
    [['train', '--config', 'c.json', '--rank', '2', '--size', '2'], /--rank must be below --size 2/],
    [['train', '--config', 'c.json', '--weighted', '--unweighted'], /contradict/],
    [['infer', '--config', 'c.json'], /^hpcdl infer: error: --checkpoint is required/],
    [['data'], /^hpcdl data: error: missing subcommand \(one of synth, inspect\)/],
    [['data', 'synth'], /--out is required/],
    [['data', 'synth', '--out', 'x', '--size', '128'], /--size must be one of 64\|224, got "128"/],
    [['data', 'inspect'], /expected one FILE, got 0/],
    [['bench', 'no-such-bench'], /^hpcdl bench: error: unknown benchmark "no-such-bench"/],
    [['kernel', 'uninstall'], /^hpcdl kernel: error: unknown command "uninstall" \(one of install, jupyter\)/],
  ];
  for (const [args, message] of cases) {
    const r = await hpcdl(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), message, args.join(' '));
  }
});

test('run errors: one line naming the file at fault, exit code 1', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  const missing = path.join(dir, 'missing.json');
  let r = await hpcdl(['train', '--config', missing]);
  assert.equal(r.code, 1);
  assert.match(oneLine(r.stderr), new RegExp(`^hpcdl train: error: .*${missing.replace(/[.]/g, '\\.')}`));

  const bad = path.join(dir, 'bad.json');
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'configs', 'local_small.json'), 'utf8'));
  config.conv_params.num_filters = '12';
  fs.writeFileSync(bad, JSON.stringify(config));
  r = await hpcdl(['train', '--config', bad, '--dummy-data']);
  assert.equal(r.code, 1);
  assert.match(oneLine(r.stderr), /bad\.json: conv_params\.num_filters .*"12"/);

  r = await hpcdl(['data', 'inspect', path.join(dir, 'nope.h5')]);
  assert.equal(r.code, 1);
  assert.match(oneLine(r.stderr), /^hpcdl data inspect: error: .*nope\.h5/);

  r = await hpcdl(['infer', '--config', path.join(ROOT, 'configs', 'local_small.json'), '--checkpoint', dir]);
  assert.equal(r.code, 1);
  assert.match(oneLine(r.stderr), /holds no ckpt-<step>\.json manifest/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('bench alone lists the benchmarks', async () => {
  const r = await hpcdl(['bench']);
  assert.equal(r.code, 0);
  const listed = fs
    .readdirSync(path.join(ROOT, 'bench'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('_'))
    .map((f) => f.slice(0, -3));
  if (listed.length === 0) assert.match(r.stdout, /no benchmarks found/);
  for (const name of listed) assert.match(r.stdout, new RegExp(`^  ${name}$`, 'm'));
});

test('controller, engine and kernel install are dispatched to their areas', async () => {
  const cases: [string[], string][] = [
    [['controller', '--help'], path.join('cluster', 'controller', 'cli.ts')],
    [['engine', '--help'], path.join('cluster', 'engine', 'cli.ts')],
    [['kernel', 'install', '--help'], path.join('kernel', 'install.ts')],
    [['kernel', 'jupyter', '--help'], path.join('kernel', 'jupyter.ts')],
  ];
  for (const [args, file] of cases) {
    assert.ok(fs.existsSync(path.join(ROOT, file)), `${file} is missing`);
    const r = await hpcdl(args);
    // the area's own help (not ours), and no "not available"
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /not available/, args.join(' '));
    assert.doesNotMatch(r.stdout, /^Usage: hpcdl <command>/m, args.join(' '));
    assert.match(r.stdout, new RegExp(`hpcdl ${args.slice(0, -1).join(' ')}`), args.join(' '));
  }
});
