import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { kernelsDir, parseKernelInstallArgs, userJupyterDataDir } from '../../kernel/install';
import { interruptCallbackCount, interruptSignal, onInterrupt, runInterruptCallbacks } from '../../src/notebook-hooks';
import { globToRegExp, History } from '../../kernel/history';
import { installTestKernel, REPO_ROOT } from '../support/jupyter';

test('parses the install locations and rejects bad arguments', () => {
  assert.deepEqual(parseKernelInstallArgs([]), { location: { kind: 'user' } });
  assert.deepEqual(parseKernelInstallArgs(['--prefix', '/opt/x', '--name', 'hpc']), {
    location: { kind: 'prefix', prefix: '/opt/x' }, name: 'hpc',
  });
  assert.deepEqual(parseKernelInstallArgs(['--sys-prefix', '--python=/usr/bin/python3']), {
    location: { kind: 'sys-prefix', python: '/usr/bin/python3' },
  });
  assert.throws(() => parseKernelInstallArgs(['--user', '--sys-prefix']), /only one of/);
  assert.throws(() => parseKernelInstallArgs(['--prefix']), /--prefix needs a value/);
  assert.throws(() => parseKernelInstallArgs(['--name', 'a b']), /--name must use/);
  assert.throws(() => parseKernelInstallArgs(['--frobnicate']), /unknown option --frobnicate/);
});

test('kernel spec directories follow Jupyter conventions', () => {
  assert.equal(kernelsDir({ kind: 'prefix', prefix: '/usr/local' }), '/usr/local/share/jupyter/kernels');
  // Debian's python3 (the one running jupyter) has sys.prefix /usr.
  assert.equal(kernelsDir({ kind: 'sys-prefix', python: '/usr/bin/python3' }), '/usr/share/jupyter/kernels');
  const saved = process.env.JUPYTER_DATA_DIR;
  process.env.JUPYTER_DATA_DIR = '/tmp/jd';
  try {
    assert.equal(userJupyterDataDir(), '/tmp/jd');
  } finally {
    if (saved === undefined) delete process.env.JUPYTER_DATA_DIR;
    else process.env.JUPYTER_DATA_DIR = saved;
  }
});

test('install writes kernel.json with absolute node and launcher, and the hpcdl link', () => {
  const kernel = installTestKernel('hpcdl-installtest');
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(kernel.specDir, 'kernel.json'), 'utf8'));
    assert.equal(spec.display_name, 'HPC DL (TypeScript)');
    assert.equal(spec.argv[0], process.execPath);
    assert.ok(path.isAbsolute(spec.argv[0]));
    assert.equal(spec.argv[1], path.join(REPO_ROOT, 'dist', 'kernel', 'launcher.js'));
    assert.deepEqual(spec.argv.slice(2), ['--connection-file', '{connection_file}']);
    assert.equal(spec.interrupt_mode, 'signal');
    const link = path.join(kernel.specDir, 'node_modules', 'hpcdl');
    assert.equal(fs.realpathSync(link), fs.realpathSync(REPO_ROOT));
    assert.deepEqual(spec.env.NODE_PATH.split(':'), [path.join(kernel.specDir, 'node_modules'), path.join(REPO_ROOT, 'node_modules')]);
  } finally {
    kernel.remove();
  }
});

test('interrupt callbacks all run, errors are collected, unregister works', async () => {
  const seen: string[] = [];
  const offA = onInterrupt((reason) => void seen.push(`a:${reason}`));
  const offB = onInterrupt(async () => {
    throw new Error('remote cancel failed');
  });
  assert.equal(interruptCallbackCount(), 2);
  const signal = interruptSignal();
  assert.equal(signal.aborted, false);
  const outcome = await runInterruptCallbacks('test');
  assert.equal(signal.aborted, true);
  assert.equal(interruptSignal().aborted, false, 'a fresh signal after the interrupt');
  assert.equal(outcome.ran, 2);
  assert.deepEqual(seen, ['a:test']);
  assert.match(String(outcome.errors[0]), /remote cancel failed/);
  offA();
  offB();
  assert.equal(interruptCallbackCount(), 0);
});

test('history search uses glob patterns like IPython', () => {
  assert.ok(globToRegExp('6*').test('6*7'));
  assert.ok(!globToRegExp('6?').test('6*7'));
  assert.ok(globToRegExp('[ab]x').test('bx'));
  const h = new History();
  ['6*7', 'x', '6*7', '61'].forEach((code, i) => h.add(i + 1, code));
  assert.deepEqual(h.query({ hist_access_type: 'search', pattern: '6*', unique: true }).map((e) => e[1]), [3, 4]);
  assert.deepEqual(h.query({ hist_access_type: 'tail', n: 2 }).map((e) => e[2]), ['6*7', '61']);
  assert.deepEqual(h.query({ hist_access_type: 'range', session: 1, start: 2, stop: 3 }), [[1, 2, 'x']]);
});
