/**
 * `hpcdl cluster list` and `hpcdl cluster prune` on a profile holding a
 * running controller and one killed with SIGKILL (its connection file,
 * journal and work directory left behind): prune removes what the stopped
 * cluster left and keeps the running one. A local cluster closed by its
 * client leaves nothing.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster } from '../../cluster';
import { startController, type Proc } from '../cluster/support/processes';
import { hpcdl } from './support';

let profile: string;
let running: Proc | undefined;

before(() => {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-cluster-cli-'));
});

after(async () => {
  await running?.kill('SIGTERM');
  fs.rmSync(profile, { recursive: true, force: true });
});

test('cluster list shows running and stopped clusters; prune removes only the stopped ones', { timeout: 180_000 }, async () => {
  const clusters = path.join(profile, 'clusters');
  running = (await startController(profile, 'alive')).proc;
  const killed = await startController(profile, 'killed');
  fs.mkdirSync(path.join(clusters, 'killed'), { recursive: true });
  fs.writeFileSync(path.join(clusters, 'killed', 'controller.log'), 'x'.repeat(10_000));
  await killed.proc.kill('SIGKILL');
  const closed = await Cluster.start({ engines: 1, profileDir: profile, clusterId: 'closed', output: 'none', log: () => undefined, handleSigint: false });
  assert.ok(fs.readdirSync(clusters).some((n) => n.startsWith('closed')), 'a started cluster writes under clusters/');
  await closed.close();
  assert.deepEqual(fs.readdirSync(clusters).filter((n) => n.startsWith('closed')), [], 'a closed local cluster leaves nothing behind');

  const list = await hpcdl(['cluster', 'list', '--profile-dir', profile]);
  assert.equal(list.code, 0, list.stderr);
  const state = (id: string) => new RegExp(`^${id} +(running|stopped) `, 'm').exec(list.stdout)?.[1];
  assert.equal(state('alive'), 'running', list.stdout);
  assert.equal(state('killed'), 'stopped', list.stdout);

  const dry = await hpcdl(['cluster', 'prune', '--dry-run', '--profile-dir', profile]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would remove killed \(/);
  assert.ok(fs.existsSync(path.join(clusters, 'killed.json')), 'a dry run removes nothing');

  const prune = await hpcdl(['cluster', 'prune', '--profile-dir', profile]);
  assert.equal(prune.code, 0, prune.stderr);
  assert.match(prune.stdout, /^removed killed \(/m);
  assert.doesNotMatch(prune.stdout, /removed alive/);
  const left = fs.readdirSync(clusters).sort();
  assert.deepEqual(left.filter((n) => !n.startsWith('alive')), [], `only the running cluster's files are left: ${left}`);
  assert.ok(left.includes('alive.json'), 'the running controller keeps its connection file');

  const bad = await hpcdl(['cluster', 'prune', '--bogus']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option --bogus/);
});
