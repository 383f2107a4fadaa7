"""No-op task throughput and round-trip latency of Dask distributed (2 worker processes).

Run with Debian's Python: /usr/bin/python3 bench/peers/dask_noop.py --tasks 5000
Prints one JSON line: {"system": "dask", ...}.
"""
import distributed
from dask.distributed import Client, LocalCluster

from noop_timing import measure, parse_args


def noop(x):
    # defined here, in __main__, so workers receive it by value (they cannot import noop_timing)
    return None


def main():
    args = parse_args()
    cluster = LocalCluster(n_workers=args.engines, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        measure(
            "dask", distributed.__version__, args,
            run_map=lambda n: client.gather(client.map(noop, range(n), pure=False)),
            run_one=lambda i: client.submit(noop, i, pure=False).result(),
        )
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
