/**
 * The local half of `Cluster.start`: the controller this client owns and the
 * engines it launches (local child processes, srun or sbatch) with their
 * supervisor. Loaded only by `Cluster.start`, so `Cluster.connect` never loads
 * the controller, its WebSocket server or the dashboard.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectionFilePath, hpcdlHome } from '../../protocol';
import { LocalLauncher } from '../../launchers/local';
import { SrunLauncher, SbatchLauncher } from '../../launchers/slurm';
import { EngineSupervisor } from '../../launchers/supervisor';
import type { EngineLauncher } from '../../launchers/types';
import type { StartOptions } from '../options';
import { startController, type StartedController } from './started-controller';
import { interfaceAddress } from '../../controller/bind-address';

export interface LocalController {
  controller: StartedController;
  engines: number;
  clusterId: string;
  profileDir: string;
  /** holds the controller's and the engines' logs */
  workDir: string;
  /** the connection file the controller wrote */
  file: string;
  timeoutMs: number;
  log: (line: string) => void;
}

/** Check the options and start the controller (in this process or as a child). */
export async function startLocalController(opts: StartOptions): Promise<LocalController> {
  const engines = opts.engines ?? os.cpus().length;
  if (!Number.isInteger(engines) || engines < 0) throw new RangeError(`Cluster.start: engines must be a non-negative integer, got ${opts.engines}`);
  const profileDir = hpcdlHome(opts.profileDir);
  const clusterId = opts.clusterId ?? `local-${randomBytes(4).toString('hex')}`;
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const workDir = path.join(profileDir, 'clusters', clusterId);
  fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const placement = opts.controller ?? 'in-process';
  if (placement !== 'in-process' && placement !== 'process') throw new RangeError(`Cluster.start: controller must be 'in-process' or 'process', got ${JSON.stringify(placement)}`);
  const controller = await startController(placement, { clusterId, profileDir, ip: controllerAddress(opts, log), port: opts.port, workDir, timeoutMs });
  return { controller, engines, clusterId, profileDir, workDir, file: connectionFilePath(clusterId, profileDir), timeoutMs, log };
}

/** The supervisor of the engines this client launches (not started yet), and the launcher id their labels carry. */
export function engineSupervisor(local: LocalController, opts: StartOptions): { supervisor: EngineSupervisor; launcherId: string } {
  const launcher = makeLauncher(opts);
  const launcherId = `${local.clusterId}-${launcher.kind}-${randomBytes(3).toString('hex')}`;
  const supervisor = new EngineSupervisor(
    launcher,
    { connectionFile: local.file, slots: opts.slots ?? 1, launcherId, workDir: local.workDir, engineArgs: opts.engineArgs, log: local.log },
    { maxReplacements: opts.maxReplacements },
  );
  return { supervisor, launcherId };
}

function makeLauncher(opts: StartOptions): EngineLauncher {
  const l = opts.launcher ?? 'local';
  if (typeof l !== 'string') return l;
  if (l === 'local') return new LocalLauncher();
  if (l === 'srun') return new SrunLauncher(opts.slurm);
  if (l === 'sbatch') return new SbatchLauncher(opts.slurm);
  throw new Error(`unknown launcher "${String(l)}" (expected local, srun or sbatch)`);
}

/**
 * Where the controller listens: an explicit `ip`; inside a Slurm job the
 * controller picks the node's interface itself; engines submitted with sbatch
 * from outside a job run elsewhere, so not loopback but this machine's first
 * non-loopback IPv4 address; local engines: 127.0.0.1.
 */
function controllerAddress(opts: StartOptions, log: (line: string) => void): string | undefined {
  if (opts.ip && opts.interface) throw new Error('Cluster.start: give ip or interface, not both');
  if (opts.interface) return interfaceAddress(opts.interface);
  if (opts.ip) return opts.ip;
  if (process.env.SLURM_JOB_ID) return undefined;
  const kind = typeof opts.launcher === 'object' ? opts.launcher.kind : (opts.launcher ?? 'local');
  if (kind !== 'sbatch') return '127.0.0.1';
  for (const name of Object.keys(os.networkInterfaces()).sort()) {
    for (const a of os.networkInterfaces()[name] ?? []) {
      if (a.family === 'IPv4' && !a.internal) {
        log(`hpcdl: engines will run as a batch job elsewhere; the controller listens on ${a.address} (${name}); pass ip to choose another address`);
        return a.address;
      }
    }
  }
  throw new Error('Cluster.start: the sbatch launcher needs an address compute nodes can reach, and this machine has no non-loopback IPv4 interface; pass ip');
}
