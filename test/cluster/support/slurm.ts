/**
 * Test support: a private, real Slurm on this machine — munged with its own
 * socket, slurmctld and slurmd in the foreground on free ports, state in a temp
 * dir — and how to stop it again. Needs root and Debian's slurm-wlm + munge
 * (scripts/apt-packages.d/cluster.txt); `startSlurm()` says why when it cannot run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { skipIfMissing } from '../../support/skips';

export interface Slurm {
  dir: string;
  conf: string;
  /** environment for srun/sbatch/squeue/scancel and for launchers (`slurm.env`) */
  env: Record<string, string>;
  squeue(): string[];
  stop(): Promise<void>;
}

const BINARIES = ['/usr/sbin/munged', '/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/srun', '/usr/bin/sbatch', '/usr/bin/squeue', '/usr/bin/scancel'];

/** Why a real Slurm cannot be started here (a test then fails unless HPCDL_ALLOW_SKIPS=1, see test/support/skips.ts), or null when it can. */
export function slurmUnavailable(): string | null {
  return skipIfMissing(whySlurmCannotStart()) || null;
}

function whySlurmCannotStart(): string | null {
  const missing = BINARIES.filter((b) => !fs.existsSync(b));
  if (missing.length) return `Slurm/munge binaries missing: ${missing.join(', ')} (apt-get install slurm-wlm munge)`;
  if (process.getuid?.() !== 0) return 'starting slurmctld/slurmd needs root';
  if (!fs.existsSync('/etc/munge/munge.key')) return 'no /etc/munge/munge.key';
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function until(pred: () => boolean, timeoutMs: number, what: string, logs: () => string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`Slurm: timed out waiting for ${what}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function cpuCount(): number {
  return os.cpus().length;
}

export interface SlurmConfOptions {
  clusterName: string;
  /** SlurmctldHost value, e.g. "host(127.0.0.1)" */
  controller: string;
  /** slurmctld and slurmd ports */
  ports: [number, number];
  mungeSocket: string;
  /** state, spool, pid and log files go below it; `perNode` puts slurmd's per node name (%n) */
  dir: string;
  perNode?: boolean;
  /** NodeName=... lines */
  nodes: string[];
}

/** The slurm.conf of a private test Slurm (no cgroups: proctrack/linuxproc, task/none). */
export function slurmConfText(o: SlurmConfOptions): string {
  const node = o.perNode ? '-%n' : '';
  return [
    `ClusterName=${o.clusterName}`,
    `SlurmctldHost=${o.controller}`,
    `SlurmctldPort=${o.ports[0]}`,
    `SlurmdPort=${o.ports[1]}`,
    'AuthType=auth/munge',
    `AuthInfo=socket=${o.mungeSocket}`,
    'CredType=cred/munge',
    `StateSaveLocation=${path.join(o.dir, 'state')}`,
    `SlurmdSpoolDir=${path.join(o.dir, `spool${node}`)}`,
    `SlurmctldPidFile=${path.join(o.dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${path.join(o.dir, `slurmd${node}.pid`)}`,
    `SlurmctldLogFile=${path.join(o.dir, 'log', 'slurmctld.log')}`,
    `SlurmdLogFile=${path.join(o.dir, 'log', `slurmd${node}.log`)}`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'SlurmUser=root',
    'ReturnToService=2',
    'MpiDefault=none',
    'SlurmdParameters=config_overrides',
    ...o.nodes,
    'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
    '',
  ].join('\n');
}

export async function startSlurm(): Promise<Slurm> {
  const why = slurmUnavailable();
  if (why) throw new Error(why);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-slurm-'));
  fs.chmodSync(dir, 0o755);
  const mungeDir = path.join(dir, 'munge');
  fs.mkdirSync(mungeDir, { mode: 0o755 });
  execFileSync('chown', ['munge:munge', mungeDir]);
  for (const d of ['state', 'spool', 'log']) fs.mkdirSync(path.join(dir, d));
  const socket = path.join(mungeDir, 'munge.sock');
  const mungePid = path.join(mungeDir, 'munged.pid');
  execFileSync('runuser', ['-u', 'munge', '--', '/usr/sbin/munged', `--socket=${socket}`, `--pid-file=${mungePid}`, `--log-file=${path.join(mungeDir, 'munged.log')}`, `--seed-file=${path.join(mungeDir, 'seed')}`]);
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const host = os.hostname();
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(
    conf,
    slurmConfText({
      clusterName: 'hpcdltest',
      controller: `${host}(127.0.0.1)`,
      ports: [ctldPort, dPort],
      mungeSocket: socket,
      dir,
      // More CPUs than the cores here, so a replacement engine job can start while the first job still runs.
      nodes: [`NodeName=${host} NodeAddr=127.0.0.1 CPUs=${Math.max(8, cpuCount())} RealMemory=${Math.floor(os.totalmem() / 1048576 / 2)} State=UNKNOWN`],
    }),
  );
  const env = { SLURM_CONF: conf };
  const daemons: ChildProcess[] = [];
  const logs = (): string =>
    ['slurmctld.log', 'slurmd.log'].map((f) => {
      const p = path.join(dir, 'log', f);
      return fs.existsSync(p) ? `${f}:\n${fs.readFileSync(p, 'utf8').trim().split('\n').slice(-8).join('\n')}` : `${f}: none`;
    }).join('\n');
  const stop = async (): Promise<void> => {
    try {
      execFileSync('/usr/bin/scancel', ['--full', '--user=root'], { env: { ...process.env, ...env }, stdio: 'ignore', timeout: 10_000 });
    } catch {
      // nothing queued, or controller already gone
    }
    for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGTERM');
    await Promise.all(daemons.map((d) => (d.exitCode !== null || d.signalCode !== null ? undefined : new Promise((r) => d.once('exit', r)))));
    if (fs.existsSync(mungePid)) {
      const pid = Number(fs.readFileSync(mungePid, 'utf8'));
      try {
        process.kill(pid, 'SIGTERM');
        // munged writes its seed file as it exits: removing its folder before then fails with ENOTEMPTY
        for (const until = Date.now() + 5000; Date.now() < until; ) {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 50));
        }
      } catch {
        // gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };
  try {
    for (const daemon of ['/usr/sbin/slurmctld', '/usr/sbin/slurmd']) {
      daemons.push(spawn(daemon, ['-D', '-f', conf], { env: { ...process.env, ...env }, stdio: 'ignore' }));
    }
    const idle = (): boolean => {
      try {
        return /idle|mix|alloc/.test(execFileSync('/usr/bin/sinfo', ['-h', '-o', '%t'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 5000 }));
      } catch {
        return false;
      }
    };
    await until(idle, 60_000, 'the node to become idle', logs);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    dir,
    conf,
    env,
    squeue: () =>
      execFileSync('/usr/bin/squeue', ['-h', '-o', '%i %j %T'], { env: { ...process.env, ...env }, encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean),
    stop,
  };
}
