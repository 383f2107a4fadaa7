"""Optuna peer for `hpcdl bench hpo-quality` and `hpcdl bench hpo-overhead` (run with /usr/bin/python3; Debian's Optuna 3.1).

  optuna_hpo.py quality  --seeds 20 --at 20,50 --functions branin,hartmann6,noisy-hartmann3 --samplers tpe,random
  optuna_hpo.py overhead --sizes 100,1000 --repeats 5 --samplers tpe,random

Prints one JSON line. The test functions and the regret rule match bench/support/hpo-functions.ts: regret is
the noise-free value at the best observed point minus the known minimum.
"""
import argparse, json, math, sys, time
import numpy as np
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(x, y):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x * x + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991], [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
H3_A = np.array([[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]])
H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
NOISE_SD = 0.1


def hartmann(x, A, P):
    return -float(np.sum(ALPHA * np.exp(-np.sum(A * (np.asarray(x) - P) ** 2, axis=1))))


def unit_space(d):
    return {f'x{i}': optuna.distributions.FloatDistribution(0, 1) for i in range(d)}


FUNCTIONS = {
    'branin': (
        {'x': optuna.distributions.FloatDistribution(-5, 10), 'y': optuna.distributions.FloatDistribution(0, 15)},
        lambda p: branin(p['x'], p['y']), 0.0, 0.397887),
    'hartmann6': (unit_space(6), lambda p: hartmann([p[f'x{i}'] for i in range(6)], H6_A, H6_P), 0.0, -3.32237),
    'noisy-hartmann3': (unit_space(3), lambda p: hartmann([p[f'x{i}'] for i in range(3)], H3_A, H3_P), NOISE_SD, -3.86278),
}


def make_sampler(name, seed):
    return optuna.samplers.TPESampler(seed=seed) if name == 'tpe' else optuna.samplers.RandomSampler(seed=seed)


def quality(args):
    at = sorted(int(a) for a in args.at.split(','))
    out = {'system': 'optuna', 'version': optuna.__version__, 'results': []}
    for fname in args.functions.split(','):
        dists, f, noise, fmin = FUNCTIONS[fname]
        for sname in args.samplers.split(','):
            t0 = time.perf_counter()
            regrets = {str(a): [] for a in at}
            for seed in range(args.seeds):
                study = optuna.create_study(direction='minimize', sampler=make_sampler(sname, seed))
                rng = np.random.default_rng(seed + 7919)
                best_obs, best_true = math.inf, math.inf
                for i in range(at[-1]):
                    trial = study.ask(dists)
                    true = f(trial.params)
                    obs = true + (rng.normal(0, noise) if noise > 0 else 0.0)
                    study.tell(trial, obs)
                    if obs < best_obs:
                        best_obs, best_true = obs, true
                    if i + 1 in at:
                        regrets[str(i + 1)].append(best_true - fmin)
            out['results'].append({'function': fname, 'sampler': f'optuna-{sname}', 'regrets': regrets, 'seconds': time.perf_counter() - t0})
    print(json.dumps(out))


def overhead(args):
    dists = unit_space(6)
    _, f, _, _ = FUNCTIONS['hartmann6']
    out = {'system': 'optuna', 'version': optuna.__version__, 'results': []}
    for sname in args.samplers.split(','):
        for n in (int(s) for s in args.sizes.split(',')):
            study = optuna.create_study(direction='minimize', sampler=make_sampler(sname, 0))
            rng = np.random.default_rng(n)
            trials = []
            for _ in range(n):
                params = {k: float(rng.uniform()) for k in dists}
                trials.append(optuna.trial.create_trial(params=params, distributions=dists, value=f(params)))
            study.add_trials(trials)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                trial = study.ask(dists)
                times.append((time.perf_counter() - t0) * 1000)
                study.tell(trial, f(trial.params))
            out['results'].append({'sampler': f'optuna-{sname}', 'finished': n, 'ms': times})
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['quality', 'overhead'])
    p.add_argument('--seeds', type=int, default=20)
    p.add_argument('--at', default='20,50')
    p.add_argument('--functions', default='branin,hartmann6,noisy-hartmann3')
    p.add_argument('--samplers', default='tpe,random')
    p.add_argument('--sizes', default='100,1000')
    p.add_argument('--repeats', type=int, default=5)
    args = p.parse_args()
    quality(args) if args.mode == 'quality' else overhead(args)


if __name__ == '__main__':
    sys.exit(main())
