/**
 * The controller's side of the dashboard: its tables as the plain data the
 * dashboard reads (cluster/dashboard/source.ts), and the controls behind the
 * page's buttons. Cancel goes through the task state machine as a client's
 * cancel_request does. Stop asks the engine to shut down (shutdown_request:
 * it exits 0, so no launcher replaces it). Restart needs the launcher that
 * started the engine: a client that owns the launcher and this controller's
 * process attaches it (`attachLauncher`), and after the engine has gone the
 * launcher starts a new one in its launch slot. Without it the button is
 * disabled with the reason.
 */
import type { ControlAvailability, DashboardSource, EngineRow, SearchSnapshot } from '../dashboard';
import type { EngineRegistry } from './engine-registry';
import { controllerStatus, taskInfo, type StatusSources } from './status';
import type { TaskLifecycle } from './task-lifecycle';
import { TERMINAL, type EngineInfo } from './types';

/** What a client that owns a launcher lends the controller: start a new engine in a launch slot. */
export interface LauncherControl {
  kind: string;
  relaunch(launchSlot: number): Promise<void>;
}

const SEARCHES_KEPT = 10;

function engineRow(e: EngineInfo): EngineRow {
  return {
    engine_id: e.id,
    host: e.host,
    pid: e.pid,
    slots: e.slots,
    state: e.alive ? 'alive' : 'dead',
    tasks: [...e.assigned],
    assigned: e.assigned.size,
    tasks_done: e.tasksDone,
    resources: e.resources,
    labels: e.labels,
    registered_ms: e.registeredMs,
    died_ms: e.diedMs,
    death_reason: e.deathReason,
    last_sample: (e.resourcesHistory[e.resourcesHistory.length - 1] as Record<string, unknown> | undefined) ?? null,
  };
}

export class DashboardControls {
  private readonly launchers = new Map<string, LauncherControl>();
  private readonly searches = new Map<string, () => SearchSnapshot>();
  /** engines to start again in their launch slot once they have gone */
  private readonly pendingRestarts = new Map<number, { launcher: LauncherControl; slot: number }>();

  constructor(
    private readonly s: StatusSources,
    private readonly engines: EngineRegistry,
    private readonly lifecycle: TaskLifecycle,
  ) {}

  attachLauncher(launcherId: string, control: LauncherControl): () => void {
    this.launchers.set(launcherId, control);
    return () => this.launchers.delete(launcherId);
  }

  attachSearch(name: string, snapshot: () => SearchSnapshot): () => void {
    this.searches.set(name, snapshot);
    // the most recent searches only: a notebook that runs many keeps the dashboard small
    while (this.searches.size > SEARCHES_KEPT) this.searches.delete(this.searches.keys().next().value!);
    return () => this.searches.delete(name);
  }

  /** An engine went away: if a restart was asked for, its launcher starts the replacement now. */
  engineGone(engineId: number): void {
    const pending = this.pendingRestarts.get(engineId);
    if (!pending) return;
    this.pendingRestarts.delete(engineId);
    pending.launcher.relaunch(pending.slot).catch((err) => this.s.ctx.log(`dashboard restart of engine ${engineId}: the ${pending.launcher.kind} launcher failed: ${(err as Error).message}`));
  }

  private launcherOf(e: EngineRow | EngineInfo): { launcher: LauncherControl; slot: number } | string {
    const id = e.labels.launcher;
    if (!id) return 'started by hand (hpcdl engine), not by a launcher of this cluster';
    const launcher = this.launchers.get(id);
    if (!launcher) return `its launcher (${id}) belongs to a client in another process`;
    const slot = Number(e.labels.launch_slot ?? e.labels.slurm_procid);
    if (!Number.isInteger(slot)) return 'its launch slot is unknown';
    return { launcher, slot };
  }

  source(token: string): DashboardSource {
    const s = this.s;
    return {
      token,
      status: () => controllerStatus(s),
      engines: () => [...[...this.engines.alive()].sort((a, b) => a.id - b.id).map(engineRow), ...this.engines.deadList().map(engineRow)],
      task: (id) => taskInfo(s.tasks.get(id)),
      tasks: (state, limit) => {
        const out: Record<string, unknown>[] = [];
        for (const t of s.tasks.values()) {
          if (state && t.state !== state) continue;
          out.push({ task_id: t.id, state: t.state, engine_id: t.engineId, attempt: t.attempt, started_ms: t.startedMs });
          if (out.length >= limit) break;
        }
        return out;
      },
      resources: (engineId) => this.engines.findAny(engineId)?.resourcesHistory ?? null,
      reports: (taskId, limit) => s.fanOut.reports(taskId, limit),
      controls: (e): ControlAvailability => {
        if (e.state !== 'alive') return { stop: 'the engine is not running', restart: 'the engine is not running' };
        const l = this.launcherOf(e);
        return { stop: null, restart: typeof l === 'string' ? l : this.pendingRestarts.has(e.engine_id) ? 'a restart is under way' : null };
      },
      cancelTask: (taskId) => {
        const task = s.tasks.get(taskId);
        if (!task) return `no task ${taskId}`;
        if (TERMINAL.has(task.state)) return `task ${taskId} has already ended (${task.state})`;
        this.lifecycle.cancel([taskId]);
        return null;
      },
      stopEngine: (engineId) => this.stop(engineId, 'stopped from the dashboard'),
      restartEngine: (engineId) => {
        const e = this.engines.get(engineId);
        if (!e) return `engine ${engineId} is not running`;
        const l = this.launcherOf(e);
        if (typeof l === 'string') return `engine ${engineId} cannot be restarted: ${l}`;
        this.pendingRestarts.set(engineId, l);
        return this.stop(engineId, 'restart from the dashboard');
      },
      searches: () => [...this.searches.values()].map((f) => f()),
    };
  }

  private stop(engineId: number, reason: string): string | null {
    const e = this.engines.get(engineId);
    if (!e) return `engine ${engineId} is not running`;
    this.s.ctx.log(`engine ${engineId} (host ${e.host}, pid ${e.pid}): ${reason}`);
    e.peer.outbox.push('shutdown_request', { reason });
    e.peer.outbox.flush();
    return null;
  }
}
