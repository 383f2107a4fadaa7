/**
 * One rank of bench/allreduce.ts: joins the group given in argv (JSON), then
 * times allreduce like bench/peers/mpi_allreduce.py: 3 warm-up calls, a
 * barrier, `reps` calls back to back. Rank 0 prints "LISTENING host:port" and
 * one JSON line with the mean time per call.
 */
import { performance } from 'node:perf_hooks';
import { joinGroup } from '../../cluster/collectives';

interface Args {
  groupId: string;
  rank: number;
  size: number;
  key: string;
  master?: string;
  elements: number;
  reps: number;
  compression: 'none' | 'fp16';
  chunkElements?: number;
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2]) as Args;
  const group = await joinGroup({
    groupId: a.groupId,
    rank: a.rank,
    size: a.size,
    key: a.key,
    master: a.master,
    host: '127.0.0.1',
    chunkElements: a.chunkElements,
    onListening: (address) => console.log(`LISTENING ${address}`),
  });
  const data = new Float32Array(a.elements);
  for (let i = 0; i < data.length; i++) data[i] = Math.random();
  for (let i = 0; i < 3; i++) await group.allreduce(data, { compression: a.compression });
  await group.barrier();
  const t0 = performance.now();
  for (let i = 0; i < a.reps; i++) await group.allreduce(data, { compression: a.compression });
  const ms = (performance.now() - t0) / a.reps;
  if (a.rank === 0) console.log(JSON.stringify({ side: 'hpcdl', ranks: a.size, elements: a.elements, ms, compression: a.compression }));
  await group.close();
}

main().catch((err) => {
  console.error(`rank failed: ${(err as Error).message}`);
  process.exit(3);
});
