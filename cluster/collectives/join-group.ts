/**
 * joinGroup: validate the spec, pick the address to listen on, form the
 * group (./rendezvous.ts) and hand back a ProcessGroup.
 *
 * The listener's host, in order: option `host`, env HPCDL_GROUP_HOST, then
 * - rank 0 with `master`: 0.0.0.0 (it must answer on whatever address `master` names);
 * - rank 0 without `master`: the first non-internal IPv4 address of this machine,
 *   else 127.0.0.1 (size 1 never listens);
 * - other ranks: the local address of their connection to rank 0 (the interface that reaches it).
 */
import * as os from 'node:os';
import { LinkedProcessGroup } from './process-group';
import { formGroup, parseHostPort } from './rendezvous';
import { SingleRankGroup } from './single-rank-group';
import type { JoinOptions, ProcessGroup } from './types';

/** default rendezvous timeout (contract A) */
const DEFAULT_TIMEOUT_MS = 60_000;
/** a ping when a link sent nothing for 1 s */
const HEARTBEAT_INTERVAL_MS = 1000;
/**
 * A peer silent this long is declared dead. Generous because a rank's event
 * loop may be blocked by a long synchronous compute step (a wasm training step
 * takes seconds on this machine), during which it sends no heartbeat. Override
 * with option heartbeatTimeoutMs or HPCDL_GROUP_HEARTBEAT_TIMEOUT_MS.
 */
const DEFAULT_HEARTBEAT_TIMEOUT_MS = 30_000;

function firstExternalIPv4(): string | null {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

function positiveInt(raw: string | undefined, what: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${what}: ${JSON.stringify(raw)} is not a positive integer (milliseconds)`);
  return n;
}

export function checkSpec(spec: JoinOptions): void {
  if (!spec || typeof spec !== 'object') throw new TypeError('joinGroup expects a GroupSpec object');
  if (typeof spec.groupId !== 'string' || spec.groupId === '') throw new TypeError(`joinGroup: groupId must be a non-empty string, got ${JSON.stringify(spec.groupId)}`);
  if (!Number.isInteger(spec.size) || spec.size < 1) throw new RangeError(`joinGroup: size must be an integer >= 1, got ${JSON.stringify(spec.size)}`);
  if (!Number.isInteger(spec.rank) || spec.rank < 0 || spec.rank >= spec.size) throw new RangeError(`joinGroup: rank must be an integer in 0..${spec.size - 1}, got ${JSON.stringify(spec.rank)}`);
  if (typeof spec.key !== 'string' || spec.key === '') throw new TypeError('joinGroup: key must be a non-empty string (the cluster key or a per-job key)');
  if (spec.master !== undefined) parseHostPort(spec.master, 'joinGroup: master');
  if (spec.timeoutMs !== undefined && !(spec.timeoutMs > 0)) throw new RangeError(`joinGroup: timeoutMs must be > 0, got ${spec.timeoutMs}`);
}

/** Form (or join) a process group: rank 0 listens, the others dial `master`. */
export async function joinGroup(spec: JoinOptions): Promise<ProcessGroup> {
  checkSpec(spec);
  if (spec.size === 1) return new SingleRankGroup(spec.groupId);
  const timeoutMs = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const envHost = process.env.HPCDL_GROUP_HOST || undefined;
  let host = spec.host ?? envHost ?? '';
  if (!host && spec.rank === 0) host = spec.master ? '0.0.0.0' : (firstExternalIPv4() ?? '127.0.0.1');
  const heartbeatTimeoutMs = spec.heartbeatTimeoutMs ?? positiveInt(process.env.HPCDL_GROUP_HEARTBEAT_TIMEOUT_MS, 'HPCDL_GROUP_HEARTBEAT_TIMEOUT_MS') ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  let group: LinkedProcessGroup | null = null;
  const log = spec.log ?? ((line: string) => console.error(`[hpcdl group] ${line}`));
  const formed = await formGroup({
    groupId: spec.groupId,
    rank: spec.rank,
    size: spec.size,
    key: spec.key,
    master: spec.master,
    host,
    port: spec.port ?? 0,
    deadline: Date.now() + timeoutMs,
    timeoutMs,
    engineId: spec.engineId ?? null,
    timers: { heartbeatIntervalMs: Math.min(HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs / 3), heartbeatTimeoutMs },
    log,
    onListening: spec.onListening,
    onLinkFailure: (err, how, waiting) => group?.onLinkFailure(err, how, waiting),
  });
  group = new LinkedProcessGroup(spec.groupId, spec.rank, spec.size, formed.members, formed.links, {
    chunkElements: spec.chunkElements,
    log,
    stallWarningMs: spec.stallWarningMs,
    collectiveTimeoutMs: spec.collectiveTimeoutMs,
  });
  return group;
}
