"""The sweep command side by side with `sklearn.model_selection.learning_curve(n_jobs=2)` on its own job.

    python benchmarks/bench_learning_curve.py                  # both grids, 1 round (~6-8 min on 2 cores)
    python benchmarks/bench_learning_curve.py --rounds 2       # alternated, medians
    python benchmarks/bench_learning_curve.py --grid 5         # only the 5-cell grid
    python benchmarks/bench_learning_curve.py --fixed-cost     # where the sweep command's fixed cost goes

The same work on both sides: `rf` (the seed's 25 trees, max_features sqrt; the project's input,
pixels / 255 as float32) on Fashion-MNIST, each train size fitted on the same rows and scored on
the same 10,000 test images.
- grid "20": 10 train sizes 1 % .. 100 % x 2 replicates (seeds 0 and 1) = 20 fits;
- grid "5": 5 train sizes 1 % .. 100 % x 1 replicate (seed 0) = 5 fits.
learning_curve: X = the 60,000 training rows then the 10,000 test rows; `cv` = a splitter with
one split per seed whose train part is the seed's permutation of the 60,000 training rows
(datavsmath.trainables.damage.subset_indices(60000, 1.0, seed): learning_curve's first n rows of it are
the sweep trial's subset at sample_frac n / 60000) and whose test part is the 10,000 test rows;
`train_sizes` = the fractions; RandomForestClassifier(random_state=0, n_jobs=1), parallel over
fits with n_jobs=2. It also scores every fit on its training rows (what learning_curve does).
Sweep: `datavsmath sweep SPEC --storage TMP --no-dashboard --no-report` on a generated spec
(rf, the fractions, seeds), 1 CPU per trial, two at a time; the trial seeds its forest with
its seed. Both sides run as fresh processes timed from the outside (interpreter, imports and
data included); with --rounds they alternate. Reported: wall seconds, the ratio (learning_curve
wall / sweep wall: > 1 means the sweep is faster), and accuracy agreement: per size, |mean acc
sweep - mean acc learning_curve|, and its mean over the sizes, against the seed-to-seed spread.

--fixed-cost: a 2-trial tiny rf spec (1 % of the data, 1 tree, seeds 0 and 1) through
benchmarks/_cli_timer.py (datavsmath.cli.main with timers around its phases), report on (the
default), and `python -X importtime` of the driver's imports: the command's wall split into
interpreter start, imports, ray.init, data read, Tuner setup, fit, result files, report,
ray.shutdown and exit. Spec files go to a temporary folder, never the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as U  # noqa: E402

GRIDS = {
    "20": {"fracs": (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0), "seeds": (0, 1)},
    "5": {"fracs": (0.01, 0.05, 0.2, 0.5, 1.0), "seeds": (0,)},
}
SPEC = """\
name: {name}
description: "bench_learning_curve: rf (25 trees) at {n_fracs} train sizes x {n_seeds} seed(s)"
model: [rf]
sample_frac: [{fracs}]
damage_frac: [0.0]
damage_mode: [none]
seeds: [{seeds}]
"""
TINY_SPEC = """\
name: fixed_cost
description: "bench_learning_curve --fixed-cost: 2 tiny rf trials"
model: [rf]
sample_frac: [0.01]
damage_frac: [0.0]
damage_mode: [none]
seeds: [0, 1]
overrides:
  rf: {n_estimators: 1}
"""


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("datavsmath")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "datavsmath.cli"]


# ----------------------------------------------------------------------------- learning_curve

class SeedSplits:
    """CV splitter: per seed, train = that seed's permutation of the first n_train rows (the
    project's subset order), test = the rows after them (the test set)."""

    def __init__(self, n_train: int, n_test: int, seeds: tuple[int, ...]) -> None:
        self.n_train, self.n_test, self.seeds = n_train, n_test, seeds

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.seeds)

    def split(self, X: Any, y: Any = None, groups: Any = None):
        import numpy as np

        from datavsmath.trainables.damage import subset_indices

        test = np.arange(self.n_train, self.n_train + self.n_test)
        for seed in self.seeds:
            yield subset_indices(self.n_train, sample_frac=1.0, seed=seed), test


def lc_worker(grid: str, out: str) -> None:
    """learning_curve on `grid`, in this (fresh) process; writes its scores to `out`."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import learning_curve

    from datavsmath.trainables.datasets.built_in import load_fashion_mnist
    from datavsmath.trainables.models import default_params
    from datavsmath.trainables.models.common import flat_float32

    g = GRIDS[grid]
    data = load_fashion_mnist(download=False)
    X = np.concatenate([flat_float32(data.x_train), flat_float32(data.x_test)])
    y = np.concatenate([data.y_train, data.y_test])
    p = default_params("rf")
    est = RandomForestClassifier(n_estimators=p["n_estimators"], max_features=p["max_features"],
                                 max_depth=p["max_depth"], n_jobs=1, random_state=0)
    t0 = time.perf_counter()
    sizes, train_scores, test_scores = learning_curve(
        est, X, y, train_sizes=list(g["fracs"]), cv=SeedSplits(data.n_train, data.n_test, g["seeds"]),
        n_jobs=2, shuffle=False)
    Path(out).write_text(json.dumps({"sizes": sizes.tolist(), "test_scores": test_scores.tolist(),
                                     "train_scores": train_scores.tolist(), "call_s": time.perf_counter() - t0}))


def run_lc(grid: str, *, tmp: Path, log) -> dict[str, Any]:
    out = tmp / f"lc_{grid}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--lc-worker", grid, "--worker-out", str(out)]
    log(f"  $ learning_curve(n_jobs=2), grid {grid} (fresh process)")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(U.PROJECT_ROOT))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"learning_curve worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(out.read_text())
    g = GRIDS[grid]
    acc = {f: res["test_scores"][i] for i, f in enumerate(g["fracs"])}  # per size: one score per seed
    return {"wall_s": wall, "call_s": res["call_s"], "sizes": res["sizes"], "acc": acc}


# ----------------------------------------------------------------------------- sweep

def run_sweep(grid: str, *, tmp: Path, rnd: int, log) -> dict[str, Any]:
    import pandas as pd

    g = GRIDS[grid]
    name = f"lc_grid{grid}_r{rnd}"
    spec = tmp / f"{name}.yaml"
    spec.write_text(SPEC.format(name=name, n_fracs=len(g["fracs"]), n_seeds=len(g["seeds"]),
                                fracs=", ".join(str(f) for f in g["fracs"]),
                                seeds=", ".join(str(s) for s in g["seeds"])))
    cmd = cli() + ["sweep", str(spec), "--storage", str(tmp / "storage"), "--no-dashboard", "--no-report"]
    log(f"  $ datavsmath sweep {spec.name} --storage TMP --no-dashboard --no-report")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(U.PROJECT_ROOT))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    df = pd.read_csv(tmp / "storage" / name / "results.csv")
    acc = {f: [float(df[(df.sample_frac.round(6) == round(f, 6)) & (df.seed == s)]["acc"].iloc[0])
               for s in g["seeds"]] for f in g["fracs"]}
    m = re.search(r"makespan ([\d.]+) s", proc.stdout)
    return {"wall_s": wall, "makespan_s": float(m.group(1)) if m else None, "acc": acc,
            "n_train": {f: int(df[df.sample_frac.round(6) == round(f, 6)]["n_train"].iloc[0]) for f in g["fracs"]}}


def compare(grid: str, lcs: list[dict[str, Any]], sws: list[dict[str, Any]], log) -> dict[str, Any]:
    g = GRIDS[grid]
    lc_wall = statistics.median(r["wall_s"] for r in lcs)
    sw_wall = statistics.median(r["wall_s"] for r in sws)
    lc, sw = lcs[-1], sws[-1]
    rows, diffs, spreads = [], [], []
    for i, f in enumerate(g["fracs"]):
        a_lc, a_sw = lc["acc"][f], sw["acc"][f]
        d = abs(statistics.fmean(a_sw) - statistics.fmean(a_lc))
        diffs.append(d)
        spread = abs(a_sw[0] - a_sw[1]) if len(a_sw) > 1 else None
        if spread is not None:
            spreads.append(spread)
        rows.append({"frac": f, "n_lc": lc["sizes"][i], "n_sweep": sw["n_train"][f], "acc_lc": a_lc,
                     "acc_sweep": a_sw, "abs_diff": d, "seed_spread_sweep": spread})
    log(f"\ngrid {grid} ({len(g['fracs'])} sizes x {len(g['seeds'])} seed(s) = {len(g['fracs']) * len(g['seeds'])} "
        f"fits), {len(lcs)} round(s):")
    for i, (a, b) in enumerate(zip(lcs, sws)):
        log(f"  round {i + 1}: learning_curve {a['wall_s']:.1f} s (call {a['call_s']:.1f} s), sweep command "
            f"{b['wall_s']:.1f} s (makespan {b['makespan_s']} s) -> sweep {a['wall_s'] / b['wall_s']:.2f}x "
            f"learning_curve's speed")
    log(f"  median: learning_curve {lc_wall:.1f} s, sweep {sw_wall:.1f} s -> ratio {lc_wall / sw_wall:.2f}x "
        f"(target >= 1.0 on grid 20: {'PASS' if lc_wall / sw_wall >= 1.0 else 'FAIL'})")
    log(f"  {'frac':>5} {'n lc':>6} {'n sweep':>7}  {'acc learning_curve':>22}  {'acc sweep':>22}  {'|diff|':>7}")
    for r in rows:
        log(f"  {r['frac']:5.2f} {r['n_lc']:6d} {r['n_sweep']:7d}  {', '.join(f'{a:.4f}' for a in r['acc_lc']):>22}  "
            f"{', '.join(f'{a:.4f}' for a in r['acc_sweep']):>22}  {r['abs_diff']:7.4f}")
    mean_diff = statistics.fmean(diffs)
    spread = statistics.fmean(spreads) if spreads else None
    log(f"  accuracy: mean |diff| per size {mean_diff:.4f}, max {max(diffs):.4f}"
        + (f"; seed-to-seed spread of the sweep {spread:.4f} (mean over sizes)" if spread is not None else ""))
    return {"grid": grid, "lc_wall_s": lc_wall, "sweep_wall_s": sw_wall, "ratio": lc_wall / sw_wall,
            "mean_abs_diff": mean_diff, "max_abs_diff": max(diffs), "seed_spread": spread, "rows": rows,
            "rounds": [{"lc": a["wall_s"], "lc_call": a["call_s"], "sweep": b["wall_s"], "makespan": b["makespan_s"]}
                       for a, b in zip(lcs, sws)]}


# ----------------------------------------------------------------------------- fixed cost

def importtime(modules: list[str], *, top: int = 12) -> list[tuple[str, float]]:
    """`python -X importtime -c "import m1, m2, ..."`: the slowest imports by cumulative seconds
    (top-level packages and the project's modules)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import " + ", ".join(modules)],
                          capture_output=True, text=True, cwd=str(U.PROJECT_ROOT))
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and (len(m.group(3)) <= 2 or m.group(4).split(".")[0] in ("sweeps", "trainables", "analysis")):
            rows.append((m.group(4), int(m.group(2)) / 1e6))
    total = sum(s for name, s in rows if name in modules)
    best = sorted(rows, key=lambda r: -r[1])[:top]
    return [("(total of the listed)", total), *best]


def fixed_cost(*, tmp: Path, rounds: int, log) -> dict[str, Any]:
    spec = tmp / "fixed_cost.yaml"
    spec.write_text(TINY_SPEC)
    runs = []
    for rnd in range(rounds):
        U.wait_quiet(max_wait=60, log=log)
        out = tmp / f"fixed_{rnd}.json"
        cmd = [sys.executable, str(U.BENCH_DIR / "_cli_timer.py"), str(out), "--", "sweep", str(spec),
               "--storage", str(tmp / "storage"), "--name", f"fixed_{rnd}", "--no-dashboard"]
        t_launch = time.time()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(U.PROJECT_ROOT))
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"sweep failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
        rec = json.loads(out.read_text())
        start = rec["t0"] - t_launch
        spans = {"interpreter start": (0.0, start)}
        for p in rec["phases"]:
            spans.setdefault(p["name"], (start + p["start"], start + p["end"]))
        spans["after main(): atexit + exit"] = (start + rec["end"], wall)
        runs.append({"wall_s": wall, "spans": spans, "maxrss_mb": rec["maxrss_mb"]})
        log(f"\n  round {rnd + 1}: whole command {wall:.2f} s (2 tiny rf trials, report on, no dashboard)")
        for name, (a, b) in sorted(spans.items(), key=lambda kv: kv[1][0]):
            log(f"    {a:6.2f} .. {b:6.2f}  {b - a:6.2f} s  {name}")
    imports = importtime(["datavsmath.cli", "ray", "ray.tune", "datavsmath.trainables.trainable",
                          "datavsmath.analysis.report"])
    log("\n  python -X importtime (cumulative seconds; each module once, in import order):")
    for name, secs in imports:
        log(f"    {secs:6.2f} s  {name}")
    med = {name: statistics.median(r["spans"][name][1] - r["spans"][name][0] for r in runs if name in r["spans"])
           for name in runs[0]["spans"]}
    log(f"\n  median whole command {statistics.median(r['wall_s'] for r in runs):.2f} s over {rounds} round(s); "
        "phases (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
    return {"runs": runs, "median_phase_s": med, "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "importtime": imports}


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", choices=("20", "5", "both"), default="both")
    ap.add_argument("--rounds", type=int, default=1, help="alternate learning_curve and sweep this many times")
    ap.add_argument("--fixed-cost", action="store_true", help="only the fixed-cost breakdown")
    ap.add_argument("--json", default=None, help="write every figure to this JSON file")
    ap.add_argument("--lc-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.lc_worker:
        lc_worker(args.lc_worker, args.worker_out)
        return 0
    log = lambda s="": print(s, flush=True)  # noqa: E731
    info = U.machine_info()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=str(U.PROJECT_ROOT)).stdout.strip()
    log(f"bench_learning_curve {info['date']}  {info['cpu']}  {info['cores']} cores  loadavg "
        f"{info['loadavg'][0]:.2f}  tree {commit}")
    result: dict[str, Any] = {"info": info, "commit": commit}
    with tempfile.TemporaryDirectory(prefix="bench_lc_") as tmp_name:
        tmp = Path(tmp_name)
        if args.fixed_cost:
            result["fixed_cost"] = fixed_cost(tmp=tmp, rounds=args.rounds, log=log)
        else:
            for grid in (("20", "5") if args.grid == "both" else (args.grid,)):
                lcs, sws = [], []
                for rnd in range(args.rounds):
                    log(f"\n[grid {grid}, round {rnd + 1}/{args.rounds}]")
                    U.wait_quiet(max_wait=60, log=log)
                    b0, _ = U.cpu_times()
                    lcs.append(run_lc(grid, tmp=tmp, log=log))
                    U.wait_quiet(max_wait=60, log=log)
                    sws.append(run_sweep(grid, tmp=tmp, rnd=rnd, log=log))
                    b1, _ = U.cpu_times()
                    busy = (b1 - b0) / os.sysconf("SC_CLK_TCK") / (lcs[-1]["wall_s"] + sws[-1]["wall_s"])
                    log(f"    learning_curve {lcs[-1]['wall_s']:.1f} s, sweep {sws[-1]['wall_s']:.1f} s "
                        f"(machine busy {busy:.2f} cores on average, ours included)")
                result[f"grid_{grid}"] = compare(grid, lcs, sws, log)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
