/**
 * The hpcdl controller: one process per cluster. Registers engines and
 * watches their heartbeats, queues and load-balances tasks, relays results,
 * output and reports, fans out resource samples, serves the REST API and the
 * dashboard on the same HTTP server as the WebSocket, and journals every
 * submission and result so that `--resume` loses nothing.
 *
 * This class owns the lifetime (start, listen, resume grace, close); the
 * work is done by the parts it wires together:
 *   connections.ts      WebSocket frames in, routing by peer role
 *   engine-sessions.ts  registration, heartbeats, engine death
 *   client-sessions.ts  submit / cancel / results / status / subscribe
 *   task-lifecycle.ts   the task state machine, retries, timeouts
 *   task-table.ts       tasks and per-state counts, --keep-finished
 *   engine-registry.ts  engine ids, live and dead engines
 *   fan-out.ts          what each client hears, client sessions and their grace
 *   scheduler.ts        which engine runs which task
 *   dispatch.ts         when the scheduler runs and outboxes flush
 *   journal.ts, journal-records.ts   the journal and --resume replay
 *   status.ts           status() and the data behind the REST API
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';
import {
  CLOSE_CODES,
  PROTOCOL_VERSION,
  connectionFilePath,
  generateKey,
  readConnectionFile,
  writeConnectionFile,
  type ConnectionInfo,
  type EngineSummary,
} from '../protocol';
import { inProcessPair } from '../transport/in-process';
import type { MessageSocket } from '../transport/socket';
import { handleDashboardRequest } from '../dashboard';
import { chooseBindAddress } from './bind-address';
import { ClientSessions } from './client-sessions';
import { Connections } from './connections';
import { DispatchLoop } from './dispatch';
import { EngineRegistry } from './engine-registry';
import { EngineSessions } from './engine-sessions';
import { FanOut } from './fan-out';
import { Journal } from './journal';
import { replayJournal } from './journal-records';
import { resolveOptions, type ControllerOptions } from './options';
import { Scheduler } from './scheduler';
import { controllerStatus, dashboardApi, statusReply, taskInfo, type StatusSources } from './status';
import { TaskLifecycle } from './task-lifecycle';
import { TaskTable } from './task-table';
import type { ControllerContext, EngineInfo, Task } from './types';

export { chooseBindAddress, interfaceAddress, primaryAddress } from './bind-address';
export type { ControllerOptions } from './options';

export class Controller {
  readonly clusterId: string;
  readonly key: string;
  readonly connectionFile: string;
  readonly journalFile: string | null;
  url = '';
  dashboardUrl = '';
  port = 0;
  readonly startedMs = Date.now();
  /** resolves when a client asked the controller to shut down */
  readonly shutdownRequested: Promise<void>;
  private resolveShutdown!: () => void;

  private readonly ctx: ControllerContext;
  private readonly tasks: TaskTable;
  private readonly engines = new EngineRegistry();
  private readonly fanOut: FanOut;
  private readonly scheduler: Scheduler<Task>;
  private readonly dispatch: DispatchLoop;
  private readonly lifecycle: TaskLifecycle;
  private readonly engineSide: EngineSessions;
  private readonly connections: Connections;
  private readonly statusSources: StatusSources;
  private readonly dashboardToken: string;
  private server: http.Server | null = null;
  private wss: WebSocketServer | null = null;
  private watchdog: NodeJS.Timeout | null = null;

  private constructor(
    private readonly options: ControllerOptions,
    clusterId: string,
    key: string,
  ) {
    this.clusterId = clusterId;
    this.key = key;
    const log = options.log ?? ((line: string) => process.stderr.write(`[hpcdl controller ${clusterId}] ${line}\n`));
    this.ctx = { clusterId, opts: resolveOptions(options), log, journal: null, resuming: false, closed: false };
    this.connectionFile = connectionFilePath(clusterId, options.profileDir);
    this.journalFile = this.ctx.opts.journal ? this.connectionFile.replace(/\.json$/, '.journal.jsonl') : null;
    this.dashboardToken = createHmac('sha256', key).update('hpcdl-dashboard').digest('hex').slice(0, 32);
    this.shutdownRequested = new Promise((resolve) => (this.resolveShutdown = resolve));

    this.tasks = new TaskTable(this.ctx.opts.keepFinished);
    this.fanOut = new FanOut(this.ctx.opts.eventHistory, this.ctx.opts.clientGraceMs, log);
    this.scheduler = new Scheduler<Task>((engine, task) => this.lifecycle.sendTask(engine as EngineInfo, task), { prefetch: this.ctx.opts.prefetch });
    this.dispatch = new DispatchLoop(() => this.scheduler.dispatch(), () => this.ctx.closed);
    this.lifecycle = new TaskLifecycle(this.ctx, this.tasks, this.engines, this.fanOut, this.scheduler, this.dispatch);
    this.engineSide = new EngineSessions(this.ctx, this.engines, this.tasks, this.lifecycle, this.fanOut, this.scheduler, this.dispatch);
    const clientSide = new ClientSessions(this.ctx, this.tasks, this.engines, this.lifecycle, this.fanOut, this.dispatch, {
      statusReply: (ids) => statusReply(this.statusSources, ids),
      shutdown: () => this.resolveShutdown(),
    });
    this.connections = new Connections(this.ctx, key, this.engineSide, clientSide, this.dispatch);
    this.statusSources = {
      ctx: this.ctx,
      url: () => this.url,
      startedMs: this.startedMs,
      journalFile: this.journalFile,
      tasks: this.tasks,
      engines: this.engines,
      fanOut: this.fanOut,
      scheduler: this.scheduler,
      connections: this.connections,
    };
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
    } else {
      refuseIfRunning(clusterId, file);
    }
    const controller = new Controller(options, clusterId, key);
    await controller.open(port);
    return controller;
  }

  private async open(port: number): Promise<void> {
    if (this.journalFile) this.openJournal(this.journalFile);
    const { bind, advertise } = chooseBindAddress(this.options.ip, this.ctx.log, { interfaceName: this.options.interface });
    const api = dashboardApi(this.statusSources, this.dashboardToken);
    this.server = http.createServer((req, res) => handleDashboardRequest(req, res, api));
    this.wss = new WebSocketServer({ server: this.server, maxPayload: this.ctx.opts.maxMessageBytes + 1024 * 1024, perMessageDeflate: false });
    this.wss.on('connection', (ws, req) => this.connections.accept(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
    await listen(this.server, port, bind);
    this.port = (this.server.address() as { port: number }).port;
    const host = advertise.includes(':') ? `[${advertise}]` : advertise;
    this.url = `ws://${host}:${this.port}`;
    this.dashboardUrl = `http://${host}:${this.port}/?token=${this.dashboardToken}`;
    writeConnectionFile(this.connectionFile, this.connectionInfo());
    this.watchdog = setInterval(() => this.engineSide.checkHeartbeats(), this.engineSide.heartbeatCheckMs);
    this.watchdog.unref();
    if (this.ctx.opts.resume) this.startResumeGrace();
    this.ctx.log(`listening on ${this.url} (dashboard ${this.dashboardUrl}); connection file ${this.connectionFile}`);
  }

  private openJournal(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (this.ctx.opts.resume) {
      replayJournal(file, { tasks: this.tasks, engines: this.engines, activate: (task) => this.lifecycle.activate(task), log: this.ctx.log });
    }
    const journal = new Journal(file, { truncate: !this.ctx.opts.resume }, (err) => this.ctx.log(err.message));
    journal.append({ r: 'start', time: new Date().toISOString(), cluster_id: this.clusterId, pid: process.pid, version: PROTOCOL_VERSION });
    this.ctx.journal = journal;
  }

  private connectionInfo(): ConnectionInfo {
    return {
      url: this.url,
      cluster_id: this.clusterId,
      key: this.key,
      signature_scheme: 'hmac-sha256',
      protocol_version: PROTOCOL_VERSION,
      pid: process.pid,
      dashboard_url: this.dashboardUrl,
      created: new Date().toISOString(),
    };
  }

  /** After --resume, hold dispatch for a while so engines can come back and report what they still run. */
  private startResumeGrace(): void {
    this.ctx.resuming = true;
    this.scheduler.setPaused(true);
    setTimeout(() => {
      this.ctx.resuming = false;
      this.scheduler.setPaused(false);
      this.dispatch.request();
    }, this.ctx.opts.resumeGraceMs).unref();
  }

  get forgotten(): number {
    return this.tasks.forgotten;
  }

  get badMessages(): number {
    return this.connections.badMessages;
  }

  get framesReceived(): number {
    return this.connections.framesReceived;
  }

  get messagesReceived(): number {
    return this.connections.messagesReceived;
  }

  get framesSent(): number {
    return this.connections.framesSent;
  }

  engineSummaries(): EngineSummary[] {
    return this.engines.summaries();
  }

  status(): Record<string, unknown> {
    return controllerStatus(this.statusSources);
  }

  taskInfo(id: string): Record<string, unknown> | null {
    return taskInfo(this.tasks.get(id));
  }

  /**
   * A client connection inside this process: the client end of an in-process
   * pair carrying the same signed frames as a WebSocket, without the TCP hops.
   */
  connectInProcess(): MessageSocket {
    const { client, server } = inProcessPair();
    if (this.ctx.closed) server.terminate();
    else this.connections.accept(server, 'in-process client');
    return client;
  }

  /**
   * Stop serving. With `stopEngines` the engines are told to shut down
   * (a requested cluster shutdown); without it they just lose the
   * connection and will reconnect to a resumed controller.
   */
  async close(opts: { stopEngines?: boolean; removeConnectionFile?: boolean } = {}): Promise<void> {
    if (this.ctx.closed) return;
    this.ctx.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    for (const task of this.tasks.values()) this.lifecycle.clearTimer(task);
    for (const engine of this.engines.alive()) if (engine.disconnectTimer) clearTimeout(engine.disconnectTimer);
    this.fanOut.close();
    for (const peer of this.connections.peers) {
      if (opts.stopEngines && peer.role === 'engine') peer.outbox.push('shutdown_request', { reason: 'cluster shutdown' });
      peer.outbox.flush();
      peer.ws.close(opts.stopEngines ? CLOSE_CODES.shutdown : 1001, opts.stopEngines ? 'cluster shutdown' : 'controller stopping');
    }
    this.ctx.journal?.closeSync();
    await new Promise<void>((resolve) => {
      this.wss?.close(() => resolve());
      for (const peer of this.connections.peers) peer.ws.terminate();
    });
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    if (opts.removeConnectionFile) this.removeOwnConnectionFile();
  }

  private removeOwnConnectionFile(): void {
    try {
      if (readConnectionFile(this.connectionFile).pid === process.pid) fs.rmSync(this.connectionFile);
    } catch {
      // already gone
    }
  }

  /** Flush the journal synchronously (for signal handlers that exit right after). */
  flushJournalSync(): void {
    this.ctx.journal?.closeSync();
  }
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

/** A fresh start must not take over a cluster id whose controller is still running. */
function refuseIfRunning(clusterId: string, file: string): void {
  if (!fs.existsSync(file)) return;
  let previousPid = 0;
  try {
    previousPid = readConnectionFile(file).pid;
  } catch {
    // unreadable old file: overwritten later
  }
  if (isPidAlive(previousPid)) {
    throw new Error(`cluster ${clusterId} is already running (controller pid ${previousPid}, ${file}); use another --cluster-id or stop it`);
  }
}

function listen(server: http.Server, port: number, bind: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(`controller cannot listen on ${bind}:${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`));
    };
    server.once('error', onError);
    server.listen(port, bind, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
