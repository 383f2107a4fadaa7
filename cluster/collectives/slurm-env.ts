/**
 * A group from the environment of an `srun -n N` job step, without a
 * controller (like torch.distributed's env:// init):
 *   rank   = SLURM_PROCID, size = SLURM_NTASKS
 *   master = first host of SLURM_STEP_NODELIST (else SLURM_JOB_NODELIST), where task 0 runs,
 *            port HPCDL_GROUP_PORT, else 20000 + SLURM_JOB_ID % 20000
 *   key    = option key, else HPCDL_GROUP_KEY, else the per-job key file
 *            ~/.hpcdl/jobs/<SLURM_JOB_ID>.key (mode 0600; rank 0 creates it when absent,
 *            the others wait for it: the home directory is shared across nodes)
 *   group  = "slurm-<job id>.<step id>"
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKey } from '../protocol';
import { joinGroup } from './join-group';
import { firstHost } from './slurm-hostlist';
import type { ProcessGroup } from './types';

export interface SlurmGroupOptions {
  key?: string;
  /** this rank's listener address (default: HPCDL_GROUP_HOST, else derived; see join-group.ts) */
  host?: string;
  timeoutMs?: number;
  heartbeatTimeoutMs?: number;
  /** the environment to read (default process.env) */
  env?: NodeJS.ProcessEnv;
}

function required(env: NodeJS.ProcessEnv, name: string, alt?: string): string {
  const v = env[name] ?? (alt ? env[alt] : undefined);
  if (v === undefined || v === '') throw new Error(`groupFromSlurmEnv: ${name} is not set; run under \`srun -n N\` (or set it)`);
  return v;
}

function int(raw: string, name: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`groupFromSlurmEnv: ${name}=${JSON.stringify(raw)} is not an integer >= ${min}`);
  return n;
}

export function slurmMasterPort(env: NodeJS.ProcessEnv): number {
  if (env.HPCDL_GROUP_PORT) return int(env.HPCDL_GROUP_PORT, 'HPCDL_GROUP_PORT', 1);
  return 20000 + (int(required(env, 'SLURM_JOB_ID'), 'SLURM_JOB_ID', 0) % 20000);
}

export function jobKeyFile(jobId: string): string {
  return path.join(os.homedir(), '.hpcdl', 'jobs', `${jobId}.key`);
}

function readKeyFile(file: string): string {
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) throw new Error(`groupFromSlurmEnv: key file ${file} has mode ${(st.mode & 0o777).toString(8)}; it must be readable by its owner only (chmod 600)`);
  const key = fs.readFileSync(file, 'utf8').trim();
  if (!key) throw new Error(`groupFromSlurmEnv: key file ${file} is empty`);
  return key;
}

/** The per-job key: read it, or (rank 0) create it atomically, or (others) wait for rank 0 to create it. */
export async function perJobKey(jobId: string, rank: number, deadline: number): Promise<string> {
  const file = jobKeyFile(jobId);
  if (fs.existsSync(file)) return readKeyFile(file);
  if (rank === 0) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, generateKey() + '\n', { mode: 0o600 });
    try {
      fs.linkSync(tmp, file); // fails if another process created it meanwhile; then theirs wins
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    return readKeyFile(file);
  }
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (fs.existsSync(file)) return readKeyFile(file);
  }
  throw new Error(`groupFromSlurmEnv: rank ${rank}: the per-job key file ${file} did not appear (rank 0 creates it; is the home directory shared across nodes? or set HPCDL_GROUP_KEY)`);
}

/** Form the group of an `srun -n N` job step from SLURM_PROCID / SLURM_NTASKS / the node list / SLURM_JOB_ID. */
export async function groupFromSlurmEnv(opts: SlurmGroupOptions = {}): Promise<ProcessGroup> {
  const env = opts.env ?? process.env;
  const rank = int(required(env, 'SLURM_PROCID'), 'SLURM_PROCID', 0);
  const size = int(required(env, 'SLURM_NTASKS', 'SLURM_NPROCS'), 'SLURM_NTASKS', 1);
  const jobId = required(env, 'SLURM_JOB_ID', 'SLURM_JOBID');
  const stepId = env.SLURM_STEP_ID ?? env.SLURM_STEPID ?? '0';
  const nodes = required(env, 'SLURM_STEP_NODELIST', 'SLURM_JOB_NODELIST');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const master = `${firstHost(nodes)}:${slurmMasterPort(env)}`;
  const key = opts.key ?? (env.HPCDL_GROUP_KEY || undefined) ?? (size > 1 ? await perJobKey(jobId, rank, deadline) : 'single-rank');
  return joinGroup({
    groupId: `slurm-${jobId}.${stepId}`,
    rank,
    size,
    master,
    key,
    host: opts.host ?? env.HPCDL_GROUP_HOST,
    timeoutMs: Math.max(1000, deadline - Date.now()),
    heartbeatTimeoutMs: opts.heartbeatTimeoutMs,
  });
}
