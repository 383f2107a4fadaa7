/**
 * One task of `srun -n N`: forms the group from the Slurm environment (no
 * controller), allreduces integer-valued data and prints one JSON line.
 */
import { groupFromSlurmEnv } from '../../../cluster/collectives';
import { createHash } from 'node:crypto';
import { intData } from './data';

async function main(): Promise<void> {
  const group = await groupFromSlurmEnv({ timeoutMs: 60_000 });
  const data = intData(group.rank, 1001);
  await group.allreduce(data);
  const who = await group.allgatherJson({ rank: group.rank, procid: process.env.SLURM_PROCID, pid: process.pid });
  // A digest, not the values: srun interleaves the tasks' output lines longer than a pipe write (4 KiB).
  const sha256 = createHash('sha256').update(Buffer.from(data.buffer)).digest('hex');
  console.log(JSON.stringify({ rank: group.rank, size: group.size, groupId: group.groupId, sha256, head: Array.from(data.slice(0, 3)), who }));
  await group.close();
}

main().catch((err) => {
  console.log(JSON.stringify({ error: (err as Error).message }));
  process.exit(3);
});
