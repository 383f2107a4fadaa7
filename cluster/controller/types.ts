/** The controller's in-memory records of tasks, engines, clients and connections. */
import type { MessageSocket } from '../transport/socket';
import type { WireChannel, PackedRef, ResourceSample, SubscribeTopic, TaskErrorInfo, TaskResultStatus, TaskState, TaskSubmission } from '../protocol';
import type { Journal } from './journal';
import type { ResolvedOptions } from './options';
import type { Outbox } from './outbox';
import type { ResultStore, SpillRef } from './result-store';
import type { SchedEngine, SchedTask } from './scheduler';

export interface StoredResult {
  status: TaskResultStatus;
  value?: PackedRef;
  buffers: Uint8Array[];
  error?: TaskErrorInfo;
  engine_id?: number;
  started_ms?: number;
  finished_ms: number;
  /** the result's buffers are also in this spill file (result-store.ts) */
  spill?: SpillRef;
  /** its buffers left memory: read them back from the spill file */
  evicted?: boolean;
}

export interface Task extends SchedTask {
  id: string;
  state: TaskState;
  spec: Omit<TaskSubmission, 'args'>;
  args: PackedRef;
  argBuffers: Uint8Array[];
  owner: string | null;
  engineId: number | null;
  attempt: number;
  retriesLeft: number;
  /** engines that died (or went away) while running this task, in order */
  lostOn: { engineId: number; host: string; pid: number; reason: string }[] | null;
  waitingOn: number;
  dependents: string[] | null;
  submittedMs: number;
  startedMs: number | null;
  result: StoredResult | null;
  timer: NodeJS.Timeout | null;
  cancelRequested: boolean;
}

export interface EngineInfo extends SchedEngine {
  uuid: string;
  host: string;
  pid: number;
  labels: Record<string, string>;
  peer: Peer;
  lastSeen: number;
  registeredMs: number;
  resourcesHistory: ResourceSample[];
  diedMs: number | null;
  deathReason: string | null;
  tasksDone: number;
  /** set while the connection is closed but the engine may still come back */
  disconnectTimer: NodeJS.Timeout | null;
}

export interface ClientInfo {
  session: string;
  peer: Peer | null;
  topics: Set<SubscribeTopic>;
  taskFilter: Set<string> | null;
  /** set while disconnected: forgets the session when the client grace ends */
  forgetTimer: NodeJS.Timeout | null;
  /** its tasks outlive its disconnection (connect_request.persist) */
  persist: boolean;
}

export interface Peer {
  ws: MessageSocket;
  address: string;
  role: 'unknown' | 'engine' | 'client';
  authenticated: boolean;
  /** the connection's keys after the challenge handshake (null in-process) */
  channel: WireChannel | null;
  outbox: Outbox;
  engine: EngineInfo | null;
  client: ClientInfo | null;
}

/** What every part of the controller shares: identity, settings, log, journal and the resume window. */
export interface ControllerContext {
  readonly clusterId: string;
  readonly opts: ResolvedOptions;
  readonly log: (line: string) => void;
  /** null until the controller opens (and always without a journal) */
  journal: Journal | null;
  /** result bytes in memory, spill files */
  readonly results: ResultStore;
  /** true during the grace period after --resume, while engines find their way back */
  resuming: boolean;
  /** when this controller resumed a cluster (null when it started it) */
  resumedMs: number | null;
  /** set by close(): no more dispatching, and connections closing from then on are not engine deaths */
  closed: boolean;
}

export const TERMINAL: ReadonlySet<TaskState> = new Set<TaskState>(['done', 'error', 'cancelled']);

export function stateForStatus(status: TaskResultStatus): TaskState {
  return status === 'ok' ? 'done' : status;
}

export function errorInfo(ename: string, evalue: string, engine?: EngineInfo): TaskErrorInfo {
  return { ename, evalue, traceback: [], engine_id: engine?.id, host: engine?.host };
}

/** A result that carries only an error and the time it was decided. */
export function errorResult(error: TaskErrorInfo, extra: Partial<StoredResult> = {}): StoredResult {
  return { status: 'error', error, buffers: [], ...extra, finished_ms: Date.now() };
}
