/**
 * A client process for the disconnect-policy test: connects to the cluster
 * given on the command line (with `persist` when asked), submits `count` long
 * tasks, prints READY <ids> once the first runs, and waits to be killed.
 */
import * as path from 'node:path';
import { Cluster } from '../../../cluster';

async function main(): Promise<void> {
  const [file, countArg, persistArg] = process.argv.slice(2);
  const cluster = await Cluster.connect(file, { output: 'none', handleSigint: false, persist: persistArg === 'persist' });
  const tasks = path.join(__dirname, 'engine-tasks.ts');
  const handles = Array.from({ length: Number(countArg) }, () => cluster.balanced().submit({ module: tasks, export: 'sleepThenWhere' }, 120_000));
  for (const h of handles) h.catch(() => undefined);
  const t0 = Date.now();
  while (!handles.some((h) => h.status === 'running') && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
  process.stdout.write(`READY ${handles.map((h) => h.taskId).join(' ')}\n`);
  setInterval(() => undefined, 1000); // wait to be killed
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
