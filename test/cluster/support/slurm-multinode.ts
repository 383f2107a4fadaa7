/**
 * Test support: a private real Slurm with several nodes on this one machine.
 * Each slurmd runs in its own network, UTS and mount namespace (ip netns +
 * unshare): its own host name (node1, node2, ...), its own address on a
 * private bridge this creates (veth pairs), and an /etc/hosts bind-mounted in
 * its namespace so the nodes resolve each other; slurmctld and munged run in
 * the machine's namespace (munge's Unix socket is shared through the file
 * system). Jobs therefore talk to each other over non-loopback addresses, as
 * on a real cluster. Needs root, iproute2 and util-linux; `stop()` removes
 * the namespaces and the bridge again.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { slurmConfText, slurmUnavailable } from './slurm';
import { skipIfMissing } from '../../support/skips';

export interface MultiNodeSlurm {
  dir: string;
  env: Record<string, string>;
  nodes: { name: string; address: string; netns: string }[];
  /** the bridge address of this machine (where slurmctld listens) */
  hostAddress: string;
  squeue(): string[];
  stop(): Promise<void>;
}

/** Why a multi-node Slurm cannot be started here (a test then fails unless HPCDL_ALLOW_SKIPS=1), or null. */
export function multiNodeUnavailable(): string | null {
  return skipIfMissing(whyNoNodes()) || null;
}

function whyNoNodes(): string | null {
  const slurm = slurmUnavailable();
  if (slurm) return slurm;
  for (const bin of ['/usr/sbin/ip', '/usr/bin/unshare', '/usr/bin/nsenter']) if (!fs.existsSync(bin) && !fs.existsSync(bin.replace('/usr', ''))) return `${bin} missing (iproute2, util-linux)`;
  const probe = `hpcdl-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  } catch {
    return 'cannot create network namespaces here (ip netns add failed)';
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '0.0.0.0', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export async function startMultiNodeSlurm(count = 2, cpusPerNode = 4): Promise<MultiNodeSlurm> {
  const why = multiNodeUnavailable();
  if (why) throw new Error(why);
  const tag = `${process.pid.toString(36)}${randomInt(1296).toString(36)}`.slice(-6);
  const subnet = `10.${200 + randomInt(50)}.${randomInt(250)}`;
  const bridge = `hpb${tag}`;
  const hostAddress = `${subnet}.1`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-slurm-nodes-'));
  fs.chmodSync(dir, 0o755);
  const nodes = Array.from({ length: count }, (_, i) => ({ name: `node${i + 1}`, address: `${subnet}.${11 + i}`, netns: `hpcdl-${tag}-n${i + 1}` }));
  const daemons: ChildProcess[] = [];
  const created = { bridge: false, netns: [] as string[] };
  const mungeDir = path.join(dir, 'munge');
  const mungePid = path.join(mungeDir, 'munged.pid');

  const stop = async (): Promise<void> => {
    try {
      execFileSync('/usr/bin/scancel', ['--full', '--user=root'], { env: { ...process.env, SLURM_CONF: path.join(dir, 'slurm.conf') }, stdio: 'ignore', timeout: 10_000 });
    } catch {
      // nothing queued, or slurmctld already gone
    }
    for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGTERM');
    await Promise.all(daemons.map((d) => (d.exitCode !== null || d.signalCode !== null ? undefined : new Promise((r) => d.once('exit', r)))));
    if (fs.existsSync(mungePid)) {
      try {
        process.kill(Number(fs.readFileSync(mungePid, 'utf8')), 'SIGTERM');
      } catch {
        // already gone
      }
    }
    for (const ns of created.netns) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
    if (created.bridge) {
      try {
        ip('link', 'del', bridge);
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    created.bridge = true;
    ip('addr', 'add', `${hostAddress}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (const [i, node] of nodes.entries()) {
      ip('netns', 'add', node.netns);
      created.netns.push(node.netns);
      const outside = `hv${tag}${i}`;
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns);
      ip('link', 'set', outside, 'master', bridge);
      ip('link', 'set', outside, 'up');
      ip('-n', node.netns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0');
      ip('-n', node.netns, 'link', 'set', 'eth0', 'up');
      ip('-n', node.netns, 'link', 'set', 'lo', 'up');
    }
    const hosts = path.join(dir, 'hosts');
    fs.writeFileSync(hosts, ['127.0.0.1 localhost', `${hostAddress} ${os.hostname()}`, ...nodes.map((n) => `${n.address} ${n.name}`), ''].join('\n'));

    fs.mkdirSync(mungeDir, { mode: 0o755 });
    execFileSync('chown', ['munge:munge', mungeDir]);
    const socket = path.join(mungeDir, 'munge.sock');
    execFileSync('runuser', ['-u', 'munge', '--', '/usr/sbin/munged', `--socket=${socket}`, `--pid-file=${mungePid}`, `--log-file=${path.join(mungeDir, 'munged.log')}`, `--seed-file=${path.join(mungeDir, 'seed')}`]);
    for (const d of ['state', 'log']) fs.mkdirSync(path.join(dir, d));
    for (const n of nodes) fs.mkdirSync(path.join(dir, `spool-${n.name}`));
    const conf = path.join(dir, 'slurm.conf');
    fs.writeFileSync(
      conf,
      slurmConfText({
        clusterName: 'hpcdlnodes',
        controller: `${os.hostname()}(${hostAddress})`,
        ports: [await freePort(), await freePort()],
        mungeSocket: socket,
        dir,
        perNode: true,
        nodes: nodes.map((n) => `NodeName=${n.name} NodeAddr=${n.address} NodeHostname=${n.name} CPUs=${cpusPerNode} RealMemory=2000 State=UNKNOWN`),
      }),
    );
    const env = { SLURM_CONF: conf };
    const daemonEnv = { ...process.env, ...env };
    daemons.push(spawn('/usr/sbin/slurmctld', ['-D', '-f', conf], { env: daemonEnv, stdio: 'ignore' }));
    for (const n of nodes) {
      // own UTS (host name) and mount namespace (its /etc/hosts) inside the node's network namespace
      const inner = `hostname ${n.name} && mount --bind ${hosts} /etc/hosts && exec /usr/sbin/slurmd -D -N ${n.name} -f ${conf}`;
      // nsenter, not `ip netns exec`: the latter remounts /sys, hiding the cgroup file system slurmd 22.05 needs
      daemons.push(spawn('nsenter', [`--net=/run/netns/${n.netns}`, 'unshare', '--uts', '--mount', '--propagation', 'private', 'sh', '-c', inner], { env: daemonEnv, stdio: 'ignore' }));
    }
    const idle = (): boolean => {
      try {
        const states = execFileSync('/usr/bin/sinfo', ['-h', '-N', '-o', '%N %t'], { env: daemonEnv, encoding: 'utf8', timeout: 5000 });
        return nodes.every((n) => new RegExp(`^${n.name} (idle|mix|alloc)`, 'm').test(states));
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 60_000;
    while (!idle()) {
      if (Date.now() > deadline) {
        const logs = fs.readdirSync(path.join(dir, 'log')).map((f) => `${f}:\n${fs.readFileSync(path.join(dir, 'log', f), 'utf8').trim().split('\n').slice(-6).join('\n')}`);
        throw new Error(`multi-node Slurm: the nodes did not become idle within 60 s\n${logs.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    return {
      dir,
      env,
      nodes,
      hostAddress,
      squeue: () => execFileSync('/usr/bin/squeue', ['-h', '-o', '%i %j %T'], { env: daemonEnv, encoding: 'utf8' }).trim().split('\n').filter(Boolean),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
