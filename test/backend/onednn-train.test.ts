import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hpcdl, oneLine, writeTinyConfig } from '../cli/support';
import { loadAddon } from '../../src/backend/onednn/addon';
import { skipIfMissing } from '../support/skips';

const load = loadAddon();
const skip = skipIfMissing(!load.addon && `onednn addon unavailable: ${load.reason}`);
let dir: string;
let tinyConfig: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-onednn-'));
  tinyConfig = writeTinyConfig(dir);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

function backendLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('hpcdl: backend'));
}

function assertTrained(stdout: string, steps: number): void {
  assert.match(stdout, new RegExp(`^Stopping after ${steps} global steps$`, 'm'));
  assert.match(stdout, new RegExp(` REPORT rank 0 global step ${steps}\\., average training loss [0-9.e+-]+ `));
  // --max-steps stops inside the first epoch: a checkpoint to continue from, no COMPLETED line (as the seed)
  assert.match(stdout, new RegExp(`^Rank 0 : saved checkpoint .*ckpt-0*${steps}\\.json \\(global step ${steps}\\)$`, 'm'));
  assert.match(stdout, /^FINISHED Training\. Total time /m);
}

test('hpcdl train selects onednn by default here and trains; HPCDL_TRAIN_THREADS sizes its pool', { skip }, async () => {
  const r = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--max-steps', '5', '--output', path.join(dir, 'native')], {
    env: { ...process.env, HPCDL_BACKEND: undefined, HPCDL_NATIVE: undefined, HPCDL_TRAIN_THREADS: '1' },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(backendLines(r.stdout).map((l) => l.replace(/\(.*\)/, '(…)')), ['hpcdl: backend onednn (…)']);
  assert.match(backendLines(r.stdout)[0], /, 1 thread\)$/);
  assertTrained(r.stdout, 5);
});

test('without the addon (HPCDL_NATIVE=0) hpcdl train says once why and trains on wasm', async () => {
  const r = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--max-steps', '5', '--output', path.join(dir, 'wasm')], {
    env: { ...process.env, HPCDL_BACKEND: undefined, HPCDL_NATIVE: '0' },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(backendLines(r.stdout), ['hpcdl: backend wasm (SIMD, 1 thread); onednn not used: HPCDL_NATIVE=0']);
  assertTrained(r.stdout, 5);
});

test('--precision bf16 trains on onednn (or, on a CPU without bf16, fails naming the CPU); on wasm it fails in one line naming the backend', { skip }, async () => {
  const off = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--precision', 'bf16', '--output', path.join(dir, 'bf16-wasm')], {
    env: { ...process.env, HPCDL_BACKEND: undefined, HPCDL_NATIVE: '0' },
  });
  assert.equal(off.code, 1);
  assert.match(oneLine(off.stderr), /^hpcdl train: error: precision bf16 needs the onednn backend \(hpcdl's oneDNN addon\); this process uses 'wasm'; use fp32$/);
  const r = await hpcdl(['train', '--config', tinyConfig, '--dummy-data', '--precision', 'bf16', '--max-steps', '5', '--output', path.join(dir, 'bf16')], {
    env: { ...process.env, HPCDL_BACKEND: undefined, HPCDL_NATIVE: undefined },
  });
  // the expectation comes from this machine's CPU
  if (!load.addon?.info().bf16) {
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /needs a CPU with AVX512_BF16 or AMX/);
    return;
  }
  assert.equal(r.code, 0, r.stderr);
  assertTrained(r.stdout, 5);
});
