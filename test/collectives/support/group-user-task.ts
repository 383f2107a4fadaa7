/** User code run by real engines inside a group task (cluster/collectives/group-task.ts#runInGroup). */
import { currentGroup } from '../../../cluster/collectives';
import { taskContext } from '../../../cluster/engine/task-api';

export async function sumRanks(length: number): Promise<{ rank: number; size: number; values: number[]; engineId: number | null; same: boolean }> {
  const ctx = taskContext()!;
  const g = ctx.group!;
  const a = new Float32Array(length).fill(g.rank + 1);
  await g.allreduceMany([a, new Float32Array(3).fill(10)], { op: 'sum' });
  return { rank: g.rank, size: g.size, values: Array.from(a.slice(0, 3)), engineId: ctx.engineId, same: g === currentGroup() };
}

/** allreduce until the group fails (a peer is killed) or 60 s pass */
export async function allreduceUntilFailure(): Promise<string> {
  const g = currentGroup()!;
  const a = new Float32Array(100_000);
  const t0 = Date.now();
  for (let i = 0; Date.now() - t0 < 60_000; i++) {
    await g.allreduce(a);
    if (i === 3) console.log('looping');
  }
  return 'no failure within 60 s';
}
