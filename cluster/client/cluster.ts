/**
 * The client API: `Cluster.start()` (local controller + engines, ./local/) or
 * `Cluster.connect(fileOrId)`, views to send work (`all()`, `engine(id)`,
 * `balanced()`), handles, output/report/resource streams, interrupts. Its
 * parts live beside it: the connection (connection.ts), task specs
 * (task-code.ts), output lines (output.ts), interrupts (interrupt.ts).
 */
import { randomBytes } from 'node:crypto';
import {
  readConnectionFile,
  relocatePacked,
  resolveConnectionFile,
  onMessageType,
  type MessageHandlers,
  packInto,
  unpackFrom,
  type ConnectionInfo,
  type EngineEvent,
  type CancelReply,
  type EngineSummary,
  type Message,
  type ResourceSample,
  type SubscribeTopic,
  type SubmitReply,
  type TaskCode,
  type TaskResult,
  type TaskSubmission,
} from '../protocol';
import type { EngineSupervisor, ReplacementEvent } from '../launchers/supervisor';
import type { StartedController } from './local/started-controller';
import { ControllerConnection } from './connection';
import { DashboardLink, dashboardLine } from './dashboard-link';
import { EngineTable } from './engine-table';
import { GroupHandle, RemoteTaskError, TaskHandle, type TaskStatus } from './handles';
import { addInterruptible, installSigint, closeAllClients, interruptAllClients, removeInterruptible } from './interrupt';
import type { ConnectOptions, StartOptions } from './options';
import { OutputPrinter } from './output';
import type { TaskOptions, TaskSubmitter } from './submitter';
import { BalancedView, DirectView, EngineView } from './views';
import type { SearchOptions } from '../search/types';
import type { StudyHandle } from '../search/study-handle';
import type { TrainingOptions, TrainingRun } from '../train/start-training';

export type { ConnectOptions, StartOptions } from './options';
export type { OutputMode } from './output';
export type { TaskSpec } from './task-code';

export type ResourceListener = (sample: ResourceSample, engineId: number | null) => void;
export type EngineEventListener = (event: EngineEvent) => void;

interface TrackedTask {
  handle: TaskHandle<unknown>;
  submission: TaskSubmission;
  buffers: Uint8Array[];
}

const SUBMIT_CHUNK = 2000;
let clientCounter = 0;

export class Cluster {
  private readonly tasks = new Map<string, TrackedTask>();
  private toSubmit: TrackedTask[] = [];
  private submitScheduled = false;
  private readonly engineTable = new EngineTable();
  private readonly resourceListeners = new Set<ResourceListener>();
  private readonly engineListeners = new Set<EngineEventListener>();
  private readonly taskIdPrefix: string;
  private taskCounter = 0;
  private searchCounter = 0;
  private subscribedTopics = new Set<SubscribeTopic>(['streams', 'reports', 'status', 'engines']);
  private closed = false;
  private fatal: string | null = null;
  private readonly log: (line: string) => void;
  private readonly output: OutputPrinter;
  private removeSigint: (() => void) | null = null;
  private exitHandler: (() => void) | null = null;
  private connection: ControllerConnection | null = null;
  /** set when this client started the cluster */
  private startedController: StartedController | null = null;
  /** what the controller and engines this client started write under ~/.hpcdl/clusters */
  private startedFiles: { workDir: string; connectionFile: string } | null = null;
  private supervisor: EngineSupervisor | null = null;
  private launcherId: string | null = null;
  private launchedCount = 0;
  /** what views send work through */
  private readonly submitter: TaskSubmitter;

  private constructor(
    readonly info: ConnectionInfo,
    private readonly file: string,
    private readonly opts: ConnectOptions,
  ) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.output = new OutputPrinter(opts.output);
    clientCounter += 1;
    this.taskIdPrefix = `${randomBytes(4).toString('hex')}${clientCounter > 1 ? clientCounter : ''}`;
    const cluster = this;
    this.submitter = {
      url: info.url,
      get engineIds() {
        return cluster.engineIds;
      },
      submit: (code, args, taskOpts, targets, idSuffix) => this.submitTask(code, args, taskOpts, targets, idSuffix),
      group: (handles) => new GroupHandle(handles, this),
    };
  }

  // ---------------------------------------------------------------- creation

  /** Join a running cluster by connection file path or cluster id (under ~/.hpcdl/clusters). */
  static async connect(fileOrId: string, opts: ConnectOptions = {}): Promise<Cluster> {
    const file = resolveConnectionFile(fileOrId, opts.profileDir);
    const info = readConnectionFile(file);
    const cluster = new Cluster(info, file, opts);
    await cluster.open(null);
    return cluster;
  }

  /** Start a controller and `engines` engines (local child processes by default) and connect to them. */
  static async start(opts: StartOptions = {}): Promise<Cluster> {
    // Loaded here, not at the top: Cluster.connect must not load the controller, its WebSocket server or the dashboard.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const local = require('./local/start-local') as typeof import('./local/start-local');
    const started = await local.startLocalController(opts);
    let cluster: Cluster | null = null;
    try {
      cluster = new Cluster(readConnectionFile(started.file), started.file, { ...opts, profileDir: started.profileDir });
      cluster.startedController = started.controller;
      cluster.startedFiles = { workDir: started.workDir, connectionFile: started.file };
      cluster.installExitHandler();
      await cluster.open(started.controller.dial);
      cluster.log(dashboardLine(cluster.clusterId, cluster.dashboardUrl));
      if (started.engines > 0) {
        const { supervisor, launcherId } = local.engineSupervisor(started, opts);
        cluster.supervisor = supervisor;
        cluster.launcherId = launcherId;
        started.controller.attachLauncher(launcherId, { kind: supervisor.launcher.kind, relaunch: (slot: number) => supervisor.launcher.relaunch(slot) });
        cluster.launchedCount = started.engines;
        await supervisor.start(started.engines);
        if (!opts.noWait) await cluster.waitForEngines(started.engines, started.timeoutMs);
      }
      return cluster;
    } catch (err) {
      if (cluster) await cluster.close().catch(() => undefined);
      else await started.controller.stop();
      throw err;
    }
  }

  private async open(dial: StartedController['dial']): Promise<void> {
    this.connection = new ControllerConnection(
      this.info,
      {
        onMessage: (msg) => this.onMessage(msg),
        onConnected: (reply, reconnected) => this.onConnected(reply, reconnected),
        onDisconnected: () => undefined,
        onFatal: (message) => this.onFatal(message),
      },
      { reconnectTimeoutMs: this.opts.reconnectTimeoutMs, persist: this.opts.persist, log: this.log, dial: dial ?? undefined, controllerGone: this.startedController ? () => this.startedController!.exitReason() : undefined },
    );
    await this.connection.open();
    if (this.opts.handleSigint !== false) this.removeSigint = installSigint(this, this.log);
    addInterruptible(this);
  }

  /**
   * Cancel the outstanding tasks of every cluster client in this process. The
   * hpcdl kernel runs this on a notebook interrupt (registered automatically
   * with its interrupt registry when a client connects).
   */
  static interruptAllClusters(): Promise<number> {
    return interruptAllClients();
  }

  /** Close every cluster client of this process; for clusters it started, stop their controller and engines. */
  static closeAll(): Promise<void> {
    return closeAllClients();
  }

  // ------------------------------------------------------------------ views

  get clusterId(): string {
    return this.info.cluster_id;
  }

  get url(): string {
    return this.info.url;
  }

  /** The web dashboard of this cluster (it carries the access token: share it as you would the connection file). */
  get dashboardUrl(): string {
    return this.info.dashboard_url;
  }

  /**
   * Show the dashboard link and a summary (engines, tasks by state) in the
   * notebook, or print them outside one; the returned object renders the
   * same as a cell's value.
   */
  async dashboard(): Promise<DashboardLink> {
    const link = new DashboardLink(this.clusterId, this.dashboardUrl, await this.controllerStatus());
    link.show(this.log);
    return link;
  }

  /** Connection file of this cluster (pass it to `Cluster.connect` or `hpcdl engine --connect`). */
  get connectionFile(): string {
    return this.file;
  }

  /** Bytes this client received from the controller so far (results, streams, reports). */
  get bytesReceived(): number {
    return this.connection?.bytesReceived ?? 0;
  }

  /** The controller's status (status_request): engines, tasks, wire counters such as `wire.bytes_received`. */
  async controllerStatus(): Promise<Record<string, unknown>> {
    return (await this.conn().request('status_request', {})).content as Record<string, unknown>;
  }

  /** Ids of the engines currently alive, ascending. */
  get engineIds(): number[] {
    return this.engineTable.aliveIds;
  }

  /** Run on each engine / broadcast values to all engines. */
  all(opts: TaskOptions = {}): DirectView {
    return new DirectView(this.submitter, null, opts);
  }

  /** One engine by id. */
  engine(id: number, opts: TaskOptions = {}): EngineView {
    return new EngineView(this.submitter, id, opts);
  }

  /** One model trained on N engines, Horovod style (see cluster/train): `await cluster.train({ config, engines: 2 })`. */
  train(opts: TrainingOptions): TrainingRun {
    return (require('../train/start-training') as typeof import('../train/start-training')).startTraining(this, opts); // loaded on use: it brings the training library
  }

  /** Load-balanced: submit, map, imap (as completed). */
  balanced(opts: TaskOptions = {}): BalancedView {
    return new BalancedView(this.submitter, opts);
  }

  /** A hyperparameter study on this cluster's engines (loaded on first use: it brings the HPO library). */
  search(opts: SearchOptions): StudyHandle {
    const study = (require('../search/start-search') as typeof import('../search/start-search')).startSearch(this, opts);
    const name = `search ${++this.searchCounter}`;
    this.startedController?.attachSearch(name, () => ({
      name,
      metric: study.metric,
      direction: study.direction,
      trials: study.trials.map((t) => ({ id: t.id, params: t.params, state: t.state, value: t.value })),
    }));
    return study;
  }

  /** The supervisor of engines this client started (replacement events), if any. */
  get engineSupervisor(): EngineSupervisor | null {
    return this.supervisor;
  }

  onReplacement(listener: (event: ReplacementEvent) => void): () => void {
    if (!this.supervisor) return () => undefined;
    return this.supervisor.onReplacement(listener);
  }

  /** The controller's current view of the engines. */
  async engines(): Promise<EngineSummary[]> {
    const reply = await this.conn().request('engines_request', {});
    const engines = reply.content.engines ?? [];
    this.engineTable.update(engines);
    return engines;
  }

  /** Wait until at least `count` engines are alive. */
  waitForEngines(count: number, timeoutMs = 60_000): Promise<void> {
    return this.engineTable.waitFor(
      count,
      timeoutMs,
      () => this.engines(),
      (alive) => `only ${alive} of ${count} engines registered with the controller at ${this.url} within ${timeoutMs / 1000} s${this.supervisor ? this.describeLaunchLogs() : ''}`,
    );
  }

  private describeLaunchLogs(): string {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (let slot = 0; slot < this.launchedCount; slot++) {
      const tail = this.supervisor!.launcher.recentLog(slot).slice(-3).join(' | ');
      if (tail && !seen.has(tail)) lines.push(`  engine ${slot}: ${tail}`);
      seen.add(tail);
    }
    return lines.length ? `\nrecent engine output:\n${lines.join('\n')}` : '';
  }

  // -------------------------------------------------------------- streams

  /** Node resource samples (1 Hz per engine). Returns an unsubscribe function. */
  onResources(listener: ResourceListener): () => void {
    this.resourceListeners.add(listener);
    if (!this.subscribedTopics.has('resources')) {
      this.subscribedTopics.add('resources');
      this.conn().send('subscribe_request', { topics: ['resources'] });
    }
    return () => {
      this.resourceListeners.delete(listener);
      if (this.resourceListeners.size === 0 && this.subscribedTopics.delete('resources')) {
        this.conn().send('unsubscribe_request', { topics: ['resources'] });
      }
    };
  }

  onEngineEvent(listener: EngineEventListener): () => void {
    this.engineListeners.add(listener);
    return () => this.engineListeners.delete(listener);
  }

  // ---------------------------------------------------------- submission

  private submitTask<T>(code: TaskCode, args: unknown[], opts: TaskOptions, targets: number[] | null, idSuffix = ''): TaskHandle<T> {
    if (this.closed) throw new Error('this cluster client is closed');
    if (this.fatal) throw new Error(this.fatal);
    const taskId = `${this.taskIdPrefix}-${++this.taskCounter}${idSuffix}`;
    const buffers: Uint8Array[] = [];
    let packedArgs;
    try {
      packedArgs = packInto(args, buffers);
    } catch (err) {
      throw new TypeError(`task arguments cannot be sent: ${(err as Error).message}`);
    }
    const submission: TaskSubmission = {
      task_id: taskId,
      ...code,
      args: packedArgs,
      targets,
      retries: opts.retries ?? 0,
      ...(opts.engineLosses !== undefined ? { engine_losses: opts.engineLosses } : {}),
      ...(opts.timeoutMs ? { timeout_ms: opts.timeoutMs } : {}),
      ...(opts.resources ? { resources: opts.resources } : {}),
      ...(opts.after?.length ? { after: opts.after.map((a) => (typeof a === 'string' ? a : a.taskId)) } : {}),
    };
    const handle = new TaskHandle<T>(taskId, this);
    this.track({ handle: handle as TaskHandle<unknown>, submission, buffers });
    return handle;
  }

  private track(task: TrackedTask): void {
    this.tasks.set(task.submission.task_id, task);
    this.toSubmit.push(task);
    if (!this.submitScheduled) {
      // A microtask, not setImmediate: a synchronous burst (map) still goes out as one
      // submit_request, and a lone submit leaves without waiting for the next loop turn.
      this.submitScheduled = true;
      queueMicrotask(() => this.flushSubmissions());
    }
  }

  private flushSubmissions(): void {
    this.submitScheduled = false;
    const batch = this.toSubmit;
    this.toSubmit = [];
    for (let i = 0; i < batch.length; i += SUBMIT_CHUNK) this.sendSubmissions(batch.slice(i, i + SUBMIT_CHUNK));
  }

  private sendSubmissions(chunk: TrackedTask[]): void {
    const buffers: Uint8Array[] = [];
    const tasks = chunk.map((t) => (t.buffers.length === 0 ? t.submission : { ...t.submission, args: relocatePacked(t.submission.args, t.buffers, buffers)! }));
    const conn = this.conn();
    if (!conn.connected) return; // resubmitted (as unknown) after the reconnect
    conn.request('submit_request', { tasks }, buffers, null).then(
      (reply) => this.onSubmitReply(reply.content),
      () => undefined, // connection lost: the reconnect's result_request finds them unknown and resubmits
    );
  }

  private onSubmitReply(reply: SubmitReply): void {
    for (const r of reply.rejected ?? []) {
      const t = this.tasks.get(r.task_id);
      if (!t) continue;
      this.applyResult({ task_id: r.task_id, status: 'error', error: { ename: 'TaskRejected', evalue: `the controller rejected the task: ${r.reason}`, traceback: [] } }, []);
    }
  }

  /** @internal cancel remote tasks (queued ones are dropped, running ones terminated on their engine) */
  async cancelTasks(taskIds: string[]): Promise<void> {
    const open = taskIds.filter((id) => this.tasks.has(id));
    if (open.length === 0) return;
    // Not yet sent: cancel locally.
    const unsent = new Set(this.toSubmit.map((t) => t.submission.task_id));
    this.toSubmit = this.toSubmit.filter((t) => !open.includes(t.submission.task_id));
    for (const id of open.filter((x) => unsent.has(x))) this.resolveCancelled(id, 'cancelled before it was sent');
    const remote = open.filter((id) => !unsent.has(id));
    if (remote.length === 0) return;
    const conn = this.conn();
    let reply: CancelReply | null = null;
    try {
      reply = (await conn.request('cancel_request', { task_ids: remote }, [], 10_000)).content;
    } catch (err) {
      if (this.closed) return;
      throw new Error(`cancel of ${remote.length} task(s) failed: ${(err as Error).message}`);
    }
    // The controller answers with task_result(cancelled); tasks it does not know are cancelled here.
    for (const id of reply.unknown ?? []) this.resolveCancelled(id, 'the controller did not know the task');
  }

  private resolveCancelled(taskId: string, why: string): void {
    this.applyResult({ task_id: taskId, status: 'cancelled', error: { ename: 'TaskCancelled', evalue: why, traceback: [] } }, []);
  }

  /** Ids of tasks submitted by this client and not finished. */
  get outstanding(): string[] {
    return [...this.tasks.keys()];
  }

  /**
   * Cancel every outstanding task of this client (the kernel layer calls this on
   * a notebook interrupt). Returns how many were cancelled.
   */
  async interruptAll(): Promise<number> {
    const ids = this.outstanding;
    if (ids.length) await this.cancelTasks(ids);
    return ids.length;
  }

  // ------------------------------------------------------------- incoming

  private async onConnected(reply: Message<'connect_reply'>, reconnected: boolean): Promise<void> {
    const content = reply.content;
    this.engineTable.reset(content.engines ?? []);
    this.engineTable.changed();
    const conn = this.conn();
    conn.send('subscribe_request', { topics: [...this.subscribedTopics] });
    if (!reconnected) return;
    // After a controller restart: fetch results we missed, resubmit what it never recorded.
    const ids = [...this.tasks.keys()].filter((id) => !this.toSubmit.some((t) => t.submission.task_id === id));
    if (ids.length === 0) return;
    try {
      const r = (await conn.request('result_request', { task_ids: ids }, [], 60_000)).content;
      const unknown = (r.unknown ?? []).map((id) => this.tasks.get(id)).filter((t): t is TrackedTask => !!t);
      if (unknown.length) {
        this.log(`hpcdl client: resubmitting ${unknown.length} task(s) the controller at ${this.url} did not record`);
        for (let i = 0; i < unknown.length; i += SUBMIT_CHUNK) this.sendSubmissions(unknown.slice(i, i + SUBMIT_CHUNK));
      }
    } catch (err) {
      this.log(`hpcdl client: could not recover task results after reconnecting: ${(err as Error).message}`);
    }
  }

  private onFatal(message: string): void {
    this.fatal = message;
    this.log(`hpcdl client: ${message}`);
    for (const id of [...this.tasks.keys()]) {
      this.applyResult({ task_id: id, status: 'error', error: { ename: 'ControllerLost', evalue: message, traceback: [] } }, []);
    }
  }

  /** Typed handlers of what the controller sends on its own (replies to requests are matched in connection.ts). */
  private readonly handlers: MessageHandlers = {
    task_result: (msg) => this.applyResult(msg.content, msg.buffers),
    task_stream: ({ content: c }) => {
      const t = this.tasks.get(c.task_id);
      if (!t) return;
      t.handle._stream(c.name, c.text, c.engine_id ?? null);
      this.output.write(c.task_id, c.name, c.text, c.engine_id ?? t.handle.engineId);
    },
    task_report: ({ content: c }) => this.tasks.get(c.task_id)?.handle._report(c.data, c.engine_id ?? null),
    task_status: ({ content: c }) => this.tasks.get(c.task_id)?.handle._status(c.state as TaskStatus, c.engine_id ?? null),
    engine_event: (msg) => this.onEngineEventMessage(msg.content),
    resources: ({ content: c }) => {
      for (const l of this.resourceListeners) l(c.sample, c.engine_id ?? null);
    },
    engines_reply: ({ content: c }) => {
      this.engineTable.update(c.engines ?? []);
      this.engineTable.changed();
    },
    error: ({ content: c }) => this.log(`hpcdl client: controller at ${this.url} reported ${c.ename}: ${c.evalue}`),
    // anything else: replies to fire-and-forget requests (subscribe_reply, ...)
  };

  private onMessage(msg: Message): void {
    onMessageType(msg, this.handlers);
  }

  private applyResult(result: TaskResult, buffers: Uint8Array[]): void {
    const tracked = this.tasks.get(result.task_id);
    if (!tracked) return; // not ours, or a duplicate of a result already applied
    let outcome: { ok: true; value: unknown } | { ok: false; error: RemoteTaskError };
    if (result.status === 'ok') {
      try {
        outcome = { ok: true, value: unpackFrom(result.value, buffers) };
      } catch (err) {
        outcome = { ok: false, error: new RemoteTaskError(result.task_id, { ename: 'DecodeError', evalue: (err as Error).message, traceback: [] }, result.engine_id ?? null) };
      }
    } else {
      const info = result.error ?? { ename: result.status === 'cancelled' ? 'TaskCancelled' : 'RemoteError', evalue: result.status, traceback: [] };
      outcome = { ok: false, error: new RemoteTaskError(result.task_id, info, result.engine_id ?? null) };
    }
    this.output.end(result.task_id, tracked.handle.engineId);
    this.tasks.delete(result.task_id);
    tracked.handle._resolve(outcome, result.engine_id ?? null);
  }

  private onEngineEventMessage(ev: EngineEvent): void {
    const known = this.engineTable.apply(ev);
    if (ev.event === 'registered') void this.engines().catch(() => undefined); // fetch labels/slots of the newcomer
    else if (ev.event === 'died') this.maybeReplace(ev, known);
    this.engineTable.changed();
    for (const l of this.engineListeners) l(ev);
  }

  /**
   * An engine of ours declared dead by the controller: srun/sbatch engines are
   * replaced now; a local engine whose process is still there (hung, stopped) is
   * killed, and its exit brings the replacement.
   */
  private maybeReplace(ev: EngineEvent, known: EngineSummary | undefined): void {
    if (!this.supervisor || !known || known.labels?.launcher !== this.launcherId) return;
    const slot = Number(known.labels.launch_slot ?? known.labels.slurm_procid);
    if (!Number.isInteger(slot)) return;
    const reason = `engine ${ev.engine_id} on ${ev.host} died${ev.reason ? ` (${ev.reason})` : ''}`;
    const launcher = this.supervisor.launcher;
    if (launcher.reportsExits) launcher.terminate?.(slot, known.pid, `the controller declared ${reason}`);
    else this.supervisor.engineExited({ launchSlot: slot, reason, restartable: true });
  }

  // ------------------------------------------------------------- shutdown

  private installExitHandler(): void {
    // Last resort if the process exits without close(): no orphan controller or engines.
    this.exitHandler = () => {
      this.supervisor?.killNow();
      this.startedController?.stopNow();
    };
    process.on('exit', this.exitHandler);
  }

  /**
   * Disconnect. For a cluster this client started, also stop its engines and
   * controller and wait until they exited.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    removeInterruptible(this);
    this.removeSigint?.();
    const started = this.startedController !== null;
    const conn = this.connection;
    if (started && conn?.connected) {
      await conn.request('shutdown_request', {}, [], 3000).catch(() => undefined);
    }
    conn?.close();
    if (this.supervisor) await this.supervisor.stop();
    await this.startedController?.stop();
    // A cluster closed by its client will not be resumed: its logs, journal and connection file go too.
    if (this.startedFiles) {
      // only a cluster this client started has files to remove; Cluster.connect never loads local/
      const { removeClusterFiles } = require('./local/leftovers') as typeof import('./local/leftovers');
      removeClusterFiles(this.startedFiles.workDir, this.startedFiles.connectionFile);
    }
    if (this.exitHandler) process.removeListener('exit', this.exitHandler);
    for (const id of [...this.tasks.keys()]) this.resolveCancelled(id, 'the client closed');
  }

  private conn(): ControllerConnection {
    const c = this.connection;
    if (!c) throw new Error('not connected');
    return c;
  }
}
