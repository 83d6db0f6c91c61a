"""k8s/rayjob.yaml, the KubeRay RayJob shipped beside cluster.yaml: valid against KubeRay's
RayJob CustomResourceDefinition (ray.io/v1, its openAPIV3Schema; ../shared/kuberay) and
KubeRay's own rules for a RayJob, with credentials from a Secret only, and an entrypoint
whose spec dry-runs. A broken copy of each rule must fail the same checks."""

from __future__ import annotations

import copy
import functools
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "k8s" / "rayjob.yaml"
CRD = ROOT.parent / "shared" / "kuberay" / "ray.io_rayjobs.yaml"
SECRET_NAMES = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")


def _closed(schema: dict) -> dict:
    """The schema with unknown fields refused: Kubernetes prunes fields a structural schema does
    not name (a typo is silently dropped), so here every object with `properties` and no
    `additionalProperties` / x-kubernetes-preserve-unknown-fields gets additionalProperties
    false. The x-kubernetes-* extensions are otherwise ignored (jsonschema skips unknown keys)."""
    schema = dict(schema)
    for key in ("properties", "patternProperties"):
        if key in schema:
            schema[key] = {name: _closed(sub) for name, sub in schema[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _closed(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [_closed(sub) for sub in schema[key]]
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        schema["additionalProperties"] = False
    return schema


@functools.cache
def _schema() -> dict:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert crd["spec"]["group"] == "ray.io" and crd["spec"]["names"]["kind"] == "RayJob"
    return _closed(version["schema"]["openAPIV3Schema"])


def _containers(job: dict) -> list[dict]:
    cluster = job["spec"].get("rayClusterSpec") or {}
    templates = [cluster.get("headGroupSpec", {}).get("template", {})]
    templates += [group.get("template", {}) for group in cluster.get("workerGroupSpecs", [])]
    return [c for t in templates for c in t.get("spec", {}).get("containers", [])]


def kuberay_problems(job: dict) -> list[str]:
    """KubeRay's validation of a RayJob (ray-operator/controllers/ray/utils/validation.go) that
    the schema does not express, and this project's own: a head, a GPU worker group, the
    deadline, and S3 credentials from a Secret only."""
    spec, problems = job["spec"], []
    numbers = {k: v for k, v in spec.items() if isinstance(v, int)}  # a wrong type is the schema's to report
    if ("rayClusterSpec" in spec) == bool(spec.get("clusterSelector")):
        problems.append("exactly one of rayClusterSpec and clusterSelector")
    if numbers.get("ttlSecondsAfterFinished", 0) > 0 and not spec.get("shutdownAfterJobFinishes"):
        problems.append("ttlSecondsAfterFinished needs shutdownAfterJobFinishes")
    if spec.get("shutdownAfterJobFinishes") and spec.get("clusterSelector"):
        problems.append("shutdownAfterJobFinishes with clusterSelector (the cluster is not the job's)")
    for key in ("ttlSecondsAfterFinished", "activeDeadlineSeconds", "backoffLimit"):
        if numbers.get(key, 0) < 0:
            problems.append(f"{key} must be >= 0")
    # this project's rules
    if not spec.get("shutdownAfterJobFinishes") or "ttlSecondsAfterFinished" not in spec:
        problems.append("the cluster must go when the job ends (shutdownAfterJobFinishes with a TTL)")
    if "activeDeadlineSeconds" not in spec or numbers.get("activeDeadlineSeconds", 1) <= 0:
        problems.append("an activeDeadlineSeconds")
    cluster = spec.get("rayClusterSpec") or {}
    if not any("nvidia.com/gpu" in c.get("resources", {}).get("limits", {})
               for g in cluster.get("workerGroupSpecs", []) for c in g["template"]["spec"]["containers"]):
        problems.append("a GPU worker group")
    for container in _containers(job):
        if not any("secretRef" in source for source in container.get("envFrom", [])):
            problems.append(f"container {container['name']}: credentials from a Secret (envFrom secretRef)")
        for env in container.get("env", []):
            if env["name"] in SECRET_NAMES and "valueFrom" not in env:
                problems.append(f"container {container['name']}: {env['name']} inline")
    if "--storage s3://" not in spec.get("entrypoint", ""):
        problems.append("the experiment on S3 (--storage s3://...)")
    return problems


def problems_of(job: dict) -> list[str]:
    errors = sorted(jsonschema.Draft7Validator(_schema()).iter_errors(job), key=lambda e: list(e.path))
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors] + kuberay_problems(job)


@pytest.fixture(scope="module")
def job() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def test_the_manifest_is_a_valid_rayjob(job):
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert problems_of(job) == []


def _broken(job: dict, edit) -> dict:
    copy_ = copy.deepcopy(job)
    edit(copy_["spec"])
    return copy_


BROKEN = {
    "both rayClusterSpec and clusterSelector": (lambda s: s.update(clusterSelector={"ray.io/cluster": "x"}),
                                                "exactly one of rayClusterSpec and clusterSelector"),
    "neither": (lambda s: s.pop("rayClusterSpec"), "exactly one of rayClusterSpec and clusterSelector"),
    "a TTL without shutdown": (lambda s: s.update(shutdownAfterJobFinishes=False),
                               "ttlSecondsAfterFinished needs shutdownAfterJobFinishes"),
    "no deadline": (lambda s: s.pop("activeDeadlineSeconds"), "an activeDeadlineSeconds"),
    "a secret inline": (lambda s: s["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
                        .setdefault("env", []).append({"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}),
                        "AWS_SECRET_ACCESS_KEY inline"),
    "a misspelled field": (lambda s: s.update(shutdownAfterJobFinish=True), "shutdownAfterJobFinish"),
    "a wrong type": (lambda s: s.update(activeDeadlineSeconds="12h"), "activeDeadlineSeconds: '12h' is not of type"),
    "no GPU workers": (lambda s: [c["resources"]["limits"].pop("nvidia.com/gpu")
                                  for g in s["rayClusterSpec"]["workerGroupSpecs"]
                                  for c in g["template"]["spec"]["containers"]], "a GPU worker group"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_copy_fails(job, case):
    edit, expected = BROKEN[case]
    problems = problems_of(_broken(job, edit))
    assert any(expected in p for p in problems), problems


def test_the_entrypoint_dry_runs(job, tmp_path):
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["datavsmath", "sweep"]
    spec = argv[2]
    proc = run_cli("sweep", spec, "--storage", str(tmp_path), "--dry-run", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "trials" in proc.stdout
