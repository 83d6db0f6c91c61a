"""The project's trainer against another checkout of it, side by side in one run.

    python benchmarks/bench_ab.py --old /tmp/oldmain                # 2 rounds: old, new, old, new
    python benchmarks/bench_ab.py --old /tmp/oldmain --rounds 3 -- --attempts 3

Each round runs ``benchmarks/bench_trainers.py --quick`` of the other checkout ("old") and then of
``--new`` (default: this checkout), each with its own benchmarks/ and project code (PYTHONPATH and working directory
set to that checkout; the interpreter is this one's). Alternating the two spreads slow phases of a
shared machine over both. Arguments after ``--`` go to every bench_trainers run. Printed at the
end: the project trainer's samples/s per round and side, the mean per side and the ratio
new / old, the test accuracy per side (the same on both sides when the trainer computes the same
nets) and the largest foreign load (other users' cores) during a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

NEW_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

# (summary key of bench_trainers' JSON, statistic, label)
FIGURES = [
    ("cnn/project/t1", "median", "cnn 1 thread, median epoch"),
    ("cnn/project/t1", "cpu_median", "cnn 1 thread, per CPU-second"),
    ("cnn/project/2x1", "group_total", "cnn 2 x 1-thread processes, total"),
    ("cnn/project/1x2", "group_total", "cnn 1 x 2-thread process"),
    ("dnn/project/t1", "median", "dnn 1 thread, median epoch"),
    ("dnn/project/t1", "cpu_median", "dnn 1 thread, per CPU-second"),
    ("dnn/project/2x1", "group_total", "dnn 2 x 1-thread processes, total"),
]


def checkout_env(root: Path) -> dict[str, str]:
    """The environment that makes an old checkout's top-level `trainables` importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root)
    return env


def trainables_location(root: Path) -> str:
    """Where the trainer's package resolves for a run in `root` (printed, so the log proves it):
    `datavsmath.trainables` for a checkout with the one import package (api/ or datavsmath/ is `datavsmath`; the
    venv's editable install must be that checkout, as for --new by default), else the top-level
    `trainables` of an older checkout, through PYTHONPATH."""
    one_package = any((root / d / "__init__.py").is_file() for d in ("datavsmath", "api"))
    package = "datavsmath.trainables" if one_package else "trainables"
    out = subprocess.run([PYTHON, "-c", f"import {package} as t; print(t.__file__)"], cwd=root,
                         env=checkout_env(root), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_bench(root: Path, json_path: Path, extra: list[str], log) -> dict:
    """One `bench_trainers.py --quick` of the checkout at `root`; its output is logged line by line."""
    argv = [PYTHON, str(root / "benchmarks" / "bench_trainers.py"), "--quick", "--json", str(json_path), *extra]
    with subprocess.Popen(argv, cwd=root, env=checkout_env(root), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            log("    | " + line.rstrip())
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
    return json.loads(json_path.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, type=Path, help="the other checkout (its root directory)")
    ap.add_argument("--new", type=Path, default=NEW_ROOT,
                    help="the checkout measured against it (default: the one holding this script)")
    ap.add_argument("--rounds", type=int, default=2, help="old/new pairs to run (default 2)")
    ap.add_argument("extra", nargs="*", help="arguments for bench_trainers.py (after --)")
    args = ap.parse_args()
    log = lambda s="": print(s, flush=True)  # noqa: E731
    sides = {"old": args.old.resolve(), "new": args.new.resolve()}
    for side, root in sides.items():
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or "?"
        log(f"{side}: {root} (HEAD {commit}), trainables imported from {trainables_location(root)}")
    results: dict[str, list[dict]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="bench_ab_") as tmp:
        for round_ in range(1, args.rounds + 1):
            for side, root in sides.items():
                log(f"\n== round {round_}, {side}: bench_trainers.py --quick {' '.join(args.extra)}")
                results[side].append(run_bench(root, Path(tmp) / f"{side}{round_}.json", args.extra, log))

    log("\n" + "=" * 100)
    log("samples/s of the project trainer (bench_trainers --quick), per round; mean; ratio new / old")
    head = "  ".join(f"old{r} new{r}".replace(" ", "  ") for r in range(1, args.rounds + 1))
    log(f"  {'':<36} {head}   {'old':>7} {'new':>7}  new/old")
    for key, stat, label in FIGURES:
        row, means = [], {}
        for side in ("old", "new"):
            values = [r["summary"].get(key, {}).get(stat, float("nan")) for r in results[side]]
            means[side] = statistics.fmean(values)
            row.append(values)
        per_round = "  ".join(f"{o:6.0f} {n:6.0f}" for o, n in zip(*row))
        log(f"  {label:<36} {per_round}   {means['old']:7.0f} {means['new']:7.0f}  {means['new'] / means['old']:6.3f}")
    for model in ("cnn", "dnn"):
        accs = {side: sorted({round(a, 4) for r in results[side]
                              for a in r["summary"].get(f"{model}/project/t1", {}).get("accs", [])})
                for side in ("old", "new")}
        log(f"  {model} test accuracy (1 thread, seed 0): old {accs['old']}  new {accs['new']}")
    foreign = {side: max(v.get("foreign_cores_max", 0.0) for r in results[side] for k, v in r["summary"].items()
                         if "/project/" in k) for side in ("old", "new")}
    log(f"  largest foreign load during a project measurement: old {foreign['old']:.2f}, "
        f"new {foreign['new']:.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
