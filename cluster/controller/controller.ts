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
import * as https from 'node:https';
import * as path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';
import {
  CLOSE_CODES,
  PROTOCOL_VERSION,
  connectionFilePath,
  generateKey,
  readConnectionFile,
  trustedDirectory,
  writeConnectionFile,
  type ConnectionInfo,
  type EngineSummary,
} from '../protocol';
import { inProcessPair } from '../transport/in-process';
import type { MessageSocket } from '../transport/socket';
import { Dashboard, type SearchSnapshot } from '../dashboard';
import { chooseBindAddress } from './bind-address';
import { makeCertificate, tlsByDefault, type ClusterCertificate } from './certificate';
import { ClientSessions } from './client-sessions';
import { Connections } from './connections';
import { DEFAULT_ADMISSION } from './admission';
import { DispatchLoop } from './dispatch';
import { EngineRegistry } from './engine-registry';
import { EngineSessions } from './engine-sessions';
import { FanOut } from './fan-out';
import { Journal } from './journal';
import { replayJournal, snapshotRecords } from './journal-records';
import { ResultStore } from './result-store';
import { resolveOptions, type ControllerOptions } from './options';
import { isProcessRunning } from './process-alive';
import { Scheduler } from './scheduler';
import { DashboardControls, type LauncherControl } from './dashboard-source';
import { controllerStatus, statusReply, taskInfo, type StatusSources } from './status';
import { TaskLifecycle } from './task-lifecycle';
import { TaskTable } from './task-table';
import type { ControllerContext, EngineInfo, Task } from './types';

export { chooseBindAddress, interfaceAddress, primaryAddress } from './bind-address';

/** How often the resume grace checks whether every engine is back. */
const RESUME_POLL_MS = 25;
export type { ControllerOptions } from './options';
export type { LauncherControl } from './dashboard-source';

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
  private readonly clientSide: ClientSessions;
  private readonly connections: Connections;
  private readonly statusSources: StatusSources;
  private readonly dashboardToken: string;
  private readonly controls: DashboardControls;
  private dashboard: Dashboard | null = null;
  private server: http.Server | null = null;
  /** the TLS certificate served (null: plain ws://) */
  private certificate: ClusterCertificate | null = null;
  /** a resumed controller serves its predecessor's certificate, which engines and clients have pinned */
  private previousCertificate: ClusterCertificate | null = null;
  private wss: WebSocketServer | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  /** engine ids alive when the controller this one resumes from stopped (from its journal) */
  private enginesAtCrash: ReadonlySet<number> = new Set();

  private constructor(
    private readonly options: ControllerOptions,
    clusterId: string,
    key: string,
  ) {
    this.clusterId = clusterId;
    this.key = key;
    const log = options.log ?? ((line: string) => process.stderr.write(`[hpcdl controller ${clusterId}] ${line}\n`));
    this.connectionFile = connectionFilePath(clusterId, options.profileDir);
    const opts = resolveOptions(options);
    const results = new ResultStore(this.connectionFile.replace(/\.json$/, '.results'), opts.resultMemoryMb * 1024 * 1024, log);
    this.ctx = { clusterId, opts, log, journal: null, results, resuming: false, resumedMs: null, closed: false };
    this.journalFile = this.ctx.opts.journal ? this.connectionFile.replace(/\.json$/, '.journal.jsonl') : null;
    this.dashboardToken = createHmac('sha256', key).update('hpcdl-dashboard').digest('hex').slice(0, 32);
    this.shutdownRequested = new Promise((resolve) => (this.resolveShutdown = resolve));

    this.tasks = new TaskTable(this.ctx.opts.keepFinished, (task) => results.forget(task));
    this.fanOut = new FanOut(this.ctx.opts.eventHistory, this.ctx.opts.clientGraceMs, log, (result, done) => results.buffers(result, done));
    this.scheduler = new Scheduler<Task>((engine, task) => this.lifecycle.sendTask(engine as EngineInfo, task), { prefetch: this.ctx.opts.prefetch });
    this.dispatch = new DispatchLoop(() => this.scheduler.dispatch(), () => this.ctx.closed);
    this.lifecycle = new TaskLifecycle(this.ctx, this.tasks, this.engines, this.fanOut, this.scheduler, this.dispatch);
    this.engineSide = new EngineSessions(this.ctx, this.engines, this.tasks, this.lifecycle, this.fanOut, this.scheduler, this.dispatch);
    const clientSide = (this.clientSide = new ClientSessions(this.ctx, this.tasks, this.engines, this.lifecycle, this.fanOut, this.dispatch, {
      statusReply: (ids) => statusReply(this.statusSources, ids),
      shutdown: () => this.resolveShutdown(),
    }));
    this.connections = new Connections(this.ctx, key, this.engineSide, clientSide, this.dispatch, { ...DEFAULT_ADMISSION, deadlineMs: this.ctx.opts.authTimeoutMs });
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
    this.controls = new DashboardControls(this.statusSources, this.engines, this.lifecycle);
  }

  /** Start a controller: bind, replay the journal when resuming, write the connection file. */
  static async start(options: ControllerOptions = {}): Promise<Controller> {
    let clusterId = options.clusterId ?? `c${randomBytes(4).toString('hex')}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(clusterId)) {
      throw new Error(`--cluster-id must be 1-64 letters, digits, '.', '_' or '-' (got ${JSON.stringify(clusterId)})`);
    }
    const file = connectionFilePath(clusterId, options.profileDir);
    trustedDirectory(path.dirname(file), 'profile directory');
    let key = generateKey();
    let port = options.port ?? 0;
    let resumedCertificate: ClusterCertificate | null = null;
    if (options.resume) {
      const previous = readConnectionFile(file);
      if (isProcessRunning(previous.pid)) throw new Error(`cluster ${clusterId} is still served by controller pid ${previous.pid} (${file})`);
      key = previous.key;
      clusterId = previous.cluster_id;
      if (previous.tls_cert && previous.tls_key && previous.tls_fingerprint) resumedCertificate = { cert: previous.tls_cert, key: previous.tls_key, fingerprint: previous.tls_fingerprint };
      if (options.port === undefined) port = Number(new URL(previous.url).port);
    } else {
      refuseIfRunning(clusterId, file);
    }
    const controller = new Controller(options, clusterId, key);
    controller.previousCertificate = resumedCertificate;
    await controller.open(port);
    return controller;
  }

  private async open(port: number): Promise<void> {
    if (this.journalFile) this.openJournal(this.journalFile);
    const { bind, advertise } = chooseBindAddress(this.options.ip, this.ctx.log, { interfaceName: this.options.interface });
    const dashboard = new Dashboard(this.controls.source(this.dashboardToken));
    this.dashboard = dashboard;
    this.fanOut.observer = {
      ...dashboard.feed,
      engineEvent: (event) => {
        dashboard.feed.engineEvent(event);
        if (event.event !== 'registered') this.controls.engineGone(event.engine_id);
      },
    };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => dashboard.handle(req, res);
    // A resumed controller keeps TLS (engines and clients reconnect to the wss:// url they know) unless told otherwise.
    if (this.options.tls ?? (this.previousCertificate !== null || tlsByDefault(bind))) this.certificate = this.previousCertificate ?? makeCertificate(`hpcdl-${this.clusterId}`);
    this.server = this.certificate ? https.createServer({ cert: this.certificate.cert, key: this.certificate.key }, handler) : http.createServer(handler);
    this.wss = new WebSocketServer({
      server: this.server,
      maxPayload: this.ctx.opts.maxMessageBytes + 1024 * 1024,
      perMessageDeflate: false,
      verifyClient: (info, done) => this.verifyUpgrade(info.req, done),
    });
    this.wss.on('connection', (ws, req) => this.connections.accept(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`, req.socket));
    await listen(this.server, port, bind);
    this.port = (this.server.address() as { port: number }).port;
    const host = advertise.includes(':') ? `[${advertise}]` : advertise;
    const secure = this.certificate ? 's' : '';
    this.url = `ws${secure}://${host}:${this.port}`;
    this.dashboardUrl = `http${secure}://${host}:${this.port}/?token=${this.dashboardToken}`;
    writeConnectionFile(this.connectionFile, this.connectionInfo());
    this.watchdog = setInterval(() => this.engineSide.checkHeartbeats(), this.engineSide.heartbeatCheckMs);
    this.watchdog.unref();
    if (this.ctx.opts.resume) this.startResumeGrace();
    // the dashboard link carries the token: it goes to the connection file, never to the log
    this.ctx.log(`listening on ${this.url} (dashboard http${this.certificate ? 's' : ''}://${host}:${this.port}/, token in the connection file); connection file ${this.connectionFile}`);
  }

  /**
   * A browser sends an Origin header with every WebSocket it opens, hpcdl's
   * peers send none: refusing upgrades that carry one keeps web pages (which
   * any site could make a user's browser open) off the protocol port.
   */
  private verifyUpgrade(req: http.IncomingMessage, done: (ok: boolean, code?: number, message?: string) => void): void {
    const origin = req.headers.origin;
    if (origin === undefined) return done(true);
    this.connections.admission.countRefusal('origin');
    this.connections.peerLine(`refusing a WebSocket from ${req.socket.remoteAddress}:${req.socket.remotePort} with Origin ${JSON.stringify(String(origin)).slice(0, 80)}: browser pages may not open the protocol port`);
    done(false, 403, 'browser origins may not open the hpcdl protocol port');
  }

  private openJournal(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!this.ctx.opts.resume) this.ctx.results.clear();
    if (this.ctx.opts.resume) {
      const replayed = replayJournal(file, { tasks: this.tasks, engines: this.engines, results: this.ctx.results, activate: (task) => this.lifecycle.activate(task), log: this.ctx.log });
      this.enginesAtCrash = replayed.aliveEngines;
      for (const session of replayed.persistentSessions) this.clientSide.orphans.persist(session, false);
      this.clientSide.orphans.watchOwners();
    }
    const compactMinBytes = this.ctx.opts.journalCompactMb * 1024 * 1024;
    const journal = new Journal(file, { truncate: !this.ctx.opts.resume, compactMinBytes }, (err) => this.ctx.log(err.message));
    journal.append({ r: 'start', time: new Date().toISOString(), cluster_id: this.clusterId, pid: process.pid, version: PROTOCOL_VERSION });
    journal.compactWith(() =>
      snapshotRecords({ clusterId: this.clusterId, version: PROTOCOL_VERSION, tasks: this.tasks, engines: this.engines, results: this.ctx.results, persistentSessions: this.clientSide.orphans.sessionsThatPersist() }),
    );
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
      ...(this.certificate ? { tls_cert: this.certificate.cert, tls_fingerprint: this.certificate.fingerprint, tls_key: this.certificate.key } : {}),
    };
  }

  /**
   * After --resume, hold dispatch until every engine that was alive when the
   * previous controller stopped has come back and reported what it holds (or
   * --resume-grace-ms passed), so no task it still runs is sent elsewhere.
   */
  private startResumeGrace(): void {
    this.ctx.resuming = true;
    this.ctx.resumedMs = Date.now();
    this.scheduler.setPaused(true);
    const end = (): void => {
      clearInterval(poll);
      clearTimeout(cap);
      if (!this.ctx.resuming) return;
      this.ctx.resuming = false;
      this.scheduler.setPaused(false);
      this.dispatch.request();
    };
    const poll = setInterval(() => {
      if ([...this.enginesAtCrash].every((id) => this.engines.get(id)?.alive)) end();
    }, RESUME_POLL_MS);
    const cap = setTimeout(end, this.ctx.opts.resumeGraceMs);
    poll.unref();
    cap.unref();
  }

  /** A client that owns the launcher of some engines lends it, so the dashboard can restart them. Returns a detach function. */
  attachLauncher(launcherId: string, control: LauncherControl): () => void {
    return this.controls.attachLauncher(launcherId, control);
  }

  /** A search running in this process shows on the dashboard's Searches tab. Returns a detach function. */
  attachSearch(name: string, snapshot: () => SearchSnapshot): () => void {
    return this.controls.attachSearch(name, snapshot);
  }

  /** The dashboard (its state and push channel), once listening. */
  get dashboardServer(): Dashboard | null {
    return this.dashboard;
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
    this.dashboard?.close();
    this.clientSide.orphans.close();
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

/** A fresh start must not take over a cluster id whose controller is still running. */
function refuseIfRunning(clusterId: string, file: string): void {
  if (!fs.existsSync(file)) return;
  let previousPid = 0;
  try {
    previousPid = readConnectionFile(file).pid;
  } catch {
    // unreadable old file: overwritten later
  }
  if (isProcessRunning(previousPid)) {
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
