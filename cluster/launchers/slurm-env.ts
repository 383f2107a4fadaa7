/**
 * The Slurm allocation a process runs in, read from the environment Slurm
 * sets (salloc, sbatch, srun): job id, node list, tasks, this task's rank and
 * local rank, its CPUs and GPUs. Outside an allocation a Slurm-only action
 * fails with one line saying so.
 */
import { expandHostlist } from '../collectives/slurm-hostlist';

export class NoAllocationError extends Error {}

export interface SlurmAllocation {
  jobId: string;
  /** the node list expression (SLURM_JOB_NODELIST) and its hosts */
  nodeList: string;
  nodes: string[];
  /** tasks of the job step (srun) or job (SLURM_NTASKS); null when Slurm did not say */
  ntasks: number | null;
  /** this task's rank and local rank on its node; null outside an srun step */
  procId: number | null;
  localId: number | null;
  /** SLURM_CPUS_PER_TASK; null when not requested */
  cpusPerTask: number | null;
  /** GPUs of this node Slurm handed out (SLURM_STEP_GPUS / SLURM_JOB_GPUS / CUDA_VISIBLE_DEVICES) */
  gpus: string[];
}

function int(env: NodeJS.ProcessEnv, ...names: string[]): number | null {
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    // SLURM_TASKS_PER_NODE-style "2(x3)" values: the first count
    const n = Number(/^\d+/.exec(raw)?.[0] ?? NaN);
    if (!Number.isInteger(n)) throw new Error(`${name}=${JSON.stringify(raw)} is not an integer`);
    return n;
  }
  return null;
}

/** True when this process runs inside a Slurm allocation. */
export function inAllocation(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.SLURM_JOB_ID);
}

/** The allocation; `action` names what needed it in the error outside one. */
export function slurmAllocation(action = 'this', env: NodeJS.ProcessEnv = process.env): SlurmAllocation {
  if (!inAllocation(env)) {
    throw new NoAllocationError(`${action} needs a Slurm allocation (SLURM_JOB_ID is not set): run it inside salloc, sbatch or srun`);
  }
  const nodeList = env.SLURM_STEP_NODELIST || env.SLURM_JOB_NODELIST || env.SLURM_NODELIST || '';
  const gpuList = env.SLURM_STEP_GPUS || env.SLURM_JOB_GPUS || env.CUDA_VISIBLE_DEVICES || '';
  return {
    jobId: env.SLURM_JOB_ID!,
    nodeList,
    nodes: nodeList ? expandHostlist(nodeList) : [],
    ntasks: int(env, 'SLURM_STEP_NUM_TASKS', 'SLURM_NTASKS', 'SLURM_NPROCS'),
    procId: int(env, 'SLURM_PROCID'),
    localId: int(env, 'SLURM_LOCALID'),
    cpusPerTask: int(env, 'SLURM_CPUS_PER_TASK'),
    gpus: gpuList.split(',').map((g) => g.trim()).filter((g) => g !== '' && g !== 'NoDevFiles'),
  };
}

/**
 * The environment that pins one engine (local rank `localId` of `perNode` on
 * its node) to its share: one GPU each when the node has GPUs
 * (CUDA_VISIBLE_DEVICES), else its cores' worth of gradient threads
 * (HPCDL_TRAIN_THREADS, OMP_NUM_THREADS).
 */
export function engineShareEnv(a: SlurmAllocation, localId: number, perNode: number, nodeCpus: number): Record<string, string> {
  if (a.gpus.length > 0) {
    return { CUDA_VISIBLE_DEVICES: a.gpus[localId % a.gpus.length] };
  }
  const threads = a.cpusPerTask ?? Math.max(1, Math.floor(nodeCpus / Math.max(1, perNode)));
  return { HPCDL_TRAIN_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
}

/**
 * Inside an srun step (an engine started by the srun or sbatch launcher):
 * pins this task to its share of the node by setting the variables of
 * `engineShareEnv` that the user did not set. Returns what it set.
 */
export function pinToSlurmShare(env: NodeJS.ProcessEnv, nodeCpus: number): Record<string, string> {
  if (!inAllocation(env) || env.SLURM_STEP_ID === undefined || env.SLURM_LOCALID === undefined) return {};
  const a = slurmAllocation('pinning', env);
  const perNode = int(env, 'SLURM_STEP_TASKS_PER_NODE', 'SLURM_TASKS_PER_NODE') ?? 1;
  const share = engineShareEnv(a, a.localId ?? 0, perNode, nodeCpus);
  const applied: Record<string, string> = {};
  for (const [key, value] of Object.entries(share)) {
    // a GPU list Slurm set for the whole step is narrowed to this task's GPU; the user's own settings stay
    const narrowing = key === 'CUDA_VISIBLE_DEVICES' && a.gpus.length > 1 && perNode > 1;
    if (env[key] !== undefined && !narrowing) continue;
    env[key] = value;
    applied[key] = value;
  }
  return applied;
}
