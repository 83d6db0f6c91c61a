"""Per-model resource requests: what one may be (a spec's `resources:`, `--resources`), the plan
computed from the cluster, and the feasibility preflight.

Pure functions over plain node descriptions, so they are tested without a cluster; the
runner feeds them `ray.nodes()`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from datavsmath.sweeps.options import SweepError
from datavsmath.sweeps.spec import SpecError, checked
from datavsmath.trainables.checks import NON_NEGATIVE, POSITIVE, check_keys, check_number, echo
from datavsmath.trainables.models.registry import GPU_MODELS, ModelEntry
from datavsmath.trainables.models.user import UserModel

DEFAULT_GPU_SHARE = 0.25
DEFAULT_CPUS_PER_TRIAL = 1
RESOURCE_KEYS = ("cpu", "gpu")
# Ray counts resources in units of 1e-4 (ray_constants.MIN_RESOURCE_GRANULARITY); a finer
# request fails inside Ray after the experiment is written.
RESOURCE_RESOLUTION = 0.0001


def check_resolution(name: str, value: float) -> float:
    """`value` if it is a multiple of RESOURCE_RESOLUTION (Ray's unit); else SpecError."""
    units = value / RESOURCE_RESOLUTION
    if not math.isclose(units, round(units), rel_tol=1e-9, abs_tol=1e-6):
        raise SpecError(f"{name} must be a multiple of {RESOURCE_RESOLUTION:g} (Ray's resource unit), "
                        f"got {value:g}")
    return value


def check_request(name: str, key: str, value: Any) -> float:
    """One resource amount as a float: cpu > 0 or gpu >= 0 (`key`), a multiple of
    RESOURCE_RESOLUTION, and a gpu above 1 a whole number (Ray shares out fractions of a
    single GPU only). Raises SpecError naming `name`."""
    amount = checked(check_number, name, value, POSITIVE if key == "cpu" else NON_NEGATIVE)
    check_resolution(name, amount)
    if key == "gpu" and amount > 1 and not amount.is_integer():
        raise SpecError(f"{name} must be a fraction <= 1 or a whole number, got {amount:g}")
    return amount


def parse_resources(raw: Any, models: tuple[str, ...], *, where: str = "resources") -> dict[str, dict[str, float]]:
    """Per-model {cpu, gpu} requests (see check_request), for models in the sweep."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a mapping model -> {{cpu, gpu}}, got {echo(raw)}")
    out = {}
    for model, req in raw.items():
        if model not in models:
            raise SpecError(f"{where} for model {echo(model)}: model must be one in the sweep "
                            f"{list(models)}, got {echo(model)}")
        if not isinstance(req, dict) or not req:
            raise SpecError(f"{where}.{model} must be a mapping like {{cpu: 1, gpu: 0.25}}, got {echo(req)}")
        check_keys(f"{where}.{model}", req, RESOURCE_KEYS, error=SpecError)
        out[model] = {k: check_request(f"{where}.{model}.{k}", k, v) for k, v in req.items()}
    return out


class InfeasibleRequestError(SweepError):
    """A trial's request fits no single alive node: Tune would leave it PENDING forever."""


@dataclass(frozen=True)
class Node:
    """One alive node's total resources."""

    node_id: str
    address: str
    cpu: float
    gpu: float


def nodes_from_ray(ray_nodes: Iterable[Mapping[str, Any]]) -> list[Node]:
    """Alive nodes from `ray.nodes()` records."""
    out = []
    for n in ray_nodes:
        if not n.get("Alive", False):
            continue
        res = n.get("Resources", {})
        out.append(Node(node_id=n.get("NodeID", "?"), address=n.get("NodeManagerAddress", "?"),
                        cpu=float(res.get("CPU", 0)), gpu=float(res.get("GPU", 0))))
    return out


def gpu_capable(models: Mapping[str, ModelEntry | UserModel]) -> frozenset[str]:
    """The models with a GPU path, of a sweep's models (Spec.models: name -> its entry): seed
    models whose registry entry says so, and users' torch networks."""
    return frozenset(m for m, entry in models.items() if entry.gpu)


def default_request(model: str, *, cluster_has_gpus: bool, gpu_share: float,
                    gpu_models: Collection[str] = GPU_MODELS) -> dict[str, float]:
    """{cpu, gpu} for one trial of `model`. One CPU each: on CPUs two 1-thread trials beat one
    2-thread trial (small GEMMs scale badly across threads); on GPUs, `gpu_share` lets
    1/gpu_share trials share a device. gpu_models: the models with a GPU path (default the seed
    models' registry; a sweep adds its users' torch networks)."""
    if cluster_has_gpus and model in gpu_models:
        return {"cpu": float(DEFAULT_CPUS_PER_TRIAL), "gpu": float(gpu_share)}
    return {"cpu": float(DEFAULT_CPUS_PER_TRIAL), "gpu": 0.0}


def plan_requests(models: Iterable[str], *, nodes: list[Node], gpu_share: float = DEFAULT_GPU_SHARE,
                  overrides: Mapping[str, Mapping[str, float]] | None = None,
                  gpu_models: Collection[str] = GPU_MODELS) -> dict[str, dict[str, float]]:
    """Each model's request: the default for this cluster (gpu_models as default_request's), with
    spec/CLI overrides applied."""
    has_gpus = any(n.gpu > 0 for n in nodes)
    plan = {}
    for model in models:
        request = default_request(model, cluster_has_gpus=has_gpus, gpu_share=gpu_share, gpu_models=gpu_models)
        request.update({k: float(v) for k, v in (overrides or {}).get(model, {}).items()})
        plan[model] = request
    return plan


def _fits(request: Mapping[str, float], node: Node) -> bool:
    return request.get("cpu", 0) <= node.cpu and request.get("gpu", 0) <= node.gpu


def check_feasible(plan: Mapping[str, Mapping[str, float]], *, nodes: list[Node]) -> None:
    """Raise InfeasibleRequestError unless every request is one Ray accepts (check_request: its
    resolution, whole GPUs above 1) and fits on at least one alive node.

    Tune only warns after 60 s when no node fits, and never when only the cluster total fits.
    """
    if not nodes:
        raise InfeasibleRequestError("the Ray cluster has no alive nodes")
    largest = max(nodes, key=lambda n: (n.gpu, n.cpu))
    for model, request in plan.items():
        try:
            for key, amount in request.items():
                check_request(key, key, amount)
        except SpecError as exc:
            raise InfeasibleRequestError(f"resources for {model}: {exc}") from exc
        gpu = request.get("gpu", 0)
        if not any(_fits(request, n) for n in nodes):
            total_cpu, total_gpu = sum(n.cpu for n in nodes), sum(n.gpu for n in nodes)
            raise InfeasibleRequestError(
                f"resources for {model}: request {{cpu: {request.get('cpu', 0):g}, gpu: {gpu:g}}} "
                f"fits no single node; the largest node has {{cpu: {largest.cpu:g}, gpu: {largest.gpu:g}}} "
                f"(cluster total {{cpu: {total_cpu:g}, gpu: {total_gpu:g}}}, {len(nodes)} node(s)). "
                f"Lower the request with --resources or resources: in the spec, or add a larger node.")


def concurrency(request: Mapping[str, float], node: Node) -> int:
    """How many trials with `request` run at once on `node`."""
    limits = []
    if request.get("cpu", 0) > 0:
        limits.append(int(node.cpu // request["cpu"] + 1e-9))
    if request.get("gpu", 0) > 0:
        limits.append(int(node.gpu / request["gpu"] + 1e-9))
    return max(0, min(limits)) if limits else 0


def describe_plan(plan: Mapping[str, Mapping[str, float]], *, nodes: list[Node]) -> list[str]:
    """Human-readable lines: request per model and trials at once per node."""
    lines = []
    for model, request in plan.items():
        per_node = ", ".join(f"{n.address}: {concurrency(request, n)}" for n in nodes)
        lines.append(f"  {model:4s} cpu={request.get('cpu', 0):g} gpu={request.get('gpu', 0):g}"
                     f"  at once per node: {per_node}")
    return lines


def placement_bundle(request: Mapping[str, float]) -> dict[str, float]:
    """Ray's resource dict for a request (CPU/GPU keys, GPU omitted when zero)."""
    bundle = {"CPU": float(request.get("cpu", 0))}
    if request.get("gpu", 0) > 0:
        bundle["GPU"] = float(request["gpu"])
    return bundle
