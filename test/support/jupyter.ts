/**
 * Test harness: a real Debian Jupyter server (127.0.0.1, random port and
 * token, temp root and data dirs) with the hpcdl kernel installed into a temp
 * prefix, driven from Node through @jupyterlab/services.
 *
 *   const kernel = await installTestKernel();
 *   const server = await startJupyterServer({ kernelPrefixes: [kernel.prefix] });
 *   const session = await KernelSession.start(server, kernel.name);
 *   const run = await session.execute('6 * 7');      // run.outputs: nbformat outputs
 *   await executeNotebook(server, 'nb.ipynb', { kernelName: kernel.name });
 *   await session.shutdown(); await server.stop(); kernel.remove();
 *
 * Requires the package to be built (dist/kernel/launcher.js).
 */
import { jupyterServerSettings } from '../../kernel/server-connection';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  ContentsManager,
  KernelManager,
  ServerConnection,
  SessionManager,
  type Kernel,
  type KernelMessage,
} from '@jupyterlab/services';
import { installKernel } from '../../kernel/install';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export function tempDir(prefix = 'hpcdl-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function assertBuilt(): void {
  const launcher = path.join(REPO_ROOT, 'dist', 'kernel', 'launcher.js');
  if (!fs.existsSync(launcher)) {
    throw new Error(`${launcher} missing: run \`npx tsc -p tsconfig.json\` (npm run build) before the kernel tests`);
  }
}

// ---- kernel spec -------------------------------------------------------

export interface TestKernel {
  name: string;
  /** Install prefix; its share/jupyter must be on JUPYTER_PATH. */
  prefix: string;
  specDir: string;
  remove(): void;
}

/** Installs the hpcdl kernel spec (with `hpcdl kernel install --prefix`) into a temp prefix. */
export function installTestKernel(name = 'hpcdl-test'): TestKernel {
  assertBuilt();
  const prefix = tempDir('hpcdl-kprefix-');
  const installed = installKernel({ location: { kind: 'prefix', prefix }, name, packageRoot: REPO_ROOT });
  return {
    name,
    prefix,
    specDir: installed.specDir,
    remove: () => fs.rmSync(prefix, { recursive: true, force: true }),
  };
}

/** JUPYTER_PATH and private config/data/runtime dirs, so nothing of the user's setup leaks in. */
export function jupyterEnv(kernelPrefixes: string[], home: string): NodeJS.ProcessEnv {
  const jupyterPath = kernelPrefixes.map((p) => path.join(p, 'share', 'jupyter'));
  for (const sub of ['config', 'data', 'runtime']) fs.mkdirSync(path.join(home, sub), { recursive: true });
  return {
    ...process.env,
    JUPYTER_PATH: jupyterPath.join(path.delimiter),
    JUPYTER_CONFIG_DIR: path.join(home, 'config'),
    JUPYTER_DATA_DIR: path.join(home, 'data'),
    JUPYTER_RUNTIME_DIR: path.join(home, 'runtime'),
    IPYTHONDIR: path.join(home, 'ipython'),
    JUPYTER_PLATFORM_DIRS: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

// ---- server ------------------------------------------------------------

export interface JupyterServer {
  url: string;
  token: string;
  rootDir: string;
  pid: number;
  settings: ServerConnection.ISettings;
  log(): string;
  stop(): Promise<void>;
}

export interface StartServerOptions {
  kernelPrefixes: string[];
  /** Notebook root; a temp dir by default. */
  rootDir?: string;
  /** 'server' = Debian jupyter-server (REST/WS only), 'notebook' = classic notebook UI (nbclassic). */
  app?: 'server' | 'notebook';
  readyTimeoutMs?: number;
}

export const makeSettings = jupyterServerSettings;

export async function startJupyterServer(options: StartServerOptions): Promise<JupyterServer> {
  const home = tempDir('hpcdl-jhome-');
  const rootDir = options.rootDir ?? tempDir('hpcdl-jroot-');
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const app = options.app ?? 'server';
  const command = app === 'server' ? 'jupyter-server' : 'jupyter-nbclassic';
  const cls = 'ServerApp';
  const args = [
    `--${cls}.ip=127.0.0.1`,
    `--${cls}.port=${port}`,
    `--${cls}.port_retries=0`,
    `--${cls}.token=${token}`,
    `--${cls}.open_browser=False`,
    `--ServerApp.root_dir=${rootDir}`,
    '--allow-root',
    '--no-browser',
  ];
  const child = spawn(command, args, {
    cwd: rootDir,
    env: jupyterEnv(options.kernelPrefixes, home),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const settings = makeSettings(url + '/', token);

  const stop = async () => {
    await shutdownAllKernels(settings).catch(() => undefined);
    await stopProcess(child, 10_000);
    fs.rmSync(home, { recursive: true, force: true });
    if (!options.rootDir) fs.rmSync(rootDir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${url}/api/status?token=${token}`, child, () => output, options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, token, rootDir, pid: child.pid!, settings, log: () => output, stop };
}

export async function waitForHttp(
  url: string,
  child: ChildProcess | null,
  log: () => string,
  timeoutMs: number,
  init?: RequestInit,
): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`process exited with ${child.exitCode} before ${url} answered:\n${log()}`);
    }
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
      if (res.ok) return res;
      lastError = new Error(`HTTP ${res.status}`);
    } catch (error) {
      lastError = error;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${url} (${String(lastError)}):\n${log()}`);
}

async function shutdownAllKernels(settings: ServerConnection.ISettings): Promise<void> {
  const manager = new KernelManager({ serverSettings: settings });
  await manager.ready;
  await manager.shutdownAll();
  manager.dispose();
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- kernel sessions ---------------------------------------------------

/** An nbformat v4 output. */
export type NotebookOutput =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { output_type: 'display_data'; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: 'execute_result'; execution_count: number | null; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export interface ExecutionRecord {
  reply: KernelMessage.IExecuteReplyMsg['content'];
  /** All IOPub messages of this request, in arrival order. */
  messages: KernelMessage.IIOPubMessage[];
  /** The outputs as a frontend would save them (streams merged, display updates applied). */
  outputs: NotebookOutput[];
}

export interface ExecuteOptions {
  timeoutMs?: number;
  onIOPub?: (msg: KernelMessage.IIOPubMessage) => void;
  storeHistory?: boolean;
}

export class KernelSession {
  private readonly recorder: IOPubRecorder;

  private constructor(
    readonly kernel: Kernel.IKernelConnection,
    private readonly manager: KernelManager,
  ) {
    this.recorder = new IOPubRecorder(kernel);
  }

  static async start(server: JupyterServer, kernelName: string, startTimeoutMs = 60_000): Promise<KernelSession> {
    const manager = new KernelManager({ serverSettings: server.settings });
    await manager.ready;
    const kernel = await manager.startNew({ name: kernelName });
    const session = new KernelSession(kernel, manager);
    await withTimeout(kernel.info, startTimeoutMs, `kernel ${kernelName} did not answer kernel_info`);
    return session;
  }

  /**
   * Executes `code`; rejects on timeout (the kernel is then interrupted).
   * The record's outputs stay live: display updates sent later (by later
   * cells or background work) are applied to them.
   */
  execute(code: string, options: ExecuteOptions = {}): Promise<ExecutionRecord> {
    return runCell(this.kernel, this.recorder, code, {
      timeoutMs: options.timeoutMs ?? 60_000,
      storeHistory: options.storeHistory ?? true,
      onIOPub: options.onIOPub,
    });
  }

  interrupt(): Promise<void> {
    return this.kernel.interrupt();
  }

  async shutdown(): Promise<void> {
    this.recorder.dispose();
    await this.kernel.shutdown().catch(() => undefined);
    this.kernel.dispose();
    this.manager.dispose();
  }
}

/**
 * The outputs of a notebook's cells kept the way notebook frontends keep them:
 * consecutive stream chunks of the same name are merged; an
 * update_display_data replaces the data of every output with its display_id,
 * in whichever cell it is (a display made in cell 1 and updated while cell 2
 * runs is updated in cell 1); a display_data or execute_result with a known
 * display_id updates the existing outputs too and is added as a new output.
 */
export class OutputModel {
  private readonly displays = new Map<string, NotebookOutput[]>();

  /** Applies one IOPub message; `cellOutputs` is the output list of the cell that sent it (its parent request), if tracked. */
  apply(msg: KernelMessage.IIOPubMessage, cellOutputs: NotebookOutput[] | undefined): void {
    const c = msg.content as Record<string, any>;
    const displayId: string | undefined = c.transient?.display_id;
    switch (msg.header.msg_type) {
      case 'update_display_data':
        if (displayId) this.updateDisplays(displayId, c);
        return;
      case 'display_data':
      case 'execute_result': {
        if (displayId) this.updateDisplays(displayId, c);
        if (!cellOutputs) return;
        const out: NotebookOutput =
          msg.header.msg_type === 'display_data'
            ? { output_type: 'display_data', data: { ...c.data }, metadata: { ...c.metadata } }
            : { output_type: 'execute_result', execution_count: c.execution_count, data: { ...c.data }, metadata: { ...c.metadata } };
        cellOutputs.push(out);
        if (displayId) this.displays.set(displayId, [...(this.displays.get(displayId) ?? []), out]);
        return;
      }
      case 'stream': {
        if (!cellOutputs) return;
        const last = cellOutputs[cellOutputs.length - 1];
        if (last && last.output_type === 'stream' && last.name === c.name) last.text += c.text;
        else cellOutputs.push({ output_type: 'stream', name: c.name, text: c.text });
        return;
      }
      case 'error':
        cellOutputs?.push({ output_type: 'error', ename: c.ename, evalue: c.evalue, traceback: c.traceback });
        return;
      case 'clear_output':
        if (cellOutputs) cellOutputs.length = 0;
        return;
      default:
        return;
    }
  }

  private updateDisplays(displayId: string, content: Record<string, any>): void {
    for (const out of this.displays.get(displayId) ?? []) {
      if (out.output_type === 'display_data' || out.output_type === 'execute_result') {
        out.data = { ...content.data };
        out.metadata = { ...content.metadata };
      }
    }
  }
}

/**
 * Converts the IOPub messages of one cell into nbformat outputs (see
 * OutputModel); pass the same `model` for consecutive cells so updates reach
 * displays of earlier cells.
 */
export function outputsFromMessages(messages: KernelMessage.IIOPubMessage[], model = new OutputModel()): NotebookOutput[] {
  const outputs: NotebookOutput[] = [];
  for (const msg of messages) model.apply(msg, outputs);
  return outputs;
}

interface TrackedRequest {
  messages: KernelMessage.IIOPubMessage[];
  outputs: NotebookOutput[];
  onIOPub?: (msg: KernelMessage.IIOPubMessage) => void;
}

/**
 * Records a kernel's whole IOPub stream (`kernel.iopubMessage`) into an
 * OutputModel. Not the per-request futures: @jupyterlab/services routes an
 * update_display_data whose display_id was created by an earlier request to
 * that request's future (finished and disposed by then), never to the future
 * of the request that sent it, so a future-based recorder loses the updates
 * of displays made in earlier cells.
 */
export class IOPubRecorder {
  readonly model = new OutputModel();
  /** Every IOPub message received, in arrival order. */
  readonly messages: KernelMessage.IIOPubMessage[] = [];
  private readonly requests = new Map<string, TrackedRequest>();
  private lastMessageAt = Date.now();

  constructor(private readonly kernel: Kernel.IKernelConnection) {
    kernel.iopubMessage.connect(this.onMessage, this);
  }

  /** Starts collecting the outputs of the request `msgId` (call right after sending it). */
  track(msgId: string, onIOPub?: (msg: KernelMessage.IIOPubMessage) => void): TrackedRequest {
    const request: TrackedRequest = { messages: [], outputs: [], onIOPub };
    this.requests.set(msgId, request);
    return request;
  }

  /** Resolves once no IOPub message has arrived for `quietMs` (or after `maxMs`). */
  async settle(quietMs: number, maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (Date.now() < deadline) {
      const quietFor = Date.now() - this.lastMessageAt;
      if (quietFor >= quietMs) return;
      await sleep(Math.min(quietMs - quietFor, deadline - Date.now()));
    }
  }

  dispose(): void {
    this.kernel.iopubMessage.disconnect(this.onMessage, this);
  }

  private onMessage(_: unknown, msg: KernelMessage.IIOPubMessage): void {
    this.lastMessageAt = Date.now();
    this.messages.push(msg);
    const parentId = (msg.parent_header as { msg_id?: string }).msg_id;
    const request = parentId ? this.requests.get(parentId) : undefined;
    request?.messages.push(msg);
    this.model.apply(msg, request?.outputs);
    request?.onIOPub?.(msg);
  }
}

// ---- notebooks ---------------------------------------------------------

export interface NotebookCell {
  id?: string;
  cell_type: 'code' | 'markdown' | 'raw';
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: NotebookOutput[];
  execution_count?: number | null;
}

export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, any>;
  nbformat: number;
  nbformat_minor: number;
}

export interface ExecuteNotebookOptions {
  kernelName: string;
  cellTimeoutMs?: number;
  /** Save the executed notebook here (server-relative path); defaults to overwriting the input. */
  saveAs?: string;
  /** Stop at the first cell that fails (default true). */
  stopOnError?: boolean;
  onCell?: (index: number, record: ExecutionRecord) => void;
  /** Before saving, wait until the IOPub stream has been quiet this long (late display updates; default 300 ms, at most 10 s). */
  settleMs?: number;
}

export interface NotebookRun {
  notebook: Notebook;
  /** Server-relative path of the saved notebook. */
  savedPath: string;
  /** Indices of code cells whose execution reported an error. */
  failedCells: number[];
  /** Every IOPub message of the session, in arrival order. */
  messages: KernelMessage.IIOPubMessage[];
}

/** Copies a local .ipynb into the server's root dir and returns its server-relative path. */
export function copyNotebookToServer(server: JupyterServer, localPath: string, relPath = path.basename(localPath)): string {
  const target = path.join(server.rootDir, relPath);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(localPath, target);
  return relPath;
}

/**
 * Executes a notebook top to bottom on `server` (loaded and saved through the
 * contents API, run in a kernel started by the server with the notebook's
 * directory as working directory), storing outputs as a frontend would:
 * from the kernel's whole IOPub stream, with display updates applied by
 * display_id across all cells (see IOPubRecorder).
 */
export async function executeNotebook(server: JupyterServer, notebookPath: string, options: ExecuteNotebookOptions): Promise<NotebookRun> {
  const contents = new ContentsManager({ serverSettings: server.settings });
  const model = await contents.get(notebookPath, { type: 'notebook', content: true });
  const notebook = model.content as Notebook;
  // A session (as a frontend opens one) starts the kernel in the notebook's directory.
  const kernelManager = new KernelManager({ serverSettings: server.settings });
  const sessions = new SessionManager({ serverSettings: server.settings, kernelManager });
  await sessions.ready;
  const session = await sessions.startNew({ path: notebookPath, type: 'notebook', name: path.posix.basename(notebookPath), kernel: { name: options.kernelName } });
  const kernel = session.kernel;
  if (!kernel) throw new Error(`session for ${notebookPath} has no kernel`);
  const failedCells: number[] = [];
  const recorder = new IOPubRecorder(kernel);
  try {
    await withTimeout(kernel.info, 60_000, `kernel ${options.kernelName} did not start`);
    for (let i = 0; i < notebook.cells.length; i++) {
      const cell = notebook.cells[i];
      if (cell.cell_type !== 'code') continue;
      const source = Array.isArray(cell.source) ? cell.source.join('') : cell.source;
      const record = await runCell(kernel, recorder, source, { timeoutMs: options.cellTimeoutMs ?? 120_000, storeHistory: true });
      cell.outputs = record.outputs;
      cell.execution_count = (record.reply as { execution_count?: number }).execution_count ?? null;
      options.onCell?.(i, record);
      if (record.reply.status !== 'ok') {
        failedCells.push(i);
        if (options.stopOnError !== false) break;
      }
    }
    await recorder.settle(options.settleMs ?? 300, 10_000);
  } finally {
    recorder.dispose();
    await session.shutdown().catch(() => undefined);
    session.dispose();
    sessions.dispose();
    kernelManager.dispose();
  }
  notebook.metadata.kernelspec = { name: options.kernelName, display_name: 'HPC DL (TypeScript)', language: 'typescript' };
  const savedPath = options.saveAs ?? notebookPath;
  await contents.save(savedPath, { type: 'notebook', format: 'json', content: notebook });
  contents.dispose();
  return { notebook, savedPath, failedCells, messages: recorder.messages };
}

interface RunCellOptions {
  timeoutMs: number;
  storeHistory: boolean;
  onIOPub?: (msg: KernelMessage.IIOPubMessage) => void;
}

async function runCell(kernel: Kernel.IKernelConnection, recorder: IOPubRecorder, code: string, options: RunCellOptions): Promise<ExecutionRecord> {
  const future = kernel.requestExecute({ code, stop_on_error: true, store_history: options.storeHistory });
  const request = recorder.track(future.msg.header.msg_id, options.onIOPub);
  let reply: KernelMessage.IExecuteReplyMsg;
  try {
    reply = await withTimeout(future.done, options.timeoutMs, `cell did not finish within ${options.timeoutMs} ms:\n${code}`);
  } catch (error) {
    await kernel.interrupt().catch(() => undefined);
    throw error;
  }
  return { reply: reply.content, messages: request.messages, outputs: request.outputs };
}

/** Reads a saved notebook from the server's root dir (as written by the server). */
export function readSavedNotebook(server: JupyterServer, relPath: string): Notebook {
  return JSON.parse(fs.readFileSync(path.join(server.rootDir, relPath), 'utf8')) as Notebook;
}

/** All outputs of all code cells, with their cell index. */
export function notebookOutputs(notebook: Notebook): { cell: number; output: NotebookOutput }[] {
  return notebook.cells.flatMap((cell, index) => (cell.outputs ?? []).map((output) => ({ cell: index, output })));
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A minimal nbformat v4 notebook of code cells (for tests that generate notebooks). */
export function makeNotebook(sources: string[]): Notebook {
  return {
    cells: sources.map((source, i) => ({ id: `cell-${i}`, cell_type: 'code', source, metadata: {}, outputs: [], execution_count: null })),
    metadata: { kernelspec: { name: 'hpcdl', display_name: 'HPC DL (TypeScript)', language: 'typescript' } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** nbformat stores multi-line strings as arrays of lines on disk; this joins them back. */
export function multilineText(value: unknown): string {
  return Array.isArray(value) ? value.join('') : String(value ?? '');
}
