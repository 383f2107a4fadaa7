/** `hpcdl demo`: synthetic data → train on an engine of a local cluster → evaluate → report. */
import * as path from 'node:path';
import { integer, parse, text } from './args';
import { help, optionalModule, PROGRAM, type Command } from './command';

type TrainLibrary = typeof import('../src/train');
const library = () => require('../src/train') as TrainLibrary;

export const demoCommand: Command = {
  summary: 'local cluster: synthetic data → train configs/local_small.json on an engine → evaluate → report',
  usage: `Usage: ${PROGRAM} demo [--dir DIR] [--events N] [--epochs N] [--config C] [--engines N | --local]

The main job on the embedded default: writes synthetic 64x64 events, starts a
local cluster (controller + engines), trains configs/local_small.json on an
engine with its log lines and validation reports streaming back, evaluates
the test split and prints the AUC, the comparison with the standard cuts and
where the ROC report is.

  --dir DIR      working directory (default ./hpcdl-demo)
  --events N     synthetic events (default 16000)
  --epochs N     override num_epochs
  --config C     another config instead of configs/local_small.json
  --engines N    engines of the local cluster (default 2)
  --local        train in this process, without a cluster`,
  async run(argv) {
    const { values } = parse(argv, {
      dir: { type: 'string' },
      events: { type: 'string' },
      epochs: { type: 'string' },
      config: { type: 'string' },
      engines: { type: 'string' },
      local: { type: 'boolean' },
    });
    if (values.help) return help(this);
    const v = values;
    const options = {
      dir: text(v.dir),
      events: integer(text(v.events), '--events', 100),
      epochs: integer(text(v.epochs), '--epochs', 1),
      configPath: text(v.config),
      progress: true,
    };
    if (v.local) {
      await library().runDemo(options);
      return 0;
    }
    await runDemoOnCluster(options, integer(text(v.engines), '--engines', 1) ?? 2);
    return 0;
  },
};

/** The demo with its training on an engine of a local cluster started (and stopped) here. */
async function runDemoOnCluster(options: import('../src/train').DemoOptions, engines: number): Promise<void> {
  const { Cluster } = optionalModule<typeof import('../cluster')>('cluster', 'demo on a cluster');
  const { remoteTrainer } = optionalModule<typeof import('../cluster/tasks/remote-trainer')>(path.join('cluster', 'tasks', 'remote-trainer'), 'demo on a cluster');
  console.log(`== starting a local cluster: controller + ${engines} engines`);
  const cluster = await Cluster.start({ engines });
  try {
    for (const e of await cluster.engines()) console.log(`engine ${e.engine_id}: ${e.host} pid ${e.pid}, ${e.slots} slot(s)`);
    await library().runDemo({ ...options, progress: false, trainer: remoteTrainer(cluster) });
  } finally {
    await cluster.close();
    console.log('== cluster stopped');
  }
}
