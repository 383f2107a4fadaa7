/**
 * --task-memory-mb on a task's whole memory, not only its V8 heap (which the
 * worker's resourceLimits cap): Buffers and ArrayBuffers live outside the heap.
 * Each running task's worker reports its heap + external memory every
 * MEMORY_REPORT_MS while its event loop turns; a task busy in synchronous code
 * cannot report, so the engine's RSS above its idle level, less what the
 * reporting tasks account for, is charged to the silent ones.
 */
import { MEMORY_REPORT_MS, type AssignedTask, type Slot } from './worker-slot';

/** How often the engine checks (ms): at ~1.5 GB/s of fresh pages a task overshoots its limit by about this much. */
export const MEMORY_WATCH_MS = 50;

/** A report older than this means the worker is busy in synchronous code. */
const STALE_AFTER_MS = 4 * MEMORY_REPORT_MS;

export interface OverLimit {
  slot: Slot;
  entry: AssignedTask;
  /** bytes charged to the task */
  bytes: number;
  /** how they were measured */
  how: 'reported' | 'rss';
}

/**
 * The running tasks over `limitBytes`: by their own report when it is
 * recent, else by their share of the RSS growth nothing else explains.
 */
export function tasksOverLimit(slots: Slot[], rssBytes: number, idleRssBytes: number, limitBytes: number, now: number): OverLimit[] {
  const running = slots.filter((s) => s.assigned[0]?.startedAt != null).map((slot) => ({ slot, entry: slot.assigned[0] }));
  if (running.length === 0) return [];
  const fresh = running.filter((r) => now - Math.max(r.entry.memoryAt, r.entry.startedAt!) < STALE_AFTER_MS);
  const silent = running.filter((r) => !fresh.includes(r));
  const explained = fresh.reduce((n, r) => n + r.entry.memory, 0);
  const unexplainedShare = silent.length ? Math.max(0, rssBytes - idleRssBytes - explained) / silent.length : 0;
  const over: OverLimit[] = [];
  for (const r of fresh) if (r.entry.memory > limitBytes) over.push({ ...r, bytes: r.entry.memory, how: 'reported' });
  for (const r of silent) {
    const bytes = Math.max(r.entry.memory, unexplainedShare);
    if (bytes > limitBytes) over.push({ ...r, bytes, how: bytes === r.entry.memory ? 'reported' : 'rss' });
  }
  return over;
}
