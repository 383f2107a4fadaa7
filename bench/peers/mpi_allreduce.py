# mpi4py Allreduce (Debian OpenMPI) of float32 arrays between local ranks, timed like bench/support/allreduce-rank.ts:
# 3 warm-up calls, a barrier, then `reps` calls back to back; rank 0 prints one JSON line.
# usage: mpirun --allow-run-as-root --oversubscribe -n 2 /usr/bin/python3 mpi_allreduce.py <elements> <reps>
# (from /work/shared/anchors/mpi_allreduce.py, parameterised)
import json, sys, time
import numpy as np
from mpi4py import MPI

c = MPI.COMM_WORLD
n = int(sys.argv[1]) if len(sys.argv) > 1 else 4_490_000
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
a = np.random.rand(n).astype(np.float32)
b = np.empty_like(a)
for _ in range(3):
    c.Allreduce(a, b, op=MPI.SUM)
c.Barrier()
t = time.perf_counter()
for _ in range(reps):
    c.Allreduce(a, b, op=MPI.SUM)
dt = (time.perf_counter() - t) / reps
if c.rank == 0:
    print(json.dumps({"side": "mpi4py", "ranks": c.size, "elements": n, "ms": dt * 1e3}))
