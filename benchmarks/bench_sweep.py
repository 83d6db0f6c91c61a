"""The `laptop` sweep through Ray Tune vs the same trials run sequentially in one process.

    python benchmarks/bench_sweep.py                    # sweep + sequential (threads 2, then 1); ~30-40 min
    python benchmarks/bench_sweep.py --seq-threads 2    # sequential baseline with 2 threads only
    python benchmarks/bench_sweep.py --spec smoke       # any shipped spec or YAML file
    python benchmarks/bench_sweep.py --calibrate        # per-model constants for sweeps/cost.py (~2 min)

1. `datavsmath sweep <spec> --storage <tmp> --no-dashboard --no-report`, timed from the outside;
   the runner prints "makespan X s, lower bound Y s, ratio Z" (LB = max(sum of trial seconds x
   CPUs / cluster CPUs, longest trial)); the target is makespan <= 1.15 x LB.
2. The same trials (same order as the runner submits them: sweeps.cost.longest_first), called
   directly in a loop: make_training_set + build_model(..., threads=T).fit + predict_proba +
   metrics.evaluate. T=2 (the whole machine: the fair sequential baseline) and T=1 (reference).
   The target is sweep wall time < sequential (T=2) wall time.

--calibrate times one small trial of each model at two sizes, 1 thread, and fits
seconds = fixed + k x training samples x passes (pass = epoch for nets, round for xgb, tree
for rf; nets count the 80 % they train on), as sweeps/cost.py uses: SECONDS_PER_SAMPLE_PASS = k,
SECONDS_FIXED = fixed. It reports wall and CPU seconds; CPU seconds (process time) do not depend
on what else runs on the machine, so they are the ones to use on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as U  # noqa: E402

MAKESPAN_RE = re.compile(r"makespan ([\d.]+) s, lower bound ([\d.]+) s, ratio ([\d.]+)")
TARGET_MAKESPAN_RATIO = 1.15


def spec_trials(spec_name: str) -> tuple[Any, list[dict[str, Any]]]:
    from sweeps import cost
    from sweeps.cli import load_spec
    from sweeps.spec import expand_trials

    spec = load_spec(spec_name)
    return spec, cost.longest_first(expand_trials(spec), overrides=spec.overrides)


def run_one(data: Any, trial: dict[str, Any], overrides: dict[str, Any], *, threads: int) -> dict[str, Any]:
    """One trial as the trainable runs it, minus Ray (no checkpoints, no reports)."""
    from trainables.damage import make_training_set
    from trainables.metrics import evaluate
    from trainables.models import build_model

    t0, c0 = time.perf_counter(), time.process_time()
    subset = make_training_set(data.y_train, sample_frac=trial["sample_frac"], damage_frac=trial["damage_frac"],
                               damage_mode=trial["damage_mode"], seed=trial["seed"])
    model = build_model(trial["model"], params=overrides or None, threads=threads, seed=trial["seed"])
    info = model.fit(data.x_train[subset.indices], subset.labels)
    scores = evaluate(data.y_test, model.predict_proba(data.x_test))
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "fit_seconds": info["fit_seconds"], "acc": scores["acc"], "n": len(subset.indices)}


def sequential(spec: Any, trials: list[dict[str, Any]], *, threads: int, log) -> dict[str, Any]:
    from trainables.data import load_fashion_mnist

    data = load_fashion_mnist(download=False)
    rows = []
    t0 = time.perf_counter()
    for i, trial in enumerate(trials):
        r = run_one(data, trial, dict(spec.overrides.get(trial["model"], {})), threads=threads)
        rows.append({**trial, **r})
        if i % 8 == 0 or i == len(trials) - 1:
            log(f"    [{i + 1}/{len(trials)}] {trial['model']} f={trial['sample_frac']} d={trial['damage_frac']} "
                f"{trial['damage_mode']}: {r['seconds']:.1f} s, acc {r['acc']:.4f}   "
                f"(elapsed {time.perf_counter() - t0:.0f} s)")
    return {"wall_s": time.perf_counter() - t0, "rows": rows}


def run_sweep_cli(spec_name: str, storage: str, log) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("datavsmath")
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "sweeps.cli"]) + [
        "sweep", spec_name, "--storage", storage, "--no-dashboard", "--no-report", "-v", "0"]
    log("  $ " + " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(U.PROJECT_ROOT))
    wall = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    m = MAKESPAN_RE.search(out)
    if proc.returncode != 0 or not m:
        log(out[-4000:])
        raise SystemExit(f"sweep failed (exit {proc.returncode})")
    return {"wall_s": wall, "makespan_s": float(m.group(1)), "lower_bound_s": float(m.group(2)),
            "ratio": float(m.group(3)), "stdout_tail": out[-1500:]}


def sweep_trial_table(storage: str, name: str) -> list[dict[str, Any]]:
    import pandas as pd

    path = Path(storage) / name / "results.csv"
    if not path.exists():
        return []
    return pd.read_csv(path).to_dict("records")


# ----------------------------------------------------------------------------- calibrate

CAL_PASSES = {"cnn": 2, "dnn": 5, "xgb": 20, "rf": 10}
CAL_FRACS = (0.02, 0.1)  # two sizes: seconds = fixed + k x samples x passes


def calibrate(log) -> int:
    from sweeps import cost
    from trainables.data import load_fashion_mnist

    data = load_fashion_mnist(download=False)
    log(f"calibration: 1 thread, sample_frac {CAL_FRACS}, passes {CAL_PASSES}; "
        f"seconds = fixed + k x samples x passes (nets: samples = 80 % trained on)")
    k_wall, k_cpu, f_wall, f_cpu = {}, {}, {}, {}
    for model in ("cnn", "dnn", "xgb", "rf"):
        override = {cost.PASS_PARAM[model]: CAL_PASSES[model]}
        # warm-up trial (discarded): the first model of a kind in a process pays one-time costs
        # (library loading, kernel JIT) that would otherwise land in the small point and skew k
        run_one(data, {"model": model, "sample_frac": 0.005, "damage_frac": 0.0, "damage_mode": "none",
                       "seed": 0}, {cost.PASS_PARAM[model]: 1}, threads=1)
        pts = []
        for frac in CAL_FRACS:
            trial = {"model": model, "sample_frac": frac, "damage_frac": 0.0, "damage_mode": "none", "seed": 0}
            U.wait_quiet(max_wait=30, log=log)
            r = run_one(data, trial, override, threads=1)
            n = int(frac * cost.N_TRAIN_TOTAL)
            if model in ("cnn", "dnn"):
                n = int(n * (1 - cost.VALIDATION_SPLIT))
            pts.append((n * CAL_PASSES[model], r["seconds"], r["cpu_seconds"]))
            log(f"  {model} f={frac}: {n} samples x {CAL_PASSES[model]} passes: {r['seconds']:.2f} s wall, "
                f"{r['cpu_seconds']:.2f} s CPU, acc {r['acc']:.4f}")
        (x1, w1, c1), (x2, w2, c2) = pts
        k_wall[model], k_cpu[model] = (w2 - w1) / (x2 - x1), (c2 - c1) / (x2 - x1)
        f_wall[model], f_cpu[model] = max(0.0, w1 - k_wall[model] * x1), max(0.0, c1 - k_cpu[model] * x1)

    def fmt(d: dict[str, float], digits: int) -> str:
        return "{" + ", ".join(f'"{m}": {v:.{digits}e}' if digits else f'"{m}": {v:.1f}' for m, v in d.items()) + "}"

    log("\nfor sweeps/cost.py (from CPU seconds; wall seconds in brackets):")
    log(f"SECONDS_PER_SAMPLE_PASS = {fmt(k_cpu, 1)}")
    log(f"SECONDS_FIXED = {fmt(f_cpu, 0)}")
    log(f"  [wall: SECONDS_PER_SAMPLE_PASS = {fmt(k_wall, 1)}, SECONDS_FIXED = {fmt(f_wall, 0)}]")
    log(f"  current sweeps/cost.py: SECONDS_PER_SAMPLE_PASS = {cost.SECONDS_PER_SAMPLE_PASS}, "
        f"SECONDS_FIXED = {cost.SECONDS_FIXED}")
    return 0


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default="laptop")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--seq-threads", default="2,1", help="sequential baselines to run (default 2,1)")
    ap.add_argument("--no-sequential", action="store_true")
    ap.add_argument("--storage", default=None, help="sweep storage (default: a temporary folder)")
    args = ap.parse_args()
    log = lambda s="": print(s, flush=True)  # noqa: E731
    info = U.machine_info()
    log(f"bench_sweep {info['date']}  {info['cpu']}  {info['cores']} cores  loadavg {info['loadavg'][0]:.2f}")
    if args.calibrate:
        return calibrate(log)

    spec, trials = spec_trials(args.spec)
    log(f"spec {args.spec!r}: {len(trials)} trials")
    storage = args.storage or tempfile.mkdtemp(prefix="bench_sweep_")
    U.wait_quiet(max_wait=120, log=log)
    b0, _ = U.cpu_times()
    log("\n[1] sweep through Ray Tune")
    sw = run_sweep_cli(args.spec, storage, log)
    b1, _ = U.cpu_times()
    sw["busy_cores"] = (b1 - b0) / os.sysconf("SC_CLK_TCK") / sw["wall_s"]
    log(f"  wall {sw['wall_s']:.1f} s (whole command), makespan {sw['makespan_s']:.1f} s, lower bound "
        f"{sw['lower_bound_s']:.1f} s, ratio {sw['ratio']:.2f}  (machine busy {sw['busy_cores']:.2f} cores "
        f"on average, ours included)")
    table = sweep_trial_table(storage, spec.name)
    if table:
        fit = sum(float(r.get("fit_seconds") or 0) for r in table)
        log(f"  sum of trial fit_seconds (1 thread each): {fit:.1f} s")
        sw["sum_fit_s"] = fit

    seq: dict[int, dict[str, Any]] = {}
    if not args.no_sequential:
        for t in [int(x) for x in args.seq_threads.split(",") if x.strip()]:
            log(f"\n[2] sequential, one process, threads={t}")
            U.wait_quiet(max_wait=120, log=log)
            b0, _ = U.cpu_times()
            seq[t] = sequential(spec, trials, threads=t, log=log)
            b1, _ = U.cpu_times()
            seq[t]["busy_cores"] = (b1 - b0) / os.sysconf("SC_CLK_TCK") / seq[t]["wall_s"]
            log(f"  wall {seq[t]['wall_s']:.1f} s (machine busy {seq[t]['busy_cores']:.2f} cores on average, "
                f"ours included)")

    log("\n" + "=" * 90)
    ok = "PASS" if sw["ratio"] <= TARGET_MAKESPAN_RATIO else "FAIL"
    log(f"sweep {args.spec}: makespan {sw['makespan_s']:.1f} s / LB {sw['lower_bound_s']:.1f} s = {sw['ratio']:.2f} "
        f"(target <= {TARGET_MAKESPAN_RATIO})  {ok};  whole command {sw['wall_s']:.1f} s")
    for t, s in seq.items():
        verdict = ""
        if t == 2:
            verdict = "  PASS (sweep faster)" if sw["wall_s"] < s["wall_s"] else "  FAIL (sweep slower)"
        log(f"sequential threads={t}: {s['wall_s']:.1f} s  -> sweep command is {s['wall_s'] / sw['wall_s']:.2f}x "
            f"faster (makespan alone {s['wall_s'] / sw['makespan_s']:.2f}x){verdict}")
    if table:
        import pandas as pd

        df = pd.DataFrame(table)
        df["seconds"] = (pd.to_datetime(df.end_time) - pd.to_datetime(df.start_time)).dt.total_seconds()
        cols = {"sweep fit_s": df.groupby("model")["fit_seconds"].sum(),
                "sweep trial_s": df.groupby("model")["seconds"].sum()}
        for t, s_ in seq.items():
            cols[f"seq t{t} s"] = pd.DataFrame(s_["rows"]).groupby("model")["seconds"].sum()
        per_model = pd.DataFrame(cols).round(1)
        per_model.loc["total"] = per_model.sum()
        log("per model, summed seconds (sweep: 1 thread per trial, two at a time):")
        log(per_model.to_string())
    if table and seq:
        import statistics

        key_cols = ("model", "sample_frac", "damage_frac", "damage_mode", "seed")
        by_key = {tuple(r[c] for c in key_cols): r for r in table}
        for t, s in seq.items():
            diffs = [abs(row["acc"] - by_key[k]["acc"]) for row in s["rows"]
                     if (k := tuple(row[c] for c in key_cols)) in by_key]
            if diffs:
                log(f"  accuracy, sequential threads={t} vs sweep: mean |diff| {statistics.fmean(diffs):.4f}, "
                    f"max {max(diffs):.4f} over {len(diffs)} trials")
    return 0


if __name__ == "__main__":
    sys.exit(main())
