import * as fs from 'node:fs';
import * as path from 'node:path';
import { synthesize } from '../data';
import { packageRoot } from '../package-info';
import { formatG } from './format';
import { infer, type InferResult } from './infer';
import { train, type TrainOptions, type TrainRunResult } from './train';

/** configs/local_small.json of this package: the embedded default. */
export function defaultConfigPath(): string {
  return path.join(packageRoot(), 'configs', 'local_small.json');
}

export interface DemoOptions {
  /** working directory for data and the run (default ./hpcdl-demo) */
  dir?: string;
  configPath?: string;
  events?: number;
  epochs?: number;
  seed?: number;
  log?: (line: string) => void;
  progress?: boolean;
  /** runs the training (default: `train` in this process; the CLI passes one that runs it on a cluster engine) */
  trainer?: (opts: TrainOptions) => Promise<TrainRunResult>;
}

export interface DemoResult {
  dataDir: string;
  runDir: string;
  training: TrainRunResult;
  evaluation: InferResult;
}

/** Synthetic data → train the local default → evaluate on the test split → say where the report is. */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const dir = path.resolve(opts.dir ?? 'hpcdl-demo');
  const dataDir = path.join(dir, 'data');
  const runDir = path.join(dir, 'run');
  const configPath = opts.configPath ?? defaultConfigPath();
  const events = opts.events ?? 16000;
  log(`== hpcdl demo: ${events} synthetic 64x64 events → ${dataDir}`);
  await synthesize({ outDir: dataDir, size: 64, events, seed: opts.seed ?? 2018, log });
  fs.rmSync(path.join(runDir, 'models'), { recursive: true, force: true });
  log(`== training ${configPath} → ${runDir}`);
  const trainer = opts.trainer ?? train;
  const training = await trainer({ configPath, inputPath: dataDir, outputDir: runDir, epochs: opts.epochs, log, progress: opts.progress });
  if (training.mode !== 'train') throw new Error('demo: training returned an iotest result');
  log(`== evaluating ${training.lastCheckpoint ?? training.modelsDir} on the test split`);
  const evaluation = await infer({ configPath, inputPath: dataDir, outputDir: runDir, checkpoint: training.modelsDir, log });
  log('== demo summary');
  log(`test AUC (weighted): ${formatG(evaluation.weighted.auc, 4)}; unweighted: ${formatG(evaluation.unweighted.auc, 4)}`);
  const c = evaluation.cutComparison;
  if (c) {
    log(
      `at the standard cuts' background efficiency ${formatG(c.cut.fpr, 3)}: CNN signal efficiency ${formatG(c.classifierTpr, 3)} vs cuts ${formatG(c.cut.tpr, 3)}`,
    );
  }
  log(`ROC report: ${evaluation.reportPath}`);
  log(`predictions: ${evaluation.predictionsPath}`);
  return { dataDir, runDir, training, evaluation };
}
