"""A large user table through the sweep: 1,000,000 rows x 100 float features.

    python benchmarks/bench_big_table.py [--rows 1000000] [--features 100]

Generates (in a temporary folder, never the repository) a Parquet table of `--rows` rows x
`--features` float32 features and a 10-class label (a seeded linear rule plus noise, so the
models learn something), then measures:

- the driver's load: `datavsmath.trainables.datasets.load_dataset` (read, check, stratified test_frac
  0.2 split) and the fingerprint, in this process, wall seconds and the peak RSS it reached;
- a sweep on it through the CLI (`datavsmath sweep SPEC --no-dashboard --no-report`, a fresh
  process timed from outside, with its peak RSS from the kernel): rf and a dnn (1 epoch) at
  sample_frac 0.001 and 0.01, two trials at a time; each trial's `peak_rss_mb` (the worker's
  peak resident memory, which counts the pages of the shared object-store copy it touched).

Prints one JSON line (prefix BENCH_JSON) and writes it to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
N_CLASSES = 10


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def make_table(path: Path, *, rows: int, features: int, seed: int = 0) -> float:
    """Write the Parquet table; returns its size in MB."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features), dtype=np.float32)
    weights = rng.standard_normal((features, N_CLASSES)).astype(np.float32)
    scores = x @ weights + rng.standard_normal((rows, N_CLASSES), dtype=np.float32)
    frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(features)])
    frame["y"] = scores.argmax(axis=1)
    frame.to_parquet(path)
    return path.stat().st_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)  # the child that writes the table
    args = parser.parse_args()
    if args.generate_only:
        print(make_table(args.generate_only, rows=args.rows, features=args.features))
        return
    from datavsmath.trainables.datasets import load_dataset

    out: dict = {"rows": args.rows, "features": args.features, "date": dt.date.today().isoformat()}
    with tempfile.TemporaryDirectory(prefix="bench_big_table_") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        # written by a child process, so that this process's peak RSS is the load's alone
        child = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--features", str(args.features),
                                "--generate-only", str(folder / "big.parquet")], capture_output=True, text=True,
                               check=True)
        out["parquet_mb"] = round(float(child.stdout.strip()), 1)
        out["generate_s"] = round(time.perf_counter() - started, 2)
        rss_before = _peak_rss_mb()  # interpreter, numpy, pandas
        out["driver_rss_before_load_mb"] = round(rss_before, 1)
        started = time.perf_counter()
        data = load_dataset({"kind": "table", "path": str(folder / "big.parquet"), "label": "y"})
        out["driver_load_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        fingerprint = data.fingerprint
        out["fingerprint_s"] = round(time.perf_counter() - started, 2)
        out["arrays_mb"] = round(sum(a.nbytes for a in (data.x_train, data.y_train, data.x_test, data.y_test))
                                 / 2**20, 1)
        out["driver_peak_rss_mb_in_process"] = round(max(_peak_rss_mb(), rss_before), 1)
        out["n_train"], out["n_test"], out["fingerprint"] = data.n_train, data.n_test, fingerprint[:16]
        del data
        (folder / "big.yaml").write_text(
            "name: big\ndataset: {kind: table, path: big.parquet, label: y}\nmodel: [rf, dnn]\n"
            "sample_frac: [0.001, 0.01]\ndamage_frac: [0.0]\ndamage_mode: [none]\nseeds: [0]\n"
            "overrides: {dnn: {epochs: 1}}\n")
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "datavsmath.cli", "sweep", str(folder / "big.yaml"),
                               "--storage", str(folder / "results"), "--no-dashboard", "--no-report", "-v", "0"],
                              capture_output=True, text=True)
        out["sweep_wall_s"] = round(time.perf_counter() - started, 1)
        out["sweep_rc"] = proc.returncode
        # the largest finished child: the CLI driver (the table generator is smaller)
        out["sweep_driver_peak_rss_mb"] = round(_peak_rss_mb(resource.RUSAGE_CHILDREN), 1)
        if proc.returncode == 0:
            df = pd.read_parquet(folder / "results" / "big" / "results.parquet")
            out["trials"] = [{"model": r.model, "sample_frac": r.sample_frac, "n_train": int(r.n_train),
                              "acc": round(float(r.acc), 4), "fit_seconds": round(float(r.fit_seconds), 2),
                              "worker_peak_rss_mb": round(float(r.peak_rss_mb), 1)} for r in df.itertuples()]
        else:
            out["stderr"] = proc.stderr[-2000:]
    line = json.dumps(out)
    print("BENCH_JSON " + line)
    results = BENCH_DIR / "results" / f"{out['date']}_bench_big_table.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(line + "\n")


if __name__ == "__main__":
    main()
