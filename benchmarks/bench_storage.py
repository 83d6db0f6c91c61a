"""What object storage costs against local disk: the `smoke` spec swept and reported both ways.

Each round, side by side on the same machine, the shipped `smoke` spec (12 tiny trials) is
swept by the real CLI into

- local: a folder on this machine's disk (`--storage DIR`);
- s3: a bucket of an S3-compatible server on 127.0.0.1 (moto's server mode, the one the tests
  start: tests/storage/s3_server.py), reached over HTTP through the standard AWS variables as
  a cluster reaches its bucket (`--storage s3://BUCKET/exps`).

Measured per storage: the whole `datavsmath sweep` command (Ray's start included), the trials'
own wall seconds (each trial's end_time less its start_time, the median of the 12), the
overhead per trial (the sweep's seconds less the trials' sum over the cores that run them at
once, per trial), and `datavsmath report` of the finished experiment
(reading the results back, the figures, writing report.html). The order alternates between
rounds (local first, then s3 first) so both see the same load. A loopback server has no
network latency: a real bucket adds its round trips on top of these figures.

    python benchmarks/bench_storage.py [--rounds 2] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
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

sys.path.insert(0, str(U.PROJECT_ROOT))
from tests.storage.s3_server import start_server  # noqa: E402

SPEC = "smoke"
CLI = [sys.executable, "-m", "datavsmath"]
TIMEOUT_S = 900
CONCURRENT = os.cpu_count() or 1  # smoke's trials take 1 CPU each: this many run at once


def timed(args: list[str], *, env: dict[str, str], cwd: Path) -> float:
    """Seconds of one CLI command, which must succeed."""
    started = time.perf_counter()
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=TIMEOUT_S)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def trial_seconds(results_parquet: bytes) -> list[float]:
    """Each trial's own wall seconds (its end_time less its start_time, as the trial reported
    them) from the experiment's results table."""
    import io

    import pandas as pd

    frame = pd.read_parquet(io.BytesIO(results_parquet))
    return [float(s) for s in (frame["end_time"] - frame["start_time"]).dt.total_seconds()]


def measure(kind: str, *, root: str, name: str, env: dict[str, str], cwd: Path, read) -> dict[str, float]:
    """Sweep `smoke` into `root`/`name`, then report it; the figures of the run."""
    U.wait_quiet(threshold=0.3, max_wait=30)
    sweep_s = timed(["sweep", SPEC, "--storage", root, "--name", name, "--no-dashboard", "--no-live", "--no-report"],
                    env=env, cwd=cwd)
    trials = trial_seconds(read(f"{name}/results.parquet"))
    report_s = timed(["report", f"{root}/{name}"], env=env, cwd=cwd)
    return {"storage": kind, "sweep_s": sweep_s, "report_s": report_s, "n_trials": len(trials),
            "trial_median_s": statistics.median(trials), "trials_sum_s": sum(trials),
            "overhead_per_trial_s": (sweep_s - sum(trials) / CONCURRENT) / len(trials)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one round")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    server = start_server(work)
    try:
        bucket = server.new_bucket()
        client = server.client()
        s3_env = {**os.environ, **server.env(), "PYTHONUNBUFFERED": "1"}
        local_root = work / "local"
        runs = {
            "local": dict(root=str(local_root), env={**os.environ, "PYTHONUNBUFFERED": "1"},
                          read=lambda key: (local_root / key).read_bytes()),
            "s3": dict(root=f"s3://{bucket}/exps", env=s3_env,
                       read=lambda key: client.get_object(Bucket=bucket, Key=f"exps/{key}")["Body"].read()),
        }
        rows = []
        for r in range(rounds):
            order = ["local", "s3"] if r % 2 == 0 else ["s3", "local"]
            for kind in order:
                row = measure(kind, name=f"smoke-{r}", cwd=work, **runs[kind])
                rows.append({"round": r, **row})
                print(f"round {r} {kind:5s}: sweep {row['sweep_s']:6.1f} s  report {row['report_s']:5.1f} s  "
                      f"trial median {row['trial_median_s']:5.2f} s  overhead/trial "
                      f"{row['overhead_per_trial_s']:5.2f} s", flush=True)
    finally:
        server.stop()
    summary = {}
    for kind in ("local", "s3"):
        mine = [row for row in rows if row["storage"] == kind]
        summary[kind] = {key: statistics.median(row[key] for row in mine)
                         for key in ("sweep_s", "report_s", "trial_median_s", "overhead_per_trial_s")}
    ratios = {key: summary["s3"][key] / summary["local"][key] for key in summary["local"]}
    print("median over rounds   local      s3   s3/local")
    for key in summary["local"]:
        print(f"  {key:22s} {summary['local'][key]:6.2f}  {summary['s3'][key]:6.2f}   {ratios[key]:5.2f}x")
    out = U.BENCH_DIR / "results" / f"{dt.date.today().isoformat()}_bench_storage.json"
    out.write_text(json.dumps({"machine": U.machine_info(), "rows": rows, "median": summary, "ratio": ratios},
                              indent=1, default=str))
    print(f"written: {out.relative_to(U.PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
