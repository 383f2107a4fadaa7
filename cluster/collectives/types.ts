/**
 * Contract A (shared with dist-train): a process group of N ranks and its
 * collectives. Training code in src/ declares a structural subset of
 * ProcessGroup (rank, size, allreduceMany, broadcast, allgatherJson) instead
 * of importing this file.
 */
export type ReduceOp = 'sum' | 'mean';

export type Compression = 'none' | 'fp16';

export interface CollectiveStats {
  bytesSent: number;
  bytesReceived: number;
  commMs: number;
  calls: number;
}

export interface AllreduceOptions {
  op?: ReduceOp;
  compression?: Compression;
}

export interface ProcessGroup {
  readonly rank: number; // 0..size-1
  readonly size: number;
  readonly groupId: string;
  /** in place: `data` holds the result on return (also returned). fp16 compresses the wire only. */
  allreduce(data: Float32Array, opts?: AllreduceOptions): Promise<Float32Array>;
  /** tensor fusion: one fused buffer on the wire for many arrays; each array is updated in place */
  allreduceMany(arrays: Float32Array[], opts?: AllreduceOptions): Promise<Float32Array[]>;
  /** root's data is copied into every rank's `data` (same length on every rank, checked) */
  broadcast(data: Float32Array, root?: number): Promise<Float32Array>;
  /** every rank's array, in rank order (lengths may differ) */
  allgather(data: Float32Array): Promise<Float32Array[]>;
  /** small JSON values from every rank, in rank order (for checks such as config hashes) */
  allgatherJson<T>(value: T): Promise<T[]>;
  barrier(): Promise<void>;
  readonly stats: CollectiveStats;
  close(): Promise<void>;
}

/** How ranks find each other. rank 0 listens; `master` is rank 0's "host:port". */
export interface GroupSpec {
  groupId: string;
  rank: number;
  size: number;
  master?: string; // absent on rank 0 when it picks its own port (then `onListening` tells it)
  key: string; // the cluster key (hex/base64 as in the connection file) or a per-job key
  timeoutMs?: number; // rendezvous timeout, default 60 s
}

/** Extra options of joinGroup beyond the contract's GroupSpec (all optional). */
export interface JoinOptions extends GroupSpec {
  /** rank 0: called with "host:port" once its listener is up (publish it to the other ranks) */
  onListening?: (address: string) => void;
  /** address this rank's own listener binds to and advertises (default: HPCDL_GROUP_HOST, else derived) */
  host?: string;
  /** rank 0 only: the port to listen on when `master` is absent (default 0 = any free port) */
  port?: number;
  /** engine id of this rank, when it runs on an engine (named in failure messages) */
  engineId?: number | string | null;
  /** a peer silent for this long is declared dead (default 30 s, or HPCDL_GROUP_HEARTBEAT_TIMEOUT_MS) */
  heartbeatTimeoutMs?: number;
  /** where refused connections and other link events are logged (default: stderr) */
  log?: (line: string) => void;
  /** elements per chunk on the wire (tuning; default in process-group.ts) */
  chunkElements?: number;
  /** log a collective still waiting after this long, naming the ranks it waits for (default 60 s) */
  stallWarningMs?: number;
  /** fail the group when one collective takes longer than this (default: never) */
  collectiveTimeoutMs?: number;
}
