/**
 * `hpcdl train` with parameter servers from the command line: --engines 3
 * --num_ps 1 (a local cluster started by the command) and `srun -n 3 hpcdl
 * train` with the config's num_ps on the project's test Slurm (the built CLI).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runProcess } from '../support/run';
import { hpcdl, ROOT, writeTinyConfig } from '../cli/support';
import { slurmUnavailable, startSlurm } from '../cluster/support/slurm';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-ps-cli-'));
const env = { HPCDL_HOME: path.join(dir, 'home'), HPCDL_GROUP_HOST: '127.0.0.1' };
const config = writeTinyConfig(dir);

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('hpcdl train --engines 3 --num_ps 1: one server, two workers, the chief checkpoints', async () => {
  const output = path.join(dir, 'engines');
  const r = await hpcdl(['train', '--config', config, '--engines', '3', '--num_ps', '1', '--mode', 'async', '--dummy-data', '--max-steps', '4', '--output', output], { env, timeoutMs: 240_000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const server = r.stdout.match(/parameter server 0: (\d+) pushes, (\d+) applied, 0 dropped, global step (\d+)/);
  assert.ok(server, r.stdout);
  assert.equal(server[1], server[2], 'async: every push applied');
  assert.equal(server[2], server[3], 'one global step per push');
  assert.ok(Number(server[3]) >= 4, 'the workers stop once the global step reaches --max-steps');
  assert.ok(fs.readdirSync(path.join(output, 'models')).some((f) => /^ckpt-\d+\.json$/.test(f)), 'the chief wrote a checkpoint');
});

const noSlurm = slurmUnavailable();
const cli = path.join(ROOT, 'dist', 'cli', 'index.js');

test('srun -n 3 hpcdl train with num_ps 1 in the config: rank 0 serves, ranks 1 and 2 train', { skip: noSlurm ?? (fs.existsSync(cli) ? false : 'needs the built CLI (npm run build)') }, async () => {
  const withServers = path.join(dir, 'tiny-ps.json');
  fs.writeFileSync(withServers, JSON.stringify({ ...JSON.parse(fs.readFileSync(config, 'utf8')), num_ps: 1, mode: 'sync', num_hot_spares: 0 }));
  const slurm = await startSlurm();
  try {
    const output = path.join(dir, 'srun');
    const r = await runProcess('srun', ['-n', '3', process.execPath, cli, 'train', '--config', withServers, '--dummy-data', '--max-steps', '3', '--output', output], { env: { ...slurm.env, ...env, HPCDL_GROUP_HOST: '' }, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Rank 0 is a parameter server \(1 of 1\)/m);
    assert.match(r.stdout, /^Rank 0 performing synchronous updates$/m, "the chief's seed line");
    assert.match(r.stdout, /Rank 1 : 2 workers, 1 parameter servers, 3 steps \(server 0: 6 pushes, 6 applied, 0 dropped\); checkpoint \S+ckpt-00000003\.json/);
    assert.ok(fs.existsSync(path.join(output, 'models', 'ckpt-00000003.json')));
  } finally {
    await slurm.stop();
  }
});
