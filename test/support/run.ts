import { spawn } from 'node:child_process';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** the error when the process is still running at the timeout (default: "<script> <args> timed out") */
  timeoutMessage?: string;
}

/** Run a TypeScript file with `node --import tsx`, stdout/stderr piped and collected; SIGKILL and reject at the timeout. */
export function runTsx(script: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runProcess(process.execPath, ['--import', 'tsx', script, ...args], { ...opts, timeoutMessage: opts.timeoutMessage ?? `${script} ${args.join(' ')} timed out` });
}

/** Run any command (e.g. `srun -n 2 node ...`), stdout/stderr piped and collected; SIGKILL and reject at the timeout. */
export function runProcess(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${opts.timeoutMessage ?? `${command} ${args.join(' ')} timed out`}\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
