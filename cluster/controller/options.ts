/** Controller settings and their defaults. */
import { MAX_MESSAGE_BYTES } from '../protocol';

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
  /** after --resume, wait this long for engines to come back before dispatching (ms, default 1500) */
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
  /** grace after a task's own timeout before the controller gives up on the engine (ms, default 2000) */
  timeoutGraceMs?: number;
  maxMessageBytes?: number;
  log?: (line: string) => void;
}

export type ResolvedOptions = Required<Omit<ControllerOptions, 'ip' | 'interface' | 'port' | 'clusterId' | 'profileDir' | 'log'>>;

export function resolveOptions(options: ControllerOptions): ResolvedOptions {
  return {
    resume: options.resume ?? false,
    heartbeatMs: options.heartbeatMs ?? 500,
    engineTimeoutMs: options.engineTimeoutMs ?? 2500,
    prefetch: options.prefetch ?? 256,
    resumeGraceMs: options.resumeGraceMs ?? 1500,
    journal: options.journal ?? true,
    resourceHistory: options.resourceHistory ?? 600,
    eventHistory: options.eventHistory ?? 10000,
    timeoutGraceMs: options.timeoutGraceMs ?? 2000,
    reconnectGraceMs: options.reconnectGraceMs ?? 1000,
    clientGraceMs: options.clientGraceMs ?? 60_000,
    keepFinished: options.keepFinished ?? 1_000_000,
    maxMessageBytes: options.maxMessageBytes ?? MAX_MESSAGE_BYTES,
  };
}
