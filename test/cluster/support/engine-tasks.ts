/** Task functions the engine/client/failure tests run on real engines. */
import { report, shared, taskContext } from '../../../cluster/engine/task-api';
import { appendFileSync, readFileSync } from 'node:fs';

export function double(x: number): number {
  return x * 2;
}

export async function trainLike(epochs: number, weights: Float32Array): Promise<{ sum: number; scaled: Float32Array }> {
  for (let epoch = 0; epoch < epochs; epoch++) {
    report({ epoch, loss: 1 / (epoch + 1) });
    console.log(`epoch ${epoch}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  process.stderr.write('done training\n');
  return { sum: weights.reduce((a, b) => a + b, 0), scaled: weights.map((w) => w * 2) };
}

/** Busy for `ms` milliseconds (uninterruptible from inside: only terminating the worker stops it). */
export function spin(ms: number): number {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) n++;
  return ms;
}

/** Sleeps `ms` then returns where it ran. */
export async function sleepThenWhere(ms: number): Promise<{ engineId: number | null; host: string; pid: number }> {
  await new Promise((r) => setTimeout(r, ms));
  const ctx = taskContext();
  return { engineId: ctx?.engineId ?? null, host: ctx?.host ?? '', pid: process.pid };
}

export function exitThread(code: number): void {
  process.exit(code);
}

export function throwRange(): never {
  throw new RangeError('value out of range');
}

export function exhaustHeap(): number {
  const hold: number[][] = [];
  for (;;) hold.push(new Array(1_000_000).fill(1.5));
}

export function readShared(name: string): unknown {
  return shared(name) ?? null;
}

export function whoAmI(): { engineId: number | null; pid: number } {
  return { engineId: taskContext()?.engineId ?? null, pid: process.pid };
}

/** Sleeps `ms` and returns when it started and ended (for overlap checks). */
export async function sleepWindow(ms: number): Promise<{ start: number; end: number }> {
  const start = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  return { start, end: Date.now() };
}

/** Appends `item` to `file` as it starts (so a test counts executions on the engines), sleeps `ms`, returns `item`. */
export async function recordRunThenSleep([file, item, ms]: [string, number, number]): Promise<number> {
  appendFileSync(file, `${item}\n`);
  await new Promise((r) => setTimeout(r, ms));
  return item;
}

/** How many times each item was recorded by recordRunThenSleep. */
export function runCounts(file: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) if (line) counts.set(Number(line), (counts.get(Number(line)) ?? 0) + 1);
  return counts;
}

/** Allocates `count` Buffers of `mb` MiB, filled (so their pages are resident), in one synchronous loop. */
export function fillBuffers(count: number, mb: number): number {
  const hold: Buffer[] = [];
  for (let i = 0; i < count; i++) hold.push(Buffer.alloc(mb * 1024 * 1024, 1));
  return hold.length;
}

/** The same with an await between allocations, untouched (virtual until written): only the worker's own report sees them. */
export async function allocateBuffersSlowly(count: number, mb: number): Promise<number> {
  const hold: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    hold.push(Buffer.alloc(mb * 1024 * 1024));
    await new Promise((r) => setTimeout(r, 100));
  }
  return hold.length;
}

/** Sleeps `ms` and returns it with the engine that ran it. */
export async function sleepThenValue(ms: number): Promise<{ ms: number; engineId: number | null }> {
  await new Promise((r) => setTimeout(r, ms));
  return { ms, engineId: taskContext()?.engineId ?? null };
}
