"""What the no-op peers (dask_noop.py, ipp_noop.py) share: arguments, timing, and the JSON line they print."""
import argparse
import json
import statistics
import time


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--engines", type=int, default=2)
    return ap.parse_args()


def measure(system, version, args, run_map, run_one):
    """run_map(n) runs n no-op tasks and waits for all; run_one(i) runs one and waits for it."""
    run_map(500)  # warm-up
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run_map(args.tasks)
        rates.append(args.tasks / (time.perf_counter() - t0))
    lat = []
    for i in range(args.latency_samples):
        t0 = time.perf_counter()
        run_one(i)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    print(json.dumps({
        "system": system,
        "version": version,
        "tasks": args.tasks,
        "throughput": statistics.median(rates),
        "throughput_runs": rates,
        "p50_ms": lat[len(lat) // 2],
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }))
