/**
 * Slurm launchers. `srun` starts engines as a job step inside the current
 * allocation; `sbatch` writes a batch script that runs them with srun and
 * submits it from outside an allocation. Engine deaths are seen through the
 * controller (`engine_event died`); a replacement is one more single-task step
 * or job carrying the same launch slot label.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hpcdlProcessCommand, shellQuote } from './command';
import { waitForExit } from './local';
import type { EngineExit, EngineLauncher, LaunchContext } from './types';

export interface SlurmLauncherOptions {
  /** srun/sbatch/scancel directory or full commands (default: on PATH) */
  srun?: string;
  sbatch?: string;
  scancel?: string;
  partition?: string;
  account?: string;
  /** sbatch --time, e.g. "01:00:00" */
  timeLimit?: string;
  /** engines per node (--ntasks-per-node) */
  tasksPerNode?: number;
  /** --cpus-per-task for each engine */
  cpusPerTask?: number;
  /** --gpus-per-task for each engine */
  gpusPerTask?: number;
  /**
   * sbatch launcher: at most this many engines per batch job (several smaller
   * jobs start sooner than one big one); default: all engines in one job
   */
  enginesPerJob?: number;
  /** extra arguments for srun (srun launcher) or #SBATCH lines (sbatch launcher), e.g. ["--qos=debug"] */
  extraArgs?: string[];
  /** environment for Slurm commands (e.g. SLURM_CONF) */
  env?: Record<string, string>;
}

function engineCommandLine(ctx: LaunchContext, extraLabel?: number): string[] {
  const labelArgs = extraLabel !== undefined ? ['--label', `launch_slot=${extraLabel}`] : [];
  const { command, args } = hpcdlProcessCommand('engine', ['--connect', ctx.connectionFile, '--slots', String(ctx.slots), ...labelArgs, ...(ctx.engineArgs ?? [])]);
  return [command, ...args];
}

function resourceFlags(o: SlurmLauncherOptions): string[] {
  const flags: string[] = [];
  if (o.tasksPerNode) flags.push(`--ntasks-per-node=${o.tasksPerNode}`);
  if (o.cpusPerTask) flags.push(`--cpus-per-task=${o.cpusPerTask}`);
  if (o.gpusPerTask) flags.push(`--gpus-per-task=${o.gpusPerTask}`);
  return flags;
}

function labelsEnv(ctx: LaunchContext): Record<string, string> {
  return { HPCDL_ENGINE_LABELS: JSON.stringify({ launcher: ctx.launcherId }) };
}

/** `srun --ntasks N ... engine --connect FILE`, inside an allocation (SLURM_JOB_ID set). */
export class SrunLauncher implements EngineLauncher {
  readonly kind = 'srun' as const;
  readonly reportsExits = false;
  private ctx: LaunchContext | null = null;
  private readonly steps: ChildProcess[] = [];
  private readonly tails = new Map<number, string[]>();
  private stopping = false;

  constructor(private readonly opts: SlurmLauncherOptions = {}) {}

  async start(count: number, ctx: LaunchContext, _onExit: (exit: EngineExit) => void): Promise<void> {
    if (!process.env.SLURM_JOB_ID && !this.opts.env?.SLURM_JOB_ID) {
      throw new Error('the srun launcher runs inside a Slurm allocation (SLURM_JOB_ID is not set); use launcher "sbatch" from outside one');
    }
    this.ctx = ctx;
    fs.mkdirSync(ctx.workDir, { recursive: true });
    this.runStep(count, -1);
  }

  async relaunch(launchSlot: number): Promise<void> {
    if (!this.stopping) this.runStep(1, launchSlot);
  }

  private runStep(ntasks: number, replacementSlot: number): void {
    const ctx = this.ctx!;
    const args = [
      `--ntasks=${ntasks}`,
      '--kill-on-bad-exit=0',
      // A replacement shares the allocation with the first step, which still holds the dead engine's CPUs.
      ...(replacementSlot >= 0 ? ['--nodes=1', '--overlap'] : []),
      // Started from inside a step (a batch script run by srun): the engines share that step's CPUs.
      ...(replacementSlot < 0 && process.env.SLURM_STEP_ID !== undefined ? ['--overlap'] : []),
      ...resourceFlags(this.opts),
      ...(this.opts.extraArgs ?? []),
      ...engineCommandLine(ctx, replacementSlot >= 0 ? replacementSlot : undefined),
    ];
    const tailKey = Math.max(replacementSlot, 0);
    const logFile = fs.createWriteStream(path.join(ctx.workDir, `srun-step-${this.steps.length}.log`), { flags: 'a', mode: 0o600 });
    const child = spawn(this.opts.srun ?? 'srun', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: srun passes a client-group SIGINT on to the engines
      env: { ...process.env, ...this.opts.env, ...ctx.env, ...labelsEnv(ctx) },
    });
    const tail = this.tails.get(tailKey) ?? [];
    this.tails.set(tailKey, tail);
    const collect = (chunk: Buffer): void => {
      logFile.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) if (line) tail.push(line), tail.length > 30 && tail.shift();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('error', (err) => ctx.log(`srun launcher: could not run srun: ${err.message}`));
    child.on('exit', (code, signal) => {
      logFile.end();
      if (!this.stopping) ctx.log(`srun launcher: step ${child.pid} ended (${signal ?? `code ${code}`})`);
    });
    this.steps.push(child);
  }

  recentLog(launchSlot: number): string[] {
    return this.tails.get(launchSlot)?.slice() ?? this.tails.get(0)?.slice() ?? [];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const live = this.steps.filter((c) => c.exitCode === null && c.signalCode === null);
    // srun forwards SIGTERM to its tasks; a second SIGINT within 1 s would abort the step.
    for (const c of live) c.kill('SIGTERM');
    const timer = setTimeout(() => this.killNow(), 8000);
    await Promise.all(live.map(waitForExit));
    clearTimeout(timer);
  }

  killNow(): void {
    this.stopping = true;
    for (const c of this.steps) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** Writes an sbatch script (`srun` of the engines inside) and submits it; `stop()` scancels. */
export class SbatchLauncher implements EngineLauncher {
  readonly kind = 'sbatch' as const;
  readonly reportsExits = false;
  private ctx: LaunchContext | null = null;
  readonly jobIds: string[] = [];
  private stopping = false;
  private scripts = 0;

  constructor(private readonly opts: SlurmLauncherOptions = {}) {}

  async start(count: number, ctx: LaunchContext, _onExit: (exit: EngineExit) => void): Promise<void> {
    this.ctx = ctx;
    fs.mkdirSync(ctx.workDir, { recursive: true });
    const perJob = this.opts.enginesPerJob && this.opts.enginesPerJob > 0 ? this.opts.enginesPerJob : count;
    for (let offset = 0; offset < count; offset += perJob) await this.submit(Math.min(perJob, count - offset), -1, offset);
  }

  async relaunch(launchSlot: number): Promise<void> {
    if (!this.stopping) await this.submit(1, launchSlot);
  }

  /** The batch script for `count` engines (exported for inspection and tests). */
  script(count: number, replacementSlot = -1, slotOffset = 0): string {
    const ctx = this.ctx!;
    const o = this.opts;
    const name = `hpcdl-engines-${ctx.launcherId}`.slice(0, 60);
    const lines = [
      '#!/bin/bash',
      `#SBATCH --job-name=${name}`,
      `#SBATCH --ntasks=${count}`,
      `#SBATCH --output=${path.join(ctx.workDir, 'slurm-%j.out')}`,
      ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
      ...(o.account ? [`#SBATCH --account=${o.account}`] : []),
      ...(o.timeLimit ? [`#SBATCH --time=${o.timeLimit}`] : []),
      ...resourceFlags(o).map((f) => `#SBATCH ${f}`),
      ...(o.extraArgs ?? []).map((f) => `#SBATCH ${f}`),
      '',
      `# hpcdl engines for cluster ${path.basename(ctx.connectionFile, '.json')} (launcher ${ctx.launcherId})`,
      `export HPCDL_ENGINE_LABELS=${shellQuote(labelsEnv(ctx).HPCDL_ENGINE_LABELS)}`,
      ...(slotOffset > 0 ? [`export HPCDL_LAUNCH_SLOT_OFFSET=${slotOffset}`] : []),
      `srun --kill-on-bad-exit=0 ${engineCommandLine(ctx, replacementSlot >= 0 ? replacementSlot : undefined).map(shellQuote).join(' ')}`,
      '',
    ];
    return lines.join('\n');
  }

  private async submit(count: number, replacementSlot: number, slotOffset = 0): Promise<void> {
    const ctx = this.ctx!;
    const file = path.join(ctx.workDir, `engines-${this.scripts++}.sbatch`);
    fs.writeFileSync(file, this.script(count, replacementSlot, slotOffset), { mode: 0o700 });
    const out = await run(this.opts.sbatch ?? 'sbatch', ['--parsable', file], { ...this.opts.env, ...ctx.env });
    const jobId = out.trim().split(';')[0];
    if (!/^\d+/.test(jobId)) throw new Error(`sbatch ${file} did not print a job id: ${JSON.stringify(out)}`);
    this.jobIds.push(jobId);
    ctx.log(`sbatch launcher: submitted job ${jobId} (${count} engine${count === 1 ? '' : 's'}, script ${file})`);
  }

  recentLog(_launchSlot: number): string[] {
    const ctx = this.ctx;
    if (!ctx) return [];
    const lines: string[] = [];
    for (const id of this.jobIds) {
      const f = path.join(ctx.workDir, `slurm-${id}.out`);
      if (fs.existsSync(f)) lines.push(...fs.readFileSync(f, 'utf8').trim().split('\n').slice(-10));
    }
    return lines.slice(-30);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.jobIds.length === 0) return;
    await run(this.opts.scancel ?? 'scancel', this.jobIds, { ...this.opts.env, ...this.ctx?.env }).catch((err) =>
      this.ctx?.log(`sbatch launcher: scancel ${this.jobIds.join(' ')} failed: ${(err as Error).message}`),
    );
  }

  killNow(): void {
    this.stopping = true;
    if (this.jobIds.length === 0) return;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('node:child_process').execFileSync(this.opts.scancel ?? 'scancel', this.jobIds, { env: { ...process.env, ...this.opts.env }, timeout: 5000, stdio: 'ignore' });
    } catch {
      // best effort at process exit
    }
  }
}

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}
