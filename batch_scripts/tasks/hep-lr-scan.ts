/**
 * Task module for the learning-rate scan of parallel_basics.ipynb: one HEP
 * CNN training per task, run on a cluster engine (the cluster loads this file
 * by path). Every training event goes back to the notebook through report(),
 * where LiveTrainingCurves draws it per trial; the log lines are the task's
 * stdout, which the client prints with `[stdout:<engine>]` prefixes.
 *
 *   cluster.balanced().map('tasks/hep-lr-scan.ts#trainTrial', trials)
 */
import { loadConfig, overrideConfig, train, type TrainEvent } from 'hpcdl';
import { report, taskContext } from 'hpcdl/cluster';

export interface Trial {
  trial: number;
  learningRate: number;
  /** config file (the scan changes only the learning rate and the paths) */
  configPath: string;
  /** directory with train/val files */
  inputPath: string;
  /** the trial's run directory is `<outputRoot>/trial-<n>` */
  outputRoot: string;
  epochs?: number;
  maxSteps?: number;
  /** config overrides (dotted keys), e.g. {"train_batch_size": 32} */
  overrides?: Record<string, unknown>;
}

export interface TrialResult {
  trial: number;
  learningRate: number;
  engine: number | null;
  host: string;
  steps: number;
  finalTrainLoss: number;
  validationLoss: number;
  validationAuc: number;
  seconds: number;
}

export async function trainTrial(t: Trial): Promise<TrialResult> {
  const ctx = taskContext();
  const base = loadConfig(t.configPath, { warn: (s) => console.log(`Warning: ${s}`) });
  const config = overrideConfig(base, { ...(t.overrides ?? {}), learning_rate: t.learningRate }, { warn: (s) => console.log(`Warning: ${s}`) });
  console.log(`trial ${t.trial}: learning rate ${t.learningRate} on engine ${ctx?.engineId ?? 'local'} (${ctx?.host ?? 'this process'})`);
  const started = Date.now();
  const result = await train({
    config,
    inputPath: t.inputPath,
    outputDir: `${t.outputRoot}/trial-${t.trial}`,
    epochs: t.epochs,
    maxSteps: t.maxSteps,
    log: (line) => {
      if (/REPORT|COMPLETED|FINISHED/.test(line)) console.log(`trial ${t.trial}: ${line}`);
    },
    onEvent: (event: TrainEvent) => report({ trial: t.trial, learningRate: t.learningRate, ...event }),
  });
  if (result.mode !== 'train') throw new Error(`trial ${t.trial}: training returned an iotest result`);
  const last = result.history[result.history.length - 1];
  return {
    trial: t.trial,
    learningRate: t.learningRate,
    engine: ctx?.engineId ?? null,
    host: ctx?.host ?? '',
    steps: result.globalStep,
    finalTrainLoss: last?.trainLoss ?? NaN,
    validationLoss: last?.validation?.loss ?? NaN,
    validationAuc: last?.validation?.auc ?? NaN,
    seconds: (Date.now() - started) / 1000,
  };
}

/** A task that runs until cancelled, printing a heartbeat: for the cancel demonstration. */
export async function spin(seconds: number): Promise<number> {
  const ctx = taskContext();
  for (let i = 0; i < seconds * 4; i++) {
    if (i % 4 === 0) console.log(`spin on engine ${ctx?.engineId ?? 'local'}: ${i / 4} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return seconds;
}
