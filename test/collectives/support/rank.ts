/**
 * One rank of a test group, as its own process: joins the group from argv
 * (JSON: spec and a list of steps), runs the steps, prints one JSON line per
 * result ("RESULT {...}"), "LISTENING host:port" for rank 0, "ERROR <message>"
 * and exit code 3 when a collective fails.
 */
import { joinGroup, type ProcessGroup } from '../../../cluster/collectives';
import { intData, randomData, toBase64 } from './data';

export type Step =
  | { op: 'allreduce'; length: number; fill: 'int' | 'random'; reduce?: 'sum' | 'mean'; compression?: 'none' | 'fp16'; salt?: number; lengthByRank?: number[] }
  | { op: 'allreduceMany'; lengths: number[]; fill: 'int' | 'random'; reduce?: 'sum' | 'mean'; compression?: 'none' | 'fp16' }
  | { op: 'broadcast'; length: number; root: number }
  | { op: 'allgather'; lengths: number[] }
  | { op: 'allgatherJson' }
  | { op: 'barrier'; delayRank?: number; delayMs?: number }
  /** allreduce `length` floats forever, printing "ITER i" after each (for failure tests) */
  | { op: 'loop'; length: number };

export interface RankArgs {
  groupId: string;
  rank: number;
  size: number;
  key: string;
  master?: string;
  timeoutMs?: number;
  heartbeatTimeoutMs?: number;
  steps: Step[];
}

function fill(kind: 'int' | 'random', rank: number, length: number, salt = 0): Float32Array {
  return kind === 'int' ? intData(rank, length, salt) : randomData(rank, length, salt);
}

async function runStep(g: ProcessGroup, step: Step): Promise<unknown> {
  switch (step.op) {
    case 'allreduce': {
      const a = fill(step.fill, g.rank, step.lengthByRank?.[g.rank] ?? step.length, step.salt);
      const out = await g.allreduce(a, { op: step.reduce, compression: step.compression });
      if (out !== a) throw new Error('allreduce did not return its argument');
      return toBase64(a);
    }
    case 'allreduceMany': {
      const arrays = step.lengths.map((n, i) => fill(step.fill, g.rank, n, i));
      await g.allreduceMany(arrays, { op: step.reduce, compression: step.compression });
      return arrays.map(toBase64);
    }
    case 'broadcast': {
      const a = g.rank === step.root ? intData(step.root, step.length) : new Float32Array(step.length).fill(-1);
      await g.broadcast(a, step.root);
      return toBase64(a);
    }
    case 'allgather': {
      const parts = await g.allgather(intData(g.rank, step.lengths[g.rank]));
      return parts.map(toBase64);
    }
    case 'allgatherJson':
      return g.allgatherJson({ rank: g.rank, pid: process.pid, nested: [g.rank, 'x'] });
    case 'barrier': {
      if (g.rank === step.delayRank) await new Promise((r) => setTimeout(r, step.delayMs ?? 0));
      const before = Date.now();
      await g.barrier();
      return { waitedMs: Date.now() - before, leftAt: Date.now() };
    }
    case 'loop': {
      const a = new Float32Array(step.length);
      for (let i = 0; ; i++) {
        a.fill(1);
        await g.allreduce(a);
        console.log(`ITER ${i}`);
      }
    }
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as RankArgs;
  let group: ProcessGroup;
  try {
    group = await joinGroup({
      groupId: args.groupId,
      rank: args.rank,
      size: args.size,
      key: args.key,
      master: args.master,
      host: '127.0.0.1',
      timeoutMs: args.timeoutMs ?? 30_000,
      heartbeatTimeoutMs: args.heartbeatTimeoutMs,
      onListening: (address) => console.log(`LISTENING ${address}`),
    });
  } catch (err) {
    console.log(`ERROR ${(err as Error).message}`);
    process.exit(3);
  }
  console.log(`JOINED ${group.rank}`);
  try {
    for (const step of args.steps) console.log(`RESULT ${JSON.stringify({ op: step.op, value: await runStep(group, step) })}`);
  } catch (err) {
    console.log(`ERROR ${(err as Error).message}`);
    process.exit(3);
  }
  console.log(`STATS ${JSON.stringify(group.stats)}`);
  await group.close();
}

main();
