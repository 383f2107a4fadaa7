/**
 * Runs inside a Slurm allocation (salloc): starts a cluster whose engines come
 * from the srun launcher, checks they run tasks, kills one engine and waits for
 * its replacement, then closes. Prints one JSON line per step for the test.
 */
import * as path from 'node:path';
import { Cluster } from '../../../cluster';

async function main(): Promise<void> {
  const [profileDir] = process.argv.slice(2);
  const say = (o: unknown): boolean => process.stdout.write(`${JSON.stringify(o)}\n`);
  const cluster = await Cluster.start({ engines: 2, launcher: 'srun', ip: '127.0.0.1', profileDir, output: 'none', log: (l) => say({ log: l }), startTimeoutMs: 60_000 });
  const tasks = path.join(__dirname, 'engine-tasks.ts');
  try {
    const engines = await cluster.engines();
    say({ step: 'registered', engines: engines.map((e) => ({ id: e.engine_id, pid: e.pid, labels: e.labels })) });
    say({ step: 'ran', results: await cluster.all().apply({ module: tasks, export: 'whoAmI' }) });
    const victim = engines[0];
    const replaced = new Promise((resolve) => cluster.onReplacement((r) => resolve(r)));
    process.kill(victim.pid, 'SIGKILL');
    say({ step: 'replacement', event: await replaced });
    await new Promise((r) => setTimeout(r, 200));
    await cluster.waitForEngines(2, 60_000);
    const after = await cluster.engines();
    say({ step: 'replaced', alive: after.filter((e) => e.state === 'alive').map((e) => ({ id: e.engine_id, pid: e.pid, labels: e.labels })) });
    say({ step: 'ran-again', results: await cluster.all().apply(() => 'ok') });
  } finally {
    await cluster.close();
    say({ step: 'closed' });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
