/**
 * What views (views.ts) need from a cluster client to send work: the small
 * interface they program against instead of the Cluster class.
 */
import type { ResourceRequest, TaskCode } from '../protocol';
import type { GroupHandle, TaskHandle } from './handles';

export interface TaskOptions {
  /** run again on another engine (the failing one blacklisted) this many times */
  retries?: number;
  /**
   * engines that may die while running this task before it fails with EngineLost
   * (default: the controller's, 3); such a rerun does not use up `retries`
   */
  engineLosses?: number;
  /** fail the task when it runs longer (ms); the engine terminates it */
  timeoutMs?: number;
  /** only engines that registered these resources */
  resources?: ResourceRequest;
  /** start only after these tasks finished */
  after?: (string | TaskHandle<unknown>)[];
}

export interface TaskSubmitter {
  /** the controller's URL (for error messages) */
  readonly url: string;
  /** ids of the engines alive now, ascending */
  readonly engineIds: number[];
  /** queue one task; `targets` null = load-balanced; `idSuffix` is appended to its task id */
  submit<T>(code: TaskCode, args: unknown[], opts: TaskOptions, targets: number[] | null, idSuffix?: string): TaskHandle<T>;
  group<T>(handles: TaskHandle<T>[]): GroupHandle<T>;
}
