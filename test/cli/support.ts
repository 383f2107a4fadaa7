import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTsx, type RunResult } from '../support/run';

export const ROOT = path.resolve(__dirname, '..', '..');

export type { RunResult } from '../support/run';

/** Run `hpcdl ARGS` from the sources (node --import tsx cli/index.ts), stdout/stderr piped. */
export function hpcdl(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return runTsx(path.join(ROOT, 'cli', 'index.ts'), args, { ...opts, cwd: opts.cwd ?? ROOT, timeoutMessage: `hpcdl ${args.join(' ')} timed out` });
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
