import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseControllerArgs } from '../../cluster/controller/cli';
import { chooseBindAddress } from '../../cluster/controller/controller';

test('controller flags parse, with --flag value and --flag=value', () => {
  assert.deepEqual(parseControllerArgs(['--ip', '10.0.0.1', '--port=7000', '--cluster-id', 'x', '--resume', '--profile-dir', '/tmp/p', '--prefetch', '0']), {
    ip: '10.0.0.1', port: 7000, clusterId: 'x', resume: true, profileDir: '/tmp/p', prefetch: 0,
  });
  assert.throws(() => parseControllerArgs(['--port', 'abc']), /--port must be a non-negative integer, got "abc"/);
  assert.throws(() => parseControllerArgs(['--bogus']), /unknown option --bogus/);
  assert.throws(() => parseControllerArgs(['--resume']), /--resume needs --cluster-id/);
  assert.throws(() => parseControllerArgs(['--cluster-id']), /--cluster-id needs a value/);
});

test('bind address: explicit --ip wins; inside Slurm never silently loopback; loopback by default', () => {
  const saved = process.env.SLURM_JOB_ID;
  const logs: string[] = [];
  try {
    delete process.env.SLURM_JOB_ID;
    assert.deepEqual(chooseBindAddress(undefined, (l) => logs.push(l)), { bind: '127.0.0.1', advertise: '127.0.0.1' });
    assert.deepEqual(chooseBindAddress('10.1.2.3', (l) => logs.push(l)), { bind: '10.1.2.3', advertise: '10.1.2.3' });
    assert.equal(chooseBindAddress('*', (l) => logs.push(l)).bind, '0.0.0.0');
    process.env.SLURM_JOB_ID = '42';
    const inSlurm = chooseBindAddress(undefined, (l) => logs.push(l));
    assert.equal(inSlurm.bind, inSlurm.advertise);
    // either a real interface (and a log line saying so) or a loud warning when there is none
    assert.ok(inSlurm.bind !== '127.0.0.1' ? /Slurm job 42: binding to/.test(logs.join('\n')) : /WARNING/.test(logs.join('\n')), logs.join('\n'));
  } finally {
    if (saved === undefined) delete process.env.SLURM_JOB_ID;
    else process.env.SLURM_JOB_ID = saved;
  }
});
