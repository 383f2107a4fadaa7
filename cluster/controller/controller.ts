/**
 * The hpcdl controller: one process per cluster. Registers engines and
 * watches their heartbeats, queues and load-balances tasks, relays results,
 * output and reports, fans out resource samples, serves the REST API and the
 * dashboard on the same HTTP server as the WebSocket, and journals every
 * submission and result so that `--resume` loses nothing.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CLOSE_CODES,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  connectionFilePath,
  decodeMessages,
  generateKey,
  newSession,
  readConnectionFile,
  relocatePacked,
  writeConnectionFile,
  type ConnectionInfo,
  type EngineSummary,
  type Message,
  type PackedRef,
  type RegisterRequest,
  type ResourceRequest,
  type SubscribeTopic,
  type TaskErrorInfo,
  type TaskResultStatus,
  type TaskState,
  type TaskSubmission,
} from '../protocol';
import { handleDashboardRequest, type DashboardApi } from '../dashboard';
import { Journal } from './journal';
import { Outbox } from './outbox';
import { Scheduler, type SchedEngine, type SchedTask } from './scheduler';

export interface ControllerOptions {
  /** address to bind; default 127.0.0.1, or the node's primary interface inside a Slurm job */
  ip?: string;
  /** default 0 (any free port), or the previous port when resuming */
  port?: number;
  clusterId?: string;
  /** directory holding clusters/<id>.json (default $HPCDL_HOME or ~/.hpcdl) */
  profileDir?: string;
  /** replay the journal of an earlier controller of this cluster id and reuse its key and port */
  resume?: boolean;
  /** heartbeat interval told to engines (ms, default 500) */
  heartbeatMs?: number;
  /** an engine silent this long is declared dead (ms, default 2500) */
  engineTimeoutMs?: number;
  /** extra tasks an engine may hold beyond its slots when many are queued (default 64) */
  prefetch?: number;
  /** after --resume, wait this long for engines to come back before dispatching (ms, default 1500) */
  resumeGraceMs?: number;
  /** set false to run without a journal (no --resume possible) */
  journal?: boolean;
  /** samples kept per engine (default 600 = 10 min at 1 Hz) */
  resourceHistory?: number;
  /** stream/report messages kept for late subscribers (default 10000) */
  eventHistory?: number;
  /** finished tasks (and their results) kept in memory; the oldest are forgotten beyond this (default 1,000,000) */
  keepFinished?: number;
  /** an engine whose connection closed may re-register within this long and keep its tasks (ms, default 1000) */
  reconnectGraceMs?: number;
  /** grace after a task's own timeout before the controller gives up on the engine (ms, default 2000) */
  timeoutGraceMs?: number;
  maxMessageBytes?: number;
  log?: (line: string) => void;
}

interface StoredResult {
  status: TaskResultStatus;
  value?: PackedRef;
  buffers: Uint8Array[];
  error?: TaskErrorInfo;
  engine_id?: number;
  started_ms?: number;
  finished_ms: number;
}

interface Task extends SchedTask {
  id: string;
  state: TaskState;
  spec: Omit<TaskSubmission, 'args'>;
  args: PackedRef;
  argBuffers: Uint8Array[];
  owner: string | null;
  engineId: number | null;
  attempt: number;
  retriesLeft: number;
  waitingOn: number;
  dependents: string[] | null;
  submittedMs: number;
  startedMs: number | null;
  result: StoredResult | null;
  timer: NodeJS.Timeout | null;
  cancelRequested: boolean;
}

interface EngineInfo extends SchedEngine {
  uuid: string;
  host: string;
  pid: number;
  labels: Record<string, string>;
  peer: Peer;
  lastSeen: number;
  registeredMs: number;
  resourcesHistory: Record<string, unknown>[];
  diedMs: number | null;
  deathReason: string | null;
  tasksDone: number;
  /** set while the connection is closed but the engine may still come back */
  disconnectTimer: NodeJS.Timeout | null;
}

interface ClientInfo {
  session: string;
  peer: Peer | null;
  topics: Set<SubscribeTopic>;
  taskFilter: Set<string> | null;
}

interface Peer {
  ws: WebSocket;
  address: string;
  role: 'unknown' | 'engine' | 'client';
  authenticated: boolean;
  outbox: Outbox;
  engine: EngineInfo | null;
  client: ClientInfo | null;
}

const TERMINAL: ReadonlySet<TaskState> = new Set<TaskState>(['done', 'error', 'cancelled']);

function stateForStatus(status: TaskResultStatus): TaskState {
  return status === 'ok' ? 'done' : status;
}

/** First non-internal IPv4 address of this machine (what remote engines can reach). */
export function primaryAddress(): string | null {
  const nets = os.networkInterfaces();
  for (const name of Object.keys(nets).sort()) {
    for (const a of nets[name] ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

/** The bind address: explicit --ip, else inside a Slurm job the primary interface, else loopback. */
export function chooseBindAddress(ip: string | undefined, log: (s: string) => void): { bind: string; advertise: string } {
  if (ip && ip !== '*' && ip !== '0.0.0.0') return { bind: ip, advertise: ip };
  if (ip === '*' || ip === '0.0.0.0') {
    const advertise = primaryAddress() ?? '127.0.0.1';
    return { bind: '0.0.0.0', advertise };
  }
  if (process.env.SLURM_JOB_ID) {
    const addr = primaryAddress();
    if (addr) {
      log(`inside Slurm job ${process.env.SLURM_JOB_ID}: binding to ${addr} so engines on other nodes can connect (override with --ip)`);
      return { bind: addr, advertise: addr };
    }
    log('WARNING: inside a Slurm job but no non-loopback IPv4 interface found; binding 127.0.0.1, remote engines will not reach it');
  }
  return { bind: '127.0.0.1', advertise: '127.0.0.1' };
}

function errorInfo(ename: string, evalue: string, engine?: EngineInfo): TaskErrorInfo {
  return { ename, evalue, traceback: [], engine_id: engine?.id, host: engine?.host };
}

function base64(buffers: Uint8Array[]): string[] {
  return buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64'));
}

function fromBase64(list: unknown): Uint8Array[] {
  return Array.isArray(list) ? list.map((s) => new Uint8Array(Buffer.from(String(s), 'base64'))) : [];
}

function isPidAlive(pid: number): boolean {
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Controller {
  readonly clusterId: string;
  readonly key: string;
  readonly connectionFile: string;
  readonly journalFile: string | null;
  url = '';
  dashboardUrl = '';
  port = 0;
  readonly startedMs = Date.now();

  private readonly log: (line: string) => void;
  private readonly opts: Required<Omit<ControllerOptions, 'ip' | 'port' | 'clusterId' | 'profileDir' | 'log'>>;
  private readonly session = newSession();
  private readonly tasks = new Map<string, Task>();
  private readonly engines = new Map<number, EngineInfo>();
  private readonly deadEngines: EngineInfo[] = [];
  private readonly uuidToId = new Map<string, number>();
  private readonly clients = new Map<string, ClientInfo>();
  private readonly peers = new Set<Peer>();
  private readonly scheduler: Scheduler<Task>;
  private readonly counts: Record<TaskState, number> = { waiting: 0, queued: 0, running: 0, done: 0, error: 0, cancelled: 0 };
  private readonly events: { topic: 'streams' | 'reports'; task_id: string; type: 'task_stream' | 'task_report'; content: any }[] = [];
  private nextEngineId = 0;
  /** finished task ids, oldest first (head index instead of shift for O(1)) */
  private finishedOrder: string[] = [];
  private finishedHead = 0;
  forgotten = 0;
  private journal: Journal | null = null;
  private server: http.Server | null = null;
  private wss: WebSocketServer | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private dispatchScheduled = false;
  /** outboxes with queued items, flushed when the current incoming frame is fully handled */
  private readonly dirty = new Set<Outbox>();
  private dispatchWanted = false;
  private inFrame = false;
  /** true during the grace period after --resume, while engines find their way back */
  private resuming = false;
  private closed = false;
  private readonly dashboardToken: string;
  badMessages = 0;
  framesReceived = 0;
  messagesReceived = 0;
  /** resolves when a client asked the controller to shut down */
  readonly shutdownRequested: Promise<void>;
  private resolveShutdown!: () => void;

  private constructor(
    private readonly options: ControllerOptions,
    clusterId: string,
    key: string,
  ) {
    this.clusterId = clusterId;
    this.key = key;
    this.log = options.log ?? ((line) => process.stderr.write(`[hpcdl controller ${clusterId}] ${line}\n`));
    this.opts = {
      resume: options.resume ?? false,
      heartbeatMs: options.heartbeatMs ?? 500,
      engineTimeoutMs: options.engineTimeoutMs ?? 2500,
      prefetch: options.prefetch ?? 64,
      resumeGraceMs: options.resumeGraceMs ?? 1500,
      journal: options.journal ?? true,
      resourceHistory: options.resourceHistory ?? 600,
      eventHistory: options.eventHistory ?? 10000,
      timeoutGraceMs: options.timeoutGraceMs ?? 2000,
      reconnectGraceMs: options.reconnectGraceMs ?? 1000,
      keepFinished: options.keepFinished ?? 1_000_000,
      maxMessageBytes: options.maxMessageBytes ?? MAX_MESSAGE_BYTES,
    };
    this.connectionFile = connectionFilePath(clusterId, options.profileDir);
    this.journalFile = this.opts.journal ? this.connectionFile.replace(/\.json$/, '.journal.jsonl') : null;
    this.dashboardToken = createHmac('sha256', key).update('hpcdl-dashboard').digest('hex').slice(0, 32);
    this.scheduler = new Scheduler<Task>((engine, task) => this.sendTask(engine as EngineInfo, task), { prefetch: this.opts.prefetch });
    this.shutdownRequested = new Promise((resolve) => (this.resolveShutdown = resolve));
  }

  /** Start a controller: bind, replay the journal when resuming, write the connection file. */
  static async start(options: ControllerOptions = {}): Promise<Controller> {
    let clusterId = options.clusterId ?? `c${randomBytes(4).toString('hex')}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(clusterId)) {
      throw new Error(`--cluster-id must be 1-64 letters, digits, '.', '_' or '-' (got ${JSON.stringify(clusterId)})`);
    }
    const file = connectionFilePath(clusterId, options.profileDir);
    let key = generateKey();
    let port = options.port ?? 0;
    if (options.resume) {
      const previous = readConnectionFile(file);
      if (isPidAlive(previous.pid)) throw new Error(`cluster ${clusterId} is still served by controller pid ${previous.pid} (${file})`);
      key = previous.key;
      clusterId = previous.cluster_id;
      if (options.port === undefined) port = Number(new URL(previous.url).port);
    } else if (fs.existsSync(file)) {
      let previousPid = 0;
      try {
        previousPid = readConnectionFile(file).pid;
      } catch {
        // unreadable old file: overwritten below
      }
      if (isPidAlive(previousPid)) {
        throw new Error(`cluster ${clusterId} is already running (controller pid ${previousPid}, ${file}); use another --cluster-id or stop it`);
      }
    }
    const controller = new Controller(options, clusterId, key);
    await controller.open(port);
    return controller;
  }

  private async open(port: number): Promise<void> {
    if (this.journalFile) {
      fs.mkdirSync(path.dirname(this.journalFile), { recursive: true, mode: 0o700 });
      if (this.opts.resume) this.replayJournal(this.journalFile);
      this.journal = new Journal(this.journalFile, { truncate: !this.opts.resume }, (err) => this.log(err.message));
      this.journal.append({ r: 'start', time: new Date().toISOString(), cluster_id: this.clusterId, pid: process.pid, version: PROTOCOL_VERSION });
    }
    const { bind, advertise } = chooseBindAddress(this.options.ip, this.log);
    this.server = http.createServer((req, res) => handleDashboardRequest(req, res, this.dashboardApi()));
    this.wss = new WebSocketServer({ server: this.server, maxPayload: this.opts.maxMessageBytes + 1024 * 1024, perMessageDeflate: false });
    this.wss.on('connection', (ws, req) => this.onConnection(ws, req));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new Error(`controller cannot listen on ${bind}:${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`));
      };
      this.server!.once('error', onError);
      this.server!.listen(port, bind, () => {
        this.server!.off('error', onError);
        resolve();
      });
    });
    this.port = (this.server.address() as { port: number }).port;
    const host = advertise.includes(':') ? `[${advertise}]` : advertise;
    this.url = `ws://${host}:${this.port}`;
    this.dashboardUrl = `http://${host}:${this.port}/?token=${this.dashboardToken}`;
    const info: ConnectionInfo = {
      url: this.url,
      cluster_id: this.clusterId,
      key: this.key,
      signature_scheme: 'hmac-sha256',
      protocol_version: PROTOCOL_VERSION,
      pid: process.pid,
      dashboard_url: this.dashboardUrl,
      created: new Date().toISOString(),
    };
    writeConnectionFile(this.connectionFile, info);
    this.watchdog = setInterval(() => this.checkHeartbeats(), Math.max(100, Math.floor(this.opts.heartbeatMs / 2)));
    this.watchdog.unref();
    if (this.opts.resume) {
      this.resuming = true;
      this.scheduler.setPaused(true);
      setTimeout(() => {
        this.resuming = false;
        this.scheduler.setPaused(false);
        this.requestDispatch();
      }, this.opts.resumeGraceMs).unref();
    }
    this.log(`listening on ${this.url} (dashboard ${this.dashboardUrl}); connection file ${this.connectionFile}`);
  }

  // -------------------------------------------------------------------------
  // connections
  // -------------------------------------------------------------------------

  private onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const address = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const peer: Peer = {
      ws,
      address,
      role: 'unknown',
      authenticated: false,
      outbox: new Outbox(ws, this.key, this.session, (err) => this.log(`send to ${address} failed: ${err.message}`), (o) => this.dirty.add(o)),
      engine: null,
      client: null,
    };
    this.peers.add(peer);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => this.onData(peer, data, isBinary));
    ws.on('close', () => this.onClose(peer));
    ws.on('error', (err) => this.log(`connection ${address}: ${err.message}`));
  }

  private onData(peer: Peer, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    let messages: Message[];
    try {
      if (!isBinary) throw new ProtocolError('malformed', 'text WebSocket frame (protocol messages are binary)');
      messages = decodeMessages(data as Buffer, this.key, { maxBytes: this.opts.maxMessageBytes });
    } catch (err) {
      this.onBadMessage(peer, err);
      return;
    }
    peer.authenticated = true;
    this.framesReceived += 1;
    this.messagesReceived += messages.length;
    if (peer.engine) peer.engine.lastSeen = Date.now();
    this.inFrame = true;
    for (const msg of messages) {
      try {
        this.handle(peer, msg);
      } catch (err) {
        this.badMessages += 1;
        this.log(`dropped ${msg.header.msg_type} from ${peer.address}: ${(err as Error).message}`);
      }
    }
    this.inFrame = false;
    // Dispatch what became runnable right away; the outboxes flush in this
    // loop iteration's check phase (setImmediate), so every frame read in one
    // poll phase is answered with one batch per peer.
    if (this.dispatchWanted) {
      this.dispatchWanted = false;
      this.scheduler.dispatch();
    }
  }

  private flushDirty(): void {
    if (this.dirty.size === 0) return;
    for (const o of this.dirty) o.flush();
    this.dirty.clear();
  }

  private onBadMessage(peer: Peer, err: unknown): void {
    this.badMessages += 1;
    const reason = err instanceof ProtocolError ? err.reason : 'malformed';
    const detail = (err as Error).message;
    this.log(`dropped message from ${peer.address} (${reason}): ${detail}`);
    if (peer.authenticated) return;
    if (reason === 'signature') {
      this.log(`refusing ${peer.address}: bad key`);
      peer.ws.close(CLOSE_CODES.authError, 'bad key');
    } else if (reason === 'version') {
      peer.ws.close(CLOSE_CODES.versionMismatch, detail.slice(0, 120));
    }
  }

  private onClose(peer: Peer): void {
    if (this.peers.delete(peer)) this.framesSentByClosed += peer.outbox.sentMessages;
    if (peer.engine && peer.engine.alive && peer.engine.peer === peer) this.engineDisconnected(peer.engine, peer);
    if (peer.client && peer.client.peer === peer) peer.client.peer = null;
  }

  private handle(peer: Peer, msg: Message): void {
    const type = msg.header.msg_type;
    if (peer.role === 'unknown') {
      if (type === 'register_request') return this.onRegister(peer, msg);
      if (type === 'connect_request') return this.onConnect(peer, msg);
      throw new Error(`expected register_request or connect_request first, got ${type}`);
    }
    if (peer.role === 'engine') return this.handleEngine(peer, peer.engine!, msg);
    return this.handleClient(peer, peer.client!, msg);
  }

  // -------------------------------------------------------------------------
  // engines
  // -------------------------------------------------------------------------

  private onRegister(peer: Peer, msg: Message<RegisterRequest>): void {
    const c = msg.content;
    const slots = Math.max(1, Math.floor(Number(c.slots) || 1));
    const resources = {
      cpus: Number(c.resources?.cpus) || 0,
      memory_bytes: Number(c.resources?.memory_bytes) || 0,
      gpus: Array.isArray(c.resources?.gpus) ? c.resources.gpus : [],
    };
    const id = this.engineIdFor(c);
    const existing = this.engines.get(id);
    if (existing && existing.alive && existing.uuid === c.engine_uuid && existing.pid === c.pid) return this.reviveEngine(existing, peer, msg);
    if (existing) this.engineDied(existing, 'replaced by a new registration', 'unregistered');
    const engine: EngineInfo = {
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
    peer.role = 'engine';
    peer.engine = engine;
    this.engines.set(id, engine);
    this.uuidToId.set(engine.uuid, id);
    this.journal?.append({ r: 'engine', engine_id: id, uuid: engine.uuid, host: engine.host, pid: engine.pid });
    peer.outbox.push('register_reply', { engine_id: id, heartbeat_ms: this.opts.heartbeatMs, cluster_id: this.clusterId }, undefined, msg.header.msg_id);
    this.adoptRunningTasks(engine, c.running);
    this.scheduler.addEngine(engine);
    this.log(`engine ${id} registered from ${peer.address} (host ${engine.host}, pid ${engine.pid}, ${slots} slot(s), ${resources.gpus.length} GPU(s))`);
    this.broadcastEngineEvent({ event: 'registered', engine_id: id, host: engine.host });
    this.requestDispatch();
  }

  /**
   * A closed connection: a killed engine, or a network blip. Stop sending it
   * work at once; declare it dead unless it re-registers within the grace.
   */
  private engineDisconnected(engine: EngineInfo, peer: Peer): void {
    if (this.closed) return;
    if (this.opts.reconnectGraceMs <= 0) return this.engineDied(engine, 'connection closed', 'died');
    this.scheduler.detach(engine.id);
    engine.disconnectTimer = setTimeout(() => {
      engine.disconnectTimer = null;
      if (engine.peer === peer) this.engineDied(engine, 'connection closed', 'died');
    }, this.opts.reconnectGraceMs);
    engine.disconnectTimer.unref();
  }

  /** The same engine process came back within the grace: keep its id and what it still runs. */
  private reviveEngine(engine: EngineInfo, peer: Peer, msg: Message<RegisterRequest>): void {
    if (engine.disconnectTimer) clearTimeout(engine.disconnectTimer);
    engine.disconnectTimer = null;
    const old = engine.peer;
    engine.peer = peer;
    engine.lastSeen = Date.now();
    peer.role = 'engine';
    peer.engine = engine;
    if (old !== peer && old.ws.readyState === old.ws.OPEN) old.ws.close(CLOSE_CODES.unregistered, 'replaced by a new connection of the same engine');
    peer.outbox.push('register_reply', { engine_id: engine.id, heartbeat_ms: this.opts.heartbeatMs, cluster_id: this.clusterId }, undefined, msg.header.msg_id);
    const running = new Set(Array.isArray(msg.content.running) ? msg.content.running.map(String) : []);
    // Tasks it no longer runs may have finished (the engine re-sends those results) or been lost:
    // queue them again; whichever result comes first wins.
    for (const taskId of [...engine.assigned]) {
      if (running.has(taskId)) continue;
      const task = this.tasks.get(taskId);
      this.scheduler.release(engine, task, taskId);
      if (!task || TERMINAL.has(task.state)) continue;
      this.clearTimer(task);
      task.engineId = null;
      this.setState(task, 'queued');
      this.scheduler.enqueue(task);
    }
    this.adoptRunningTasks(engine, [...running].filter((id) => !engine.assigned.has(id)));
    this.scheduler.addEngine(engine);
    this.log(`engine ${engine.id} (host ${engine.host}) reconnected from ${peer.address}, still running ${running.size} task(s)`);
    this.requestDispatch();
  }

  private engineIdFor(c: RegisterRequest): number {
    const known = this.uuidToId.get(c.engine_uuid);
    if (known !== undefined) return known;
    const prev = c.previous_id;
    if (typeof prev === 'number' && Number.isInteger(prev) && prev >= 0 && !this.engines.has(prev) && ![...this.uuidToId.values()].includes(prev)) {
      this.nextEngineId = Math.max(this.nextEngineId, prev + 1);
      return prev;
    }
    return this.nextEngineId++;
  }

  /** After a controller restart an engine tells us which tasks it is still running. */
  private adoptRunningTasks(engine: EngineInfo, running: unknown): void {
    if (!Array.isArray(running)) return;
    for (const id of running) {
      const task = this.tasks.get(String(id));
      if (!task || TERMINAL.has(task.state) || task.state === 'running') continue;
      this.setState(task, 'running');
      task.engineId = engine.id;
      task.startedMs = Date.now();
      this.scheduler.markAssigned(engine, task);
    }
  }

  private handleEngine(peer: Peer, engine: EngineInfo, msg: Message): void {
    const c = msg.content;
    switch (msg.header.msg_type) {
      case 'heartbeat':
        peer.outbox.push('heartbeat_reply', {});
        return;
      case 'task_started':
        return this.onTaskStarted(engine, c.task_id);
      case 'task_stream':
        return this.relayEvent('streams', 'task_stream', { task_id: c.task_id, name: c.name, text: c.text, engine_id: engine.id });
      case 'task_report':
        return this.relayEvent('reports', 'task_report', { task_id: c.task_id, data: c.data, engine_id: engine.id });
      case 'task_result':
        return this.onEngineResult(engine, msg);
      case 'resources':
        return this.onResources(engine, c.sample);
      case 'engine_shutdown':
        this.engineDied(engine, 'engine shut down', 'unregistered');
        return;
      default:
        throw new Error(`engine ${engine.id} sent ${msg.header.msg_type}, which engines may not send`);
    }
  }

  private checkHeartbeats(): void {
    const now = Date.now();
    for (const engine of this.engines.values()) {
      if (now - engine.lastSeen > this.opts.engineTimeoutMs) {
        this.engineDied(engine, `no heartbeat for ${now - engine.lastSeen} ms`, 'died');
        engine.peer.ws.terminate();
      }
    }
  }

  private engineDied(engine: EngineInfo, reason: string, event: 'died' | 'unregistered'): void {
    if (!engine.alive) return;
    if (engine.disconnectTimer) clearTimeout(engine.disconnectTimer);
    engine.disconnectTimer = null;
    this.scheduler.removeEngine(engine.id);
    if (this.engines.get(engine.id) === engine) this.engines.delete(engine.id);
    engine.diedMs = Date.now();
    engine.deathReason = reason;
    this.deadEngines.push(engine);
    if (this.deadEngines.length > 1000) this.deadEngines.shift();
    this.log(`engine ${engine.id} (host ${engine.host}, pid ${engine.pid}) ${event === 'died' ? 'died' : 'unregistered'}: ${reason}`);
    for (const taskId of [...engine.assigned]) {
      engine.assigned.delete(taskId);
      const task = this.tasks.get(taskId);
      if (!task || TERMINAL.has(task.state)) continue;
      this.clearTimer(task);
      task.reservedGpus = null;
      const what = `engine ${engine.id} on ${engine.host} (pid ${engine.pid}) ${event === 'died' ? 'died' : 'went away'} (${reason})`;
      if (task.allowed && ![...task.allowed].some((id) => this.engines.has(id))) {
        this.finish(task, { status: 'error', error: errorInfo('EngineError', `${what} while task ${task.id} was assigned to it, and no other target engine is alive`, engine), buffers: [], finished_ms: Date.now() });
      } else if (task.state === 'running') {
        this.retryOrFail(task, engine, errorInfo('EngineError', `${what} while running task ${task.id}`, engine));
      } else {
        task.engineId = null;
        this.setState(task, 'queued');
        this.scheduler.enqueue(task);
      }
    }
    this.failOrphanedTargets(engine);
    this.broadcastEngineEvent({ event, engine_id: engine.id, host: engine.host, reason });
    this.requestDispatch();
  }

  /** Queued tasks pinned to engines that are all gone can never run: fail them now. */
  private failOrphanedTargets(engine: EngineInfo): void {
    if (this.resuming) return;
    const orphaned = [...this.scheduler.targetedQueued()].filter((t) => t.allowed!.has(engine.id) && ![...t.allowed!].some((id) => this.engines.has(id)));
    for (const task of orphaned) {
      const error = errorInfo('EngineError', `task ${task.id} was targeted at engine ${[...task.allowed!].join(', ')}, which is gone (engine ${engine.id} on ${engine.host}: ${engine.deathReason})`, engine);
      this.finish(task, { status: 'error', error, buffers: [], finished_ms: Date.now() });
    }
  }

  private onResources(engine: EngineInfo, sample: Record<string, unknown>): void {
    const h = engine.resourcesHistory;
    h.push(sample);
    if (h.length > this.opts.resourceHistory) h.splice(0, h.length - this.opts.resourceHistory);
    const content = { sample, engine_id: engine.id };
    for (const client of this.clients.values()) {
      if (client.peer && client.topics.has('resources')) client.peer.outbox.push('resources', content);
    }
  }

  // -------------------------------------------------------------------------
  // tasks
  // -------------------------------------------------------------------------

  private sendTask(engine: EngineInfo, task: Task): void {
    task.engineId = engine.id;
    task.attempt += 1;
    const buffers: Uint8Array[] = [];
    const args = relocatePacked(task.args, task.argBuffers, buffers);
    const s = task.spec;
    const content: Record<string, unknown> = { task_id: task.id, kind: s.kind, args, attempt: task.attempt };
    if (s.module !== undefined) content.module = s.module;
    if (s.export !== undefined) content.export = s.export;
    if (s.source !== undefined) content.source = s.source;
    if (s.timeout_ms !== undefined) content.timeout_ms = s.timeout_ms;
    if (task.reservedGpus && task.reservedGpus.length) content.gpus = task.reservedGpus;
    engine.peer.outbox.push('task_request', content, buffers);
  }

  private onTaskStarted(engine: EngineInfo, taskId: string): void {
    const task = this.tasks.get(taskId);
    if (!task || TERMINAL.has(task.state) || task.engineId !== engine.id) return;
    this.setState(task, 'running');
    task.startedMs = Date.now();
    const timeout = task.spec.timeout_ms;
    if (timeout && timeout > 0) {
      task.timer = setTimeout(() => this.onTimeoutBackstop(task, engine), timeout + this.opts.timeoutGraceMs);
      task.timer.unref();
    }
    this.notifyStatus(task);
  }

  private onTimeoutBackstop(task: Task, engine: EngineInfo): void {
    task.timer = null;
    if (TERMINAL.has(task.state) || task.engineId !== engine.id) return;
    if (engine.alive) engine.peer.outbox.push('task_cancel', { task_id: task.id });
    const error = errorInfo('TaskTimeout', `task ${task.id} exceeded its timeout of ${task.spec.timeout_ms} ms on engine ${engine.id} (${engine.host}) and the engine did not stop it`, engine);
    this.finish(task, { status: 'error', error, buffers: [], engine_id: engine.id, started_ms: task.startedMs ?? undefined, finished_ms: Date.now() });
  }

  private onEngineResult(engine: EngineInfo, msg: Message): void {
    const c = msg.content;
    const taskId = String(c.task_id);
    const task = this.tasks.get(taskId);
    this.scheduler.release(engine, task, taskId);
    engine.tasksDone += 1;
    this.requestDispatch();
    if (!task || TERMINAL.has(task.state)) return;
    const status: TaskResultStatus = c.status === 'ok' || c.status === 'cancelled' ? c.status : 'error';
    if (task.engineId !== engine.id) {
      // a late result from an engine the task has moved away from: a success
      // settles it (and stops the other copy), a failure is ignored
      if (status !== 'ok') return;
      const other = task.engineId !== null ? this.engines.get(task.engineId) : undefined;
      if (other && other.assigned.has(task.id)) other.peer.outbox.push('task_cancel', { task_id: task.id });
    }
    this.clearTimer(task);
    if (status === 'error' && task.retriesLeft > 0 && !task.cancelRequested) {
      this.retryOrFail(task, engine, c.error);
      return;
    }
    const buffers: Uint8Array[] = [];
    const value = c.value ? relocatePacked(c.value, msg.buffers, buffers) : undefined;
    const error = c.error ? { ...c.error, engine_id: c.error.engine_id ?? engine.id, host: c.error.host ?? engine.host } : undefined;
    this.finish(task, { status, value, buffers, error, engine_id: engine.id, started_ms: c.started_ms ?? task.startedMs ?? undefined, finished_ms: c.finished_ms ?? Date.now() });
  }

  private retryOrFail(task: Task, engine: EngineInfo, error: TaskErrorInfo): void {
    if (task.retriesLeft > 0 && !task.cancelRequested) {
      task.retriesLeft -= 1;
      (task.blacklist ??= new Set()).add(engine.id);
      task.engineId = null;
      this.log(`retrying task ${task.id} (attempt ${task.attempt + 1}) away from engine ${engine.id}: ${error.ename}: ${error.evalue}`);
      this.setState(task, 'queued');
      this.scheduler.enqueue(task);
      this.requestDispatch();
      return;
    }
    this.finish(task, { status: 'error', error, buffers: [], engine_id: engine.id, started_ms: task.startedMs ?? undefined, finished_ms: Date.now() });
  }

  private clearTimer(task: Task): void {
    if (task.timer) clearTimeout(task.timer);
    task.timer = null;
  }

  private setState(task: Task, state: TaskState): void {
    this.counts[task.state] -= 1;
    task.state = state;
    this.counts[state] += 1;
  }

  private finish(task: Task, result: StoredResult, journal = true): void {
    if (TERMINAL.has(task.state)) return;
    this.clearTimer(task);
    task.result = result;
    this.setState(task, stateForStatus(result.status));
    // the arguments are no longer needed once a task is finished
    task.argBuffers = [];
    task.args = { $v: null, $b: [] };
    if (journal && this.journal) {
      this.journal.append({
        r: 'result',
        task_id: task.id,
        status: result.status,
        value: result.value,
        bufs: result.buffers.length ? base64(result.buffers) : undefined,
        error: result.error,
        engine_id: result.engine_id,
        started_ms: result.started_ms,
        finished_ms: result.finished_ms,
      });
    }
    this.sendResultToOwner(task);
    this.notifyStatus(task, true);
    this.releaseDependents(task);
    this.rememberFinished(task.id);
  }

  /** Bound memory on very long runs: forget the oldest finished tasks beyond --keep-finished. */
  private rememberFinished(id: string): void {
    this.finishedOrder.push(id);
    while (this.finishedOrder.length - this.finishedHead > this.opts.keepFinished) {
      const old = this.tasks.get(this.finishedOrder[this.finishedHead]);
      this.finishedHead += 1;
      if (old && TERMINAL.has(old.state)) {
        this.tasks.delete(old.id);
        this.counts[old.state] -= 1;
        this.forgotten += 1;
      }
    }
    if (this.finishedHead > 65536 && this.finishedHead * 2 > this.finishedOrder.length) {
      this.finishedOrder = this.finishedOrder.slice(this.finishedHead);
      this.finishedHead = 0;
    }
  }

  private resultContent(task: Task): Record<string, unknown> {
    const r = task.result!;
    const content: Record<string, unknown> = { task_id: task.id, status: r.status };
    if (r.value) content.value = r.value;
    if (r.error) content.error = r.error;
    if (r.engine_id !== undefined) content.engine_id = r.engine_id;
    if (r.started_ms !== undefined) content.started_ms = r.started_ms;
    content.finished_ms = r.finished_ms;
    return content;
  }

  private sendResultToOwner(task: Task): void {
    if (!task.owner) return;
    const client = this.clients.get(task.owner);
    if (client?.peer) client.peer.outbox.push('task_result', this.resultContent(task), task.result!.buffers);
  }

  private releaseDependents(task: Task): void {
    if (!task.dependents) return;
    const dependents = task.dependents;
    task.dependents = null;
    for (const id of dependents) {
      const dep = this.tasks.get(id);
      if (!dep || dep.state !== 'waiting') continue;
      if (task.state !== 'done') {
        const error = errorInfo('DependencyError', `task ${dep.id} depends on task ${task.id}, which ended with status ${task.result!.status}`);
        this.finish(dep, { status: 'error', error, buffers: [], finished_ms: Date.now() });
        continue;
      }
      dep.waitingOn -= 1;
      if (dep.waitingOn === 0) {
        this.setState(dep, 'queued');
        this.scheduler.enqueue(dep);
        this.requestDispatch();
      }
    }
  }

  private requestDispatch(): void {
    if (this.closed) return;
    if (this.inFrame) {
      this.dispatchWanted = true;
      return;
    }
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.scheduler.dispatch();
      this.flushDirty();
    });
  }

  /** task_status to 'status' subscribers; `skipOwner` when the owner already gets the task_result. */
  private notifyStatus(task: Task, skipOwner = false): void {
    if (this.clients.size === 0) return;
    for (const client of this.clients.values()) {
      if (!client.peer || !client.topics.has('status')) continue;
      if (skipOwner && client.session === task.owner) continue;
      if (client.taskFilter && !client.taskFilter.has(task.id)) continue;
      client.peer.outbox.push('task_status', { task_id: task.id, state: task.state, engine_id: task.engineId ?? undefined, attempt: task.attempt });
    }
  }

  private relayEvent(topic: 'streams' | 'reports', type: 'task_stream' | 'task_report', content: Record<string, any>): void {
    const task = this.tasks.get(content.task_id);
    this.events.push({ topic, task_id: content.task_id, type, content });
    if (this.events.length > this.opts.eventHistory) this.events.splice(0, this.events.length - this.opts.eventHistory);
    const owner = task?.owner ? this.clients.get(task.owner) : undefined;
    if (owner?.peer) owner.peer.outbox.push(type, content);
    for (const client of this.clients.values()) {
      if (client === owner || !client.peer || !client.topics.has(topic)) continue;
      if (client.taskFilter && !client.taskFilter.has(content.task_id)) continue;
      client.peer.outbox.push(type, content);
    }
  }

  private broadcastEngineEvent(content: Record<string, unknown>): void {
    for (const client of this.clients.values()) client.peer?.outbox.push('engine_event', content);
  }

  /** Create a task from a submission (already validated). Returns null when the id is known. */
  private addTask(sub: TaskSubmission, argBuffers: Uint8Array[], owner: string | null, journal: boolean): Task | null {
    if (this.tasks.has(sub.task_id)) return null;
    const { args, ...spec } = sub;
    const task: Task = {
      id: sub.task_id,
      state: 'waiting',
      spec,
      args,
      argBuffers,
      owner,
      engineId: null,
      attempt: 0,
      retriesLeft: Math.max(0, Math.floor(sub.retries ?? 0)),
      waitingOn: 0,
      dependents: null,
      submittedMs: Date.now(),
      startedMs: null,
      result: null,
      timer: null,
      cancelRequested: false,
      resources: hasResourceRequest(sub.resources) ? sub.resources! : null,
      allowed: Array.isArray(sub.targets) ? new Set(sub.targets) : null,
      blacklist: null,
      reservedGpus: null,
    };
    this.tasks.set(task.id, task);
    this.counts.waiting += 1;
    if (journal && this.journal) {
      this.journal.append({ r: 'submit', owner, task: { ...spec, args }, bufs: argBuffers.length ? base64(argBuffers) : undefined });
    }
    return task;
  }

  /** Wire up `after` dependencies and queue the task if it can run. */
  private activate(task: Task): void {
    for (const depId of task.spec.after ?? []) {
      const dep = this.tasks.get(depId);
      if (!dep) continue;
      if (dep.state === 'done') continue;
      if (TERMINAL.has(dep.state)) {
        const error = errorInfo('DependencyError', `task ${task.id} depends on task ${dep.id}, which ended with status ${dep.result!.status}`);
        this.finish(task, { status: 'error', error, buffers: [], finished_ms: Date.now() });
        return;
      }
      task.waitingOn += 1;
      (dep.dependents ??= []).push(task.id);
    }
    if (task.waitingOn === 0) {
      this.setState(task, 'queued');
      this.scheduler.enqueue(task);
    }
  }

  // -------------------------------------------------------------------------
  // clients
  // -------------------------------------------------------------------------

  private onConnect(peer: Peer, msg: Message): void {
    const session = String(msg.content.client_session);
    let client = this.clients.get(session);
    if (client) {
      if (client.peer && client.peer !== peer) client.peer.ws.close(1000, 'replaced by a new connection of the same session');
      client.peer = peer;
    } else {
      client = { session, peer, topics: new Set(), taskFilter: null };
      this.clients.set(session, client);
    }
    peer.role = 'client';
    peer.client = client;
    peer.outbox.push('connect_reply', { cluster_id: this.clusterId, engines: this.engineSummaries(), protocol_version: PROTOCOL_VERSION }, undefined, msg.header.msg_id);
    this.log(`client ${session} connected from ${peer.address}`);
  }

  private handleClient(peer: Peer, client: ClientInfo, msg: Message): void {
    const c = msg.content;
    const parent = msg.header.msg_id;
    switch (msg.header.msg_type) {
      case 'submit_request':
        return this.onSubmit(peer, client, msg);
      case 'cancel_request': {
        const ids = stringList(c.task_ids, 'cancel_request.task_ids');
        peer.outbox.push('cancel_reply', this.cancel(ids), undefined, parent);
        return;
      }
      case 'result_request':
        return this.onResultRequest(peer, stringList(c.task_ids, 'result_request.task_ids'), parent);
      case 'status_request':
        peer.outbox.push('status_reply', this.statusReply(c.task_ids), undefined, parent);
        return;
      case 'subscribe_request':
        return this.onSubscribe(peer, client, c, parent);
      case 'unsubscribe_request':
        for (const t of stringList(c.topics ?? [], 'unsubscribe_request.topics')) client.topics.delete(t as SubscribeTopic);
        peer.outbox.push('subscribe_reply', { topics: [...client.topics] }, undefined, parent);
        return;
      case 'engines_request':
        peer.outbox.push('engines_reply', { engines: this.engineSummaries() }, undefined, parent);
        return;
      case 'shutdown_request':
        this.log(`shutdown requested by client ${client.session} (${peer.address})`);
        peer.outbox.push('shutdown_reply', { cluster_id: this.clusterId }, undefined, parent);
        peer.outbox.flush();
        this.resolveShutdown();
        return;
      default:
        throw new Error(`client sent ${msg.header.msg_type}, which clients may not send`);
    }
  }

  private onSubmit(peer: Peer, client: ClientInfo, msg: Message): void {
    const list = msg.content.tasks as unknown[];
    const accepted: string[] = [];
    const rejected: { task_id: string; reason: string }[] = [];
    const expanded: Record<string, string[]> = {};
    const created: Task[] = [];
    for (let i = 0; i < list.length; i++) {
      const raw = list[i] as TaskSubmission;
      const problem = validateSubmission(raw, i, msg.buffers.length);
      if (problem) {
        rejected.push({ task_id: String((raw as { task_id?: unknown })?.task_id ?? `#${i}`), reason: problem });
        continue;
      }
      const argBuffers: Uint8Array[] = [];
      const args = relocatePacked(raw.args, msg.buffers, argBuffers)!;
      if (raw.targets === 'all') {
        const ids: string[] = [];
        for (const engineId of [...this.engines.keys()].sort((a, b) => a - b)) {
          const copy = { ...raw, args, task_id: `${raw.task_id}@${engineId}`, targets: [engineId] };
          const task = this.addTask(copy, argBuffers, client.session, true);
          if (task) created.push(task);
          ids.push(copy.task_id);
        }
        if (ids.length === 0) {
          rejected.push({ task_id: raw.task_id, reason: 'targets "all" but no engine is registered' });
          continue;
        }
        expanded[raw.task_id] = ids;
        accepted.push(...ids);
        continue;
      }
      if (Array.isArray(raw.targets) && !this.resuming && !raw.targets.some((id) => this.engines.has(id))) {
        rejected.push({ task_id: raw.task_id, reason: `none of the target engines ${JSON.stringify(raw.targets)} is registered` });
        continue;
      }
      const unknownDep = (raw.after ?? []).find((id) => !this.tasks.has(id) && !list.some((t) => (t as TaskSubmission)?.task_id === id));
      if (unknownDep !== undefined) {
        rejected.push({ task_id: raw.task_id, reason: `depends on unknown task ${unknownDep}` });
        continue;
      }
      const task = this.addTask({ ...raw, args }, argBuffers, client.session, true);
      if (task) created.push(task);
      else this.adoptOwnership(raw.task_id, client);
      accepted.push(raw.task_id);
    }
    for (const task of created) this.activate(task);
    if (rejected.length) this.log(`client ${client.session}: rejected ${rejected.length} task(s), first: ${rejected[0].task_id}: ${rejected[0].reason}`);
    this.requestDispatch();
    const reply = { accepted, rejected, expanded };
    const parent = msg.header.msg_id;
    const send = () => peer.outbox.push('submit_reply', reply, undefined, parent);
    if (this.journal) void this.journal.durable().then(send);
    else send();
  }

  /** A resubmission after a reconnect: route the result to the client that asks now. */
  private adoptOwnership(taskId: string, client: ClientInfo): void {
    const task = this.tasks.get(taskId);
    if (!task) return;
    task.owner = client.session;
    if (task.result) this.sendResultToOwner(task);
  }

  private cancel(ids: string[]): { cancelled: string[]; unknown: string[] } {
    const cancelled: string[] = [];
    const unknown: string[] = [];
    for (const id of ids) {
      const task = this.tasks.get(id);
      if (!task) {
        unknown.push(id);
        continue;
      }
      if (TERMINAL.has(task.state)) continue;
      task.cancelRequested = true;
      const engine = task.engineId !== null ? this.engines.get(task.engineId) : undefined;
      if (engine && engine.assigned.has(task.id)) engine.peer.outbox.push('task_cancel', { task_id: task.id });
      const error = errorInfo('TaskCancelled', `task ${task.id} was cancelled${task.state === 'running' ? ` while running on engine ${task.engineId}` : ''}`, engine);
      this.finish(task, { status: 'cancelled', error, buffers: [], engine_id: engine?.id, finished_ms: Date.now() });
      cancelled.push(id);
    }
    return { cancelled, unknown };
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
        if (task.result) peer.outbox.push('task_result', this.resultContent(task), task.result.buffers);
        else pending.push(id);
      }
    }
    peer.outbox.push('result_reply', { pending, unknown }, undefined, parent);
  }

  private onSubscribe(peer: Peer, client: ClientInfo, c: Record<string, any>, parent: string): void {
    const topics = stringList(c.topics, 'subscribe_request.topics');
    const valid = ['resources', 'reports', 'streams', 'engines', 'status'];
    const bad = topics.find((t) => !valid.includes(t));
    if (bad) throw new Error(`unknown subscription topic ${bad} (valid: ${valid.join(', ')})`);
    for (const t of topics) client.topics.add(t as SubscribeTopic);
    client.taskFilter = Array.isArray(c.task_ids) ? new Set(stringList(c.task_ids, 'subscribe_request.task_ids')) : null;
    peer.outbox.push('subscribe_reply', { topics: [...client.topics] }, undefined, parent);
    if (!c.history) return;
    for (const e of this.events) {
      if (!topics.includes(e.topic)) continue;
      if (client.taskFilter && !client.taskFilter.has(e.task_id)) continue;
      peer.outbox.push(e.type, e.content);
    }
    if (topics.includes('resources')) {
      for (const engine of this.engines.values()) for (const sample of engine.resourcesHistory) peer.outbox.push('resources', { sample, engine_id: engine.id });
    }
  }

  // -------------------------------------------------------------------------
  // journal replay
  // -------------------------------------------------------------------------

  private replayJournal(file: string): void {
    const { records, skipped } = Journal.replay(file);
    for (const s of skipped) this.log(`journal ${file}:${s.line}: skipped unreadable record (${s.text.slice(0, 60)}...)`);
    const created: Task[] = [];
    let results = 0;
    for (const rec of records) {
      if (rec.r === 'submit' && rec.task?.task_id) {
        const task = this.addTask(rec.task, fromBase64(rec.bufs), rec.owner ?? null, false);
        if (task) created.push(task);
      } else if (rec.r === 'result') {
        const task = this.tasks.get(rec.task_id);
        if (!task || task.result) continue;
        task.result = {
          status: rec.status,
          value: rec.value,
          buffers: fromBase64(rec.bufs),
          error: rec.error,
          engine_id: rec.engine_id,
          started_ms: rec.started_ms,
          finished_ms: rec.finished_ms ?? 0,
        };
        this.setState(task, stateForStatus(rec.status));
        task.args = { $v: null, $b: [] };
        task.argBuffers = [];
        results += 1;
        this.rememberFinished(task.id);
      } else if (rec.r === 'engine' && Number.isInteger(rec.engine_id)) {
        this.uuidToId.set(String(rec.uuid), rec.engine_id);
        this.nextEngineId = Math.max(this.nextEngineId, rec.engine_id + 1);
      }
    }
    for (const task of created) if (task.state === 'waiting') this.activate(task);
    this.log(`resumed from ${file}: ${this.tasks.size} task(s), ${results} result(s), ${this.counts.queued + this.counts.waiting} to run again`);
  }

  // -------------------------------------------------------------------------
  // status, REST
  // -------------------------------------------------------------------------

  engineSummaries(): EngineSummary[] {
    return [...this.engines.values()]
      .sort((a, b) => a.id - b.id)
      .map((e) => ({
        engine_id: e.id,
        host: e.host,
        pid: e.pid,
        slots: e.slots,
        running: e.assigned.size,
        resources: e.resources,
        labels: e.labels,
        state: 'alive' as const,
      }));
  }

  status(): Record<string, unknown> {
    const mem = process.memoryUsage();
    return {
      cluster_id: this.clusterId,
      url: this.url,
      pid: process.pid,
      uptime_s: (Date.now() - this.startedMs) / 1000,
      engines: { alive: this.engines.size, dead: this.deadEngines.length, slots: [...this.engines.values()].reduce((n, e) => n + e.slots, 0) },
      clients: [...this.clients.values()].filter((c) => c.peer).length,
      tasks: { total: this.tasks.size, ...this.counts, forgotten: this.forgotten },
      queue: { plain: this.scheduler.queuedPlain, constrained: this.scheduler.queuedConstrained },
      journal: this.journal ? { file: this.journalFile, records: this.journal.records, bytes: this.journal.bytes } : null,
      bad_messages: this.badMessages,
      wire: { frames_received: this.framesReceived, messages_received: this.messagesReceived, frames_sent: this.framesSent },
      memory: { rss: mem.rss, heap_used: mem.heapUsed },
    };
  }

  private statusReply(ids: unknown): Record<string, unknown> {
    const tasks = Array.isArray(ids)
      ? ids.map((id) => {
          const t = this.tasks.get(String(id));
          return t ? { task_id: t.id, state: t.state, engine_id: t.engineId ?? undefined, attempt: t.attempt } : { task_id: String(id), state: 'unknown' };
        })
      : undefined;
    return { ...this.status(), task_states: tasks };
  }

  taskInfo(id: string): Record<string, unknown> | null {
    const t = this.tasks.get(id);
    if (!t) return null;
    return {
      task_id: t.id,
      state: t.state,
      kind: t.spec.kind,
      module: t.spec.module,
      export: t.spec.export,
      engine_id: t.engineId,
      attempt: t.attempt,
      retries_left: t.retriesLeft,
      blacklist: t.blacklist ? [...t.blacklist] : [],
      after: t.spec.after ?? [],
      resources: t.resources,
      targets: t.allowed ? [...t.allowed] : null,
      owner: t.owner,
      submitted_ms: t.submittedMs,
      started_ms: t.startedMs,
      result: t.result
        ? { status: t.result.status, error: t.result.error, engine_id: t.result.engine_id, finished_ms: t.result.finished_ms, value_bytes: t.result.buffers.reduce((n, b) => n + b.byteLength, 0) }
        : null,
    };
  }

  private framesSentByClosed = 0;
  get framesSent(): number {
    let n = this.framesSentByClosed;
    for (const p of this.peers) n += p.outbox.sentMessages;
    return n;
  }

  private dashboardApi(): DashboardApi {
    return {
      token: this.dashboardToken,
      status: () => this.status(),
      engines: () => [
        ...[...this.engines.values()].map((e) => this.engineView(e)),
        ...this.deadEngines.map((e) => this.engineView(e)),
      ],
      task: (id) => this.taskInfo(id),
      tasks: (state, limit) => {
        const out: Record<string, unknown>[] = [];
        for (const t of this.tasks.values()) {
          if (state && t.state !== state) continue;
          out.push({ task_id: t.id, state: t.state, engine_id: t.engineId, attempt: t.attempt });
          if (out.length >= limit) break;
        }
        return out;
      },
      resources: (engineId) => {
        const e = this.engines.get(engineId) ?? this.deadEngines.find((d) => d.id === engineId);
        return e ? e.resourcesHistory : null;
      },
      reports: (taskId, limit) => this.events.filter((e) => e.topic === 'reports' && (!taskId || e.task_id === taskId)).slice(-limit).map((e) => e.content),
    };
  }

  private engineView(e: EngineInfo): Record<string, unknown> {
    return {
      engine_id: e.id,
      host: e.host,
      pid: e.pid,
      slots: e.slots,
      assigned: e.assigned.size,
      tasks_done: e.tasksDone,
      resources: e.resources,
      labels: e.labels,
      state: e.alive ? 'alive' : 'dead',
      registered_ms: e.registeredMs,
      died_ms: e.diedMs,
      death_reason: e.deathReason,
      last_sample: e.resourcesHistory[e.resourcesHistory.length - 1] ?? null,
    };
  }

  // -------------------------------------------------------------------------
  // shutdown
  // -------------------------------------------------------------------------

  /**
   * Stop serving. With `stopEngines` the engines are told to shut down
   * (a requested cluster shutdown); without it they just lose the
   * connection and will reconnect to a resumed controller.
   */
  async close(opts: { stopEngines?: boolean; removeConnectionFile?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    for (const task of this.tasks.values()) this.clearTimer(task);
    for (const engine of this.engines.values()) if (engine.disconnectTimer) clearTimeout(engine.disconnectTimer);
    for (const peer of this.peers) {
      if (opts.stopEngines && peer.role === 'engine') peer.outbox.push('shutdown_request', { reason: 'cluster shutdown' });
      peer.outbox.flush();
      peer.ws.close(opts.stopEngines ? CLOSE_CODES.shutdown : 1001, opts.stopEngines ? 'cluster shutdown' : 'controller stopping');
    }
    this.journal?.closeSync();
    await new Promise<void>((resolve) => {
      this.wss?.close(() => resolve());
      for (const peer of this.peers) peer.ws.terminate();
    });
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    if (opts.removeConnectionFile) {
      try {
        if (readConnectionFile(this.connectionFile).pid === process.pid) fs.rmSync(this.connectionFile);
      } catch {
        // already gone
      }
    }
  }

  /** Flush the journal synchronously (for signal handlers that exit right after). */
  flushJournalSync(): void {
    this.journal?.closeSync();
  }
}

function hasResourceRequest(r: ResourceRequest | undefined): boolean {
  return !!r && ((r.gpus ?? 0) > 0 || (r.cpus ?? 0) > 0 || (r.memory_bytes ?? 0) > 0);
}

function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw new Error(`${what} must be an array of strings`);
  return v.map((x) => String(x));
}

function validateSubmission(t: TaskSubmission, index: number, bufferCount: number): string | null {
  if (typeof t !== 'object' || t === null) return `tasks[${index}] is not an object`;
  if (typeof t.task_id !== 'string' || t.task_id === '') return `tasks[${index}].task_id must be a non-empty string`;
  if (t.kind !== 'module' && t.kind !== 'source') return `kind must be 'module' or 'source', got ${JSON.stringify(t.kind)}`;
  if (t.kind === 'module' && typeof t.module !== 'string') return 'kind "module" needs a module path';
  if (t.kind === 'source' && typeof t.source !== 'string') return 'kind "source" needs function source';
  if (typeof t.args !== 'object' || t.args === null || !Array.isArray(t.args.$b)) return 'args must be a packed value {$v, $b}';
  if (t.args.$b.some((i) => !Number.isInteger(i) || i < 0 || i >= bufferCount)) return `args refer to a buffer the message does not have (${bufferCount} buffers)`;
  if (t.targets !== undefined && t.targets !== null && t.targets !== 'all') {
    if (!Array.isArray(t.targets) || t.targets.length === 0 || t.targets.some((x) => !Number.isInteger(x))) return 'targets must be engine ids, "all" or null';
  }
  if (t.after !== undefined && (!Array.isArray(t.after) || t.after.some((x) => typeof x !== 'string'))) return 'after must be a list of task ids';
  if (t.timeout_ms !== undefined && (typeof t.timeout_ms !== 'number' || !(t.timeout_ms >= 0))) return 'timeout_ms must be a non-negative number';
  if (t.retries !== undefined && (typeof t.retries !== 'number' || !(t.retries >= 0))) return 'retries must be a non-negative number';
  return null;
}
