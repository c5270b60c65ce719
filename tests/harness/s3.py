"""A real S3-protocol server on loopback for tests: moto in server mode, as a child process.

``S3Server.start()`` launches ``moto_main.py``, waits (bounded) for the port it prints, and
``stop()`` closes its stdin, waits, and kills it if it has not gone within the bound. It listens on
127.0.0.1 only, so it works inside the loopback-only network namespace ``make test`` uses. Moto does
not check signatures, so any credentials work; tests still pass distinctive fake ones to prove no
secret leaks into errors.

    with S3Server.start() as s3:
        s3.create_bucket("logs")
        options = StoreOptions(environ=s3.environ())
"""

from __future__ import annotations

import importlib.util
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
FAKE_KEY_ID = "AKIAKURUNTESTKEYID01"
FAKE_SECRET = "kuberun-test-secret/DoNotLeak+0123456789abcdef"


def available() -> str | None:
    """``None`` if the server can run here, else the reason it cannot (for a printed skip)."""
    if importlib.util.find_spec("moto") is None:
        return "moto is not installed (pip install 'moto[server]'): the S3 harness cannot start"
    if importlib.util.find_spec("werkzeug") is None or importlib.util.find_spec("flask") is None:
        return "moto is installed without its server extra (pip install 'moto[server]')"
    return None


class S3Server:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.endpoint_url = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls) -> S3Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("moto_main.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = ""
        while time.monotonic() < deadline and process.poll() is None:
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready:
                line = process.stdout.readline().strip()
                break
        if not line.isdigit():
            cls._kill(process)
            raise RuntimeError(f"moto S3 server did not start within {START_TIMEOUT:.0f}s (printed {line!r})")
        return cls(process, int(line))

    @staticmethod
    def _kill(process: subprocess.Popen[str]) -> None:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        if process.stdout:
            process.stdout.close()

    def stop(self) -> None:
        self._kill(self.process)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environ(self, **extra: str) -> dict[str, str]:
        """The variables a Secret would carry, pointing at this server (fake credentials)."""
        return {
            "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": "us-east-1",
            **extra,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
            region_name="us-east-1",
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def pending_uploads(self, bucket: str) -> list[dict[str, Any]]:
        """Multipart uploads begun and neither completed nor aborted (should be none after any put)."""
        return list(self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def session_server() -> Iterator[S3Server]:
    """Body of a session fixture: skips with the reason when moto is missing."""
    import pytest

    reason = available()
    if reason:
        pytest.skip(reason)
    server = S3Server.start()
    try:
        yield server
    finally:
        server.stop()
