/**
 * The `hpcdl controller` process and its cluster id, with real processes:
 * SIGTERM keeps the connection file and journal for --resume, a second
 * controller on a live cluster id is refused, and a killed controller that
 * is still a zombie (its parent has not reaped it) counts as dead for --resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { procState } from '../../cluster/controller/process-alive';
import { hpcdl, removeDir, startController, waitFor } from './support/processes';

const ROOT = path.resolve(__dirname, '..', '..');

test('SIGTERM keeps the connection file and journal; a second controller on a live id is refused; --resume takes over', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-ctl-'));
  try {
    const { proc, file } = await startController(dir, 'lifecycle');
    const journal = file.replace(/\.json$/, '.journal.jsonl');
    const second = hpcdl(['controller', '--cluster-id', 'lifecycle', '--profile-dir', dir]);
    assert.equal(await second.exited, 1, second.output());
    assert.match(second.output(), new RegExp(`cluster lifecycle is already running \\(controller pid ${proc.child.pid}, ${file.replace(/[.]/g, '\\.')}\\)`));
    assert.equal(await proc.kill('SIGTERM'), 0, proc.output());
    assert.match(proc.output(), /stopped \(SIGTERM\)/);
    assert.ok(fs.existsSync(file), 'connection file kept');
    assert.ok(fs.existsSync(journal), 'journal kept');
    const resumed = await startController(dir, 'lifecycle', ['--resume']);
    assert.match(resumed.proc.output(), /resumed from .*lifecycle\.journal\.jsonl/);
    await resumed.proc.kill('SIGTERM');
  } finally {
    removeDir(dir);
  }
});

test('--resume treats a killed controller that is still a zombie as dead', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-ctl-'));
  // The parent starts the controller, prints its pid, and never reaps it while it sleeps.
  const parentScript = [
    'import subprocess, sys, time',
    `p = subprocess.Popen([sys.argv[1], '--import', 'tsx', 'cli/index.ts', 'controller', '--cluster-id', 'zombie', '--profile-dir', sys.argv[2]], cwd=sys.argv[3], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)`,
    'print(p.pid, flush=True)',
    'time.sleep(60)',
  ].join('\n');
  const parent = spawn('python3', ['-c', parentScript, process.execPath, dir, ROOT], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    parent.stdout!.on('data', (d) => (out += d));
    await waitFor(() => /^\d+\n/.test(out), 10_000, 'the controller pid');
    const pid = Number(out.trim());
    const file = path.join(dir, 'clusters', 'zombie.json');
    await waitFor(() => fs.existsSync(file), 30_000, 'the connection file');
    process.kill(pid, 'SIGKILL');
    await waitFor(() => procState(pid) === 'Z', 10_000, `controller ${pid} to be a zombie`);
    const resumed = await startController(dir, 'zombie', ['--resume']);
    assert.match(resumed.proc.output(), /listening on ws:\/\/127\.0\.0\.1:\d+/);
    await resumed.proc.kill('SIGTERM');
  } finally {
    parent.kill('SIGKILL');
    removeDir(dir);
  }
});
