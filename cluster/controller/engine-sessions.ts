/**
 * The engine side of the controller: registration (and re-registration after
 * a network blip), heartbeats, messages from engines, and what happens to an
 * engine's tasks when it dies or goes away.
 */
import { CLOSE_CODES, isMessageOf, type Message, type RegisterRequest, type ResourceSample } from '../protocol';
import type { DispatchLoop } from './dispatch';
import type { EngineRegistry } from './engine-registry';
import type { FanOut, TaskEvent } from './fan-out';
import type { Scheduler } from './scheduler';
import type { TaskLifecycle } from './task-lifecycle';
import type { TaskTable } from './task-table';
import { TERMINAL, errorInfo, errorResult, type ControllerContext, type EngineInfo, type Peer, type Task } from './types';

type EngineGone = 'died' | 'unregistered';

export class EngineSessions {
  private lastHeartbeatCheck = Date.now();
  constructor(
    private readonly ctx: ControllerContext,
    private readonly engines: EngineRegistry,
    private readonly tasks: TaskTable,
    private readonly lifecycle: TaskLifecycle,
    private readonly fanOut: FanOut,
    private readonly scheduler: Scheduler<Task>,
    private readonly dispatch: DispatchLoop,
  ) {}

  register(peer: Peer, msg: Message<'register_request'>): void {
    const c = msg.content;
    const id = this.engines.idFor(c);
    const existing = this.engines.get(id);
    if (existing && existing.alive && existing.uuid === c.engine_uuid && existing.pid === c.pid) return this.revive(existing, peer, msg);
    if (existing) this.died(existing, 'replaced by a new registration', 'unregistered');
    const engine = newEngine(id, c, peer);
    peer.role = 'engine';
    peer.engine = engine;
    this.engines.add(engine);
    this.ctx.journal?.append({ r: 'engine', engine_id: id, uuid: engine.uuid, host: engine.host, pid: engine.pid });
    this.sendRegisterReply(peer, id, msg);
    this.adoptRunningTasks(engine, c.running);
    this.scheduler.addEngine(engine);
    const { slots, resources } = engine;
    this.ctx.log(`engine ${id} registered from ${peer.address} (host ${engine.host}, pid ${engine.pid}, ${slots} slot(s), ${resources.gpus.length} GPU(s))`);
    this.fanOut.broadcastEngineEvent({ event: 'registered', engine_id: id, host: engine.host });
    this.dispatch.request();
  }

  private sendRegisterReply(peer: Peer, engineId: number, msg: Message): void {
    const content = { engine_id: engineId, heartbeat_ms: this.ctx.opts.heartbeatMs, cluster_id: this.ctx.clusterId };
    peer.outbox.push('register_reply', content, undefined, msg.header.msg_id);
  }

  /**
   * A closed connection: a killed engine, or a network blip. Stop sending it
   * work at once; declare it dead unless it re-registers within the grace.
   */
  disconnected(engine: EngineInfo, peer: Peer): void {
    if (this.ctx.closed) return;
    if (this.ctx.opts.reconnectGraceMs <= 0) return this.died(engine, 'connection closed', 'died');
    this.scheduler.detach(engine.id);
    engine.disconnectTimer = setTimeout(() => {
      engine.disconnectTimer = null;
      if (engine.peer === peer) this.died(engine, 'connection closed', 'died');
    }, this.ctx.opts.reconnectGraceMs);
    engine.disconnectTimer.unref();
  }

  /** The same engine process came back within the grace: keep its id and what it still runs. */
  private revive(engine: EngineInfo, peer: Peer, msg: Message<'register_request'>): void {
    if (engine.disconnectTimer) clearTimeout(engine.disconnectTimer);
    engine.disconnectTimer = null;
    const old = engine.peer;
    engine.peer = peer;
    engine.lastSeen = Date.now();
    peer.role = 'engine';
    peer.engine = engine;
    if (old !== peer && old.ws.readyState === old.ws.OPEN) old.ws.close(CLOSE_CODES.unregistered, 'replaced by a new connection of the same engine');
    this.sendRegisterReply(peer, engine.id, msg);
    const running = new Set(Array.isArray(msg.content.running) ? msg.content.running.map(String) : []);
    this.requeueNotRunning(engine, running);
    this.adoptRunningTasks(engine, [...running].filter((id) => !engine.assigned.has(id)));
    this.scheduler.addEngine(engine);
    this.ctx.log(`engine ${engine.id} (host ${engine.host}) reconnected from ${peer.address}, still running ${running.size} task(s)`);
    this.dispatch.request();
  }

  /**
   * Tasks a reconnecting engine no longer runs may have finished (the engine
   * re-sends those results) or been lost: queue them again; whichever result
   * comes first wins.
   */
  private requeueNotRunning(engine: EngineInfo, running: Set<string>): void {
    for (const taskId of [...engine.assigned]) {
      if (running.has(taskId)) continue;
      const task = this.tasks.get(taskId);
      this.scheduler.release(engine, task, taskId);
      if (!task || TERMINAL.has(task.state)) continue;
      this.lifecycle.clearTimer(task);
      this.lifecycle.requeue(task);
    }
  }

  /** After a controller restart an engine tells us which tasks it is still running. */
  private adoptRunningTasks(engine: EngineInfo, running: unknown): void {
    if (!Array.isArray(running)) return;
    for (const id of running) {
      const task = this.tasks.get(String(id));
      if (!task) this.lifecycle.holdUnknown(engine, String(id));
      if (!task || TERMINAL.has(task.state) || task.state === 'running') continue;
      this.lifecycle.setState(task, 'running');
      task.engineId = engine.id;
      task.startedMs = Date.now();
      this.scheduler.markAssigned(engine, task);
    }
  }

  handle(peer: Peer, engine: EngineInfo, msg: Message): void {
    if (isMessageOf(msg, 'heartbeat')) return peer.outbox.push('heartbeat_reply', {});
    if (isMessageOf(msg, 'task_started')) return this.lifecycle.onTaskStarted(engine, msg.content.task_id);
    if (isMessageOf(msg, 'task_result')) return this.lifecycle.onEngineResult(engine, msg);
    if (isMessageOf(msg, 'task_stream')) {
      const c = msg.content;
      return this.relay('streams', { type: 'task_stream', content: { task_id: c.task_id, name: c.name, text: c.text, engine_id: engine.id } });
    }
    if (isMessageOf(msg, 'task_report')) {
      const c = msg.content;
      return this.relay('reports', { type: 'task_report', content: { task_id: c.task_id, data: c.data, engine_id: engine.id } });
    }
    if (isMessageOf(msg, 'resources')) return this.onResources(engine, msg.content.sample);
    if (isMessageOf(msg, 'engine_shutdown')) return this.died(engine, 'engine shut down', 'unregistered');
    throw new Error(`engine ${engine.id} sent ${msg.header.msg_type}, which engines may not send`);
  }

  private relay(topic: 'streams' | 'reports', event: TaskEvent): void {
    this.fanOut.relayEvent(topic, event, this.tasks.get(event.content.task_id)?.owner);
  }

  private onResources(engine: EngineInfo, sample: ResourceSample): void {
    const h = engine.resourcesHistory;
    h.push(sample);
    if (h.length > this.ctx.opts.resourceHistory) h.splice(0, h.length - this.ctx.opts.resourceHistory);
    this.fanOut.publishResources(engine.id, sample);
  }

  /** how often the controller runs checkHeartbeats */
  get heartbeatCheckMs(): number {
    return Math.max(100, Math.floor(this.ctx.opts.heartbeatMs / 2));
  }

  /**
   * Declare engines silent for longer than engineTimeoutMs dead. If this check
   * itself ran late (the controller's event loop was blocked, e.g. by
   * synchronous notebook code next to an in-process controller), nothing could
   * be heard meanwhile: the silence is ours, so every engine gets a fresh timeout.
   */
  checkHeartbeats(): void {
    const now = Date.now();
    const lateBy = now - this.lastHeartbeatCheck - this.heartbeatCheckMs;
    this.lastHeartbeatCheck = now;
    if (lateBy > this.ctx.opts.engineTimeoutMs / 2) {
      this.ctx.log(`the controller's event loop was blocked for ${lateBy} ms; engine heartbeats are counted from now`);
      for (const engine of this.engines.alive()) engine.lastSeen = now;
      return;
    }
    for (const engine of this.engines.alive()) {
      if (now - engine.lastSeen > this.ctx.opts.engineTimeoutMs) {
        this.died(engine, `no heartbeat for ${now - engine.lastSeen} ms`, 'died');
        engine.peer.ws.terminate();
      }
    }
  }

  died(engine: EngineInfo, reason: string, event: EngineGone): void {
    if (!engine.alive) return;
    if (engine.disconnectTimer) clearTimeout(engine.disconnectTimer);
    engine.disconnectTimer = null;
    this.scheduler.removeEngine(engine.id);
    this.engines.retire(engine, reason);
    this.ctx.journal?.append({ r: 'engine_gone', engine_id: engine.id });
    this.ctx.log(`engine ${engine.id} (host ${engine.host}, pid ${engine.pid}) ${event === 'died' ? 'died' : 'unregistered'}: ${reason}`);
    for (const taskId of [...engine.assigned]) {
      engine.assigned.delete(taskId);
      const task = this.tasks.get(taskId);
      if (!task || TERMINAL.has(task.state)) continue;
      this.rescue(task, engine, reason, event);
    }
    this.failOrphanedTargets(engine);
    this.fanOut.broadcastEngineEvent({ event, engine_id: engine.id, host: engine.host, reason });
    this.dispatch.request();
  }

  /** A task that was on a dead engine: fail it, retry it, or queue it again. */
  private rescue(task: Task, engine: EngineInfo, reason: string, event: EngineGone): void {
    this.lifecycle.clearTimer(task);
    task.reservedGpus = null;
    const what = `engine ${engine.id} on ${engine.host} (pid ${engine.pid}) ${event === 'died' ? 'died' : 'went away'} (${reason})`;
    if (task.allowed && ![...task.allowed].some((id) => this.engines.has(id))) {
      const error = errorInfo('EngineError', `${what} while task ${task.id} was assigned to it, and no other target engine is alive`, engine);
      this.lifecycle.finish(task, errorResult(error));
    } else if (task.state === 'running') {
      this.engineLost(task, engine, reason, what);
    } else {
      this.lifecycle.requeue(task);
    }
  }

  /**
   * An engine died under a running task: not the task's fault, so it runs again
   * elsewhere (its `retries` untouched) until more engines than it allows
   * (engine_losses, default --engine-losses 3) died under it; then it fails
   * with EngineLost naming every one of them (or uses a retry if it has one).
   */
  private engineLost(task: Task, engine: EngineInfo, reason: string, what: string): void {
    const lost = (task.lostOn ??= []);
    lost.push({ engineId: engine.id, host: engine.host, pid: engine.pid, reason });
    const allowed = task.spec.engine_losses ?? this.ctx.opts.engineLosses;
    if (lost.length <= allowed && !task.cancelRequested) {
      this.ctx.log(`resubmitting task ${task.id} (engine loss ${lost.length} of ${allowed} allowed): ${what}`);
      this.lifecycle.requeue(task);
      return;
    }
    const engines = lost.map((l) => `engine ${l.engineId} on ${l.host} (pid ${l.pid}): ${l.reason}`).join('; ');
    const evalue = `task ${task.id} was running on ${lost.length} engine(s) that died, more than the ${allowed} engine loss(es) it allows: ${engines}`;
    this.lifecycle.retryOrFail(task, engine, errorInfo('EngineLost', evalue, engine));
  }

  /** Queued tasks pinned to engines that are all gone can never run: fail them now. */
  private failOrphanedTargets(engine: EngineInfo): void {
    if (this.ctx.resuming) return;
    const orphaned = [...this.scheduler.targetedQueued()].filter((t) => t.allowed!.has(engine.id) && ![...t.allowed!].some((id) => this.engines.has(id)));
    for (const task of orphaned) {
      const error = errorInfo('EngineError', `task ${task.id} was targeted at engine ${[...task.allowed!].join(', ')}, which is gone (engine ${engine.id} on ${engine.host}: ${engine.deathReason})`, engine);
      this.lifecycle.finish(task, errorResult(error));
    }
  }
}

function newEngine(id: number, c: RegisterRequest, peer: Peer): EngineInfo {
  const slots = Math.max(1, Math.floor(Number(c.slots) || 1));
  const resources = {
    cpus: Number(c.resources?.cpus) || 0,
    memory_bytes: Number(c.resources?.memory_bytes) || 0,
    gpus: Array.isArray(c.resources?.gpus) ? c.resources.gpus : [],
  };
  return {
    id,
    uuid: c.engine_uuid,
    host: c.host,
    pid: c.pid,
    slots,
    resources,
    labels: c.labels ?? {},
    assigned: new Set(),
    freeGpus: resources.gpus.map((g: { index: number }) => g.index),
    freeCpus: resources.cpus,
    freeMemory: resources.memory_bytes,
    alive: true,
    peer,
    lastSeen: Date.now(),
    registeredMs: Date.now(),
    resourcesHistory: [],
    diedMs: null,
    deathReason: null,
    tasksDone: 0,
    disconnectTimer: null,
  };
}
