import type { DataParallelGroup } from '../../src/train/data-parallel';

/**
 * N ranks inside one process (each rank's loop interleaves with the others on
 * the event loop): the collectives computed serially, in rank order, so the
 * src/train data-parallel semantics can be checked without engines. The
 * engine tests (test/train-distributed) run the same code over real groups.
 */
export function localGroups(size: number): DataParallelGroup[] {
  const pending = new Map<number, { inputs: unknown[]; resolvers: ((v: unknown) => void)[]; arrived: number }>();
  const calls = new Array(size).fill(0);
  function collective<T>(rank: number, input: unknown, combine: (inputs: unknown[]) => unknown[]): Promise<T> {
    const seq = calls[rank]++;
    let slot = pending.get(seq);
    if (!slot) pending.set(seq, (slot = { inputs: new Array(size), resolvers: new Array(size), arrived: 0 }));
    slot.inputs[rank] = input;
    const done = new Promise<T>((resolve) => (slot!.resolvers[rank] = resolve as (v: unknown) => void));
    if (++slot.arrived === size) {
      pending.delete(seq);
      const outputs = combine(slot.inputs);
      slot.resolvers.forEach((r, i) => r(outputs[i]));
    }
    return done;
  }
  return Array.from({ length: size }, (_, rank) => ({
    rank,
    size,
    allreduceMany(arrays: Float32Array[], opts?: { op?: 'sum' | 'mean' }) {
      return collective<Float32Array[]>(rank, arrays, (inputs) => {
        const all = inputs as Float32Array[][];
        const sums = all[0].map((a) => new Float64Array(a.length));
        for (const arrs of all) arrs.forEach((a, i) => a.forEach((x, j) => (sums[i][j] += x)));
        for (const arrs of all) {
          arrs.forEach((a, i) => a.forEach((_, j) => (a[j] = opts?.op === 'mean' ? sums[i][j] / size : sums[i][j])));
        }
        return all;
      });
    },
    broadcast(data: Float32Array, root = 0) {
      return collective<Float32Array>(rank, data, (inputs) => {
        const all = inputs as Float32Array[];
        for (const d of all) d.set(all[root]);
        return all;
      });
    },
    allgather(data: Float32Array) {
      return collective<Float32Array[]>(rank, data, (inputs) => inputs.map(() => (inputs as Float32Array[]).map((d) => d.slice())));
    },
    allgatherJson<T>(value: T) {
      return collective<T[]>(rank, value, (inputs) => inputs.map(() => JSON.parse(JSON.stringify(inputs))));
    },
  }));
}
