"""A sweep on a 2-node Ray cluster (ray.cluster_utils.Cluster) whose only storage is a bucket.

As on a real cluster, the nodes share no folder: the driver's `--storage s3://...` is the one
place every node's trials write to, and each node talks to the S3 server (moto on 127.0.0.1,
tests/storage/s3_server.py) with the credentials of its own environment. The evidence is in
the bucket: every trial's result.json, written by trials that report two different Ray nodes;
and nothing of the experiment in any local folder of the driver (its working folder, Tune's ~/ray_results).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLI, cli_env
from tests.e2e.test_multinode import start_cluster, stop_cluster

CLUSTER_TIMEOUT_S = 240
# One CPU a node and one a trial: two trials run at once only by taking both nodes.
SPREAD = {"name": f"spread-{uuid.uuid4().hex[:8]}", "description": "four tiny rf trials over two nodes", "model": ["rf"],
          "sample_frac": [0.01, 0.02], "damage_frac": [0.0], "damage_mode": ["none"], "seeds": [0, 1],
          "resources": {"rf": {"cpu": 1}}, "overrides": {"rf": {"n_estimators": 5}}}
N_TRIALS = 4


def _local_results(*folders: Path) -> list[Path]:
    """Trial or experiment files under `folders`: what a run writing only to the bucket never leaves."""
    names = ("result.json", "params.json", "results.parquet", "spec.yaml")
    return [p for folder in folders for name in names for p in folder.rglob(name)]


@pytest.fixture(scope="module")
def cluster_sweep(s3_server, tmp_path_factory):
    """SPREAD swept by the CLI on a 2-node cluster into s3://BUCKET/exps: (server, bucket, node ids, process,
    the driver's working folder)."""
    cwd = tmp_path_factory.mktemp("cwd")
    spec = tmp_path_factory.mktemp("spec") / "spread.yaml"
    spec.write_text(yaml.safe_dump(SPREAD, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        # The nodes' processes inherit this environment: each node reaches the bucket by itself.
        for key, value in s3_server.env().items():
            patch.setenv(key, value)
        bucket = s3_server.new_bucket()
        cluster = start_cluster(nodes=2, num_cpus=1, num_gpus=0)
        try:
            node_ids = {node.node_id for node in cluster.list_all_nodes()}
            proc = subprocess.run([*CLI, "sweep", str(spec), "--address", cluster.address, "--storage",
                                   f"s3://{bucket}/exps", "--no-dashboard", "--no-live"],
                                  capture_output=True, text=True, timeout=CLUSTER_TIMEOUT_S, cwd=cwd,
                                  env=cli_env())
        finally:
            stop_cluster(cluster)
    return s3_server, bucket, node_ids, proc, cwd


def _final_lines(server, bucket: str) -> list[dict]:
    """The last line (the final report) of every trial's result.json in the bucket."""
    client = server.client()
    keys = [k for k in server.keys(bucket, f"exps/{SPREAD['name']}/") if k.endswith("/result.json")]
    return [json.loads(client.get_object(Bucket=bucket, Key=k)["Body"].read().decode().splitlines()[-1])
            for k in keys]


def test_every_trial_of_both_nodes_is_in_the_bucket(cluster_sweep):
    server, bucket, node_ids, proc, _ = cluster_sweep
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"trials: {N_TRIALS} finished, 0 errored, {N_TRIALS} in all" in proc.stdout, proc.stdout
    finals = _final_lines(server, bucket)
    assert len(finals) == N_TRIALS and all(f.get("done") for f in finals), finals
    assert {f["node_id"] for f in finals} == node_ids  # trials of both nodes wrote to the bucket
    exp = f"exps/{SPREAD['name']}"
    keys = server.keys(bucket, f"{exp}/")
    for name in ("spec.yaml", "results.parquet", "report.html"):
        assert f"{exp}/{name}" in keys, keys
    assert f"report: s3://{bucket}/{exp}/report.html" in proc.stdout


def test_nothing_of_the_experiment_is_written_locally(cluster_sweep):
    *_, cwd = cluster_sweep
    assert list(cwd.iterdir()) == []
    # Tune's default local folder holds nothing of it (the driver's home stays: Ray's token is there)
    assert _local_results(Path.home() / "ray_results" / SPREAD["name"]) == []
