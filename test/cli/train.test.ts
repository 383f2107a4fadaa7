import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hpcdl, oneLine, ROOT, NUMBER_RE, writeTinyConfig } from './support';

let dir: string;
let tinyConfig: string;

after(() => fs.rmSync(dir, { recursive: true, force: true }));

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  tinyConfig = writeTinyConfig(dir);
});

const numberRe = NUMBER_RE;

test('train on dummy data: seed log lines, checkpoint, and --resume continues at the saved step', async () => {
  // --max-steps 10 of 200 steps per epoch (10000 dummy events, batches of 50): the epoch is not completed
  const out = path.join(dir, 'dummy-run');
  const r = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--max-steps', '10', '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.ok(lines.some((l) => /^hpcdl: backend \S+/.test(l)), 'backend choice printed');
  assert.ok(lines.includes('num_layers: 1'), 'config dump');
  assert.ok(lines.includes('Rank 0 : Building model'));
  assert.ok(lines.includes('Stopping after 10 global steps'), 'the seed line has no rank prefix');
  assert.ok(lines.includes('Rank 0 performing asynchronous updates'));
  assert.ok(lines.some((l) => /^Rank 0 : using {2}1 -way task parallelism with {2}\d+ -way data parallelism\.$/.test(l)));
  assert.ok(lines.includes('Rank 0 : starting training using ADAM optimizer'));
  const reports = lines.filter((l) => new RegExp(`^\\d+\\.\\d\\d REPORT rank 0 global step (5|10)\\., average training loss ${numberRe} \\(\\d+\\.\\d{3} sec/batch\\)$`).test(l));
  assert.equal(reports.length, 2);
  assert.ok(!lines.some((l) => / COMPLETED /.test(l)), 'an unfinished epoch is not COMPLETED, nor validated');
  assert.ok(lines.some((l) => /^Total time to batch process except first two iterations: \d+\.\d{4}, throughput: \d+\.\d{4}$/.test(l)));
  const finished = lines.find((l) => l.startsWith('FINISHED Training. Total time '));
  assert.ok(finished && Number(finished.split(' ').at(-1)) > 0, 'positive total time');
  assert.doesNotMatch(r.stdout, /\x1b\[2K|\r/, 'no progress bar when stdout is not a terminal');
  assert.ok(fs.statSync(path.join(out, 'logs')).isDirectory());
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'models', 'ckpt-00000010.json'), 'utf8'));
  assert.equal(manifest.step, 10);
  assert.equal(manifest.model, 'hep_cnn_64');
  assert.ok(manifest.variables.some((v: { name: string }) => v.name === 'conv0/kernel'));
  assert.ok(fs.existsSync(path.join(out, 'models', manifest.weightsFile)));
  const logFile = fs.readFileSync(path.join(out, 'logs', 'train_rank0.log'), 'utf8');
  assert.ok(logFile.includes('num_layers: 1') && logFile.includes(reports[1]), 'the log lines are kept in logs/train_rank0.log');
  const metrics = fs.readFileSync(path.join(out, 'logs', 'metrics_rank0.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(metrics.filter((e) => e.type === 'step').length, 10);
  assert.equal(metrics.filter((e) => e.type === 'validation').length, 0);
  assert.match(r.stdout, /^Training curves: .*training\.html$/m);

  const resumed = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--max-steps', '15', '--output', out, '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /Restoring model .*ckpt-00000010\.json \(global step 10, epoch 1, batch 10\)/);
  assert.match(resumed.stdout, / REPORT rank 0 global step 15\., /);
  assert.doesNotMatch(resumed.stdout, / REPORT rank 0 global step 5\., /, 'does not start over');
  assert.ok(fs.existsSync(path.join(out, 'models', 'ckpt-00000015.json')));
  const resumedMetrics = fs.readFileSync(path.join(out, 'logs', 'metrics_rank0.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(
    resumedMetrics.filter((e) => e.type === 'step').map((e) => e.step),
    Array.from({ length: 15 }, (_, i) => i + 1),
    'a resumed run appends to the metrics of the first',
  );
});

test('--resume and --fresh contradict each other: a usage error in one line', async () => {
  const r = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--resume', '--fresh']);
  assert.equal(r.code, 2);
  assert.match(oneLine(r.stderr), /^hpcdl train: error: --resume and --fresh contradict each other/);
});

test('--mode iotest reads batches only and prints the I/O lines', async () => {
  const r = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--mode', 'iotest', '--max-steps', '6']);
  assert.equal(r.code, 0, r.stderr);
  const fetches = r.stdout.split('\n').filter((l) => /^\d+: Time to fetch a minibatch of data: \d+\.\d\ds$/.test(l));
  assert.equal(fetches.length, 6);
  assert.match(r.stdout, /^Total IO Time: \d+\.\d\ds$/m);
  assert.match(r.stdout, /^Total images read per batch: 50$/m);
  assert.match(r.stdout, /^Average Image IO Throughput: \d+\.\d{3}$/m);
  assert.doesNotMatch(r.stdout, /Building model|REPORT/);
});

test('--precision fp16 fails in one line on a backend without half precision', async () => {
  const r = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--precision', 'fp16', '--output', path.join(dir, 'fp16')]);
  assert.equal(r.code, 1);
  assert.match(oneLine(r.stderr), /^hpcdl train: error: precision fp16 is not supported on the '\S+' backend/);
});

test('--rank/--size: the rank is in the log lines and only rank 0 writes checkpoints', async () => {
  const out = path.join(dir, 'rank1');
  const r = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--rank', '1', '--size', '2', '--max-steps', '5', '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Rank 1 : Building model$/m);
  assert.match(r.stdout, / REPORT rank 1 global step 5\., /);
  assert.doesNotMatch(r.stdout, / COMPLETED /, '5 of 200 steps: the epoch is not completed');
  assert.deepEqual(fs.readdirSync(path.join(out, 'models')), []);
});

test('Ctrl-C (SIGINT) stops training after the current step, writes a checkpoint and exits 130', async () => {
  const { spawn } = await import('node:child_process');
  const out = path.join(dir, 'sigint');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'index.ts'), 'train', '--config', tinyConfig, '--dummy-data', '--output', out], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!sent && / REPORT rank 0 global step 5\., /.test(stdout)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted: stopping after this step and writing a checkpoint/);
  const stoppedAt = Number(/^Rank 0 : interrupted at global step (\d+) /m.exec(stdout)![1]);
  assert.ok(stoppedAt >= 5 && stoppedAt < 200, `stopped at ${stoppedAt}`);
  assert.ok(fs.existsSync(path.join(out, 'models', `ckpt-${String(stoppedAt).padStart(8, '0')}.json`)));
  assert.match(stdout, new RegExp(`^INTERRUPTED Training at global step ${stoppedAt}\\. Total time `, 'm'));
  assert.doesNotMatch(stdout, /^FINISHED Training/m, 'an interrupted run is not reported as finished');
});
