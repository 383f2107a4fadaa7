/**
 * Starts a local cluster (the controller in this process, or with "process" as
 * the third argument a child process), prints the controller and engine pids as
 * JSON, then either waits (to be SIGKILLed) or, with "exit", calls
 * process.exit(0) without close().
 */
import * as fs from 'node:fs';
import { Cluster } from '../../../cluster';

async function main(): Promise<void> {
  const [profileDir, mode, placement] = process.argv.slice(2);
  const controller = placement === 'process' ? 'process' : 'in-process';
  const cluster = await Cluster.start({ engines: 2, profileDir, output: 'none', log: () => undefined, controller });
  const engines = await cluster.engines();
  const controllerPid = JSON.parse(fs.readFileSync(cluster.connectionFile, 'utf8')).pid as number;
  process.stdout.write(`${JSON.stringify({ controller: controllerPid, engines: engines.map((e) => e.pid) })}\n`);
  if (mode === 'exit') process.exit(0);
  setInterval(() => undefined, 1000);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
