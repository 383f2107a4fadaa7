/**
 * The client API: `Cluster.start()` (local controller + engines) or
 * `Cluster.connect(fileOrId)`, views to send work (`all()`, `engine(id)`,
 * `balanced()`), handles, output/report/resource streams, interrupts.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  connectionFilePath,
  hpcdlHome,
  packInto,
  readConnectionFile,
  resolveConnectionFile,
  unpackFrom,
  type CancelReply,
  type ConnectReply,
  type ConnectionInfo,
  type EngineEvent,
  type EngineSummary,
  type Message,
  type ResourceSample,
  type ResultReply,
  type SubmitReply,
  type SubscribeTopic,
  type TaskResult,
  type TaskStatusContent,
  type TaskSubmission,
} from '../protocol';
import { LocalLauncher } from '../launchers/local';
import { SrunLauncher, SbatchLauncher, type SlurmLauncherOptions } from '../launchers/slurm';
import { EngineSupervisor, type ReplacementEvent } from '../launchers/supervisor';
import type { EngineLauncher } from '../launchers/types';
import { ControllerConnection } from './connection';
import { startController, type ControllerPlacement, type StartedController } from './started-controller';
import { GroupHandle, RemoteTaskError, TaskHandle, type TaskStatus } from './handles';
import { BalancedView, DirectView, EngineView, type TaskOptions } from './views';
import type { TrainingOptions, TrainingRun } from '../train/start-training';

/** 'none' and 'drop' are the same: task output stays on the handles only. */
export type OutputMode = 'print' | 'none' | 'drop' | ((line: string, stream: 'stdout' | 'stderr') => void);

export interface ConnectOptions {
  profileDir?: string;
  /** where task stdout/stderr goes besides the handles: printed with `[stdout:<engine>]` prefixes (default), dropped, or a callback per line */
  output?: OutputMode;
  /** cancel this client's remote tasks on SIGINT (default true) */
  handleSigint?: boolean;
  /** give up reconnecting after this long (ms, default 120 s) */
  reconnectTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface StartOptions extends ConnectOptions {
  /** number of engines (default: the core count) */
  engines?: number;
  /** tasks each engine runs at once (default 1) */
  slots?: number;
  /** where engines run (default 'local') */
  launcher?: 'local' | 'srun' | 'sbatch' | EngineLauncher;
  /** options of the srun/sbatch launchers */
  slurm?: SlurmLauncherOptions;
  clusterId?: string;
  /** controller bind address (default 127.0.0.1 for local engines; inside a Slurm job the node's interface; for sbatch from outside, this machine's first non-loopback IPv4) */
  ip?: string;
  port?: number;
  /** replacements of dead engines per launch slot (default 3) */
  maxReplacements?: number;
  /** extra `hpcdl engine` arguments */
  engineArgs?: string[];
  /** how long to wait for the controller and all engines (ms, default 60 s) */
  startTimeoutMs?: number;
  /** do not wait for the engines to register */
  noWait?: boolean;
  /**
   * where the controller runs: 'in-process' (default; lowest latency, stops with
   * this process) or 'process' (a separate `hpcdl controller` that keeps
   * dispatching while this process is busy with long synchronous work)
   */
  controller?: ControllerPlacement;
}

type TaskSpecInternal = { kind: 'module'; module: string; exportName: string } | { kind: 'source'; source: string };

/** A function to run remotely (its source is sent), a module export, or "path#export". */
export type TaskSpec = ((...args: any[]) => unknown) | { module: string; export?: string } | { source: string } | string;

export type ResourceListener = (sample: ResourceSample, engineId: number | null) => void;
export type EngineEventListener = (event: EngineEvent) => void;

interface TrackedTask {
  handle: TaskHandle<unknown>;
  submission: TaskSubmission;
  buffers: Uint8Array[];
}

const SUBMIT_CHUNK = 2000;
let clientCounter = 0;
/** Every connected client of this process (for a kernel-wide interrupt). */
const liveClusters = new Set<Cluster>();
/** The hpcdl kernel's interrupt registry (kernel/interrupt.ts): callbacks on globalThis under this well-known symbol. */
const KERNEL_INTERRUPT_REGISTRY = Symbol.for('hpcdl.kernel.interruptCallbacks');

export class Cluster {
  private readonly tasks = new Map<string, TrackedTask>();
  private toSubmit: TrackedTask[] = [];
  private submitScheduled = false;
  private readonly engineMap = new Map<number, EngineSummary>();
  private readonly resourceListeners = new Set<ResourceListener>();
  private readonly engineListeners = new Set<EngineEventListener>();
  private readonly engineWaiters = new Set<() => void>();
  private readonly taskIdPrefix: string;
  private taskCounter = 0;
  private subscribedTopics = new Set<SubscribeTopic>(['streams', 'reports', 'status', 'engines']);
  private closed = false;
  private fatal: string | null = null;
  private readonly log: (line: string) => void;
  private sigintHandler: (() => void) | null = null;
  private exitHandler: (() => void) | null = null;
  private lineBuffers = new Map<string, string>();
  /** set when this client started the cluster */
  private startedController: StartedController | null = null;
  private supervisor: EngineSupervisor | null = null;
  private launcherId: string | null = null;
  private launchedCount = 0;

  private constructor(
    private readonly connection: ControllerConnectionHolder,
    readonly info: ConnectionInfo,
    private readonly file: string,
    private readonly opts: ConnectOptions,
  ) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    clientCounter += 1;
    this.taskIdPrefix = `${randomBytes(4).toString('hex')}${clientCounter > 1 ? clientCounter : ''}`;
  }

  // ---------------------------------------------------------------- creation

  /** Join a running cluster by connection file path or cluster id (under ~/.hpcdl/clusters). */
  static async connect(fileOrId: string, opts: ConnectOptions = {}): Promise<Cluster> {
    const file = resolveConnectionFile(fileOrId, opts.profileDir);
    const info = readConnectionFile(file);
    const cluster = new Cluster(new ControllerConnectionHolder(), info, file, opts);
    await cluster.open(null);
    return cluster;
  }

  /** Start a controller and `engines` engines (local child processes by default) and connect to them. */
  static async start(opts: StartOptions = {}): Promise<Cluster> {
    const engines = opts.engines ?? os.cpus().length;
    if (!Number.isInteger(engines) || engines < 0) throw new RangeError(`Cluster.start: engines must be a non-negative integer, got ${opts.engines}`);
    const profileDir = hpcdlHome(opts.profileDir);
    const clusterId = opts.clusterId ?? `local-${randomBytes(4).toString('hex')}`;
    const timeoutMs = opts.startTimeoutMs ?? 60_000;
    const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const workDir = path.join(profileDir, 'clusters', clusterId);
    fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const placement = opts.controller ?? 'in-process';
    if (placement !== 'in-process' && placement !== 'process') throw new RangeError(`Cluster.start: controller must be 'in-process' or 'process', got ${JSON.stringify(placement)}`);
    const controller = await startController(placement, { clusterId, profileDir, ip: controllerAddress(opts, log), port: opts.port, workDir, timeoutMs });
    const file = connectionFilePath(clusterId, profileDir);
    let cluster: Cluster | null = null;
    try {
      cluster = new Cluster(new ControllerConnectionHolder(), readConnectionFile(file), file, { ...opts, profileDir });
      cluster.startedController = controller;
      cluster.installExitHandler();
      await cluster.open(controller.dial);
      if (engines > 0) await cluster.launchEngines(engines, opts, workDir, log);
      if (engines > 0 && !opts.noWait) await cluster.waitForEngines(engines, timeoutMs);
      return cluster;
    } catch (err) {
      if (cluster) await cluster.close().catch(() => undefined);
      else await controller.stop();
      throw err;
    }
  }

  private async launchEngines(count: number, opts: StartOptions, workDir: string, log: (l: string) => void): Promise<void> {
    const launcher = makeLauncher(opts);
    this.launcherId = `${this.info.cluster_id}-${launcher.kind}-${randomBytes(3).toString('hex')}`;
    this.supervisor = new EngineSupervisor(
      launcher,
      {
        connectionFile: this.file,
        slots: opts.slots ?? 1,
        launcherId: this.launcherId,
        workDir,
        engineArgs: opts.engineArgs,
        log,
      },
      { maxReplacements: opts.maxReplacements },
    );
    this.launchedCount = count;
    await this.supervisor.start(count);
  }

  private async open(dial: StartedController['dial']): Promise<void> {
    this.connection.conn = new ControllerConnection(
      this.info,
      {
        onMessage: (msg) => this.onMessage(msg),
        onConnected: (reply, reconnected) => this.onConnected(reply, reconnected),
        onDisconnected: () => undefined,
        onFatal: (message) => this.onFatal(message),
      },
      { reconnectTimeoutMs: this.opts.reconnectTimeoutMs, log: this.log, dial: dial ?? undefined, controllerGone: this.startedController ? () => this.startedController!.exitReason() : undefined },
    );
    await this.connection.conn.open();
    if (this.opts.handleSigint !== false) this.installSigint();
    liveClusters.add(this);
    registerKernelInterrupt();
  }

  /**
   * Cancel the outstanding tasks of every cluster client in this process. The
   * hpcdl kernel runs this on a notebook interrupt (registered automatically
   * with its interrupt registry when a client connects).
   */
  static async interruptAllClusters(): Promise<number> {
    const counts = await Promise.all([...liveClusters].map((c) => c.interruptAll().catch(() => 0)));
    return counts.reduce((a, b) => a + b, 0);
  }

  // ------------------------------------------------------------------ views

  get clusterId(): string {
    return this.info.cluster_id;
  }

  get url(): string {
    return this.info.url;
  }

  /** Connection file of this cluster (pass it to `Cluster.connect` or `hpcdl engine --connect`). */
  get connectionFile(): string {
    return this.file;
  }

  /** Bytes this client received from the controller so far (results, streams, reports). */
  get bytesReceived(): number {
    return this.connection.conn?.bytesReceived ?? 0;
  }

  /** The controller's status (status_request): engines, tasks, wire counters such as `wire.bytes_received`. */
  async controllerStatus(): Promise<Record<string, unknown>> {
    return (await this.conn().request('status_request', {})).content as Record<string, unknown>;
  }

  /** Ids of the engines currently alive, ascending. */
  get engineIds(): number[] {
    return [...this.engineMap.values()].filter((e) => e.state === 'alive').map((e) => e.engine_id).sort((a, b) => a - b);
  }

  /** Run on each engine / broadcast values to all engines. */
  all(opts: TaskOptions = {}): DirectView {
    return new DirectView(this, null, opts);
  }

  /** One engine by id. */
  engine(id: number, opts: TaskOptions = {}): EngineView {
    return new EngineView(this, id, opts);
  }

  /** One model trained on N engines, Horovod style (see cluster/train): `await cluster.train({ config, engines: 2 })`. */
  train(opts: TrainingOptions): TrainingRun {
    return (require('../train/start-training') as typeof import('../train/start-training')).startTraining(this, opts); // loaded on use: it brings the training library
  }

  /** Load-balanced: submit, map, imap (as completed). */
  balanced(opts: TaskOptions = {}): BalancedView {
    return new BalancedView(this, opts);
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
    const engines = (reply.content.engines ?? []) as EngineSummary[];
    for (const e of engines) this.engineMap.set(e.engine_id, e);
    return engines;
  }

  /** Wait until at least `count` engines are alive. */
  waitForEngines(count: number, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.engineIds.length >= count) {
          cleanup();
          resolve();
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        const logs = this.supervisor ? this.describeLaunchLogs() : '';
        reject(new Error(`only ${this.engineIds.length} of ${count} engines registered with the controller at ${this.url} within ${timeoutMs / 1000} s${logs}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.engineWaiters.delete(check);
      };
      if (!check()) {
        this.engineWaiters.add(check);
        void this.engines().then(() => check(), () => undefined);
      }
    });
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

  /** @internal used by views */
  _submit<T>(spec: TaskSpec, args: unknown[], opts: TaskOptions, targets: number[] | null, idSuffix = ''): TaskHandle<T> {
    if (this.closed) throw new Error('this cluster client is closed');
    if (this.fatal) throw new Error(this.fatal);
    const task = normaliseSpec(spec);
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
      kind: task.kind,
      ...(task.kind === 'module' ? { module: task.module, export: task.exportName } : { source: task.source }),
      args: packedArgs,
      targets,
      retries: opts.retries ?? 0,
      ...(opts.timeoutMs ? { timeout_ms: opts.timeoutMs } : {}),
      ...(opts.resources ? { resources: opts.resources } : {}),
      ...(opts.after?.length ? { after: opts.after.map((a) => (typeof a === 'string' ? a : a.taskId)) } : {}),
    };
    const handle = new TaskHandle<T>(taskId, this);
    this.track({ handle: handle as TaskHandle<unknown>, submission, buffers });
    return handle;
  }

  /** @internal */
  _group<T>(handles: TaskHandle<T>[]): GroupHandle<T> {
    return new GroupHandle(handles, this);
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
    const tasks = chunk.map((t) => {
      if (t.buffers.length === 0) return t.submission;
      // relocate this task's argument buffers into the message
      const offset = buffers.length;
      buffers.push(...t.buffers);
      return { ...t.submission, args: { $v: t.submission.args.$v, $b: t.submission.args.$b.map((b) => b + offset) } };
    });
    const conn = this.conn();
    if (!conn.connected) return; // resubmitted (as unknown) after the reconnect
    conn.request('submit_request', { tasks }, buffers, null).then(
      (reply) => this.onSubmitReply(reply.content as SubmitReply),
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
      reply = (await conn.request('cancel_request', { task_ids: remote }, [], 10_000)).content as CancelReply;
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

  private async onConnected(reply: Message, reconnected: boolean): Promise<void> {
    const content = reply.content as ConnectReply;
    this.engineMap.clear();
    for (const e of content.engines ?? []) this.engineMap.set(e.engine_id, e);
    this.notifyEngineWaiters();
    const conn = this.conn();
    conn.send('subscribe_request', { topics: [...this.subscribedTopics] });
    if (!reconnected) return;
    // After a controller restart: fetch results we missed, resubmit what it never recorded.
    const ids = [...this.tasks.keys()].filter((id) => !this.toSubmit.some((t) => t.submission.task_id === id));
    if (ids.length === 0) return;
    try {
      const r = (await conn.request('result_request', { task_ids: ids }, [], 60_000)).content as ResultReply;
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

  private onMessage(msg: Message): void {
    const c = msg.content;
    switch (msg.header.msg_type) {
      case 'task_result':
        return this.applyResult(c as TaskResult, msg.buffers);
      case 'task_stream': {
        const t = this.tasks.get(c.task_id);
        if (!t) return;
        t.handle._stream(c.name, c.text, c.engine_id ?? null);
        this.printStream(c.task_id, c.name, c.text, c.engine_id ?? t.handle.engineId);
        return;
      }
      case 'task_report':
        this.tasks.get(c.task_id)?.handle._report(c.data, c.engine_id ?? null);
        return;
      case 'task_status': {
        const s = c as TaskStatusContent;
        this.tasks.get(s.task_id)?.handle._status(s.state as TaskStatus, s.engine_id ?? null);
        return;
      }
      case 'engine_event':
        return this.onEngineEventMessage(c as EngineEvent);
      case 'resources':
        for (const l of this.resourceListeners) l(c.sample as ResourceSample, c.engine_id ?? null);
        return;
      case 'engines_reply':
        for (const e of (c.engines ?? []) as EngineSummary[]) this.engineMap.set(e.engine_id, e);
        this.notifyEngineWaiters();
        return;
      case 'error':
        this.log(`hpcdl client: controller at ${this.url} reported ${c.ename}: ${c.evalue}`);
        return;
      default:
        return; // replies to fire-and-forget requests (subscribe_reply, ...)
    }
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
    this.flushLine(result.task_id);
    this.tasks.delete(result.task_id);
    tracked.handle._resolve(outcome, result.engine_id ?? null);
  }

  private onEngineEventMessage(ev: EngineEvent): void {
    const known = this.engineMap.get(ev.engine_id);
    if (ev.event === 'registered') {
      this.engineMap.set(ev.engine_id, known ? { ...known, state: 'alive' } : ({ engine_id: ev.engine_id, host: ev.host, state: 'alive', labels: {} } as unknown as EngineSummary));
      void this.engines().catch(() => undefined); // fetch labels/slots of the newcomer
    } else {
      if (known) this.engineMap.set(ev.engine_id, { ...known, state: 'dead' });
      else this.engineMap.set(ev.engine_id, { engine_id: ev.engine_id, host: ev.host, state: 'dead', labels: {} } as unknown as EngineSummary);
      if (ev.event === 'died') this.maybeReplace(ev, known);
    }
    this.notifyEngineWaiters();
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

  private notifyEngineWaiters(): void {
    for (const w of [...this.engineWaiters]) w();
  }

  // --------------------------------------------------------------- output

  private printStream(taskId: string, name: 'stdout' | 'stderr', text: string, engineId: number | null): void {
    const mode = this.opts.output ?? 'print';
    if (mode === 'none' || mode === 'drop') return;
    const key = `${taskId}\u0000${name}`;
    const pending = (this.lineBuffers.get(key) ?? '') + text;
    const lines = pending.split('\n');
    const rest = lines.pop()!;
    if (rest) this.lineBuffers.set(key, rest);
    else this.lineBuffers.delete(key);
    const prefix = `[${name}:${engineId ?? '?'}] `;
    for (const line of lines) this.emitLine(prefix + line, name);
  }

  private flushLine(taskId: string): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const key = `${taskId}\u0000${name}`;
      const rest = this.lineBuffers.get(key);
      if (rest === undefined) continue;
      this.lineBuffers.delete(key);
      const engineId = this.tasks.get(taskId)?.handle.engineId ?? null;
      this.emitLine(`[${name}:${engineId ?? '?'}] ${rest}`, name);
    }
  }

  private emitLine(line: string, name: 'stdout' | 'stderr'): void {
    const mode = this.opts.output ?? 'print';
    if (typeof mode === 'function') mode(line, name);
    else if (mode === 'print') (name === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`);
  }

  // ------------------------------------------------------------- shutdown

  private installSigint(): void {
    this.sigintHandler = () => {
      const n = this.outstanding.length;
      const othersListen = process.listenerCount('SIGINT') > 1;
      if (n > 0) this.log(`hpcdl: interrupted; cancelling ${n} remote task(s)`);
      const cancelled = this.interruptAll().catch(() => 0);
      if (othersListen) return; // a kernel or app handles SIGINT itself; we only cancel our tasks
      void cancelled.then(() => this.close()).finally(() => process.exit(130));
    };
    process.on('SIGINT', this.sigintHandler);
  }

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
    liveClusters.delete(this);
    if (liveClusters.size === 0) unregisterKernelInterrupt();
    if (this.sigintHandler) process.removeListener('SIGINT', this.sigintHandler);
    const started = this.startedController !== null;
    const conn = this.connection.conn;
    if (started && conn?.connected) {
      await conn.request('shutdown_request', {}, [], 3000).catch(() => undefined);
    }
    conn?.close();
    if (this.supervisor) await this.supervisor.stop();
    await this.startedController?.stop();
    if (this.exitHandler) process.removeListener('exit', this.exitHandler);
    for (const id of [...this.tasks.keys()]) this.resolveCancelled(id, 'the client closed');
  }

  private conn(): ControllerConnection {
    const c = this.connection.conn;
    if (!c) throw new Error('not connected');
    return c;
  }
}

async function interruptFromKernel(): Promise<void> {
  const n = await Cluster.interruptAllClusters();
  if (n > 0) process.stderr.write(`hpcdl: interrupted; cancelled ${n} remote task(s)\n`);
}

function kernelRegistry(): Set<unknown> {
  const holder = globalThis as unknown as Record<symbol, Set<unknown> | undefined>;
  return (holder[KERNEL_INTERRUPT_REGISTRY] ??= new Set());
}

function registerKernelInterrupt(): void {
  kernelRegistry().add(interruptFromKernel);
}

function unregisterKernelInterrupt(): void {
  kernelRegistry().delete(interruptFromKernel);
}

class ControllerConnectionHolder {
  conn: ControllerConnection | null = null;
}

/** A function's source cannot change: map() over many items converts it once. */
const functionSpecs = new WeakMap<(...args: any[]) => unknown, TaskSpecInternal>();

function normaliseSpec(spec: TaskSpec): TaskSpecInternal {
  if (typeof spec === 'function') {
    let known = functionSpecs.get(spec);
    if (!known) functionSpecs.set(spec, (known = functionSpec(spec)));
    return known;
  }
  return normaliseDescription(spec);
}

function functionSpec(spec: (...args: any[]) => unknown): TaskSpecInternal {
  const source = spec.toString();
  if (/\{\s*\[native code\]\s*\}$/.test(source)) throw new TypeError('cannot send a native or bound function; pass a plain function or a module task');
  // Method shorthand (`foo(x) {...}`) is not an expression; make it one.
  const isExpression = /^(async\s+)?(function\b|\(|[A-Za-z_$][\w$]*\s*=>)/.test(source) || /^class\b/.test(source);
  return { kind: 'source', source: isExpression ? source : `function ${source}` };
}

function normaliseDescription(spec: Exclude<TaskSpec, (...args: any[]) => unknown>): TaskSpecInternal {
  if (typeof spec === 'string') {
    const hash = spec.lastIndexOf('#');
    const module = hash > 0 ? spec.slice(0, hash) : spec;
    const exportName = hash > 0 ? spec.slice(hash + 1) : 'default';
    return { kind: 'module', module: resolveModulePath(module), exportName };
  }
  if (spec && typeof spec === 'object' && 'source' in spec && typeof spec.source === 'string') {
    return { kind: 'source', source: spec.source };
  }
  if (spec && typeof spec === 'object' && 'module' in spec && typeof spec.module === 'string') {
    return { kind: 'module', module: resolveModulePath(spec.module), exportName: spec.export ?? 'default' };
  }
  throw new TypeError('a task is a function, {module, export}, {source}, or "path/to/module.ts#exportName"');
}

function resolveModulePath(module: string): string {
  if (module.startsWith('.') || module.startsWith('/')) {
    const abs = path.resolve(module);
    if (!fs.existsSync(abs)) throw new Error(`task module ${abs} does not exist`);
    return abs;
  }
  return module; // a package specifier, resolved on the engine
}

function makeLauncher(opts: StartOptions): EngineLauncher {
  const l = opts.launcher ?? 'local';
  if (typeof l !== 'string') return l;
  if (l === 'local') return new LocalLauncher();
  if (l === 'srun') return new SrunLauncher(opts.slurm);
  if (l === 'sbatch') return new SbatchLauncher(opts.slurm);
  throw new Error(`unknown launcher "${String(l)}" (expected local, srun or sbatch)`);
}

/**
 * Where the controller listens: an explicit `ip`; inside a Slurm job the
 * controller picks the node's interface itself; engines submitted with sbatch
 * from outside a job run elsewhere, so not loopback but this machine's first
 * non-loopback IPv4 address; local engines: 127.0.0.1.
 */
function controllerAddress(opts: StartOptions, log: (line: string) => void): string | undefined {
  if (opts.ip) return opts.ip;
  if (process.env.SLURM_JOB_ID) return undefined;
  const kind = typeof opts.launcher === 'object' ? opts.launcher.kind : (opts.launcher ?? 'local');
  if (kind !== 'sbatch') return '127.0.0.1';
  for (const name of Object.keys(os.networkInterfaces()).sort()) {
    for (const a of os.networkInterfaces()[name] ?? []) {
      if (a.family === 'IPv4' && !a.internal) {
        log(`hpcdl: engines will run as a batch job elsewhere; the controller listens on ${a.address} (${name}); pass ip to choose another address`);
        return a.address;
      }
    }
  }
  throw new Error('Cluster.start: the sbatch launcher needs an address compute nodes can reach, and this machine has no non-loopback IPv4 interface; pass ip');
}

