/**
 * Runs inside a worker thread of an engine: receives one task at a time from the
 * engine's TaskRunner, loads the module (TypeScript through tsx) or evaluates the
 * function source, calls it, and posts streams, reports and the result back.
 * Everything written to process.stdout/stderr or the console is captured.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Console } from 'node:console';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as v8 from 'node:v8';
import { createRequire } from 'node:module';
import type { WorkerToEngine, EngineToWorker, WorkerInit, RunMessage } from './worker-messages';
import { SHARED_KEY, TASK_CONTEXT_KEY } from './task-api';

const init = workerData as WorkerInit;
const port = parentPort!;
const toEngine = init.toEngine;
let currentTaskId: string | null = null;
let tsxRegistered = false;

function post(msg: WorkerToEngine, transfer?: ArrayBuffer[]): void {
  toEngine.postMessage(msg, transfer);
}

function threadId(): number | null {
  try {
    return Number(fs.readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

function captureOutput(): void {
  const makeWrite = (name: 'stdout' | 'stderr') =>
    function write(chunk: unknown, encodingOrCb?: unknown, cb?: unknown): boolean {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      if (currentTaskId !== null && text.length > 0) post({ t: 'stream', taskId: currentTaskId, name, text });
      const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
      return true;
    };
  (process.stdout as unknown as { write: unknown }).write = makeWrite('stdout');
  (process.stderr as unknown as { write: unknown }).write = makeWrite('stderr');
  const console = new Console({ stdout: process.stdout, stderr: process.stderr });
  Object.defineProperty(globalThis, 'console', { value: console, writable: true, configurable: true });
}

function ensureTsx(): void {
  if (tsxRegistered || !init.tsxCjsApi) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(init.tsxCjsApi).register();
  tsxRegistered = true;
}

const moduleCache = new Map<string, Record<string, unknown>>();

async function loadModule(modulePath: string): Promise<Record<string, unknown>> {
  const cached = moduleCache.get(modulePath);
  if (cached) return cached;
  if (!path.isAbsolute(modulePath)) {
    // a package specifier, resolved from the engine's working directory
    let resolved: string;
    try {
      resolved = createRequire(path.join(process.cwd(), 'index.js')).resolve(modulePath);
    } catch (err) {
      throw new Error(`task module "${modulePath}" is neither an absolute path nor a package found from ${process.cwd()} on host ${init.host}: ${(err as Error).message}`);
    }
    return loadModule(resolved);
  }
  if (!fs.existsSync(modulePath)) {
    throw new Error(`task module ${modulePath} does not exist on host ${init.host}`);
  }
  let mod: Record<string, unknown>;
  if (/\.(ts|mts|cts|tsx)$/.test(modulePath)) ensureTsx();
  if (modulePath.endsWith('.mjs')) {
    mod = await import(pathToFileURL(modulePath).href);
  } else {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(modulePath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
      mod = await import(pathToFileURL(modulePath).href);
    }
  }
  moduleCache.set(modulePath, mod);
  return mod;
}

async function resolveModuleFunction(modulePath: string, exportName: string): Promise<(...args: unknown[]) => unknown> {
  const mod = await loadModule(modulePath);
  const candidate = mod[exportName] ?? (mod.default as Record<string, unknown> | undefined)?.[exportName];
  if (typeof candidate !== 'function') {
    const available = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    throw new Error(
      `task module ${modulePath} has no exported function "${exportName}" (exported functions: ${available.join(', ') || 'none'})`,
    );
  }
  return candidate as (...args: unknown[]) => unknown;
}

const sourceCache = new Map<string, (...args: unknown[]) => unknown>();

function compileSource(source: string): (...args: unknown[]) => unknown {
  const cached = sourceCache.get(source);
  if (cached) return cached;
  // Indirect eval: the function sees only globals (require, report, taskContext are set below).
  const fn = (0, eval)(`(${source})`);
  if (typeof fn !== 'function') throw new TypeError(`task source does not evaluate to a function: ${source.slice(0, 80)}`);
  sourceCache.set(source, fn);
  return fn;
}

function describeError(err: unknown): { ename: string; evalue: string; traceback: string[] } {
  if (err instanceof Error) {
    return { ename: err.name, evalue: err.message, traceback: (err.stack ?? `${err.name}: ${err.message}`).split('\n') };
  }
  return { ename: 'Error', evalue: String(err), traceback: [] };
}

function collectTransfers(value: unknown, out: ArrayBuffer[], depth = 0): ArrayBuffer[] {
  if (depth > 4 || value === null || typeof value !== 'object') return out;
  if (ArrayBuffer.isView(value)) {
    const buf = value.buffer;
    // Only whole, unshared buffers can be moved; others are copied by structured clone.
    if (buf instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === buf.byteLength && !out.includes(buf)) out.push(buf);
    return out;
  }
  const items = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  if (items.length > 64) return out;
  for (const item of items) collectTransfers(item, out, depth + 1);
  return out;
}

type DoneMessage = Extract<WorkerToEngine, { t: 'done' }>;

/** Run one task; the result message (without `next`) and what can be transferred. */
async function runTask(msg: RunMessage): Promise<{ done: DoneMessage; transfer: ArrayBuffer[] }> {
  currentTaskId = msg.task_id;
  (globalThis as Record<string, unknown>)[TASK_CONTEXT_KEY] = {
    taskId: msg.task_id,
    engineId: msg.engine_id,
    host: init.host,
    slot: init.slot,
  };
  const started = performance.now();
  try {
    const fn = msg.kind === 'module' ? await resolveModuleFunction(msg.module, msg.export ?? 'default') : taskFunction(msg);
    const value = await fn(...msg.args);
    const ms = performance.now() - started;
    return { done: { t: 'done', taskId: msg.task_id, ok: true, value, heapUsed: v8.getHeapStatistics().used_heap_size, ms, next: null }, transfer: collectTransfers(value, []) };
  } catch (err) {
    const ms = performance.now() - started;
    return { done: { t: 'done', taskId: msg.task_id, ok: false, error: describeError(err), heapUsed: v8.getHeapStatistics().used_heap_size, ms, next: null }, transfer: [] };
  } finally {
    currentTaskId = null;
  }
}

/**
 * Tasks assigned to this worker, run strictly in order. Each result message also
 * names the task started next (or null when going idle), so the engine always
 * knows which task this thread is running without an extra message per task.
 */
const queue: RunMessage[] = [];
const skipped = new Set<string>();
let busy = false;

function takeNext(): RunMessage | null {
  for (;;) {
    const next = queue.shift();
    if (!next) return null;
    if (!skipped.delete(next.task_id)) return next;
  }
}

async function pump(): Promise<void> {
  busy = true;
  let current = takeNext();
  while (current) {
    const { done, transfer } = await runTask(current);
    const following = takeNext();
    done.next = following ? following.task_id : null;
    try {
      post(done, transfer);
    } catch (err) {
      post({
        t: 'done',
        taskId: done.taskId,
        ok: false,
        heapUsed: done.heapUsed,
        ms: done.ms,
        next: done.next,
        error: { ename: 'SerializationError', evalue: `task result cannot be sent back: ${(err as Error).message}`, traceback: [] },
      });
    }
    current = following;
  }
  busy = false;
}

function installGlobals(): void {
  // Quick-cell functions (source tasks) have no imports; give them the essentials.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require('./task-api') as typeof import('./task-api');
  const g = globalThis as Record<string, unknown>;
  g.require = require;
  // Function sources from tsx/esbuild-transpiled code call esbuild's `__name` helper (keepNames).
  if (g.__name === undefined) g.__name = (target: object, value: string) => Object.defineProperty(target, 'name', { value, configurable: true });
  g.report = api.report;
  g.taskContext = api.taskContext;
  g.shared = api.shared;
  g[SHARED_KEY] = sharedValues;
}

/** A `share` task (broadcast): store here and let the engine hand the value to its other workers. */
function shareTask(name: unknown, value: unknown): null {
  if (typeof name !== 'string' || !name) throw new TypeError(`a share task needs a name, got ${JSON.stringify(name)}`);
  sharedValues.set(name, value);
  post({ t: 'share', name, value });
  return null;
}

/** The function of a source or share task (module tasks load asynchronously: resolveModuleFunction). */
function taskFunction(code: Exclude<RunMessage, { kind: 'module' }>): (...args: unknown[]) => unknown {
  return code.kind === 'source' ? compileSource(code.source) : (shareTask as (...args: unknown[]) => unknown);
}

const sharedValues = new Map<string, unknown>();

function heapTicker(): void {
  // Only fires while the task yields to the event loop; the thread's CPU is read from /proc instead,
  // and the engine watches its RSS for a task busy in synchronous code (runner.ts, watchMemory).
  const timer = setInterval(() => {
    if (currentTaskId === null) return;
    const m = process.memoryUsage(); // heap and external are this worker's isolate (rss is the process')
    post({ t: 'mem', taskId: currentTaskId, heapUsed: m.heapUsed, external: m.external });
  }, init.memoryReportMs);
  timer.unref();
}

captureOutput();
installGlobals();
heapTicker();
port.on('message', (msg: EngineToWorker) => {
  if (msg.t === 'run') {
    queue.push(...msg.tasks);
    if (!busy) void pump();
  } else if (msg.t === 'skip') skipped.add(msg.taskId);
  else if (msg.t === 'share') sharedValues.set(msg.name, msg.value);
});
post({ t: 'ready', tid: threadId(), heapUsed: v8.getHeapStatistics().used_heap_size });
