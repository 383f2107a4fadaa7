/**
 * Views decide where work goes: every engine (`all()`), one engine
 * (`engine(id)`), or wherever the controller's scheduler has room (`balanced()`).
 */
import type { TaskCode } from '../protocol';
import type { GroupHandle, TaskHandle } from './handles';
import type { TaskOptions, TaskSubmitter } from './submitter';
import { taskCode, type TaskSpec } from './task-code';

export type { TaskOptions };

/** `broadcast(name, value)`: the engine stores the value for `shared(name)` (a named task kind, not code). */
const SHARE: TaskCode = { kind: 'share' };

export class BalancedView {
  constructor(
    private readonly cluster: TaskSubmitter,
    readonly options: TaskOptions,
  ) {}

  /** The same view with more options, e.g. `.with({retries: 2, resources: {gpus: 1}})`. */
  with(opts: TaskOptions): BalancedView {
    return new BalancedView(this.cluster, { ...this.options, ...opts });
  }

  /** Run one task wherever there is room. */
  submit<R = unknown>(task: TaskSpec, ...args: unknown[]): TaskHandle<Awaited<R>> {
    return this.cluster.submit<Awaited<R>>(taskCode(task), args, this.options, null);
  }

  /** Quick cells: `await cluster.balanced().apply((x) => x * 2, 21)` sends the function source. */
  apply<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): TaskHandle<Awaited<R>>;
  apply<R = unknown>(task: TaskSpec, ...args: unknown[]): TaskHandle<Awaited<R>>;
  apply(task: TaskSpec, ...args: unknown[]): TaskHandle<unknown> {
    return this.submit(task, ...args);
  }

  /** One task per item (`task(item)`); awaiting gives the values in item order. */
  map<T, R>(fn: (item: T) => R, items: Iterable<T>): GroupHandle<Awaited<R>>;
  map<R = unknown>(task: TaskSpec, items: Iterable<unknown>): GroupHandle<R>;
  map(task: TaskSpec, items: Iterable<unknown>): GroupHandle<unknown> {
    const handles = [...items].map((item) => this.cluster.submit<unknown>(taskCode(task), [item], this.options, null));
    return this.cluster.group(handles);
  }

  /** Like map, but yields values as tasks complete (fastest first). */
  imap<T, R>(fn: (item: T) => R, items: Iterable<T>): AsyncGenerator<Awaited<R>, void, undefined>;
  imap<R = unknown>(task: TaskSpec, items: Iterable<unknown>): AsyncGenerator<R, void, undefined>;
  imap(task: TaskSpec, items: Iterable<unknown>): AsyncGenerator<unknown, void, undefined> {
    return this.map(task, items).asCompleted();
  }
}

/** One engine. */
export class EngineView {
  constructor(
    private readonly cluster: TaskSubmitter,
    readonly engineId: number,
    readonly options: TaskOptions,
  ) {}

  submit<R = unknown>(task: TaskSpec, ...args: unknown[]): TaskHandle<Awaited<R>> {
    return this.cluster.submit<Awaited<R>>(taskCode(task), args, this.options, [this.engineId]);
  }

  apply<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): TaskHandle<Awaited<R>>;
  apply<R = unknown>(task: TaskSpec, ...args: unknown[]): TaskHandle<Awaited<R>>;
  apply(task: TaskSpec, ...args: unknown[]): TaskHandle<unknown> {
    return this.submit(task, ...args);
  }

  map<R = unknown>(task: TaskSpec, items: Iterable<unknown>): GroupHandle<R> {
    return this.cluster.group([...items].map((item) => this.cluster.submit<R>(taskCode(task), [item], this.options, [this.engineId])));
  }

  /** Store `value` under `name` on this engine; tasks read it with `shared(name)`. */
  broadcast(name: string, value: unknown): TaskHandle<null> {
    return this.cluster.submit<null>(SHARE, [name, value], this.options, [this.engineId]);
  }
}

/**
 * Every engine alive when the call is made (or a given list of ids): `apply`
 * runs the task once on each and gives the values in engine-id order.
 */
export class DirectView {
  constructor(
    private readonly cluster: TaskSubmitter,
    private readonly ids: number[] | null,
    readonly options: TaskOptions,
  ) {}

  get targets(): number[] {
    return this.ids ?? this.cluster.engineIds;
  }

  private eachEngine<R>(task: TaskSpec | TaskCode, args: unknown[]): GroupHandle<R> {
    const targets = this.targets;
    if (targets.length === 0) throw new Error(`no engines are registered with the controller at ${this.cluster.url}`);
    const code = task === SHARE ? SHARE : taskCode(task as TaskSpec);
    return this.cluster.group(targets.map((id) => this.cluster.submit<R>(code, args, this.options, [id], `@${id}`)));
  }

  /** Run on each engine. */
  apply<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): GroupHandle<Awaited<R>>;
  apply<R = unknown>(task: TaskSpec, ...args: unknown[]): GroupHandle<R>;
  apply(task: TaskSpec, ...args: unknown[]): GroupHandle<unknown> {
    return this.eachEngine(task, args);
  }

  /** Alias of apply: run on each engine. */
  run<R = unknown>(task: TaskSpec, ...args: unknown[]): GroupHandle<R> {
    return this.eachEngine(task, args);
  }

  /** Send `value` to every engine under `name`; tasks there read it with `shared(name)` (from hpcdl/cluster). */
  broadcast(name: string, value: unknown): GroupHandle<null> {
    if (typeof name !== 'string' || !name) throw new TypeError('broadcast(name, value): name must be a non-empty string');
    return this.eachEngine<null>(SHARE, [name, value]);
  }

  /** Narrow to some engines. */
  targetsOf(ids: number[]): DirectView {
    return new DirectView(this.cluster, ids, this.options);
  }
}
