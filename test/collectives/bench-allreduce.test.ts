/** Smoke test of `hpcdl bench allreduce` with tiny sizes: both sides run in one go and a ratio is printed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTsx } from '../support/run';

const ROOT = path.join(__dirname, '..', '..');

test('hpcdl bench allreduce: hpcdl and mpi4py side by side (tiny sizes)', { timeout: 180_000 }, async () => {
  const mpi = fs.existsSync('/usr/bin/mpirun');
  const args = ['bench', 'allreduce', '--ranks', '2', '--sizes', '4KB,40KB', '--reps', '3', '--rounds', '1', '--json', ...(mpi ? [] : ['--no-mpi'])];
  const r = await runTsx(path.join(ROOT, 'src', 'cli.ts'), args, { cwd: ROOT, timeoutMs: 170_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ranks\s+size\s+hpcdl ms\s+busbw GB\/s\s+mpi4py ms/);
  const rows = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ranks: number; bytes: number; hpcdl_ms: number; mpi_ms: number | null; ratio: number | null }[];
  assert.deepEqual(rows.map((x) => [x.ranks, x.bytes]), [[2, 4000], [2, 40000]]);
  for (const row of rows) {
    assert.ok(row.hpcdl_ms > 0);
    if (mpi) {
      assert.ok(row.mpi_ms! > 0, 'mpi4py ran in the same run');
      assert.ok(Math.abs(row.ratio! - row.mpi_ms! / row.hpcdl_ms) < 1e-9);
    }
  }
});
