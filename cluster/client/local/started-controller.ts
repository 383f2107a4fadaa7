/**
 * The controller `Cluster.start` owns, in one of two forms:
 *
 * - 'in-process' (default): the controller runs on this process's event loop,
 *   as Dask's LocalCluster runs its scheduler. Engines and other clients
 *   still reach it over WebSocket through the connection file; this client
 *   talks to it over an in-process pair, which takes two TCP hops and two
 *   process wake-ups off every task's round trip. It stops with this process.
 * - 'process': a separate `hpcdl controller` child in its own process group,
 *   which keeps dispatching while this process is busy with synchronous work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { connectionFilePath, readConnectionFile } from '../../protocol';
import { Controller, type LauncherControl } from '../../controller';
import type { SearchSnapshot } from '../../dashboard';
import { hpcdlProcessCommand } from '../../launchers/command';
import { waitForExit } from '../../launchers/local';
import type { MessageSocket } from '../../transport/socket';

export type ControllerPlacement = 'in-process' | 'process';

export interface ControllerStartOptions {
  clusterId: string;
  profileDir: string;
  ip?: string;
  port?: number;
  /** holds controller.log */
  workDir: string;
  timeoutMs: number;
}

export interface StartedController {
  readonly placement: ControllerPlacement;
  /** how this client connects: in-process pair, or null for a WebSocket to the URL in the connection file */
  readonly dial: (() => MessageSocket) | null;
  /** stop it for good (engines are told to shut down) and wait until it has */
  stop(): Promise<void>;
  /** last resort on process exit */
  stopNow(): void;
  /** why it can no longer answer (it exited, with its last log lines), else null */
  exitReason(): string | null;
  /**
   * Lend the controller this client's launcher (dashboard restarts) or a
   * search's trials (dashboard Searches tab). Only an in-process controller
   * can take them; null for a separate controller process.
   */
  attachLauncher(launcherId: string, control: LauncherControl): (() => void) | null;
  attachSearch(name: string, snapshot: () => SearchSnapshot): (() => void) | null;
}

export async function startController(placement: ControllerPlacement, o: ControllerStartOptions): Promise<StartedController> {
  const file = connectionFilePath(o.clusterId, o.profileDir);
  if (fs.existsSync(file)) fs.rmSync(file); // a stale file would point at a dead controller
  return placement === 'in-process' ? startInProcess(o) : startChildProcess(o, file);
}

async function startInProcess(o: ControllerStartOptions): Promise<StartedController> {
  const logFile = path.join(o.workDir, 'controller.log');
  const controller = await Controller.start({
    clusterId: o.clusterId,
    profileDir: o.profileDir,
    ip: o.ip,
    port: o.port ?? 0,
    log: (line) => fs.appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`, { mode: 0o600 }),
  });
  return {
    placement: 'in-process',
    dial: () => controller.connectInProcess(),
    stop: () => controller.close({ stopEngines: true, removeConnectionFile: true }),
    stopNow: () => controller.flushJournalSync(),
    exitReason: () => null, // it lives as long as this process
    attachLauncher: (id, control) => controller.attachLauncher(id, control),
    attachSearch: (name, snapshot) => controller.attachSearch(name, snapshot),
  };
}

async function startChildProcess(o: ControllerStartOptions, file: string): Promise<StartedController> {
  const args = ['--cluster-id', o.clusterId, '--profile-dir', o.profileDir, '--port', String(o.port ?? 0)];
  if (o.ip) args.push('--ip', o.ip);
  const { command, args: full } = hpcdlProcessCommand('controller', args);
  const logFile = path.join(o.workDir, 'controller.log');
  const log = fs.openSync(logFile, 'a', 0o600);
  // Own process group: a Jupyter kernel interrupt signals the kernel's whole group, and must not stop the controller.
  const child = spawn(command, full, { stdio: ['ignore', log, log], detached: true, env: { ...process.env, HPCDL_PARENT_PID: String(process.pid) } });
  fs.closeSync(log);
  try {
    await waitForConnectionFile(file, child, o.timeoutMs, logFile);
  } catch (err) {
    child.kill('SIGKILL');
    await waitForExit(child);
    throw err;
  }
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    placement: 'process',
    dial: null,
    // The client's shutdown_request has asked it to stop; SIGTERM in case it could not.
    stop: async () => {
      if (!exited()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await waitForExit(child);
      clearTimeout(timer);
    },
    stopNow: () => {
      if (!exited()) child.kill('SIGKILL');
    },
    exitReason: () => (exited() ? `the controller process exited (${child.exitCode ?? child.signalCode})${logTail(logFile)}` : null),
    attachLauncher: () => null,
    attachSearch: () => null,
  };
}

async function waitForConnectionFile(file: string, controller: ChildProcess, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (controller.exitCode !== null || controller.signalCode !== null) {
      throw new Error(`the controller exited (${controller.exitCode ?? controller.signalCode}) before writing ${file}${logTail(logFile)}`);
    }
    if (fs.existsSync(file)) {
      try {
        readConnectionFile(file);
        return;
      } catch {
        // being written; try again
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the controller did not write ${file} within ${timeoutMs / 1000} s (log: ${logFile})`);
}

/** ":\n<last lines>" of a log file, or '' when there is none. */
function logTail(logFile: string): string {
  const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n') : '';
  return tail ? `:\n${tail}` : '';
}
