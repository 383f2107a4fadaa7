/**
 * `hpcdl kernel jupyter [jupyter args...]`: one command to start Jupyter with
 * the hpcdl kernel. Installs (or refreshes) the kernel spec for the current
 * user, then runs the first notebook frontend found on PATH with the given
 * arguments: JupyterLab, the notebook, or Debian's classic notebook (nbclassic).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { installKernel } from './install';

const FRONTENDS = ['jupyter-lab', 'jupyter-notebook', 'jupyter-nbclassic'];

export function findJupyterFrontend(pathEnv = process.env.PATH ?? ''): string | null {
  const override = process.env.HPCDL_JUPYTER_APP;
  const candidates = override ? [override] : FRONTENDS;
  for (const name of candidates) {
    if (path.isAbsolute(name) && fs.existsSync(name)) return name;
    for (const dir of pathEnv.split(path.delimiter)) {
      const file = path.join(dir, name);
      if (dir && fs.existsSync(file)) return file;
    }
  }
  return null;
}

/** how long Jupyter gets to stop after a forwarded SIGINT before it is sent SIGTERM */
const SIGINT_GRACE_MS = 5000;

const USAGE = `Usage: hpcdl kernel jupyter [JUPYTER ARGS...]

Installs (or refreshes) the "HPC DL (TypeScript)" kernel spec for this user,
then starts the first of ${FRONTENDS.join(', ')} found on PATH (or
HPCDL_JUPYTER_APP) with the given arguments, e.g.
  hpcdl kernel jupyter --ip 127.0.0.1 --port 8888 --no-browser
`;

/**
 * Jupyter refuses to start as root without --allow-root, which is how many
 * containers and test machines run: pass it, and say so.
 */
export function withAllowRootIfRoot(argv: string[], uid = process.getuid?.()): string[] {
  if (uid !== 0 || argv.includes('--allow-root')) return argv;
  process.stderr.write('kernel jupyter: warning: running as root; passing --allow-root to Jupyter (anyone who can reach the server runs code as root)\n');
  return [...argv, '--allow-root'];
}

export async function kernelJupyterMain(argv: string[]): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  const frontend = findJupyterFrontend();
  if (!frontend) {
    process.stderr.write(
      `hpcdl kernel jupyter: error: none of ${FRONTENDS.join(', ')} is on PATH. ` +
        'Install one (Debian: apt install python3-nbclassic; pip: pip install jupyterlab), or set HPCDL_JUPYTER_APP.\n',
    );
    return 1;
  }
  try {
    const installed = installKernel({ location: { kind: 'user' } });
    process.stdout.write(`Kernel "${installed.kernelJson.display_name}" installed in ${installed.specDir}; starting ${path.basename(frontend)}\n`);
  } catch (error) {
    process.stderr.write(`hpcdl kernel jupyter: error: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}\n`);
    return 1;
  }
  const args = withAllowRootIfRoot(argv);
  const child = spawn(frontend, args, { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  // Jupyter stops on SIGINT when it has no terminal, but not always promptly (seen: a server that was
  // still up minutes after it), so a stop it has not made within SIGINT_GRACE_MS becomes a SIGTERM.
  let escalation: NodeJS.Timeout | null = null;
  const onInt = (): void => {
    child.kill('SIGINT');
    escalation ??= setTimeout(() => child.kill('SIGTERM'), SIGINT_GRACE_MS);
    escalation.unref();
  };
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((resolve) => {
    child.on('error', (error) => {
      process.stderr.write(`hpcdl kernel jupyter: error: cannot start ${frontend}: ${error.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      if (escalation) clearTimeout(escalation);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 128 + 2 : 1));
    });
  });
}
