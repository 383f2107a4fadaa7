/**
 * The parameter-server side of `cluster.train({ strategy: 'parameter-server' })`:
 * a group rank below num_ps serves its slice of the variables
 * (src/train/parameter-server.ts) over the group's point-to-point messages;
 * the gradients come straight from the workers' engines, never through the
 * controller or the client.
 */
import { pointToPoint, type ProcessGroup } from '../collectives';
import { resolveConfig, serveParameters, train, type ParameterServerGroup, type ParameterServerLayout, type ParameterServerStats, type TrainOptions } from '../../src/train';
import type { RankResult, RankTaskArgs } from './rank-task';

/** The group as parameter-server training sees it: the setup exchange, then messages between two ranks. */
export function parameterServerGroup(group: ProcessGroup): ParameterServerGroup {
  const p2p = pointToPoint(group);
  return {
    rank: group.rank,
    size: group.size,
    allgatherJson: (value) => group.allgatherJson(value),
    send: (peer, message) => p2p.send(peer, message),
    recv: (peer) => p2p.recv(peer),
  };
}

/** Serve until every worker is done; the result carries the server's counters. */
export async function serveRank(args: RankTaskArgs, group: ProcessGroup, engineId: number | null, host: string): Promise<RankResult> {
  const job = args.job;
  const learningRate = job.kind === 'hep' ? job.train.config!.learning_rate : job.config.learningRate;
  const started = performance.now();
  const stats = await serveParameters({ group: parameterServerGroup(group), layout: args.parameterServer!, learningRate, log: (line) => console.log(line) });
  return {
    rank: group.rank,
    size: group.size,
    engineId,
    host,
    globalStep: stats.globalStep,
    history: [],
    totalSeconds: (performance.now() - started) / 1000,
    commMs: 0,
    steps: 0,
    groupStats: { ...group.stats },
    interrupted: false,
    role: 'ps',
    parameterServers: [stats],
  };
}

/**
 * One rank of parameter-server training outside a cluster (`srun -n N hpcdl train` with num_ps):
 * a server rank serves, a worker trains the HEP CNN with `options`.
 */
export async function trainOrServe(group: ProcessGroup, layout: ParameterServerLayout, options: TrainOptions): Promise<{ role: 'ps'; stats: ParameterServerStats } | { role: 'worker'; result: Awaited<ReturnType<typeof train>> }> {
  const psGroup = parameterServerGroup(group);
  if (group.rank < layout.numPs) {
    const config = resolveConfig({ ...options, log: () => undefined });
    return { role: 'ps', stats: await serveParameters({ group: psGroup, layout, learningRate: config.learning_rate }) };
  }
  return { role: 'worker', result: await train({ ...options, parameterServer: { group: psGroup, layout } }) };
}
