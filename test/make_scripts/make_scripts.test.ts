/**
 * make_scripts.ts: notebooks become scripts that run with node and batch
 * scripts that run under a real Slurm's sbatch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeScripts, scriptSource } from '../../make_scripts';
import { slurmUnavailable, startSlurm } from '../cluster/support/slurm';

const ROOT = path.resolve(__dirname, '..', '..');
const TSX_LOADER = `file://${path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')}`;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-make-scripts-'));
}

function writeFixtureNotebook(dir: string): string {
  fs.mkdirSync(path.join(dir, 'nb', 'lib'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'nb', 'lib', 'greet.ts'), 'export const greet = (who: string): string => `hello ${who}`;\n');
  const cells = [
    { cell_type: 'markdown', metadata: {}, source: ['# fixture'] },
    { cell_type: 'code', metadata: {}, source: ["import { greet } from './lib/greet';\n", "import { rocAuc } from 'hpcdl';\n", 'const who = "batch";'] },
    { cell_type: 'code', metadata: { tags: ['interactive-only'] }, source: ['throw new Error("interactive only cell ran");'] },
    { cell_type: 'code', metadata: {}, source: ['await new Promise((r) => setTimeout(r, 10));\n', 'console.log(greet(who), rocAuc([0, 1], [0.2, 0.9]));'] },
  ];
  const notebook = { cells, metadata: { hpcdl: { sbatch: ['-N 1', '-n 1', '-t 00:05:00'] } }, nbformat: 4, nbformat_minor: 5 };
  const file = path.join(dir, 'nb', 'fixture.ipynb');
  fs.writeFileSync(file, JSON.stringify(notebook));
  return file;
}

function runScript(script: string, env: Record<string, string> = {}): { status: number | null; out: string } {
  const result = spawnSync(process.execPath, ['--import', TSX_LOADER, script], {
    cwd: path.dirname(script),
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

test('a notebook becomes a script: imports hoisted and rewritten, interactive-only cells dropped, top-level await kept', () => {
  const dir = tempDir();
  const notebook = writeFixtureNotebook(dir);
  const [made] = makeScripts([notebook], path.join(dir, 'out'));
  const source = fs.readFileSync(made.script, 'utf8');
  assert.match(source, /import \{ greet \} from '\.\.\/nb\/lib\/greet';/);
  assert.doesNotMatch(source, /interactive only cell ran/);
  assert.match(fs.readFileSync(made.sbatch, 'utf8'), /#SBATCH -t 00:05:00/);
  const { status, out } = runScript(made.script);
  assert.equal(status, 0, out);
  assert.match(out, /hello batch 1\n/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a notebook that is not JSON is named in the error', () => {
  const dir = tempDir();
  const bad = path.join(dir, 'broken.ipynb');
  fs.writeFileSync(bad, '{"cells": [');
  assert.throws(() => scriptSource(bad, dir), new RegExp(`${bad.replace(/[/.]/g, '\\$&')}: not a readable notebook`));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the HEP driver notebook runs as a script in quick mode and evaluates on the test split', () => {
  const dir = tempDir();
  const [made] = makeScripts([path.join(ROOT, 'notebooks', 'hep_classifier_train.ipynb')], path.join(dir, 'out'));
  const { status, out } = runScript(made.script, { HPCDL_NOTEBOOK_QUICK: '1', HPCDL_NOTEBOOK_DIR: path.join(dir, 'runs') });
  assert.equal(status, 0, out);
  assert.match(out, /FINISHED Training\. Total time [0-9.]+/);
  assert.match(out, /test AUC \(weighted\): 0\.\d+/);
  fs.rmSync(dir, { recursive: true, force: true });
});

const noSlurm = slurmUnavailable();
test('the generated batch script runs under a real Slurm via sbatch', { skip: noSlurm ?? false }, async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  const [made] = makeScripts([writeFixtureNotebook(dir)], path.join(dir, 'out'));
  const slurm = await startSlurm();
  try {
    const env = { ...process.env, ...slurm.env };
    const output = path.join(dir, 'job.out');
    const submitted = execFileSync('/usr/bin/sbatch', ['--parsable', '-o', output, made.sbatch], { env, encoding: 'utf8' }).trim();
    assert.match(submitted, /^\d+/);
    const deadline = Date.now() + 120_000;
    while (slurm.squeue().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(slurm.squeue(), [], 'the batch job did not finish within 2 minutes');
    assert.match(fs.readFileSync(output, 'utf8'), /hello batch 1\n/);
  } finally {
    await slurm.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
