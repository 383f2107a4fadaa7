/**
 * User objectives the search tests run on real engines: `(params, ctx) =>
 * number`, reporting once per epoch with report() from hpcdl/cluster.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { report, taskContext } from '../../../cluster/engine/task-api';
import type { ObjectiveContext } from '../../../cluster/search/types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Appends one line to `<study dir>/events.log` (the study dir is the trial dir's parent). */
function logEvent(ctx: ObjectiveContext, what: string): void {
  fs.appendFileSync(path.join(path.dirname(ctx.dir), 'events.log'), `${what} ${ctx.trial} ${taskContext()?.engineId ?? '?'} ${Date.now()}\n`);
}

/** A smooth bowl with its maximum 1 at x = 0.3, y = 'b'; `epochs` reports approach the final value. */
export async function bowl(params: { x: number; y?: string; epochs?: number; ms?: number }, ctx: ObjectiveContext): Promise<number> {
  logEvent(ctx, 'start');
  const final = 1 - (params.x - 0.3) ** 2 - (params.y === undefined || params.y === 'b' ? 0 : 0.2);
  const epochs = params.epochs ?? 3;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    await sleep(params.ms ?? 50);
    report({ epoch, value: final * (1 - 0.5 / epoch), loss: 1 - final });
  }
  logEvent(ctx, 'end');
  return final;
}

/**
 * Curves whose level is `q` (max direction): trials with a low q fall below
 * the median early and are pruned; every epoch takes `ms`.
 */
export async function plateau(params: { q: number }, ctx: ObjectiveContext & { ms?: number }): Promise<number> {
  logEvent(ctx, 'start');
  const epochs = 8;
  let value = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    await sleep(250);
    value = params.q * (1 - 0.5 / epoch);
    report({ epoch, value });
    logEvent(ctx, `epoch${epoch}`);
  }
  logEvent(ctx, 'end');
  return value;
}

/** Throws on `kind: 'boom'` (every attempt), NaN loss on 'nan', chance-level AUC on 'flat'; else a score. */
export async function fragile(params: { kind: string; x?: number }, ctx: ObjectiveContext): Promise<number> {
  logEvent(ctx, `start-${params.kind}`);
  await sleep(50);
  if (params.kind === 'boom') throw new Error(`objective exploded on kind=boom (trial ${ctx.trial})`);
  if (params.kind === 'nan') {
    report({ epoch: 1, loss: 0.7, val_auc: 0.6 });
    await sleep(50);
    report({ epoch: 2, loss: NaN, val_auc: 0.6 });
    await sleep(5000); // the driver cancels this task when it sees the NaN
    return 0.6;
  }
  if (params.kind === 'flat') {
    for (let epoch = 1; epoch <= 2; epoch++) report({ epoch, loss: 0.69, val_auc: 0.5 });
    return 0.5;
  }
  for (let epoch = 1; epoch <= 2; epoch++) report({ epoch, loss: 0.3, val_auc: 0.7 + 0.1 * (params.x ?? 0.5) });
  return 0.7 + 0.1 * (params.x ?? 0.5);
}

/** Sleeps `seconds` (uneven trial lengths for the utilisation checks), reporting each 100 ms "epoch". */
export async function sleeper(params: { seconds: number }, ctx: ObjectiveContext): Promise<number> {
  logEvent(ctx, 'start');
  const epochs = Math.max(1, Math.round(params.seconds * 10));
  for (let epoch = 1; epoch <= epochs; epoch++) {
    await sleep(100);
    report({ epoch, value: params.seconds });
  }
  logEvent(ctx, 'end');
  return params.seconds;
}

/** Kills its own engine process on the first attempt of a trial with `kind: 'die'`; the retry completes. */
export async function dies(params: { kind: string }, ctx: ObjectiveContext): Promise<number> {
  logEvent(ctx, `start-${params.kind}`);
  const marker = path.join(ctx.dir, 'died-once');
  if (params.kind === 'die' && !fs.existsSync(marker)) {
    // die once the controller knows the task started: a task lost before its start is re-queued by the
    // controller itself (not a failure the driver sees), which is not what this objective is for
    await sleep(500);
    fs.mkdirSync(ctx.dir, { recursive: true });
    fs.writeFileSync(marker, String(process.pid));
    process.kill(process.pid, 'SIGKILL');
  }
  await sleep(100);
  report({ epoch: 1, value: 1 });
  return 1;
}
