import type { JoinOptions, ProcessGroup } from './types';

/** Form (or join) a process group: rank 0 listens, the others dial `master`. */
export async function joinGroup(spec: JoinOptions): Promise<ProcessGroup> {
  throw new Error(`joinGroup: not implemented yet (group ${spec.groupId})`);
}
