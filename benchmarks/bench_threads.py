"""A user's estimator with native threads, fitted in 1-CPU trials against plain 1-thread processes.

scikit-learn's digits (1,797 rows as a DataFrame, label `target`), its default
HistGradientBoostingClassifier (OpenMP) as the user's estimator, all of the training split
(80 %, clean labels), seeds 0..S-1. Each round, side by side on the same machine:

- trial: `datavsmath.sweep` of those S cells, each trial asking for 1 CPU (`resources`), so on
  a 2-core machine S = 2 run at once, as a user's sweep does; the fit's seconds are the
  trial's own `fit_seconds` (the estimator's fit, nothing of Tune around it);
- plain: S processes started at once, as a user's by-hand loop with 2 jobs would, each with
  OMP_NUM_THREADS=1 exported before Python starts, fitting the same estimator (the trial's
  random_state) on the same rows (the experiment's stored data and split, the project's
  make_training_set), timed around the fit alone.

Prints each round's mean fit seconds and the ratio trial / plain, with the median over the
rounds (goal <= 1.2). A first sweep, which starts Ray, is not counted. Each measurement waits
SETTLE_S, then up to QUIET_WAIT_S for a quiet machine (_util.wait_quiet), as bench_api does:
after a call, datavsmath.sweep starts the next call's workers, whose imports take the CPUs
for a few seconds.

    python benchmarks/bench_threads.py [--rounds 5] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as U  # noqa: E402

RESULT_PREFIX = "FIT_SECONDS "
SETTLE_S = 5.0  # the workers a call starts for the next one import for a few seconds
QUIET_WAIT_S = 20.0  # on a machine that other users keep busy, measure anyway after this


def settle() -> None:
    time.sleep(SETTLE_S)
    U.wait_quiet(threshold=0.2, max_wait=QUIET_WAIT_S)


def plain_fit(exp_dir: str, seed: int) -> float:
    """One fit as a plain script does it, on the trial's rows; its seconds."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from datavsmath.sweeps.experiment_layout import read_stored_spec
    from datavsmath.trainables.damage import make_training_set
    from datavsmath.trainables.datasets import load_dataset

    data = load_dataset(read_stored_spec(exp_dir).dataset)
    subset = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=1.0, damage_frac=0.0,
                               damage_mode="none", seed=seed)
    x = data.x_train[subset.indices].reshape(len(subset.indices), -1)
    start = time.perf_counter()
    HistGradientBoostingClassifier(random_state=seed).fit(x, subset.labels)
    return time.perf_counter() - start


def plain_round(exp_dir: str, seeds: int) -> list[float]:
    """`seeds` plain processes at once, 1 thread each; their fit seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, __file__, "--plain", exp_dir, str(seed)], stdout=subprocess.PIPE,
                              text=True, env=env) for seed in range(seeds)]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate()
        assert proc.returncode == 0, stdout
        out.append(float(next(line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)).split()[1]))
    return out


def trial_round(storage: str, name: str, seeds: int) -> tuple[str, list[float]]:
    """One datavsmath.sweep of `seeds` 1-CPU trials; (its folder, the trials' fit seconds)."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import HistGradientBoostingClassifier

    import datavsmath as dvm

    res = dvm.sweep(load_digits(as_frame=True).frame, label="target", models={"hgb": HistGradientBoostingClassifier()},
                    sample_frac=1.0, seeds=seeds, resources={"hgb": {"cpu": 1}}, storage=storage, name=name,
                    report=False, live=False, verbose=0)
    assert (res.frame["status"] == "TERMINATED").all(), res.errors
    finals = [json.loads(p.read_text().splitlines()[-1]) for p in Path(res.path).glob("*/result.json")]
    assert all(f["threads"] == 1 for f in finals), finals
    return str(res.path), [float(f["fit_seconds"]) for f in finals]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=2, help="trials (and plain processes) at once")
    parser.add_argument("--plain", nargs=2, metavar=("EXP_DIR", "SEED"), help="one plain fit, then exit")
    args = parser.parse_args()
    if args.plain:
        print(f"{RESULT_PREFIX}{plain_fit(args.plain[0], int(args.plain[1])):.4f}")
        return 0
    import datavsmath as dvm

    print(f"machine: {U.machine_info()}")
    ratios = []
    with tempfile.TemporaryDirectory() as storage:
        settle()
        exp_dir, first = trial_round(storage, "first", args.seeds)  # starts Ray: not counted
        print(f"first sweep (not counted): trial fits {' '.join(f'{s:.2f}' for s in first)} s")
        for i in range(args.rounds):
            settle()
            _, trial = trial_round(storage, f"round{i}", args.seeds)
            settle()
            plain = plain_round(exp_dir, args.seeds)
            ratios.append(statistics.mean(trial) / statistics.mean(plain))
            print(f"round {i}: trial fits {' '.join(f'{s:.2f}' for s in trial)} s, plain fits "
                  f"{' '.join(f'{s:.2f}' for s in plain)} s, ratio {ratios[-1]:.2f}")
        dvm.shutdown()
    print(f"trial / plain fit seconds: median {statistics.median(ratios):.2f} over {args.rounds} rounds "
          f"(goal <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
