/** Controller settings and their defaults. */
import { MAX_MESSAGE_BYTES } from '../protocol';
import { HANDSHAKE_TIMEOUT_MS } from '../transport/challenge-auth';

export interface ControllerOptions {
  /** address to bind; default 127.0.0.1, or the node's primary interface inside a Slurm job */
  ip?: string;
  /** bind to this network interface's IPv4 address (e.g. "ib0", the high-speed network); exclusive with ip */
  interface?: string;
  /** default 0 (any free port), or the previous port when resuming */
  port?: number;
  clusterId?: string;
  /** directory holding clusters/<id>.json (default $HPCDL_HOME or ~/.hpcdl) */
  profileDir?: string;
  /** replay the journal of an earlier controller of this cluster id and reuse its key and port */
  resume?: boolean;
  /** heartbeat interval told to engines (ms, default 500) */
  heartbeatMs?: number;
  /** an engine silent this long is declared dead (ms, default 2500) */
  engineTimeoutMs?: number;
  /** extra tasks an engine may hold beyond its slots when many are queued (default 256) */
  prefetch?: number;
  /**
   * after --resume, wait at most this long for the engines that were alive to come back
   * before dispatching (ms, default 5000: above the engines' longest reconnect backoff, 3 s)
   */
  resumeGraceMs?: number;
  /** set false to run without a journal (no --resume possible) */
  journal?: boolean;
  /** samples kept per engine (default 600 = 10 min at 1 Hz) */
  resourceHistory?: number;
  /** stream/report messages kept for late subscribers (default 10000) */
  eventHistory?: number;
  /** finished tasks (and their results) kept in memory; the oldest are forgotten beyond this (default 1,000,000) */
  keepFinished?: number;
  /** an engine whose connection closed may re-register within this long and keep its tasks (ms, default 1000) */
  reconnectGraceMs?: number;
  /** a disconnected client's session (subscriptions) is kept this long for a reconnect, then forgotten (ms, default 60000) */
  clientGraceMs?: number;
  /**
   * engines that may die while running one task before it fails with EngineLost
   * (default 3, as Dask's allowed-failures); a submission's engine_losses overrides it
   */
  engineLosses?: number;
  /**
   * a client that disconnected (without persist) and has not come back this long
   * gets its queued and running tasks cancelled (ms, default 10000)
   */
  orphanGraceMs?: number;
  /** bytes of result buffers kept in memory; beyond it results already in their spill file leave memory (MB, default 256) */
  resultMemoryMb?: number;
  /** the journal is compacted when it grows past this size and twice its size after the last compaction (MB, default 64) */
  journalCompactMb?: number;
  /** grace after a task's own timeout before the controller gives up on the engine (ms, default 2000) */
  timeoutGraceMs?: number;
  /** largest message an authenticated peer may send (bytes, default MAX_MESSAGE_BYTES: 256 MiB or $HPCDL_MAX_MESSAGE_BYTES) */
  maxMessageBytes?: number;
  /** wss:// with a certificate made at start and pinned in the connection file (default: on unless bound to loopback) */
  tls?: boolean;
  /** a connection that has not answered its challenge within this long is closed (ms, default 10000) */
  authTimeoutMs?: number;
  log?: (line: string) => void;
}

export type ResolvedOptions = Required<Omit<ControllerOptions, 'ip' | 'interface' | 'port' | 'clusterId' | 'profileDir' | 'log' | 'tls'>>;

export function resolveOptions(options: ControllerOptions): ResolvedOptions {
  return {
    resume: options.resume ?? false,
    heartbeatMs: options.heartbeatMs ?? 500,
    engineTimeoutMs: options.engineTimeoutMs ?? 2500,
    prefetch: options.prefetch ?? 256,
    resumeGraceMs: options.resumeGraceMs ?? 5000,
    journal: options.journal ?? true,
    resourceHistory: options.resourceHistory ?? 600,
    eventHistory: options.eventHistory ?? 10000,
    timeoutGraceMs: options.timeoutGraceMs ?? 2000,
    reconnectGraceMs: options.reconnectGraceMs ?? 1000,
    clientGraceMs: options.clientGraceMs ?? 60_000,
    keepFinished: options.keepFinished ?? 1_000_000,
    engineLosses: options.engineLosses ?? 3,
    orphanGraceMs: options.orphanGraceMs ?? 10_000,
    resultMemoryMb: options.resultMemoryMb ?? 256,
    journalCompactMb: options.journalCompactMb ?? 64,
    maxMessageBytes: options.maxMessageBytes ?? MAX_MESSAGE_BYTES,
    authTimeoutMs: options.authTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
  };
}
