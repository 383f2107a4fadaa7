/**
 * Client sessions and what they hear: each task's owner gets its results,
 * output and reports; subscribers get the topics they asked for (status,
 * streams, reports, resources, engines), optionally with the bounded history
 * of streams and reports for late subscribers.
 *
 * A disconnected client's session (its topics and task filter) is kept for
 * `clientGraceMs` so a client that reconnects with the same session keeps its
 * subscriptions; then it is forgotten. Its results stay with the tasks
 * (result_request by task id, bounded by --keep-finished), and tasks it owns
 * still route to the session id if it connects again.
 */
import type { EngineEvent, ResourceSample, SubscribeRequest, SubscribeTopic, TaskReport, TaskResult, TaskStream, UnsubscribeRequest } from '../protocol';
import type { DashboardFeed, TaskChange } from '../dashboard';
import { RingBuffer } from './ring-buffer';
import { stringList } from './submission';
import type { ClientInfo, EngineInfo, Peer, StoredResult, Task } from './types';

type EventTopic = 'streams' | 'reports';

type RelayedEvent = { topic: EventTopic; task_id: string } & ({ type: 'task_stream'; content: TaskStream } | { type: 'task_report'; content: TaskReport });

/** What relayEvent takes: output or a report, with its message type. */
export type TaskEvent = { type: 'task_stream'; content: TaskStream } | { type: 'task_report'; content: TaskReport };

const TOPICS: readonly string[] = ['resources', 'reports', 'streams', 'engines', 'status'];

export class FanOut {
  private readonly clients = new Map<string, ClientInfo>();
  private readonly events: RingBuffer<RelayedEvent>;
  /** the dashboard, told of task changes, reports, resources and engine events as they happen */
  observer: DashboardFeed | null = null;

  constructor(
    eventHistory: number,
    private readonly clientGraceMs: number,
    private readonly log: (line: string) => void = () => {},
    /** a result's buffers when they left memory (result-store.ts) */
    private readonly loadBuffers: (result: StoredResult, done: (buffers: Uint8Array[] | Error) => void) => void = (r, done) => done(r.buffers),
  ) {
    this.events = new RingBuffer(eventHistory);
  }

  /** Sessions known: connected ones and disconnected ones still within their grace. */
  get size(): number {
    return this.clients.size;
  }

  get connectedCount(): number {
    return [...this.clients.values()].filter((c) => c.peer).length;
  }

  get(session: string): ClientInfo | undefined {
    return this.clients.get(session);
  }

  /** A client (re)connects; a second connection of the same session replaces the first. */
  connect(session: string, peer: Peer): ClientInfo {
    let client = this.clients.get(session);
    if (client) {
      this.cancelForget(client);
      if (client.peer && client.peer !== peer) client.peer.ws.close(1000, 'replaced by a new connection of the same session');
      client.peer = peer;
    } else {
      client = { session, peer, topics: new Set(), taskFilter: null, forgetTimer: null, persist: false };
      this.clients.set(session, client);
    }
    return client;
  }

  /** The client's connection closed: keep its session for the grace period, then forget it. */
  disconnected(client: ClientInfo): void {
    client.peer = null;
    this.cancelForget(client);
    client.forgetTimer = setTimeout(() => this.forget(client), this.clientGraceMs);
    client.forgetTimer.unref();
  }

  private forget(client: ClientInfo): void {
    client.forgetTimer = null;
    if (client.peer || this.clients.get(client.session) !== client) return;
    this.clients.delete(client.session);
    this.log(`forgot client session ${client.session} (disconnected for ${this.clientGraceMs} ms)`);
  }

  private cancelForget(client: ClientInfo): void {
    if (client.forgetTimer) clearTimeout(client.forgetTimer);
    client.forgetTimer = null;
  }

  /** Stop the forget timers (controller closing). */
  close(): void {
    for (const client of this.clients.values()) this.cancelForget(client);
  }

  sendResultToOwner(task: Task): void {
    if (!task.owner) return;
    const client = this.clients.get(task.owner);
    if (client?.peer) this.sendResult(client.peer, task);
  }

  /** task_result of a finished task to one peer (its buffers read back from disk if they left memory). */
  sendResult(peer: Peer, task: Task): void {
    const result = task.result!;
    if (!result.evicted) return peer.outbox.push('task_result', resultContent(task), result.buffers);
    this.loadBuffers(result, (buffers) => {
      if (!(buffers instanceof Error)) return peer.outbox.push('task_result', resultContent(task), buffers);
      this.log(`task ${task.id}: ${buffers.message}`);
      const error = { ename: 'ResultUnavailable', evalue: `task ${task.id} finished, but ${buffers.message}`, traceback: [] };
      peer.outbox.push('task_result', { ...resultContent(task), status: 'error', value: undefined, error });
    });
  }

  /** task_status to 'status' subscribers; `skipOwner` when the owner already gets the task_result. */
  notifyStatus(task: Task, skipOwner = false): void {
    this.observer?.taskChanged(taskChange(task));
    if (this.clients.size === 0) return;
    for (const client of this.clients.values()) {
      if (!client.peer || !client.topics.has('status')) continue;
      if (skipOwner && client.session === task.owner) continue;
      if (client.taskFilter && !client.taskFilter.has(task.id)) continue;
      client.peer.outbox.push('task_status', { task_id: task.id, state: task.state, engine_id: task.engineId ?? undefined, attempt: task.attempt });
    }
  }

  /** Output or a report of a task: to its owner, to subscribers of the topic, and into the history. */
  relayEvent(topic: EventTopic, event: TaskEvent, ownerSession: string | null | undefined): void {
    const taskId = event.content.task_id;
    this.events.push({ topic, task_id: taskId, ...event });
    if (event.type === 'task_report') this.observer?.report(taskId, event.content.engine_id ?? null, event.content.data);
    const owner = ownerSession ? this.clients.get(ownerSession) : undefined;
    if (owner?.peer) owner.peer.outbox.push(event.type, event.content);
    for (const client of this.clients.values()) {
      if (client === owner || !client.peer || !client.topics.has(topic)) continue;
      if (client.taskFilter && !client.taskFilter.has(taskId)) continue;
      client.peer.outbox.push(event.type, event.content);
    }
  }

  /** Engine events go to every connected client. */
  broadcastEngineEvent(content: EngineEvent): void {
    this.observer?.engineEvent(content);
    for (const client of this.clients.values()) client.peer?.outbox.push('engine_event', content);
  }

  publishResources(engineId: number, sample: ResourceSample): void {
    const content = { sample, engine_id: engineId };
    this.observer?.resources(engineId, sample);
    for (const client of this.clients.values()) {
      if (client.peer && client.topics.has('resources')) client.peer.outbox.push('resources', content);
    }
  }

  /** subscribe_request: add topics, set the task filter, reply, then replay history if asked. */
  subscribe(peer: Peer, client: ClientInfo, c: SubscribeRequest, parent: string, engines: Iterable<EngineInfo>): void {
    const topics = stringList(c.topics, 'subscribe_request.topics');
    const bad = topics.find((t) => !TOPICS.includes(t));
    if (bad) throw new Error(`unknown subscription topic ${bad} (valid: ${TOPICS.join(', ')})`);
    for (const t of topics) client.topics.add(t as SubscribeTopic);
    client.taskFilter = Array.isArray(c.task_ids) ? new Set(stringList(c.task_ids, 'subscribe_request.task_ids')) : null;
    peer.outbox.push('subscribe_reply', { topics: [...client.topics] }, undefined, parent);
    if (c.history) this.replayHistory(peer, client, topics, engines);
  }

  unsubscribe(peer: Peer, client: ClientInfo, c: UnsubscribeRequest, parent: string): void {
    for (const t of stringList(c.topics ?? [], 'unsubscribe_request.topics')) client.topics.delete(t as SubscribeTopic);
    peer.outbox.push('subscribe_reply', { topics: [...client.topics] }, undefined, parent);
  }

  private replayHistory(peer: Peer, client: ClientInfo, topics: string[], engines: Iterable<EngineInfo>): void {
    for (const e of this.events) {
      if (!topics.includes(e.topic)) continue;
      if (client.taskFilter && !client.taskFilter.has(e.task_id)) continue;
      peer.outbox.push(e.type, e.content);
    }
    if (topics.includes('resources')) {
      for (const engine of engines) for (const sample of engine.resourcesHistory) peer.outbox.push('resources', { sample, engine_id: engine.id });
    }
  }

  /** The last `limit` reports kept in the history, of one task or all. */
  reports(taskId: string | null, limit: number): TaskReport[] {
    const found: TaskReport[] = [];
    for (const e of this.events) if (e.type === 'task_report' && (!taskId || e.task_id === taskId)) found.push(e.content);
    return found.slice(-limit);
  }
}

/** task_result content for a finished task. */
export function resultContent(task: Task): TaskResult {
  const r = task.result!;
  const content: TaskResult = { task_id: task.id, status: r.status };
  if (r.value) content.value = r.value;
  if (r.error) content.error = r.error;
  if (r.engine_id !== undefined) content.engine_id = r.engine_id;
  if (r.started_ms !== undefined) content.started_ms = r.started_ms;
  content.finished_ms = r.finished_ms;
  return content;
}

function taskChange(task: Task): TaskChange {
  const r = task.result;
  return {
    task_id: task.id,
    state: task.state,
    engine_id: task.engineId,
    started_ms: r?.started_ms ?? task.startedMs,
    finished_ms: r?.finished_ms ?? null,
    error: r?.error ? { ename: r.error.ename, evalue: r.error.evalue } : null,
  };
}
