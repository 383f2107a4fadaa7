/**
 * Child process: `Cluster.connect(file)`, then print the cluster modules this
 * process loaded (relative to the checkout), one per line, and close.
 */
import * as path from 'node:path';
import { Cluster } from '../../../cluster/client';

async function main(): Promise<void> {
  const cluster = await Cluster.connect(process.argv[2], { handleSigint: false, output: 'none', log: () => undefined });
  const root = path.resolve(__dirname, '..', '..', '..');
  const loaded = Object.keys(require.cache)
    .filter((f) => f.startsWith(root + path.sep) && !f.includes(`${path.sep}node_modules${path.sep}`))
    .map((f) => path.relative(root, f).split(path.sep).join('/'));
  process.stdout.write(`engines ${cluster.engineIds.length}\n${loaded.sort().join('\n')}\n`);
  await cluster.close();
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
