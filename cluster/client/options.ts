/** Options of `Cluster.connect` and `Cluster.start`. */
import type { SlurmLauncherOptions } from '../launchers/slurm';
import type { EngineLauncher } from '../launchers/types';
import type { ControllerPlacement } from './local/started-controller';
import type { OutputMode } from './output';

export interface ConnectOptions {
  profileDir?: string;
  /** where task stdout/stderr goes besides the handles: printed with `[stdout:<engine>]` prefixes (default), dropped, or a callback per line */
  output?: OutputMode;
  /** cancel this client's remote tasks on SIGINT (default true) */
  handleSigint?: boolean;
  /** give up reconnecting after this long (ms, default 120 s) */
  reconnectTimeoutMs?: number;
  /**
   * keep this client's queued and running tasks when it disconnects and does not
   * come back (default false: the controller cancels them after its
   * --orphan-grace-ms, 10 s, so a dead notebook or script stops costing engines)
   */
  persist?: boolean;
  log?: (line: string) => void;
}

export interface StartOptions extends ConnectOptions {
  /** number of engines (default: the core count) */
  engines?: number;
  /** tasks each engine runs at once (default 1) */
  slots?: number;
  /** where engines run (default 'local') */
  launcher?: 'local' | 'srun' | 'sbatch' | EngineLauncher;
  /** options of the srun/sbatch launchers */
  slurm?: SlurmLauncherOptions;
  clusterId?: string;
  /** controller bind address (default 127.0.0.1 for local engines; inside a Slurm job the node's interface; for sbatch from outside, this machine's first non-loopback IPv4) */
  ip?: string;
  /** controller bind address: this network interface's IPv4 address (e.g. "ib0"); exclusive with ip */
  interface?: string;
  port?: number;
  /** replacements of dead engines per launch slot (default 3) */
  maxReplacements?: number;
  /** extra `hpcdl engine` arguments */
  engineArgs?: string[];
  /** how long to wait for the controller and all engines (ms, default 60 s) */
  startTimeoutMs?: number;
  /** do not wait for the engines to register */
  noWait?: boolean;
  /**
   * where the controller runs: 'in-process' (default; lowest latency, stops with
   * this process) or 'process' (a separate `hpcdl controller` that keeps
   * dispatching while this process is busy with long synchronous work)
   */
  controller?: ControllerPlacement;
}
