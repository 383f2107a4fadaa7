/**
 * One slot of an engine's TaskRunner: the worker thread that runs its tasks,
 * the port everything from that worker arrives on (readable synchronously),
 * the tasks handed to it in order, and the thread's CPU and heap figures.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunnableTask, WorkerInit } from './worker-messages';

export interface AssignedTask {
  task: RunnableTask;
  /** set when the task became the worker's current task */
  startedAt: number | null;
  heapUsed: number;
  /** heap + external memory the worker last reported for this task, and when (ms) */
  memory: number;
  memoryAt: number;
  timer: NodeJS.Timeout | null;
}

export interface Slot {
  index: number;
  worker: Worker | null;
  /** everything the worker sends comes on this port, so it can also be read synchronously */
  fromWorker: MessagePort | null;
  tid: number | null;
  lastCpuTicks: number | null;
  lastCpuSampleAt: number;
  lastHeapUsed: number;
  /** tasks sent to the worker, in its order; [0] is the one it runs */
  assigned: AssignedTask[];
}

export function emptySlot(index: number): Slot {
  return { index, worker: null, fromWorker: null, tid: null, lastCpuTicks: null, lastCpuSampleAt: 0, lastHeapUsed: 0, assigned: [] };
}

const WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.tsxCjsApi && workerData.impl.endsWith('.ts')) require(workerData.tsxCjsApi).register();
require(workerData.impl);
`;

const WORKER_IMPL = path.join(__dirname, `task-worker${path.extname(__filename)}`);

function resolveTsxApi(): string | null {
  try {
    return require.resolve('tsx/cjs/api');
  } catch {
    return null;
  }
}

const TSX_CJS_API = resolveTsxApi();

/** A running task's memory report interval: 1 s for the resource stream, 50 ms when a task memory limit is watched. */
const HEAP_REPORT_MS = 1000;
export const MEMORY_REPORT_MS = 50;

/** Start a worker thread for `slot` (its port and thread fields set; the caller wires the events). */
export function startWorker(slot: Slot, host: string, maxTaskMemoryMb?: number): Worker {
  const channel = new MessageChannel();
  const memoryReportMs = maxTaskMemoryMb ? MEMORY_REPORT_MS : HEAP_REPORT_MS;
  const init: WorkerInit & { impl: string } = { host, slot: slot.index, tsxCjsApi: TSX_CJS_API, toEngine: channel.port2, memoryReportMs, impl: WORKER_IMPL };
  const limits = maxTaskMemoryMb ? { maxOldGenerationSizeMb: maxTaskMemoryMb } : undefined;
  const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: init, transferList: [channel.port2], resourceLimits: limits, stdout: false, stderr: false });
  slot.worker = worker;
  slot.fromWorker = channel.port1;
  slot.tid = null;
  return worker;
}

/** Forget the slot's worker (its port closed); the caller terminates it if needed. */
export function detachWorker(slot: Slot): void {
  slot.fromWorker?.close();
  slot.fromWorker = null;
  slot.worker = null;
  slot.tid = null;
  slot.lastCpuTicks = null;
}

const CLOCK_TICKS_PER_SECOND = 100;

function readThreadCpuTicks(tid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15 of stat)
  } catch {
    return null;
  }
}

/** CPU of the slot's thread since the previous call, percent of one core (from /proc). */
export function sampleCpuPercent(slot: Slot, now: number): number {
  const ticks = slot.tid !== null ? readThreadCpuTicks(slot.tid) : null;
  let cpuPercent = 0;
  if (ticks !== null && slot.lastCpuTicks !== null && now > slot.lastCpuSampleAt) {
    cpuPercent = Math.max(0, ((ticks - slot.lastCpuTicks) / CLOCK_TICKS_PER_SECOND / ((now - slot.lastCpuSampleAt) / 1000)) * 100);
  }
  slot.lastCpuTicks = ticks;
  slot.lastCpuSampleAt = now;
  return cpuPercent;
}
