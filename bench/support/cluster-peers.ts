/**
 * Lightweight peers that speak the real hpcdl wire protocol, for controller
 * benchmarks (1,000 engines from one process) and protocol-level tests.
 *
 * LightEngine runs `source` tasks inline on the main thread (`this` is
 * {engineId, report(data), print(text)}): no worker
 * threads, so it cannot stop a running task (a cancel answers at once and the
 * late result is dropped) and a crashing task is its own problem. It is NOT
 * the hpcdl engine (cluster/engine); it exists to load the controller.
 *
 * LightClient is a bare protocol client: submit batches, collect results.
 */
import * as os from 'node:os';
import { randomUUID } from 'node:crypto';
import { Peer } from '../../cluster/transport/peer';
import {
  isMessageOf,
  makeMessage,
  newSession,
  packInto,
  readConnectionFile,
  unpackFrom,
  type ContentMap,
  type Key,
  type Message,
  type MessageType,
  type TaskSubmission,
} from '../../cluster/protocol';

type TaskFn = (...args: unknown[]) => unknown;

export interface LightEngineOptions {
  url: string;
  key: Key;
  /** connect from this local address (the scale run gives each simulated host its own 127.0.0.x) */
  localAddress?: string;
  slots?: number;
  host?: string;
  gpus?: { index: number; name: string; memory_bytes: number }[];
  cpus?: number;
  memoryBytes?: number;
  /** send heartbeats (default true) */
  heartbeat?: boolean;
  engineUuid?: string;
  previousId?: number;
  /** task ids reported as still running when registering (a reconnecting engine) */
  running?: string[];
}

export class LightEngine {
  engineId = -1;
  readonly uuid: string;
  readonly done: string[] = [];
  readonly received: { task_id: string; gpus?: number[] }[] = [];
  closeInfo: { code: number; reason: string } | null = null;
  private peer: Peer | null = null;
  private readonly fns = new Map<string, TaskFn>();
  private readonly queue: { task_id: string; fn: TaskFn; args: unknown[] }[] = [];
  private running = new Set<string>();
  private cancelled = new Set<string>();
  private readonly session = newSession();

  constructor(private readonly opts: LightEngineOptions) {
    this.uuid = opts.engineUuid ?? randomUUID();
  }

  /** Connect and register; resolves with the engine id. */
  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      const peer = new Peer(
        { key: this.opts.key, name: `controller at ${this.opts.url}`, url: this.opts.url, localAddress: this.opts.localAddress, session: this.session, logPrefix: () => 'light engine:' },
        {
          onOpen: () => {
            const content = {
              host: this.opts.host ?? os.hostname(),
              pid: process.pid,
              slots: this.opts.slots ?? 1,
              resources: { cpus: this.opts.cpus ?? 1, memory_bytes: this.opts.memoryBytes ?? 2 ** 30, gpus: this.opts.gpus ?? [] },
              labels: { kind: 'light' },
              engine_uuid: this.uuid,
              previous_id: this.opts.previousId,
              running: this.opts.running,
            };
            peer.sendNow(makeMessage('register_request', content, { session: this.session }));
          },
          onMessages: (messages) => {
            for (const msg of messages) {
              if (isMessageOf(msg, 'register_reply')) {
                this.engineId = msg.content.engine_id;
                if (this.opts.heartbeat !== false) {
                  // liveness is the controller's to judge here (a hung engine is a test case): beats only
                  peer.startHeartbeat({ intervalMs: msg.content.heartbeat_ms, silentMs: Infinity, beat: () => this.message('heartbeat', { running: this.running.size }) });
                }
                resolve(this.engineId);
              } else this.onMessage(msg);
            }
          },
          onClose: (close) => {
            this.closeInfo = { code: close.code, reason: close.reason };
            if (this.engineId < 0) reject(close.error ?? new Error(close.why));
          },
        },
      );
      this.peer = peer;
      peer.start();
    });
  }

  private message<T extends MessageType>(type: T, content: ContentMap[T], buffers?: Uint8Array[]): Message {
    return makeMessage<MessageType>(type, content, { session: this.session, buffers });
  }

  private send<T extends MessageType>(type: T, content: ContentMap[T], buffers?: Uint8Array[]): void {
    this.peer?.push(this.message(type, content, buffers));
  }

  private onMessage(msg: Message): void {
    if (isMessageOf(msg, 'task_request')) {
      const c = msg.content;
      this.received.push({ task_id: c.task_id, gpus: c.gpus });
      // a light engine runs source tasks only: any other kind fails when called
      const source = c.kind === 'source' ? c.source : 'undefined';
      let fn = this.fns.get(source);
      if (!fn) {
        fn = new Function(`return (${source});`)() as TaskFn;
        this.fns.set(source, fn);
      }
      this.queue.push({ task_id: c.task_id, fn, args: unpackFrom(c.args, msg.buffers) as unknown[] });
      this.pump();
    } else if (isMessageOf(msg, 'task_cancel')) {
      const taskId = msg.content.task_id;
      this.cancelled.add(taskId);
      // the inline function cannot be stopped; abandon it and free its slot
      this.running.delete(taskId);
      setImmediate(() => this.pump());
      this.send('task_result', { task_id: taskId, status: 'cancelled', error: { ename: 'CancelledError', evalue: 'cancelled', traceback: [] } });
    } else if (isMessageOf(msg, 'shutdown_request')) {
      this.close();
    }
  }

  private pump(): void {
    const slots = this.opts.slots ?? 1;
    while (this.running.size < slots && this.queue.length > 0) {
      const t = this.queue.shift()!;
      if (this.cancelled.has(t.task_id)) continue;
      this.running.add(t.task_id);
      this.send('task_started', { task_id: t.task_id });
      let out: unknown;
      const ctx = {
        engineId: this.engineId,
        report: (data: Record<string, unknown>) => this.send('task_report', { task_id: t.task_id, data }),
        print: (text: string, name: 'stdout' | 'stderr' = 'stdout') => this.send('task_stream', { task_id: t.task_id, name, text }),
      };
      try {
        out = t.fn.apply(ctx, t.args);
      } catch (err) {
        this.finish(t.task_id, err, true);
        continue;
      }
      if (out instanceof Promise) out.then((v) => this.finish(t.task_id, v, false), (e) => this.finish(t.task_id, e, true));
      else this.finish(t.task_id, out, false);
    }
  }

  private finish(taskId: string, value: unknown, failed: boolean): void {
    this.running.delete(taskId);
    if (!this.cancelled.has(taskId)) {
      if (failed) {
        const e = value as Error;
        this.send('task_result', { task_id: taskId, status: 'error', error: { ename: e?.name ?? 'Error', evalue: String(e?.message ?? e), traceback: [] } });
      } else {
        const buffers: Uint8Array[] = [];
        const packed = packInto(value, buffers);
        this.send('task_result', { task_id: taskId, status: 'ok', value: packed }, buffers);
      }
      this.done.push(taskId);
    }
    if (this.queue.length) setImmediate(() => this.pump());
  }

  /** Report a result for a task this engine adopted (reconnect tests). */
  sendResult(taskId: string, value: unknown): void {
    const buffers: Uint8Array[] = [];
    this.send('task_result', { task_id: taskId, status: 'ok', value: packInto(value, buffers) }, buffers);
  }

  /** Publish a resource sample as the real engine does at 1 Hz. */
  sendResources(sample: Record<string, unknown>): void {
    this.send('resources', { sample: { time_ms: Date.now(), ...sample } });
  }

  /** Send a raw, already-encoded frame (tests of bad input). */
  sendRaw(data: Buffer | string): void {
    this.peer?.sendRaw(data);
  }

  /** Send any message (even one no checked sender would build) signed with this connection's key: what a faulty peer that holds the key sends. */
  sendSigned(msg: Message): void {
    this.peer?.sendNow(msg);
  }

  close(): void {
    this.peer?.close();
  }

  /** Drop the connection without a close handshake (what a SIGKILL looks like from the controller). */
  kill(): void {
    this.peer?.stopHeartbeat();
    this.peer?.terminate();
  }

  /** Stop heartbeating but keep the socket open (a hung engine). */
  hang(): void {
    this.peer?.stopHeartbeat();
  }
}

export interface ResultMsg {
  task_id: string;
  status: 'ok' | 'error' | 'cancelled';
  value?: unknown;
  error?: { ename: string; evalue: string; engine_id?: number; host?: string };
  engine_id?: number;
}

export class LightClient {
  readonly session: string;
  readonly results = new Map<string, ResultMsg>();
  readonly events: Message[] = [];
  closeInfo: { code: number; reason: string } | null = null;
  duplicates = 0;
  private peer: Peer | null = null;
  private waiters = new Map<string, ((m: Message) => void)[]>();
  private resultWaiters = new Map<string, (r: ResultMsg) => void>();
  onResult: ((r: ResultMsg) => void) | null = null;

  constructor(
    private readonly url: string,
    private readonly key: Key,
    session?: string,
  ) {
    this.session = session ?? newSession();
  }

  async connect(): Promise<Message> {
    let opened!: () => void;
    let failed!: (err: Error) => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const closed = new Promise<never>((_, reject) => (failed = reject));
    closed.catch(() => {});
    this.peer = new Peer(
      { key: this.key, name: `controller at ${this.url}`, url: this.url, session: this.session, logPrefix: () => 'light client:' },
      {
        onOpen: () => opened(),
        onMessages: (messages) => {
          for (const msg of messages) this.onMessage(msg);
        },
        onClose: (close) => {
          this.closeInfo = { code: close.code, reason: close.reason };
          failed(new Error(close.error ? `cannot reach controller at ${this.url}: ${close.error.message}` : close.why));
        },
      },
    );
    this.peer.start();
    await Promise.race([open, closed]);
    return Promise.race([this.request('connect_request', { client_session: this.session }, 'connect_reply'), closed]);
  }

  private onMessage(msg: Message): void {
    const type = msg.header.msg_type;
    if (isMessageOf(msg, 'task_result')) {
      const c = msg.content;
      if (this.results.has(c.task_id)) {
        this.duplicates += 1;
        return;
      }
      const r: ResultMsg = { task_id: c.task_id, status: c.status, error: c.error, engine_id: c.engine_id };
      if (c.value) r.value = unpackFrom(c.value, msg.buffers);
      this.results.set(c.task_id, r);
      this.onResult?.(r);
      const w = this.resultWaiters.get(c.task_id);
      if (w) {
        this.resultWaiters.delete(c.task_id);
        w(r);
      }
      return;
    }
    const list = this.waiters.get(type);
    if (list && list.length && (type.endsWith('_reply'))) {
      list.shift()!(msg);
      return;
    }
    this.events.push(msg);
  }

  send<T extends MessageType>(type: T, content: ContentMap[T], buffers?: Uint8Array[]): void {
    this.peer!.push(makeMessage<MessageType>(type, content, { session: this.session, buffers }));
  }

  /** Send a request and resolve with the next reply of `replyType`. */
  request<T extends MessageType>(type: T, content: ContentMap[T], replyType: string, buffers?: Uint8Array[]): Promise<Message> {
    return new Promise((resolve) => {
      const list = this.waiters.get(replyType) ?? [];
      list.push(resolve);
      this.waiters.set(replyType, list);
      this.send(type, content, buffers);
    });
  }

  /** Submit tasks built from (id, source, args); returns the submit_reply content. */
  async submit(tasks: (Omit<Extract<TaskSubmission, { kind: 'source' }>, 'args' | 'kind'> & { args?: unknown[] })[]): Promise<any> {
    const buffers: Uint8Array[] = [];
    const list: TaskSubmission[] = tasks.map(({ args, ...t }) => ({ kind: 'source' as const, ...t, args: packInto(args ?? [], buffers) }));
    const reply = await this.request('submit_request', { tasks: list }, 'submit_reply', buffers);
    return reply.content;
  }

  result(taskId: string, timeoutMs = 20000): Promise<ResultMsg> {
    const have = this.results.get(taskId);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no result for task ${taskId} after ${timeoutMs} ms`)), timeoutMs);
      this.resultWaiters.set(taskId, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  /** Wait until an event message matching `pred` has arrived. */
  async waitEvent(pred: (m: Message) => boolean, timeoutMs = 10000): Promise<Message> {
    const t0 = Date.now();
    for (;;) {
      const m = this.events.find(pred);
      if (m) return m;
      if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting for an event');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  sendRaw(data: Buffer | string): void {
    this.peer?.sendRaw(data);
  }

  /** Send any message (even one no checked sender would build) signed with this connection's key: what a faulty peer that holds the key sends. */
  sendSigned(msg: Message): void {
    this.peer?.sendNow(msg);
  }

  close(): void {
    this.peer?.close();
  }
}

/**
 * Process entry: `cluster-peers engines --connect FILE --count N [--slots S] [--host NAME] [--local-address IP] [--resources-ms MS]`
 * hosts N lightweight engines in this process (for the 1,000-engine scale run).
 * Prints `registered N <ms>` once all are registered; exits when the controller
 * closes every connection or on SIGTERM.
 */
async function hostEngines(argv: string[]): Promise<void> {
  const flag = (name: string, dflt?: string): string => {
    const i = argv.indexOf(name);
    if (i >= 0 && argv[i + 1] !== undefined) return argv[i + 1];
    if (dflt === undefined) throw new Error(`missing ${name}`);
    return dflt;
  };
  const info = readConnectionFile(flag('--connect'));
  const count = Number(flag('--count', '1'));
  const slots = Number(flag('--slots', '1'));
  const host = flag('--host', os.hostname());
  const localAddress = argv.includes('--local-address') ? flag('--local-address') : undefined;
  const t0 = Date.now();
  const engines = Array.from({ length: count }, (_, i) => new LightEngine({ url: info.url, key: info.key, slots, host: `${host}-${process.pid}-${i}`, localAddress }));
  await Promise.all(engines.map((e) => e.start()));
  process.stdout.write(`registered ${count} ${Date.now() - t0}\n`);
  // --resources-ms N: each engine sends a node sample every N ms, shaped as the real engine's (load for the dashboard)
  const resourcesMs = Number(flag('--resources-ms', '0'));
  const sampler = resourcesMs > 0 ? setInterval(() => {
    engines.forEach((e, i) => e.sendResources({ host: `${host}-${i}`, cpu: { cores: [], total_percent: (i * 7 + Date.now() / 1000) % 100 }, memory: { total_bytes: 2 ** 34, available_bytes: 2 ** 33, used_bytes: 2 ** 33, percent: 50 }, network: { rx_bytes_per_s: 1e6, tx_bytes_per_s: 1e6 }, disk: { read_bytes_per_s: 0, write_bytes_per_s: 1e5 }, gpus: [], engine: { pid: process.pid, rss_bytes: 2 ** 26, cpu_percent: 1 }, tasks: [] }));
  }, resourcesMs) : null;
  const done = () => {
    if (sampler) clearInterval(sampler);
    for (const e of engines) e.close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.once('SIGTERM', done);
  process.once('SIGINT', done);
  const iv = setInterval(() => {
    const reported = engines.reduce((n, e) => n + e.done.length, 0);
    process.stdout.write(`done ${reported}\n`);
    if (engines.every((e) => e.closeInfo !== null)) {
      clearInterval(iv);
      process.exit(0);
    }
  }, 1000);
}

if (require.main === module && process.argv[2] === 'engines') {
  hostEngines(process.argv.slice(3)).catch((err) => {
    process.stderr.write(`cluster-peers: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
