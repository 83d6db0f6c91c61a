"""Training throughput of the project's dnn/cnn trainer against its peers, in one run.

    python benchmarks/bench_trainers.py            # full run, ~15 min on a quiet 2-core machine
    python benchmarks/bench_trainers.py --quick    # ~3 min: smaller subset, 1 seed, no extras

Peers, all on the same Fashion-MNIST subset (datavsmath.trainables.damage.subset_indices, the sweep's own
sampling), same batch 128, same optimizer settings, same thread count:
  project : datavsmath.trainables.models.build_model(...).fit (validation_split 0: every row is trained on)
  plain   : the pytorch/examples loop (torchvision dataset, ToTensor, DataLoader(shuffle=True))
  keras   : Keras 3 model.fit in /work/bench-venv (benchmarks/setup_peers.sh), as a subprocess
Each training run is its own process. The first epoch is a warm-up and is not timed; every
process then waits at a barrier until the machine is quiet (other users' processes < 0.3 cores)
and all processes of a group are released together (two-process "whole node" layouts).
Samples/s = training rows x epochs / seconds of the steady-state epochs. "best" is the fastest
steady epoch over all runs of a config (machine noise only ever slows down), "median" the median.
GFLOP/s use analytic training FLOPs (forward convs/dense x 2 per MAC x 3 for fwd+bwd) against
the fp32 torch.mm peak measured at the start of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as U  # noqa: E402

TORCH_WORKERS = str(U.PEERS_DIR / "torch_workers.py")
KERAS_PEER = str(U.PEERS_DIR / "keras_peer.py")


# ----------------------------------------------------------------------------- setup

def prepare_data(tmp: Path, *, n: int, seeds: list[int]) -> dict[int, str]:
    """One .npz per seed: the seeded subset of n rows (as the sweep draws it), the test set and
    the dataset's class count (n_classes; the row shape is the arrays')."""
    import numpy as np

    from datavsmath.trainables.damage import subset_indices
    from datavsmath.trainables.datasets.built_in import load_fashion_mnist

    data = load_fashion_mnist(download=False)
    paths = {}
    for seed in seeds:
        idx = subset_indices(len(data.y_train), sample_frac=n / len(data.y_train), seed=seed)
        path = tmp / f"subset_n{n}_s{seed}.npz"
        np.savez(path, x=data.x_train[idx], y=data.y_train[idx], x_test=data.x_test,
                 y_test=data.y_test, indices=idx, n_classes=data.n_classes)
        paths[seed] = str(path)
    return paths


def torchvision_root() -> str:
    from datavsmath.trainables.datasets.built_in import FASHION_MNIST_IDX, find_data_root

    return str(find_data_root(download=False, source=FASHION_MNIST_IDX))


# ----------------------------------------------------------------------------- jobs

def project_job(data: str, model: str, *, threads: int, epochs: int, seed: int,
                flags: tuple[str, ...] = (), env: dict[str, str] | None = None, label: str = "",
                timeout: float = 600) -> U.Job:
    argv = [U.project_python(), TORCH_WORKERS, "project", "--data", data, "--model", model,
            "--threads", str(threads), "--epochs", str(epochs), "--seed", str(seed), *flags]
    return U.Job(label or f"project {model} t{threads} s{seed}", argv, U.worker_env(threads, env),
                 timeout, threads)


def plain_job(data: str, model: str, *, threads: int, epochs: int, seed: int, root: str) -> U.Job:
    argv = [U.project_python(), TORCH_WORKERS, "plain", "--data", data, "--model", model,
            "--threads", str(threads), "--epochs", str(epochs), "--seed", str(seed), "--root", root]
    return U.Job(f"plain {model} t{threads} s{seed}", argv, U.worker_env(threads), 900, threads)


def keras_job(data: str, model: str, *, threads: int, epochs: int, seed: int,
              jit: str = "auto") -> U.Job | None:
    py = U.keras_python()
    if py is None:
        return None
    argv = [py, KERAS_PEER, "--data", data, "--model", model, "--threads", str(threads),
            "--epochs", str(epochs), "--seed", str(seed), "--jit", jit]
    return U.Job(f"keras {model} t{threads} s{seed}" + ("" if jit == "auto" else f" jit={jit}"),
                 argv, U.worker_env(threads), 900, threads)


def gemm_job(threads: int, size: int, seconds: float) -> U.Job:
    argv = [U.project_python(), TORCH_WORKERS, "gemm", "--threads", str(threads), "--size", str(size),
            "--seconds", str(seconds)]
    return U.Job(f"gemm t{threads}", argv, U.worker_env(threads), 300, threads)


# ----------------------------------------------------------------------------- stats

class Recorder:
    """Collects runs per config key; summarises steady-state throughput and accuracy."""

    def __init__(self, log, attempts: int = 2) -> None:
        self.attempts = attempts
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.groups: dict[str, list[dict[str, Any]]] = {}
        self.notes: list[str] = []
        self.log = log

    def run(self, key: str, jobs: list[U.Job | None], **kw) -> U.GroupResult | None:
        jobs = [j for j in jobs if j is not None]
        if not jobs:
            self.notes.append(f"{key}: skipped (peer not installed)")
            return None
        t0 = time.monotonic()
        g = U.run_group(jobs, log=self.log, attempts=kw.pop("attempts", self.attempts), **kw)
        for e in g.errors:
            self.notes.append(f"{key}: ERROR {e}")
            self.log(f"    ERROR {e}")
        self.runs.setdefault(key, []).extend(g.results)
        tp = U.steady_throughput(g.results) if len(g.results) == len(jobs) else {"samples_per_s": float("nan")}
        self.groups.setdefault(key, []).append({"total_samples_per_s": tp["samples_per_s"],
                                                "foreign_cores": g.foreign_cores,
                                                "quiet_before": g.quiet_before,
                                                "attempts": g.attempts})
        accs = ", ".join(f"{r['acc']:.4f}" for r in g.results if "acc" in r)
        self.log(f"  {key:<34} {tp['samples_per_s']:9.0f} samples/s   acc {accs}   "
                 f"(foreign load {g.foreign_cores:.2f} cores, {time.monotonic() - t0:.0f} s)")
        return g

    def epoch_rates(self, key: str) -> list[float]:
        out = []
        for r in self.runs.get(key, []):
            out += [r["n"] / (e[1] - e[0]) for e in r["epochs"][1:]]
        return out

    def cpu_rates(self, key: str) -> list[float]:
        """samples per CPU-second of the process (meaningful for 1-thread runs)."""
        out = []
        for r in self.runs.get(key, []):
            out += [r["n"] / e[2] for e in r["epochs"][1:] if len(e) > 2 and e[2] > 0]
        return out

    def summary(self, key: str) -> dict[str, Any]:
        rates = self.epoch_rates(key)
        cpu = self.cpu_rates(key)
        runs = self.runs.get(key, [])
        accs = [r["acc"] for r in runs if "acc" in r]
        groups = self.groups.get(key, [])
        totals = [g["total_samples_per_s"] for g in groups]
        return {
            "best": max(rates) if rates else float("nan"),
            "median": statistics.median(rates) if rates else float("nan"),
            "cpu_median": statistics.median(cpu) if cpu else float("nan"),
            "group_total": statistics.median(totals) if totals else float("nan"),
            "group_total_best": max(totals) if totals else float("nan"),
            "acc_mean": statistics.fmean(accs) if accs else float("nan"),
            "accs": accs,
            "n_epochs_timed": len(rates),
            "foreign_cores_max": max((g["foreign_cores"] for g in groups), default=float("nan")),
            "epoch1_s": [r["epochs"][0][1] - r["epochs"][0][0] for r in runs],
            "steady_epoch_s": [[e[1] - e[0] for e in r["epochs"][1:]] for r in runs],
        }


# ----------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6000 rows, 1 seed, fewer epochs, no extras")
    ap.add_argument("--no-extras", action="store_true", help="skip malloc/compile/oneDNN experiments")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile experiment")
    ap.add_argument("--rows", type=int, default=None, help="subset size (default 12000, --quick 6000)")
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    ap.add_argument("--attempts", type=int, default=2,
                    help="measure a config again (up to this many times) when other processes took "
                         "CPU it needed (more than the cores it leaves spare + 0.3); the least "
                         "disturbed attempt is kept (default 2)")
    args = ap.parse_args()

    quick = args.quick
    n = args.rows or (6000 if quick else 12000)
    cnn_epochs = 2 if quick else 3
    dnn_epochs = 4 if quick else 10
    cnn_seeds = [0] if quick else [0, 1, 2]
    dnn_seeds = [0] if quick else [0, 1, 2]
    extras = not (quick or args.no_extras)
    log = lambda s="": print(s, flush=True)  # noqa: E731

    info = U.machine_info()
    log(f"bench_trainers {'--quick ' if quick else ''}{info['date']}  {info['cpu']}  {info['cores']} cores  "
        f"loadavg {info['loadavg'][0]:.2f}")
    log(f"subset n={n} rows (sample_frac {n / 60000:g}), batch 128; cnn {cnn_epochs} epochs x seeds "
        f"{cnn_seeds}, dnn {dnn_epochs} epochs x seeds {dnn_seeds}; first epoch = warm-up, not timed")
    if U.keras_python() is None:
        log(f"NOTE: {U.BENCH_VENV} missing: run `bash benchmarks/setup_peers.sh` for the Keras peer")
    rec = Recorder(log, attempts=args.attempts)
    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench_trainers_"))
    seeds_needed = sorted(set(cnn_seeds) | set(dnn_seeds) | {0, 1})
    data = prepare_data(tmp, n=n, seeds=seeds_needed)
    extra_data = prepare_data(tmp, n=n // 2, seeds=[0])[0]  # extras: half the rows, seed 0
    root = torchvision_root()

    # --- GEMM peak (measured now and again at the end; the higher figure is the peak)
    gemm: dict[str, float] = {"t1": 0.0, "t2": 0.0, "2x1": 0.0}
    size = 2048

    def measure_gemm(when: str) -> None:
        log(f"\n[gemm] fp32 torch.mm {size}^2 peak ({when})")
        for t in (1, 2):
            g = U.run_group([gemm_job(t, size, 2.0 if quick else 3.0)], log=log, attempts=args.attempts)
            v = max((r["best_gflops"] for r in g.results), default=float("nan"))
            gemm[f"t{t}"] = max(gemm[f"t{t}"], v)
            log(f"  {t} thread(s): {v:.1f} GFLOP/s (foreign load {g.foreign_cores:.2f})")
        g = U.run_group([gemm_job(1, size, 2.0 if quick else 3.0) for _ in range(2)], log=log,
                        attempts=args.attempts)
        v = sum(r["median_gflops"] for r in g.results) if len(g.results) == 2 else float("nan")
        gemm["2x1"] = max(gemm["2x1"], v)
        log(f"  two concurrent 1-thread processes: {v:.1f} GFLOP/s total (foreign load {g.foreign_cores:.2f})")

    measure_gemm("start")

    # --- cnn, 1 thread
    log("\n[cnn, 1 thread]")
    for seed in cnn_seeds:
        rec.run("cnn/project/t1", [project_job(data[seed], "cnn", threads=1, epochs=cnn_epochs, seed=seed)])
        rec.run("cnn/plain/t1", [plain_job(data[seed], "cnn", threads=1, epochs=cnn_epochs, seed=seed, root=root)])
        rec.run("cnn/keras/t1", [keras_job(data[seed], "cnn", threads=1, epochs=cnn_epochs, seed=seed)])

    # --- cnn, whole node
    log("\n[cnn, whole node (2 cores)]")
    node_epochs = cnn_epochs + (0 if quick else 1)
    rec.run("cnn/project/2x1", [project_job(data[s], "cnn", threads=1, epochs=node_epochs, seed=s) for s in (0, 1)])
    rec.run("cnn/keras/1x2", [keras_job(data[0], "cnn", threads=2, epochs=node_epochs, seed=0)])
    rec.run("cnn/keras/2x1", [keras_job(data[s], "cnn", threads=1, epochs=node_epochs, seed=s) for s in (0, 1)])
    rec.run("cnn/project/1x2", [project_job(data[0], "cnn", threads=2, epochs=node_epochs, seed=0)])

    # --- dnn, 1 thread
    log("\n[dnn, 1 thread]")
    for seed in dnn_seeds:
        rec.run("dnn/project/t1", [project_job(data[seed], "dnn", threads=1, epochs=dnn_epochs, seed=seed)])
        rec.run("dnn/plain/t1", [plain_job(data[seed], "dnn", threads=1, epochs=dnn_epochs, seed=seed, root=root)])
        rec.run("dnn/keras/t1", [keras_job(data[seed], "dnn", threads=1, epochs=dnn_epochs, seed=seed)])
    rec.run("dnn/project/2x1", [project_job(data[s], "dnn", threads=1, epochs=dnn_epochs, seed=s) for s in (0, 1)])

    # --- extras: what the platform offers, on the project's trainer (1 thread)
    extra_rows: list[tuple[str, str, str]] = []  # (model, key, description)
    if extras:
        log(f"\n[extras: project trainer, 1 thread, seed 0, {n // 2} rows]")
        xe = {"cnn": cnn_epochs, "dnn": dnn_epochs}
        # "baseline" is the trainer as shipped: FastPaths() and the worker's glibc mallopt.
        variants = [
            ("baseline", (), {}),
            ("glibc malloc defaults (no mallopt)", ("--no-mallopt",), {}),
            ("jemalloc (LD_PRELOAD, defaults)", ("--no-mallopt",), {"LD_PRELOAD": U.MALLOCS["jemalloc"]}),
            ("tcmalloc (LD_PRELOAD)", ("--no-mallopt",), {"LD_PRELOAD": U.MALLOCS["tcmalloc"]}),
            ("dense layers on MKL (not oneDNN)", ("--blas-dense",), {}),
            ("NCHW (channels_last off)", ("--no-channels-last",), {}),
            ("optimizer foreach off", ("--no-foreach",), {}),
            ("oneDNN fp32_precision=bf16", ("--fp32-precision", "bf16"), {}),
            ("oneDNN off (mkldnn.enabled=False)", ("--mkldnn-off",), {}),
        ]
        if not args.no_compile:
            variants.append(("torch.compile", ("--compile",), {}))
        variants.append(("baseline", (), {}))
        for model in ("cnn", "dnn"):
            for name, flags, env in variants:
                if model == "dnn" and ("NCHW" in name or "oneDNN off" in name):
                    continue
                if env.get("LD_PRELOAD") and not os.path.exists(env["LD_PRELOAD"]):
                    rec.notes.append(f"extras {model} {name}: {env['LD_PRELOAD']} missing "
                                     f"(apt-get install -y libjemalloc2 libtcmalloc-minimal4)")
                    continue
                key = f"{model}/extra/{name}"
                rec.run(key, [project_job(extra_data, model, threads=1, epochs=xe[model], seed=0,
                                          flags=flags, env=env, label=f"project {model} {name}",
                                          timeout=900)])
                if (model, key) not in [(m, k) for m, k, _ in extra_rows]:
                    extra_rows.append((model, key, name))
        # XLA on CPU is ~5x slower for the cnn (measured 272 vs 1386 samples/s): try it on the dnn
        rec.run("dnn/extra/keras default", [keras_job(extra_data, "dnn", threads=1, epochs=dnn_epochs, seed=0)])
        rec.run("dnn/extra/keras jit_compile=True (XLA)",
                [keras_job(extra_data, "dnn", threads=1, epochs=dnn_epochs, seed=0, jit="on")])

    measure_gemm("end")

    # ------------------------------------------------------------------------- report
    S = {k: rec.summary(k) for k in rec.runs}
    nan = float("nan")
    get = lambda k, f="best": S.get(k, {}).get(f, nan)  # noqa: E731
    fl = {m: U.train_flops_per_sample(m) for m in ("cnn", "dnn")}
    log("\n" + "=" * 100)
    log(f"GEMM fp32 peak (torch.mm {size}^2): 1 thread {gemm['t1']:.1f}, 2 threads {gemm['t2']:.1f}, "
        f"2 x 1-thread processes {gemm['2x1']:.1f} GFLOP/s   (expected: ~93 / ~184)")
    log(f"training FLOPs per sample: cnn {fl['cnn'] / 1e6:.2f} MFLOP, dnn {fl['dnn'] / 1e6:.3f} MFLOP")

    def line(key: str, peak: float, field: str = "median") -> str:
        s = S.get(key)
        if not s:
            return f"  {key:<22} (not run)"
        model = key.split("/")[0]
        v = s[field]
        gfl = v * fl[model] / 1e9
        return (f"  {key:<16} median {s['median']:7.0f}  best {s['best']:7.0f}  per-CPU-s {s['cpu_median']:7.0f} "
                f"samples/s  {gfl:6.1f} GFLOP/s = {100 * gfl / peak:5.1f}% of peak  acc {s['acc_mean']:.4f} "
                f"(n={len(s['accs'])})  foreign<={s['foreign_cores_max']:.2f}")

    log("\nper-process throughput, 1 thread (steady epochs; GFLOP/s of the median, % of the 1-thread "
        "GEMM peak;\n per-CPU-s = samples per CPU-second of the process, robust to other load):")
    for k in ("cnn/project/t1", "cnn/plain/t1", "cnn/keras/t1", "dnn/project/t1", "dnn/plain/t1", "dnn/keras/t1"):
        log(line(k, gemm["t1"]))

    def node_line(key: str) -> str:
        s = S.get(key)
        if not s:
            return f"  {key:<22} (not run)"
        v = s["group_total"]
        gfl = v * fl[key.split('/')[0]] / 1e9
        return (f"  {key:<22} total {v:9.0f} samples/s   {gfl:6.1f} GFLOP/s = "
                f"{100 * gfl / gemm['t2']:5.1f}% of the 2-thread peak   foreign<= {s['foreign_cores_max']:.2f}")

    log("\nwhole node (2 cores): total samples/s over the window where all processes trained:")
    for k in ("cnn/project/2x1", "cnn/project/1x2", "cnn/keras/1x2", "cnn/keras/2x1", "cnn/plain/2x1",
              "dnn/project/2x1"):
        log(node_line(k))

    checks: list[tuple[str, float, float, str]] = []

    def check(name: str, a: float, b: float, target: float) -> None:
        r = a / b if b and b == b and a == a else nan
        ok = "PASS" if r == r and r >= target else ("FAIL" if r == r else "n/a")
        checks.append((name, r, target, ok))

    for field in ("median", "best", "cpu_median"):
        check(f"cnn 1t vs keras ({field})", get("cnn/project/t1", field), get("cnn/keras/t1", field), 0.95)
        check(f"cnn 1t vs plain ({field})", get("cnn/project/t1", field), get("cnn/plain/t1", field), 1.4)
        check(f"dnn 1t vs keras ({field})", get("dnn/project/t1", field), get("dnn/keras/t1", field), 1.0)
        check(f"dnn 1t vs plain ({field})", get("dnn/project/t1", field), get("dnn/plain/t1", field), 2.5)
    check("cnn node 2x1 vs keras 1x2", get("cnn/project/2x1", "group_total"), get("cnn/keras/1x2", "group_total"), 1.3)
    check("cnn node 2x1 vs keras 2x1", get("cnn/project/2x1", "group_total"), get("cnn/keras/2x1", "group_total"), 1.0)
    log("\ntargets (ratio = project / peer):")
    for name, r, target, ok in checks:
        log(f"  {name:<30} {r:6.2f}x   target >= {target:.2f}x   {ok}")

    log("\naccuracy on the 10k test set (same subset, same seeds), project vs plain reference:")
    acc_checks = []
    for model in ("cnn", "dnn"):
        a, b = S.get(f"{model}/project/t1"), S.get(f"{model}/plain/t1")
        if a and b:
            d = a["acc_mean"] - b["acc_mean"]
            ok = "PASS" if abs(d) <= 0.01 else "FAIL"
            acc_checks.append((model, a["acc_mean"], b["acc_mean"], d, ok))
            k = S.get(f"{model}/keras/t1", {}).get("acc_mean", nan)
            log(f"  {model}: project {a['acc_mean']:.4f} {[round(x, 4) for x in a['accs']]}  plain "
                f"{b['acc_mean']:.4f} {[round(x, 4) for x in b['accs']]}  diff {d:+.4f} (target |d| <= 0.01) {ok}"
                f"   [keras {k:.4f}]")

    def faults(key: str) -> int:
        vals = [f for r in rec.runs.get(key, []) for f in r.get("minor_faults_per_epoch", [])]
        return int(statistics.median(vals)) if vals else -1

    if extra_rows:
        log("\nextras (project trainer, 1 thread, seed 0; ratios vs the two baseline runs, median epochs;"
            " per-CPU-s ratio in brackets):")
        for model in ("cnn", "dnn"):
            base = S.get(f"{model}/extra/baseline")
            if not base:
                continue
            base_e1 = statistics.fmean(base["epoch1_s"])
            log(f"  {model} baseline page faults/epoch {faults(f'{model}/extra/baseline')}")
            log(f"  {model} baseline: median {base['median']:.0f}, per-CPU-s {base['cpu_median']:.0f} samples/s, "
                f"steady epochs {[[round(x, 2) for x in e] for e in base['steady_epoch_s']]} s")
            for m, key, name in extra_rows:
                if m != model or name == "baseline" or key not in S:
                    continue
                v = S[key]
                msg = (f"  {model} {name:<34} median {v['median']:7.0f} samples/s  "
                       f"{v['median'] / base['median']:5.2f}x "
                       f"[{v['cpu_median'] / base['cpu_median']:4.2f}x]  acc {v['acc_mean']:.4f}  "
                       f"page faults/epoch {faults(key)}")
                if "compile" in name:
                    msg += (f"  first epoch {statistics.fmean(v['epoch1_s']):.1f} s vs {base_e1:.1f} s "
                            f"(compile ~{statistics.fmean(v['epoch1_s']) - base_e1:.0f} s)")
                log(msg)
        ks, kd = S.get("dnn/extra/keras jit_compile=True (XLA)"), S.get("dnn/extra/keras default")
        if ks and kd:
            log(f"  keras dnn jit_compile=True (XLA): median {ks['median']:.0f} samples/s = "
                f"{ks['median'] / kd['median']:.2f}x Keras default ({kd['median']:.0f}); acc {ks['acc_mean']:.4f}")
    for note in rec.notes:
        log("NOTE " + note)
    total = time.monotonic() - t_start
    log(f"\ntotal {total / 60:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "info": info, "quick": quick, "n": n, "gemm": gemm, "flops": fl, "summary": S,
            "checks": checks, "accuracy": acc_checks, "notes": rec.notes, "total_s": total,
            "runs": rec.runs}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
