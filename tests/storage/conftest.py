"""Fixtures of the object-storage tests: one moto S3 server per test process (s3_server.py),
a fresh bucket per test, and the AWS variables set for the test and its subprocesses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.storage.s3_server import S3Server, start_server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    server = start_server(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch) -> dict[str, str]:
    """This test's process and its subprocesses (run_cli inherits os.environ) talk to the server."""
    env = s3_server.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def bucket(s3_server, s3_env) -> str:
    """A new, empty bucket on the server."""
    return s3_server.new_bucket()
