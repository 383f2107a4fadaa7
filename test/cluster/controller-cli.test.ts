import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseControllerArgs } from '../../cluster/controller/cli';
import * as os from 'node:os';
import { chooseBindAddress, interfaceAddress, primaryAddress } from '../../cluster/controller/controller';

test('controller flags parse, with --flag value and --flag=value', () => {
  assert.deepEqual(parseControllerArgs(['--ip', '10.0.0.1', '--port=7000', '--cluster-id', 'x', '--resume', '--profile-dir', '/tmp/p', '--prefetch', '0']), {
    ip: '10.0.0.1', port: 7000, clusterId: 'x', resume: true, profileDir: '/tmp/p', prefetch: 0,
  });
  assert.throws(() => parseControllerArgs(['--port', 'abc']), /--port must be a non-negative integer, got "abc"/);
  assert.throws(() => parseControllerArgs(['--bogus']), /unknown option --bogus/);
  assert.throws(() => parseControllerArgs(['--resume']), /--resume needs --cluster-id/);
  assert.throws(() => parseControllerArgs(['--cluster-id']), /--cluster-id needs a value/);
});

type Nets = ReturnType<typeof os.networkInterfaces>;
const v4 = (address: string, internal = false) => ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${address}/24` }) as os.NetworkInterfaceInfo;
const LOOPBACK_ONLY: Nets = { lo: [v4('127.0.0.1', true)] };
const CLUSTER_NODE: Nets = { lo: [v4('127.0.0.1', true)], eth0: [v4('10.1.0.7')], ib0: [v4('10.2.0.7')] };

test('bind address: explicit --ip wins; loopback outside Slurm; inside Slurm the primary interface, or loopback with a WARNING when there is none', () => {
  const logs: string[] = [];
  const log = (l: string) => logs.push(l);
  assert.deepEqual(chooseBindAddress(undefined, log, { env: {}, nets: CLUSTER_NODE }), { bind: '127.0.0.1', advertise: '127.0.0.1' });
  assert.deepEqual(chooseBindAddress('10.1.2.3', log, { env: { SLURM_JOB_ID: '42' }, nets: CLUSTER_NODE }), { bind: '10.1.2.3', advertise: '10.1.2.3' });
  assert.deepEqual(chooseBindAddress('*', log, { env: {}, nets: CLUSTER_NODE }), { bind: '0.0.0.0', advertise: '10.1.0.7' });
  assert.deepEqual(logs, []);
  assert.deepEqual(chooseBindAddress(undefined, log, { env: { SLURM_JOB_ID: '42' }, nets: CLUSTER_NODE }), { bind: '10.1.0.7', advertise: '10.1.0.7' });
  assert.match(logs.pop()!, /inside Slurm job 42: binding to 10\.1\.0\.7/);
  assert.deepEqual(chooseBindAddress(undefined, log, { env: { SLURM_JOB_ID: '42' }, nets: LOOPBACK_ONLY }), { bind: '127.0.0.1', advertise: '127.0.0.1' });
  assert.match(logs.pop()!, /^WARNING: inside a Slurm job but no non-loopback IPv4 interface/);
  // this machine: the first non-internal IPv4 address by interface name, computed here independently
  const mine = Object.entries(os.networkInterfaces()).sort(([a], [b]) => a.localeCompare(b)).flatMap(([, list]) => list ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address ?? null;
  assert.equal(primaryAddress(), mine);
});

test('--interface NAME binds to that interface (the high-speed network); an unknown one is named with the ones there are', () => {
  assert.deepEqual(chooseBindAddress(undefined, () => undefined, { interfaceName: 'ib0', env: { SLURM_JOB_ID: '1' }, nets: CLUSTER_NODE }), { bind: '10.2.0.7', advertise: '10.2.0.7' });
  assert.throws(() => chooseBindAddress(undefined, () => undefined, { interfaceName: 'ib1', nets: CLUSTER_NODE }), /^Error: --interface ib1: no such network interface here \(have: eth0, ib0, lo\)$/);
  assert.throws(() => chooseBindAddress('10.0.0.1', () => undefined, { interfaceName: 'ib0', nets: CLUSTER_NODE }), /--ip or --interface, not both/);
  assert.equal(interfaceAddress('lo', LOOPBACK_ONLY), '127.0.0.1');
  assert.deepEqual(parseControllerArgs(['--interface', 'ib0']), { interface: 'ib0' });
  assert.throws(() => parseControllerArgs(['--interface', 'ib0', '--ip', '10.0.0.1']), /not both/);
});
