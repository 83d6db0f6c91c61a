"""The scale curve: sweeps of N near-trivial real trials through the real CLI, N = 500, 2,000, 5,000.

    python benchmarks/bench_scale.py                       # 500, 2000, 5000 (~30-60 min on 2 cores)
    python benchmarks/bench_scale.py --sizes 50 200        # a quick check (~2 min)
    python benchmarks/bench_scale.py --sizes 2000 --env TUNE_GLOBAL_CHECKPOINT_S=2   # try a setting

Each trial is `rf` with `n_estimators: 1` at `sample_frac: 0.001` (60 rows), one seed each
(seeds 0..N-1 make the N distinct trials); it still scores the 10,000 test images like every
trial. The spec goes to a temporary folder. Per N:

- `datavsmath sweep SPEC --storage TMP --no-dashboard --no-report --max-trials N`, run through
  benchmarks/_cli_timer.py (the same datavsmath.cli.main, with timers wrapped around its phases):
  whole-command wall; tuner.fit wall; wall per trial (fit / N); the trials' own seconds (their
  start to end, from results.parquet) and the overhead per trial = fit wall / N - mean trial
  seconds / slots (slots = CPUs, 1 CPU per trial); the driver's peak RSS (getrusage); Tune's
  experiment-state saves (count, summed seconds, last size); TuneController.step calls; the
  result files (read + results.parquet / results.csv / seed_results.csv writes); a sampled
  profile of the driver's main thread during fit (top functions by inclusive share);
- `datavsmath status DIR` and `datavsmath report DIR`, wall each (fresh processes).

A watchdog polls the driver every 5 s (RSS, experiment-state size, trial folders: the
"timeline") and stops a sweep that passes --max-rss-mb or --max-wall-s (SIGINT, then SIGKILL
after 120 s): the machine is shared. A stopped size is reported with what it reached.

The baseline of every ratio is the smallest N of the same run: "x vs N0" = value at N / value
at N0 for per-trial figures (1.00 = linear growth in total). `--env K=V` sets variables for
the sweep command (e.g. Tune's TUNE_GLOBAL_CHECKPOINT_S, the experiment-state period: the runner
sets 2 s up to 500 trials and Tune's "auto" above, datavsmath.sweeps.tuner.state_period; a value set here wins).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as U  # noqa: E402

TIMER = str(U.BENCH_DIR / "_cli_timer.py")
SPEC = """\
name: scale_{n}
description: "bench_scale: {n} near-trivial rf trials (1 tree, 60 rows), one per seed"
model: [rf]
sample_frac: [0.001]
damage_frac: [0.0]
damage_mode: [none]
seeds: [{seeds}]
overrides:
  rf: {{n_estimators: 1}}
"""


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("datavsmath")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "datavsmath.cli"]


def timed_run(cmd: list[str], *, env: dict[str, str] | None = None, log, quiet: bool = True) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(U.PROJECT_ROOT),
                          env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        log(f"  FAILED (exit {proc.returncode}): {' '.join(cmd)}\n{(proc.stdout + proc.stderr)[-3000:]}")
    elif not quiet:
        log(proc.stdout[-1500:])
    return {"wall_s": wall, "rc": proc.returncode, "stdout_tail": proc.stdout[-2000:],
            "stderr_tail": proc.stderr[-2000:]}


def _rss_mb(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def watched_run(cmd: list[str], *, env: dict[str, str], exp: Path, max_rss_mb: float, max_wall_s: float,
                log) -> dict[str, Any]:
    """Run the sweep command; every 5 s record (s, driver RSS MB, state MB, trial folders);
    SIGINT (then SIGKILL) past max_rss_mb or max_wall_s."""
    import signal

    t0 = time.perf_counter()
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=str(U.PROJECT_ROOT),
                            env={**os.environ, **env})
    timeline, stopped, sigint_at = [], None, None
    while proc.poll() is None:
        time.sleep(5)
        el = time.perf_counter() - t0
        states = sorted(exp.glob("experiment_state-*.json"))
        state_mb = states[-1].stat().st_size / 1e6 if states else 0.0
        try:
            folders = sum(1 for e in os.scandir(exp) if e.is_dir())
        except OSError:
            folders = 0
        rss = _rss_mb(proc.pid)
        timeline.append([round(el, 1), round(rss), round(state_mb, 1), folders])
        if stopped is None and (rss > max_rss_mb or el > max_wall_s):
            stopped = f"driver RSS {rss:.0f} MB" if rss > max_rss_mb else f"{el:.0f} s"
            log(f"  watchdog: stopping the sweep at {stopped} ({folders} trial folders, state {state_mb:.0f} MB)")
            proc.send_signal(signal.SIGINT)
            sigint_at = el
        elif sigint_at is not None and el - sigint_at > 120:
            proc.kill()
    wall = time.perf_counter() - t0
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
    if proc.returncode != 0 and stopped is None:
        log(f"  FAILED (exit {proc.returncode}): {' '.join(cmd)}\n{(stdout + stderr)[-3000:]}")
    return {"wall_s": wall, "rc": proc.returncode, "stopped": stopped, "timeline": timeline,
            "stdout_tail": stdout[-2000:], "stderr_tail": stderr[-2000:]}


def phases(rec: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in rec.get("phases", []):
        out[p["name"]] = out.get(p["name"], 0.0) + p["end"] - p["start"]
    return out


def one_size(n: int, *, tmp: Path, env: dict[str, str], max_rss_mb: float, max_wall_s: float,
             log) -> dict[str, Any]:
    spec = tmp / f"scale_{n}.yaml"
    spec.write_text(SPEC.format(n=n, seeds=", ".join(str(s) for s in range(n))))
    storage = tmp / "storage"
    timer_out = tmp / f"timer_{n}.json"
    cmd = [sys.executable, TIMER, str(timer_out), "--",
           "sweep", str(spec), "--storage", str(storage),
           "--no-dashboard", "--no-report", "--max-trials", str(n)]
    exp = storage / f"scale_{n}"
    log(f"\n[N={n}] $ datavsmath {' '.join(cmd[cmd.index('--') + 1:])}" + (f"   (env {env})" if env else ""))
    b0, _ = U.cpu_times()
    t_launch = time.time()
    sweep = watched_run(cmd, env=env, exp=exp, max_rss_mb=max_rss_mb, max_wall_s=max_wall_s, log=log)
    b1, _ = U.cpu_times()
    sweep["busy_cores"] = (b1 - b0) / os.sysconf("SC_CLK_TCK") / sweep["wall_s"]
    rec = json.loads(timer_out.read_text()) if timer_out.exists() else {}
    ph = phases(rec)
    row: dict[str, Any] = {"n": n, "sweep_wall_s": sweep["wall_s"], "sweep_rc": sweep["rc"],
                           "stopped": sweep["stopped"], "timeline": sweep["timeline"], "env": env,
                           "busy_cores": sweep["busy_cores"], "phases": ph,
                           "interpreter_start_s": rec.get("t0", t_launch) - t_launch,
                           "after_main_s": sweep["wall_s"] - (rec.get("t0", t_launch) - t_launch) - rec.get("end", 0.0),
                           "maxrss_mb": rec.get("maxrss_mb"), "steps": rec.get("steps"),
                           "missing_wrappers": rec.get("missing", [])}
    saves = rec.get("state_saves", [])
    row["state_saves"] = {"count": len(saves), "seconds": sum(s[1] for s in saves),
                          "last_bytes": saves[-1][2] if saves else 0,
                          "max_s": max((s[1] for s in saves), default=0.0)}
    fit = ph.get("tuner.fit", float("nan"))
    if sweep["stopped"]:  # fit never returned: the figures are those of what it reached
        fit = sweep["wall_s"] - 12.0
    row["fit_s"] = fit
    row["wall_per_trial_s"] = fit / n
    samples = max(1, rec.get("fit_samples", 0))
    row["profile_top"] = {k: round(v / samples, 3) for k, v in rec.get("profile", {}).items()}
    row["profile_self"] = {k: round(v / samples, 3) for k, v in rec.get("profile_self", {}).items()}
    try:
        import pandas as pd

        df = pd.read_parquet(exp / "results.parquet")
        secs = (df["end_time"] - df["start_time"]).dt.total_seconds()
        slots = os.cpu_count() or 1
        row["finished"] = int((df["status"] == "TERMINATED").sum())
        row["trial_s_mean"] = float(secs.mean())
        row["trial_fit_s_mean"] = float(df["fit_seconds"].mean())
        row["overhead_per_trial_s"] = fit / n - float(secs.mean()) / slots
        row["acc_mean"] = float(df["acc"].mean())
    except Exception as exc:  # reported, the other figures still count
        row["results_error"] = f"{type(exc).__name__}: {exc}"
    st = timed_run(cli() + ["status", str(exp)], log=log)
    rp = timed_run(cli() + ["report", str(exp), "--out", str(tmp / f"report_{n}.html")], log=log)
    row["status_s"], row["status_rc"] = st["wall_s"], st["rc"]
    row["report_s"], row["report_rc"] = rp["wall_s"], rp["rc"]
    row["parquet_bytes"] = (exp / "results.parquet").stat().st_size if (exp / "results.parquet").exists() else 0
    log(f"  sweep {sweep['wall_s']:.1f} s (fit {fit:.1f} s = {fit / n * 1000:.1f} ms/trial; overhead "
        f"{row.get('overhead_per_trial_s', float('nan')) * 1000:.1f} ms/trial; trial itself "
        f"{row.get('trial_s_mean', float('nan')) * 1000:.0f} ms); driver peak RSS {row['maxrss_mb']:.0f} MB; "
        f"state saves {row['state_saves']['count']} x, {row['state_saves']['seconds']:.1f} s, last "
        f"{row['state_saves']['last_bytes'] / 1e6:.1f} MB; result files "
        f"{ph.get('result files (read + write)', float('nan')):.1f} s (parquet "
        f"{ph.get('write results.parquet', float('nan')):.2f} s); status {st['wall_s']:.1f} s; report "
        f"{rp['wall_s']:.1f} s  (machine busy {sweep['busy_cores']:.2f} cores, ours included)")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000])
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment of the sweep command; repeatable")
    ap.add_argument("--json", default=None, help="write every figure to this JSON file")
    ap.add_argument("--keep", default=None, help="keep the experiments in this folder (default: temporary)")
    ap.add_argument("--max-rss-mb", type=float, default=6000, help="stop a sweep whose driver passes this")
    ap.add_argument("--max-wall-s", type=float, default=1800, help="stop a sweep running longer than this")
    args = ap.parse_args()
    log = lambda s="": print(s, flush=True)  # noqa: E731
    env = dict(kv.split("=", 1) for kv in args.env)
    info = U.machine_info()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=str(U.PROJECT_ROOT)).stdout.strip()
    log(f"bench_scale {info['date']}  {info['cpu']}  {info['cores']} cores  loadavg {info['loadavg'][0]:.2f}  "
        f"tree {commit}  sizes {args.sizes}  env {env}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp_name:
        tmp = Path(args.keep or tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            U.wait_quiet(max_wait=60, log=log)
            rows.append(one_size(n, tmp=tmp, env=env, max_rss_mb=args.max_rss_mb,
                                 max_wall_s=args.max_wall_s, log=log))
            if args.json:
                Path(args.json).write_text(json.dumps({"info": info, "commit": commit, "env": env, "rows": rows},
                                                      indent=1, default=str))
    base = rows[0]
    log("\n" + "=" * 100)
    log(f"{'N':>6} {'sweep s':>8} {'fit s':>7} {'ms/trial':>9} {'x vs N0':>7} {'ovh ms':>7} {'x vs N0':>7} "
        f"{'RSS MB':>7} {'saves':>6} {'save s':>7} {'state MB':>8} {'results s':>9} {'status s':>8} "
        f"{'report s':>8}")
    for r in rows:
        ovh, ovh0 = r.get("overhead_per_trial_s", float("nan")), base.get("overhead_per_trial_s", float("nan"))
        log(f"{r['n']:>6} {r['sweep_wall_s']:8.1f} {r['fit_s']:7.1f} {r['wall_per_trial_s'] * 1000:9.1f} "
            f"{U.fmt_ratio(r['wall_per_trial_s'], base['wall_per_trial_s']):>7} {ovh * 1000:7.1f} "
            f"{U.fmt_ratio(ovh, ovh0):>7} {r['maxrss_mb'] or float('nan'):7.0f} {r['state_saves']['count']:6d} "
            f"{r['state_saves']['seconds']:7.1f} {r['state_saves']['last_bytes'] / 1e6:8.2f} "
            f"{r['phases'].get('result files (read + write)', float('nan')):9.1f} {r['status_s']:8.1f} "
            f"{r['report_s']:8.1f}")
    last = rows[-1]
    for r in rows:
        log(f"\ndriver's main thread during fit at N={r['n']} (share of samples): inclusive, below "
            f"TuneController.step (frames in > 97 % of samples left out)")
        shown = [(k, v) for k, v in r["profile_top"].items() if v <= 0.97][:18]
        for name, share in shown:
            log(f"  {share:6.1%}  {name}")
        log("  self (innermost frame):")
        for name, share in list(r["profile_self"].items())[:8]:
            log(f"  {share:6.1%}  {name}")
    ovh_last = last.get("overhead_per_trial_s", float("nan"))
    ovh_first = base.get("overhead_per_trial_s", float("nan"))
    log("\ntargets, at the largest N vs the smallest:")
    log(f"  per-trial overhead {ovh_last * 1000:.1f} ms vs {ovh_first * 1000:.1f} ms: "
        f"{U.fmt_ratio(ovh_last, ovh_first)} (<= 1.25x) "
        f"{'PASS' if ovh_last <= 1.25 * ovh_first else 'FAIL'}; <= 0.1 s {'PASS' if ovh_last <= 0.1 else 'FAIL'}")
    log(f"  status {last['status_s']:.1f} s, report {last['report_s']:.1f} s (each <= 60 s): "
        f"{'PASS' if max(last['status_s'], last['report_s']) <= 60 else 'FAIL'}")
    log(f"  driver RSS {last['maxrss_mb']:.0f} MB (<= 1536): {'PASS' if last['maxrss_mb'] <= 1536 else 'FAIL'}")
    return 0 if all(r["sweep_rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
