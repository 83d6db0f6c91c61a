"""Experiments on object storage, end to end: the real CLI and the Python API write, resume,
lock and report an experiment in a bucket of a real S3-compatible server (moto_server on
127.0.0.1, tests/storage/s3_server.py), through the standard AWS variables. Nothing inside
the project is mocked; each CLI runs in a folder of its own, which must stay empty (the bucket
is the only storage).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import yaml

from tests.conftest import CLI, cli_env
from tests.storage.s3_server import free_port

CLI_TIMEOUT_S = 240
WAIT_S = 180
TINY = {"name": "tiny", "description": "two tiny rf trials", "model": ["rf"], "sample_frac": [0.01, 0.02],
        "damage_frac": [0.0], "damage_mode": ["none"], "seeds": [0], "overrides": {"rf": {"n_estimators": 5}}}
# Long enough for a second driver to start while the first runs, and for a kill between trials.
LONGER = {**TINY, "name": "longer", "sample_frac": [0.02, 0.03, 0.04, 0.05], "seeds": [0, 1],
          "overrides": {"rf": {"n_estimators": 30}}}


def _spec(folder: Path, spec: dict) -> str:
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def _cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=cli_env(env))


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _read(server, bucket: str, key: str) -> bytes:
    return server.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def _errors(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("datavsmath: error:")]


def _no_secret(server, bucket: str, *texts: str) -> None:
    """Neither the secret key nor the access key is in any text, or in any object of the bucket."""
    for text in texts:
        assert server.secret_key not in text and server.access_key not in text
    for key in server.keys(bucket):
        body = _read(server, bucket, key)
        assert server.secret_key.encode() not in body and server.access_key.encode() not in body, key


@pytest.fixture(scope="module")
def finished(s3_server, tmp_path_factory):
    """The `tiny` spec swept into s3://BUCKET/exps by the CLI: (server, bucket, cwd, spec, sweep process)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3_server.env().items():
            patch.setenv(key, value)
        bucket = s3_server.new_bucket()
        cwd = tmp_path_factory.mktemp("cwd")
        spec = _spec(tmp_path_factory.mktemp("spec"), TINY)
        proc = _cli("sweep", spec, "--storage", f"s3://{bucket}/exps", "--no-dashboard", "--no-live", cwd=cwd)
        yield s3_server, bucket, cwd, spec, proc


def test_a_sweep_writes_only_to_the_bucket(finished):
    server, bucket, cwd, _, proc = finished
    _ok(proc)
    keys = server.keys(bucket, "exps/tiny/")
    for name in ("spec.yaml", "results.parquet", "results.csv", "report.html"):
        assert f"exps/tiny/{name}" in keys, keys
    assert sum(k.endswith("/result.json") for k in keys) == 2, keys
    assert f"report: s3://{bucket}/exps/tiny/report.html" in proc.stdout
    assert list(cwd.iterdir()) == []  # nothing local: no report.html, no results/
    _no_secret(server, bucket, proc.stdout, proc.stderr)


def test_status_reads_the_bucket(finished, s3_env):
    server, bucket, cwd, _, _ = finished
    out = _ok(_cli("status", f"s3://{bucket}/exps/tiny", cwd=cwd)).stdout
    assert "2 done, 0 running, 0 pending, 0 errored" in out
    assert "driver: none" in out  # the lock is kept in the bucket, and gone with the driver


def test_report_to_the_bucket_and_to_a_local_out(finished, s3_env, tmp_path):
    server, bucket, cwd, _, _ = finished
    server.client().delete_object(Bucket=bucket, Key="exps/tiny/report.html")
    proc = _ok(_cli("report", f"s3://{bucket}/exps/tiny", cwd=cwd))
    assert f"report: s3://{bucket}/exps/tiny/report.html" in proc.stdout
    assert b"<html" in _read(server, bucket, "exps/tiny/report.html")[:2000].lower()
    out = tmp_path / "mine" / "tiny.html"
    _ok(_cli("report", f"s3://{bucket}/exps/tiny", "--out", str(out), cwd=cwd))
    assert "<html" in out.read_text()[:2000].lower()
    _ok(_cli("report", f"s3://{bucket}/exps/tiny", "--out", f"s3://{bucket}/shared/tiny.html", cwd=cwd))
    assert b"<html" in _read(server, bucket, "shared/tiny.html")[:2000].lower()
    assert list(cwd.iterdir()) == []


def test_load_reads_the_bucket(finished, s3_env):
    import datavsmath as dvm

    server, bucket, _, _, _ = finished
    results = dvm.load(f"s3://{bucket}/exps/tiny")
    assert len(results.frame) == 2
    assert set(results.frame["sample_frac"]) == {0.01, 0.02}


def test_extend_adds_cells_in_the_bucket(finished, s3_env, tmp_path):
    server, bucket, cwd, _, _ = finished
    spec = _spec(tmp_path, {**TINY, "sample_frac": [0.01, 0.02, 0.03]})
    proc = _ok(_cli("sweep", spec, "--storage", f"s3://{bucket}/exps", "--extend", "--no-dashboard", "--no-report",
                    cwd=cwd))
    assert "[1/1]" in proc.stdout, proc.stdout
    out = _ok(_cli("status", f"s3://{bucket}/exps/tiny", cwd=cwd)).stdout
    assert "3 done" in out, out


def _terminated(bucket: str, exp: str) -> int:
    """Trials that Tune's experiment state in the bucket records as TERMINATED."""
    fs, root = pafs.FileSystem.from_uri(f"s3://{bucket}/{exp}")
    done = set()
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=False)):
        if info.base_name.startswith("experiment_state-") and info.base_name.endswith(".json"):
            try:
                with fs.open_input_stream(info.path) as stream:
                    state = json.loads(stream.read())
            except (OSError, ValueError):
                continue
            done |= {json.loads(t)["trial_id"] for t, _ in state.get("trial_data", [])
                     if json.loads(t).get("status") == "TERMINATED"}
    return len(done)


def _wait(predicate, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert proc.poll() is None, f"the driver ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S} s"
        time.sleep(0.3)


def _kill_session(leader: int) -> None:
    """SIGKILL what is left of a killed driver's session (its embedded Ray), bounded."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and int(proc.name) != os.getpid() and os.getsid(int(proc.name)) == leader:
                os.kill(int(proc.name), signal.SIGKILL)
        except OSError:
            continue


@pytest.fixture
def ray_tmp():
    """A Ray temp folder of the test's own (short: Ray's socket paths must stay under 108 bytes),
    so that no Ray left by an earlier test's driver is found or reaped under this one."""
    path = Path(tempfile.mkdtemp(prefix="dvm-s3-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_lock_in_the_bucket_one_driver_then_kill_9_and_resume(s3_server, bucket, tmp_path, ray_tmp):
    """A second driver is refused by the first's lock in the bucket; the first is killed with
    SIGKILL; its lock stays, stale, and --resume takes it over and finishes every trial."""
    spec = _spec(tmp_path, LONGER)
    storage = f"s3://{bucket}/exps"
    args = ("sweep", spec, "--storage", storage, "--no-dashboard", "--no-report")
    first = subprocess.Popen([*CLI, *args], cwd=tmp_path, env=cli_env({"RAY_TMPDIR": str(ray_tmp)}),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait(lambda: "exps/longer/driver.lock" in s3_server.keys(bucket, "exps/longer/"), first, "lock in the bucket")
        holder = json.loads(_read(s3_server, bucket, "exps/longer/driver.lock"))
        assert holder["pid"] == first.pid
        second = _cli(*args, cwd=tmp_path)
        assert second.returncode == 2, (second.stdout + second.stderr, first.poll(),
                                        first.communicate(timeout=60) if first.poll() is not None else "")
        assert len(_errors(second)) == 1 and f"in use by the sweep driver pid {first.pid}" in second.stderr, second.stderr
        _wait(lambda: _terminated(bucket, "exps/longer") >= 2, first, "two finished trials")
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=60)
        _kill_session(first.pid)
    assert "exps/longer/driver.lock" in s3_server.keys(bucket, "exps/longer/")  # a killed driver's lock stays
    status = _ok(_cli("status", f"{storage}/longer", cwd=tmp_path)).stdout
    assert f"gone: pid {first.pid}" in status, status
    resumed = _ok(_cli(*args, "--resume", cwd=tmp_path, env={"RAY_TMPDIR": str(ray_tmp)}))
    assert f"took over the lock of {storage}/longer from the sweep driver pid {first.pid}" in resumed.stdout + resumed.stderr
    assert "trials: 8 finished, 0 errored, 8 in all" in resumed.stdout, resumed.stdout
    assert "exps/longer/driver.lock" not in s3_server.keys(bucket, "exps/longer/")
    _no_secret(s3_server, bucket, resumed.stdout, resumed.stderr, second.stderr)


def test_a_missing_bucket_is_one_line_before_ray(s3_server, s3_env, tmp_path):
    spec = _spec(tmp_path, TINY)
    proc = _cli("sweep", spec, "--storage", "s3://dvm-no-such-bucket/exps", "--no-dashboard", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = _errors(proc)
    assert "bucket 'dvm-no-such-bucket' does not exist" in line, line
    assert "trials of" not in proc.stdout and "Ray" not in proc.stderr.replace(line, "")
    assert s3_server.secret_key not in proc.stdout + proc.stderr


def test_wrong_credentials_are_one_line_before_ray_without_the_secret(s3_server, bucket, tmp_path):
    spec = _spec(tmp_path, TINY)
    wrong = "wrong-secret-" + "x" * 27
    proc = _cli("sweep", spec, "--storage", f"s3://{bucket}/exps", "--no-dashboard", cwd=tmp_path, timeout=60,
                env={"AWS_SECRET_ACCESS_KEY": wrong})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = _errors(proc)
    assert "access denied" in line and "credentials" in line, line
    assert "trials of" not in proc.stdout
    for secret in (wrong, s3_server.secret_key):
        assert secret not in proc.stdout + proc.stderr
    assert s3_server.keys(bucket) == []  # nothing written


def test_an_endpoint_that_does_not_answer_is_one_line_within_30_s(s3_env, tmp_path):
    spec = _spec(tmp_path, TINY)
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    proc = _cli("sweep", spec, "--storage", "s3://dvm-any/exps", "--no-dashboard", cwd=tmp_path, timeout=90,
                env={"AWS_ENDPOINT_URL": endpoint})
    assert time.monotonic() - started < 30
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = _errors(proc)
    assert f"endpoint {endpoint} does not answer" in line, line
    assert "trials of" not in proc.stdout
