/** Standalone entry for an engine process (`node dist/cluster/engine/main.js --connect FILE`), used by launchers. */
import { engineMain } from './cli';

engineMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`hpcdl engine: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
