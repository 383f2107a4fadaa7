/**
 * The engine process: registers with the controller (slots, GPUs, node
 * resources, labels), heartbeats, runs task_requests in its TaskRunner and
 * streams output, reports and resources back. Results go through the
 * ResultLedger (./result-ledger.ts); the connection, with reconnection and
 * backoff when the controller goes away, is the shared Peer (a controller
 * restarted with --resume at the same URL gets the engine back, with its
 * running tasks and unsent results).
 */
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import { Peer, type PeerClose } from '../transport/peer';
import {
  CLOSE_CODES,
  describeClose,
  isMessageOf,
  makeMessage,
  packInto,
  unpackFrom,
  type EngineResources,
  type Message,
  type RegisterReply,
  type RegisterRequest,
  type TaskErrorInfo,
  type TaskKind,
  type TaskResult,
  type ConnectionInfo,
} from '../protocol';
import { ResourceSampler, describeNode } from './resources';
import { ResultLedger } from './result-ledger';
import { TaskRunner, type TaskOutcome } from './runner';

const TASK_KINDS: ReadonlySet<string> = new Set<TaskKind>(['module', 'source', 'share']);

export interface EngineOptions {
  connection: ConnectionInfo;
  slots: number;
  /** GPU indexes this engine owns (sets CUDA_VISIBLE_DEVICES for its tasks) */
  gpus?: number[];
  labels?: Record<string, string>;
  maxTaskMemoryMb?: number;
  resourceIntervalMs?: number;
  /** give up when the controller cannot be reached for this long (ms); default 120 s */
  reconnectTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Why the engine stopped: the exit code engineMain returns. */
export type EngineExit =
  | { code: 0; reason: 'shutdown' }
  | { code: 4; reason: 'refused'; message: string }
  | { code: 3; reason: 'unreachable'; message: string };

export class Engine {
  readonly uuid = randomUUID();
  readonly host = os.hostname();
  private engineId: number | null = null;
  private peer: Peer | null = null;
  private readonly runner: TaskRunner;
  private readonly sampler: ResourceSampler;
  private resources: EngineResources | null = null;
  private heartbeatMs = 1000;
  private stopping = false;
  private firstRegistered!: () => void;
  readonly registered = new Promise<void>((resolve) => (this.firstRegistered = resolve));
  private exitResolve!: (exit: EngineExit) => void;
  /** Resolves when the engine has stopped for good. */
  readonly exited = new Promise<EngineExit>((resolve) => (this.exitResolve = resolve));
  private readonly ledger: ResultLedger;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: EngineOptions) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    if (opts.gpus) process.env.CUDA_VISIBLE_DEVICES = opts.gpus.join(',');
    this.runner = new TaskRunner(
      { slots: opts.slots, host: this.host, engineId: () => this.engineId, maxTaskMemoryMb: opts.maxTaskMemoryMb, prewarm: true },
      {
        onStarted: (taskId) => this.ledger.noteStarted(taskId),
        onStream: (taskId, name, text) => this.send(makeMessage('task_stream', { task_id: taskId, name, text })),
        onReport: (taskId, data) => this.sendReport(taskId, data),
        onResult: (taskId, outcome) => this.sendResult(taskId, outcome),
      },
    );
    const engine = this;
    this.ledger = new ResultLedger(
      {
        get connected() {
          return engine.engineId !== null && engine.peer?.isOpen === true;
        },
        send: (msg) => this.send(msg),
        flush: () => this.peer?.flush(),
      },
      this.runner,
    );
    this.sampler = new ResourceSampler({ host: this.host, intervalMs: opts.resourceIntervalMs, taskUsage: () => this.runner.usage() });
  }

  get id(): number | null {
    return this.engineId;
  }

  private prefix(): string {
    return `[engine ${this.engineId ?? '?'} ${this.host}:${process.pid}]`;
  }

  async start(): Promise<void> {
    const node = await describeNode();
    // --gpus is trusted as given; CUDA_VISIBLE_DEVICES only narrows what nvidia-smi found.
    const visible = visibleDevices(process.env.CUDA_VISIBLE_DEVICES);
    const gpus = this.opts.gpus
      ? this.opts.gpus.map((index) => node.gpus.find((g) => g.index === index) ?? { index, name: `GPU ${index}`, memory_bytes: 0 })
      : visible
        ? node.gpus.filter((g) => visible.includes(g.index))
        : node.gpus;
    this.resources = { cpus: node.cpus, memory_bytes: node.memory_bytes, gpus };
    this.connect();
    this.sampler.start((sample) => {
      if (this.engineId !== null && this.peer?.isOpen) this.send(makeMessage('resources', { sample }));
    });
  }

  /** Stop: tell the controller, cancel running tasks, close the socket. */
  async stop(exit: EngineExit = { code: 0, reason: 'shutdown' }): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.sampler.stop();
    this.peer?.stopHeartbeat();
    await this.runner.close('engine shutting down');
    this.ledger.release();
    if (this.peer?.isOpen) this.send(makeMessage('engine_shutdown', {}));
    this.peer?.close(1000, 'engine stopping');
    this.exitResolve(exit);
  }

  private connect(): void {
    if (this.stopping) return;
    const url = this.opts.connection.url;
    this.peer = new Peer(
      {
        key: this.opts.connection.key,
        name: `controller at ${url}`,
        url,
        reconnect: { giveUpAfterMs: this.opts.reconnectTimeoutMs ?? 120_000, maxDelayMs: 3000, holdsProcess: true },
        logPrefix: () => this.prefix(),
        log: this.log,
      },
      {
        onOpen: () => this.register(),
        onMessages: (messages) => this.onMessages(messages),
        onClose: (close) => this.onClose(close),
        onRetry: (why, delayMs) => this.log(`${this.prefix()} ${why}; retrying in ${(delayMs / 1000).toFixed(1)} s`),
        onGiveUp: (why, waitedMs) => {
          const message = `${this.prefix()} ${why}; giving up after ${Math.round(waitedMs / 1000)} s`;
          this.log(message);
          void this.stop({ code: 3, reason: 'unreachable', message });
        },
      },
    );
    this.peer.start();
  }

  private register(): void {
    const labels: Record<string, string> = { ...slurmLabels(), ...(this.opts.labels ?? {}) };
    const content: RegisterRequest = {
      host: this.host,
      pid: process.pid,
      slots: this.opts.slots,
      resources: this.resources!,
      labels,
      engine_uuid: this.uuid,
      ...(this.engineId !== null ? { previous_id: this.engineId } : {}),
      running: this.runner.runningTaskIds(),
    };
    // Registration goes out alone (not batched) so the controller can check the key on it.
    this.peer!.sendNow(makeMessage('register_request', content));
  }

  private onClose(close: PeerClose): void {
    if (close.byUs || this.stopping) return;
    const url = this.opts.connection.url;
    if (close.refused) {
      const message = `${this.prefix()} ${describeClose(url, close.code, close.reason)}`;
      this.log(message);
      void this.stop({ code: 4, reason: 'refused', message });
      return;
    }
    if (close.code === CLOSE_CODES.shutdown) {
      this.log(`${this.prefix()} ${describeClose(url, close.code, close.reason)}; stopping`);
      this.peer!.close(); // no retry while the runner winds down
      void this.stop();
    }
  }

  private onMessages(messages: Message[]): void {
    for (const msg of messages) this.handle(msg);
    this.runner.dispatchNow(); // the tasks of this frame go to the workers now, not one event-loop turn later
  }

  private handle(msg: Message): void {
    if (isMessageOf(msg, 'task_request')) return this.onTaskRequest(msg);
    if (isMessageOf(msg, 'register_reply')) return this.onRegistered(msg.content);
    if (isMessageOf(msg, 'task_cancel')) {
      this.runner.cancel(String(msg.content.task_id), 'cancelled by the client');
      return;
    }
    if (isMessageOf(msg, 'shutdown_request')) {
      this.log(`${this.prefix()} shutdown requested by the controller`);
      void this.stop();
      return;
    }
    if (isMessageOf(msg, 'heartbeat_reply')) return;
    this.log(`${this.prefix()} ignoring unexpected ${msg.header.msg_type} from the controller`);
  }

  private onRegistered(reply: RegisterReply): void {
    const again = this.engineId !== null;
    this.engineId = reply.engine_id;
    this.heartbeatMs = reply.heartbeat_ms > 0 ? reply.heartbeat_ms : 1000;
    this.peer!.established();
    this.log(`${this.prefix()} ${again ? 're-registered' : 'registered'} with controller ${this.opts.connection.url} (cluster ${reply.cluster_id}, ${this.opts.slots} slots)`);
    this.startHeartbeat();
    this.ledger.resend(again);
    this.firstRegistered();
  }

  private startHeartbeat(): void {
    this.peer!.startHeartbeat({
      intervalMs: this.heartbeatMs,
      silentMs: 5 * this.heartbeatMs + 2000,
      beat: () => makeMessage('heartbeat', { running: this.runner.runningTaskIds().length }),
      onSilent: (silentForMs) => this.log(`${this.prefix()} no word from the controller at ${this.opts.connection.url} for ${silentForMs} ms; reconnecting`),
    });
  }

  private onTaskRequest(msg: Message<'task_request'>): void {
    const req = msg.content;
    if (this.runner.runningTaskIds().includes(req.task_id)) return; // re-dispatched after a controller restart; already running
    const done = this.ledger.sent(req.task_id);
    if (done) {
      this.send(done);
      return;
    }
    let args: unknown;
    try {
      args = unpackFrom(req.args, msg.buffers);
    } catch (err) {
      return this.sendResult(req.task_id, this.failure('BadArguments', `task arguments could not be decoded: ${(err as Error).message}`));
    }
    if (!TASK_KINDS.has(req.kind)) {
      return this.sendResult(req.task_id, this.failure('BadTask', `unknown task kind "${String(req.kind)}"`));
    }
    this.runner.submit({ ...req, args: Array.isArray(args) ? args : [args] });
  }

  private failure(ename: string, evalue: string): TaskOutcome {
    return { status: 'error', error: { ename, evalue, traceback: [] } };
  }

  private sendReport(taskId: string, data: Record<string, unknown>): void {
    // Reports are small metrics: typed arrays in them travel as JSON number arrays.
    const plain = JSON.parse(JSON.stringify(data, (_k, v) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v)));
    this.send(makeMessage('task_report', { task_id: taskId, data: plain }));
  }

  private sendResult(taskId: string, outcome: TaskOutcome): void {
    const buffers: Uint8Array[] = [];
    let content: TaskResult;
    if (outcome.status === 'ok') {
      try {
        content = { task_id: taskId, status: 'ok', value: packInto(outcome.value, buffers) };
      } catch (err) {
        buffers.length = 0;
        content = { task_id: taskId, status: 'error', error: this.errorInfo({ ename: 'SerializationError', evalue: `task result cannot be sent: ${(err as Error).message}`, traceback: [] }) };
      }
    } else {
      content = { task_id: taskId, status: outcome.status, error: this.errorInfo(outcome.error) };
    }
    this.ledger.record(content, buffers);
  }

  private errorInfo(error: TaskErrorInfo): TaskErrorInfo {
    return { ...error, engine_id: this.engineId ?? undefined, host: this.host };
  }

  private send(msg: Message): void {
    // Streams/reports while away are dropped (push says false); results go to the outbox.
    try {
      this.peer?.push(msg);
    } catch (err) {
      // Only a big payload sent alone gets here, so an oversized result fails only its own task.
      this.log(`${this.prefix()} could not send ${msg.header.msg_type}: ${(err as Error).message}`);
      if (isMessageOf(msg, 'task_result')) {
        const taskId = msg.content.task_id;
        const error = this.errorInfo({ ename: 'ResultTooLarge', evalue: `task ${taskId} result could not be sent: ${(err as Error).message}`, traceback: [] });
        const replacement = makeMessage('task_result', { task_id: taskId, status: 'error', error });
        this.ledger.remember(taskId, replacement);
        this.peer?.push(replacement);
      }
    }
  }
}

/**
 * GPU indexes from CUDA_VISIBLE_DEVICES (set by Slurm's --gpus-per-task, or by
 * hand); undefined when unset or not a list of indexes (e.g. GPU UUIDs).
 */
export function visibleDevices(env: string | undefined): number[] | undefined {
  if (env === undefined) return undefined;
  if (env.trim() === '' || env.trim() === '-1') return [];
  const parts = env.split(',').map((p) => p.trim());
  return parts.every((p) => /^\d+$/.test(p)) ? parts.map(Number) : undefined;
}

/** Slurm placement of this engine, as labels (empty outside Slurm). */
function slurmLabels(): Record<string, string> {
  const env = process.env;
  const labels: Record<string, string> = {};
  if (env.SLURM_JOB_ID) labels.slurm_job_id = env.SLURM_JOB_ID;
  if (env.SLURM_STEP_ID) labels.slurm_step_id = env.SLURM_STEP_ID;
  if (env.SLURM_PROCID) labels.slurm_procid = env.SLURM_PROCID;
  // Engines split over several batch jobs: job k starts at this launch slot.
  if (env.HPCDL_LAUNCH_SLOT_OFFSET && env.SLURM_PROCID) labels.launch_slot = String(Number(env.HPCDL_LAUNCH_SLOT_OFFSET) + Number(env.SLURM_PROCID));
  if (env.SLURMD_NODENAME) labels.slurm_node = env.SLURMD_NODENAME;
  if (env.HPCDL_ENGINE_LABELS) {
    try {
      Object.assign(labels, JSON.parse(env.HPCDL_ENGINE_LABELS));
    } catch {
      // a malformed label env is not worth refusing to start over; it is reported at startup by the CLI
    }
  }
  return labels;
}
