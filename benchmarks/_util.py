"""Shared helpers for the benchmark scripts (not part of the package; no project imports here).

- analytic training FLOPs of the talk's nets;
- a CPU-load probe (/proc/stat) so a run can wait for a quiet machine and report how much
  foreign load (other users' processes) was present while it measured;
- ``run_group``: start worker processes, let each finish its warm-up epoch, wait until the
  machine is quiet, release them all at the same instant (file barrier), collect their JSON.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
BENCH_VENV = Path(os.environ.get("BENCH_VENV", "/work/bench-venv"))
RESULT_PREFIX = "BENCH_JSON "
MALLOCS = {
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
}


# ----------------------------------------------------------------------------- FLOPs

def conv_macs(h_out: int, w_out: int, c_out: int, k: int, c_in: int) -> int:
    return h_out * w_out * c_out * k * k * c_in


def forward_macs(model: str) -> int:
    """Multiply-adds of one forward pass of one sample (convs and dense layers only)."""
    if model == "cnn":
        return (conv_macs(26, 26, 32, 3, 1)        # conv 3x3, 1 -> 32, 28 -> 26
                + conv_macs(24, 24, 64, 3, 32)     # conv 3x3, 32 -> 64, 26 -> 24
                + 64 * 12 * 12 * 128               # dense 9216 -> 128
                + 128 * 10)                        # dense 128 -> 10
    if model == "dnn":
        return 784 * 256 + 256 * 128 + 128 * 10
    raise ValueError(model)


def train_flops_per_sample(model: str) -> float:
    """Training FLOPs per sample: forward FLOPs (2 per MAC) x 3 for forward + backward."""
    return 3 * 2 * forward_macs(model)


# ----------------------------------------------------------------------------- machine

def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies over all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [float(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total


def busy_cores(interval: float = 0.5) -> float:
    """Cores busy (summed over CPUs) during `interval` seconds."""
    b0, _ = cpu_times()
    t0 = time.monotonic()
    time.sleep(interval)
    b1, _ = cpu_times()
    return (b1 - b0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)


def wait_quiet(*, threshold: float = 0.3, max_wait: float = 90.0, log=print) -> float:
    """Wait (at most `max_wait` s) until other processes use < `threshold` cores; returns
    the last measured busy cores (our own workers are idle while this runs)."""
    deadline = time.monotonic() + max_wait
    busy = busy_cores()
    warned = False
    while busy >= threshold and time.monotonic() < deadline:
        if not warned:
            log(f"    (machine busy: {busy:.2f} cores used by other processes; waiting up to "
                f"{max_wait:.0f} s for quiet)")
            warned = True
        time.sleep(2.0)
        busy = busy_cores()
    return busy


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpu": model,
            "cores": os.cpu_count(), "python": platform.python_version(),
            "loadavg": os.getloadavg()}


# ----------------------------------------------------------------------------- workers

@dataclass
class Job:
    """One worker process: argv (without barrier flags), extra environment, label."""

    label: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 900.0
    threads: int = 1


@dataclass
class GroupResult:
    results: list[dict[str, Any]]
    wall_s: float
    foreign_cores: float          # other processes' CPU use while the group ran
    quiet_before: float           # busy cores just before release
    errors: list[str]
    attempts: int = 1


def project_python() -> str:
    return sys.executable


def keras_python() -> str | None:
    py = BENCH_VENV / "bin" / "python"
    return str(py) if py.exists() else None


def _thread_env(threads: int) -> dict[str, str]:
    v = str(threads)
    return {"OMP_NUM_THREADS": v, "MKL_NUM_THREADS": v, "OPENBLAS_NUM_THREADS": v}


def worker_env(threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(_thread_env(threads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra or {})
    return env


def _parse(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    return None


def run_group(jobs: Sequence[Job], *, quiet_threshold: float = 0.3, max_wait: float = 90.0,
              attempts: int = 1, log=print) -> GroupResult:
    """``_run_group_once`` up to `attempts` times while other processes took CPU that the
    group needed: more than the cores the group leaves spare (cores - its threads) plus
    `quiet_threshold`. Returns the least disturbed attempt."""
    spare = max(0, (os.cpu_count() or 1) - sum(j.threads for j in jobs))
    allowed = spare + quiet_threshold
    best: GroupResult | None = None
    for i in range(max(1, attempts)):
        g = _run_group_once(jobs, quiet_threshold=allowed, max_wait=max_wait, log=log)
        g.attempts = i + 1
        if best is None or (not g.errors and (best.errors or g.foreign_cores < best.foreign_cores)):
            best = g
        if g.errors or g.foreign_cores < allowed:
            break
        if i + 1 < attempts:
            log(f"    (other processes used {g.foreign_cores:.2f} cores during the measurement: "
                f"measuring again)")
    return best


def _run_group_once(jobs: Sequence[Job], *, quiet_threshold: float, max_wait: float,
                    log=print) -> GroupResult:
    """Run `jobs` concurrently; all are released together after their warm-up epoch.

    Each worker gets ``--ready FILE --go FILE``: it touches FILE(ready) after its warm-up
    (epoch 1), then waits for FILE(go). We wait for a quiet machine before writing go.
    """
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        go = Path(tmp) / "go"
        procs, readies = [], []
        for i, job in enumerate(jobs):
            ready = Path(tmp) / f"ready{i}"
            readies.append(ready)
            out = open(Path(tmp) / f"out{i}", "w+")
            err = open(Path(tmp) / f"err{i}", "w+")
            p = subprocess.Popen(job.argv + ["--ready", str(ready), "--go", str(go)],
                                 stdout=out, stderr=err, env=job.env, cwd=str(PROJECT_ROOT))
            procs.append((p, out, err, job))
        start = time.monotonic()
        # wait until every worker is ready (or has exited)
        while True:
            states = [r.exists() or p.poll() is not None for r, (p, *_rest) in zip(readies, procs)]
            if all(states):
                break
            if time.monotonic() - start > max(j.timeout for j in jobs):
                break
            time.sleep(0.05)
        quiet = wait_quiet(threshold=quiet_threshold, max_wait=max_wait, log=log)
        b0, _ = cpu_times()
        t0 = time.monotonic()
        go.touch()
        errors, results = [], []
        for p, _out, _err, job in procs:
            try:
                p.wait(timeout=max(1.0, job.timeout - (time.monotonic() - start)))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                errors.append(f"{job.label}: timed out after {job.timeout:.0f} s")
        wall = time.monotonic() - t0
        b1, _ = cpu_times()
        own_cpu = 0.0
        for p, out, err, job in procs:
            with out, err:
                out.seek(0)
                err.seek(0)
                res = _parse(out.read())
                tail = err.read()[-2000:]
            if res is None:
                if not any(e.startswith(job.label) for e in errors):
                    errors.append(f"{job.label}: exit {p.returncode}; stderr tail:\n{tail}")
                continue
            res["label"] = job.label
            own_cpu += res.get("cpu_after_go", 0.0)
            results.append(res)
        busy = (b1 - b0) / os.sysconf("SC_CLK_TCK")
        foreign = max(0.0, (busy - own_cpu) / wall) if wall > 0 else 0.0
        return GroupResult(results=results, wall_s=wall, foreign_cores=foreign, quiet_before=quiet,
                           errors=errors)


def steady_throughput(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Total samples/s of concurrently released workers over the epochs after the barrier.

    Only epochs that end before the first worker's last epoch ends count (so every counted
    epoch ran while all workers were training). Per worker: n x epochs / their seconds.
    """
    if not results:
        return {"samples_per_s": float("nan"), "per_worker": [], "epoch_s": []}
    steady = [r["epochs"][1:] for r in results]  # skip the warm-up epoch
    if any(not s for s in steady):
        return {"samples_per_s": float("nan"), "per_worker": [], "epoch_s": []}
    window_end = min(s[-1][1] for s in steady) + 1e-3
    total, per, durations = 0.0, [], []
    for r, s in zip(results, steady):
        counted = [e for e in s if e[1] <= window_end] or s[:1]
        secs = sum(e[1] - e[0] for e in counted)
        rate = r["n"] * len(counted) / secs
        per.append(rate)
        durations.append([round(e[1] - e[0], 3) for e in s])
        total += rate
    return {"samples_per_s": total, "per_worker": per, "epoch_s": durations}


def fmt_ratio(a: float, b: float) -> str:
    if not (b > 0) or a != a or b != b:
        return "n/a"
    return f"{a / b:.2f}x"


def plain_json(value: Any) -> Any:
    """JSON-ready: NaN and infinities as null, numpy scalars as Python numbers, keys as str."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
