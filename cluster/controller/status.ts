/**
 * What the controller reports about itself: status() for status_request and
 * GET /api/status, and per-task detail (dashboard-source.ts builds the rest
 * of the dashboard's data on these).
 */
import type { Connections } from './connections';
import type { EngineRegistry } from './engine-registry';
import type { FanOut } from './fan-out';
import type { Scheduler } from './scheduler';
import type { TaskTable } from './task-table';
import type { ControllerContext, Task } from './types';

export interface StatusSources {
  ctx: ControllerContext;
  url(): string;
  startedMs: number;
  journalFile: string | null;
  tasks: TaskTable;
  engines: EngineRegistry;
  fanOut: FanOut;
  scheduler: Scheduler<Task>;
  connections: Connections;
}

export function controllerStatus(s: StatusSources): Record<string, unknown> {
  const mem = process.memoryUsage();
  const { journal } = s.ctx;
  const wire = s.connections;
  return {
    cluster_id: s.ctx.clusterId,
    url: s.url(),
    pid: process.pid,
    uptime_s: (Date.now() - s.startedMs) / 1000,
    engines: { alive: s.engines.size, dead: s.engines.deadCount, slots: s.engines.totalSlots() },
    clients: s.fanOut.connectedCount,
    client_sessions: s.fanOut.size,
    tasks: { total: s.tasks.size, ...s.tasks.counts, forgotten: s.tasks.forgotten },
    queue: { plain: s.scheduler.queuedPlain, constrained: s.scheduler.queuedConstrained },
    journal: journal ? { file: s.journalFile, records: journal.records, bytes: journal.bytes, compactions: journal.compactions } : null,
    bad_messages: wire.badMessages,
    unauthenticated: { open: wire.admission.unauthenticated, refused: { ...wire.admission.refusals } },
    wire: { frames_received: wire.framesReceived, messages_received: wire.messagesReceived, frames_sent: wire.framesSent, bytes_received: wire.bytesReceived },
    memory: { rss: mem.rss, heap_used: mem.heapUsed },
    results: { held_bytes: s.ctx.results.heldBytes, spilled: s.ctx.results.spilledCount, evicted: s.ctx.results.evictedCount },
  };
}

/** status_reply: the controller status plus the state of each asked-for task. */
export function statusReply(s: StatusSources, ids: unknown): Record<string, unknown> {
  const tasks = Array.isArray(ids)
    ? ids.map((id) => {
        const t = s.tasks.get(String(id));
        return t ? { task_id: t.id, state: t.state, engine_id: t.engineId ?? undefined, attempt: t.attempt } : { task_id: String(id), state: 'unknown' };
      })
    : undefined;
  return { ...controllerStatus(s), task_states: tasks };
}

export function taskInfo(t: Task | undefined): Record<string, unknown> | null {
  if (!t) return null;
  return {
    task_id: t.id,
    state: t.state,
    kind: t.spec.kind,
    module: t.spec.module,
    export: t.spec.export,
    engine_id: t.engineId,
    attempt: t.attempt,
    retries_left: t.retriesLeft,
    engines_lost: t.lostOn ?? [],
    blacklist: t.blacklist ? [...t.blacklist] : [],
    after: t.spec.after ?? [],
    resources: t.resources,
    targets: t.allowed ? [...t.allowed] : null,
    owner: t.owner,
    submitted_ms: t.submittedMs,
    started_ms: t.startedMs,
    result: t.result
      ? { status: t.result.status, error: t.result.error, engine_id: t.result.engine_id, finished_ms: t.result.finished_ms, value_bytes: t.result.spill ? t.result.spill.lens.reduce((n, b) => n + b, 0) : t.result.buffers.reduce((n, b) => n + b.byteLength, 0) }
      : null,
  };
}
