/** Shared HPO types (contract B between hpo-core and hpo-study; extend only compatibly). */
export type ParamValue = number | string | boolean;
export type Params = Record<string, ParamValue>;
export type Dimension =
  | { type: 'int'; low: number; high: number; step?: number; log?: boolean; when?: Condition }
  | { type: 'float'; low: number; high: number; log?: boolean; when?: Condition }
  | { type: 'categorical'; choices: ParamValue[]; when?: Condition };
/** the dimension exists only when every named parameter takes one of the listed values */
export type Condition = Record<string, ParamValue[]>;
export type SearchSpace = Record<string, Dimension>;
export type Direction = 'min' | 'max';
export type TrialState = 'pending' | 'running' | 'complete' | 'pruned' | 'failed' | 'failed_to_converge';
export interface TrialReport { step: number; value: number; metrics?: Record<string, number> }
export interface Trial {
  id: number;                   // 0,1,2... in proposal order
  params: Params;
  state: TrialState;
  value?: number;               // final objective (complete; best-so-far for pruned)
  reports: TrialReport[];       // intermediate objective values per step (epoch)
  folds?: number[];             // per-fold scores when k-fold
  error?: string;
  attempts: number;
  engine?: number | string;
  startedAt?: number; endedAt?: number;
}
export type AlgorithmName = 'random' | 'grid' | 'gp' | 'tpe' | 'genetic';
export type PrunerName = 'none' | 'median' | 'asha';
export interface StudyOptions {
  space: SearchSpace; algorithm?: AlgorithmName; trials: number; direction?: Direction;
  metric?: string; pruner?: PrunerName | { name: PrunerName; [k: string]: unknown };
  folds?: number; seed?: number; maxParallel?: number; name?: string;
  /** per-algorithm knobs (compatible extension of contract B); see AlgorithmOptions */
  algorithmOptions?: AlgorithmOptions;
}

/** Knobs of the samplers; each sampler reads only its own fields, defaults in docs/hpo.md. */
export interface AlgorithmOptions {
  /** grid: levels per numeric dimension (default 5) */
  levels?: number;
  /** gp: random initial points before the model is used */
  initial?: number;
  /** gp: random candidates scored by expected improvement per proposal */
  candidates?: number;
  /** gp: at most this many finished trials enter the model (best half + most recent half) */
  maxPoints?: number;
  /** tpe: random trials before TPE is used (Optuna: 10) */
  startup?: number;
  /** tpe: candidates drawn from l(x) per proposal (Optuna: 24) */
  eiCandidates?: number;
  /** genetic: population size (NNLO: 10) */
  population?: number;
  /** genetic: probability of mutating each gene */
  mutation?: number;
  /** genetic: probability that a child is a crossover (else a mutated copy of one parent) */
  crossover?: number;
}

/** What the driver tells the study when a trial ends. */
export type TellOutcome = { value: number; folds?: number[] } | { failed: string } | { diverged: string };
export type PruneDecision = 'continue' | 'prune';

/** Every change of a study, in order; the journal writes these as JSON lines. */
export type StudyEvent =
  | { type: 'ask'; trial: Trial; at: number }                        // new trial proposed, now running
  | { type: 'enqueue'; trial: Trial }                                // trial with given params, pending
  | { type: 'start'; trial: Trial; at: number }                      // pending (retried/re-queued) trial handed out again
  | { type: 'assign'; trial: Trial; engine: number | string }
  | { type: 'report'; trial: Trial; step: number; value: number; metrics?: Record<string, number>; decision: PruneDecision; at: number }
  | { type: 'tell'; trial: Trial; at: number }
  | { type: 'retry'; trial: Trial }                                  // failed trial back to pending
  | { type: 'requeue'; trial: Trial };                               // in-flight trial back to pending after a resume
