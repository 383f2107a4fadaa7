/**
 * A missing real component fails a direct `node --test` run, naming what is
 * missing, unless HPCDL_ALLOW_SKIPS=1 (test/support/skips.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const SKIPS = path.resolve(__dirname, '..', 'support', 'skips.ts');

function writeTestFile(dir: string): string {
  const file = path.join(dir, 'needs-a-component.test.ts');
  fs.writeFileSync(file, `import { test } from 'node:test';
import { skipIfMissing } from ${JSON.stringify(SKIPS)};
test('uses the component', { skip: skipIfMissing('frobnicator not installed') }, () => { throw new Error('must not run'); });
test('uses it again', { skip: skipIfMissing('frobnicator not installed') }, () => { throw new Error('must not run'); });
test('needs nothing', { skip: skipIfMissing(null) }, () => {});
`);
  return file;
}

/** `node --test FILE` as a user runs it: not as a child of this test runner (NODE_TEST_CONTEXT unset). */
function runNodeTest(file: string, allowSkips: string): { code: number | null; stdout: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, HPCDL_ALLOW_SKIPS: allowSkips };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], { env, cwd: path.resolve(__dirname, '..', '..'), encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout };
}

test('a missing component fails the run with its name; HPCDL_ALLOW_SKIPS=1 lets it skip', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-skips-'));
  try {
    const file = writeTestFile(dir);
    const strict = runNodeTest(file, '');
    assert.notEqual(strict.code, 0, 'the run fails');
    assert.match(strict.stdout, /not ok \d+ - a real component the tests here need is missing: frobnicator not installed/);
    assert.equal((strict.stdout.match(/not ok \d+ - a real component the tests here need is missing/g) ?? []).length, 1, 'reported once per missing component');
    assert.match(strict.stdout, /# skipped 2/);
    assert.match(strict.stdout, /# pass 1/);

    const allowed = runNodeTest(file, '1');
    assert.equal(allowed.code, 0, allowed.stdout);
    assert.match(allowed.stdout, /# skipped 2/);
    assert.match(allowed.stdout, /# fail 0/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
