"""Optuna's side of bench/hpo-search.ts: the same trial durations (seconds, from
argv as JSON) run as sleeping trials with study.optimize(n_jobs=2); prints one
JSON line with the busy fraction of the 2 workers."""
import json
import sys
import threading
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
durations = json.loads(sys.argv[1])
jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
spans = []
lock = threading.Lock()


def objective(trial):
    d = durations[trial.number]
    trial.suggest_float("seconds", 0.0, 10.0)
    start = time.perf_counter()
    time.sleep(d)
    end = time.perf_counter()
    with lock:
        spans.append((start, end))
    return d


study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(objective, n_trials=len(durations), n_jobs=jobs)
first = min(s for s, _ in spans)
last = max(e for _, e in spans)
busy = sum(e - s for s, e in spans)
print(json.dumps({"system": "optuna", "version": optuna.__version__, "trials": len(spans), "wall_s": last - first, "busy_fraction": busy / (jobs * (last - first))}))
