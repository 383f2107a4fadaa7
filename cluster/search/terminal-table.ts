/**
 * The study on a terminal: one line per finished trial and a progress line
 * (rewritten in place on a TTY, printed every few seconds otherwise).
 */
import type { Study } from '../../src/hpo/study';
import type { Trial } from '../../src/hpo/types';
import type { TrialEvent } from './types';

const FINAL = new Set(['complete', 'pruned', 'failed', 'failed_to_converge', 'retried']);
/** a non-TTY log gets a progress line at most this often */
const PLAIN_PROGRESS_MS = 10_000;

export class TerminalTable {
  private readonly startedAt = Date.now();
  private progressShown = false;
  private lastPlain = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly study: Study,
    private readonly metric: string,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {
    const params = Object.keys(study.options.space);
    this.print(`${'trial'.padStart(5)}  ${'state'.padEnd(18)}  ${this.metric.padStart(10)}  ${'epochs'.padStart(6)}  ${'engine'.padStart(6)}  ${'seconds'.padStart(7)}  ${params.join(' ')}`);
    if (this.out.isTTY) {
      this.timer = setInterval(() => this.showProgress(), 1000);
      this.timer.unref();
    }
  }

  onEvent(event: TrialEvent): void {
    if (!FINAL.has(event.kind)) return;
    this.print(this.trialLine(event.trial, event.kind === 'retried' ? 'failed, retrying' : event.trial.state));
    if (!this.out.isTTY && Date.now() - this.lastPlain > PLAIN_PROGRESS_MS) {
      this.lastPlain = Date.now();
      this.out.write(`${this.progressText()}\n`);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.clearProgress();
    this.out.write(`${this.progressText()}\n`);
  }

  trialLine(t: Trial, state: string): string {
    const value = t.value !== undefined && Number.isFinite(t.value) ? t.value.toPrecision(5) : '—';
    const seconds = t.startedAt && t.endedAt ? ((t.endedAt - t.startedAt) / 1000).toFixed(1) : '';
    const params = Object.entries(t.params).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(3) : v}`).join(' ');
    const error = t.error && state !== 'complete' ? `  (${t.error.split('\n')[0].slice(0, 100)})` : '';
    return `${String(t.id).padStart(5)}  ${state.padEnd(18)}  ${value.padStart(10)}  ${String(t.reports.length).padStart(6)}  ${String(t.engine ?? '').padStart(6)}  ${seconds.padStart(7)}  ${params}${error}`;
  }

  progressText(): string {
    const trials = this.study.trials;
    const count = (s: string) => trials.filter((t) => t.state === s).length;
    const finished = trials.length - count('pending') - count('running');
    const best = this.study.best();
    const elapsed = Math.round((Date.now() - this.startedAt) / 1000);
    const bestText = best?.value !== undefined ? `, best ${this.metric} ${best.value.toPrecision(5)} (trial ${best.id})` : '';
    return `[${finished}/${this.study.options.trials} finished, ${count('running')} running, ${count('pruned')} pruned, ${count('failed') + count('failed_to_converge')} failed${bestText}, ${elapsed} s]`;
  }

  private print(line: string): void {
    this.clearProgress();
    this.out.write(`${line}\n`);
    if (this.out.isTTY) this.showProgress();
  }

  private showProgress(): void {
    this.out.write(`\r${this.progressText()}\x1b[K`);
    this.progressShown = true;
  }

  private clearProgress(): void {
    if (this.progressShown) this.out.write('\r\x1b[K');
    this.progressShown = false;
  }
}
