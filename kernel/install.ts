/**
 * `hpcdl kernel install [--user | --prefix P | --sys-prefix] [--name N]`:
 * writes a Jupyter kernel spec that starts this package's kernel launcher
 * with the absolute node binary, and makes `hpcdl` (and its dependencies)
 * importable from cells via a per-kernel node_modules/hpcdl symlink and
 * NODE_PATH.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KERNEL_DISPLAY_NAME } from './constants';
import { hpcdlPackageRoot, hpcdlVersion } from './package-root';
import { UsageError } from '../src/command-line';

export interface KernelInstallOptions {
  /** Where to install: the user's Jupyter data dir, a prefix, or the Python env running Jupyter. */
  location: { kind: 'user' } | { kind: 'prefix'; prefix: string } | { kind: 'sys-prefix'; python?: string };
  name?: string;
  displayName?: string;
  /** Defaults to the running node binary. */
  nodePath?: string;
  /** Defaults to the package this code belongs to. */
  packageRoot?: string;
}

export interface InstalledKernel {
  name: string;
  specDir: string;
  kernelJson: KernelSpecJson;
}

export interface KernelSpecJson {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: 'signal';
  env: Record<string, string>;
  metadata: Record<string, unknown>;
}

const DEFAULT_NAME = 'hpcdl';
const USAGE = `Usage: hpcdl kernel install [--user | --prefix P | --sys-prefix [--python PY]] [--name N] [--display-name D]

Registers the "${KERNEL_DISPLAY_NAME}" Jupyter kernel (default name "${DEFAULT_NAME}").
  --user          into the per-user Jupyter data dir (default)
  --prefix P      into P/share/jupyter/kernels (e.g. --prefix /usr/local for all users)
  --sys-prefix    into the sys.prefix of the Python that runs Jupyter (e.g. the JupyterHub env);
                  that Python is found from the 'jupyter' command on PATH, or given with --python
`;

export function parseKernelInstallArgs(argv: string[]): KernelInstallOptions {
  const options: KernelInstallOptions = { location: { kind: 'user' } };
  let python: string | undefined;
  let chosen = 0;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const take = (): string => inline ?? value(i++, flag);
    switch (flag) {
      case '--user': options.location = { kind: 'user' }; chosen++; break;
      case '--prefix': options.location = { kind: 'prefix', prefix: path.resolve(take()) }; chosen++; break;
      case '--sys-prefix': options.location = { kind: 'sys-prefix' }; chosen++; break;
      case '--python': python = take(); break;
      case '--name': options.name = take(); break;
      case '--display-name': options.displayName = take(); break;
      default: throw new UsageError(arg.startsWith('-') ? `unknown option ${arg}` : `unexpected argument ${JSON.stringify(arg)}`);
    }
  }
  if (chosen > 1) throw new UsageError('give only one of --user, --prefix, --sys-prefix');
  if (python !== undefined) {
    if (options.location.kind !== 'sys-prefix') throw new UsageError('--python only applies to --sys-prefix');
    options.location = { kind: 'sys-prefix', python };
  }
  if (options.name !== undefined && !/^[a-zA-Z0-9._-]+$/.test(options.name)) {
    throw new UsageError(`--name must use letters, digits, '.', '_' or '-', got ${JSON.stringify(options.name)}`);
  }
  return options;
}

/** Jupyter's per-user data dir on Linux/macOS (as jupyter_core computes it). */
export function userJupyterDataDir(): string {
  if (process.env.JUPYTER_DATA_DIR) return process.env.JUPYTER_DATA_DIR;
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Jupyter');
  const xdg = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(xdg, 'jupyter');
}

/** The interpreter named in the shebang of the `jupyter` command on PATH. */
export function pythonRunningJupyter(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'jupyter');
    if (!dir || !fs.existsSync(candidate)) continue;
    const firstLine = fs.readFileSync(candidate, 'utf8').split('\n', 1)[0];
    const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(firstLine);
    if (!shebang) continue;
    return path.basename(shebang[1]) === 'env' && shebang[2] ? shebang[2] : shebang[1];
  }
  throw new Error('--sys-prefix: no `jupyter` command on PATH; pass --python <python running Jupyter>');
}

export function kernelsDir(location: KernelInstallOptions['location']): string {
  switch (location.kind) {
    case 'user':
      return path.join(userJupyterDataDir(), 'kernels');
    case 'prefix':
      return path.join(location.prefix, 'share', 'jupyter', 'kernels');
    case 'sys-prefix': {
      const python = location.python ?? pythonRunningJupyter();
      const prefix = execFileSync(python, ['-c', 'import sys; print(sys.prefix)'], { encoding: 'utf8' }).trim();
      return path.join(prefix, 'share', 'jupyter', 'kernels');
    }
  }
}

export function installKernel(options: KernelInstallOptions): InstalledKernel {
  const name = options.name ?? DEFAULT_NAME;
  const root = options.packageRoot ?? hpcdlPackageRoot();
  const launcher = path.join(root, 'dist', 'kernel', 'launcher.js');
  if (!fs.existsSync(launcher)) {
    throw new Error(`${launcher} does not exist; build the package first (npm run build)`);
  }
  const specDir = path.join(kernelsDir(options.location), name);
  const modulesDir = path.join(specDir, 'node_modules');
  fs.mkdirSync(modulesDir, { recursive: true });
  const link = path.join(modulesDir, 'hpcdl');
  fs.rmSync(link, { force: true, recursive: false });
  fs.symlinkSync(root, link, 'dir');

  const kernelJson: KernelSpecJson = {
    argv: [options.nodePath ?? process.execPath, launcher, '--connection-file', '{connection_file}'],
    display_name: options.displayName ?? KERNEL_DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: 'signal',
    env: { NODE_PATH: [modulesDir, path.join(root, 'node_modules')].join(path.delimiter) },
    metadata: { hpcdl: { version: hpcdlVersion(root), packageRoot: root } },
  };
  fs.writeFileSync(path.join(specDir, 'kernel.json'), JSON.stringify(kernelJson, null, 2) + '\n');
  return { name, specDir, kernelJson };
}

export async function kernelInstallMain(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    const installed = installKernel(parseKernelInstallArgs(argv));
    process.stdout.write(
      `Installed kernel "${installed.kernelJson.display_name}" as "${installed.name}" in ${installed.specDir}\n`,
    );
    return 0;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    if (error instanceof UsageError) {
      process.stderr.write(`hpcdl kernel install: error: ${message} (see 'hpcdl kernel install --help')\n`);
      return 2;
    }
    process.stderr.write(`hpcdl kernel install: error: ${message}\n`);
    return 1;
  }
}
