/**
 * Test support: run the real `hpcdl controller` / `hpcdl engine` commands as
 * child processes (through cli/index.ts with tsx), capture their output, and
 * stop them by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'cli', 'index.ts');

export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function hpcdl(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return {
    child,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function waitFor(pred: () => boolean, timeoutMs: number, what: string, detail: () => string = () => ''): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Start `hpcdl controller` and wait for its connection file. */
export async function startController(profileDir: string, clusterId: string, extra: string[] = []): Promise<{ proc: Proc; file: string }> {
  const file = path.join(profileDir, 'clusters', `${clusterId}.json`);
  const proc = hpcdl(['controller', '--cluster-id', clusterId, '--profile-dir', profileDir, ...extra]);
  await waitFor(() => proc.output().includes('listening on'), 30000, 'the controller to listen', proc.output);
  return { proc, file };
}

export function startEngine(file: string, extra: string[] = []): Proc {
  return hpcdl(['engine', '--connect', file, ...extra]);
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
