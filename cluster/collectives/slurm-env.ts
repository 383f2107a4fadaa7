import type { ProcessGroup } from './types';

/** Form the group of an `srun -n N` job step from SLURM_PROCID / SLURM_NTASKS / SLURM_JOB_NODELIST / SLURM_JOB_ID. */
export async function groupFromSlurmEnv(opts: { key?: string; host?: string; timeoutMs?: number } = {}): Promise<ProcessGroup> {
  throw new Error(`groupFromSlurmEnv: not implemented yet (${JSON.stringify(opts)})`);
}
