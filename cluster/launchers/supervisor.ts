/**
 * Replaces engines that died, through the launcher that started them, up to a
 * limit per launch slot, and logs why (ipyparallel never does: its issue #706).
 */
import type { EngineExit, EngineLauncher, LaunchContext } from './types';

export interface ReplacementEvent {
  launchSlot: number;
  reason: string;
  /** replacements of this slot so far, this one included */
  attempt: number;
  replaced: boolean;
}

export interface SupervisorOptions {
  /** replacements allowed per launch slot (default 3) */
  maxReplacements?: number;
  onReplacement?: (event: ReplacementEvent) => void;
}

export class EngineSupervisor {
  private readonly replacements = new Map<number, number>();
  private stopped = false;
  private readonly listeners = new Set<(event: ReplacementEvent) => void>();

  constructor(
    readonly launcher: EngineLauncher,
    private readonly ctx: LaunchContext,
    private readonly opts: SupervisorOptions = {},
  ) {
    if (opts.onReplacement) this.listeners.add(opts.onReplacement);
  }

  onReplacement(listener: (event: ReplacementEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(count: number): Promise<void> {
    await this.launcher.start(count, this.ctx, (exit) => this.engineExited(exit));
  }

  /** Called by the launcher (local child exit) or by the client on the controller's `died` event (srun/sbatch engines). */
  engineExited(exit: EngineExit): void {
    if (this.stopped) return;
    const limit = this.opts.maxReplacements ?? 3;
    const used = this.replacements.get(exit.launchSlot) ?? 0;
    const where = `${this.launcher.kind} engine ${exit.launchSlot}`;
    if (!exit.restartable) {
      this.ctx.log(`hpcdl: ${where} stopped (${exit.reason}); not replacing it`);
      this.emit({ launchSlot: exit.launchSlot, reason: exit.reason, attempt: used, replaced: false });
      return;
    }
    if (used >= limit) {
      const tail = this.launcher.recentLog(exit.launchSlot).slice(-5).join('\n  ');
      this.ctx.log(`hpcdl: ${where} died (${exit.reason}); already replaced ${used} times (limit ${limit}), giving up on it${tail ? `\n  last log lines:\n  ${tail}` : ''}`);
      this.emit({ launchSlot: exit.launchSlot, reason: exit.reason, attempt: used, replaced: false });
      return;
    }
    this.replacements.set(exit.launchSlot, used + 1);
    this.ctx.log(`hpcdl: ${where} died (${exit.reason}); starting a replacement (${used + 1}/${limit})`);
    this.launcher.relaunch(exit.launchSlot).then(
      () => this.emit({ launchSlot: exit.launchSlot, reason: exit.reason, attempt: used + 1, replaced: true }),
      (err) => this.ctx.log(`hpcdl: replacing ${where} failed: ${(err as Error).message}`),
    );
  }

  replacementCount(launchSlot: number): number {
    return this.replacements.get(launchSlot) ?? 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.launcher.stop();
  }

  killNow(): void {
    this.stopped = true;
    this.launcher.killNow();
  }

  private emit(event: ReplacementEvent): void {
    for (const l of this.listeners) l(event);
  }
}
