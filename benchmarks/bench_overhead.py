"""Per-trial Ray Tune overhead with trivial trials, reuse_actors=True vs False, in one run.

    python benchmarks/bench_overhead.py            # 40 no-op trials per setting, 2 rounds
    python benchmarks/bench_overhead.py --quick    # 20 trials, 1 round

Each measurement: ray.init(include_dashboard=False) on this machine, a Tuner over N no-op function
trials (1 CPU each, so `cores` run at once, as the sweeps run theirs), tuner.fit() timed, ray
shut down. "s/trial" = tuner.fit() wall seconds / N (what a sweep pays per trial on this machine;
ray.init is timed separately, it is paid once per sweep). Settings alternate (False, True, ...)
so that both see the same machine load. Target: <= 0.3 s per trial.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as U  # noqa: E402

TARGET_S_PER_TRIAL = 0.3


def noop_trial(config):
    from ray import tune

    tune.report({"value": config["i"]})


def measure(n_trials: int, *, reuse: bool, storage: str) -> dict[str, float]:
    import ray
    from ray import tune

    t0 = time.perf_counter()
    # address="local": always a fresh local instance, never another user's running cluster
    ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    init_s = time.perf_counter() - t0
    try:
        tuner = tune.Tuner(
            tune.with_resources(noop_trial, {"cpu": 1}),
            param_space={"i": tune.grid_search(list(range(n_trials)))},
            tune_config=tune.TuneConfig(reuse_actors=reuse),
            run_config=tune.RunConfig(name=f"overhead_reuse_{reuse}_{time.time_ns()}", storage_path=storage,
                                      verbose=0),
        )
        t1 = time.perf_counter()
        grid = tuner.fit()
        fit_s = time.perf_counter() - t1
        errors = grid.num_errors
    finally:
        t2 = time.perf_counter()
        ray.shutdown()
        shutdown_s = time.perf_counter() - t2
    return {"reuse": reuse, "n": n_trials, "init_s": init_s, "fit_s": fit_s, "shutdown_s": shutdown_s,
            "s_per_trial": fit_s / n_trials, "errors": errors}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    n = args.trials or (20 if args.quick else 40)
    rounds = args.rounds or (1 if args.quick else 2)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    info = U.machine_info()
    print(f"bench_overhead {info['date']}  {info['cpu']}  {info['cores']} cores  loadavg {info['loadavg'][0]:.2f}")
    print(f"{n} no-op trials (1 CPU each) per measurement, {rounds} round(s), reuse_actors False/True alternating")
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_overhead_") as storage:
        for r in range(rounds):
            for reuse in (False, True):
                busy = U.wait_quiet(max_wait=60)
                m = measure(n, reuse=reuse, storage=storage)
                m["busy_before"] = busy
                results.append(m)
                print(f"  round {r + 1} reuse_actors={str(reuse):<5}  {m['fit_s']:6.1f} s for {n} trials = "
                      f"{m['s_per_trial']:.3f} s/trial   (ray.init {m['init_s']:.1f} s, shutdown "
                      f"{m['shutdown_s']:.1f} s, errors {m['errors']}, other load before {busy:.2f} cores)",
                      flush=True)
    med = {reuse: statistics.median([m["s_per_trial"] for m in results if m["reuse"] is reuse])
           for reuse in (False, True)}
    print("\nsummary (median over rounds):")
    for reuse in (False, True):
        ok = "PASS" if med[reuse] <= TARGET_S_PER_TRIAL else "FAIL"
        print(f"  reuse_actors={str(reuse):<5} {med[reuse]:.3f} s/trial   target <= {TARGET_S_PER_TRIAL} s  {ok}")
    print(f"  ratio reuse=False / reuse=True: {med[False] / med[True]:.2f}x")
    print(f"  ray.init {statistics.median(m['init_s'] for m in results):.1f} s (once per sweep, not in s/trial)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
