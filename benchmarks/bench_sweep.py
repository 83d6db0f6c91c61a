"""The `laptop` sweep through Ray Tune vs the same trials run sequentially in one process.

    python benchmarks/bench_sweep.py                    # sweep + sequential (threads 2, then 1); ~25 min
    python benchmarks/bench_sweep.py --seq-threads 2 --rounds 2   # sweep / threads=2 alternated twice
    python benchmarks/bench_sweep.py --spec smoke       # any shipped spec or YAML file
    python benchmarks/bench_sweep.py --calibrate        # per-model constants for sweeps/cost.py (~2 min)

1. `datavsmath sweep <spec> --storage <tmp> --no-dashboard --no-report`, timed from the outside;
   the runner prints "makespan X s, lower bound Y s, ratio Z" (LB = max(sum of trial seconds x
   CPUs / cluster CPUs, longest trial)); the target is makespan <= 1.15 x LB.
2. The same trials (same order as the runner submits them: datavsmath.sweeps.cost.longest_first), called
   directly in a loop in a fresh process: make_training_set + build_model(..., threads=T).fit +
   predict_proba + metrics.evaluate. T=2 (the whole machine: the fair sequential baseline) and
   T=1 (reference). Timed from the outside like the sweep (interpreter start, imports and data
   loading included); the loop alone is printed too. The target is sweep command < sequential
   (T=2) process. With --rounds N the two alternate N times (a shared host has slow phases).

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
    from datavsmath.sweeps import cost
    from datavsmath.sweeps.spec import expand_trials
    from datavsmath.sweeps.validation import load_spec
    from datavsmath.trainables.datasets.built_in import FASHION_MNIST

    spec = load_spec(spec_name)
    return spec, cost.longest_first(expand_trials(spec), overrides=spec.overrides, n_train=FASHION_MNIST.n_train)


def run_one(data: Any, trial: dict[str, Any], overrides: dict[str, Any], *, threads: int) -> dict[str, Any]:
    """One trial as the trainable runs it, minus Ray (no checkpoints, no reports)."""
    from datavsmath.trainables.damage import make_training_set
    from datavsmath.trainables.metrics import evaluate
    from datavsmath.trainables.models import build_model

    t0, c0 = time.perf_counter(), time.process_time()
    subset = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=trial["sample_frac"],
                               damage_frac=trial["damage_frac"], damage_mode=trial["damage_mode"], seed=trial["seed"])
    model = build_model(trial["model"], n_classes=data.n_classes, input_shape=data.input_shape,
                        params=overrides or None, threads=threads, seed=trial["seed"])
    info = model.fit(data.x_train[subset.indices], subset.labels)
    scores = evaluate(data.y_test, model.predict_proba(data.x_test), n_classes=data.n_classes)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "fit_seconds": info["fit_seconds"], "acc": scores["acc"], "n": len(subset.indices)}


def sequential(spec: Any, trials: list[dict[str, Any]], *, threads: int, log) -> dict[str, Any]:
    from datavsmath.trainables.allocator import keep_freed_memory
    from datavsmath.trainables.datasets.built_in import load_fashion_mnist

    keep_freed_memory()  # as every sweep worker does at its start
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


def sequential_process(spec_name: str, *, threads: int, log) -> dict[str, Any]:
    """`sequential` in a fresh process, timed from the outside like the sweep command (Python
    start, imports and data loading included); the loop's own wall time is reported too."""
    import json

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--spec", spec_name,
           "--sequential-worker", str(threads), "--worker-out", out]
    log("  $ " + " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, text=True, cwd=str(U.PROJECT_ROOT), stdout=sys.stdout, stderr=sys.stderr)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"sequential worker failed (exit {proc.returncode})")
    result = json.loads(Path(out).read_text())
    return {**result, "process_wall_s": wall}


def run_sweep_cli(spec_name: str, storage: str, log, *, name: str) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("datavsmath")
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "datavsmath.cli"]) + [
        "sweep", spec_name, "--storage", storage, "--name", name, "--no-dashboard", "--no-report", "-v", "0"]
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
    from datavsmath.sweeps import cost
    from datavsmath.trainables.damage import subset_size
    from datavsmath.trainables.datasets.built_in import FASHION_MNIST, load_fashion_mnist
    from datavsmath.trainables.models import default_params

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
            n = subset_size(FASHION_MNIST.n_train, sample_frac=frac)
            if model in ("cnn", "dnn"):
                n = int(n * (1 - default_params(model)["validation_split"]))
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
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate sweep and sequential runs this many times (default 1)")
    ap.add_argument("--sequential-worker", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    log = lambda s="": print(s, flush=True)  # noqa: E731
    info = U.machine_info()
    log(f"bench_sweep {info['date']}  {info['cpu']}  {info['cores']} cores  loadavg {info['loadavg'][0]:.2f}")
    if args.calibrate:
        return calibrate(log)

    spec, trials = spec_trials(args.spec)
    if args.sequential_worker:
        import json

        result = sequential(spec, trials, threads=args.sequential_worker, log=log)
        Path(args.worker_out).write_text(json.dumps(result, default=float))
        return 0
    log(f"spec {args.spec!r}: {len(trials)} trials")
    storage = args.storage or tempfile.mkdtemp(prefix="bench_sweep_")
    threads = [int(x) for x in args.seq_threads.split(",") if x.strip()] if not args.no_sequential else []
    sweeps_: list[dict[str, Any]] = []
    seqs: dict[int, list[dict[str, Any]]] = {t: [] for t in threads}
    # Rounds alternate sweep and sequential runs, so slow phases of a shared host hit both.
    for rnd in range(args.rounds):
        U.wait_quiet(max_wait=120, log=log)
        b0, _ = U.cpu_times()
        log(f"\n[round {rnd + 1}/{args.rounds}] sweep through Ray Tune")
        name = spec.name if args.rounds == 1 else f"{spec.name}_r{rnd + 1}"
        sw = run_sweep_cli(args.spec, storage, log, name=name)
        b1, _ = U.cpu_times()
        sw["busy_cores"] = (b1 - b0) / os.sysconf("SC_CLK_TCK") / sw["wall_s"]
        sw["table"] = sweep_trial_table(storage, name)
        sw["sum_fit_s"] = sum(float(r.get("fit_seconds") or 0) for r in sw["table"])
        log(f"  wall {sw['wall_s']:.1f} s (whole command), makespan {sw['makespan_s']:.1f} s, lower bound "
            f"{sw['lower_bound_s']:.1f} s, ratio {sw['ratio']:.2f}; sum of trial fit_seconds "
            f"{sw['sum_fit_s']:.1f} s  (machine busy {sw['busy_cores']:.2f} cores on average, ours included)")
        sweeps_.append(sw)
        for t in threads:
            log(f"\n[round {rnd + 1}/{args.rounds}] sequential, one process, threads={t}")
            U.wait_quiet(max_wait=120, log=log)
            b0, _ = U.cpu_times()
            r = sequential_process(args.spec, threads=t, log=log)
            b1, _ = U.cpu_times()
            r["busy_cores"] = (b1 - b0) / os.sysconf("SC_CLK_TCK") / r["process_wall_s"]
            log(f"  whole process {r['process_wall_s']:.1f} s, loop {r['wall_s']:.1f} s (machine busy "
                f"{r['busy_cores']:.2f} cores on average, ours included)")
            seqs[t].append(r)

    log("\n" + "=" * 90)
    import statistics

    import pandas as pd

    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    for i, sw in enumerate(sweeps_):
        ok = "PASS" if sw["ratio"] <= TARGET_MAKESPAN_RATIO else "FAIL"
        log(f"round {i + 1}: sweep {args.spec}: makespan {sw['makespan_s']:.1f} s / LB {sw['lower_bound_s']:.1f} s "
            f"= {sw['ratio']:.2f} (target <= {TARGET_MAKESPAN_RATIO}) {ok}; whole command {sw['wall_s']:.1f} s")
        for t in threads:
            if i < len(seqs[t]):
                q = seqs[t][i]
                verdict = ""
                if t == 2:
                    verdict = "  PASS (sweep faster)" if sw["wall_s"] < q["process_wall_s"] else "  FAIL (sweep slower)"
                log(f"         sequential threads={t}: whole process {q['process_wall_s']:.1f} s (loop "
                    f"{q['wall_s']:.1f} s) -> sweep command {q['process_wall_s'] / sw['wall_s']:.2f}x faster; "
                    f"makespan vs loop {q['wall_s'] / sw['makespan_s']:.2f}x{verdict}")
    sw_wall = med([s_["wall_s"] for s_ in sweeps_])
    log(f"median over {len(sweeps_)} round(s): sweep command {sw_wall:.1f} s, makespan/LB "
        f"{med([s_['ratio'] for s_ in sweeps_]):.2f}")
    for t in threads:
        q_wall = med([q["process_wall_s"] for q in seqs[t]])
        log(f"  sequential threads={t}: whole process {q_wall:.1f} s -> sweep {q_wall / sw_wall:.2f}x faster")
    sw, table = sweeps_[-1], sweeps_[-1]["table"]
    if table:
        df = pd.DataFrame(table)
        df["seconds"] = (pd.to_datetime(df.end_time) - pd.to_datetime(df.start_time)).dt.total_seconds()
        cols = {"sweep fit_s": df.groupby("model")["fit_seconds"].sum(),
                "sweep trial_s": df.groupby("model")["seconds"].sum()}
        if "report_seconds" in df:
            cols["sweep report_s"] = df.groupby("model")["report_seconds"].sum()
        for t in threads:
            cols[f"seq t{t} s"] = pd.DataFrame(seqs[t][-1]["rows"]).groupby("model")["seconds"].sum()
        per_model = pd.DataFrame(cols).round(1)
        per_model.loc["total"] = per_model.sum()
        log("per model, summed seconds of the last round (sweep: 1 thread per trial, two at a time):")
        log(per_model.to_string())
        key_cols = ("model", "sample_frac", "damage_frac", "damage_mode", "seed")
        by_key = {tuple(r[c] for c in key_cols): r for r in table}
        for t in threads:
            diffs = [abs(row["acc"] - by_key[k]["acc"]) for row in seqs[t][-1]["rows"]
                     if (k := tuple(row[c] for c in key_cols)) in by_key]
            if diffs:
                log(f"  accuracy, sequential threads={t} vs sweep: mean |diff| {statistics.fmean(diffs):.4f}, "
                    f"max {max(diffs):.4f} over {len(diffs)} trials")
    return 0


if __name__ == "__main__":
    sys.exit(main())
