/**
 * Kernel → Interrupt in a real jupyter-server cancels the remote tasks the
 * cell started on a real local cluster (controller + engine processes), and
 * the cluster stays usable afterwards. Needs a build (npx tsc -p tsconfig.json).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { installTestKernel, KernelSession, startJupyterServer, type JupyterServer, type TestKernel } from '../support/jupyter';

let kernel: TestKernel;
let server: JupyterServer;
let session: KernelSession;

before(async () => {
  kernel = installTestKernel('hpcdl-cluster-interrupt');
  server = await startJupyterServer({ kernelPrefixes: [kernel.prefix] });
  session = await KernelSession.start(server, kernel.name);
});

after(async () => {
  await session?.execute('await cluster.close();', { timeoutMs: 30_000 }).catch(() => undefined);
  await session?.shutdown();
  await server?.stop();
  kernel?.remove();
});

function textOf(outputs: unknown[]): string {
  return outputs.map((o: any) => o.text ?? o.data?.['text/plain'] ?? '').join('');
}

test('interrupting a cell cancels the running remote tasks it started', async () => {
  const start = await session.execute("import { Cluster } from 'hpcdl/cluster';\nconst cluster = await Cluster.start({ engines: 1, slots: 2 });", {
    timeoutMs: 120_000,
  });
  assert.equal(start.reply.status, 'ok', JSON.stringify(start.outputs));

  let running!: () => void;
  const bothRunning = new Promise<void>((resolve) => (running = resolve));
  let streamed = '';
  const watchStreams = (msg: { content: unknown }): void => {
    streamed += textOf([msg.content]);
    if (/sleeping 60/.test(streamed) && /sleeping 61/.test(streamed)) running();
  };
  const submit = await session.execute(
    'const sleepers = cluster.balanced().map(async (s: number) => { console.log(`sleeping ${s}`); await new Promise((r) => setTimeout(r, s * 1000)); return s; }, [60, 61]);',
    { timeoutMs: 30_000, onIOPub: watchStreams },
  );
  assert.equal(submit.reply.status, 'ok', JSON.stringify(submit.outputs));
  // the task output may stream into this cell or the next one, whichever is running
  const cell = session.execute('await sleepers;', { timeoutMs: 90_000, onIOPub: watchStreams });
  await bothRunning;
  const interruptedAt = Date.now();
  await session.interrupt();
  const result = await cell;
  assert.ok(Date.now() - interruptedAt < 30_000, 'the interrupted cell did not end promptly');
  assert.equal(result.reply.status, 'error', JSON.stringify(result.outputs));

  const status = await session.execute(
    'for (let i = 0; i < 100 && sleepers.tasks.some((t) => t.status === "running"); i++) await new Promise((r) => setTimeout(r, 100));\n' +
      'sleepers.tasks.map((t) => t.status).join(",")',
    { timeoutMs: 30_000 },
  );
  assert.equal(textOf(status.outputs), "'cancelled,cancelled'", JSON.stringify(status.outputs));
  const cancelMessages = (textOf(result.outputs) + textOf(status.outputs)).match(/hpcdl: interrupted; cancel/g) ?? [];
  assert.equal(cancelMessages.length, 1, `one cancel message per interrupt:\n${textOf(result.outputs)}`);

  const again = await session.execute('await cluster.balanced().apply((x: number) => x + 1, 41)', { timeoutMs: 60_000 });
  assert.equal(textOf(again.outputs), '42', 'the cluster still runs tasks after the interrupt');
});
