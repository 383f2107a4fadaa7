/** Task modules the dashboard tests send to real engines (loaded by path). */
import { report } from '../../../cluster/engine/task-api';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reports a training-like step every `everyMs`, `steps` times, with the rank it is given. */
export async function trainSteps(steps: number, everyMs: number, rank = 0, marker = 'step'): Promise<number> {
  for (let step = 1; step <= steps; step++) {
    report({ type: 'step', marker, rank, step, sent_ms: Date.now(), loss: 1 / step, accuracy: 1 - 1 / (step + 1), imagesPerSec: 100 + rank * 10 + step });
    await sleep(everyMs);
  }
  return steps;
}

/** Runs until cancelled (or `ms` passes). */
export async function busy(ms: number): Promise<string> {
  await sleep(ms);
  return 'finished';
}

export async function fail(message: string): Promise<never> {
  throw new Error(message);
}

/** A search objective: (x - 1)², plus 0.5 for kind 'b'; reports it once, as an epoch. */
export async function quadratic(params: { x: number; kind: string }): Promise<number> {
  const value = (params.x - 1) ** 2 + (params.kind === 'b' ? 0.5 : 0);
  report({ epoch: 1, value });
  return value;
}
