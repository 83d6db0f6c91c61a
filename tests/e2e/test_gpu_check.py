"""benchmarks/gpu_check.py runs on CPU (`--device cpu --quick`) and writes every figure it promises.

The CUDA path is the same code with another device string; this keeps it runnable where no GPU
is (about 30 s on a quiet 2-core machine; the 300 s time-out leaves room for a busy one).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
CHANCE = 0.1  # Fashion-MNIST's 10 classes


@pytest.mark.slow  # a GPU check's CPU rehearsal; the device run is the real one
def test_gpu_check_quick_on_cpu_writes_its_figures(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    for key in ("info", "data", "throughput", "full_trial", "accuracy_check", "fixed_s", "eval_s_per_row",
                "cpu_dnn_1thread_samples_per_s", "estimate", "skipped", "elapsed_s"):
        assert key in report, key
    assert report["info"]["device"] == "cpu" and report["info"]["quick"] is True
    assert report["skipped"] == []

    # throughput for 1 and 2 processes, both nets, with the ratios' baseline (K = 1)
    assert set(report["throughput"]) == {"1", "2"}
    for k, group in report["throughput"].items():
        assert group["errors"] == []
        for model in ("cnn", "dnn"):
            assert group[model]["samples_per_s"] > 0 and group[model]["per_process"] > 0, (k, model)
    assert report["throughput"]["1"]["dnn"]["samples_per_s"] > report["throughput"]["1"]["cnn"]["samples_per_s"]

    trial = report["full_trial"]
    assert trial["model"] == "cnn" and trial["n_fit"] > 0 and 0 < trial["fit_s"] <= trial["trial_s"]
    assert CHANCE + 0.1 < trial["acc"] <= 1.0
    assert trial["auc"] is None or 0.5 < trial["auc"] <= 1.0

    for model in ("cnn", "dnn"):
        check = report["accuracy_check"][model]
        assert len(check["device_acc"]) == len(check["cpu_acc"]) == 2
        assert all(CHANCE + 0.1 < a <= 1.0 for a in check["device_acc"] + check["cpu_acc"])
        assert isinstance(check["within_noise"], bool) and check["noise"] > 0
        assert report["fixed_s"][model] >= 0 and report["eval_s_per_row"][model] > 0

    est = report["estimate"]
    assert est["spec"] == "seed_all" and est["trials"] == 498 == est["net_trials"] + est["tree_trials"]
    assert est["best_k"] in (1, 2) and set(est["per_k"]) <= {"1", "2"}
    assert isinstance(est["best_wall_s"], float) and math.isfinite(est["best_wall_s"]) and est["best_wall_s"] > 0
    assert est["best_wall_min"] == est["best_wall_s"] / 60
    # the estimate is at least the longest trial and at least the nets' work spread over the slots
    best = est["per_k"][str(est["best_k"])]
    assert best["makespan_s"] >= best["longest_net_trial_s"]
    assert best["makespan_s"] >= best["net_trial_s_sum"] / est["best_k"] * 0.999
    assert est["command"].startswith("datavsmath sweep seed_all --gpu-share")
    assert "estimate of seed_all" in proc.stdout
