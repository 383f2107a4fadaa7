/**
 * Entry point of the hpcdl kernel process, referenced by the installed kernel
 * spec: `node <root>/dist/kernel/launcher.js --connection-file {connection_file}`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HpcdlKernel } from './kernel';
import { installModuleOverlay } from './module-overlay';
import { watchParent } from './parent-watch';
import { hpcdlPackageRoot, hpcdlVersion } from './package-root';
import { loadTslab } from './tslab';
import type { ConnectionInfo } from './wire';

function parseConnectionFileArg(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--connection-file' || arg === '-f') {
      if (i + 1 < argv.length) return argv[i + 1];
    } else if (arg.startsWith('--connection-file=')) {
      return arg.slice('--connection-file='.length);
    }
  }
  throw new Error('usage: launcher --connection-file <kernel-connection.json>');
}

function readConnectionFile(file: string): ConnectionInfo {
  const info = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ConnectionInfo>;
  for (const field of ['transport', 'ip', 'shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const) {
    if (info[field] === undefined) throw new Error(`${file}: missing field ${field}`);
  }
  return { key: '', signature_scheme: 'hmac-sha256', ...info } as ConnectionInfo;
}

/** Directories whose packages cells may import: NODE_PATH (set by the kernel spec). */
function extraModuleDirs(): string[] {
  return (process.env.NODE_PATH ?? '').split(path.delimiter).filter(Boolean);
}

export async function launchKernel(argv: string[]): Promise<void> {
  const connection = readConnectionFile(parseConnectionFileArg(argv));
  const cwd = process.cwd();
  installModuleOverlay(loadTslab().typescript.sys, cwd, extraModuleDirs());
  const kernel = new HpcdlKernel({ connection, cwd, implementationVersion: hpcdlVersion(hpcdlPackageRoot()) });
  process.on('uncaughtException', (error) => console.error('Uncaught exception:', error));
  process.on('unhandledRejection', (reason) => console.error('Unhandled promise rejection:', reason));
  await kernel.start();
  watchParent((reason) => void kernel.exitOrphaned(reason));
}

if (require.main === module) {
  launchKernel(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`hpcdl kernel failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
