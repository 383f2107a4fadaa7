import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `hpcdl ARGS` from the sources (node --import tsx src/cli.ts), stdout/stderr piped. */
export function hpcdl(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts'), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hpcdl ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** stderr of a failed command: exactly one non-empty line. */
export function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) throw new Error(`expected one stderr line, got ${lines.length}:\n${stderr}`);
  return lines[0];
}

/** A tiny variant of configs/local_small.json (one conv layer of 4 filters) written into `dir`; returns its path. */
export function writeTinyConfig(dir: string): string {
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'configs', 'local_small.json'), 'utf8'));
  Object.assign(config, {
    num_layers: 1,
    num_fc_units: 8,
    train_batch_size: 50,
    validation_batch_size: 250,
    display_interval: 5,
    num_epochs: 1,
    outputpath: path.join(dir, 'unused'),
  });
  config.conv_params.num_filters = 4;
  const file = path.join(dir, 'tiny.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** A number as the log lines print it. */
export const NUMBER_RE = '[0-9.e+-]+';
