/**
 * One task of `srun -n N`: forms the group from the Slurm environment (no
 * controller), allreduces integer-valued data and prints one JSON line.
 */
import { groupFromSlurmEnv } from '../../../cluster/collectives';
import { intData, toBase64 } from './data';

async function main(): Promise<void> {
  const group = await groupFromSlurmEnv({ timeoutMs: 60_000 });
  const data = intData(group.rank, 1001);
  await group.allreduce(data);
  const who = await group.allgatherJson({ rank: group.rank, procid: process.env.SLURM_PROCID, pid: process.pid });
  console.log(JSON.stringify({ rank: group.rank, size: group.size, groupId: group.groupId, sum: toBase64(data), who }));
  await group.close();
}

main().catch((err) => {
  console.log(JSON.stringify({ error: (err as Error).message }));
  process.exit(3);
});
