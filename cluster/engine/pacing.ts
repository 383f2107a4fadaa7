/**
 * The engine's timing knobs in one place: how many short tasks a worker is
 * handed at once, when the engine spins for an imminent result, and how long
 * results and task_started notices wait to travel together.
 */

/**
 * Short tasks are sent to a worker many at a time (one thread wake-up per
 * refill instead of per task); long ones one by one. The depth is chosen so a
 * worker holds about PIPELINE_BUDGET_MS of work that no other slot can take.
 */
export const MAX_PIPELINE = 64;
export const SHORT_TASK_MS = 2;
export const PIPELINE_BUDGET_MS = 32;
/** tasks this short (ms, moving average) count as "another result follows almost at once" */
export const IMMINENT_TASK_MS = 0.5;
/** the moving average means nothing before this many tasks finished */
const MIN_FINISHED = 8;
/**
 * When a lone short task goes to an idle worker, the engine polls for its result
 * this long (µs) instead of going to sleep: a sleeping thread takes ~70 µs to
 * wake here, as long as the task itself. Never while other work is waiting.
 */
export const AWAIT_RESULT_SPIN_US = 300;

/**
 * While a worker runs a pipeline of sub-millisecond tasks, results are held
 * until this many are ready (or the pipeline ends, or this long passed), so
 * they travel in a few big frames instead of one small frame per event-loop turn.
 */
export const RESULT_HOLD_MAX = 32;
export const RESULT_HOLD_MS = 1;
/** how long task_started waits for the result of a task expected to be sub-millisecond */
export const STARTED_DELAY_MS = 2;

/** Moving average of task run time, and the pipelining decisions that follow from it. */
export class TaskPace {
  /** moving average of task run time (ms) */
  private averageTaskMs = Number.POSITIVE_INFINITY;
  private finishedCount = 0;

  record(ms: number): void {
    this.averageTaskMs = this.finishedCount === 0 ? ms : this.averageTaskMs * 0.8 + ms * 0.2;
    this.finishedCount += 1;
  }

  /** True when tasks here usually take well under a millisecond. */
  get tasksAreShort(): boolean {
    return this.finishedCount >= MIN_FINISHED && this.averageTaskMs <= IMMINENT_TASK_MS;
  }

  /** How many tasks one worker may hold, with `queued` waiting for `slots` slots. */
  pipelineDepth(queued: number, slots: number): number {
    if (this.finishedCount < MIN_FINISHED || this.averageTaskMs > SHORT_TASK_MS) return 1;
    if (queued <= slots) return 1;
    return Math.max(2, Math.min(MAX_PIPELINE, Math.floor(PIPELINE_BUDGET_MS / Math.max(this.averageTaskMs, 1e-3))));
  }
}
