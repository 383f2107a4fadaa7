/**
 * Runs Debian's jupyter_kernel_test suite (python3-jupyter-kernel-test)
 * against the hpcdl kernel installed with `hpcdl kernel install --prefix`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { installTestKernel, jupyterEnv, tempDir, type TestKernel } from '../support/jupyter';

let kernel: TestKernel;
before(() => {
  kernel = installTestKernel('hpcdl-conformance');
});
after(() => kernel?.remove());

test('hpcdl kernel passes jupyter_kernel_test', () => {
  const env = { ...jupyterEnv([kernel.prefix], tempDir('hpcdl-jhome-')), HPCDL_KERNEL_NAME: kernel.name };
  const result = spawnSync('/usr/bin/python3', [path.join(__dirname, 'kernel_conformance.py')], {
    env,
    cwd: tempDir('hpcdl-kt-'),
    encoding: 'utf8',
    timeout: 150_000,
  });
  const log = `${result.stdout}\n${result.stderr}`;
  assert.equal(result.status, 0, `jupyter_kernel_test failed:\n${log}`);
  const passed = [...log.matchAll(/^(test_\w+) .*\.\.\. ok$/gm)].map((m) => m[1]).sort();
  assert.deepEqual(passed, [
    'test_completion', 'test_display_data', 'test_error', 'test_execute_result', 'test_execute_stderr',
    'test_execute_stdout', 'test_history', 'test_inspect', 'test_is_complete', 'test_kernel_info',
  ], log);
  // Skipped by design, see docs/kernel.md: no pager payloads, no clear_output sample.
  const skipped = [...log.matchAll(/^(test_\w+) .*\.\.\. skipped/gm)].map((m) => m[1]).sort();
  assert.deepEqual(skipped, ['test_clear_output', 'test_pager'], log);
});
