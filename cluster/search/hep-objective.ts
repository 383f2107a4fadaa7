/**
 * Task module: the built-in HEP CNN objective of `cluster.search`. One call
 * trains one trial (or one fold of it) on an engine: the trial's params are
 * mapped onto config fields, `train()` runs with its checkpoints under the
 * trial's directory, and every epoch's validation is published with
 * `report({ epoch, val_auc, val_loss, val_accuracy, loss })`.
 *
 * The engine loads this file by path; the driver treats it like any user
 * objective `(params, ctx) => result`.
 */
import * as path from 'node:path';
import { overrideConfig } from '../../src/config';
import { train } from '../../src/train';
import { report } from '../engine/task-api';
import { writeFoldDataset } from './folds';
import { paramsToOverrides } from './hep-params';
import type { ObjectiveContext, ObjectiveResult, Params } from './types';

/** The objective: train the trial's config, return the last epoch's value of `ctx.metric`. */
export async function hepObjective(params: Params, ctx: ObjectiveContext): Promise<ObjectiveResult> {
  if (!ctx.hep) throw new Error('hepObjective: the task context has no HEP settings');
  const { config: base, overrides, maxSteps } = ctx.hep;
  let inputPath = ctx.hep.inputPath ?? base.inputpath;
  if (ctx.folds > 1) inputPath = writeFoldDataset(inputPath, ctx.fold, ctx.folds, path.join(ctx.dir, 'data'));
  const config = overrideConfig(base, { ...overrides, ...paramsToOverrides(params, base), inputpath: inputPath, outputpath: ctx.dir }, { warn: (line) => console.log(`Warning: ${line}`) });
  const tag = ctx.folds > 1 ? `trial ${ctx.trial} fold ${ctx.fold}` : `trial ${ctx.trial}`;
  console.log(`${tag}: ${JSON.stringify(params)}`);
  let lastTrainLoss = NaN;
  const result = await train({
    config,
    maxSteps,
    validateAtStop: maxSteps !== undefined, // a trial cut short inside an epoch is still scored
    resume: false, // a trial (also one re-run after a study resume) trains from scratch, whatever the config's restart says
    log: (line) => {
      if (/COMPLETED|FINISHED|validation/.test(line)) console.log(`${tag}: ${line}`);
    },
    onEvent: (event) => {
      if (event.type === 'epoch') lastTrainLoss = event.trainLoss;
      if (event.type === 'step' && !Number.isFinite(event.loss)) report({ step: event.step, loss: event.loss });
      if (event.type === 'validation') {
        report({ epoch: event.epoch + 1, step: event.step, loss: lastTrainLoss, val_loss: event.loss, val_accuracy: event.accuracy, val_auc: event.auc });
      }
    },
  });
  if (result.mode !== 'train') throw new Error('hepObjective: training returned an iotest result');
  const last = result.history[result.history.length - 1];
  const metrics: Record<string, number> = {
    val_auc: last?.validation?.auc ?? NaN,
    val_loss: last?.validation?.loss ?? NaN,
    val_accuracy: last?.validation?.accuracy ?? NaN,
    loss: last?.trainLoss ?? NaN,
  };
  if (!(ctx.metric in metrics)) throw new Error(`the HEP objective reports ${Object.keys(metrics).join(', ')}; metric "${ctx.metric}" is none of them`);
  return { value: metrics[ctx.metric], checkpoint: result.lastCheckpoint ?? result.modelsDir, ...(ctx.metric === 'val_auc' ? { chance: 0.5 } : {}) };
}
