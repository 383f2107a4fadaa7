"""No-op task throughput and round-trip latency of ipyparallel (2 engines, load-balanced view).

Run with Debian's Python: /usr/bin/python3 bench/peers/ipp_noop.py --tasks 5000
Prints one JSON line: {"system": "ipyparallel", ...}.
"""
import ipyparallel as ipp

from noop_timing import measure, parse_args


def noop(x):
    # defined here, in __main__, so workers receive it by value (they cannot import noop_timing)
    return None


def main():
    args = parse_args()
    cluster = ipp.Cluster(n=args.engines, log_level=40)
    rc = cluster.start_and_connect_sync()
    try:
        rc.wait_for_engines(args.engines, timeout=120)
        view = rc.load_balanced_view()
        measure(
            "ipyparallel", ipp.__version__, args,
            run_map=lambda n: view.map_sync(noop, range(n)),
            run_one=lambda i: view.apply_sync(noop, i),
        )
    finally:
        rc.close()
        cluster.stop_cluster_sync()


if __name__ == "__main__":
    main()
