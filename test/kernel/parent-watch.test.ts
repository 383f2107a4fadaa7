/**
 * A Jupyter server killed with SIGKILL (no kernel shutdown) does not leave
 * the hpcdl kernel running, nor the local cluster a cell started: the kernel
 * notices its parent is gone (kernel/parent-watch.ts) and exits, and the
 * cluster's engines go with it. Needs a build (npm run build).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { processAlive, PARENT_POLL_MS } from '../../kernel/parent-watch';
import { installTestKernel, KernelSession, sleep, startJupyterServer, tempDir, withTimeout, type JupyterServer, type TestKernel } from '../support/jupyter';

let kernel: TestKernel;
let server: JupyterServer;
let session: KernelSession | undefined;
let hpcdlHome: string;
const savedHome = process.env.HPCDL_HOME;
let leftovers: number[] = [];

before(async () => {
  hpcdlHome = tempDir('hpcdl-orphan-home-');
  process.env.HPCDL_HOME = hpcdlHome; // the kernel (a child of the server) inherits it
  kernel = installTestKernel('hpcdl-orphan');
  server = await startJupyterServer({ kernelPrefixes: [kernel.prefix] });
});

after(async () => {
  // Only if the test failed: stop what it started, by PID.
  for (const pid of leftovers) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  // The server is dead: drop the client side without talking to it (its REST calls would retry).
  session?.kernel.dispose();
  (session as unknown as { manager?: { dispose(): void } } | undefined)?.manager?.dispose();
  await withTimeout(server?.stop() ?? Promise.resolve(), 15_000, 'server.stop').catch(() => undefined);
  kernel?.remove();
  if (savedHome === undefined) delete process.env.HPCDL_HOME;
  else process.env.HPCDL_HOME = savedHome;
  fs.rmSync(hpcdlHome, { recursive: true, force: true });
});

test('the kernel and the cluster its cell started exit when the Jupyter server is killed with SIGKILL', { timeout: 180_000 }, async () => {
  session = await KernelSession.start(server, kernel.name);
  const started = await session.execute(
    "import { Cluster } from 'hpcdl/cluster';\nconst cluster = await Cluster.start({ engines: 2 });\n" +
      'console.log(JSON.stringify({ kernel: process.pid, engines: (await cluster.engines()).map((e) => e.pid) }));',
    { timeoutMs: 120_000 },
  );
  assert.equal(started.reply.status, 'ok', JSON.stringify(started.outputs));
  const stdout = started.outputs.map((o: any) => (o.output_type === 'stream' ? o.text : '')).join('');
  const pids = JSON.parse(stdout.trim().split('\n').pop()!) as { kernel: number; engines: number[] };
  assert.equal(pids.engines.length, 2);
  leftovers = [pids.kernel, ...pids.engines];
  assert.ok(leftovers.every(processAlive), 'kernel and engines run before the kill');

  process.kill(server.pid, 'SIGKILL');
  // A poll period to notice, the interrupt grace, process exit: well within 15 s.
  const deadline = Date.now() + 15_000 + PARENT_POLL_MS;
  while (Date.now() < deadline && leftovers.some(processAlive)) await sleep(200);
  const alive = leftovers.filter(processAlive);
  assert.deepEqual(alive, [], `still running 15 s after the server died: ${alive.map((p) => (p === pids.kernel ? `kernel ${p}` : `engine ${p}`)).join(', ')}`);
});
