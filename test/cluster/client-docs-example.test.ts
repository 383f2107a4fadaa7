/** The runnable example in docs/cluster.md runs as written (with the import pointed at this checkout). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

function exampleSource(): string {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'cluster.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## A runnable example'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match, 'docs/cluster.md has a ts block under "A runnable example"');
  return match[1];
}

test('the docs/cluster.md example runs and prints what its comments say', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  try {
    const file = path.join(dir, 'cluster-demo.ts');
    const source = exampleSource().replace(`from 'hpcdl/cluster'`, `from ${JSON.stringify(path.join(ROOT, 'cluster', 'index.ts'))}`);
    assert.notEqual(source, exampleSource(), 'the example imports hpcdl/cluster');
    fs.writeFileSync(file, source);
    const run = spawnSync(process.execPath, ['--import', 'tsx', file], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, HPCDL_HOME: path.join(dir, 'home') },
    });
    assert.equal(run.status, 0, `example failed:\n${run.stdout}\n${run.stderr}`);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines[0], '42');
    assert.equal(lines[1], '[ 1, 4, 9, 16 ]');
    assert.deepEqual(lines.slice(2, 4), ['finished 10', 'finished 300']);
    assert.equal(lines[4], '2');
    assert.equal(lines[5], '[ 0.01, 0.01 ]');
    assert.equal(lines[6], 'Float32Array(2) [ 2, 4 ]');
    const out = run.stdout;
    for (let epoch = 0; epoch < 3; epoch++) {
      assert.match(out, new RegExp(`\\[stdout:\\d+\\] epoch ${epoch} done`));
      assert.match(out, new RegExp(`engine \\d+ reports \\{ epoch: ${epoch}, loss: `));
    }
    assert.match(lines[lines.length - 1], /^trained done \{ done: 1, total: 1, elapsed: [\d.]+ \}$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
