/** What every engine launcher (local, srun, sbatch) provides to the supervisor and the client. */

export interface LaunchContext {
  /** connection file the engines pass to --connect */
  connectionFile: string;
  /** tasks each engine runs at once */
  slots: number;
  /** identifies this launcher's engines (label `launcher`) */
  launcherId: string;
  /** directory for engine logs and batch scripts */
  workDir: string;
  /** extra `hpcdl engine` arguments (e.g. --task-memory-mb 2048) */
  engineArgs?: string[];
  env?: Record<string, string>;
  log: (line: string) => void;
}

export interface EngineExit {
  /** which engine of the launch (0..count-1), kept by its replacements */
  launchSlot: number;
  reason: string;
  /** false when the engine stopped on purpose (shutdown) or cannot start (bad key): no replacement */
  restartable: boolean;
}

export interface EngineLauncher {
  readonly kind: 'local' | 'srun' | 'sbatch';
  /**
   * True when the launcher sees each engine's death itself (local child exit).
   * Otherwise the supervisor relies on the controller's `engine_event died`.
   */
  readonly reportsExits: boolean;
  start(count: number, ctx: LaunchContext, onExit: (exit: EngineExit) => void): Promise<void>;
  /** start one engine in place of a dead one */
  relaunch(launchSlot: number): Promise<void>;
  /** stop every engine this launcher started and wait for them */
  stop(): Promise<void>;
  /**
   * Kill one engine the controller declared dead while its process may still
   * exist (hung, stopped); launchers that report exits then see it exit.
   */
  terminate?(launchSlot: number, pid: number, reason: string): void;
  /** synchronous last-resort kill (process 'exit' handler) */
  killNow(): void;
  /** recent log lines of one engine (for error messages) */
  recentLog(launchSlot: number): string[];
}
