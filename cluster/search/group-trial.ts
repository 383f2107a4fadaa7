/**
 * A data-parallel trial: `cluster.search({ engines: k })` runs each trial as
 * `cluster.train` on k engines the driver picked (free at that moment). This
 * wraps the TrainingRun so the driver handles it like a one-engine task: the
 * chief rank's per-epoch validation (over every rank's events) becomes the
 * trial's `report({ epoch, loss, val_loss, val_accuracy, val_auc })`, `cancel()`
 * stops every rank, and `settled` gives the last validation's metric or the
 * group's failure (naming the rank and engine).
 */
import { overrideConfig } from '../../src/config';
import type { UserRunConfig } from '../../src/train';
import type { Cluster } from '../client/cluster';
import type { TrainingOptions, TrainingOutcome, TrainingRun } from '../train/start-training';
import { paramsToOverrides } from './hep-params';
import type { ResolvedObjective } from './objective';
import type { ObjectiveContext, ObjectiveResult, Params } from './types';

export type GroupSettled = { ok: true; value: unknown } | { ok: false; error: { cancelled: boolean; message: string; engineId: number | null } };

export interface GroupTrialHandle {
  /** the engines of the group, rank order */
  readonly engines: number[];
  /** rank 0's engine */
  readonly engineId: number | null;
  readonly submittedAt: number;
  finishedAt: number | null;
  readonly settled: Promise<GroupSettled>;
  cancel(): Promise<void>;
  onReport(listener: (data: Record<string, unknown>, engineId: number | null) => void): void;
}

/** The cluster.train options of a trial: its params on the HEP config, or on a user module's run config. */
export function groupTrainingOptions(objective: ResolvedObjective, params: Params, ctx: ObjectiveContext, engines: number[]): TrainingOptions {
  const quiet = () => undefined;
  if (objective.kind === 'hep') {
    const { config: base, overrides, maxSteps } = objective.hep!;
    const inputPath = objective.hep!.inputPath ?? base.inputpath;
    const config = overrideConfig(base, { ...overrides, ...paramsToOverrides(params, base), inputpath: inputPath, outputpath: ctx.dir }, { warn: quiet });
    return { config, engines, output: ctx.dir, inputPath, ...(maxSteps !== undefined ? { maxSteps, validateAtStop: true } : {}), restart: 'none', log: quiet };
  }
  const config: UserRunConfig = { ...(objective.runConfig ?? {}), ...params, seed: ctx.seed } as UserRunConfig;
  for (const key of ['batchSize', 'learningRate', 'epochs']) {
    if (typeof config[key] !== 'number') throw new Error(`a data-parallel trial of ${objective.label} needs the run config's "${key}" (objective.config or a search dimension)`);
  }
  return { module: objective.task.module, export: objective.task.export, config, engines, output: ctx.dir, restart: 'none', log: quiet };
}

export function startGroupTrial(cluster: Cluster, objective: ResolvedObjective, params: Params, ctx: ObjectiveContext, engines: number[], timeoutMs?: number): GroupTrialHandle {
  const listeners = new Set<(data: Record<string, unknown>, engineId: number | null) => void>();
  const emit = (data: Record<string, unknown>, engineId: number | null) => {
    for (const l of listeners) l(data, engineId);
  };
  let run: TrainingRun | null = null;
  let timedOut = false;
  let timer: NodeJS.Timeout | null = null;
  const handle: GroupTrialHandle = {
    engines,
    engineId: engines[0] ?? null,
    submittedAt: Date.now(),
    finishedAt: null,
    settled: Promise.resolve<GroupSettled>({ ok: false, error: { cancelled: false, message: 'not started', engineId: null } }),
    cancel: async () => {
      await run?.cancel();
    },
    onReport: (listener) => {
      listeners.add(listener);
    },
  };
  let settled: Promise<GroupSettled>;
  try {
    run = cluster.train(groupTrainingOptions(objective, params, ctx, engines));
    const chief = () => run!.progress.chief;
    let lastTrainLoss = NaN;
    run.onReport((r) => {
      if (r.kind !== 'rank') return;
      const d = r as Record<string, unknown>;
      if (r.type === 'step' && (typeof d.loss !== 'number' || !Number.isFinite(d.loss))) emit({ step: d.step, loss: d.loss ?? null }, r.engineId);
      if (r.rank !== chief()) return;
      if (r.type === 'epoch') lastTrainLoss = Number(d.trainLoss);
      if (r.type === 'validation') {
        emit({ epoch: Number(d.epoch) + 1, step: d.step, loss: lastTrainLoss, val_loss: d.loss, val_accuracy: d.accuracy, val_auc: d.auc }, r.engineId);
      }
    });
    if (timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        void run?.cancel();
      }, timeoutMs);
    }
    settled = run.then(
      (outcome): GroupSettled => {
        if (outcome.cancelled) {
          return timedOut
            ? { ok: false, error: { cancelled: false, message: `the trial's training timed out after ${timeoutMs} ms`, engineId: null } }
            : { ok: false, error: { cancelled: true, message: 'cancelled', engineId: null } };
        }
        try {
          return { ok: true, value: resultOf(outcome, ctx.metric) };
        } catch (err) {
          return { ok: false, error: { cancelled: false, message: (err as Error).message, engineId: null } };
        }
      },
      (err: unknown): GroupSettled => ({ ok: false, error: { cancelled: false, message: (err as Error).message ?? String(err), engineId: (err as { engineId?: number | null }).engineId ?? null } }),
    );
  } catch (err) {
    settled = Promise.resolve({ ok: false, error: { cancelled: false, message: (err as Error).message, engineId: null } });
  }
  (handle as { settled: Promise<GroupSettled> }).settled = settled.then((o) => {
    if (timer) clearTimeout(timer);
    handle.finishedAt = Date.now();
    return o;
  });
  return handle;
}

/** The last epoch's validation: the trial's value (as the one-engine HEP objective returns it). */
function resultOf(outcome: TrainingOutcome, metric: string): ObjectiveResult | undefined {
  const last = [...outcome.history].reverse().find((e) => e.validation);
  if (!last) return undefined; // the driver falls back to the reported values, else names the trial's fault
  const metrics: Record<string, number> = {
    val_auc: last.validation!.auc,
    val_loss: last.validation!.loss,
    val_accuracy: last.validation!.accuracy,
    loss: last.trainLoss,
  };
  if (!(metric in metrics)) throw new Error(`a data-parallel trial reports ${Object.keys(metrics).join(', ')}; metric "${metric}" is none of them`);
  return { value: metrics[metric], checkpoint: outcome.checkpoint, ...(metric === 'val_auc' ? { chance: 0.5 } : {}) };
}
