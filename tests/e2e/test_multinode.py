"""Sweeps on real multi-node Ray clusters simulated on this machine (ray.cluster_utils.Cluster).

No mocks: the real CLI runs a real Tune sweep against the cluster's address, and the evidence
is what each trial itself reported in its final result line (the last line of result.json):

- `gpu_ids`: ray.get_gpu_ids() inside the trial; `node_id`: the Ray node it ran on;
- `trial_start`, `trial_end`: wall-clock seconds (time.time()) at the start and the end of
  the trial function, on that node's clock;
- `threads` (the CPUs the trial asked for), `torch_threads` (the nets' torch.get_num_threads()), and
  `n_jobs` (rf: the fitted RandomForestClassifier's) / `nthread` (xgb: the booster's).

The GPUs are logical (`num_gpus=2` on machines without any): Ray hands out GPU ids exactly as
on a GPU cluster, and the trials, finding no CUDA, train on the CPU with a warning. That is
the expected behaviour here; on a machine with CUDA the device test expects "cuda" for
trials that got a GPU id.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli

SWEEP_TIMEOUT_S = 150
GPU_SHARE = 0.5
TRIAL_CPUS = 0.5
NODE_CPUS, NODE_GPUS = 2, 2
NETS = ("dnn", "cnn")
EVIDENCE_KEYS = ("gpu_ids", "node_id", "trial_start", "trial_end", "threads", "device")
NET_EVIDENCE_KEYS = ("torch_threads",)  # the nets' torch threads; trees report their library's

MULTINODE_SPEC = {
    "name": "multinode",
    "description": "8 tiny net trials and 2 rf trials over a 2-node, 4-GPU cluster",
    "grids": [
        {"model": ["dnn", "cnn"], "sample_frac": [0.01, 0.02], "damage_frac": [0.0], "damage_mode": ["none"]},
        {"model": ["rf"], "sample_frac": [0.01], "damage_frac": [0.0], "damage_mode": ["none"]},
    ],
    "seeds": [0, 1],
    "gpu_share": GPU_SHARE,
    # Half a CPU per trial: a node's 2 CPUs hold 4 trials at once, twice what one GPU may take
    # at a 0.5 share. The first wave (8 of the 10 trials, at least 6 of them nets) puts 3 or
    # 4 nets on some node, which Ray must then spread over both of its GPU ids.
    "resources": {"rf": {"cpu": TRIAL_CPUS}, "dnn": {"cpu": TRIAL_CPUS}, "cnn": {"cpu": TRIAL_CPUS}},
    "overrides": {"dnn": {"epochs": 1}, "cnn": {"epochs": 1}, "rf": {"n_estimators": 10}},
}
N_TRIALS = 10
# One trial per model. The requests differ (1 or 2 CPUs, on a 2-CPU node), so a thread count
# taken from the machine or a library default instead of the request shows.
THREADS_SPEC = {
    "name": "threads",
    "description": "one tiny trial per model, each with its own CPU request",
    "model": ["rf", "xgb", "dnn", "cnn"],
    "sample_frac": [0.01],
    "damage_frac": [0.0],
    "damage_mode": ["none"],
    "seeds": [0],
    "overrides": {"dnn": {"epochs": 1}, "cnn": {"epochs": 1}, "xgb": {"num_boost_round": 5},
                  "rf": {"n_estimators": 10}},
}
THREADS_REQUEST = {"rf": 2, "xgb": 1, "dnn": 1, "cnn": 2}


def start_cluster(*, nodes: int, num_cpus: int, num_gpus: int):
    """A real Ray cluster of `nodes` nodes in this process; shut down by the caller."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": num_cpus, "num_gpus": num_gpus, "include_dashboard": False})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=num_cpus, num_gpus=num_gpus)
        cluster.wait_for_nodes()
    except BaseException:
        cluster.shutdown()
        raise
    return cluster


def stop_cluster(cluster) -> None:
    import ray

    try:
        ray.shutdown()
    finally:
        cluster.shutdown()


def run_sweep(spec: dict, *, tmp: Path, address: str, extra: tuple[str, ...] = ()) -> tuple[Path, float]:
    """Write the spec, run `datavsmath sweep` against `address`; returns (experiment dir, seconds)."""
    spec_file = tmp / f"{spec['name']}.yaml"
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    storage = tmp / "storage"
    started = time.monotonic()
    proc = run_cli("sweep", str(spec_file), "--address", address, "--storage", str(storage),
                   "--no-dashboard", "--no-report", *extra, timeout=SWEEP_TIMEOUT_S)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return storage / spec["name"], seconds


def final_results(exp_dir: Path) -> list[dict]:
    """Each trial's config and the last line of its result.json (its final report)."""
    rows = []
    for trial in sorted(p for p in exp_dir.iterdir() if (p / "params.json").is_file()):
        lines = (trial / "result.json").read_text().splitlines()
        assert lines, f"{trial} reported nothing"
        last = json.loads(lines[-1])
        assert last.get("done") is True, f"{trial}: last result is not the final report: {last}"
        params = json.loads((trial / "params.json").read_text())
        wanted = EVIDENCE_KEYS + (NET_EVIDENCE_KEYS if params["model"] in NETS else ())
        missing = [k for k in wanted if k not in last]
        assert not missing, f"{trial}: the final report lacks {missing} (trainables/trainable.py must report them)"
        rows.append({**params, **last, "dir": trial.name})
    return rows


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (touching ends do not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda e: (e[0], e[1]))
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def test_max_overlap_helper():
    assert max_overlap([]) == 0
    assert max_overlap([(0, 1), (1, 2), (2, 3)]) == 1
    assert max_overlap([(0, 3), (1, 2), (1.5, 4), (3.5, 5)]) == 3


# ---------------------------------------------------------------- 2 nodes x 2 CPUs x 2 GPUs

# A 2-node cluster and a sweep on it (~60 s on 2 cores) run in `make test-slow`. Placement on
# logical GPUs is what this module tests; the resource requests themselves are tested in
# tests/sweeps/test_resources.py.
SLOW_CLUSTER = pytest.mark.slow


@pytest.fixture(scope="module")
def multinode_sweep(tmp_path_factory):
    """The 10-trial sweep on a 2-node cluster with 2 CPUs and 2 logical GPUs per node."""
    started = time.monotonic()
    cluster = start_cluster(nodes=2, num_cpus=NODE_CPUS, num_gpus=NODE_GPUS)
    try:
        node_ids = {node.node_id for node in cluster.list_all_nodes()}
        exp_dir, sweep_s = run_sweep(MULTINODE_SPEC, tmp=tmp_path_factory.mktemp("multinode"),
                                     address=cluster.address)
    finally:
        stop_cluster(cluster)
    return {"rows": final_results(exp_dir), "node_ids": node_ids, "sweep_s": sweep_s,
            "total_s": time.monotonic() - started}


@SLOW_CLUSTER
def test_every_trial_of_the_sweep_finished(multinode_sweep):
    rows = multinode_sweep["rows"]
    expected = sorted((m, f, s) for grid in MULTINODE_SPEC["grids"] for m in grid["model"]
                      for f in grid["sample_frac"] for s in MULTINODE_SPEC["seeds"])
    assert len(expected) == N_TRIALS
    assert sorted((r["model"], r["sample_frac"], r["seed"]) for r in rows) == expected


@SLOW_CLUSTER
def test_gpu_trials_got_one_gpu_id_and_cpu_trials_none(multinode_sweep):
    for row in multinode_sweep["rows"]:
        ids = [str(g) for g in row["gpu_ids"]]
        if row["model"] in NETS:
            # a fraction of one device; ids are per node, 0 .. NODE_GPUS - 1
            assert len(ids) == 1 and ids[0] in {str(i) for i in range(NODE_GPUS)}, row
        else:
            assert ids == [], row


@SLOW_CLUSTER
def test_no_gpu_carried_more_than_one_over_share_trials_at_once(multinode_sweep):
    per_gpu = defaultdict(list)
    for row in multinode_sweep["rows"]:
        for gpu in row["gpu_ids"]:
            per_gpu[(row["node_id"], str(gpu))].append((row["trial_start"], row["trial_end"]))
    assert per_gpu, "no trial reported a GPU id"
    limit = int(round(1 / GPU_SHARE))
    for gpu, intervals in per_gpu.items():
        assert max_overlap(intervals) <= limit, (gpu, sorted(intervals))


@SLOW_CLUSTER
def test_no_node_ran_more_trials_than_its_cpus(multinode_sweep):
    per_node = defaultdict(list)
    for row in multinode_sweep["rows"]:
        assert row["trial_start"] <= row["trial_end"], row
        per_node[row["node_id"]].append((row["trial_start"], row["trial_end"]))
    for node, intervals in per_node.items():
        assert max_overlap(intervals) <= NODE_CPUS / TRIAL_CPUS, (node, sorted(intervals))


@SLOW_CLUSTER
def test_trials_ran_on_both_nodes(multinode_sweep):
    used = {row["node_id"] for row in multinode_sweep["rows"]}
    assert used == multinode_sweep["node_ids"], (used, multinode_sweep["node_ids"])


@SLOW_CLUSTER
def test_trials_train_on_cuda_only_with_a_gpu_id_and_a_real_device(multinode_sweep):
    """Logical GPU ids on a CPU machine must not fool a trial into "cuda"; rf never uses one."""
    import torch

    for row in multinode_sweep["rows"]:
        real = torch.cuda.is_available() and bool(row["gpu_ids"])
        assert row["device"] == ("cuda" if real else "cpu"), row


# ---------------------------------------------------------------- threads follow the CPU request

@pytest.fixture(scope="module")
def threads_sweep(tmp_path_factory):
    """One trial per model on a 1-node, 2-CPU cluster, with per-model CPU requests."""
    started = time.monotonic()
    cluster = start_cluster(nodes=1, num_cpus=2, num_gpus=0)
    try:
        extra = tuple(a for m, cpus in THREADS_REQUEST.items() for a in ("--resources", f"{m}:cpu={cpus}"))
        exp_dir, _ = run_sweep(THREADS_SPEC, tmp=tmp_path_factory.mktemp("threads"),
                               address=cluster.address, extra=extra)
    finally:
        stop_cluster(cluster)
    return {"rows": final_results(exp_dir), "total_s": time.monotonic() - started}


@pytest.mark.slow  # a second 2-node cluster and sweep (~22 s); 1-CPU trials' threads: test_sweep_e2e
def test_library_threads_equal_the_trials_cpus(threads_sweep):
    rows = {row["model"]: row for row in threads_sweep["rows"]}
    assert set(rows) == set(THREADS_REQUEST)
    for model, cpus in THREADS_REQUEST.items():
        row = rows[model]
        assert row["threads"] == cpus, row
        assert row.get("torch_threads", cpus) == cpus, row  # the nets' (final_results checks they have it)
        assert row["gpu_ids"] == [], row
    assert rows["rf"]["n_jobs"] == THREADS_REQUEST["rf"], rows["rf"]
    assert rows["xgb"]["nthread"] == THREADS_REQUEST["xgb"], rows["xgb"]
