/** Engines as child processes of this process (the embedded default). */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hpcdlProcessCommand } from './command';
import type { EngineExit, EngineLauncher, LaunchContext } from './types';

const LOG_TAIL = 30;

interface LocalEngine {
  child: ChildProcess;
  tail: string[];
  /** why we killed it ourselves, if we did */
  killedBecause?: string;
}

export class LocalLauncher implements EngineLauncher {
  readonly kind = 'local' as const;
  readonly reportsExits = true;
  private ctx: LaunchContext | null = null;
  private onExit: ((exit: EngineExit) => void) | null = null;
  private readonly engines = new Map<number, LocalEngine>();
  private stopping = false;
  private count = 1;

  async start(count: number, ctx: LaunchContext, onExit: (exit: EngineExit) => void): Promise<void> {
    this.ctx = ctx;
    this.onExit = onExit;
    this.count = count;
    fs.mkdirSync(ctx.workDir, { recursive: true });
    for (let slot = 0; slot < count; slot++) this.spawnEngine(slot);
  }

  async relaunch(launchSlot: number): Promise<void> {
    if (!this.stopping) this.spawnEngine(launchSlot);
  }

  pids(): number[] {
    return [...this.engines.values()].map((e) => e.child.pid!).filter(Boolean);
  }

  /** The engine process of one launch slot (for tests and diagnostics). */
  /** the last lines of engines that exited, by launch slot */
  private readonly exitedTails = new Map<number, string[]>();

  pidOf(launchSlot: number): number | undefined {
    return this.engines.get(launchSlot)?.child.pid;
  }

  /** The last lines of the slot's engine, also after it exited (an engine that died at start-up says why there). */
  recentLog(launchSlot: number): string[] {
    return (this.engines.get(launchSlot)?.tail ?? this.exitedTails.get(launchSlot) ?? []).slice();
  }

  /**
   * Engines on this host share its cores: unless the user chose, training
   * inside each engine computes gradients on its share of them.
   */
  private trainThreads(ctx: LaunchContext): Record<string, string> {
    if (process.env.HPCDL_TRAIN_THREADS || ctx.env?.HPCDL_TRAIN_THREADS) return {};
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    return { HPCDL_TRAIN_THREADS: String(Math.max(1, Math.floor(cores / (this.count * ctx.slots)))) };
  }

  private spawnEngine(slot: number): void {
    const ctx = this.ctx!;
    const { command, args } = hpcdlProcessCommand('engine', ['--connect', ctx.connectionFile, '--slots', String(ctx.slots), ...(ctx.engineArgs ?? [])]);
    const logFile = path.join(ctx.workDir, `engine-${slot}.log`);
    const log = fs.createWriteStream(logFile, { flags: 'a', mode: 0o600 });
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: an interrupt of the client's group (a Jupyter kernel) must not stop engines
      env: {
        ...process.env,
        ...ctx.env,
        ...this.trainThreads(ctx),
        HPCDL_PARENT_PID: String(process.pid),
        HPCDL_ENGINE_LABELS: JSON.stringify({ launcher: ctx.launcherId, launch_slot: String(slot) }),
      },
    });
    const entry: LocalEngine = { child, tail: [] };
    this.engines.set(slot, entry);
    const collect = (chunk: Buffer): void => {
      log.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        entry.tail.push(line);
        if (entry.tail.length > LOG_TAIL) entry.tail.shift();
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('error', (err) => ctx.log(`local launcher: engine ${slot} could not start: ${err.message}`));
    child.on('exit', (code, signal) => {
      log.end();
      if (this.engines.get(slot) === entry) this.engines.delete(slot);
      this.exitedTails.set(slot, entry.tail);
      if (this.stopping) return;
      const reason = entry.killedBecause
        ? `${entry.killedBecause}; its process ${child.pid} was killed`
        : signal
          ? `engine process ${child.pid} was killed by ${signal}`
          : `engine process ${child.pid} exited with code ${code}`;
      // 0 = asked to shut down, 2 = refused (bad key), 3 = controller unreachable: a new engine would fare no better.
      const restartable = signal !== null || (code !== 0 && code !== 2 && code !== 3);
      this.onExit?.({ launchSlot: slot, reason, restartable });
    });
  }

  terminate(launchSlot: number, pid: number, reason: string): void {
    const entry = this.engines.get(launchSlot);
    if (!entry || entry.child.pid !== pid) return;
    // A process that really died is reaped within moments; only a hung one is still there after the grace.
    const timer = setTimeout(() => {
      if (this.stopping || entry.child.exitCode !== null || entry.child.signalCode !== null) return;
      entry.killedBecause = reason;
      entry.child.kill('SIGKILL');
    }, 1000);
    timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const exits = [...this.engines.values()].map(({ child }) => waitForExit(child));
    for (const { child } of this.engines.values()) child.kill('SIGTERM');
    const timer = setTimeout(() => this.killNow(), 5000);
    await Promise.all(exits);
    clearTimeout(timer);
    this.engines.clear();
  }

  killNow(): void {
    this.stopping = true;
    for (const { child } of this.engines.values()) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}

export function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
