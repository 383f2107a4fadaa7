/**
 * The live view of a running study in the notebook cell that started it: a
 * progress bar, the trial table (state, engine, epoch, params, latest metric,
 * final value) and the curves of every trial, running ones drawn thicker.
 * Built on hpcdl's LiveTable / LiveFigure / ProgressBar, which publish through
 * the kernel's display channel (nothing is shown outside a kernel) and
 * throttle updates.
 */
import { LiveFigure, LiveTable, ProgressBar, type TableRow } from '../../src/plots';
import { trialCurvesFigure } from '../../src/plots/study-figures';
import type { Study } from '../../src/hpo/study';
import type { Trial } from '../../src/hpo/types';
import type { TrialEvent } from './types';

export interface StudyDisplayOptions {
  metric: string;
  direction: 'min' | 'max';
  title?: string;
}

export class StudyDisplay {
  readonly progress: ProgressBar;
  readonly table: LiveTable;
  readonly curves: LiveFigure;
  private readonly lastEpoch = new Map<number, number>();
  private readonly lastMetric = new Map<number, number>();
  private ended = false;

  constructor(
    private readonly study: Study,
    private readonly opts: StudyDisplayOptions,
  ) {
    const params = Object.keys(study.options.space);
    this.progress = new ProgressBar({ total: study.options.trials, label: this.label() });
    this.table = new LiveTable({ key: 'trial', title: opts.title ?? 'trials', columns: ['trial', 'state', 'engine', 'epoch', ...params, opts.metric, 'value', 'attempts'] });
    this.curves = new LiveFigure(trialCurvesFigure(study.trials, { metric: opts.metric, direction: opts.direction }));
    for (const t of study.trials) this.table.upsert(this.row(t));
    this.progress.update(this.finished(), { label: this.label() });
  }

  /** Feed it the driver's trial events. */
  onEvent(event: TrialEvent): void {
    const t = event.trial;
    if (event.kind === 'report' && event.data) {
      if (typeof event.data.epoch === 'number') this.lastEpoch.set(t.id, event.data.epoch);
      const v = event.data[this.opts.metric];
      if (typeof v === 'number') this.lastMetric.set(t.id, v);
    }
    this.table.upsert(this.row(t));
    this.curves.update(trialCurvesFigure(this.study.trials, { metric: this.opts.metric, direction: this.opts.direction }));
    if (event.kind !== 'report') this.progress.update(this.finished(), { label: this.label() });
  }

  /**
   * The search is over: a trial still 'running' or 'pending' was cancelled
   * (the journal keeps it 'running' so a resume re-queues it; the table says
   * what happened in this run).
   */
  close(): void {
    this.ended = true;
    for (const t of this.study.trials) this.table.upsert(this.row(t));
    this.curves.update(trialCurvesFigure(this.study.trials, { metric: this.opts.metric, direction: this.opts.direction }));
    this.progress.update(this.finished(), { label: this.label() });
    this.progress.close();
    this.table.close();
    this.curves.close();
  }

  private row(t: Trial): TableRow {
    const row: TableRow = {
      trial: t.id,
      state: this.stateOf(t),
      engine: t.engine ?? null,
      epoch: this.lastEpoch.get(t.id) ?? t.reports[t.reports.length - 1]?.step ?? null,
      [this.opts.metric]: this.lastMetric.get(t.id) ?? t.reports[t.reports.length - 1]?.value ?? null,
      value: t.value ?? null,
      attempts: t.attempts,
    };
    for (const [k, v] of Object.entries(t.params)) row[k] = v;
    return row;
  }

  /** 'pending' reads 'queued' (asked for, waiting for an engine); after close, unfinished trials read 'cancelled'. */
  private stateOf(t: Trial): string {
    if (t.state !== 'pending' && t.state !== 'running') return t.state;
    if (this.ended) return 'cancelled';
    return t.state === 'pending' ? 'queued' : 'running';
  }

  private finished(): number {
    return this.study.trials.filter((t) => t.state !== 'pending' && t.state !== 'running').length;
  }

  private label(): string {
    const trials = this.study.trials;
    const running = trials.filter((t) => t.state === 'running').length;
    const best = this.study.best();
    return `study: ${running} running${best?.value !== undefined ? `, best ${this.opts.metric} ${best.value.toPrecision(4)} (trial ${best.id})` : ''}`;
  }
}
