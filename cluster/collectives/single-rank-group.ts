/** A group of one rank: every collective is the identity (the mean of one value is the value). */
import type { AllreduceOptions, CollectiveStats, ProcessGroup } from './types';

export class SingleRankGroup implements ProcessGroup {
  readonly rank = 0;
  readonly size = 1;
  private closed = false;
  private calls = 0;
  constructor(readonly groupId: string) {}
  get stats(): CollectiveStats {
    return { bytesSent: 0, bytesReceived: 0, commMs: 0, calls: this.calls };
  }
  private check(name: string): void {
    if (this.closed) throw new Error(`group ${this.groupId}: ${name} after close()`);
    this.calls++;
  }
  async allreduce(data: Float32Array, _opts?: AllreduceOptions): Promise<Float32Array> {
    this.check('allreduce');
    return data;
  }
  async allreduceMany(arrays: Float32Array[], _opts?: AllreduceOptions): Promise<Float32Array[]> {
    this.check('allreduceMany');
    return arrays;
  }
  async broadcast(data: Float32Array, root = 0): Promise<Float32Array> {
    if (root !== 0) throw new RangeError(`broadcast: root ${root} is not a rank of this group (0..0)`);
    this.check('broadcast');
    return data;
  }
  async allgather(data: Float32Array): Promise<Float32Array[]> {
    this.check('allgather');
    return [data.slice()];
  }
  async allgatherJson<T>(value: T): Promise<T[]> {
    this.check('allgatherJson');
    return [JSON.parse(JSON.stringify(value ?? null)) as T];
  }
  async barrier(): Promise<void> {
    this.check('barrier');
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
