/**
 * How to start an hpcdl process (controller or engine) from here: the same node
 * binary, with tsx's loader when running from TypeScript sources, and our
 * process entry (which also watches the parent for orphan protection).
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ProcessCommand {
  command: string;
  args: string[];
}

function runningFromSource(): boolean {
  return path.extname(__filename) === '.ts';
}

export function childEntryPath(): string {
  return path.join(__dirname, `child-entry${path.extname(__filename)}`);
}

/** `node [--import tsx] cluster/launchers/child-entry.(ts|js) <sub> ...args` */
export function hpcdlProcessCommand(sub: 'engine' | 'controller', args: string[]): ProcessCommand {
  const nodeArgs: string[] = [];
  if (runningFromSource()) nodeArgs.push('--import', pathToFileURL(require.resolve('tsx')).href);
  return { command: process.execPath, args: [...nodeArgs, childEntryPath(), sub, ...args] };
}

/** Quote for a POSIX shell script line. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_\-.,/:=@%+]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
