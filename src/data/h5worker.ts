/**
 * A worker thread that reads rows of HDF5 datasets with its own h5wasm
 * instance, so that files which need the HDF5 library (chunked, compressed)
 * are decompressed off the main thread while training runs there.
 * One worker serves the whole process; it is created on first use and does
 * not keep the process alive when idle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Code of the worker (a CommonJS script run with `eval: true`). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let h5 = null;
const files = new Map();
function reason(e) {
  const text = e && e.message ? e.message : String(e);
  const frames = [...text.matchAll(/#\\d+:.*? in [\\w.]+\\(\\): (.*)$/gm)].map((m) => m[1].trim());
  return frames.length ? frames[frames.length - 1] : text.split('\\n')[0];
}
async function handle(m) {
  if (!h5) {
    h5 = await import(workerData.h5wasmUrl);
    const module = await h5.ready;
    module.activate_throwing_error_handler();
  }
  if (m.op === 'close') {
    const f = files.get(m.path);
    if (f) { files.delete(m.path); f.close(); }
    return {};
  }
  let f = files.get(m.path);
  if (!f) { f = new h5.File(m.path, 'r'); files.set(m.path, f); }
  const Module = h5.Module;
  const ptr = Module._malloc(m.nbytes);
  if (!ptr) throw new Error('cannot allocate ' + m.nbytes + ' bytes in the worker wasm heap');
  try {
    const rank = m.shape.length;
    const count = [BigInt(m.count), ...m.shape.slice(1).map((d) => BigInt(d))];
    const offset = [BigInt(m.start), ...new Array(rank - 1).fill(0n)];
    const stride = new Array(rank).fill(1n);
    Module.get_dataset_data(f.file_id, '/' + m.dataset, count, offset, stride, BigInt(ptr));
    return { bytes: Module.HEAPU8.slice(ptr, ptr + m.nbytes).buffer };
  } finally {
    Module._free(ptr);
  }
}
parentPort.on('message', (m) => {
  handle(m).then(
    (r) => parentPort.postMessage({ id: m.id, ...r }, r.bytes ? [r.bytes] : []),
    (e) => parentPort.postMessage({ id: m.id, error: reason(e) }),
  );
});
`;

interface Pending {
  resolve: (bytes: ArrayBuffer | undefined) => void;
  reject: (err: Error) => void;
}

function findH5wasm(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', 'h5wasm', 'dist', 'node', 'hdf5_hl.js');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`h5wasm not found in any node_modules above ${__dirname}`);
  }
}

class ReaderThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failed: Error | null = null;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { h5wasmUrl: pathToFileURL(findH5wasm()).href } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; bytes?: ArrayBuffer; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.bytes);
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      if (shared === this) shared = null;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`HDF5 reader thread exited (code ${code})`)));
  }

  request(message: Record<string, unknown>): Promise<ArrayBuffer | undefined> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // keep the process alive while a read is outstanding
      this.worker.ref();
      this.worker.postMessage({ ...message, id });
    });
  }
}

let shared: ReaderThread | null = null;

function thread(): ReaderThread {
  if (!shared) shared = new ReaderThread();
  return shared;
}

/** Read rows [start, start+count) of `dataset` (raw bytes in the file's element type) in the reader thread. */
export async function readRowsInThread(
  filePath: string,
  dataset: string,
  shape: number[],
  start: number,
  count: number,
  elementSize: number,
): Promise<Uint8Array> {
  const nbytes = count * shape.slice(1).reduce((a, b) => a * b, 1) * elementSize;
  const bytes = await thread().request({ op: 'read', path: path.resolve(filePath), dataset, shape, start, count, nbytes });
  return new Uint8Array(bytes!);
}

/** Forget a file in the reader thread (if it was ever opened there). */
export function closeInThread(filePath: string): void {
  if (shared) shared.request({ op: 'close', path: path.resolve(filePath) }).catch(() => undefined);
}
