"""A real S3-compatible server on 127.0.0.1 for the object-storage tests: moto's server mode
(`moto_server`, from the `moto[server]` test dependency) in a subprocess, on a free port.

Nothing inside the project is mocked: the project talks S3 over HTTP to this server through
pyarrow's S3 filesystem (as Ray's storage does), pointed at it by the standard AWS variables
(`AWS_ENDPOINT_URL`, the keys, the region), which every subprocess of a test inherits.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
START_TRIES = 3
REGION = "us-east-1"
# The server checks credentials (moto's IAM authentication): its first requests, unchecked,
# create one IAM user with every right and its access key, which the tests then use; any
# other key is refused (403), as by a real S3.
SETUP_REQUESTS = 3
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class S3Server:
    """A running moto server: its endpoint and the environment that points S3 clients at it."""

    process: subprocess.Popen
    port: int
    log: Path
    access_key: str = ""
    secret_key: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        """The AWS variables of this server (`extra` on top, e.g. other keys)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                # no ~/.aws of the machine: only these variables
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true", **extra}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=REGION)

    def _create_user(self) -> None:
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint, aws_access_key_id="setup",
                           aws_secret_access_key="setup", region_name=REGION)
        iam.create_user(UserName="datavsmath")
        iam.put_user_policy(UserName="datavsmath", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
        key = iam.create_access_key(UserName="datavsmath")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def new_bucket(self) -> str:
        name = f"dvm-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under `prefix` (paged, at most 100 pages)."""
        client, keys, token = self.client(), [], None
        for _ in range(100):
            page = client.list_objects_v2(Bucket=bucket, Prefix=prefix,
                                          **({"ContinuationToken": token} if token else {}))
            keys += [item["Key"] for item in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                break
        return keys

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)


def start_server(log_dir: Path) -> S3Server:
    """moto_server on a free port of 127.0.0.1, once it accepts connections (a port taken
    meanwhile by another process: a new one, up to START_TRIES times)."""
    moto_server = Path(sys.executable).with_name("moto_server")
    for attempt in range(START_TRIES):
        port = free_port()
        log = log_dir / f"moto_server.{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_REQUESTS)})
        server = S3Server(process=process, port=port, log=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(port):
                server._create_user()
                return server
            time.sleep(0.1)
        server.stop()
        if attempt == START_TRIES - 1:
            raise RuntimeError(f"moto_server did not start on 127.0.0.1:{port}: {log.read_text()[-2000:]}")
    raise AssertionError("unreachable")
