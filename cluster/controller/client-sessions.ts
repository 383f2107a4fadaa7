/**
 * The client side of the controller: connect, submit (with targets, "all"
 * fan-out and dependencies), cancel, result retrieval after reconnects,
 * status, subscriptions and the shutdown request.
 */
import { PROTOCOL_VERSION, isMessageOf, relocatePacked, type Message, type TaskSubmission } from '../protocol';
import type { DispatchLoop } from './dispatch';
import { OrphanedWork } from './orphaned-work';
import type { EngineRegistry } from './engine-registry';
import { resultContent, type FanOut } from './fan-out';
import { stringList, validateSubmission } from './submission';
import type { TaskLifecycle } from './task-lifecycle';
import type { TaskTable } from './task-table';
import type { ClientInfo, ControllerContext, Peer, Task } from './types';

export interface ClientRequestHooks {
  /** status() plus the states of the asked-for tasks */
  statusReply(taskIds: unknown): Record<string, unknown>;
  /** a client asked the whole cluster to shut down */
  shutdown(): void;
}

/** Longest an all-accepted submit_reply waits for other traffic to the client before it is sent alone. */
const SUBMIT_REPLY_MAX_DELAY_MS = 5;

/** What one submit_request turned into. */
interface SubmitOutcome {
  accepted: string[];
  rejected: { task_id: string; reason: string }[];
  expanded: Record<string, string[]>;
  created: Task[];
}

export class ClientSessions {
  readonly orphans: OrphanedWork;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly tasks: TaskTable,
    private readonly engines: EngineRegistry,
    private readonly lifecycle: TaskLifecycle,
    private readonly fanOut: FanOut,
    private readonly dispatch: DispatchLoop,
    private readonly hooks: ClientRequestHooks,
  ) {
    this.orphans = new OrphanedWork(ctx, tasks, lifecycle, (session) => !!this.fanOut.get(session)?.peer);
  }

  connect(peer: Peer, msg: Message<'connect_request'>): void {
    const session = String(msg.content.client_session);
    const client = this.fanOut.connect(session, peer);
    peer.role = 'client';
    peer.client = client;
    this.orphans.returned(session);
    if (msg.content.persist === true && !client.persist) {
      client.persist = true;
      this.orphans.persist(session);
    }
    const reply = { cluster_id: this.ctx.clusterId, engines: this.engines.summaries(), protocol_version: PROTOCOL_VERSION };
    peer.outbox.push('connect_reply', reply, undefined, msg.header.msg_id);
    this.ctx.log(`client ${session} connected from ${peer.address}`);
  }

  /** The client's connection closed; its session is kept for the client grace (fan-out.ts). */
  disconnected(client: ClientInfo, peer: Peer): void {
    this.fanOut.disconnected(client);
    this.ctx.log(`client ${client.session} disconnected (${peer.address})`);
    this.orphans.gone(client.session);
  }

  handle(peer: Peer, client: ClientInfo, msg: Message): void {
    const parent = msg.header.msg_id;
    if (isMessageOf(msg, 'submit_request')) return this.onSubmit(peer, client, msg);
    if (isMessageOf(msg, 'cancel_request')) {
      const ids = stringList(msg.content.task_ids, 'cancel_request.task_ids');
      return peer.outbox.push('cancel_reply', this.lifecycle.cancel(ids), undefined, parent);
    }
    if (isMessageOf(msg, 'result_request')) return this.onResultRequest(peer, stringList(msg.content.task_ids, 'result_request.task_ids'), parent);
    if (isMessageOf(msg, 'status_request')) return peer.outbox.push('status_reply', this.hooks.statusReply(msg.content.task_ids), undefined, parent);
    if (isMessageOf(msg, 'subscribe_request')) return this.fanOut.subscribe(peer, client, msg.content, parent, this.engines.alive());
    if (isMessageOf(msg, 'unsubscribe_request')) return this.fanOut.unsubscribe(peer, client, msg.content, parent);
    if (isMessageOf(msg, 'engines_request')) return peer.outbox.push('engines_reply', { engines: this.engines.summaries() }, undefined, parent);
    if (isMessageOf(msg, 'shutdown_request')) return this.onShutdown(peer, client, parent);
    throw new Error(`client sent ${msg.header.msg_type}, which clients may not send`);
  }

  private onShutdown(peer: Peer, client: ClientInfo, parent: string): void {
    this.ctx.log(`shutdown requested by client ${client.session} (${peer.address})`);
    peer.outbox.push('shutdown_reply', { cluster_id: this.ctx.clusterId }, undefined, parent);
    peer.outbox.flush();
    this.hooks.shutdown();
  }

  /** submit_request: accept what is well formed, activate it, and reply once the journal has it on disk. */
  private onSubmit(peer: Peer, client: ClientInfo, msg: Message<'submit_request'>): void {
    const list = msg.content.tasks as unknown[];
    const out: SubmitOutcome = { accepted: [], rejected: [], expanded: {}, created: [] };
    for (let i = 0; i < list.length; i++) this.acceptSubmission(list, i, msg.buffers, client, out);
    for (const task of out.created) this.lifecycle.activate(task);
    const { rejected } = out;
    if (rejected.length) this.ctx.log(`client ${client.session}: rejected ${rejected.length} task(s), first: ${rejected[0].task_id}: ${rejected[0].reason}`);
    this.dispatch.request();
    const reply = { accepted: out.accepted, rejected, expanded: out.expanded };
    const parent = msg.header.msg_id;
    // The client only acts on rejections; a reply with none rides along with the
    // next frame to this client (usually the first result) instead of its own.
    const send = rejected.length
      ? () => peer.outbox.push('submit_reply', reply, undefined, parent)
      : () => peer.outbox.pushLate('submit_reply', reply, parent, SUBMIT_REPLY_MAX_DELAY_MS);
    if (this.ctx.journal) void this.ctx.journal.durable().then(send);
    else send();
  }

  private acceptSubmission(list: unknown[], i: number, messageBuffers: Uint8Array[], client: ClientInfo, out: SubmitOutcome): void {
    const raw = list[i] as TaskSubmission;
    const problem = validateSubmission(raw, i, messageBuffers.length);
    if (problem) {
      out.rejected.push({ task_id: String((raw as { task_id?: unknown })?.task_id ?? `#${i}`), reason: problem });
      return;
    }
    const argBuffers: Uint8Array[] = [];
    const args = relocatePacked(raw.args, messageBuffers, argBuffers)!;
    if (raw.targets === 'all') return this.acceptOnEveryEngine(raw, args, argBuffers, client, out);
    if (Array.isArray(raw.targets) && !this.ctx.resuming && !raw.targets.some((id) => this.engines.has(id))) {
      out.rejected.push({ task_id: raw.task_id, reason: `none of the target engines ${JSON.stringify(raw.targets)} is registered` });
      return;
    }
    const unknownDep = (raw.after ?? []).find((id) => !this.tasks.has(id) && !list.some((t) => (t as TaskSubmission)?.task_id === id));
    if (unknownDep !== undefined) {
      out.rejected.push({ task_id: raw.task_id, reason: `depends on unknown task ${unknownDep}` });
      return;
    }
    const task = this.lifecycle.add({ ...raw, args }, argBuffers, client.session);
    if (task) out.created.push(task);
    else this.lifecycle.adoptOwnership(raw.task_id, client);
    out.accepted.push(raw.task_id);
  }

  /** targets "all": one copy per registered engine, with ids `<task_id>@<engine_id>`. */
  private acceptOnEveryEngine(raw: TaskSubmission, args: TaskSubmission['args'], argBuffers: Uint8Array[], client: ClientInfo, out: SubmitOutcome): void {
    const ids: string[] = [];
    for (const engineId of this.engines.sortedIds()) {
      const copy = { ...raw, args, task_id: `${raw.task_id}@${engineId}`, targets: [engineId] };
      const task = this.lifecycle.add(copy, argBuffers, client.session);
      if (task) out.created.push(task);
      ids.push(copy.task_id);
    }
    if (ids.length === 0) {
      out.rejected.push({ task_id: raw.task_id, reason: 'targets "all" but no engine is registered' });
      return;
    }
    out.expanded[raw.task_id] = ids;
    out.accepted.push(...ids);
  }

  private onResultRequest(peer: Peer, ids: string[], parent: string): void {
    const pending: string[] = [];
    const unknown: string[] = [];
    const client = peer.client!;
    for (const id of ids) {
      const task = this.tasks.get(id);
      if (!task) unknown.push(id);
      else {
        task.owner = client.session;
        if (task.result) this.fanOut.sendResult(peer, task);
        else pending.push(id);
      }
    }
    peer.outbox.push('result_reply', { pending, unknown }, undefined, parent);
  }
}
