"""sweeps/resources.py: per-model plans (pure), and the preflight against real Ray clusters.

The preflight tests run the real CLI against a real Ray: a request that no single alive node
can hold must stop the sweep in seconds, with exit code 2 and a message naming the model, its
request and the largest node, before Tune starts any trial (Tune itself would leave such a
trial PENDING forever, warning only after a minute, and not at all when the cluster total
would fit).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from datavsmath.sweeps import resources
from datavsmath.sweeps.resources import InfeasibleRequestError, Node
from datavsmath.trainables.models.registry import SEED_MODELS
from datavsmath.trainables.models.user import check_user_model
from tests.conftest import CLI, cli_env

# The refusal must come long before Tune's own PENDING warning (60 s, and never for a request
# that fits the cluster total but no node). Ray's start alone took 3-9 s on the loaded 2-core host.
PREFLIGHT_BUDGET_S = 30.0
MODELS = ("rf", "xgb", "dnn", "cnn")

CPU_NODE = Node(node_id="a", address="10.0.0.1", cpu=2, gpu=0)
GPU_NODE = Node(node_id="b", address="10.0.0.2", cpu=4, gpu=1)
BIG_GPU_NODE = Node(node_id="c", address="10.0.0.3", cpu=48, gpu=4)


# ---------------------------------------------------------------- nodes_from_ray

def test_nodes_from_ray_keeps_alive_nodes_and_reads_cpu_gpu():
    records = [
        {"NodeID": "n1", "NodeManagerAddress": "10.0.0.1", "Alive": True, "Resources": {"CPU": 2.0, "memory": 1e9}},
        {"NodeID": "n2", "NodeManagerAddress": "10.0.0.2", "Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},
        {"NodeID": "n3", "NodeManagerAddress": "10.0.0.3", "Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0}},
    ]
    assert resources.nodes_from_ray(records) == [
        Node(node_id="n1", address="10.0.0.1", cpu=2.0, gpu=0.0),
        Node(node_id="n3", address="10.0.0.3", cpu=4.0, gpu=1.0),
    ]


# ---------------------------------------------------------------- plan_requests

def test_plan_without_gpus_is_one_cpu_per_trial_for_every_model():
    plan = resources.plan_requests(MODELS, nodes=[CPU_NODE, CPU_NODE])
    assert plan == {m: {"cpu": 1.0, "gpu": 0.0} for m in MODELS}


def test_plan_with_gpus_shares_a_gpu_between_gpu_models_and_keeps_rf_on_cpu():
    plan = resources.plan_requests(MODELS, nodes=[CPU_NODE, GPU_NODE])
    assert plan["rf"] == {"cpu": 1.0, "gpu": 0.0}
    for model in ("xgb", "dnn", "cnn"):
        assert plan[model] == {"cpu": 1.0, "gpu": resources.DEFAULT_GPU_SHARE}
    half = resources.plan_requests(MODELS, nodes=[GPU_NODE], gpu_share=0.5)
    assert half["cnn"]["gpu"] == 0.5 and half["rf"]["gpu"] == 0.0


def test_overrides_replace_only_the_given_keys_and_only_for_that_model():
    plan = resources.plan_requests(MODELS, nodes=[GPU_NODE],
                                   overrides={"cnn": {"cpu": 2}, "rf": {"cpu": 4.0}, "dnn": {"gpu": 1}})
    assert plan["cnn"] == {"cpu": 2.0, "gpu": resources.DEFAULT_GPU_SHARE}
    assert plan["rf"] == {"cpu": 4.0, "gpu": 0.0}
    assert plan["dnn"] == {"cpu": 1.0, "gpu": 1.0}
    assert plan["xgb"] == {"cpu": 1.0, "gpu": resources.DEFAULT_GPU_SHARE}
    # a GPU request is honoured (and later refused by the preflight) even on a CPU-only cluster
    assert resources.plan_requests(["cnn"], nodes=[CPU_NODE], overrides={"cnn": {"gpu": 0.5}}) == \
        {"cnn": {"cpu": 1.0, "gpu": 0.5}}


def test_plan_covers_exactly_the_models_of_the_sweep():
    plan = resources.plan_requests(["cnn"], nodes=[GPU_NODE], overrides={"cnn": {"cpu": 2}})
    assert list(plan) == ["cnn"]


# ---------------------------------------------------------------- check_feasible

def test_feasible_plans_pass():
    resources.check_feasible(resources.plan_requests(MODELS, nodes=[CPU_NODE]), nodes=[CPU_NODE])
    resources.check_feasible(resources.plan_requests(MODELS, nodes=[CPU_NODE, GPU_NODE]), nodes=[CPU_NODE, GPU_NODE])
    resources.check_feasible({"cnn": {"cpu": 8, "gpu": 2}}, nodes=[GPU_NODE, BIG_GPU_NODE])  # whole GPUs


def test_gpu_request_on_a_cpu_only_cluster_names_model_request_and_largest_node():
    with pytest.raises(InfeasibleRequestError) as err:
        resources.check_feasible({"rf": {"cpu": 1, "gpu": 0}, "cnn": {"cpu": 1, "gpu": 0.5}},
                                 nodes=[CPU_NODE, Node("d", "10.0.0.4", cpu=1, gpu=0)])
    message = str(err.value)
    assert "cnn" in message and "rf" not in message
    assert "{cpu: 1, gpu: 0.5}" in message
    assert "largest node has {cpu: 2, gpu: 0}" in message


def test_request_that_fits_the_cluster_total_but_no_single_node_is_refused():
    with pytest.raises(InfeasibleRequestError) as err:
        resources.check_feasible({"cnn": {"cpu": 3, "gpu": 0}}, nodes=[CPU_NODE, CPU_NODE])
    message = str(err.value)
    assert "{cpu: 3, gpu: 0}" in message and "largest node has {cpu: 2, gpu: 0}" in message
    assert "cluster total {cpu: 4, gpu: 0}" in message


def test_largest_node_is_the_one_with_most_gpus_then_cpus():
    nodes = [Node("x", "h1", cpu=64, gpu=0), Node("y", "h2", cpu=4, gpu=1), Node("z", "h3", cpu=8, gpu=1)]
    with pytest.raises(InfeasibleRequestError, match=r"largest node has \{cpu: 8, gpu: 1\}"):
        resources.check_feasible({"dnn": {"cpu": 1, "gpu": 2}}, nodes=nodes)


def test_fractional_gpu_above_one_and_empty_clusters_are_refused():
    with pytest.raises(InfeasibleRequestError, match=r"dnn.*whole number, got 1\.5"):
        resources.check_feasible({"dnn": {"cpu": 1, "gpu": 1.5}}, nodes=[BIG_GPU_NODE])
    with pytest.raises(InfeasibleRequestError, match="no alive nodes"):
        resources.check_feasible({"rf": {"cpu": 1}}, nodes=[])


# ---------------------------------------------------------------- concurrency, describe_plan

@pytest.mark.parametrize("request_, node, expected", [
    ({"cpu": 1, "gpu": 0}, CPU_NODE, 2),
    ({"cpu": 1, "gpu": 0.25}, GPU_NODE, 4),         # GPU and CPUs run out together
    ({"cpu": 2, "gpu": 0.25}, GPU_NODE, 2),         # CPU-bound
    ({"cpu": 1, "gpu": 0.5}, BIG_GPU_NODE, 8),      # GPU-bound
    ({"cpu": 1, "gpu": 0.1}, Node("t", "h", cpu=64, gpu=1), 10),  # 1 / 0.1 is 9.999...: still 10
    ({"cpu": 1, "gpu": 0.25}, CPU_NODE, 0),         # no GPU there
    ({"cpu": 3, "gpu": 0}, CPU_NODE, 0),
    ({"cpu": 0, "gpu": 0}, CPU_NODE, 0),
])
def test_concurrency(request_, node, expected):
    assert resources.concurrency(request_, node) == expected


def test_describe_plan_gives_each_models_request_and_trials_at_once_per_node():
    plan = resources.plan_requests(["rf", "cnn"], nodes=[CPU_NODE, GPU_NODE])
    lines = resources.describe_plan(plan, nodes=[CPU_NODE, GPU_NODE])
    assert len(lines) == 2
    rf, cnn = lines
    assert re.search(r"\brf\s+cpu=1 gpu=0\b", rf) and "10.0.0.1: 2, 10.0.0.2: 4" in rf
    assert re.search(r"\bcnn\s+cpu=1 gpu=0.25\b", cnn) and "10.0.0.1: 0, 10.0.0.2: 4" in cnn


def test_placement_bundle_omits_zero_gpus():
    assert resources.placement_bundle({"cpu": 1, "gpu": 0}) == {"CPU": 1.0}
    assert resources.placement_bundle({"cpu": 2, "gpu": 0.25}) == {"CPU": 2.0, "GPU": 0.25}


# ---------------------------------------------------------------- the preflight on real Ray

@dataclass
class Refusal:
    """A CLI run: its exit code and output, and seconds from its start to the first
    `datavsmath: error:` line and to its exit."""

    returncode: int
    stdout: str
    stderr: str
    error_s: float
    exit_s: float


def run_timed_cli(*args: str, timeout: float = 60) -> Refusal:
    """The real CLI in a subprocess, timed to its first error line while it runs (so not
    tests.conftest.run_cli, which returns at exit). No GPU is visible to a Ray started by it
    (CUDA_VISIBLE_DEVICES=""), so the tests mean the same on GPU machines; RAY_ADDRESS is
    dropped, so without --address it starts a local Ray."""
    env = cli_env({"CUDA_VISIBLE_DEVICES": ""}, drop=("RAY_ADDRESS",))
    started = time.monotonic()
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    stdout_lines: list[str] = []
    reader = threading.Thread(target=lambda: stdout_lines.extend(proc.stdout), daemon=True)
    reader.start()
    stderr_lines, error_s = [], float("inf")
    try:
        for line in proc.stderr:
            if line.startswith("datavsmath: error:") and error_s == float("inf"):
                error_s = time.monotonic() - started
            stderr_lines.append(line)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    return Refusal(proc.returncode, "".join(stdout_lines), "".join(stderr_lines), error_s,
                   time.monotonic() - started)


def assert_no_trial_started(exp_dir: Path, proc: Refusal) -> None:
    if exp_dir.exists():
        leftovers = sorted(p.name for p in exp_dir.iterdir() if p.name != "spec.yaml")
        assert leftovers == [], f"Tune ran in {exp_dir}: {leftovers}"
    # the runner logs "N trials of ..." and Tune prints its table only after the preflight
    assert "trials of" not in proc.stdout and "Trial status" not in proc.stdout, proc.stdout[-2000:]


def assert_refused(proc: Refusal, *, request: str, largest: str, seconds: float) -> None:
    """Exit 2, one error line naming cnn, its request and the largest node (`largest` is a
    regular expression), printed within `seconds` of the start; no traceback."""
    out = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 2, out
    assert seconds < PREFLIGHT_BUDGET_S, f"the refusal took {seconds:.1f} s (error line at {proc.error_s:.1f} s)\n{out}"
    error = [line for line in proc.stderr.splitlines() if line.startswith("datavsmath: error:")]
    assert len(error) == 1, out
    assert "resources for cnn" in error[0] and request in error[0], error[0]
    assert re.search(r"largest node has " + largest, error[0]), error[0]
    assert "Traceback" not in proc.stderr, out


@pytest.fixture(scope="module")
def two_cpu_nodes():
    """A real two-node Ray cluster (2 CPUs and no GPU each) in this process."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 2, "num_gpus": 0, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=2, num_gpus=0)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_request_fitting_the_cluster_total_but_no_node_fails_fast(two_cpu_nodes, tmp_path):
    proc = run_timed_cli("sweep", "smoke", "--storage", str(tmp_path), "--no-dashboard", "--no-report",
                         "--address", two_cpu_nodes.address, "--resources", "cnn:cpu=3")
    assert_refused(proc, request="{cpu: 3, gpu: 0}", largest=r"\{cpu: 2, gpu: 0\}", seconds=proc.exit_s)
    assert "cluster total {cpu: 4, gpu: 0}, 2 node(s)" in proc.stderr
    assert_no_trial_started(tmp_path / "smoke", proc)


def test_gpu_request_on_a_cpu_only_cluster_fails_fast(two_cpu_nodes, tmp_path):
    proc = run_timed_cli("sweep", "smoke", "--storage", str(tmp_path), "--no-dashboard", "--no-report",
                         "--address", two_cpu_nodes.address, "--resources", "cnn:cpu=1,gpu=0.5")
    assert_refused(proc, request="{cpu: 1, gpu: 0.5}", largest=r"\{cpu: 2, gpu: 0\}", seconds=proc.exit_s)
    assert_no_trial_started(tmp_path / "smoke", proc)


def test_gpu_request_on_a_local_cpu_only_ray_fails_fast(tmp_path):
    """Without --address the CLI starts its own local Ray: the refusal is timed to the error
    line, since the exit then waits for Ray to stop the instance it started (a few seconds)."""
    proc = run_timed_cli("sweep", "smoke", "--storage", str(tmp_path), "--no-dashboard", "--no-report",
                         "--resources", "cnn:cpu=1,gpu=0.5")
    assert_refused(proc, request="{cpu: 1, gpu: 0.5}", largest=r"\{cpu: \d+, gpu: 0\}", seconds=proc.error_s)
    assert_no_trial_started(tmp_path / "smoke", proc)


def test_preflight_in_process_on_an_existing_ray_session(tmp_path, capsys):
    """`ray.init(num_cpus=2, num_gpus=0)` first: the runner joins that session, and refuses."""
    import ray

    from datavsmath import cli

    # address="local": a new instance even while another test's cluster is up
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False)
    try:
        started = time.monotonic()
        code = cli.main(["sweep", "smoke", "--storage", str(tmp_path), "--no-dashboard", "--no-report",
                         "--resources", "cnn:cpu=1,gpu=0.5"])
        seconds = time.monotonic() - started
    finally:
        ray.shutdown()
    err = capsys.readouterr().err
    assert code == 2, err
    assert seconds < PREFLIGHT_BUDGET_S, seconds
    assert "resources for cnn" in err and "{cpu: 1, gpu: 0.5}" in err and "largest node has {cpu: 2, gpu: 0}" in err


def test_a_refused_sweep_can_be_rerun_without_overwrite(two_cpu_nodes, tmp_path):
    """The preflight runs before anything is written: the same command, with a request that
    fits, is not told that the experiment already exists."""
    from datavsmath.sweeps.options import SweepOptions
    from datavsmath.sweeps.ownership import check_experiment
    from datavsmath.sweeps.validation import load_spec

    proc = run_timed_cli("sweep", "smoke", "--storage", str(tmp_path), "--no-dashboard", "--no-report",
                         "--address", two_cpu_nodes.address, "--resources", "cnn:cpu=3")
    assert proc.returncode == 2, proc.stderr[-2000:]
    check_experiment(load_spec("smoke"), options=SweepOptions(storage=str(tmp_path)))  # raises if blocked


def test_a_users_torch_network_asks_for_a_gpu_share_and_a_users_estimator_does_not():
    models = {"rf": SEED_MODELS["rf"], "cnn": SEED_MODELS["cnn"],
              "mynet": check_user_model("mynet", {"module": "pkg.nets:make", "epochs": 2}),
              "logreg": check_user_model("logreg", {"estimator": "sklearn.linear_model:LogisticRegression"})}
    gpu_models = resources.gpu_capable(models)
    assert gpu_models == {"cnn", "mynet"}
    on_gpus = resources.plan_requests(models, nodes=[CPU_NODE, GPU_NODE], gpu_models=gpu_models)
    assert on_gpus["mynet"] == {"cpu": 1.0, "gpu": resources.DEFAULT_GPU_SHARE}
    assert on_gpus["logreg"] == on_gpus["rf"] == {"cpu": 1.0, "gpu": 0.0}
    on_cpus = resources.plan_requests(models, nodes=[CPU_NODE], gpu_models=gpu_models)
    assert on_cpus["mynet"] == {"cpu": 1.0, "gpu": 0.0}
