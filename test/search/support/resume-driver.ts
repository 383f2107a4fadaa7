/**
 * A study driver in its own process, for the resume test: starts 2 local
 * engines and runs (or resumes) the study journaled in argv[2]; prints
 * `RESULT <json>` at the end. The test SIGKILLs it mid-study.
 *
 *   node --import tsx resume-driver.ts <journal> <trials>
 */
import * as path from 'node:path';
import { Cluster } from '../../../cluster';

async function main(): Promise<void> {
  const [journal, trials] = process.argv.slice(2);
  const cluster = await Cluster.start({ engines: 2, output: 'none', log: () => undefined });
  try {
    const study = cluster.search({
      space: { seconds: { type: 'float', low: 0.4, high: 1.2 } },
      objective: { module: path.join(__dirname, 'objectives.ts'), export: 'sleeper' },
      algorithm: 'random',
      trials: Number(trials),
      direction: 'max',
      seed: 7,
      journal,
      display: false,
    });
    study.onTrial((e) => {
      if (e.kind === 'complete') console.log(`complete ${e.trial.id}`);
    });
    const all = await study;
    console.log(`RESULT ${JSON.stringify(all.map((t) => ({ id: t.id, state: t.state, value: t.value, attempts: t.attempts })))}`);
  } finally {
    await cluster.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
