/**
 * What the dashboard needs from the controller, as plain data: the controller
 * (cluster/controller/status.ts) implements `DashboardSource` over its tables
 * and calls the `DashboardFeed` methods as things happen. The dashboard never
 * imports the controller; the controller never imports training code, so the
 * training and search views are built from task reports and from search
 * snapshots a client attaches.
 */

/** One engine as the REST API and the page show it. */
export interface EngineRow {
  engine_id: number;
  host: string;
  pid: number;
  slots: number;
  state: 'alive' | 'dead';
  /** task ids running (or assigned) there now */
  tasks: string[];
  assigned: number;
  tasks_done: number;
  resources: { cpus: number; memory_bytes: number; gpus: { index: number; name: string; memory_bytes: number }[] };
  labels: Record<string, string>;
  registered_ms: number;
  died_ms: number | null;
  death_reason: string | null;
  last_sample: Record<string, unknown> | null;
}

/** A task's state change, as the feed reports it. */
export interface TaskChange {
  task_id: string;
  state: string;
  engine_id: number | null;
  started_ms: number | null;
  finished_ms: number | null;
  error: { ename: string; evalue: string } | null;
}

/** One trial of a search, as `StudyHandle.trials` has it. */
export interface SearchTrial {
  id: number;
  params: Record<string, unknown>;
  state: string;
  value?: number;
}

export interface SearchSnapshot {
  name: string;
  metric: string;
  direction: 'min' | 'max';
  trials: SearchTrial[];
}

/** Why a control is not offered, or null when it is. */
export type ControlAvailability = { stop: string | null; restart: string | null };

export interface DashboardSource {
  token: string;
  status(): Record<string, unknown>;
  engines(): EngineRow[];
  task(id: string): Record<string, unknown> | null;
  tasks(state: string | null, limit: number): Record<string, unknown>[];
  resources(engineId: number): Record<string, unknown>[] | null;
  reports(taskId: string | null, limit: number): object[];
  /** whether stop/restart are possible for this engine, and if not, why */
  controls(engine: EngineRow): ControlAvailability;
  /** returns null when done, else the reason it could not be */
  cancelTask(taskId: string): string | null;
  stopEngine(engineId: number): string | null;
  restartEngine(engineId: number): string | null;
  searches(): SearchSnapshot[];
}

/** What the controller tells the dashboard as it happens. */
export interface DashboardFeed {
  taskChanged(change: TaskChange): void;
  report(taskId: string, engineId: number | null, data: Record<string, unknown>): void;
  resources(engineId: number, sample: Record<string, unknown>): void;
  engineEvent(event: { event: string; engine_id: number; host: string; reason?: string }): void;
}
