"""No-op task throughput and round-trip latency of ipyparallel (2 engines, load-balanced view).

Run with Debian's Python: /usr/bin/python3 bench/peers/ipp_noop.py --tasks 5000
Prints one JSON line: {"system": "ipyparallel", ...}.
"""
import argparse
import json
import statistics
import time

import ipyparallel as ipp


def noop(x):
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--engines", type=int, default=2)
    args = ap.parse_args()

    cluster = ipp.Cluster(n=args.engines, log_level=40)
    rc = cluster.start_and_connect_sync()
    try:
        rc.wait_for_engines(args.engines, timeout=120)
        view = rc.load_balanced_view()
        view.map_sync(noop, range(500))  # warm-up
        rates = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            view.map_sync(noop, range(args.tasks))
            rates.append(args.tasks / (time.perf_counter() - t0))
        lat = []
        for i in range(args.latency_samples):
            t0 = time.perf_counter()
            view.apply_sync(noop, i)
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        print(json.dumps({
            "system": "ipyparallel",
            "version": ipp.__version__,
            "tasks": args.tasks,
            "throughput": statistics.median(rates),
            "throughput_runs": rates,
            "p50_ms": lat[len(lat) // 2],
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        }))
    finally:
        rc.close()
        cluster.stop_cluster_sync()


if __name__ == "__main__":
    main()
