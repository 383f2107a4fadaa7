/**
 * Extra engines a notebook starts and stops itself (cluster_monitor.ipynb):
 * `hpcdl engine --connect <connection file>` as a child process of the kernel,
 * stopped by its own PID. Engines started by Cluster.start are the cluster's;
 * these come and go while the cluster keeps running, as on a real allocation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface EngineProcess {
  pid: number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: boolean;
}

/** The hpcdl CLI of the installed package (its package.json `bin`). */
export function hpcdlCli(): string {
  const manifest = require.resolve('hpcdl/package.json');
  const cli = path.join(path.dirname(manifest), (require(manifest) as { bin: { hpcdl: string } }).bin.hpcdl);
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: build hpcdl (npm run build)`);
  return cli;
}

export function startEngine(connectionFile: string, extraArgs: string[] = []): EngineProcess {
  const child: ChildProcess = spawn(process.execPath, [hpcdlCli(), 'engine', '--connect', connectionFile, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, HPCDL_PARENT_PID: String(process.pid) },
  });
  let exited = false;
  const done = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  const kill = () => { if (!exited) child.kill('SIGKILL'); };
  process.once('exit', kill); // no orphan if the kernel goes away
  return {
    pid: child.pid!,
    get exited() { return exited; },
    async stop(graceMs = 5000) {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(kill, graceMs);
      await done;
      clearTimeout(timer);
      process.removeListener('exit', kill);
    },
  };
}

/** Keeps every core of an engine busy for `seconds` (for watching the CPU plot move). */
export function burnCpu(seconds: number): number {
  const end = Date.now() + seconds * 1000;
  let x = 0;
  while (Date.now() < end) for (let i = 0; i < 1e5; i++) x += Math.sqrt(i);
  return x > 0 ? seconds : 0;
}
