"""No-op task throughput and round-trip latency of Dask distributed (2 worker processes).

Run with Debian's Python: /usr/bin/python3 bench/peers/dask_noop.py --tasks 5000
Prints one JSON line: {"system": "dask", ...}.
"""
import argparse
import json
import statistics
import time

from dask.distributed import Client, LocalCluster


def noop(x):
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--engines", type=int, default=2)
    args = ap.parse_args()

    cluster = LocalCluster(n_workers=args.engines, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        client.gather(client.map(noop, range(500), pure=False))  # warm-up
        rates = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            client.gather(client.map(noop, range(args.tasks), pure=False))
            rates.append(args.tasks / (time.perf_counter() - t0))
        lat = []
        for i in range(args.latency_samples):
            t0 = time.perf_counter()
            client.submit(noop, i, pure=False).result()
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        print(json.dumps({
            "system": "dask",
            "version": __import__("distributed").__version__,
            "tasks": args.tasks,
            "throughput": statistics.median(rates),
            "throughput_runs": rates,
            "p50_ms": lat[len(lat) // 2],
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        }))
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
