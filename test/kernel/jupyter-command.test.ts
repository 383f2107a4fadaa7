/**
 * `hpcdl kernel jupyter`: installs the kernel spec for the user (here a
 * private JUPYTER_DATA_DIR), starts the first Jupyter frontend on PATH
 * (Debian's nbclassic) with the arguments given, as root with --allow-root
 * and a warning; the kernel runs a cell there; SIGINT to hpcdl stops Jupyter
 * and hpcdl exits. Needs a build (npm run build).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { freePort, jupyterEnv, KernelSession, makeSettings, REPO_ROOT, tempDir, waitForHttp, withTimeout } from '../support/jupyter';

const home = tempDir('hpcdl-kjhome-');
const root = tempDir('hpcdl-kjroot-');
let pid: number | undefined;

after(() => {
  // hpcdl and the Jupyter it started are one process group (detached below): a failed test leaves neither behind
  if (pid !== undefined) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is gone
    }
  }
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(root, { recursive: true, force: true });
});

test('hpcdl kernel jupyter installs the kernel, starts Jupyter with it, and stops it on SIGINT', { timeout: 180_000 }, async (t) => {
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const env = { ...jupyterEnv([], home), JUPYTER_PATH: '', PATH: '/usr/bin:/bin' };
  delete env.HPCDL_JUPYTER_APP;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'cli', 'index.ts'), 'kernel', 'jupyter',
    '--ServerApp.ip=127.0.0.1', `--ServerApp.port=${port}`, '--ServerApp.port_retries=0', `--ServerApp.token=${token}`, `--ServerApp.root_dir=${root}`, '--no-browser'],
  { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  pid = child.pid;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));

  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/api/status?token=${token}`, child, () => stdout + stderr, 90_000);
  assert.match(stdout, /Kernel "HPC DL \(TypeScript\)" installed in .*kernels\/hpcdl; starting jupyter-nbclassic/);
  const spec = JSON.parse(fs.readFileSync(path.join(home, 'data', 'kernels', 'hpcdl', 'kernel.json'), 'utf8'));
  assert.equal(spec.argv[1], path.join(REPO_ROOT, 'dist', 'kernel', 'launcher.js'));
  if (process.getuid?.() === 0) assert.match(stderr, /warning: running as root; passing --allow-root/);
  else assert.doesNotMatch(stderr, /--allow-root/);

  const specs = (await (await fetch(`${url}/api/kernelspecs?token=${token}`)).json()) as { kernelspecs: Record<string, { spec: { display_name: string } }> };
  assert.equal(specs.kernelspecs.hpcdl?.spec.display_name, 'HPC DL (TypeScript)');
  const session = await KernelSession.start({ url, token, rootDir: root, pid: child.pid!, settings: makeSettings(url + '/', token), log: () => stdout + stderr, stop: async () => undefined }, 'hpcdl');
  const run = await session.execute('6 * 7');
  assert.equal((run.outputs[0] as any)?.data?.['text/plain'], '42');
  await session.shutdown();

  child.kill('SIGINT');
  const code = await withTimeout(exited, 30_000, 'hpcdl kernel jupyter did not exit after SIGINT');
  t.diagnostic(`exit code after SIGINT: ${code}`);
  assert.notEqual(code, null);
  const stillServing = await fetch(`${url}/api/status?token=${token}`).then(() => true, () => false);
  assert.equal(stillServing, false, 'Jupyter stopped with it');
});
