/**
 * Client sessions and what they hear: each task's owner gets its results,
 * output and reports; subscribers get the topics they asked for (status,
 * streams, reports, resources, engines), optionally with the bounded history
 * of streams and reports for late subscribers.
 */
import type { SubscribeTopic } from '../protocol';
import { stringList } from './submission';
import type { ClientInfo, EngineInfo, Peer, Task } from './types';

type EventTopic = 'streams' | 'reports';
type EventType = 'task_stream' | 'task_report';

interface RelayedEvent {
  topic: EventTopic;
  task_id: string;
  type: EventType;
  content: any;
}

const TOPICS: readonly string[] = ['resources', 'reports', 'streams', 'engines', 'status'];

export class FanOut {
  private readonly clients = new Map<string, ClientInfo>();
  private readonly events: RelayedEvent[] = [];

  constructor(private readonly eventHistory: number) {}

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
      if (client.peer && client.peer !== peer) client.peer.ws.close(1000, 'replaced by a new connection of the same session');
      client.peer = peer;
    } else {
      client = { session, peer, topics: new Set(), taskFilter: null };
      this.clients.set(session, client);
    }
    return client;
  }

  sendResultToOwner(task: Task): void {
    if (!task.owner) return;
    const client = this.clients.get(task.owner);
    if (client?.peer) client.peer.outbox.push('task_result', resultContent(task), task.result!.buffers);
  }

  /** task_status to 'status' subscribers; `skipOwner` when the owner already gets the task_result. */
  notifyStatus(task: Task, skipOwner = false): void {
    if (this.clients.size === 0) return;
    for (const client of this.clients.values()) {
      if (!client.peer || !client.topics.has('status')) continue;
      if (skipOwner && client.session === task.owner) continue;
      if (client.taskFilter && !client.taskFilter.has(task.id)) continue;
      client.peer.outbox.push('task_status', { task_id: task.id, state: task.state, engine_id: task.engineId ?? undefined, attempt: task.attempt });
    }
  }

  /** Output or a report of a task: to its owner, to subscribers of the topic, and into the history. */
  relayEvent(topic: EventTopic, type: EventType, content: Record<string, any>, ownerSession: string | null | undefined): void {
    this.events.push({ topic, task_id: content.task_id, type, content });
    if (this.events.length > this.eventHistory) this.events.splice(0, this.events.length - this.eventHistory);
    const owner = ownerSession ? this.clients.get(ownerSession) : undefined;
    if (owner?.peer) owner.peer.outbox.push(type, content);
    for (const client of this.clients.values()) {
      if (client === owner || !client.peer || !client.topics.has(topic)) continue;
      if (client.taskFilter && !client.taskFilter.has(content.task_id)) continue;
      client.peer.outbox.push(type, content);
    }
  }

  /** Engine events go to every connected client. */
  broadcastEngineEvent(content: Record<string, unknown>): void {
    for (const client of this.clients.values()) client.peer?.outbox.push('engine_event', content);
  }

  publishResources(engineId: number, sample: Record<string, unknown>): void {
    const content = { sample, engine_id: engineId };
    for (const client of this.clients.values()) {
      if (client.peer && client.topics.has('resources')) client.peer.outbox.push('resources', content);
    }
  }

  /** subscribe_request: add topics, set the task filter, reply, then replay history if asked. */
  subscribe(peer: Peer, client: ClientInfo, c: Record<string, any>, parent: string, engines: Iterable<EngineInfo>): void {
    const topics = stringList(c.topics, 'subscribe_request.topics');
    const bad = topics.find((t) => !TOPICS.includes(t));
    if (bad) throw new Error(`unknown subscription topic ${bad} (valid: ${TOPICS.join(', ')})`);
    for (const t of topics) client.topics.add(t as SubscribeTopic);
    client.taskFilter = Array.isArray(c.task_ids) ? new Set(stringList(c.task_ids, 'subscribe_request.task_ids')) : null;
    peer.outbox.push('subscribe_reply', { topics: [...client.topics] }, undefined, parent);
    if (c.history) this.replayHistory(peer, client, topics, engines);
  }

  unsubscribe(peer: Peer, client: ClientInfo, c: Record<string, any>, parent: string): void {
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
  reports(taskId: string | null, limit: number): Record<string, unknown>[] {
    return this.events.filter((e) => e.topic === 'reports' && (!taskId || e.task_id === taskId)).slice(-limit).map((e) => e.content);
  }
}

/** task_result content for a finished task. */
export function resultContent(task: Task): Record<string, unknown> {
  const r = task.result!;
  const content: Record<string, unknown> = { task_id: task.id, status: r.status };
  if (r.value) content.value = r.value;
  if (r.error) content.error = r.error;
  if (r.engine_id !== undefined) content.engine_id = r.engine_id;
  if (r.started_ms !== undefined) content.started_ms = r.started_ms;
  content.finished_ms = r.finished_ms;
  return content;
}
