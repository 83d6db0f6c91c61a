"""GPU check of the project's net trainer, and an estimate of `seed_all` on one GPU (torch only).

    python benchmarks/gpu_check.py                         # on CUDA; <= ~5 min of device time
    python benchmarks/gpu_check.py --data-dir DIR          # the four Fashion-MNIST IDX files (.gz or raw)
    python benchmarks/gpu_check.py --device cpu --quick    # CPU smoke (tests/e2e/test_gpu_check.py), ~20-40 s

Needs torch and numpy only (plus the project's ray-free modules: datavsmath.trainables.datasets/damage/models/
device/checks, datavsmath.sweeps.cost; pyyaml and scikit-learn are used when present). Ray, xgboost, pandas,
torchvision and pyarrow may be missing: the GPU machine has none of them.

What it measures, on the chosen device, with `datavsmath.trainables.models.build_model(...).fit` (the same
call as trainables/trainable.py):
1. samples/s of the seed cnn and dnn for K = 1, 4, 8, 16 concurrent processes sharing the device
   (multiprocessing spawn; each process 1 CPU thread, and on CUDA
   `torch.cuda.set_per_process_memory_fraction(1/K)`, what `gpu: 1/K` packing does in a sweep).
   Each process trains a fixed amount (`--rows` rows x `--epochs` epochs, validation_split 0)
   after a warm-up fit; all are released together at a barrier; total = all samples / (last end
   - first start). The baseline is K = 1 of the same run: "slowdown" = per-process rate at K
   vs K = 1, "scaling" = total at K vs K = 1.
2. one full-data cnn trial as the sweep runs it (the talk's settings, trainables/models/common.py:
   12 epochs, batch 128, Adadelta, validation_split 0.2 = 48,000 rows fit): subset, fit, predict
   the 10,000 test images, metrics; fit and trial seconds, accuracy against the talk's 0.92
   (tests/e2e/test_full_data.py: +-0.015).
3. accuracy on the device vs the CPU trainer, same rows and seeds (cnn 3 epochs, dnn 10 epochs,
   12,000 rows, seeds 0-2): within seed noise when |mean difference| <= max(0.01, 2 x the
   CPU runs' standard deviation over seeds).
4. the estimate: every trial of `seed_all` (498; datavsmath.sweeps.spec when importable, else its YAML read
   here) scheduled as Ray would on this machine (greedy in the runner's order,
   datavsmath.sweeps.cost.longest_first; 1 CPU per trial; net trials also take 1/K of the GPU); a net trial
   takes fixed + (fit samples x epochs / rate(K=1) + validation and test rows x eval s/row) x
   slowdown(K); rf and xgb run on the CPU cores (xgboost is not installed on the GPU machine:
   `--resources xgb:cpu=1,gpu=0`) at sweeps/cost.py's seconds x a CPU factor (the development
   machine's 1-thread dnn rate, 85,226 samples/s, over this machine's, measured here); plus
   Tune's per-trial overhead (0.056 s, bench_overhead) and the sweep's fixed cost (12.5 s).
   Printed for every K; the best K is the estimate (goal <= 15 min).

Figures go to `--out` (default benchmarks/results/<date>_gpu_check.json); every key is written
in every mode (a stage skipped for the time budget says so under "skipped").
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import heapq
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from datavsmath.trainables.damage import make_training_set, subset_size  # noqa: E402
from datavsmath.trainables.datasets.built_in import (  # noqa: E402
    FASHION_MNIST,
    FASHION_MNIST_IDX,
    IDX_MD5,
    find_data_root,  # noqa: E402
)
from datavsmath.trainables.datasets.common import ChecksumError, DataNotFoundError, Dataset  # noqa: E402
from datavsmath.trainables.device import gpu_memory_fraction, pick_device  # noqa: E402
from datavsmath.trainables.models import build_model, default_params  # noqa: E402

sys.path.insert(0, str(BENCH_DIR))
import _util as U  # noqa: E402

GOAL_MIN = 15.0
TALK_CNN_FULL_ACC, TALK_TOLERANCE = 0.92, 0.015  # tests/e2e/test_full_data.py
DEV_DNN_1T_SAMPLES_PER_S = 85_226.0  # bench_trainers 2026-11-29, 12,000 rows, validation_split 0
TUNE_OVERHEAD_S = 0.056               # bench_overhead 2026-11-29, reuse_actors=True
SWEEP_FIXED_S = 12.5                  # the sweep command's fixed cost (benchmarks/README.md)
NET_MODELS = ("cnn", "dnn")
FULL = {"procs": (1, 4, 8, 16), "rows": 12_000, "epochs": {"cnn": 3, "dnn": 10}, "warmup_rows": 2048,
        "trial_frac": 1.0, "trial_epochs": None, "acc_rows": 12_000, "acc_seeds": (0, 1, 2),
        "acc_epochs": {"cnn": 3, "dnn": 10}, "acc_test": None}
QUICK = {"procs": (1, 2), "rows": 800, "epochs": {"cnn": 1, "dnn": 1}, "warmup_rows": 128,
         "trial_frac": 0.02, "trial_epochs": 1, "acc_rows": 800, "acc_seeds": (0, 1),
         "acc_epochs": {"cnn": 1, "dnn": 1}, "acc_test": 1000, "trial_test": 2000}


def log(msg: str = "") -> None:
    print(msg, flush=True)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- data

def _parse_idx(raw: bytes) -> np.ndarray:
    """An IDX file's array (uint8 data; magic 0x0000 08 NDIM, then NDIM big-endian sizes)."""
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ChecksumError("not a uint8 IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_data(data_dir: str | None) -> Dataset:
    """Fashion-MNIST as the project finds it (datavsmath.trainables.datasets.built_in.find_data_root: --data-dir,
    $DATAVSMATH_DATA, the user cache, Debian's package; never downloads), read by torchvision
    when installed, else parsed here from the verified raw IDX files."""
    root = find_data_root(data_dir, download=False, source=FASHION_MNIST_IDX)
    try:
        import torchvision  # noqa: F401

        from datavsmath.trainables.datasets.built_in import read_fashion_mnist
        return read_fashion_mnist(root)
    except ImportError:
        pass
    raw_dir = Path(root) / "FashionMNIST" / "raw"
    arrays = {}
    for name in IDX_MD5:
        path = raw_dir / name
        data = path.read_bytes() if path.is_file() else gzip.decompress((raw_dir / f"{name}.gz").read_bytes())
        arrays[name] = _parse_idx(data)
    return Dataset(x_train=arrays["train-images-idx3-ubyte"].copy(),
                   y_train=arrays["train-labels-idx1-ubyte"].astype(np.int64),
                   x_test=arrays["t10k-images-idx3-ubyte"].copy(),
                   y_test=arrays["t10k-labels-idx1-ubyte"].astype(np.int64),
                   info=FASHION_MNIST, source=str(root))


def scores(y: np.ndarray, proba: np.ndarray, n_classes: int) -> dict[str, Any]:
    """acc always; auc (macro one-vs-rest, datavsmath.trainables.metrics) only when scikit-learn imports."""
    acc = float(np.mean(proba.argmax(axis=1) == y))
    try:
        from datavsmath.trainables.metrics import macro_ovr_auc
        auc: float | None = macro_ovr_auc(y, proba)
    except ImportError:
        auc = None
    return {"acc": acc, "auc": auc}


# ----------------------------------------------------------------------------- workers

def _worker(rank: int, k: int, device: str, npz: str, plan: dict[str, Any], barrier: Any, queue: Any) -> None:
    """One of k processes sharing the device: per model, warm-up fit, barrier, timed fit."""
    try:
        from datavsmath.trainables.allocator import keep_freed_memory

        keep_freed_memory()  # as every sweep worker does at its start
        torch.set_num_threads(1)
        if device.startswith("cuda"):
            torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction(1.0 / k))
        d = np.load(npz)
        x, y, n_classes = d["x"], d["y"], int(d["n_classes"])
        out = {"rank": rank, "models": {}}
        for model in NET_MODELS:
            epochs = plan["epochs"][model]
            warm = build_model(model, n_classes=n_classes, input_shape=tuple(x.shape[1:]), device=device,
                               seed=rank, params={"epochs": 1, "validation_split": 0.0})
            warm.fit(x[:plan["warmup_rows"]], y[:plan["warmup_rows"]])
            sync(device)
            net = build_model(model, n_classes=n_classes, input_shape=tuple(x.shape[1:]), device=device,
                              seed=rank, params={"epochs": epochs, "validation_split": 0.0})
            barrier.wait(timeout=600)
            t0, c0 = time.monotonic(), time.process_time()
            net.fit(x, y)
            sync(device)
            t1 = time.monotonic()
            out["models"][model] = {"n": len(x), "epochs": epochs, "t0": t0, "t1": t1,
                                    "cpu_s": time.process_time() - c0,
                                    "max_mem_mb": (torch.cuda.max_memory_allocated() / 2**20
                                                   if device.startswith("cuda") else None)}
        queue.put(out)
    except BaseException:  # reported to the parent; the barrier breaks for the others
        queue.put({"rank": rank, "error": traceback.format_exc()[-3000:]})
        try:
            barrier.abort()
        except Exception:
            pass


def throughput(k: int, *, device: str, npz: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Total and per-process samples/s of k concurrent processes, per model."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(k), ctx.Queue()
    t_start = time.monotonic()
    procs = [ctx.Process(target=_worker, args=(r, k, device, npz, plan, barrier, queue), daemon=True)
             for r in range(k)]
    for p in procs:
        p.start()
    results, errors = [], []
    for _ in range(k):
        try:
            r = queue.get(timeout=900)
        except Exception:
            errors.append("timed out waiting for a worker")
            break
        (errors if "error" in r else results).append(r.get("error", r))
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    out: dict[str, Any] = {"k": k, "wall_s": time.monotonic() - t_start, "errors": errors}
    for model in NET_MODELS:
        runs = [r["models"][model] for r in results if model in r.get("models", {})]
        if len(runs) != k:
            out[model] = {"samples_per_s": float("nan"), "per_process": float("nan")}
            continue
        total = sum(r["n"] * r["epochs"] for r in runs)
        window = max(r["t1"] for r in runs) - min(r["t0"] for r in runs)
        per = [r["n"] * r["epochs"] / (r["t1"] - r["t0"]) for r in runs]
        out[model] = {"samples_per_s": total / window, "per_process": statistics.fmean(per),
                      "per_process_min": min(per), "window_s": window,
                      "samples_per_process": runs[0]["n"] * runs[0]["epochs"],
                      "cpu_s_per_process": statistics.fmean(r["cpu_s"] for r in runs),
                      "max_mem_mb": max((r["max_mem_mb"] or 0.0) for r in runs) or None}
    return out


# ----------------------------------------------------------------------------- one trial

def one_trial(data: Dataset, model: str, *, device: str, threads: int, sample_frac: float, seed: int,
              params: dict[str, Any] | None = None, n_test: int | None = None) -> dict[str, Any]:
    """One trial as trainables/trainable.py runs it, minus Ray: subset, build, fit, predict, score."""
    t0 = time.perf_counter()
    subset = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=sample_frac,
                               damage_frac=0.0, damage_mode="none", seed=seed)
    m = build_model(model, n_classes=data.n_classes, input_shape=data.input_shape, params=params or None,
                    threads=threads, device=device, seed=seed)
    sync(device)
    t_fit = time.perf_counter()
    info = m.fit(data.x_train[subset.indices], subset.labels)
    sync(device)
    t_pred = time.perf_counter()
    x_test, y_test = data.x_test[:n_test], data.y_test[:n_test]
    proba = m.predict_proba(x_test)
    sync(device)
    t_score = time.perf_counter()
    s = scores(y_test, proba, data.n_classes)
    t1 = time.perf_counter()
    return {"model": model, "device": device, "threads": threads, "sample_frac": sample_frac, "seed": seed,
            "epochs": m.params["epochs"], "n_fit": int(info["n_fit"]), "n_val": int(info["n_val"]),
            "n_test": len(y_test), "setup_s": t_fit - t0, "fit_s": t_pred - t_fit, "predict_s": t_score - t_pred,
            "score_s": t1 - t_score, "trial_s": t1 - t0, "val_acc": float(info["val_acc"]), **s}


def cpu_dnn_rate(data: Dataset, rows: int) -> float:
    """1-thread CPU dnn samples/s, bench_trainers' setting (validation_split 0, batch 128), the
    median of 3 timed epochs after a warm-up epoch."""
    x, y = data.x_train[:rows], data.y_train[:rows]
    m = build_model("dnn", n_classes=data.n_classes, input_shape=data.input_shape, threads=1, device="cpu",
                    params={"epochs": 4, "validation_split": 0.0})
    marks = [time.perf_counter()]
    threads = torch.get_num_threads()
    try:
        m.fit(x, y, on_epoch=lambda metrics, state: marks.append(time.perf_counter()))
    finally:
        torch.set_num_threads(threads)
    epochs = [b - a for a, b in zip(marks[1:], marks[2:])]  # epoch 1 (incl. setup) is the warm-up
    return len(x) / statistics.median(epochs)


# ----------------------------------------------------------------------------- estimate

def seed_all_trials() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], str]:
    """seed_all's trials and overrides: datavsmath.sweeps.spec when it imports (it needs pyyaml and
    pyarrow), else the shipped YAML files expanded here (grid x seeds, duplicates once)."""
    try:
        from datavsmath.sweeps.spec import expand_trials
        from datavsmath.sweeps.validation import load_spec

        spec = load_spec("seed_all")
        return expand_trials(spec), spec.overrides, "datavsmath.sweeps.spec"
    except ImportError:
        pass
    specs_dir = PROJECT_ROOT / "sweeps" / "specs"

    def read(name: str) -> dict[str, Any]:
        text = (specs_dir / f"{name}.yaml").read_text()
        try:
            import yaml
            return yaml.safe_load(text)
        except ImportError:
            return _flow_yaml(text)

    def grids(data: dict[str, Any]) -> list[dict[str, Any]]:
        out = [g for inc in data.get("include", []) for g in grids(read(inc))]
        out += list(data.get("grids", []))
        if "model" in data:
            out.append({a: data[a] for a in ("model", "sample_frac", "damage_frac", "damage_mode")})
        return out

    top = read("seed_all")
    seen, trials = set(), []
    for g in grids(top):
        for seed in top.get("seeds", [0]):
            for model in g["model"]:
                for f in g["sample_frac"]:
                    for d in g.get("damage_frac", [0.0]):
                        for mode in g.get("damage_mode", ["none"]):
                            key = (model, float(f), float(d), mode, int(seed))
                            if key not in seen:
                                seen.add(key)
                                trials.append(dict(zip(("model", "sample_frac", "damage_frac", "damage_mode",
                                                        "seed"), key)))
    return trials, dict(top.get("overrides") or {}), "YAML read by gpu_check"


def _flow_yaml(text: str) -> dict[str, Any]:
    """The shipped specs' subset of YAML (key: scalar or [flow, list]), for a machine without pyyaml."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line or line.startswith(" ") or ":" not in line:
            continue
        key, value = (s.strip() for s in line.split(":", 1))
        def atom(v: str) -> Any:
            v = v.strip().strip('"')
            try:
                return int(v)
            except ValueError:
                try:
                    return float(v)
                except ValueError:
                    return v
        out[key] = [atom(v) for v in value[1:-1].split(",") if v.strip()] if value.startswith("[") else atom(value)
    return out


def simulate(jobs: list[tuple[float, bool]], *, cpus: int, gpu_slots: int) -> float:
    """Makespan of `jobs` ((seconds, needs_gpu_slot), in submission order) on `cpus` CPUs and
    `gpu_slots` GPU slots, 1 CPU each: whenever resources free up, every pending job that fits
    starts, earliest submitted first (as Tune starts pending trials)."""
    pending = list(jobs)
    running: list[tuple[float, bool]] = []
    now, free_cpu, free_gpu = 0.0, cpus, gpu_slots
    while pending or running:
        rest = []
        for sec, gpu in pending:
            if free_cpu >= 1 and (not gpu or free_gpu >= 1):
                free_cpu -= 1
                free_gpu -= gpu
                heapq.heappush(running, (now + sec, gpu))
            else:
                rest.append((sec, gpu))
        pending = rest
        if not running:
            raise RuntimeError("a job fits nowhere")
        now, gpu = heapq.heappop(running)
        free_cpu += 1
        free_gpu += gpu
    return now


def estimate(tp: dict[int, dict[str, Any]], *, fixed: dict[str, float], eval_s_per_row: dict[str, float],
             cpu_factor: float, cpus: int) -> dict[str, Any]:
    """seed_all's wall time on this machine for every measured K (see the module doc)."""
    from datavsmath.sweeps import cost

    trials, overrides, source = seed_all_trials()
    ordered = cost.longest_first(trials, overrides=overrides, n_train=FASHION_MNIST.n_train)
    rate1 = {m: tp[1][m]["samples_per_s"] for m in NET_MODELS} if 1 in tp else {}
    per_k: dict[str, Any] = {}
    cpu_only = [t for t in ordered if t["model"] not in NET_MODELS]
    tree_cpu_s = sum(cost.estimate_seconds(t, n_train=FASHION_MNIST.n_train, overrides=overrides.get(t["model"]))
                     for t in cpu_only) * cpu_factor
    for k in sorted(tp):
        if k > cpus or not all(rate1.get(m, 0) > 0 and tp[k][m]["per_process"] > 0 for m in NET_MODELS):
            continue
        slowdown = {m: rate1[m] / tp[k][m]["per_process"] for m in NET_MODELS}
        jobs, gpu_s, longest = [], 0.0, 0.0
        for t in ordered:
            m = t["model"]
            if m in NET_MODELS:
                p = {**default_params(m), **(overrides.get(m) or {})}
                n = subset_size(FASHION_MNIST.n_train, sample_frac=t["sample_frac"])
                n_fit = int(n * (1 - p["validation_split"]))
                device_s = (n_fit * p["epochs"] / rate1[m]
                            + ((n - n_fit) * p["epochs"] + FASHION_MNIST.n_test) * eval_s_per_row[m])
                sec = fixed[m] + device_s * slowdown[m] + TUNE_OVERHEAD_S
                jobs.append((sec, True))
                gpu_s += sec
                longest = max(longest, sec)
            else:
                sec = cost.estimate_seconds(t, n_train=FASHION_MNIST.n_train,
                                            overrides=overrides.get(m)) * cpu_factor + TUNE_OVERHEAD_S
                jobs.append((sec, False))
        makespan = simulate(jobs, cpus=cpus, gpu_slots=k)
        wall = makespan + SWEEP_FIXED_S
        per_k[str(k)] = {"gpu_share": 1.0 / k, "slowdown": slowdown, "net_trial_s_sum": gpu_s,
                         "longest_net_trial_s": longest, "makespan_s": makespan, "wall_s": wall,
                         "wall_min": wall / 60}
    best = min(per_k, key=lambda key: per_k[key]["wall_s"]) if per_k else None
    best_wall = per_k[best]["wall_s"] if best else float("nan")
    return {"spec": "seed_all", "trials": len(ordered), "trials_source": source,
            "net_trials": len(ordered) - len(cpu_only), "tree_trials": len(cpu_only),
            "tree_cpu_s_sum": tree_cpu_s, "tree_lower_bound_s": tree_cpu_s / max(1, cpus - (int(best) if best else 0)),
            "cpus": cpus, "cpu_factor": cpu_factor, "fixed_s": fixed, "eval_s_per_row": eval_s_per_row,
            "per_k": per_k, "best_k": int(best) if best else None, "best_wall_s": best_wall,
            "best_wall_min": best_wall / 60, "goal_min": GOAL_MIN, "meets_goal": bool(best_wall / 60 <= GOAL_MIN),
            "command": (f"datavsmath sweep seed_all --gpu-share {1.0 / int(best):g} --resources xgb:cpu=1,gpu=0"
                        if best else None),
            "assumptions": ["net trials on the GPU at the measured slowdown of K concurrent processes",
                            "rf and xgb on CPU cores at sweeps/cost.py seconds x cpu_factor (xgboost absent here)",
                            f"Tune overhead {TUNE_OVERHEAD_S} s per trial, sweep fixed cost {SWEEP_FIXED_S} s"]}


# ----------------------------------------------------------------------------- main

def choose_device(requested: str) -> str:
    cuda = torch.cuda.is_available()
    if requested == "auto":
        device, warning = pick_device([str(i) for i in range(torch.cuda.device_count())], cuda_available=cuda)
        if warning:
            log(f"NOTE: {warning}")
        return device
    if requested.startswith("cuda") and not cuda:
        raise SystemExit(f"gpu_check: --device {requested} but torch.cuda.is_available() is False "
                         f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    return requested


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, cpu or auto")
    ap.add_argument("--quick", action="store_true", help="tiny subset, 1 and 2 processes, 1 epoch (CPU smoke)")
    ap.add_argument("--data-dir", default=None, help="folder with the four Fashion-MNIST IDX files (.gz or raw)")
    ap.add_argument("--out", default=None, help="JSON file (default benchmarks/results/<date>_gpu_check.json)")
    ap.add_argument("--procs", default=None, help="concurrent process counts (default 1,4,8,16; --quick 1,2)")
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="skip the remaining stages once this many seconds have passed (default 420)")
    args = ap.parse_args()
    t_start = time.monotonic()
    plan = dict(QUICK if args.quick else FULL)
    if args.procs:
        plan["procs"] = tuple(int(v) for v in args.procs.split(",") if v.strip())
    if 1 not in plan["procs"]:
        plan["procs"] = (1, *plan["procs"])  # the baseline of every ratio
    out_path = Path(args.out or BENCH_DIR / "results" / f"{_dt.date.today():%Y-%m-%d}_gpu_check.json")
    device = choose_device(args.device)
    cores = os.cpu_count() or 1
    info: dict[str, Any] = {
        "date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "device": device, "quick": args.quick,
        "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "cpu_cores": cores, "device_name": (torch.cuda.get_device_name(torch.device(device))
                                            if device.startswith("cuda") else platform.processor() or "cpu"),
        "plan": {k: (list(v) if isinstance(v, tuple) else v) for k, v in plan.items()}}
    log(f"gpu_check {info['date']}  device {device} ({info['device_name']})  torch {info['torch']}  "
        f"{cores} CPU cores{'  --quick' if args.quick else ''}")
    try:
        data = load_data(args.data_dir)
    except (DataNotFoundError, ChecksumError) as exc:
        print(f"gpu_check: Fashion-MNIST not found or damaged:\n{exc}", file=sys.stderr)
        return 2
    log(f"data: {data.source} (read in {time.monotonic() - t_start:.1f} s)")
    report: dict[str, Any] = {"info": info, "data": {"source": data.source}, "throughput": {}, "full_trial": {},
                              "accuracy_check": {}, "estimate": {}, "skipped": [], "elapsed_s": None}

    stage_s: dict[str, float] = {}
    report["stage_s"] = stage_s

    def stage_done(stage: str, since: float) -> float:
        stage_s[stage] = time.monotonic() - since
        return time.monotonic()

    def over_budget(stage: str) -> bool:
        if time.monotonic() - t_start > args.budget_s:
            report["skipped"].append(stage)
            log(f"  (time budget {args.budget_s:.0f} s spent: {stage} skipped)")
            return True
        return False

    # 1. concurrent processes
    tp: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        npz = str(Path(tmp) / "subset.npz")
        idx = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=plan["rows"] / data.n_train,
                                damage_frac=0.0, damage_mode="none", seed=0)
        np.savez(npz, x=data.x_train[idx.indices], y=idx.labels, n_classes=data.n_classes)
        log(f"\n1. samples/s, K processes sharing {device} ({plan['rows']} rows x cnn {plan['epochs']['cnn']} / "
            f"dnn {plan['epochs']['dnn']} epochs each, 1 thread, released together)")
        for k in plan["procs"]:
            if over_budget(f"throughput K={k}"):
                continue
            r = throughput(k, device=device, npz=npz, plan=plan)
            for e in r["errors"]:
                log(f"  K={k}: ERROR {e}")
            tp[k] = r
            base = tp.get(1)
            line = "  ".join(
                f"{m} {r[m]['samples_per_s']:9.0f}/s total, {r[m]['per_process']:8.0f}/s per process"
                + (f" (scaling {r[m]['samples_per_s'] / base[m]['samples_per_s']:.2f}x, slowdown "
                   f"{base[m]['samples_per_s'] / r[m]['per_process']:.2f}x)" if base and k > 1 else "")
                for m in NET_MODELS)
            log(f"  K={k:>2}: {line}   ({r['wall_s']:.0f} s with start-up)")
    report["throughput"] = {str(k): v for k, v in tp.items()}
    t_stage = stage_done("throughput", t_start)

    # 2. one full-data cnn trial
    dev_threads = 1 if device.startswith("cuda") else cores  # a GPU trial's 1 CPU; on CPU the whole machine
    torch.set_num_threads(dev_threads)
    trial_params = {"epochs": plan["trial_epochs"]} if plan["trial_epochs"] else None
    fixed = {m: float("nan") for m in NET_MODELS}
    eval_s_per_row = {m: float("nan") for m in NET_MODELS}
    if not over_budget("full_trial"):
        log(f"\n2. one cnn trial, sample_frac {plan['trial_frac']}, "
            f"{(trial_params or {}).get('epochs', default_params('cnn')['epochs'])} epochs, on {device}")
        ft = one_trial(data, "cnn", device=device, threads=dev_threads, sample_frac=plan["trial_frac"],
                       seed=0, params=trial_params, n_test=plan["trial_test"])
        ft["talk_acc"], ft["talk_tolerance"] = TALK_CNN_FULL_ACC, TALK_TOLERANCE
        ft["matches_talk"] = bool(abs(ft["acc"] - TALK_CNN_FULL_ACC) <= TALK_TOLERANCE) if not args.quick else None
        report["full_trial"] = ft
        auc = f"{ft['auc']:.4f}" if ft["auc"] is not None else "n/a"
        log(f"  fit {ft['fit_s']:.1f} s, whole trial {ft['trial_s']:.1f} s ({ft['n_fit']} rows fit); acc "
            f"{ft['acc']:.4f}, auc {auc} (talk {TALK_CNN_FULL_ACC} +- {TALK_TOLERANCE})")
    # per-trial fixed cost and eval speed on the device: a tiny trial of each net (1 epoch)
    for m in NET_MODELS:
        if over_budget(f"fixed cost {m}"):
            continue
        one_trial(data, m, device=device, threads=dev_threads, sample_frac=0.002, seed=0,
                  params={"epochs": 1}, n_test=256)  # warm-up (first use of the net's kernels here)
        small = one_trial(data, m, device=device, threads=dev_threads, sample_frac=0.01, seed=1,
                          params={"epochs": 1}, n_test=plan["trial_test"])
        eval_s_per_row[m] = small["predict_s"] / small["n_test"]
        if 1 in tp:  # what the fit took beyond its samples at the measured rate, plus setup and scoring
            fit_rest = small["fit_s"] - small["n_fit"] / tp[1][m]["samples_per_s"] - small["n_val"] * eval_s_per_row[m]
            fixed[m] = small["setup_s"] + small["score_s"] + max(0.0, fit_rest)
        log(f"  {m}: per-trial fixed {fixed[m]:.2f} s, eval {eval_s_per_row[m] * 1e6:.1f} us/row")
    report["fixed_s"], report["eval_s_per_row"] = fixed, eval_s_per_row
    t_stage = stage_done("full_trial_and_fixed", t_stage)

    # 3. device vs CPU trainer, same rows and seeds
    if not over_budget("accuracy_check"):
        frac = plan["acc_rows"] / data.n_train
        log(f"\n3. accuracy on {device} vs the CPU trainer ({plan['acc_rows']} rows, seeds {list(plan['acc_seeds'])}, "
            f"cnn {plan['acc_epochs']['cnn']} / dnn {plan['acc_epochs']['dnn']} epochs)")
        check: dict[str, Any] = {}
        for m in NET_MODELS:
            runs: dict[str, list[float]] = {"device": [], "cpu": []}
            for seed in plan["acc_seeds"]:
                for side, dev, th in (("device", device, dev_threads), ("cpu", "cpu", cores)):
                    r = one_trial(data, m, device=dev, threads=th, sample_frac=frac, seed=seed,
                                  params={"epochs": plan["acc_epochs"][m]}, n_test=plan["acc_test"])
                    runs[side].append(r["acc"])
            diff = statistics.fmean(runs["device"]) - statistics.fmean(runs["cpu"])
            noise = max(0.01, 2 * statistics.stdev(runs["cpu"])) if len(runs["cpu"]) > 1 else 0.01
            check[m] = {"device_acc": runs["device"], "cpu_acc": runs["cpu"], "mean_diff": diff,
                        "noise": noise, "within_noise": bool(abs(diff) <= noise)}
            log(f"  {m}: {device} {', '.join(f'{a:.4f}' for a in runs['device'])}; cpu "
                f"{', '.join(f'{a:.4f}' for a in runs['cpu'])}; mean diff {diff:+.4f} (noise {noise:.4f}) "
                f"{'OK' if check[m]['within_noise'] else 'DIFFERENT'}")
        report["accuracy_check"] = check
    t_stage = stage_done("accuracy_check", t_stage)

    # 4. the estimate
    rate = cpu_dnn_rate(data, min(plan["rows"], 12_000))
    cpu_factor = DEV_DNN_1T_SAMPLES_PER_S / rate
    report["cpu_dnn_1thread_samples_per_s"] = rate
    # The net trials use 1 CPU each; the trees get the rest. On this machine's cores:
    est = estimate(tp, fixed=fixed, eval_s_per_row=eval_s_per_row, cpu_factor=cpu_factor, cpus=cores)
    est_unscaled = estimate(tp, fixed=fixed, eval_s_per_row=eval_s_per_row, cpu_factor=1.0, cpus=cores)
    est["best_wall_min_cpu_factor_1"] = est_unscaled["best_wall_min"]
    report["estimate"] = est
    log(f"\n4. estimate of seed_all ({est['trials']} trials: {est['net_trials']} nets on {device}, "
        f"{est['tree_trials']} rf/xgb on {cores} CPU cores; CPU factor {cpu_factor:.2f} from 1-thread dnn "
        f"{rate:.0f} samples/s here vs {DEV_DNN_1T_SAMPLES_PER_S:.0f} on the development machine)")
    for k, e in est["per_k"].items():
        log(f"  K={k:>2} (gpu {e['gpu_share']:g}): nets {e['net_trial_s_sum']:.0f} trial-s, longest "
            f"{e['longest_net_trial_s']:.0f} s; makespan {e['makespan_s']:.0f} s -> {e['wall_min']:.1f} min")
    if est["best_k"]:
        log(f"  best K={est['best_k']}: {est['best_wall_min']:.1f} min (CPU factor 1: "
            f"{est['best_wall_min_cpu_factor_1']:.1f} min); goal <= {GOAL_MIN:.0f} min: "
            f"{'MET' if est['meets_goal'] else 'NOT MET'}; tree trials alone need >= "
            f"{est['tree_lower_bound_s'] / 60:.1f} min of the {cores} cores")
        log(f"  command: {est['command']}")
    stage_done("estimate", t_stage)
    report["elapsed_s"] = time.monotonic() - t_start
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(U.plain_json(report), indent=1, allow_nan=False))
    log(f"\nfigures: {out_path} ({report['elapsed_s']:.0f} s in all: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in stage_s.items()) + ")")
    return 1 if any(r["errors"] for r in tp.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
