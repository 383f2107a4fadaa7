"""Peer for bench/hdf5-read.ts: h5py batch-read throughput of a seed-layout file.

usage: h5py_read.py FILE BATCH PASSES
Reads data[i:i+BATCH] (and label/normweight/weight/psr slices) sequentially over
the whole file, PASSES times; prints one JSON line with images/s of the best pass.
"""
import json
import sys
import time

import h5py


def main() -> None:
    path, batch, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    best = 0.0
    with h5py.File(path, "r") as f:
        data, scalars = f["data"], [f[k] for k in ("label", "normweight", "weight", "psr")]
        n = data.shape[0]
        for _ in range(passes):
            t0 = time.perf_counter()
            count = 0
            for i in range(0, n, batch):
                images = data[i:i + batch]
                for s in scalars:
                    s[i:i + batch]
                count += images.shape[0]
            best = max(best, count / (time.perf_counter() - t0))
    print(json.dumps({"images_per_s": best, "events": n, "batch": batch, "h5py": h5py.__version__}))


if __name__ == "__main__":
    main()
