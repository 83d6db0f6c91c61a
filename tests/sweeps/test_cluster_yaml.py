"""cluster.yaml against Ray's own cluster-launcher validation, and against our resource plans.

`ray up` runs prepare_config (AWS defaults.yaml merged in, setup commands merged, docker
checked, per-type min/max workers filled) and then validate_config (ray-schema.json plus
cross-field checks). The same two functions run here; nothing talks to AWS: the node types
declare their resources, so the AWS instance-type lookup `ray up` would also do is not needed.
"""

from __future__ import annotations

import copy
import logging
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from datavsmath.sweeps import resources
from datavsmath.trainables.models import MODEL_NAMES

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# vCPUs and GPUs of the instance types the config may use (AWS's published figures): the
# declared resources must be what `ray start` will detect there.
INSTANCE_TYPES = {
    "m6i.xlarge": (4, 0), "m6i.2xlarge": (8, 0), "m6i.4xlarge": (16, 0),
    "g5.xlarge": (4, 1), "g5.2xlarge": (8, 1), "g5.4xlarge": (16, 1), "g5.12xlarge": (48, 4),
    "g6.xlarge": (4, 1), "g6.12xlarge": (48, 4),
}
UNAUTHENTICATED_PORTS = (8265, 6379, 10001)


@pytest.fixture(autouse=True)
def _quiet_autoscaler_logs():
    logging.getLogger("ray.autoscaler").setLevel(logging.WARNING)


def raw_config() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def validate(config: dict) -> dict:
    """What `ray up` does to a config before it touches the cloud; returns the prepared config."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def node_types(config: dict) -> dict[str, dict]:
    return config["available_node_types"]


def nodes_of(config: dict, *, workers_only: bool = False) -> list[resources.Node]:
    """One resources.Node per node type that can exist (head, or a worker with max_workers > 0)."""
    prepared = prepare_config(copy.deepcopy(config))
    out = []
    for name, node_type in node_types(prepared).items():
        is_head = name == prepared["head_node_type"]
        if (workers_only and is_head) or (not is_head and node_type["max_workers"] == 0):
            continue
        res = node_type["resources"]
        out.append(resources.Node(node_id=name, address=name, cpu=float(res.get("CPU", 0)),
                                  gpu=float(res.get("GPU", 0))))
    return out


# ---------------------------------------------------------------- Ray's validation

def test_cluster_yaml_passes_rays_validation():
    prepared = validate(raw_config())
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] in node_types(prepared)
    assert any(t["resources"].get("GPU", 0) > 0 for t in node_types(prepared).values())


@pytest.mark.parametrize("mutate, where", [
    (lambda c: c.update(max_worker=c.pop("max_workers")), "top-level key typo"),
    (lambda c: c.update(setup_command=c.pop("setup_commands")), "setup_commands typo"),
    (lambda c: c["docker"].update(run_option=c["docker"].pop("run_options")), "docker key typo"),
    (lambda c: c["available_node_types"]["gpu_worker"].update(
        min_worker=c["available_node_types"]["gpu_worker"].pop("min_workers")), "node type key typo"),
    (lambda c: c["available_node_types"]["gpu_worker"]["resources"].update(GPU=0.5), "fractional GPU count"),
    (lambda c: c["available_node_types"]["gpu_worker"]["resources"].update(CPU=-1), "negative CPU count"),
    (lambda c: c["available_node_types"]["gpu_worker"].pop("resources"), "node type without resources"),
])
def test_mutated_copies_fail_rays_validation(mutate, where):
    config = raw_config()
    mutate(config)
    with pytest.raises(jsonschema.ValidationError):
        validate(config)


def test_min_workers_over_global_max_fails_rays_validation():
    config = raw_config()
    config["available_node_types"]["gpu_worker"]["min_workers"] = config["max_workers"] + 1
    with pytest.raises(ValueError, match="max_workers"):
        validate(config)


# ---------------------------------------------------------------- our plans on this cluster

def test_every_models_default_request_fits_a_worker_type():
    config = raw_config()
    workers = nodes_of(config, workers_only=True)
    plan = resources.plan_requests(MODEL_NAMES, nodes=nodes_of(config))
    resources.check_feasible(plan, nodes=workers)  # raises InfeasibleRequestError otherwise
    gpu_workers = [n for n in workers if n.gpu > 0]
    assert gpu_workers, "cluster.yaml declares no GPU worker type"
    for model in MODEL_NAMES:
        request = plan[model]
        if model in resources.GPU_MODELS:
            assert request["gpu"] == resources.DEFAULT_GPU_SHARE, (model, request)
            # 1/gpu_share trials per GPU, and the CPUs to feed them
            assert all(resources.concurrency(request, n) == n.gpu / request["gpu"] for n in gpu_workers), \
                resources.describe_plan({model: request}, nodes=gpu_workers)
        else:
            assert request["gpu"] == 0, (model, request)
            assert max(resources.concurrency(request, n) for n in workers) >= 1


def test_a_request_larger_than_every_worker_type_is_refused():
    config = raw_config()
    workers = nodes_of(config, workers_only=True)
    biggest = max(n.cpu for n in workers)
    with pytest.raises(resources.InfeasibleRequestError, match=r"cnn.*cpu: %g" % (biggest + 1)):
        resources.check_feasible({"cnn": {"cpu": biggest + 1, "gpu": 0.25}}, nodes=workers)


def test_declared_resources_match_the_instance_types():
    config = raw_config()
    head = config["head_node_type"]
    head_start = " ".join(config["head_start_ray_commands"])
    for name, node_type in node_types(config).items():
        instance = node_type["node_config"]["InstanceType"]
        assert instance in INSTANCE_TYPES, f"{name}: add {instance}'s vCPUs/GPUs to INSTANCE_TYPES"
        cpus, gpus = INSTANCE_TYPES[instance]
        declared = node_type["resources"]
        if name == head and "--num-cpus=0" in head_start:
            assert declared.get("CPU") == 0 and declared.get("GPU", 0) == 0, declared
            assert "--num-gpus=0" in head_start
        else:
            assert (declared.get("CPU"), declared.get("GPU", 0)) == (cpus, gpus), (name, instance, declared)


def test_global_max_workers_covers_every_worker_type():
    config = raw_config()
    worker_max = sum(t.get("max_workers", 0) for n, t in node_types(config).items() if n != config["head_node_type"])
    assert config["max_workers"] >= worker_max
    gpu = node_types(config)["gpu_worker"]
    assert gpu["min_workers"] >= 1, "no GPU node at submit time: the plan would see no GPUs"


# ---------------------------------------------------------------- what the nodes run

def test_image_runs_the_pinned_ray_and_python():
    config = raw_config()
    image = config["docker"]["image"]
    pinned = re.search(r'"ray\[[^\]]*\]==([0-9.]+)"', PYPROJECT.read_text()).group(1)
    assert image.startswith("rayproject/ray:"), image
    assert f":{pinned}-" in image and f":{ray.__version__}-" in image, (image, pinned, ray.__version__)
    assert "-py311" in image and image.endswith("-gpu"), image


def test_setup_installs_this_project_from_the_mounted_working_copy():
    config = raw_config()
    mounts = config["file_mounts"]
    (remote, local), = mounts.items()
    assert (CLUSTER_YAML.parent / local).resolve() == CLUSTER_YAML.parent
    installs = [shlex.split(c) for c in config["setup_commands"] if "pip" in c]
    assert any(c[-2:] == ["-e", remote] for c in installs), config["setup_commands"]
    assert ".gitignore" in config["rsync_filter"]  # keeps .venv/ and results/ out of the sync


def test_dashboard_stays_on_localhost_and_no_unauthenticated_port_is_opened():
    config = raw_config()
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "0.0.0.0" not in head_start
    rules = config["provider"].get("security_group", {}).get("IpPermissions", [])
    for rule in rules:
        low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
        assert not any(low <= port <= high for port in UNAUTHENTICATED_PORTS), rule


def test_workers_have_an_instance_profile_for_the_s3_storage():
    config = raw_config()
    for name, node_type in node_types(config).items():
        if name != config["head_node_type"]:
            arn = node_type["node_config"]["IamInstanceProfile"]["Arn"]
            assert arn.startswith("arn:aws:iam::") and ":instance-profile/" in arn, (name, arn)
    assert "s3://YOUR-BUCKET/datavsmath" in CLUSTER_YAML.read_text()
