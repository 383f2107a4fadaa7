export { LocalLauncher } from './local';
export { SrunLauncher, SbatchLauncher, type SlurmLauncherOptions } from './slurm';
export { EngineSupervisor, type ReplacementEvent, type SupervisorOptions } from './supervisor';
export { hpcdlProcessCommand } from './command';
export type { EngineLauncher, LaunchContext, EngineExit } from './types';
