/**
 * Content shapes of each message type (documented in docs/cluster-protocol.md),
 * and ContentMap: the content type of every message type, which makes
 * `Message<T>` a discriminated union and `makeMessage` check content at
 * compile time. Types only: validation of the required fields lives in
 * validation.ts.
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

/** A packed value as it sits inside message content; see packInto / unpackFrom. */
export interface PackedRef {
  /** JSON with `{"$buf": k, ...}` markers; k indexes into `$b`. */
  $v: unknown;
  /** Indexes of this value's buffers in the message's `buffers` array. */
  $b: number[];
}

/**
 * What a task runs: one object from the client's view (`balanced().map`)
 * through the controller to the engine's worker thread, under the same field
 * names all the way. The `never` fields let every member be read for them.
 */
export type TaskCode =
  /** an exported function of a module: absolute path or package specifier; `export` defaults to 'default' */
  | { kind: 'module'; module: string; export?: string; source?: never }
  /** a self-contained function source, e.g. `(a, b) => a + b` */
  | { kind: 'source'; source: string; module?: never; export?: never }
  /** `broadcast(name, value)`: the engine stores `value` under `name` for `shared(name)`; args are [name, value] */
  | { kind: 'share'; module?: never; export?: never; source?: never };

export type TaskKind = TaskCode['kind'];

/** A task call whose arguments are in form A: packed on the wire (TaskCall), plain values inside the engine. */
export type TaskCallOf<A> = TaskCode & {
  task_id: string;
  args: A;
  timeout_ms?: number;
};

/** What a task calls and with which arguments: shared by submit_request tasks and task_request. */
export type TaskCall = TaskCallOf<PackedRef>;

/**
 * controller → engine. The controller may send more task_requests than the
 * engine has slots (prefetch, for throughput): the engine queues them in order
 * and runs at most `slots` at once, sending task_started when one starts.
 * Several task_requests usually arrive in one `batch`.
 */
export type TaskRequest = TaskCall & {
  /** 1 for the first attempt, incremented on each retry. */
  attempt?: number;
  /** GPU indexes reserved for the task on this engine */
  gpus?: number[];
};

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
  /** keep this client's tasks when it disconnects for good (default: cancel them after the controller's --orphan-grace-ms) */
  persist?: boolean;
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
  protocol_version?: string;
}

export type TaskTargets = number[] | 'all' | null;

export type TaskSubmission = TaskCall & {
  /** Engine ids, 'all' (one copy per engine: ids become `<task_id>@<engine_id>`), or null / absent = load-balanced. */
  targets?: TaskTargets;
  retries?: number;
  /** engines that may die while running this task before it fails (EngineLost); absent = the controller's default (3) */
  engine_losses?: number;
  resources?: ResourceRequest;
  after?: string[];
};

export interface SubmitRequest {
  tasks: TaskSubmission[];
}

export interface SubmitReply {
  accepted: string[];
  rejected: { task_id: string; reason: string }[];
  /** ids of the copies of a task submitted with targets 'all' */
  expanded?: Record<string, string[]>;
}

/** shutdown_request: from a client `{}`; from the controller to its engines, why. */
export interface ShutdownRequest {
  reason?: string;
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

/** status_request: the controller's status, and the state of these tasks when given. */
export interface StatusRequest {
  task_ids?: string[];
}

/** status_reply: the controller status (see docs/controller.md) plus `task_states` when asked. */
export interface StatusReply {
  task_states?: { task_id: string; state: TaskState | 'unknown'; engine_id?: number; attempt?: number }[];
  [field: string]: unknown;
}

export interface UnsubscribeRequest {
  topics: SubscribeTopic[];
}

/** subscribe_reply (to subscribe_request and unsubscribe_request): the topics now subscribed. */
export interface SubscribeReply {
  topics: SubscribeTopic[];
}

export interface EnginesReply {
  engines: EngineSummary[];
}

export interface ShutdownReply {
  cluster_id: string;
}

/** Content of messages that carry none. */
export type EmptyContent = Record<string, never>;

/** One message inside a batch. Buffers of item i follow those of items 0..i-1. */
export interface BatchItem {
  /** msg_type */
  t: keyof ContentMap;
  /** content (ContentMap[t]; checked on decode like any message's) */
  c: ContentMap[keyof ContentMap];
  /** number of buffers this item owns */
  nb?: number;
  /** parent msg_id, when the item answers a request */
  p?: string;
  /** metadata, when non-empty */
  m?: Record<string, unknown>;
}

export interface BatchContent {
  items: BatchItem[];
}

/** `auth`, the dialer's first message, signed with the cluster key: its own nonce and the acceptor's challenge echoed. */
export interface AuthContent {
  /** the dialer's nonce (64 hex characters) */
  nonce: string;
  /** the acceptor's challenge nonce of this connection (64 hex characters) */
  challenge: string;
}

/** The content type of every message type. */
export interface ContentMap {
  // handshake, dialer → acceptor
  auth: AuthContent;
  // engine → controller
  register_request: RegisterRequest;
  heartbeat: Heartbeat;
  task_started: TaskStarted;
  task_stream: TaskStream;
  task_report: TaskReport;
  task_result: TaskResult;
  resources: ResourcesContent;
  engine_shutdown: EmptyContent;
  // controller → engine
  register_reply: RegisterReply;
  heartbeat_reply: EmptyContent;
  task_request: TaskRequest;
  task_cancel: TaskCancel;
  /** controller → engine, and client → controller */
  shutdown_request: ShutdownRequest;
  // client → controller
  connect_request: ConnectRequest;
  submit_request: SubmitRequest;
  cancel_request: CancelRequest;
  result_request: ResultRequest;
  status_request: StatusRequest;
  subscribe_request: SubscribeRequest;
  unsubscribe_request: UnsubscribeRequest;
  engines_request: EmptyContent;
  // controller → client (task_stream, task_report, task_result, resources as above, relayed)
  connect_reply: ConnectReply;
  submit_reply: SubmitReply;
  cancel_reply: CancelReply;
  result_reply: ResultReply;
  status_reply: StatusReply;
  subscribe_reply: SubscribeReply;
  engines_reply: EnginesReply;
  shutdown_reply: ShutdownReply;
  task_status: TaskStatusContent;
  engine_event: EngineEvent;
  error: ErrorContent;
  // any direction
  batch: BatchContent;
}

/** The reply type of each request type (a request's reply names it as parent; `error` may come instead). */
export interface ReplyTypes {
  register_request: 'register_reply';
  heartbeat: 'heartbeat_reply';
  connect_request: 'connect_reply';
  submit_request: 'submit_reply';
  cancel_request: 'cancel_reply';
  result_request: 'result_reply';
  status_request: 'status_reply';
  subscribe_request: 'subscribe_reply';
  unsubscribe_request: 'subscribe_reply';
  engines_request: 'engines_reply';
  shutdown_request: 'shutdown_reply';
}

export type RequestType = keyof ReplyTypes;
