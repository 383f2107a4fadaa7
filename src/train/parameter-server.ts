/**
 * One parameter server (the seed's `server.join()` ranks): it holds a slice of
 * the flattened variables and its Adam moments, and answers the workers'
 * messages (ps-worker.ts sends them) until every worker is done:
 *
 *   init  (chief, first)  total length, resume point, [weights | m | v] of this slice
 *   pull                   → weights of the slice, global step, resume point
 *   push  {step, loss}     gradients of the slice → weights after the update
 *   state (chief)          → [weights | m | v] and the Adam step (for a checkpoint)
 *   done  {pushes}         → once every worker is done: the server's counters
 *
 * sync (SyncReplicasOptimizer): a step waits for `workers - numHotSpares` pushes
 * computed at the current step, averages them and applies Adam; a push computed
 * at an older step (a hot spare came late) is dropped and counted, and its
 * worker gets the current weights. Once workers finish, a step waits for no
 * more pushes than there are workers left.
 * async: every push is applied at once; its staleness (updates since the
 * worker pulled the weights it computed with) is recorded.
 */
import type { LearningRate } from '../config/types';
import { checkLayout, exchangeSetup, roleOf, shardRanges, type ParameterServerGroup, type ParameterServerLayout, type PeerMessage } from './ps-layout';
import { ShardAdam } from './shard-adam';
import { packageVersion } from '../package-info';

export interface ParameterServerOptions {
  group: ParameterServerGroup;
  layout: ParameterServerLayout;
  learningRate: LearningRate;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  log?: (line: string) => void;
}

export interface ParameterServerStats {
  /** server index (= its rank) */
  server: number;
  mode: 'sync' | 'async';
  /** values of the flattened variables this server holds */
  values: number;
  /** updates applied (the global step reached) */
  globalStep: number;
  /** gradient pushes received, in all and per worker */
  pushes: number;
  pushesByWorker: number[];
  /** pushes averaged into an update */
  applied: number;
  /** sync: late pushes dropped, in all and per worker */
  dropped: number;
  droppedByWorker: number[];
  /** sync: steps applied with fewer than workers - numHotSpares pushes because workers had finished */
  shortSteps: number;
  /** async: updates between a worker's pull and its push */
  staleness: { mean: number; max: number };
}

export async function serveParameters(opts: ParameterServerOptions): Promise<ParameterServerStats> {
  const { group } = opts;
  const layout = checkLayout(opts.layout, group.size);
  const me = roleOf(group.rank, layout.numPs);
  if (me.role !== 'ps') throw new Error(`rank ${group.rank} is a worker, not a parameter server (num_ps ${layout.numPs})`);
  const log = opts.log ?? ((line: string) => console.log(line));
  const workers = group.size - layout.numPs;
  const rankOf = (w: number) => layout.numPs + w;
  await exchangeSetup(group, { role: 'ps', packageVersion: packageVersion(), layout });
  // every worker's first message is expected before any can arrive
  const first = Array.from({ length: workers }, (_, w) => group.recv(rankOf(w)));

  const init = await first[0];
  if (init.meta.type !== 'init') throw new Error(`parameter server ${me.index}: the chief (rank ${rankOf(0)}) sent ${String(init.meta.type)} before init`);
  const total = Number(init.meta.total);
  const [start, end] = shardRanges(total, layout.numPs)[me.index];
  const n = end - start;
  if (init.data?.length !== 3 * n) throw new Error(`parameter server ${me.index}: init carries ${init.data?.length ?? 0} values, expected 3 × ${n} (weights, m, v of values ${start}..${end} of ${total})`);
  const params = init.data.slice(0, n);
  const adam = new ShardAdam(n, opts);
  adam.m.set(init.data.subarray(n, 2 * n));
  adam.v.set(init.data.subarray(2 * n));
  adam.step = Number(init.meta.adamStep);
  const resume = init.meta.resume;
  log(`Rank ${group.rank} is a parameter server (${me.index + 1} of ${layout.numPs}): values ${start}..${end} of ${total}, ${layout.mode === 'sync' ? 'synchronous' : 'asynchronous'} updates from ${workers} workers, global step ${adam.step}`);

  const stats: ParameterServerStats = {
    server: me.index,
    mode: layout.mode,
    values: n,
    globalStep: adam.step,
    pushes: 0,
    pushesByWorker: new Array(workers).fill(0),
    applied: 0,
    dropped: 0,
    droppedByWorker: new Array(workers).fill(0),
    shortSteps: 0,
    staleness: { mean: 0, max: 0 },
  };
  const aggregate = layout.mode === 'sync' ? workers - layout.numHotSpares : 1;
  let active = workers;
  let stalenessSum = 0;
  const sum = new Float32Array(n);
  let lossSum = 0;
  let waiting: number[] = [];
  const finished: number[] = [];

  const send = (w: number, meta: Record<string, unknown>, data?: Float32Array) => group.send(rankOf(w), { meta, data });
  const weights = (extra: Record<string, unknown>) => ({ type: 'weights', globalStep: adam.step, ...extra });

  const applyStep = async () => {
    const count = waiting.length;
    for (let i = 0; i < n; i++) sum[i] /= count;
    adam.apply(params, sum);
    sum.fill(0);
    const loss = lossSum / count;
    lossSum = 0;
    stats.applied += count;
    if (count < aggregate) stats.shortSteps++;
    const replyTo = waiting;
    waiting = [];
    const data = params.slice();
    await Promise.all(replyTo.map((w) => send(w, weights({ loss, pushes: count, applied: true }), data)));
  };

  const onPush = async (w: number, msg: PeerMessage) => {
    const step = Number(msg.meta.step);
    const loss = Number(msg.meta.loss);
    if (msg.data?.length !== n) throw new Error(`parameter server ${me.index}: worker ${w} pushed ${msg.data?.length ?? 0} gradients for a slice of ${n}`);
    stats.pushes++;
    stats.pushesByWorker[w]++;
    if (layout.mode === 'async') {
      const staleness = adam.step - step;
      stalenessSum += staleness;
      stats.staleness.max = Math.max(stats.staleness.max, staleness);
      adam.apply(params, msg.data);
      stats.applied++;
      await send(w, weights({ loss, applied: true, staleness }), params.slice());
      return;
    }
    if (step < adam.step) {
      stats.dropped++;
      stats.droppedByWorker[w]++;
      await send(w, weights({ loss, applied: false, stale: adam.step - step }), params.slice());
      return;
    }
    if (step > adam.step) throw new Error(`parameter server ${me.index}: worker ${w} pushed gradients of step ${step}, ahead of this server's step ${adam.step}`);
    const g = msg.data;
    for (let i = 0; i < n; i++) sum[i] += g[i];
    lossSum += loss;
    waiting.push(w);
    if (waiting.length >= Math.min(aggregate, active)) await applyStep();
  };

  const onDone = async (w: number, msg: PeerMessage) => {
    const told = Number(msg.meta.pushes);
    if (told !== stats.pushesByWorker[w]) throw new Error(`parameter server ${me.index}: worker ${w} says it pushed ${told} times, this server received ${stats.pushesByWorker[w]}`);
    active--;
    finished.push(w);
    if (waiting.length > 0 && waiting.length >= Math.min(aggregate, active)) await applyStep();
    if (active > 0) return;
    stats.globalStep = adam.step;
    stats.staleness.mean = stats.pushes > 0 && layout.mode === 'async' ? stalenessSum / stats.pushes : 0;
    log(
      `Rank ${group.rank} : parameter server ${me.index} done at global step ${adam.step}: ${stats.pushes} pushes, ${stats.applied} applied` +
        (layout.mode === 'sync' ? `, ${stats.dropped} late ones dropped` : `, staleness mean ${stats.staleness.mean.toFixed(2)} max ${stats.staleness.max}`),
    );
    const data = params.slice();
    await Promise.all(finished.map((x) => send(x, { type: 'bye', stats }, data)));
  };

  const serve = async (w: number, next: Promise<PeerMessage>) => {
    for (;;) {
      const msg = await next;
      const type = msg.meta.type;
      if (type === 'done') return onDone(w, msg);
      next = group.recv(rankOf(w)); // posted before the reply that lets the worker send again
      if (type === 'push') await onPush(w, msg);
      else if (type === 'pull') await send(w, weights({ resume }), params.slice());
      else if (type === 'state') {
        const state = new Float32Array(3 * n);
        state.set(params);
        state.set(adam.m, n);
        state.set(adam.v, 2 * n);
        await send(w, { type: 'state', globalStep: adam.step, adamStep: adam.step }, state);
      } else throw new Error(`parameter server ${me.index}: worker ${w} sent an unknown message type ${JSON.stringify(type)}`);
    }
  };
  await Promise.all(first.map((p, w) => serve(w, w === 0 ? group.recv(rankOf(0)) : p)));
  return stats;
}
