import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

/** Runs a snippet in a fresh node process (backend choice is per process). */
function runSnippet(code: string, env: Record<string, string | undefined> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, HPCDL_BACKEND: undefined, HPCDL_DEBUG: undefined, ...env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const snippet = `
const { initBackend, currentBackend } = require('./src/backend');
const tf = require('@tensorflow/tfjs-core');
(async () => {
  const a = await initBackend();
  const b = await initBackend();
  console.log(JSON.stringify({ a, same: a.name === b.name, current: currentBackend(), tf: tf.getBackend() }));
})().catch((e) => { console.error('ERR ' + e.message); process.exit(3); });
`;

test('default choice: libtensorflow skipped (reason at debug level), then the onednn addon, printed once', () => {
  const r = runSnippet(snippet, { HPCDL_DEBUG: '1', HPCDL_TRAIN_THREADS: '2' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('hpcdl: backend')).length, 1, 'one choice line');
  // this machine has no libtensorflow: both native packages must have been tried and skipped
  assert.match(r.stderr, /hpcdl: backend tensorflow-gpu skipped: /);
  assert.match(r.stderr, /hpcdl: backend tensorflow skipped: /);
  // the addon is built here (g++ and libdnnl-dev are installed; npm ci / npm run build build it)
  assert.match(lines[0], /^hpcdl: backend onednn \(oneDNN 2\.\d+\.\d+, \w+, 2 threads\)$/);
  const info = JSON.parse(lines[1]);
  assert.equal(info.a.name, 'onednn');
  assert.equal(info.same, true);
  assert.equal(info.current, 'onednn');
  assert.equal(info.tf, 'onednn');
});

test('without the addon (HPCDL_NATIVE=0, or a build that is missing) hpcdl says once why and uses wasm', () => {
  const off = runSnippet(snippet, { HPCDL_NATIVE: '0' });
  assert.equal(off.status, 0, off.stderr);
  const offLines = off.stdout.trim().split('\n');
  assert.equal(offLines.filter((l) => l.startsWith('hpcdl: backend')).length, 1, 'one choice line');
  assert.equal(offLines[0], 'hpcdl: backend wasm (SIMD, 1 thread); onednn not used: HPCDL_NATIVE=0');
  assert.equal(JSON.parse(offLines[1]).tf, 'wasm');

  const missing = runSnippet(snippet, { HPCDL_NATIVE_ADDON: path.join(root, 'native', 'no-such-build', 'hpcdl_onednn.node') });
  assert.equal(missing.status, 0, missing.stderr);
  assert.match(missing.stdout, /^hpcdl: backend wasm \(SIMD, 1 thread\); onednn not used: native addon not built \(.*no-such-build.*missing; it needs g\+\+ and libdnnl-dev/m);

  const forced = runSnippet(snippet, { HPCDL_NATIVE: '0', HPCDL_BACKEND: 'onednn' });
  assert.equal(forced.status, 3);
  assert.match(forced.stderr, /backend 'onednn' was forced but cannot be used: HPCDL_NATIVE=0/);
});

test('HPCDL_BACKEND forces a backend; an unknown name is a clear error', () => {
  const cpu = runSnippet(snippet, { HPCDL_BACKEND: 'cpu' });
  assert.equal(cpu.status, 0, cpu.stderr);
  assert.match(cpu.stdout, /^hpcdl: backend cpu \(pure JavaScript\)$/m);
  assert.equal(JSON.parse(cpu.stdout.trim().split('\n')[1]).tf, 'cpu');

  const bogus = runSnippet(snippet, { HPCDL_BACKEND: 'tpu' });
  assert.equal(bogus.status, 3);
  assert.match(bogus.stderr, /HPCDL_BACKEND \/ force must be one of tensorflow-gpu\|tensorflow\|onednn\|wasm\|cpu, got 'tpu'/);

  const missing = runSnippet(snippet, { HPCDL_BACKEND: 'tensorflow' });
  assert.equal(missing.status, 3);
  assert.match(missing.stderr, /backend 'tensorflow' was forced but cannot be used: /);
});

test('initBackend works from the compiled CommonJS form of a worker thread too', () => {
  const code = `
const { Worker } = require('node:worker_threads');
const w = new Worker(\`
  require('tsx/cjs');
  const { initBackend } = require(${JSON.stringify(path.join(root, 'src/backend/index.ts'))});
  const { parentPort } = require('node:worker_threads');
  initBackend({ log: () => {} }).then((i) => parentPort.postMessage(i.name));
\`, { eval: true });
w.on('message', (m) => { console.log('worker ' + m); w.terminate(); });
w.on('error', (e) => { console.error('ERR ' + e.message); process.exit(3); });
`;
  const r = runSnippet(code);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /worker onednn/);
});
