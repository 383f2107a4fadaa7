/**
 * What the client knows of a distributed training while it runs: each rank's
 * reports, and per step the global figures once every rank reported it
 * (mean loss, summed throughput, communication time and its share of a step).
 */
import type { EpochRecord } from '../../src/train';
import type { RankPlacement } from './start-training';

export interface RankStep {
  step: number;
  /** the rank's own batch loss */
  rankLoss: number;
  imagesPerSec: number;
  commMs: number;
  iterationMs: number;
}

export interface GlobalStep {
  attempt: number;
  step: number;
  /** loss averaged over the ranks (what the model optimises) */
  loss: number;
  learningRate: number;
  /** images per second summed over the ranks */
  imagesPerSec: number;
  /** mean over the ranks of the ms in the gradient allreduce */
  commMs: number;
  /** mean over the ranks of the iteration ms */
  iterationMs: number;
  /** share of an iteration spent in the allreduce (commMs / iterationMs) */
  commFraction: number;
  ranks: number;
}

export type TrainingReport =
  | ({ kind: 'rank'; rank: number; engineId: number | null; attempt: number; type: string } & Record<string, unknown>)
  | ({ kind: 'global' } & GlobalStep)
  | { kind: 'group'; attempt: number; placement: RankPlacement[] }
  | { kind: 'restart'; attempt: number; reason: string }
  | { kind: 'rank-ended'; attempt: number; rank: number; engineId: number; ok: boolean; error?: string; at: number }
  | { kind: 'failed'; message: string };

export class TrainingProgress {
  attempt = 0;
  placement: RankPlacement[] = [];
  /** per rank of the current group: its steps */
  readonly rankSteps = new Map<number, RankStep[]>();
  readonly globalSteps: GlobalStep[] = [];
  /** rank 0's validation results (over every rank's events) */
  readonly validation: { attempt: number; epoch: number; step: number; loss: number; accuracy: number; auc: number }[] = [];
  lastCheckpoint?: string;
  lastGlobalStep = 0;
  /** the rank whose epochs, validation and checkpoints count: 0, or the chief worker with parameter servers */
  chief = 0;
  /** ranks that report each global step (default: every rank of the group) */
  stepReporters?: number;
  private readonly epochs: EpochRecord[] = [];
  private pending = new Map<number, { ranks: Map<number, Record<string, unknown>> }>();
  private readonly listeners = new Set<(r: TrainingReport) => void>();

  onReport(listener: (r: TrainingReport) => void): void {
    this.listeners.add(listener);
  }

  private emit(report: TrainingReport): void {
    for (const l of this.listeners) {
      try {
        l(report);
      } catch {
        // a display's bug must not stop the training's bookkeeping
      }
    }
  }

  newGroup(attempt: number, placement: RankPlacement[]): void {
    this.attempt = attempt;
    this.placement = placement;
    this.pending.clear();
    for (const p of placement) if (!this.rankSteps.has(p.rank)) this.rankSteps.set(p.rank, []);
    this.emit({ kind: 'group', attempt, placement });
  }

  restarting(attempt: number, reason: string): void {
    this.emit({ kind: 'restart', attempt, reason });
  }

  rankEnded(rank: number, ok: boolean, error?: string): void {
    const engineId = this.placement[rank]?.engineId ?? -1;
    this.emit({ kind: 'rank-ended', attempt: this.attempt, rank, engineId, ok, ...(error ? { error } : {}), at: Date.now() });
  }

  failed(message: string): void {
    this.emit({ kind: 'failed', message });
  }

  report(rank: number, data: Record<string, unknown>, engineId: number | null): void {
    const type = String(data.type ?? '');
    this.emit({ ...data, kind: 'rank', rank, engineId, attempt: this.attempt, type });
    if (type === 'step') this.onStep(rank, data);
    else if (type === 'checkpoint' && rank === this.chief) this.lastCheckpoint = String(data.path);
    else if (type === 'validation' && rank === this.chief) {
      this.validation.push({ attempt: this.attempt, epoch: Number(data.epoch), step: Number(data.step), loss: Number(data.loss), accuracy: Number(data.accuracy), auc: Number(data.auc) });
    } else if (type === 'epoch' && rank === this.chief) {
      this.epochs.push({ epoch: Number(data.epoch), step: Number(data.step), trainLoss: Number(data.trainLoss), secPerBatch: Number(data.secPerBatch) });
    }
  }

  /** rank 0's epochs so far (with their validation), for a run that ended early */
  rank0History(): EpochRecord[] {
    return this.epochs.map((e) => {
      const v = this.validation.find((x) => x.epoch === e.epoch && x.step === e.step);
      return v ? { ...e, validation: { loss: v.loss, accuracy: v.accuracy, auc: v.auc, events: NaN } } : e;
    });
  }

  private onStep(rank: number, data: Record<string, unknown>): void {
    const step = Number(data.step);
    const rankLoss = Number(data.rankLoss ?? data.loss);
    this.rankSteps.get(rank)?.push({ step, rankLoss, imagesPerSec: Number(data.imagesPerSec), commMs: Number(data.commMs ?? 0), iterationMs: Number(data.iterationMs ?? 0) });
    let entry = this.pending.get(step);
    if (!entry) this.pending.set(step, (entry = { ranks: new Map() }));
    entry.ranks.set(rank, data);
    const size = this.stepReporters ?? this.placement.length;
    if (entry.ranks.size < size) return;
    this.pending.delete(step);
    const all = [...entry.ranks.values()];
    const mean = (f: (d: Record<string, unknown>) => number) => all.reduce((a, d) => a + f(d), 0) / all.length;
    const commMs = mean((d) => Number(d.commMs ?? 0));
    const iterationMs = mean((d) => Number(d.iterationMs ?? 0));
    const global: GlobalStep = {
      attempt: this.attempt,
      step,
      loss: Number(all[0].loss),
      learningRate: Number(all[0].learningRate),
      imagesPerSec: all.reduce((a, d) => a + Number(d.imagesPerSec), 0),
      commMs,
      iterationMs,
      commFraction: iterationMs > 0 ? commMs / iterationMs : 0,
      ranks: size,
    };
    this.globalSteps.push(global);
    this.lastGlobalStep = step;
    this.emit({ kind: 'global', ...global });
  }
}
