/**
 * The disconnect policy: a client that went away (its process died, its
 * kernel restarted) and has not come back within --orphan-grace-ms gets its
 * queued and running tasks cancelled, so a dead notebook does not keep the
 * engines busy for the others. A client that connected with `persist` keeps
 * its work; its results stay retrievable by task id. Sessions that asked for
 * persist are journalled, so a resumed controller applies the same policy.
 */
import type { TaskLifecycle } from './task-lifecycle';
import type { TaskTable } from './task-table';
import { TERMINAL, type ControllerContext } from './types';

export class OrphanedWork {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly persistent = new Set<string>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly tasks: TaskTable,
    private readonly lifecycle: TaskLifecycle,
    private readonly isConnected: (session: string) => boolean,
  ) {}

  /** This session's work outlives its connection (journalled for --resume). */
  persist(session: string, journal = true): void {
    if (this.persistent.has(session)) return;
    this.persistent.add(session);
    this.returned(session);
    if (journal) this.ctx.journal?.append({ r: 'client', session, persist: true });
  }

  sessionsThatPersist(): Iterable<string> {
    return this.persistent;
  }

  /** The session (re)connected: its work is wanted again. */
  returned(session: string): void {
    const timer = this.timers.get(session);
    if (timer) clearTimeout(timer);
    this.timers.delete(session);
  }

  /** The session's connection is gone (or, after --resume, not back yet): start its grace. */
  gone(session: string): void {
    if (this.persistent.has(session) || this.ctx.closed) return;
    this.returned(session);
    const timer = setTimeout(() => this.cancelWork(session), this.ctx.opts.orphanGraceMs);
    timer.unref();
    this.timers.set(session, timer);
  }

  /** After --resume: every owner of unfinished work that is not connected gets its grace from now. */
  watchOwners(): void {
    const owners = new Set<string>();
    for (const task of this.tasks.values()) if (task.owner && !TERMINAL.has(task.state)) owners.add(task.owner);
    for (const session of owners) if (!this.isConnected(session)) this.gone(session);
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private cancelWork(session: string): void {
    this.timers.delete(session);
    if (this.isConnected(session) || this.ctx.closed) return;
    const ids: string[] = [];
    let running = 0;
    for (const task of this.tasks.values()) {
      if (task.owner !== session || TERMINAL.has(task.state)) continue;
      ids.push(task.id);
      if (task.state === 'running') running += 1;
    }
    if (ids.length === 0) return;
    this.lifecycle.cancel(ids);
    this.ctx.log(`client ${session} has been gone for ${this.ctx.opts.orphanGraceMs} ms (not persist): cancelled its ${ids.length} unfinished task(s), ${running} of them running`);
  }
}
