/**
 * Content shapes of each message type (documented in docs/cluster-protocol.md).
 * Types only: validation of the required fields lives in validation.ts.
 */

export interface GpuInfo {
  index: number;
  name: string;
  memory_bytes: number;
}

export interface EngineResources {
  cpus: number;
  memory_bytes: number;
  gpus: GpuInfo[];
}

export interface ResourceRequest {
  gpus?: number;
  cpus?: number;
  memory_bytes?: number;
}

export interface RegisterRequest {
  host: string;
  pid: number;
  slots: number;
  resources: EngineResources;
  labels?: Record<string, string>;
  /** Stable per engine process; lets the controller recognise a reconnect. */
  engine_uuid: string;
  /** The id this engine had before the controller restarted, if any. */
  previous_id?: number;
  /** Task ids the engine is still running (sent on reconnect after a controller restart). */
  running?: string[];
}

export interface RegisterReply {
  engine_id: number;
  heartbeat_ms: number;
  cluster_id: string;
}

/** `heartbeat` content (engine → controller); `heartbeat_reply` is `{}`. */
export interface Heartbeat {
  running: number;
}

export type TaskKind = 'module' | 'source';

/** A packed value as it sits inside message content; see packInto / unpackFrom. */
export interface PackedRef {
  /** JSON with `{"$buf": k, ...}` markers; k indexes into `$b`. */
  $v: unknown;
  /** Indexes of this value's buffers in the message's `buffers` array. */
  $b: number[];
}

/** What a task calls and with which arguments: shared by submit_request tasks and task_request. */
export interface TaskCall {
  task_id: string;
  kind: TaskKind;
  /** Absolute path or package specifier of the module (kind 'module'). */
  module?: string;
  /** Export name to call (kind 'module'; default 'default'). */
  export?: string;
  /** Self-contained function source, e.g. `(a, b) => a + b` (kind 'source'). */
  source?: string;
  /** Packed array of arguments. */
  args: PackedRef;
  timeout_ms?: number;
}

/**
 * controller → engine. The controller may send more task_requests than the
 * engine has slots (prefetch, for throughput): the engine queues them in order
 * and runs at most `slots` at once, sending task_started when one starts.
 * Several task_requests usually arrive in one `batch`.
 */
export interface TaskRequest extends TaskCall {
  /** 1 for the first attempt, incremented on each retry. */
  attempt?: number;
}

export interface TaskStarted {
  task_id: string;
}

export interface TaskStream {
  task_id: string;
  name: 'stdout' | 'stderr';
  text: string;
  /** Set by the controller when relaying to clients. */
  engine_id?: number;
}

export interface TaskReport {
  task_id: string;
  data: Record<string, unknown>;
  engine_id?: number;
}

export interface TaskErrorInfo {
  ename: string;
  evalue: string;
  traceback: string[];
  engine_id?: number;
  host?: string;
}

export type TaskResultStatus = 'ok' | 'error' | 'cancelled';

export interface TaskResult {
  task_id: string;
  status: TaskResultStatus;
  value?: PackedRef;
  error?: TaskErrorInfo;
  /** Set by the controller when relaying to clients. */
  engine_id?: number;
  started_ms?: number;
  finished_ms?: number;
}

export interface TaskCancel {
  task_id: string;
}

export interface ResourceSample {
  time_ms: number;
  [key: string]: unknown;
}

export interface ResourcesContent {
  sample: ResourceSample;
  /** Set by the controller when relaying to clients. */
  engine_id?: number;
}

export interface ConnectRequest {
  client_session: string;
}

export interface EngineSummary {
  engine_id: number;
  host: string;
  pid: number;
  slots: number;
  running: number;
  resources: EngineResources;
  labels: Record<string, string>;
  state: 'alive' | 'dead';
}

export interface ConnectReply {
  cluster_id: string;
  engines: EngineSummary[];
}

export type TaskTargets = number[] | 'all' | null;

export interface TaskSubmission extends TaskCall {
  /** Engine ids, 'all' (one copy per engine: ids become `<task_id>@<engine_id>`), or null / absent = load-balanced. */
  targets?: TaskTargets;
  retries?: number;
  resources?: ResourceRequest;
  after?: string[];
}

export interface SubmitRequest {
  tasks: TaskSubmission[];
}

export interface SubmitReply {
  accepted: string[];
  rejected: { task_id: string; reason: string }[];
}

export interface CancelRequest {
  task_ids: string[];
}

export interface CancelReply {
  cancelled: string[];
  unknown: string[];
}

export interface ResultRequest {
  task_ids: string[];
}

/** result_reply: finished results are sent as task_result messages (in a batch) before this reply. */
export interface ResultReply {
  pending: string[];
  unknown: string[];
}

export type TaskState = 'waiting' | 'queued' | 'running' | 'done' | 'error' | 'cancelled';

export interface TaskStatusContent {
  task_id: string;
  state: TaskState;
  engine_id?: number;
  attempt?: number;
}

export type SubscribeTopic = 'resources' | 'reports' | 'streams' | 'engines' | 'status';

export interface SubscribeRequest {
  topics: SubscribeTopic[];
  /** Restrict reports/streams/status to these tasks; absent = all tasks. */
  task_ids?: string[];
  /** Replay the bounded history of these topics on subscribe. */
  history?: boolean;
}

export interface EngineEvent {
  event: 'registered' | 'died' | 'unregistered';
  engine_id: number;
  host: string;
  reason?: string;
}

export interface ErrorContent {
  ename: string;
  evalue: string;
}
